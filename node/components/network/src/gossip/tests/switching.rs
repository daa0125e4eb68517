//! Block sync while serving nodes switch off and on.

use super::*;

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
