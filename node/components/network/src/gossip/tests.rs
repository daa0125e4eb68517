//! Gossip network tests over real loopback TCP, with a manual clock (nothing waits on time).

use std::{net::SocketAddr, sync::Arc};

use rand::{SeedableRng as _, rngs::StdRng};
use zksync_concurrency::{ctx, scope, sync, testonly};
use zksync_consensus_roles::{
    node,
    testonly::Setup,
    validator::{Block, BlockNumber, NetAddress, Payload},
};
use zksync_consensus_storage::{BlockStoreState, ExecutionLayer as _, Transaction};
use zksync_protobuf::std_conv::Timestamp;

use super::{
    Gossip, Peer,
    validator_addrs::{AddrsError, ValidatorAddrs},
};
use crate::{
    Config, handshake,
    pool::Pool,
    preface,
    testonly::{TestNode, chain, config},
};

fn setup(seed: u64) -> (Setup, StdRng) {
    let mut rng = StdRng::seed_from_u64(seed);
    let setup = Setup::new(&mut rng, 4);
    (setup, rng)
}

/// `cfg` dialing `peers` (and accepting anyone).
fn dialing(mut cfg: Config, peers: &[(node::PublicKey, SocketAddr)]) -> Config {
    cfg.gossip.dynamic_inbound_limit = 10;
    for (k, a) in peers {
        cfg.gossip.static_outbound.insert(*k, (*a).into());
    }
    cfg
}

/// Three empty nodes in a line: `a` dials `b`, `b` dials `c`.
async fn line(ctx: &ctx::Ctx, setup: &Setup, rng: &mut StdRng) -> (TestNode, TestNode, TestNode) {
    let c = TestNode::new(
        ctx,
        setup,
        |addr| dialing(config(rng, addr, None), &[]),
        &[],
    )
    .await;
    let to_c = [(c.key(), c.addr())];
    let b = TestNode::new(
        ctx,
        setup,
        |addr| dialing(config(rng, addr, None), &to_c),
        &[],
    )
    .await;
    let to_b = [(b.key(), b.addr())];
    let a = TestNode::new(
        ctx,
        setup,
        |addr| dialing(config(rng, addr, None), &to_b),
        &[],
    )
    .await;
    (a, b, c)
}

#[test]
fn full_node_syncs_from_one_peer() {
    testonly::run_test(|ctx, _| async move {
        let ctx = &ctx;
        let (setup, mut rng) = setup(1);
        let blocks = chain(&setup, &mut rng, 50);
        let mut a = TestNode::new(
            ctx,
            &setup,
            |addr| dialing(config(&mut rng, addr, None), &[]),
            &blocks,
        )
        .await;
        let peers = [(a.key(), a.addr())];
        let mut b = TestNode::new(
            ctx,
            &setup,
            |addr| dialing(config(&mut rng, addr, None), &peers),
            &[],
        )
        .await;
        let b_store = b.store.clone();
        scope::run!(ctx, |ctx, s| async {
            s.spawn_bg(a.run(ctx));
            s.spawn_bg(b.run(ctx));
            b_store
                .wait_until_persisted(ctx, blocks.last().unwrap().number())
                .await?;
            Ok(())
        })
        .await?;
        for want in &blocks {
            let got = b.store.block(ctx, want.number()).await?;
            assert_eq!(got.as_ref(), Some(want));
        }
        Ok(())
    });
}

#[test]
fn invalid_block_disconnects_the_peer_and_is_fetched_elsewhere() {
    testonly::run_test(|ctx, _| async move {
        let ctx = &ctx;
        let (setup, mut rng) = setup(2);
        let blocks = chain(&setup, &mut rng, 20);
        // The bad peer's copy: every payload altered (the certificates no longer match).
        let bad: Vec<Block> = blocks
            .iter()
            .map(|b| {
                let Block::Final(mut b) = b.clone() else {
                    unreachable!()
                };
                b.payload = Payload(vec![1, 2, 3]);
                Block::Final(b)
            })
            .collect();
        let mut b = TestNode::new(
            ctx,
            &setup,
            |addr| dialing(config(&mut rng, addr, None), &[]),
            &[],
        )
        .await;
        let to_b = [(b.key(), b.addr())];
        let mut bad_node = TestNode::new(
            ctx,
            &setup,
            |addr| dialing(config(&mut rng, addr, None), &to_b),
            &bad,
        )
        .await;
        let mut good = TestNode::new(
            ctx,
            &setup,
            |addr| dialing(config(&mut rng, addr, None), &to_b),
            &blocks,
        )
        .await;
        let b_store = b.store.clone();
        let b_net = b.net.clone();
        scope::run!(ctx, |ctx, s| async {
            s.spawn_bg(b.run(ctx));
            s.spawn_bg(bad_node.run(ctx));
            // Only the bad peer is there: its first block is refused and it is dropped (its
            // redial waits on the manual clock, so it stays away).
            let mut fetch = b_net.gossip.fetcher.status();
            while fetch.invalid_blocks == 0 {
                ctx.yield_now().await?;
                fetch = b_net.gossip.fetcher.status();
            }
            assert_eq!(b_store.queued().next(), setup.genesis.first_block);
            s.spawn_bg(good.run(ctx));
            b_store
                .wait_until_persisted(ctx, blocks.last().unwrap().number())
                .await?;
            Ok(())
        })
        .await?;
        for want in &blocks {
            assert_eq!(
                b.store.block(ctx, want.number()).await?.as_ref(),
                Some(want)
            );
        }
        Ok(())
    });
}

