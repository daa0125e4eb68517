//! A conformance suite for [`ExecutionLayer`] implementations: call [`run`] on a fresh, empty
//! implementation built for `setup.genesis` whose blocks start at `setup.genesis.first_block`.

use anyhow::{Context as _, ensure};
use rand::{RngExt as _, SeedableRng as _, rngs::StdRng};
use zksync_concurrency::{ctx, sync};
use zksync_consensus_roles::{
    testonly::Setup,
    validator::{Block, BlockNumber, EpochNumber, Payload, Phase, ReplicaState, ViewNumber},
};

use crate::{ExecutionLayer, Transaction};

/// Checks the guarantees of the module docs of [`ExecutionLayer`]. `blocks` finalized blocks
/// are written. Errors say which guarantee failed.
pub async fn run(
    ctx: &ctx::Ctx,
    setup: &Setup,
    engine: &dyn ExecutionLayer,
    blocks: u64,
) -> anyhow::Result<()> {
    ensure!(blocks > 0, "the suite needs at least one block");
    let mut rng = StdRng::seed_from_u64(ctx.rng().random());
    ensure!(
        engine.genesis(ctx).await? == setup.genesis,
        "genesis() differs from the genesis the store was created with"
    );

    // Persistence in order, visible through the watch.
    let mut persisted = engine.persisted();
    let first = persisted.borrow().next();
    let want: Vec<Block> = (0..blocks)
        .map(|i| {
            let payload = Payload((0..rng.random_range(0..64)).map(|_| rng.random()).collect());
            setup.final_block(BlockNumber(first.0 + i), payload).into()
        })
        .collect();
    for b in &want {
        engine.queue_next_block(ctx, b.clone()).await?;
    }
    let last = BlockNumber(first.0 + blocks - 1);
    sync::wait_for(ctx, &mut persisted, |p| p.next() > last)
        .await
        .context("waiting for the queued blocks to be persisted")?;
    ensure!(
        persisted.borrow().first <= first,
        "the range lost its first block"
    );

    // Re-offers of persisted blocks are ignored.
    engine
        .queue_next_block(ctx, want[0].clone())
        .await
        .context("re-offering a persisted block must succeed")?;
    ensure!(
        persisted.borrow().next() == last.next(),
        "a re-offered block changed the range"
    );

    // A gap is refused.
    let gap = setup.final_block(last.next().next(), Payload(vec![]));
    ensure!(
        engine.queue_next_block(ctx, gap.into()).await.is_err(),
        "a block after a gap must be refused"
    );

    // Every block of the range reads back as written.
    for b in &want {
        let got = engine
            .block(ctx, b.number())
            .await
            .with_context(|| format!("block({})", b.number()))?;
        ensure!(got == *b, "block {} reads back differently", b.number());
    }

    // Replica state round trip (overwrites).
    for view in [3, 7] {
        let mut state = ReplicaState::new(EpochNumber(0));
        state.view = ViewNumber(view);
        state.phase = Phase::Commit;
        engine.set_state(ctx, &state).await?;
        ensure!(
            engine.state(ctx).await? == Some(state),
            "state() does not return the last set_state()"
        );
    }

    // A transaction is new only once.
    let tx = Transaction(rng.random::<[u8; 16]>().to_vec());
    let _ = engine.push_tx(ctx, tx.clone()).await?;
    ensure!(
        !engine.push_tx(ctx, tx).await?,
        "push_tx() accepted the same transaction twice"
    );

    // Calls on a cancelled ctx return (with `Canceled` or a result) instead of hanging.
    let (cancelled, cancel) = ctx.with_canceler();
    cancel.cancel();
    let _ = engine.block(&cancelled, first).await;
    let _ = engine.state(&cancelled).await;
    let _ = engine.propose_payload(&cancelled, last.next()).await;
    Ok(())
}
