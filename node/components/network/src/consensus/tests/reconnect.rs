//! Validators going down and coming back: what they get, and how soon.

use super::*;

/// A validator down while another sends messages of several views gets, when it comes up,
/// only the newest message of each kind (the pool keeps nothing else): first when it comes up
/// for the first time, then after a restart at a new address.
///
/// The restart is the one place where the clock moves: the sender redials after a backoff sleep
/// on the manual clock, which starts in the same step as the sender drops the dead connection
/// from its pool. Once the test has seen the pool change, the sleep has started, and moving the
/// clock 1 s ends it (and makes the restarted node's address announcement newer than its old
/// one). No dial is in progress while the clock moves, so no handshake can time out.
#[test]
fn a_peer_that_was_down_gets_only_the_newest_message_of_each_kind() {
    testonly::run_test(|ctx, clock| async move {
        let ctx = &ctx;
        let (setup, mut rng) = setup(5);
        let (k0, k1) = (&setup.keys[0], &setup.keys[1]);
        let (mut a, mut b) = pair(ctx, &setup, &mut rng).await;
        let to_a = [(a.key(), a.addr())];
        // The same validator after a restart, at another address.
        let mut b2 = TestNode::new(
            ctx,
            &setup,
            |addr| validator_cfg(&mut rng, addr, k1, &to_a),
            &[],
        )
        .await;
        let (b_sink, b2_sink) = (Sink::new(), Sink::new());
        let a_cons = a.consensus(&setup, Sink::new());
        let b_cons = b.consensus(&setup, b_sink.clone());
        let b2_cons = b2.consensus(&setup, b2_sink.clone());
        let (a_net, b_net, b2_net) = (a.net.clone(), b.net.clone(), b2.net.clone());
        let (k0, k1) = (k0.public(), k1.public());
        scope::run!(ctx, |ctx, s| async {
            s.spawn_bg(a.run(ctx));
            s.spawn_bg(async { Ok(a_net.run_consensus(ctx, a_cons.clone()).await?) });
            // B has never been up.
            for m in [
                timeout(&setup, 0, 1),
                timeout(&setup, 0, 2),
                commit(&setup, 0, 1),
            ] {
                assert!(a_cons.msg_pool.send(m));
            }
            assert!(
                !a_cons.msg_pool.send(timeout(&setup, 0, 1)),
                "older than the pool's"
            );
            scope::run!(ctx, |ctx, s| async {
                s.spawn_bg(b.run(ctx));
                s.spawn_bg(async { Ok(b_net.run_consensus(ctx, b_cons.clone()).await?) });
                b_sink.wait_for(ctx, |s| s.msgs.len() >= 2).await?;
                let want = [timeout(&setup, 0, 2), commit(&setup, 0, 1)];
                assert_eq!(set(b_sink.msgs_from(&k0)), set(want.clone()));
                // While B is up, a new message goes out at once.
                assert!(a_cons.msg_pool.send(timeout(&setup, 0, 3)));
                b_sink.wait_for(ctx, |s| s.msgs.len() >= 3).await?;
                let mut want = want.to_vec();
                want.push(timeout(&setup, 0, 3));
                assert_eq!(set(b_sink.msgs_from(&k0)), set(want));
                Ok(())
            })
            .await?;
            // B is down (its scope ended). A notices, and starts its backoff sleep.
            sync::wait_for(ctx, &mut a_cons.outbound.subscribe(), |m| {
                !m.contains_key(&k1)
            })
            .await?;
            for m in [
                timeout(&setup, 0, 4),
                commit(&setup, 0, 2),
                timeout(&setup, 0, 5),
                commit(&setup, 0, 3),
            ] {
                assert!(a_cons.msg_pool.send(m));
            }
            assert_eq!(a_cons.msg_pool.len(), 2);
            clock.advance(time::Duration::from_secs(1));
            // B comes back at another address; A learns it through gossip and dials it.
            s.spawn_bg(b2.run(ctx));
            s.spawn_bg(async { Ok(b2_net.run_consensus(ctx, b2_cons.clone()).await?) });
            b2_sink.wait_for(ctx, |s| s.msgs.len() >= 2).await?;
            let got = b2_sink.msgs_from(&k0);
            assert_eq!(got.len(), 2, "{got:?}");
            assert_eq!(set(got), set([timeout(&setup, 0, 5), commit(&setup, 0, 3)]));
            let addr = sync::wait_for(ctx, &mut a_cons.outbound.subscribe(), |m| {
                m.contains_key(&k1)
            })
            .await?[&k1]
                .addr;
            assert_eq!(addr, b2_net.config().server_addr);
            Ok(())
        })
        .await
    });
}

