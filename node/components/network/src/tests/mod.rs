//! Malicious peers against a whole node (`Network::run_with_listener` over loopback TCP, manual
//! clock): garbage after a handshake, oversized frames, an invalid mux frame kind, silent
//! connections, a flood of get_block calls. In each case the node drops or throttles that peer,
//! never panics (a panic aborts the test), and keeps serving an honest peer over the connection
//! it had before: the honest peer syncs new blocks afterwards over the very same connection.
//!
//! The mux and Noise layers have their own tests of such input (`mux/tests.rs`,
//! `noise/tests.rs`); these check what the node does with the peer.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use anyhow::Context as _;
use rand::{SeedableRng as _, rngs::StdRng};
use tokio::io::AsyncWriteExt as _;
use zksync_concurrency::{ctx, limiter, net::tcp, scope, sync, testonly, time};
use zksync_consensus_roles::{
    node,
    testonly::Setup,
    validator::{Block, BlockNumber},
};
use zksync_consensus_storage::BlockStore;
use zksync_protobuf::kB;

use crate::{
    Config, Network, frame, gossip, mux, preface,
    rpc::{self, Client, get_block::GetBlockRpc},
    testonly::{
        Sink, TestNode, chain, config, dial_consensus, dial_gossip, run_mux, wait_closed,
        wait_tcp_closed,
    },
};

mod flood;

fn setup(seed: u64) -> (Setup, StdRng) {
    let mut rng = StdRng::seed_from_u64(seed);
    let setup = Setup::new(&mut rng, 4);
    (setup, rng)
}

/// The node under attack: validator 0, holding `blocks`, accepting up to 10 peers; `tweak`
/// adjusts its config.
async fn target(
    ctx: &ctx::Ctx,
    setup: &Setup,
    rng: &mut StdRng,
    blocks: &[Block],
    tweak: impl FnOnce(&mut Config),
) -> TestNode {
    TestNode::new(
        ctx,
        setup,
        |addr| {
            let mut cfg = config(rng, addr, Some(setup.keys[0].clone()));
            cfg.gossip.dynamic_inbound_limit = 10;
            tweak(&mut cfg);
            cfg
        },
        blocks,
    )
    .await
}

/// An honest full node dialing `peer`.
async fn honest(
    ctx: &ctx::Ctx,
    setup: &Setup,
    rng: &mut StdRng,
    peer: (node::PublicKey, SocketAddr),
) -> TestNode {
    TestNode::new(
        ctx,
        setup,
        |addr| {
            let mut cfg = config(rng, addr, None);
            cfg.gossip.static_outbound.insert(peer.0, peer.1.into());
            cfg
        },
        &[],
    )
    .await
}

/// The honest node's connection to the target, once it has synced up to `last`.
async fn synced(
    ctx: &ctx::Ctx,
    net: &Network,
    store: &BlockStore,
    target: &node::PublicKey,
    last: BlockNumber,
) -> ctx::Result<Arc<gossip::Peer>> {
    store.wait_until_persisted(ctx, last).await?;
    Ok(net
        .gossip
        .outbound
        .current()
        .get(target)
        .context("no connection to the target")?
        .clone())
}

/// The target gets `more` blocks; the honest node syncs them over `conn`, its connection from
/// before the attack.
async fn still_serves(
    ctx: &ctx::Ctx,
    target: &BlockStore,
    net: &Network,
    store: &BlockStore,
    conn: &Arc<gossip::Peer>,
    more: &[Block],
) -> ctx::Result<()> {
    for b in more {
        target.queue_block(ctx, b.clone()).await?;
    }
    let last = more.last().context("no blocks")?.number();
    let now = synced(ctx, net, store, &conn.key, last).await?;
    assert!(
        Arc::ptr_eq(&now, conn),
        "the honest connection was replaced"
    );
    Ok(())
}

/// Sends a valid mux handshake (calling `accept`, serving nothing) and reads the node's.
async fn mux_handshake(
    ctx: &ctx::Ctx,
    stream: &mut crate::noise::Stream,
    accept: &[(mux::CapabilityId, u32)],
) -> ctx::Result<()> {
    let mine = mux::Handshake {
        accept: accept.iter().copied().collect(),
        connect: Default::default(),
    };
    frame::write(ctx, &mut stream.write, &mine).await?;
    let _: mux::Handshake = frame::read(ctx, &mut stream.read, 10 * kB).await?;
    Ok(())
}

