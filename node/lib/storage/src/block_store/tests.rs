use std::sync::Arc;

use rand::{RngExt as _, SeedableRng as _, rngs::StdRng};
use zksync_concurrency::{ctx, scope, testonly};
use zksync_consensus_roles::{testonly::Setup, validator::*};

use crate::{
    BlockError, BlockStore, Config, ExecutionLayer as _,
    testonly::{InMemory, PayloadBehavior},
};

fn setup() -> (Setup, StdRng) {
    let mut rng = StdRng::seed_from_u64(7);
    let setup = Setup::new(&mut rng, 4);
    (setup, rng)
}

fn blocks(setup: &Setup, rng: &mut StdRng, count: u64) -> Vec<FinalBlock> {
    let first = setup.genesis.first_block;
    (0..count)
        .map(|i| setup.final_block(BlockNumber(first.0 + i), Payload(vec![rng.random(); 10])))
        .collect()
}

#[test]
fn queued_blocks_are_persisted_in_order_and_readable() {
    testonly::run_test(|ctx, _| async move {
        let (setup, mut rng) = setup();
        let engine = Arc::new(InMemory::new(
            setup.genesis.clone(),
            setup.genesis.first_block,
            PayloadBehavior::Random(10),
        ));
        let (store, runner) = BlockStore::new(&ctx, engine.clone(), Config::default()).await?;
        let want = blocks(&setup, &mut rng, 20);
        scope::run!(&ctx, |ctx, s| async {
            s.spawn_bg(async { runner.run(ctx).await.map_err(ctx::Error::Internal) });
            let mut queued = store.subscribe();
            for b in &want {
                store.queue_block(ctx, b.clone().into()).await?;
                // Re-offering a queued block is accepted and ignored.
                store.queue_block(ctx, b.clone().into()).await?;
            }
            let last = want.last().unwrap().number();
            assert_eq!(queued.borrow_and_update().next(), last.next());
            store.wait_until_persisted(ctx, last).await?;
            for b in &want {
                let got = store.block(ctx, b.number()).await?.unwrap();
                assert_eq!(got, Block::Final(b.clone()));
                assert_eq!(
                    engine.block(ctx, b.number()).await?,
                    Block::Final(b.clone())
                );
            }
            assert_eq!(store.block(ctx, last.next()).await?, None);
            Ok::<(), ctx::Error>(())
        })
        .await?;
        Ok(())
    });
}

#[test]
fn bad_blocks_are_rejected_with_distinct_errors() {
    testonly::run_test(|ctx, _| async move {
        let (setup, mut rng) = setup();
        let engine = Arc::new(InMemory::new(
            setup.genesis.clone(),
            setup.genesis.first_block,
            PayloadBehavior::Random(10),
        ));
        let (store, _runner) = BlockStore::new(&ctx, engine, Config::default()).await?;
        let good = blocks(&setup, &mut rng, 2);

        // Wrong payload hash.
        let mut bad = good[0].clone();
        bad.payload = Payload(vec![1, 2, 3]);
        let err = store.queue_block(&ctx, bad.into()).await.unwrap_err();
        assert!(
            matches!(
                err,
                BlockError::Block(BlockValidationError::PayloadHash { .. })
            ),
            "{err}"
        );

        // A certificate signed by a non-member.
        let other = Setup::new(&mut rng, 4);
        let mut bad = good[0].clone();
        let mut qc = other
            .final_block(bad.number(), bad.payload.clone())
            .justification;
        qc.message.view = good[0].justification.message.view;
        bad.justification = qc;
        let err = store.queue_block(&ctx, bad.into()).await.unwrap_err();
        assert!(
            matches!(
                err,
                BlockError::Block(BlockValidationError::Justification(_))
            ),
            "{err}"
        );

        // An unknown epoch.
        let mut bad = good[0].clone();
        bad.justification.message.view.epoch = EpochNumber(5);
        let err = store.queue_block(&ctx, bad.into()).await.unwrap_err();
        assert!(
            matches!(err, BlockError::UnknownEpoch(EpochNumber(5))),
            "{err}"
        );

        // A gap.
        let err = store
            .queue_block(&ctx, good[1].clone().into())
            .await
            .unwrap_err();
        assert!(matches!(err, BlockError::Gap { .. }), "{err}");

        // Nothing was accepted.
        assert_eq!(store.queued().last, None);
        assert_eq!(store.persisted().last, None);
        Ok(())
    });
}

#[test]
fn pre_genesis_blocks() {
    testonly::run_test(|ctx, _| async move {
        let (setup, mut rng) = setup();
        let first = setup.genesis.first_block;
        assert!(first.0 >= 1, "the test needs room before genesis");
        let start = BlockNumber(first.0 - 1);
        let engine = Arc::new(InMemory::new(
            setup.genesis.clone(),
            start,
            PayloadBehavior::Random(10),
        ));
        let (store, runner) = BlockStore::new(&ctx, engine, Config::default()).await?;
        let payload = Payload(vec![9; 16]);
        let mut pre = PreGenesisBlock {
            number: start,
            payload: payload.clone(),
            justification: Justification(vec![0; 32]),
        };
        let err = store
            .queue_block(&ctx, pre.clone().into())
            .await
            .unwrap_err();
        assert!(matches!(err, BlockError::InvalidPreGenesis(_)), "{err}");
        pre.justification = Justification(InMemory::pregenesis_justification(&payload));
        // A pre-genesis block at or after the first block is refused.
        let late = PreGenesisBlock {
            number: first,
            ..pre.clone()
        };
        let err = store.queue_block(&ctx, late.into()).await.unwrap_err();
        assert!(
            matches!(err, BlockError::PreGenesisAfterGenesis { .. }),
            "{err}"
        );
        // A final block before the first block is refused.
        let early = setup.final_block(start, payload.clone());
        let err = store.queue_block(&ctx, early.into()).await.unwrap_err();
        assert!(
            matches!(err, BlockError::FinalBeforeGenesis { .. }),
            "{err}"
        );

        scope::run!(&ctx, |ctx, s| async {
            s.spawn_bg(async { runner.run(ctx).await.map_err(ctx::Error::Internal) });
            store.queue_block(ctx, pre.clone().into()).await?;
            let b = blocks(&setup, &mut rng, 1).pop().unwrap();
            store.queue_block(ctx, b.clone().into()).await?;
            store.wait_until_persisted(ctx, b.number()).await?;
            assert_eq!(store.block(ctx, start).await?, Some(Block::PreGenesis(pre)));
            Ok::<(), ctx::Error>(())
        })
        .await?;
        Ok(())
    });
}
