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

/// The new-view delay runs on the driver's clock: a replica that enters a view by a commit
/// certificate broadcasts its new-view message only once the new-view delay (a quarter of
/// the view timeout) has passed, still in that view. One real replica of 6; the test plays
/// the other five.
#[test]
fn new_view_message_waits_for_the_delay() {
    use zksync_consensus_roles::validator::{
        BlockHeader, ConsensusMsg, Payload, ProposalJustification, ReplicaCommit, ReplicaNewView,
        ReplicaTimeout, ViewNumber,
    };
    testonly::run_test(|ctx, clock| async move {
        let ctx = &ctx;
        let setup = Setup::new(&mut StdRng::seed_from_u64(9), 6);
        let schedule = setup.schedule();
        let index = |v: u64| schedule.index(schedule.view_leader(ViewNumber(v))).unwrap();
        let me = (0..6).find(|i| *i != index(1) && *i != index(2)).unwrap();
        let others: Vec<usize> = (0..6).filter(|i| *i != me).collect();
        let first = setup.genesis.first_block;
        let engine = Arc::new(InMemory::new(
            setup.genesis.clone(),
            first,
            PayloadBehavior::Random(100),
        ));
        let (store, runner) = BlockStore::new(ctx, engine, Default::default()).await?;
        let view_timeout = time::Duration::from_secs(8);
        scope::run!(ctx, |ctx, s| async {
            s.spawn_bg(async { runner.run(ctx).await.map_err(ctx::Error::Internal) });
            let watermark = ViewWatermark::default();
            let (input, inbound) = create_input_channel(watermark.clone());
            let (out_send, mut outbound) = channel::unbounded();
            let cfg = Config {
                secret_key: setup.keys[me].clone(),
                max_payload_size: 1000,
                view_timeout,
                epoch: Default::default(),
                vote_check: VoteCheck::Aggregate,
                senders_authenticated: false,
            };
            let io = Io {
                inbound,
                watermark,
                outbound: out_send,
            };
            s.spawn_bg(async {
                cfg.run(ctx, store.clone(), io, None)
                    .await
                    .map_err(ctx::Error::Internal)
            });
            // Delivers a message and waits until the replica has handled it (and carried out
            // what it produced).
            let deliver = |i: usize, msg: ConsensusMsg| {
                let (ack, done) = zksync_concurrency::oneshot::channel();
                input.send(ConsensusReq {
                    msg: setup.keys[i].sign_msg(msg),
                    ack,
                });
                done
            };
            // View 0 times out at once; the others' timeout votes make a certificate.
            let t = ConsensusMsg::ReplicaTimeout(ReplicaTimeout {
                view: setup.view(0),
                high_vote: None,
                high_qc: None,
            });
            for i in &others {
                let _ = deliver(*i, t.clone()).recv_or_disconnected(ctx).await?;
            }
            // Entered by a timeout certificate: its new-view message goes out at once.
            let mut new_views = vec![];
            while let Some(m) = outbound.try_recv() {
                if let ConsensusMsg::ReplicaNewView(nv) = m.message.msg {
                    new_views.push(nv.justification);
                }
            }
            assert!(matches!(new_views[..], [ProposalJustification::Timeout(_)]));
            // Commit votes of view 1 from the others: a certificate, view 2, nothing sent.
            let vote = ReplicaCommit {
                view: setup.view(1),
                proposal: BlockHeader {
                    number: first,
                    payload: Payload(vec![1]).hash(),
                },
            };
            for i in &others {
                let c = ConsensusMsg::ReplicaCommit(vote.clone());
                let _ = deliver(*i, c).recv_or_disconnected(ctx).await?;
            }
            let sent: Vec<_> = std::iter::from_fn(|| outbound.try_recv()).collect();
            assert!(sent.is_empty(), "{sent:?}");
            // Not before a quarter of the view timeout: a vote of view 2 handled just before
            // (the driver handles a timer that is due before any message) finds nothing sent.
            let step = time::Duration::from_millis(1);
            let delay = view_timeout / crate::driver::NEW_VIEW_DELAY_FRACTION;
            clock.advance(delay - step);
            let c = ConsensusMsg::ReplicaCommit(ReplicaCommit {
                view: setup.view(2),
                ..vote.clone()
            });
            let _ = deliver(others[0], c).recv_or_disconnected(ctx).await?;
            assert!(outbound.try_recv().is_none());
            // At the delay, still in view 2, it goes to everyone.
            clock.advance(step);
            let m = outbound.recv(ctx).await?;
            let ConsensusMsg::ReplicaNewView(ReplicaNewView {
                justification: ProposalJustification::Commit(qc),
            }) = m.message.msg
            else {
                panic!("{m:?}")
            };
            assert_eq!(qc.message, vote);
            Ok(())
        })
        .await
    });
}