async fn send(ctx: &ctx::Ctx, stream: &mut crate::noise::Stream, bytes: &[u8]) -> ctx::Result<()> {
    stream.write.write_all(ctx, bytes).await?;
    stream.write.flush(ctx).await
}

/// Garbage at three points: instead of the Noise handshake (after the plaintext preface),
/// instead of the mux handshake (after the gossip handshake), and as a frame after a valid mux
/// handshake. Each connection is dropped (and leaves the pool). Garbage inside an RPC request
/// only fails that call: the connection stays and serves the next one.
#[test]
fn garbage_after_a_handshake_drops_only_that_peer() {
    testonly::run_test(|ctx, _| async move {
        let ctx = &ctx;
        let (setup, mut rng) = setup(1);
        let genesis = setup.genesis.hash();
        let blocks = chain(&setup, &mut rng, 20);
        let mut n = target(ctx, &setup, &mut rng, &blocks[..10], |_| {}).await;
        let (n_key, n_addr) = (n.key(), n.addr());
        let mut h = honest(ctx, &setup, &mut rng, (n_key, n_addr)).await;
        let (n_net, n_store) = (n.net.clone(), n.store.clone());
        let (h_net, h_store) = (h.net.clone(), h.store.clone());
        let keys: Vec<_> = (0..3)
            .map(|_| node::SecretKey::generate(&mut rng))
            .collect();
        scope::run!(ctx, |ctx, s| async {
            s.spawn_bg(n.run(ctx));
            s.spawn_bg(h.run(ctx));
            let conn = synced(ctx, &h_net, &h_store, &n_key, blocks[9].number()).await?;
            let mut pool = n_net.gossip.inbound.subscribe();

            // Not a Noise handshake message.
            let mut raw = tcp::connect(ctx, n_addr).await?.context("connect")?;
            let mut bytes = frame::encode(&preface::Encryption::NoiseNN);
            bytes.extend([0xAB; 100]);
            raw.write_all(&bytes).await.context("write")?;
            wait_tcp_closed(ctx, &mut raw).await?;

            // Not a mux handshake (a frame that is not a protobuf message).
            let mut st = dial_gossip(ctx, genesis, n_addr, &n_key, &keys[0]).await?;
            sync::wait_for(ctx, &mut pool, |m| m.contains_key(&keys[0].public())).await?;
            send(ctx, &mut st, &[4, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]).await?;
            wait_closed(ctx, st).await?;
            sync::wait_for(ctx, &mut pool, |m| !m.contains_key(&keys[0].public())).await?;

            // A frame for a stream that does not exist (OPEN of client stream 8191).
            let mut st = dial_gossip(ctx, genesis, n_addr, &n_key, &keys[1]).await?;
            mux_handshake(ctx, &mut st, &[(4, 5)]).await?;
            send(ctx, &mut st, &[0xff, 0x1f]).await?;
            wait_closed(ctx, st).await?;
            sync::wait_for(ctx, &mut pool, |m| !m.contains_key(&keys[1].public())).await?;

            // Garbage as an RPC request (push_block_store_state): no answer, and the next call
            // on the same connection works.
            let st = dial_gossip(ctx, genesis, n_addr, &n_key, &keys[2]).await?;
            let raw_state = mux::StreamQueue::new(1, limiter::Rate::INF);
            let get_block = Client::<GetBlockRpc>::new(limiter::Rate::INF);
            let mut m = mux::Mux::default();
            m.accept.insert(3, raw_state.clone());
            get_block.register(&mut m);
            s.spawn_bg(run_mux(ctx, m, st));
            let mut call = raw_state.open(ctx).await?;
            call.write
                .write_all(
                    ctx,
                    &[8, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
                )
                .await
                .context("write")?;
            call.write.close();
            let mut resp = [0u8; 4];
            let err = call.read.read_exact(ctx, &mut resp).await.unwrap_err();
            assert!(matches!(err, mux::StreamError::Eof), "{err}");
            let first = blocks[0].number();
            let got = get_block
                .call(ctx, &rpc::get_block::Req(first), 10 * kB)
                .await
                .context("get_block")?;
            assert_eq!(got.0.as_ref(), Some(&blocks[0]));
            assert!(
                n_net
                    .gossip
                    .inbound
                    .current()
                    .contains_key(&keys[2].public())
            );

            still_serves(ctx, &n_store, &h_net, &h_store, &conn, &blocks[10..]).await
        })
        .await
    });
}

/// Frames announced larger than allowed are refused from their length prefix alone (the body is
/// never sent): a mux handshake or gossip handshake frame over 10 kB drops the connection. An RPC
/// request over the server's limit, followed by a 2 MB flood on its stream, gets no answer; the
/// node's read buffer for the connection never exceeds its bound, and the connection serves the
/// next call.
#[test]
fn oversized_frames_are_refused() {
    testonly::run_test(|ctx, _| async move {
        let ctx = &ctx;
        let (setup, mut rng) = setup(2);
        let genesis = setup.genesis.hash();
        let blocks = chain(&setup, &mut rng, 20);
        let mut n = target(ctx, &setup, &mut rng, &blocks[..10], |_| {}).await;
        let (n_key, n_addr) = (n.key(), n.addr());
        let mut h = honest(ctx, &setup, &mut rng, (n_key, n_addr)).await;
        let (n_net, n_store) = (n.net.clone(), n.store.clone());
        let (h_net, h_store) = (h.net.clone(), h.store.clone());
        let keys: Vec<_> = (0..2)
            .map(|_| node::SecretKey::generate(&mut rng))
            .collect();
        let too_big = (10 * kB as u32 + 1).to_le_bytes();
        scope::run!(ctx, |ctx, s| async {
            s.spawn_bg(n.run(ctx));
            s.spawn_bg(h.run(ctx));
            let conn = synced(ctx, &h_net, &h_store, &n_key, blocks[9].number()).await?;
            let mut pool = n_net.gossip.inbound.subscribe();

            // Gossip handshake frame.
            let mut st = preface::connect(ctx, n_addr, preface::Endpoint::GossipNet).await?;
            send(ctx, &mut st, &too_big).await?;
            wait_closed(ctx, st).await?;

            // Mux handshake frame.
            let mut st = dial_gossip(ctx, genesis, n_addr, &n_key, &keys[0]).await?;
            sync::wait_for(ctx, &mut pool, |m| m.contains_key(&keys[0].public())).await?;
            send(ctx, &mut st, &too_big).await?;
            wait_closed(ctx, st).await?;
            sync::wait_for(ctx, &mut pool, |m| !m.contains_key(&keys[0].public())).await?;

            // A push_tx request of 64 MiB (the limit is max_tx_size + 1 kB).
            let st = dial_gossip(ctx, genesis, n_addr, &n_key, &keys[1]).await?;
            let raw_tx = mux::StreamQueue::new(1, limiter::Rate::INF);
            let get_block = Client::<GetBlockRpc>::new(limiter::Rate::INF);
            let mut m = mux::Mux::default();
            m.accept.insert(10, raw_tx.clone());
            get_block.register(&mut m);
            let cap = m.cfg.read_buffer_size;
            s.spawn_bg(run_mux(ctx, m, st));
            let peer = sync::wait_for(ctx, &mut pool, |m| m.contains_key(&keys[1].public()))
                .await?[&keys[1].public()]
                .clone();
            let call = raw_tx.open(ctx).await?;
            let (mut read, mut write) = (call.read, call.write);
            write
                .write_all(ctx, &(64u32 << 20).to_le_bytes())
                .await
                .context("write")?;
            let mut resp = [0u8; 4];
            let err = read.read_exact(ctx, &mut resp).await.unwrap_err();
            assert!(matches!(err, mux::StreamError::Eof), "{err}");
            let chunk = vec![0x5a; 64 * kB];
            let mut max_buffered = 0;
            for _ in 0..32 {
                write.write_all(ctx, &chunk).await.context("write")?;
                max_buffered = max_buffered.max(peer.stats.buffered_bytes());
                assert!(max_buffered <= cap, "{max_buffered} > {cap}");
            }
            drop((read, write));
            let got = get_block
                .call(ctx, &rpc::get_block::Req(blocks[3].number()), 10 * kB)
                .await
                .context("get_block")?;
            assert_eq!(got.0.as_ref(), Some(&blocks[3]));
            assert!(peer.stats.buffered_bytes() <= cap);
            assert!(
                n_net
                    .gossip
                    .inbound
                    .current()
                    .contains_key(&keys[1].public())
            );

            still_serves(ctx, &n_store, &h_net, &h_store, &conn, &blocks[10..]).await
        })
        .await
    });
}

/// A mux frame of kind `11` after a valid mux handshake drops the connection, on the gossip and
/// on the consensus endpoint; the same peer can connect again.
#[test]
fn invalid_mux_frame_kind_drops_the_peer() {
    testonly::run_test(|ctx, _| async move {
        let ctx = &ctx;
        let (setup, mut rng) = setup(3);
        let genesis = setup.genesis.hash();
        let blocks = chain(&setup, &mut rng, 20);
        let mut n = target(ctx, &setup, &mut rng, &blocks[..10], |_| {}).await;
        let (n_key, n_addr) = (n.key(), n.addr());
        let mut h = honest(ctx, &setup, &mut rng, (n_key, n_addr)).await;
        let (n_net, n_store) = (n.net.clone(), n.store.clone());
        let (h_net, h_store) = (h.net.clone(), h.store.clone());
        let cons = n.consensus(&setup, Sink::new());
        let key = node::SecretKey::generate(&mut rng);
        let (v0, v1) = (setup.keys[0].public(), setup.keys[1].public());
        scope::run!(ctx, |ctx, s| async {
            s.spawn_bg(n.run(ctx));
            s.spawn_bg(h.run(ctx));
            s.spawn_bg(async { Ok(n_net.run_consensus(ctx, cons.clone()).await?) });
            let conn = synced(ctx, &h_net, &h_store, &n_key, blocks[9].number()).await?;

            let mut pool = n_net.gossip.inbound.subscribe();
            let mut st = dial_gossip(ctx, genesis, n_addr, &n_key, &key).await?;
            mux_handshake(ctx, &mut st, &[(4, 5)]).await?;
            send(ctx, &mut st, &[0x00, 0xC0]).await?;
            wait_closed(ctx, st).await?;
            sync::wait_for(ctx, &mut pool, |m| !m.contains_key(&key.public())).await?;
            let _again = dial_gossip(ctx, genesis, n_addr, &n_key, &key).await?;
            sync::wait_for(ctx, &mut pool, |m| m.contains_key(&key.public())).await?;

            let mut pool = cons.inbound.subscribe();
            let mut st = dial_consensus(ctx, genesis, n_addr, &v0, &setup.keys[1]).await?;
            sync::wait_for(ctx, &mut pool, |m| m.contains_key(&v1)).await?;
            mux_handshake(ctx, &mut st, &[(0, 3)]).await?;
            send(ctx, &mut st, &[0x01, 0xE0]).await?;
            wait_closed(ctx, st).await?;
            sync::wait_for(ctx, &mut pool, |m| !m.contains_key(&v1)).await?;
            let _again = dial_consensus(ctx, genesis, n_addr, &v0, &setup.keys[1]).await?;
            sync::wait_for(ctx, &mut pool, |m| m.contains_key(&v1)).await?;

            still_serves(ctx, &n_store, &h_net, &h_store, &conn, &blocks[10..]).await
        })
        .await
    });
}

/// Slow-loris peers: 20 that open TCP and send nothing, 5 that send the plaintext preface and
/// stop, 5 that complete the preface and say nothing in the handshake. While the clock stands
/// still they hang (and the honest peer is served meanwhile); once the manual clock moves by
/// the preface timeout (5 s, which also bounds the endpoint handshake) every one of them is
/// dropped.
///
/// The preface timeout of a connection starts when the node begins to serve it. The node
/// accepts connections in order, so once a connection made after all the silent ones has
/// completed its handshake, every silent one has its timeout running, from the current time.
#[test]
fn silent_peers_are_dropped_when_the_preface_times_out() {
    testonly::run_test(|ctx, clock| async move {
        let ctx = &ctx;
        let (setup, mut rng) = setup(4);
        let genesis = setup.genesis.hash();
        let blocks = chain(&setup, &mut rng, 30);
        let mut n = target(ctx, &setup, &mut rng, &blocks[..10], |_| {}).await;
        let (n_key, n_addr) = (n.key(), n.addr());
        let mut h = honest(ctx, &setup, &mut rng, (n_key, n_addr)).await;
        let (n_net, n_store) = (n.net.clone(), n.store.clone());
        let (h_net, h_store) = (h.net.clone(), h.store.clone());
        let probe = node::SecretKey::generate(&mut rng);
        scope::run!(ctx, |ctx, s| async {
            s.spawn_bg(n.run(ctx));
            s.spawn_bg(h.run(ctx));
            let conn = synced(ctx, &h_net, &h_store, &n_key, blocks[9].number()).await?;

            let mut silent = vec![];
            for _ in 0..20 {
                silent.push(tcp::connect(ctx, n_addr).await?.context("connect")?);
            }
            for _ in 0..5 {
                let mut raw = tcp::connect(ctx, n_addr).await?.context("connect")?;
                let preface = frame::encode(&preface::Encryption::NoiseNN);
                raw.write_all(&preface).await.context("write")?;
                silent.push(raw);
            }
            let mut mute = vec![];
            for _ in 0..5 {
                mute.push(preface::connect(ctx, n_addr, preface::Endpoint::GossipNet).await?);
            }
            let _probe = dial_gossip(ctx, genesis, n_addr, &n_key, &probe).await?;
            sync::wait_for(ctx, &mut n_net.gossip.inbound.subscribe(), |m| {
                m.contains_key(&probe.public())
            })
            .await?;
            // They hang, and the honest peer is served meanwhile.
            still_serves(ctx, &n_store, &h_net, &h_store, &conn, &blocks[10..20]).await?;
            for raw in &silent {
                let mut buf = [0u8; 1];
                let res = raw.try_read(&mut buf);
                assert!(
                    matches!(&res, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
                    "{res:?}"
                );
            }

            let start = ctx.now();
            clock.advance(preface::TIMEOUT);
            for raw in &mut silent {
                wait_tcp_closed(ctx, raw).await?;
            }
            for st in mute {
                wait_closed(ctx, st).await?;
            }
            assert_eq!(ctx.now() - start, preface::TIMEOUT);
            // The honest peer and the probe (past its handshake) are still connected.
            let m = n_net.gossip.inbound.current();
            assert_eq!(m.len(), 2, "{:?}", m.keys());
            assert!(m.contains_key(&probe.public()));
            still_serves(ctx, &n_store, &h_net, &h_store, &conn, &blocks[20..]).await
        })
        .await
    });
}

/// A peer that completes the gossip handshake and then says nothing (not even the mux
/// handshake) is dropped by the keepalive: the ping is not answered within `ping_timeout`.
///
/// The ping's deadline is set when the connection's ping task first runs, which is after the
/// connection entered the pool, but not necessarily before the test sees it there: so the clock
/// is moved in steps of 1 s, and the drop must come no earlier than `ping_timeout` after the
/// connection entered the pool.
#[test]
fn silent_peer_after_the_handshake_is_dropped_by_the_ping_timeout() {
    testonly::run_test(|ctx, clock| async move {
        let ctx = &ctx;
        let (setup, mut rng) = setup(5);
        let ping = time::Duration::from_secs(10);
        let mut n = target(ctx, &setup, &mut rng, &[], |cfg| {
            cfg.ping_timeout = Some(ping)
        })
        .await;
        let (n_key, n_addr, n_net) = (n.key(), n.addr(), n.net.clone());
        let key = node::SecretKey::generate(&mut rng);
        scope::run!(ctx, |ctx, s| async {
            s.spawn_bg(n.run(ctx));
            let mut pool = n_net.gossip.inbound.subscribe();
            let st = dial_gossip(ctx, setup.genesis.hash(), n_addr, &n_key, &key).await?;
            sync::wait_for(ctx, &mut pool, |m| m.contains_key(&key.public())).await?;
            let start = ctx.now();
            let connected = || n_net.gossip.inbound.current().contains_key(&key.public());
            clock.advance(ping - time::Duration::from_secs(1));
            for _ in 0..100 {
                ctx.yield_now().await?;
            }
            assert!(connected());
            while connected() {
                clock.advance(time::Duration::from_secs(1));
                for _ in 0..100 {
                    ctx.yield_now().await?;
                }
            }
            assert!(ctx.now() - start >= ping);
            wait_closed(ctx, st).await
        })
        .await
    });
}
