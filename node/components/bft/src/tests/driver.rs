//! The async driver with real signatures, in-memory stores and an in-process network.

use std::sync::Arc;

use prometheus_client::registry::Registry;
use rand::{SeedableRng as _, rngs::StdRng};
use zksync_concurrency::{channel, ctx, scope, testonly, time};
use zksync_consensus_roles::{testonly::Setup, validator::BlockNumber};
use zksync_consensus_storage::{
    BlockStore,
    testonly::{InMemory, PayloadBehavior},
};

use crate::{
    Config, Io, Metrics, VoteCheck,
    io::{ConsensusReq, ViewWatermark, create_input_channel},
};

/// `n` replicas connected by an in-process network finalize blocks; no timer has to fire
/// (the manual clock never moves), and the stores agree.
fn finalize(n: usize, vote_check: VoteCheck) {
    testonly::run_test(|ctx, _clock| async move {
        let ctx = &ctx;
        let setup = Setup::new(&mut StdRng::seed_from_u64(7), n);
        let first = setup.genesis.first_block;
        let want = BlockNumber(first.0 + 5);
        let mut stores = vec![];
        let mut runners = vec![];
        for _ in 0..n {
            let engine = Arc::new(InMemory::new(
                setup.genesis.clone(),
                first,
                PayloadBehavior::Random(100),
            ));
            let (store, runner) = BlockStore::new(ctx, engine, Default::default()).await?;
            stores.push(store);
            runners.push(runner);
        }
        let mut registry = Registry::default();
        let metrics = Arc::new(Metrics::new(&mut registry));
        scope::run!(ctx, |ctx, s| async {
            let (net_send, mut net_recv) = channel::unbounded();
            let mut inputs = vec![];
            for (i, runner) in runners.into_iter().enumerate() {
                s.spawn_bg(async { runner.run(ctx).await.map_err(ctx::Error::Internal) });
                let watermark = ViewWatermark::default();
                let (send, inbound) = create_input_channel(watermark.clone());
                inputs.push(send);
                let cfg = Config {
                    secret_key: setup.keys[i].clone(),
                    max_payload_size: 1000,
                    view_timeout: time::Duration::from_secs(10),
                    epoch: Default::default(),
                    vote_check,
                    senders_authenticated: false,
                };
                let io = Io {
                    inbound,
                    watermark,
                    outbound: net_send.clone(),
                };
                let (store, metrics) = (stores[i].clone(), (i == 0).then(|| metrics.clone()));
                s.spawn_bg(async move {
                    cfg.run(ctx, store, io, metrics)
                        .await
                        .map_err(ctx::Error::Internal)
                });
            }
            s.spawn_bg(async move {
                while let Ok(m) = net_recv.recv(ctx).await {
                    for input in &inputs {
                        let (ack, _) = zksync_concurrency::oneshot::channel();
                        input.send(ConsensusReq {
                            msg: m.message.clone(),
                            ack,
                        });
                    }
                }
                Ok(())
            });
            for store in &stores {
                store.wait_until_persisted(ctx, want).await?;
            }
            Ok(())
        })
        .await?;
        for number in first.0..=want.0 {
            let blocks: Vec<_> = stores
                .iter()
                .map(|s| s.queued().contains(BlockNumber(number)))
                .collect();
            assert!(blocks.iter().all(|b| *b));
        }
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(text.contains("consensus_finalized_block_number"), "{text}");
        assert!(text.contains("result=\"ok\""), "{text}");
        Ok(())
    });
}

#[test]
fn driver_finalizes_with_one_validator() {
    finalize(1, VoteCheck::Aggregate);
}

#[test]
fn driver_finalizes_with_four_validators() {
    finalize(4, VoteCheck::Aggregate);
}

#[test]
fn driver_finalizes_with_eager_vote_checks() {
    finalize(4, VoteCheck::Eager);
}