/// `cfg` with the node key `key` (a node keeps its key across restarts).
fn with_key(mut cfg: Config, key: &node::SecretKey) -> Config {
    cfg.node_key = key.clone();
    cfg
}

/// Waits until `pool` holds no connection of `key`.
async fn wait_gone(
    ctx: &ctx::Ctx,
    pool: &Pool<node::PublicKey, Arc<Peer>>,
    key: &node::PublicKey,
) -> ctx::OrCanceled<()> {
    sync::wait_for(ctx, &mut pool.subscribe(), |m| !m.contains_key(key)).await?;
    Ok(())
}

/// Waits until `pool` holds a connection of `key`, and returns it.
async fn wait_connected(
    ctx: &ctx::Ctx,
    pool: &Pool<node::PublicKey, Arc<Peer>>,
    key: &node::PublicKey,
) -> ctx::OrCanceled<Arc<Peer>> {
    let mut sub = pool.subscribe();
    let m = sync::wait_for(ctx, &mut sub, |m| m.contains_key(key)).await?;
    Ok(m[key].clone())
}

/// Asserts that `gossip` has no get_block call outstanding (every number a connection took was
/// delivered or given back) and refused no block.
fn assert_nothing_in_flight(gossip: &Gossip) {
    let status = gossip.fetcher.status();
    assert!(status.in_flight.is_empty(), "{status:?}");
    assert_eq!(status.invalid_blocks, 0);
}

/// Waits until `gossip`'s sync is stuck (for as long as no peer that is up advertises the block
/// after the queued range): that block is wanted, so it is neither being fetched nor verified;
/// returns its number. (Blocks being verified are in no set of the fetcher, and the fetcher
/// refills its window in the same step as it queues its last block, so the window is current.)
/// The fetcher has no watch outside its module: its figures are polled, yielding in between.
async fn wait_stalled(ctx: &ctx::Ctx, gossip: &Gossip) -> ctx::OrCanceled<BlockNumber> {
    loop {
        let next = gossip.store.queued().next();
        if gossip.fetcher.status().wanted.contains(&next) {
            return Ok(next);
        }
        ctx.yield_now().await?;
    }
}

/// Asserts that `node` has synced exactly `blocks`: its persisted and queued ranges are theirs
/// (nothing missing, nothing extra), its execution layer returns each of them by number,
/// unchanged (in order, no block twice: the in-memory layer stores block `n` at position
/// `n - first`), and its fetcher holds nothing in flight or unverified.
async fn assert_synced(ctx: &ctx::Ctx, node: &TestNode, blocks: &[Block]) -> ctx::Result<()> {
    let (first, last) = (blocks[0].number(), blocks.last().unwrap().number());
    for range in [node.store.persisted(), node.store.queued()] {
        assert_eq!(range.first, first);
        assert_eq!(range.last.as_ref().map(|l| l.number()), Some(last));
    }
    for want in blocks {
        assert_eq!(&node.engine.block(ctx, want.number()).await?, want);
    }
    assert!(node.engine.block(ctx, last.next()).await.is_err());
    assert_nothing_in_flight(&node.net.gossip);
    assert!(node.net.gossip.fetcher.status().fetched.is_empty());
    Ok(())
}

