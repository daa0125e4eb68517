use std::sync::Arc;

use rand::{RngExt as _, SeedableRng as _, rngs::StdRng};
use zksync_concurrency::{ctx, scope, testonly};
use zksync_consensus_roles::{testonly::Setup, validator::*};

use crate::{
    BlockError, BlockStore, Config, ExecutionLayer as _,
    testonly::{InMemory, PayloadBehavior},
};

mod batch;
mod cache;

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

#[test]
fn in_memory_passes_the_conformance_suite() {
    testonly::run_test(|ctx, _| async move {
        let (setup, _) = setup();
        let engine = InMemory::new(
            setup.genesis.clone(),
            setup.genesis.first_block,
            PayloadBehavior::Random(10),
        );
        crate::testonly::conformance::run(&ctx, &setup, &engine, 50)
            .await
            .map_err(ctx::Error::Internal)
    });
}

/// An execution layer whose persistence the test controls: blocks are held until released,
/// and the persisted range can be set to anything (to simulate a broken implementation).
#[derive(Debug)]
struct Controlled {
    inner: InMemory,
    persisted: tokio::sync::watch::Sender<crate::BlockStoreState>,
    held: std::sync::Mutex<Vec<Block>>,
}

#[async_trait::async_trait]
impl crate::ExecutionLayer for Controlled {
    async fn genesis(&self, ctx: &ctx::Ctx) -> ctx::Result<Genesis> {
        self.inner.genesis(ctx).await
    }
    async fn validator_schedule(
        &self,
        ctx: &ctx::Ctx,
        n: BlockNumber,
    ) -> ctx::Result<crate::ScheduleAt> {
        self.inner.validator_schedule(ctx, n).await
    }
    async fn pending_validator_schedule(
        &self,
        ctx: &ctx::Ctx,
        n: BlockNumber,
    ) -> ctx::Result<Option<crate::ScheduleAt>> {
        self.inner.pending_validator_schedule(ctx, n).await
    }
    fn persisted(&self) -> tokio::sync::watch::Receiver<crate::BlockStoreState> {
        self.persisted.subscribe()
    }
    async fn block(&self, ctx: &ctx::Ctx, n: BlockNumber) -> ctx::Result<Block> {
        self.inner.block(ctx, n).await
    }
    async fn queue_next_block(&self, _ctx: &ctx::Ctx, block: Block) -> ctx::Result<()> {
        self.held.lock().unwrap().push(block);
        Ok(())
    }
    async fn verify_pregenesis_block(
        &self,
        ctx: &ctx::Ctx,
        b: &PreGenesisBlock,
    ) -> Result<(), crate::VerifyError> {
        self.inner.verify_pregenesis_block(ctx, b).await
    }
    async fn verify_payload(
        &self,
        ctx: &ctx::Ctx,
        n: BlockNumber,
        p: &Payload,
    ) -> Result<(), crate::VerifyError> {
        self.inner.verify_payload(ctx, n, p).await
    }
    async fn propose_payload(&self, ctx: &ctx::Ctx, n: BlockNumber) -> ctx::Result<Payload> {
        self.inner.propose_payload(ctx, n).await
    }
    async fn state(&self, ctx: &ctx::Ctx) -> ctx::Result<Option<ReplicaState>> {
        self.inner.state(ctx).await
    }
    async fn set_state(&self, ctx: &ctx::Ctx, s: &ReplicaState) -> ctx::Result<()> {
        self.inner.set_state(ctx, s).await
    }
    async fn push_tx(&self, ctx: &ctx::Ctx, tx: crate::Transaction) -> ctx::Result<bool> {
        self.inner.push_tx(ctx, tx).await
    }
}

impl Controlled {
    fn new(setup: &Setup) -> Self {
        let first = setup.genesis.first_block;
        Self {
            inner: InMemory::new(setup.genesis.clone(), first, PayloadBehavior::Random(1)),
            persisted: tokio::sync::watch::Sender::new(crate::BlockStoreState::empty(first)),
            held: Default::default(),
        }
    }

    /// Marks every held block as persisted.
    fn release(&self) {
        let held = std::mem::take(&mut *self.held.lock().unwrap());
        if let Some(Block::Final(b)) = held.last() {
            let qc = b.justification.clone();
            self.persisted
                .send_modify(|p| p.last = Some(crate::Last::Final(qc)));
        }
    }
}

