//! Consensus network tests over real loopback TCP, with a manual clock.
//!
//! Nothing here waits on time: every wait is for an observable state (a pool, a sink, an
//! address map). The only clock moves end a wait whose start is known to have happened (see
//! `reconnect::a_peer_that_was_down_gets_only_the_newest_message_of_each_kind`). All tasks of a test are
//! polled by the test's own future, so a task's steps between two awaits happen atomically with
//! respect to the test body.

use std::{collections::BTreeSet, net::SocketAddr, sync::Arc};

use rand::{RngExt as _, SeedableRng as _, rngs::StdRng};
use zksync_concurrency::{ctx, limiter, scope, sync, testonly, time};
use zksync_consensus_roles::{
    node,
    testonly::Setup,
    validator::{
        self, BlockHeader, BlockNumber, ConsensusMsg, LeaderProposal, Payload, ReplicaCommit,
        ReplicaNewView, ReplicaTimeout, Signed,
    },
};

use crate::{
    Config, mux,
    rpc::{self, Client, RpcError, consensus::ConsensusRpc},
    testonly::{Sink, TestNode, config, dial_consensus, run_mux, wait_closed},
};

mod reconnect;

fn setup(seed: u64) -> (Setup, StdRng) {
    let mut rng = StdRng::seed_from_u64(seed);
    let setup = Setup::new(&mut rng, 4);
    (setup, rng)
}

/// A validator's config: gossip links to `peers` (static outbound) and up to 10 inbound.
fn validator_cfg(
    rng: &mut StdRng,
    addr: SocketAddr,
    key: &validator::SecretKey,
    peers: &[(node::PublicKey, SocketAddr)],
) -> Config {
    let mut cfg = config(rng, addr, Some(key.clone()));
    cfg.gossip.dynamic_inbound_limit = 10;
    for (k, a) in peers {
        cfg.gossip.static_outbound.insert(*k, (*a).into());
    }
    cfg
}

/// Validators 0 (A) and 1 (B) of `setup`, B with A as its gossip peer.
async fn pair(ctx: &ctx::Ctx, setup: &Setup, rng: &mut StdRng) -> (TestNode, TestNode) {
    let (k0, k1) = (&setup.keys[0], &setup.keys[1]);
    let a = TestNode::new(ctx, setup, |addr| validator_cfg(rng, addr, k0, &[]), &[]).await;
    let to_a = [(a.key(), a.addr())];
    let b = TestNode::new(ctx, setup, |addr| validator_cfg(rng, addr, k1, &to_a), &[]).await;
    (a, b)
}

/// A timeout vote of validator `i` for `view`.
fn timeout(setup: &Setup, i: usize, view: u64) -> Signed<ConsensusMsg> {
    setup.keys[i].sign_msg(ConsensusMsg::ReplicaTimeout(ReplicaTimeout {
        view: setup.view(view),
        high_vote: None,
        high_qc: None,
    }))
}

/// A commit vote of validator `i` for `view`.
fn commit(setup: &Setup, i: usize, view: u64) -> Signed<ConsensusMsg> {
    setup.keys[i].sign_msg(ConsensusMsg::ReplicaCommit(ReplicaCommit {
        view: setup.view(view),
        proposal: BlockHeader {
            number: BlockNumber(view),
            payload: Payload(vec![view as u8]).hash(),
        },
    }))
}

fn set(msgs: impl IntoIterator<Item = Signed<ConsensusMsg>>) -> BTreeSet<Vec<u8>> {
    msgs.into_iter()
        .map(|m| zksync_protobuf::encode(&m))
        .collect()
}