/// Syncing across serving nodes that switch off and on, with no clock move: the serving nodes
/// dial the syncing node F, so a restarted one is back as soon as it runs.
///
/// A (blocks 0..20) is up alone: F gets exactly those. B (0..45) joins and is switched off in
/// the middle of the sync (once F has persisted block 29), possibly with get_block calls in
/// flight: every one of them is given back, none is lost. Then A goes off too: no serving node
/// is up, and none had the next wanted block; F's sync stalls. C, a pruned node holding only
/// 40..60, comes up: it serves the blocks of F's window after the gap, which wait, unverified,
/// while F stays where it is (nothing is queued past a gap). B is restarted at its old address
/// with its key and store of before; F resumes and ends with the whole chain, in order,
/// verified, each block once.
#[test]
fn full_node_syncs_while_serving_nodes_switch_off_and_on() {
    testonly::run_test(|ctx, _| async move {
        let ctx = &ctx;
        let (setup, mut rng) = setup(8);
        let blocks = chain(&setup, &mut rng, 60);
        let num = |i: usize| blocks[i].number();
        let mut f = TestNode::new(
            ctx,
            &setup,
            |addr| dialing(config(&mut rng, addr, None), &[]),
            &[],
        )
        .await;
        let to_f = [(f.key(), f.addr())];
        let keys: Vec<_> = (0..3)
            .map(|_| node::SecretKey::generate(&mut rng))
            .collect();
        let (a_key, b_key, c_key) = (&keys[0], &keys[1], &keys[2]);
        let mut serving = |addr, key| with_key(dialing(config(&mut rng, addr, None), &to_f), key);
        let mut a = TestNode::new(ctx, &setup, |addr| serving(addr, a_key), &blocks[..20]).await;
        let mut b = TestNode::new(ctx, &setup, |addr| serving(addr, b_key), &blocks[..45]).await;
        let mut c = TestNode::pruned(ctx, &setup, |addr| serving(addr, c_key), &blocks[40..]).await;
        let b_addr = b.addr();
        let c_range = c.store.queued();
        let window = f.net.config().max_block_queue_size as u64;
        let (f_store, f_net) = (f.store.clone(), f.net.clone());
        let g = &f_net.gossip;
        scope::run!(ctx, |ctx, s| async {
            s.spawn_bg(f.run(ctx));
            scope::run!(ctx, |ctx, s| async {
                s.spawn_bg(a.run(ctx));
                // Only A is up: F gets its 20 blocks, and nothing more exists anywhere.
                f_store.wait_until_persisted(ctx, num(19)).await?;
                assert_eq!(f_store.queued().next(), num(20));
                // B joins, and goes off in the middle of the sync.
                scope::run!(ctx, |ctx, s| async {
                    s.spawn_bg(b.run(ctx));
                    f_store.wait_until_persisted(ctx, num(29)).await?;
                    Ok(())
                })
                .await?;
                wait_gone(ctx, &g.inbound, &b_key.public()).await?;
                // Every call B had not answered was given back; the one peer still up (A, which
                // has only what it got from F) lacks the next wanted block.
                assert_nothing_in_flight(g);
                let next = f_store.queued().next();
                assert!(next > num(29), "{next}");
                for p in g.inbound.current().values() {
                    assert!(!p.state().contains(next), "{:?} has {next}", p.key);
                }
                Ok(())
            })
            .await?;
            // A is off too: no serving node is up.
            sync::wait_for(ctx, &mut g.inbound.subscribe(), |m| m.is_empty()).await?;
            assert_nothing_in_flight(g);
            let stalled = wait_stalled(ctx, g).await?;
            // C (pruned: 40..60) comes up; F learns its range.
            s.spawn_bg(c.run(ctx));
            let peer = wait_connected(ctx, &g.inbound, &c_key.public()).await?;
            sync::wait_for(ctx, &mut peer.state.subscribe(), |r| *r == c_range).await?;
            if stalled < num(40) {
                // (Unless B served everything up to block 39 before it went off: an unlikely
                // schedule, in which C alone serves the rest.)
                // C serves the part of F's window after the gap; F cannot queue it yet. (Polled:
                // see `wait_stalled`.)
                let after_gap: Vec<_> = (num(40).0..stalled.0 + window).map(BlockNumber).collect();
                while g.fetcher.status().fetched != after_gap {
                    ctx.yield_now().await?;
                }
                let status = g.fetcher.status();
                let gap: Vec<_> = (stalled.0..num(40).0).map(BlockNumber).collect();
                assert_eq!(status.wanted, gap);
                assert!(status.in_flight.is_empty(), "{status:?}");
                assert_eq!(f_store.queued().next(), stalled);
            }
            // B is back at its old address, with its key and store of before.
            let mut b2 = TestNode::new_at(
                ctx,
                &setup,
                b_addr,
                |addr| with_key(dialing(config(&mut rng, addr, None), &to_f), b_key),
                &blocks[..45],
            )
            .await;
            s.spawn_bg(async move { b2.run(ctx).await });
            f_store.wait_until_persisted(ctx, num(59)).await?;
            Ok(())
        })
        .await?;
        assert_synced(ctx, &f, &blocks).await
    });
}

