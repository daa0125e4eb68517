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

mod switching;

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