#[test]
fn the_queue_is_bounded_by_persistence() {
    testonly::run_test(|ctx, _| async move {
        let (setup, mut rng) = setup();
        let engine = Arc::new(Controlled::new(&setup));
        let config = Config {
            max_unpersisted: 3,
            ..Config::default()
        };
        let (store, runner) = BlockStore::new(&ctx, engine.clone(), config).await?;
        let bs = blocks(&setup, &mut rng, 5);
        scope::run!(&ctx, |ctx, s| async {
            s.spawn_bg(async { runner.run(ctx).await.map_err(ctx::Error::Internal) });
            for b in &bs[..3] {
                store.queue_block(ctx, b.clone().into()).await?;
            }
            // The fourth block waits: 3 blocks are not persisted yet.
            {
                let mut fourth = std::pin::pin!(store.queue_block(ctx, bs[3].clone().into()));
                assert!(testonly::is_pending(fourth.as_mut()));
                // The runner hands blocks to the execution layer; persisting them frees room.
                store.wait_until_queued(ctx, bs[2].number()).await?;
                while engine.held.lock().unwrap().len() < 3 {
                    ctx.yield_now().await?;
                }
                engine.release();
                fourth.await?;
            }
            store.queue_block(ctx, bs[4].clone().into()).await?;
            assert_eq!(store.queued().next(), bs[4].number().next());
            Ok::<(), ctx::Error>(())
        })
        .await
    });
}

#[test]
fn a_shrinking_persisted_range_is_fatal() {
    testonly::run_test(|ctx, _| async move {
        let (setup, mut rng) = setup();
        let engine = Arc::new(Controlled::new(&setup));
        let (store, runner) = BlockStore::new(&ctx, engine.clone(), Config::default()).await?;
        let bs = blocks(&setup, &mut rng, 2);
        let res = scope::run!(&ctx, |ctx, s| async {
            let run = s.spawn(async { Ok(runner.run(ctx).await) });
            for b in &bs {
                store.queue_block(ctx, b.clone().into()).await?;
            }
            while engine.held.lock().unwrap().len() < 2 {
                ctx.yield_now().await?;
            }
            engine.release();
            store.wait_until_persisted(ctx, bs[1].number()).await?;
            // The implementation "loses" its last block.
            engine
                .persisted
                .send_modify(|p| p.last = Some(crate::Last::Final(bs[0].justification.clone())));
            Ok::<_, ctx::Error>(run.join(ctx).await?)
        })
        .await?;
        let err = res.unwrap_err();
        assert!(format!("{err:#}").contains("shrank"), "{err:#}");
        Ok(())
    });
}

fn signed_block(
    keys: &[SecretKey],
    schedule: &Schedule,
    genesis: GenesisHash,
    epoch: EpochNumber,
    number: BlockNumber,
) -> FinalBlock {
    let payload = Payload(number.0.to_be_bytes().to_vec());
    let msg = ReplicaCommit {
        view: View {
            genesis,
            epoch,
            number: ViewNumber(number.0),
        },
        proposal: BlockHeader {
            number,
            payload: payload.hash(),
        },
    };
    let mut qc = CommitQC::new(msg.clone(), schedule);
    for k in keys {
        qc.add(&k.sign_msg(msg.clone()), genesis, epoch, schedule)
            .unwrap();
    }
    FinalBlock {
        payload,
        justification: qc,
    }
}