/// A static outbound peer that served a prefix of the chain, went away and came back at its old
/// address (same key) holding more blocks is redialed, and the sync resumes where it stopped;
/// twice: once after it served all it had, once in the middle of the sync (calls possibly in
/// flight). Here the syncing node F dials the peer S, so F's redial waits on its backoff: the
/// clock moves by `connect_retry` (the longest backoff step) only after F dropped the
/// connection, which is when its backoff sleep starts (in the same step), and after S listens
/// again. While S is away, F has nothing in flight and nowhere to fetch from.
#[test]
fn a_peer_that_served_a_prefix_comes_back_with_more_blocks() {
    testonly::run_test(|ctx, clock| async move {
        let ctx = &ctx;
        let (setup, mut rng) = setup(9);
        let blocks = chain(&setup, &mut rng, 50);
        let num = |i: usize| blocks[i].number();
        let s_key = node::SecretKey::generate(&mut rng);
        let s_pub = s_key.public();
        let mut s1 = TestNode::new(
            ctx,
            &setup,
            |addr| with_key(dialing(config(&mut rng, addr, None), &[]), &s_key),
            &blocks[..20],
        )
        .await;
        let s_addr = s1.addr();
        let mut f = TestNode::new(
            ctx,
            &setup,
            |addr| dialing(config(&mut rng, addr, None), &[(s_pub, s_addr)]),
            &[],
        )
        .await;
        let retry = f.net.config().connect_retry;
        let (f_store, f_net) = (f.store.clone(), f.net.clone());
        let g = &f_net.gossip;
        scope::run!(ctx, |ctx, s| async {
            s.spawn_bg(f.run(ctx));
            // S serves its 20 blocks, then goes away.
            scope::run!(ctx, |ctx, s| async {
                s.spawn_bg(s1.run(ctx));
                f_store.wait_until_persisted(ctx, num(19)).await?;
                Ok(())
            })
            .await?;
            wait_gone(ctx, &g.outbound, &s_pub).await?;
            assert_eq!(f_store.queued().next(), num(20));
            assert_nothing_in_flight(g);
            // S is back with 35 blocks, and goes away in the middle of the sync.
            let mut s2 = TestNode::new_at(
                ctx,
                &setup,
                s_addr,
                |addr| with_key(dialing(config(&mut rng, addr, None), &[]), &s_key),
                &blocks[..35],
            )
            .await;
            scope::run!(ctx, |ctx, s| async {
                s.spawn_bg(s2.run(ctx));
                clock.advance(retry);
                let peer = wait_connected(ctx, &g.outbound, &s_pub).await?;
                assert_eq!(peer.addr, s_addr);
                f_store.wait_until_persisted(ctx, num(27)).await?;
                Ok(())
            })
            .await?;
            wait_gone(ctx, &g.outbound, &s_pub).await?;
            assert_nothing_in_flight(g);
            let next = f_store.queued().next();
            assert!(num(27) < next && next <= num(35), "{next}");
            // S is back with the whole chain.
            let mut s3 = TestNode::new_at(
                ctx,
                &setup,
                s_addr,
                |addr| with_key(dialing(config(&mut rng, addr, None), &[]), &s_key),
                &blocks,
            )
            .await;
            s.spawn_bg(async move { s3.run(ctx).await });
            clock.advance(retry);
            f_store.wait_until_persisted(ctx, num(49)).await?;
            Ok(())
        })
        .await?;
        assert_synced(ctx, &f, &blocks).await
    });
}