/// A validator restarted at its old address is redialed as soon as it is up. Its address
/// does not change, so nothing new is announced: the other validator must dial the same
/// address again, and not wait (up to `connect_retry`) for a different one. The clock never
/// moves here: the restarted validator's own dial ends the backoff sleep.
#[test]
fn a_validator_restarted_at_its_old_address_is_redialed_at_once() {
    testonly::run_test(|ctx, _| async move {
        let ctx = &ctx;
        let (setup, mut rng) = setup(8);
        let k1 = &setup.keys[1];
        let (mut a, mut b) = pair(ctx, &setup, &mut rng).await;
        let to_a = [(a.key(), a.addr())];
        let b_addr = b.addr();
        let a_cons = a.consensus(&setup, Sink::new());
        let b_cons = b.consensus(&setup, Sink::new());
        let (a_net, b_net) = (a.net.clone(), b.net.clone());
        let k1 = k1.public();
        scope::run!(ctx, |ctx, s| async {
            s.spawn_bg(a.run(ctx));
            s.spawn_bg(async { Ok(a_net.run_consensus(ctx, a_cons.clone()).await?) });
            scope::run!(ctx, |ctx, s| async {
                s.spawn_bg(b.run(ctx));
                s.spawn_bg(async { Ok(b_net.run_consensus(ctx, b_cons.clone()).await?) });
                sync::wait_for(ctx, &mut a_cons.outbound.subscribe(), |m| {
                    m.contains_key(&k1)
                })
                .await?;
                Ok(())
            })
            .await?;
            // B is down: A drops both connections and sleeps before redialing.
            sync::wait_for(ctx, &mut a_cons.outbound.subscribe(), |m| {
                !m.contains_key(&k1)
            })
            .await?;
            sync::wait_for(ctx, &mut a_cons.inbound.subscribe(), |m| {
                !m.contains_key(&k1)
            })
            .await?;
            // B again, at the same address (its listener is gone with it).
            let mut b2 = TestNode::new_at(
                ctx,
                &setup,
                b_addr,
                |addr| validator_cfg(&mut rng, addr, &setup.keys[1], &to_a),
                &[],
            )
            .await;
            let b2_sink = Sink::new();
            let b2_cons = b2.consensus(&setup, b2_sink.clone());
            let b2_net = b2.net.clone();
            s.spawn_bg(async move { b2.run(ctx).await });
            s.spawn_bg(async move { Ok(b2_net.run_consensus(ctx, b2_cons).await?) });
            let addr = sync::wait_for(ctx, &mut a_cons.outbound.subscribe(), |m| {
                m.contains_key(&k1)
            })
            .await?[&k1]
                .addr;
            assert_eq!(addr, b_addr);
            // And messages flow again.
            let m = timeout(&setup, 0, 3);
            assert!(a_cons.msg_pool.send(m.clone()));
            b2_sink.wait_for(ctx, |s| !s.msgs.is_empty()).await?;
            assert_eq!(b2_sink.msgs_from(&setup.keys[0].public()), vec![m]);
            Ok(())
        })
        .await
    });
}
