//! A peer flooding the node with get_block calls is throttled by the node's get_block rate
//! (per connection), not dropped; an honest peer, on its own connection, syncs meanwhile.

use super::*;

/// The get_block rate of the target: burst 10, one more per 100 ms (the default).
const RATE: limiter::Rate = rpc::get_block::RATE;

/// Calls made by the flooder.
const CALLS: usize = 100;

/// 100 concurrent get_block calls: with the clock standing still the flood stalls once the
/// connection's allowance is spent; an honest peer connecting then syncs all it needs; moving
/// the clock by one refresh period lets more of the flood through (throttled, not dropped).
#[test]
fn get_block_flood_is_throttled_and_the_honest_peer_still_syncs() {
    testonly::run_test(|ctx, clock| async move {
        let ctx = &ctx;
        let (setup, mut rng) = setup(10);
        let genesis = setup.genesis.hash();
        // Fewer blocks than the burst: the honest peer syncs without the clock moving.
        let blocks = chain(&setup, &mut rng, 8);
        let mut n = target(ctx, &setup, &mut rng, &blocks, |cfg| {
            cfg.rpc.get_block_rate = RATE;
        })
        .await;
        let (n_key, n_addr) = (n.key(), n.addr());
        let mut h = honest(ctx, &setup, &mut rng, (n_key, n_addr)).await;
        let n_net = n.net.clone();
        let (h_net, h_store) = (h.net.clone(), h.store.clone());
        let key = node::SecretKey::generate(&mut rng);
        let served = AtomicUsize::new(0);
        scope::run!(ctx, |ctx, s| async {
            s.spawn_bg(n.run(ctx));
            let st = dial_gossip(ctx, genesis, n_addr, &n_key, &key).await?;
            let client = Arc::new(Client::<GetBlockRpc>::new(limiter::Rate::INF));
            let mut m = mux::Mux::default();
            client.register(&mut m);
            s.spawn_bg(run_mux(ctx, m, st));
            for i in 0..CALLS {
                let (client, served) = (client.clone(), &served);
                let n = blocks[i % blocks.len()].number();
                s.spawn_bg(async move {
                    client
                        .call(ctx, &rpc::get_block::Req(n), 10 * kB)
                        .await
                        .map_err(|e| ctx::Error::Internal(e.into()))?;
                    served.fetch_add(1, Ordering::Relaxed);
                    Ok(())
                });
            }
            let mut pool = n_net.gossip.inbound.subscribe();
            sync::wait_for(ctx, &mut pool, |m| m.contains_key(&key.public())).await?;
            // The burst is served, then the flood stalls.
            while served.load(Ordering::Relaxed) < RATE.burst {
                ctx.yield_now().await?;
            }
            for _ in 0..200 {
                ctx.yield_now().await?;
            }
            assert!(
                served.load(Ordering::Relaxed) < CALLS,
                "the flood was not throttled"
            );

            // The honest peer connects and syncs everything: its connection has its own
            // allowance.
            s.spawn_bg(h.run(ctx));
            synced(
                ctx,
                &h_net,
                &h_store,
                &n_key,
                blocks.last().unwrap().number(),
            )
            .await?;
            let stalled = served.load(Ordering::Relaxed);
            assert!(stalled < CALLS, "the flood was not throttled");

            // The flooder is throttled, not dropped: time lets more of its calls through.
            assert!(n_net.gossip.inbound.current().contains_key(&key.public()));
            clock.advance(RATE.refresh);
            while served.load(Ordering::Relaxed) == stalled {
                ctx.yield_now().await?;
            }
            assert!(n_net.gossip.inbound.current().contains_key(&key.public()));
            Ok(())
        })
        .await
    });
}

/// The get_block rate (burst 10, one per 100 ms) bounds the calls of one connection: with the
/// clock standing still, a flooder gets exactly `burst` calls served.
#[test]
fn get_block_rate_bounds_a_connection_as_a_whole() {
    testonly::run_test(|ctx, _| async move {
        let ctx = &ctx;
        let (setup, mut rng) = setup(11);
        let genesis = setup.genesis.hash();
        let blocks = chain(&setup, &mut rng, 8);
        let mut n = target(ctx, &setup, &mut rng, &blocks, |cfg| {
            cfg.rpc.get_block_rate = RATE;
        })
        .await;
        let (n_key, n_addr) = (n.key(), n.addr());
        let key = node::SecretKey::generate(&mut rng);
        let served = AtomicUsize::new(0);
        scope::run!(ctx, |ctx, s| async {
            s.spawn_bg(n.run(ctx));
            let st = dial_gossip(ctx, genesis, n_addr, &n_key, &key).await?;
            let client = Arc::new(Client::<GetBlockRpc>::new(limiter::Rate::INF));
            let mut m = mux::Mux::default();
            client.register(&mut m);
            s.spawn_bg(run_mux(ctx, m, st));
            for i in 0..CALLS {
                let (client, served) = (client.clone(), &served);
                let n = blocks[i % blocks.len()].number();
                s.spawn_bg(async move {
                    client
                        .call(ctx, &rpc::get_block::Req(n), 10 * kB)
                        .await
                        .map_err(|e| ctx::Error::Internal(e.into()))?;
                    served.fetch_add(1, Ordering::Relaxed);
                    Ok(())
                });
            }
            while served.load(Ordering::Relaxed) < RATE.burst {
                ctx.yield_now().await?;
            }
            for _ in 0..500 {
                ctx.yield_now().await?;
            }
            assert_eq!(served.load(Ordering::Relaxed), RATE.burst);
            Ok(())
        })
        .await
    });
}