#[test]
fn transactions_propagate_along_a_line() {
    testonly::run_test(|ctx, _| async move {
        let ctx = &ctx;
        let (setup, mut rng) = setup(3);
        let (mut a, mut b, mut c) = line(ctx, &setup, &mut rng).await;
        let txs: Vec<Transaction> = (0..5).map(|i| Transaction(vec![i; 100])).collect();
        let (a_net, c_engine) = (a.net.clone(), c.engine.clone());
        let (a_out, c_in) = (a.net.clone(), c.net.clone());
        scope::run!(ctx, |ctx, s| async {
            s.spawn_bg(a.run(ctx));
            s.spawn_bg(b.run(ctx));
            s.spawn_bg(c.run(ctx));
            // Both links up (pushes go only to connected peers).
            sync::wait_for(ctx, &mut a_out.gossip.outbound.subscribe(), |m| {
                m.len() == 1
            })
            .await?;
            sync::wait_for(ctx, &mut c_in.gossip.inbound.subscribe(), |m| m.len() == 1).await?;
            for tx in &txs {
                a_net.gossip.broadcast_tx(tx.clone());
            }
            let mut sub = c_engine.txs();
            sync::wait_for(ctx, &mut sub, |got| txs.iter().all(|t| got.contains(t))).await?;
            Ok(())
        })
        .await
    });
}

fn signed_addr(
    key: &zksync_consensus_roles::validator::SecretKey,
    port: u16,
    version: u64,
) -> zksync_consensus_roles::validator::Signed<NetAddress> {
    key.sign_msg(NetAddress {
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        version,
        timestamp: Timestamp::default(),
    })
}

#[test]
fn validator_address_rules() {
    testonly::run_test(|ctx, _| async move {
        let ctx = &ctx;
        let (setup, _) = setup(4);
        let keys = &setup.keys;
        let is_validator = |k: &_| setup.schedule().contains(k);
        let addrs = ValidatorAddrs::default();
        // Duplicate key: the whole batch is refused.
        let dup = vec![signed_addr(&keys[0], 1, 0), signed_addr(&keys[0], 2, 1)];
        assert_eq!(
            addrs.update(ctx, is_validator, dup).await?,
            Err(AddrsError::DuplicateKey(keys[0].public()))
        );
        assert!(addrs.current().is_empty());
        // A bad signature: nothing of the batch is applied.
        let mut forged = signed_addr(&keys[1], 3, 0);
        forged.msg.version = 7;
        let batch = vec![signed_addr(&keys[0], 1, 0), forged];
        assert_eq!(
            addrs.update(ctx, is_validator, batch).await?,
            Err(AddrsError::Signature(keys[1].public()))
        );
        assert!(addrs.current().is_empty());
        // Non-validators are skipped; valid entries stored.
        let stranger =
            zksync_consensus_roles::validator::SecretKey::generate(&mut StdRng::seed_from_u64(9));
        let batch = vec![signed_addr(&keys[0], 1, 1), signed_addr(&stranger, 5, 0)];
        addrs.update(ctx, is_validator, batch).await?.unwrap();
        let m = addrs.current();
        assert_eq!(m.len(), 1);
        assert_eq!(m[&keys[0].public()].msg.version, 1);
        // Older or equal entries are skipped before any signature check (a forged old entry
        // does not fail the batch).
        let mut old = signed_addr(&keys[0], 9, 0);
        old.msg.addr = SocketAddr::from(([10, 0, 0, 1], 1));
        addrs.update(ctx, is_validator, vec![old]).await?.unwrap();
        assert_eq!(addrs.current()[&keys[0].public()].msg.addr.port(), 1);
        // Newer wins.
        addrs
            .update(ctx, is_validator, vec![signed_addr(&keys[0], 2, 5)])
            .await?
            .unwrap();
        assert_eq!(addrs.current()[&keys[0].public()].msg.addr.port(), 2);
        Ok(())
    });
}

#[test]
fn validator_addresses_propagate_along_a_line() {
    testonly::run_test(|ctx, _| async move {
        let ctx = &ctx;
        let (setup, mut rng) = setup(5);
        let (mut a, mut b, mut c) = line(ctx, &setup, &mut rng).await;
        let entries: Vec<_> = setup
            .keys
            .iter()
            .enumerate()
            .map(|(i, k)| signed_addr(k, 1000 + i as u16, 1))
            .collect();
        let (a_net, c_net) = (a.net.clone(), c.net.clone());
        scope::run!(ctx, |ctx, s| async {
            s.spawn_bg(a.run(ctx));
            s.spawn_bg(b.run(ctx));
            s.spawn_bg(c.run(ctx));
            for e in &entries {
                a_net.gossip.validator_addrs.insert_own(e.clone());
            }
            let mut sub = c_net.gossip.validator_addrs.subscribe();
            sync::wait_for(ctx, &mut sub, |m| m.len() == entries.len()).await?;
            Ok(())
        })
        .await?;
        for e in &entries {
            assert_eq!(*c.net.gossip.validator_addrs.current()[&e.key], *e);
        }
        Ok(())
    });
}