/// Every validator's message reaches every validator, itself included (over its loopback
/// connection), exactly once, although validators know each other's addresses only through
/// gossip along a line of links (3 - 2 - 1 - 0).
#[test]
fn messages_reach_every_validator_including_the_sender() {
    testonly::run_test(|ctx, _| async move {
        let ctx = &ctx;
        let (setup, mut rng) = setup(1);
        let mut nodes: Vec<TestNode> = vec![];
        for i in 0..4 {
            let peers: Vec<_> = nodes
                .last()
                .map(|n| (n.key(), n.addr()))
                .into_iter()
                .collect();
            let key = &setup.keys[i];
            let n = TestNode::new(
                ctx,
                &setup,
                |addr| validator_cfg(&mut rng, addr, key, &peers),
                &[],
            )
            .await;
            nodes.push(n);
        }
        let sinks: Vec<_> = (0..4).map(|_| Sink::new()).collect();
        let cons: Vec<_> = nodes
            .iter()
            .zip(&sinks)
            .map(|(n, sink)| n.consensus(&setup, sink.clone()))
            .collect();
        let msgs: Vec<_> = (0..4).map(|i| timeout(&setup, i, 10 + i as u64)).collect();
        scope::run!(ctx, |ctx, s| async {
            for (n, c) in nodes.iter_mut().zip(&cons) {
                let net = n.net.clone();
                s.spawn_bg(n.run(ctx));
                s.spawn_bg(async move { Ok(net.run_consensus(ctx, c.clone()).await?) });
            }
            // Sent before any connection exists: each new connection starts with the pool.
            for (c, m) in cons.iter().zip(&msgs) {
                assert!(c.msg_pool.send(m.clone()));
            }
            for sink in &sinks {
                sink.wait_for(ctx, |s| s.msgs.len() >= msgs.len()).await?;
            }
            // Every validator dialed every validator, itself included.
            for c in &cons {
                let want: BTreeSet<_> = setup.keys.iter().map(|k| k.public()).collect();
                let got = sync::wait_for(ctx, &mut c.outbound.subscribe(), |m| {
                    m.keys().cloned().collect::<BTreeSet<_>>() == want
                })
                .await?
                .len();
                assert_eq!(got, 4);
            }
            Ok(())
        })
        .await?;
        for (i, sink) in sinks.iter().enumerate() {
            let got = sink.msgs();
            assert_eq!(got.len(), msgs.len(), "validator {i}: {got:?}");
            assert_eq!(set(got), set(msgs.clone()), "validator {i}");
        }
        Ok(())
    });
}

/// A validator, running its consensus network, and a hand-driven consensus client of the
/// validator `key` connected to it (the test runs the client's mux).
async fn raw_client(
    ctx: &ctx::Ctx,
    setup: &Setup,
    addr: SocketAddr,
    key: &validator::SecretKey,
) -> ctx::Result<(Arc<Client<ConsensusRpc>>, mux::Mux, crate::noise::Stream)> {
    let stream = dial_consensus(
        ctx,
        setup.genesis.hash(),
        addr,
        &setup.keys[0].public(),
        key,
    )
    .await?;
    let client = Arc::new(Client::<ConsensusRpc>::new(limiter::Rate::INF));
    let mut mux = mux::Mux::default();
    client.register(&mut mux);
    Ok((client, mux, stream))
}

/// A message signed by another validator than the one authenticated on the connection is
/// refused (the call gets no response) and not delivered; the connection keeps working and
/// the peer's own messages are delivered.
#[test]
fn message_of_another_validator_is_not_delivered() {
    testonly::run_test(|ctx, _| async move {
        let ctx = &ctx;
        let (setup, mut rng) = setup(2);
        let key = &setup.keys[0];
        let mut n = TestNode::new(
            ctx,
            &setup,
            |addr| validator_cfg(&mut rng, addr, key, &[]),
            &[],
        )
        .await;
        let sink = Sink::new();
        let cons = n.consensus(&setup, sink.clone());
        let (net, addr) = (n.net.clone(), n.addr());
        scope::run!(ctx, |ctx, s| async {
            s.spawn_bg(n.run(ctx));
            s.spawn_bg(async { Ok(net.run_consensus(ctx, cons.clone()).await?) });
            let (client, mux, stream) = raw_client(ctx, &setup, addr, &setup.keys[1]).await?;
            s.spawn_bg(run_mux(ctx, mux, stream));
            let max = rpc::consensus::MAX_RESP_SIZE;
            for other in [2, 3, 0] {
                let req = rpc::consensus::Req(timeout(&setup, other, 5));
                let err = client.call(ctx, &req, max).await.unwrap_err();
                assert!(
                    matches!(err, RpcError::Stream(mux::StreamError::Eof)),
                    "{err}"
                );
            }
            let own = timeout(&setup, 1, 5);
            client
                .call(ctx, &rpc::consensus::Req(own.clone()), max)
                .await
                .unwrap();
            // Pushed to the sink before the response was sent.
            assert_eq!(sink.msgs(), vec![own]);
            assert!(cons.inbound.current().contains_key(&setup.keys[1].public()));
            Ok(())
        })
        .await
    });
}