#[test]
fn dynamic_schedules_rotate_validators_across_epochs() {
    testonly::run_test(|ctx, clock| async move {
        let mut rng = StdRng::seed_from_u64(11);
        let (s0, s1) = (Setup::new(&mut rng, 4), Setup::new(&mut rng, 6));
        let mut genesis = s0.genesis.clone();
        genesis.validators_schedule = None;
        let gh = genesis.hash();
        let first = genesis.first_block;
        let switch = BlockNumber(first.0 + 5);
        let engine = Arc::new(
            InMemory::new(genesis.clone(), first, PayloadBehavior::Random(1)).with_schedules(vec![
                (s0.schedule().clone(), first),
                (s1.schedule().clone(), switch),
            ]),
        );
        let config = Config::default();
        let interval = config.schedule_poll_interval;
        let (store, runner) = BlockStore::new(&ctx, engine, config).await?;
        scope::run!(&ctx, |ctx, s| async {
            s.spawn_bg(async { runner.run(ctx).await.map_err(ctx::Error::Internal) });
            let e0 = store.wait_for_epoch(ctx, EpochNumber(0)).await?;
            assert_eq!((e0.activation, e0.expiration), (first, None));
            for n in first.0..switch.0 {
                let b = signed_block(&s0.keys, s0.schedule(), gh, EpochNumber(0), BlockNumber(n));
                store.queue_block(ctx, b.into()).await?;
            }
            store
                .wait_until_persisted(ctx, switch.prev().unwrap())
                .await?;
            // Epoch 1 is unknown until the poller runs.
            let b1 = signed_block(&s1.keys, s1.schedule(), gh, EpochNumber(1), switch);
            let err = store.queue_block(ctx, b1.clone().into()).await.unwrap_err();
            assert!(
                matches!(err, BlockError::UnknownEpoch(EpochNumber(1))),
                "{err}"
            );
            clock.advance(interval);
            let e1 = store.wait_for_epoch(ctx, EpochNumber(1)).await?;
            assert_eq!((e1.activation, e1.expiration), (switch, None));
            assert_eq!(
                store.epoch(EpochNumber(0)).unwrap().expiration,
                switch.prev()
            );
            // Epoch 0's validators cannot finalize blocks after its expiration.
            let stale = signed_block(&s0.keys, s0.schedule(), gh, EpochNumber(0), switch);
            let err = store.queue_block(ctx, stale.into()).await.unwrap_err();
            assert!(matches!(err, BlockError::OutsideEpoch { .. }), "{err}");
            store.queue_block(ctx, b1.into()).await?;
            store.wait_until_persisted(ctx, switch).await?;
            Ok::<(), ctx::Error>(())
        })
        .await
    });
}

#[test]
fn persistence_by_another_route_is_not_missed() {
    // The execution layer persists blocks on its own between `new()` and the runner's start;
    // waits must still see them, and reads fall through to the execution layer (no cache).
    testonly::run_test(|ctx, _| async move {
        let (setup, mut rng) = setup();
        let engine = Arc::new(InMemory::new(
            setup.genesis.clone(),
            setup.genesis.first_block,
            PayloadBehavior::Random(10),
        ));
        let config = Config {
            cache_persisted: 0,
            ..Config::default()
        };
        let (store, runner) = BlockStore::new(&ctx, engine.clone(), config).await?;
        let bs = blocks(&setup, &mut rng, 6);
        for b in &bs[..5] {
            engine.queue_next_block(&ctx, b.clone().into()).await?;
        }
        scope::run!(&ctx, |ctx, s| async {
            s.spawn_bg(async { runner.run(ctx).await.map_err(ctx::Error::Internal) });
            store.wait_until_persisted(ctx, bs[4].number()).await?;
            assert_eq!(store.queued().next(), bs[5].number());
            assert_eq!(store.subscribe().borrow().next(), bs[5].number());
            for b in &bs[..5] {
                assert_eq!(store.block(ctx, b.number()).await?, Some(b.clone().into()));
            }
            // Re-offers of what persisted meanwhile are accepted; the next block goes on.
            store.queue_block(ctx, bs[4].clone().into()).await?;
            store.queue_block(ctx, bs[5].clone().into()).await?;
            store.wait_until_persisted(ctx, bs[5].number()).await?;
            Ok::<(), ctx::Error>(())
        })
        .await
    });
}

#[test]
fn dynamic_schedules_start_with_only_pre_genesis_blocks() {
    testonly::run_test(|ctx, _| async move {
        let mut rng = StdRng::seed_from_u64(12);
        let s0 = Setup::new(&mut rng, 4);
        let mut genesis = s0.genesis.clone();
        genesis.validators_schedule = None;
        let first = genesis.first_block;
        let start = first.prev().expect("room before genesis");
        let engine = Arc::new(
            InMemory::new(genesis.clone(), start, PayloadBehavior::Random(1))
                .with_schedules(vec![(s0.schedule().clone(), first)]),
        );
        let payload = Payload(vec![5; 5]);
        engine
            .queue_next_block(
                &ctx,
                PreGenesisBlock {
                    number: start,
                    payload: payload.clone(),
                    justification: Justification(InMemory::pregenesis_justification(&payload)),
                }
                .into(),
            )
            .await?;
        let (store, runner) = BlockStore::new(&ctx, engine, Config::default()).await?;
        scope::run!(&ctx, |ctx, s| async {
            s.spawn_bg(async { runner.run(ctx).await.map_err(ctx::Error::Internal) });
            let e0 = store.wait_for_epoch(ctx, EpochNumber(0)).await?;
            assert_eq!(e0.activation, first);
            Ok::<(), ctx::Error>(())
        })
        .await
    });
}