/// Waits until the node closes `stream` (reading returns an error).
async fn wait_closed(ctx: &ctx::Ctx, mut stream: crate::noise::Stream) -> ctx::Result<()> {
    let mut buf = [0u8; 1];
    loop {
        if stream.read.read_exact(ctx, &mut buf).await.is_err() {
            return Ok(());
        }
    }
}

#[test]
fn duplicate_and_excess_inbound_connections_are_dropped() {
    testonly::run_test(|ctx, _| async move {
        let ctx = &ctx;
        let (setup, mut rng) = setup(6);
        let friend = node::SecretKey::generate(&mut rng);
        let (x, y) = (
            node::SecretKey::generate(&mut rng),
            node::SecretKey::generate(&mut rng),
        );
        let mut n = TestNode::new(
            ctx,
            &setup,
            |addr| {
                let mut cfg = config(&mut rng, addr, None);
                cfg.gossip.dynamic_inbound_limit = 1;
                cfg.gossip.static_inbound.insert(friend.public());
                cfg
            },
            &[],
        )
        .await;
        let net = n.net.clone();
        let (n_addr, n_key) = (n.addr(), n.key());
        scope::run!(ctx, |ctx, s| async {
            s.spawn_bg(n.run(ctx));
            let mut pool = net.gossip.inbound.subscribe();
            let _x1 = dial_to(ctx, &setup, n_addr, &n_key, &x).await?;
            sync::wait_for(ctx, &mut pool, |m| m.contains_key(&x.public())).await?;
            // A second connection from the same key is dropped; the first stays.
            let x2 = dial_to(ctx, &setup, n_addr, &n_key, &x).await?;
            wait_closed(ctx, x2).await?;
            // The dynamic limit (1) is reached: another key is dropped...
            let y1 = dial_to(ctx, &setup, n_addr, &n_key, &y).await?;
            wait_closed(ctx, y1).await?;
            // ...but a static inbound peer is always accepted.
            let _f = dial_to(ctx, &setup, n_addr, &n_key, &friend).await?;
            sync::wait_for(ctx, &mut pool, |m| m.contains_key(&friend.public())).await?;
            let m = net.gossip.inbound.current();
            assert_eq!(m.len(), 2);
            assert!(m.contains_key(&x.public()));
            Ok(())
        })
        .await
    });
}

/// Dials the node at `addr` (key `peer`) as `key` and completes the gossip handshake.
async fn dial_to(
    ctx: &ctx::Ctx,
    setup: &Setup,
    addr: SocketAddr,
    peer: &node::PublicKey,
    key: &node::SecretKey,
) -> ctx::Result<crate::noise::Stream> {
    let mut stream = preface::connect(ctx, addr, preface::Endpoint::GossipNet).await?;
    let me = handshake::gossip::Identity {
        key,
        genesis: setup.genesis.hash(),
        build_version: None,
    };
    handshake::gossip::outbound(ctx, &me, &mut stream, peer, false)
        .await
        .map_err(|e| ctx::Error::Internal(e.into()))?;
    Ok(stream)
}

#[test]
fn peers_advertise_their_block_range() {
    testonly::run_test(|ctx, _| async move {
        let ctx = &ctx;
        let (setup, mut rng) = setup(7);
        let blocks = chain(&setup, &mut rng, 5);
        let mut a = TestNode::new(
            ctx,
            &setup,
            |addr| dialing(config(&mut rng, addr, None), &[]),
            &blocks,
        )
        .await;
        let to_a = [(a.key(), a.addr())];
        let mut b = TestNode::new(
            ctx,
            &setup,
            |addr| dialing(config(&mut rng, addr, None), &to_a),
            &[],
        )
        .await;
        let (a_net, a_key) = (a.net.clone(), a.key());
        let b_net = b.net.clone();
        scope::run!(ctx, |ctx, s| async {
            s.spawn_bg(a.run(ctx));
            s.spawn_bg(b.run(ctx));
            let want = a_net.gossip.store.queued();
            let peer = sync::wait_for(ctx, &mut b_net.gossip.outbound.subscribe(), |m| {
                m.contains_key(&a_key)
            })
            .await?[&a_key]
                .clone();
            sync::wait_for(ctx, &mut peer.state.subscribe(), |s: &BlockStoreState| {
                *s == want
            })
            .await?;
            Ok(())
        })
        .await
    });
}