/// With a sink that never acks, one connection gets at most `ConsensusRpc::INFLIGHT` (3)
/// messages into it; each ack lets one more in.
#[test]
fn unacked_messages_hold_back_the_connection() {
    testonly::run_test(|ctx, _| async move {
        let ctx = &ctx;
        let (setup, mut rng) = setup(3);
        let key = &setup.keys[0];
        let mut n = TestNode::new(
            ctx,
            &setup,
            |addr| validator_cfg(&mut rng, addr, key, &[]),
            &[],
        )
        .await;
        let sink = Sink::manual();
        let cons = n.consensus(&setup, sink.clone());
        let (net, addr) = (n.net.clone(), n.addr());
        let inflight = <ConsensusRpc as rpc::Rpc>::INFLIGHT as usize;
        let msgs: Vec<_> = (1..=10).map(|v| timeout(&setup, 1, v)).collect();
        scope::run!(ctx, |ctx, s| async {
            s.spawn_bg(n.run(ctx));
            s.spawn_bg(async { Ok(net.run_consensus(ctx, cons.clone()).await?) });
            let (client, mux, stream) = raw_client(ctx, &setup, addr, &setup.keys[1]).await?;
            s.spawn_bg(run_mux(ctx, mux, stream));
            let calls: Vec<_> = msgs
                .iter()
                .map(|m| {
                    let client = client.clone();
                    s.spawn(async move {
                        let req = rpc::consensus::Req(m.clone());
                        client
                            .call(ctx, &req, rpc::consensus::MAX_RESP_SIZE)
                            .await
                            .map_err(|e| ctx::Error::Internal(e.into()))
                    })
                })
                .collect();
            sink.wait_for(ctx, |s| s.msgs.len() >= inflight).await?;
            for _ in 0..200 {
                ctx.yield_now().await?;
            }
            assert_eq!(sink.msgs().len(), inflight);
            // One ack, one more message.
            assert_eq!(sink.ack(1), 1);
            sink.wait_for(ctx, |s| s.msgs.len() > inflight).await?;
            for _ in 0..200 {
                ctx.yield_now().await?;
            }
            assert_eq!(sink.msgs().len(), inflight + 1);
            assert_eq!(sink.unacked(), inflight);
            // Acking everything that arrives lets all of them through.
            while sink.msgs().len() < msgs.len() {
                sink.ack(usize::MAX);
                sink.wait_for(ctx, |s| !s.unacked.is_empty()).await?;
            }
            sink.ack(usize::MAX);
            for c in calls {
                c.join(ctx).await?;
            }
            Ok(())
        })
        .await?;
        assert_eq!(sink.max_unacked(), inflight);
        assert_eq!(set(sink.msgs()), set(msgs));
        Ok(())
    });
}

/// The same between two validators: validator 0 has one message of each of the 4 kinds in its
/// pool; validator 1 never acks, so exactly 3 of them reach it; an ack lets the 4th through
/// (the sender reserves a stream before it takes a message from the pool).
#[test]
fn unacked_messages_hold_back_a_validator() {
    testonly::run_test(|ctx, _| async move {
        let ctx = &ctx;
        let (setup, mut rng) = setup(4);
        let k0 = &setup.keys[0];
        let (mut a, mut b) = pair(ctx, &setup, &mut rng).await;
        let b_sink = Sink::manual();
        let a_cons = a.consensus(&setup, Sink::new());
        let b_cons = b.consensus(&setup, b_sink.clone());
        let (a_net, b_net) = (a.net.clone(), b.net.clone());
        // The network looks only at a message's kind and view, not at its contents.
        let proposal: LeaderProposal = rng.random();
        let new_view: ReplicaNewView = rng.random();
        let msgs = vec![
            k0.sign_msg(ConsensusMsg::LeaderProposal(proposal)),
            commit(&setup, 0, 6),
            k0.sign_msg(ConsensusMsg::ReplicaNewView(new_view)),
            timeout(&setup, 0, 6),
        ];
        let k0 = k0.public();
        scope::run!(ctx, |ctx, s| async {
            s.spawn_bg(a.run(ctx));
            s.spawn_bg(b.run(ctx));
            s.spawn_bg(async { Ok(a_net.run_consensus(ctx, a_cons.clone()).await?) });
            s.spawn_bg(async { Ok(b_net.run_consensus(ctx, b_cons.clone()).await?) });
            for m in &msgs {
                assert!(a_cons.msg_pool.send(m.clone()));
            }
            assert_eq!(a_cons.msg_pool.len(), 4);
            b_sink.wait_for(ctx, |s| s.msgs.len() >= 3).await?;
            for _ in 0..200 {
                ctx.yield_now().await?;
            }
            assert_eq!(b_sink.msgs_from(&k0).len(), 3);
            assert_eq!(b_sink.ack(1), 1);
            b_sink.wait_for(ctx, |s| s.msgs.len() >= 4).await?;
            assert_eq!(set(b_sink.msgs_from(&k0)), set(msgs.clone()));
            assert_eq!(b_sink.max_unacked(), 3);
            Ok(())
        })
        .await
    });
}

/// A validator's own new-view message does not come back to it (it is always in that view
/// already); the other validators get it, and the validator's own votes still come back, not
/// over its loopback connection but straight into its sink.
#[test]
fn own_new_view_messages_do_not_loop_back() {
    testonly::run_test(|ctx, _| async move {
        let ctx = &ctx;
        let (setup, mut rng) = setup(9);
        let (mut a, mut b) = pair(ctx, &setup, &mut rng).await;
        let (a_sink, b_sink) = (Sink::new(), Sink::new());
        let a_cons = a.consensus(&setup, a_sink.clone());
        let b_cons = b.consensus(&setup, b_sink.clone());
        let (a_net, b_net) = (a.net.clone(), b.net.clone());
        let new_view: ReplicaNewView = rng.random();
        let nv = setup.keys[0].sign_msg(ConsensusMsg::ReplicaNewView(new_view));
        let t = timeout(&setup, 0, 3);
        scope::run!(ctx, |ctx, s| async {
            s.spawn_bg(a.run(ctx));
            s.spawn_bg(b.run(ctx));
            s.spawn_bg(async { Ok(a_net.run_consensus(ctx, a_cons.clone()).await?) });
            s.spawn_bg(async { Ok(b_net.run_consensus(ctx, b_cons.clone()).await?) });
            // The new-view message first: the pool hands messages out in order, so once A has
            // its timeout vote back, it has passed over its new-view message.
            assert!(a_cons.msg_pool.send(nv.clone()));
            assert!(a_cons.msg_pool.send(t.clone()));
            b_sink.wait_for(ctx, |s| s.msgs.len() >= 2).await?;
            a_sink.wait_for(ctx, |s| !s.msgs.is_empty()).await?;
            // The loopback connection is up, but carried neither message: its frames are
            // only the stream set-up (pings are off here), far fewer bytes than a timeout vote.
            let k0 = setup.keys[0].public();
            let own = a_cons.outbound.current()[&k0].stats.clone();
            let vote = zksync_protobuf::encode(&t).len() as u64;
            assert!(own.sent_bytes() < vote, "{} >= {vote}", own.sent_bytes());
            Ok(())
        })
        .await?;
        let k0 = setup.keys[0].public();
        assert_eq!(set(b_sink.msgs_from(&k0)), set([nv, t.clone()]));
        assert_eq!(a_sink.msgs_from(&k0), vec![t]);
        Ok(())
    });
}

/// Only validators of the epoch get a consensus connection: another key completes the
/// handshake and is then dropped; a node that is not a validator, or whose consensus network
/// is not running, drops every consensus connection.
#[test]
fn only_validators_of_the_epoch_may_connect() {
    testonly::run_test(|ctx, _| async move {
        let ctx = &ctx;
        let (setup, mut rng) = setup(6);
        let genesis = setup.genesis.hash();
        let stranger = validator::SecretKey::generate(&mut rng);
        let key = &setup.keys[0];
        let mut v = TestNode::new(
            ctx,
            &setup,
            |addr| validator_cfg(&mut rng, addr, key, &[]),
            &[],
        )
        .await;
        // A validator whose consensus network is not started (no running epoch).
        let key2 = &setup.keys[2];
        let mut idle = TestNode::new(
            ctx,
            &setup,
            |addr| validator_cfg(&mut rng, addr, key2, &[]),
            &[],
        )
        .await;
        // A full node.
        let mut full = TestNode::new(ctx, &setup, |addr| config(&mut rng, addr, None), &[]).await;
        let cons = v.consensus(&setup, Sink::new());
        let (net, v_addr) = (v.net.clone(), v.addr());
        let (idle_addr, full_addr) = (idle.addr(), full.addr());
        let k0 = setup.keys[0].public();
        scope::run!(ctx, |ctx, s| async {
            s.spawn_bg(v.run(ctx));
            s.spawn_bg(idle.run(ctx));
            s.spawn_bg(full.run(ctx));
            s.spawn_bg(async { Ok(net.run_consensus(ctx, cons.clone()).await?) });
            let mut pool = cons.inbound.subscribe();
            // The stranger's handshake succeeds, then the validator hangs up.
            let st = dial_consensus(ctx, genesis, v_addr, &k0, &stranger).await?;
            wait_closed(ctx, st).await?;
            // A validator of the epoch stays connected.
            let _ok = dial_consensus(ctx, genesis, v_addr, &k0, &setup.keys[1]).await?;
            sync::wait_for(ctx, &mut pool, |m| m.contains_key(&setup.keys[1].public())).await?;
            assert!(!cons.inbound.current().contains_key(&stranger.public()));
            // No running epoch: dropped after the handshake.
            let k2 = setup.keys[2].public();
            let st = dial_consensus(ctx, genesis, idle_addr, &k2, &setup.keys[1]).await?;
            wait_closed(ctx, st).await?;
            // Not a validator: dropped before the handshake completes.
            let res = dial_consensus(ctx, genesis, full_addr, &k0, &setup.keys[1]).await;
            assert!(res.is_err());
            Ok(())
        })
        .await
    });
}
