use std::{pin::pin, sync::Arc};

use tokio::sync::{Mutex, Semaphore, watch};

use super::prunable_mpsc::{self, Prune};
use crate::{channel, ctx, oneshot, scope, signal, sync, testonly, time::Duration};

#[test]
fn wait_for_checks_current_value_then_waits() {
    testonly::run_test(|ctx, clock| async move {
        let (send, mut recv) = watch::channel(5);
        assert_eq!(*sync::wait_for(&ctx, &mut recv, |v| *v == 5).await?, 5);
        scope::run!(&ctx, |ctx, s| async {
            s.spawn(async {
                ctx.yield_now().await?;
                send.send_replace(6);
                ctx.yield_now().await?;
                send.send_replace(10);
                Ok(())
            });
            let got = *sync::wait_for(ctx, &mut recv, |v| *v >= 10).await?;
            assert_eq!(got, 10);
            Ok::<(), ctx::Error>(())
        })
        .await?;
        // A dropped sender means no change can come: the wait ends only by cancellation.
        drop(send);
        let sub = ctx.with_timeout(Duration::from_secs(1));
        {
            let mut wait = pin!(sync::wait_for(&sub, &mut recv, |v| *v == 0));
            assert!(testonly::is_pending(wait.as_mut()));
            clock.advance(Duration::from_secs(1));
            assert!(wait.await.is_err());
        }
        let sub = ctx.with_timeout(Duration::from_secs(1));
        let mut wait = pin!(sync::changed(&sub, &mut recv));
        assert!(testonly::is_pending(wait.as_mut()));
        clock.advance(Duration::from_secs(1));
        assert!(wait.await.is_err());
        Ok(())
    });
}

#[test]
fn changed_sees_each_update() {
    testonly::run_test(|ctx, _| async move {
        let (send, mut recv) = watch::channel(0);
        send.send_replace(1);
        assert_eq!(*sync::changed(&ctx, &mut recv).await?, 1);
        send.send_replace(2);
        assert_eq!(*sync::changed(&ctx, &mut recv).await?, 2);
        Ok(())
    });
}

#[test]
fn semaphore_and_mutex_waits_are_cancellable() {
    testonly::run_test(|ctx, _| async move {
        let sem = Semaphore::new(2);
        let p = sync::acquire_many(&ctx, &sem, 2).await?;
        let (sub, cancel) = ctx.with_canceler();
        {
            let mut wait = pin!(sync::acquire(&sub, &sem));
            assert!(testonly::is_pending(wait.as_mut()));
            cancel.cancel();
            assert!(wait.await.is_err());
        }
        drop(p);
        let _p = sync::acquire(&ctx, &sem).await?;

        let m = Mutex::new(1);
        let g = sync::lock(&ctx, &m).await?;
        let (sub, cancel) = ctx.with_canceler();
        {
            let mut wait = pin!(sync::lock(&sub, &m));
            assert!(testonly::is_pending(wait.as_mut()));
            cancel.cancel();
            assert!(wait.await.is_err());
        }
        drop(g);
        *sync::lock(&ctx, &m).await? += 1;
        assert_eq!(*m.lock().await, 2);
        Ok(())
    });
}

/// A message of the consensus inbound queue in miniature: (signer, kind, view).
type Msg = (u8, u8, u64, Option<oneshot::Sender<()>>);

fn queue() -> (prunable_mpsc::Sender<Msg>, prunable_mpsc::Receiver<Msg>) {
    prunable_mpsc::channel(
        // Odd signers are "invalid signatures".
        |m: &Msg| m.0.is_multiple_of(2),
        |old: &Msg, new: &Msg| {
            if (old.0, old.1) != (new.0, new.1) {
                Prune::KeepBoth
            } else if old.2 < new.2 {
                Prune::DropOld
            } else {
                Prune::DropNew
            }
        },
    )
}

#[test]
fn prunable_mpsc_filters_and_keeps_newest_per_key() {
    testonly::run_test(|ctx, clock| async move {
        let (send, mut recv) = queue();
        assert!(!send.send((1, 0, 5, None)), "filtered");
        assert!(send.send((0, 0, 5, None)));
        assert!(send.send((2, 0, 5, None)));
        assert!(send.send((0, 1, 5, None)));
        assert!(!send.send((0, 0, 5, None)), "equal view keeps the old one");
        assert!(!send.send((0, 0, 4, None)), "older view is dropped");
        assert!(
            send.send((0, 0, 7, None)),
            "newer view replaces the old one"
        );
        assert_eq!(recv.len(), 3);
        // FIFO; the replacing message went to the back.
        let order: Vec<_> = std::iter::from_fn(|| recv.try_recv())
            .map(|m| (m.0, m.1, m.2))
            .collect();
        assert_eq!(order, vec![(2, 0, 5), (0, 1, 5), (0, 0, 7)]);
        assert!(recv.is_empty());
        let sub = ctx.with_timeout(Duration::from_secs(1));
        let mut wait = pin!(recv.recv(&sub));
        assert!(testonly::is_pending(wait.as_mut()));
        clock.advance(Duration::from_secs(1));
        assert!(wait.await.is_err());
        Ok(())
    });
}

#[test]
fn prunable_mpsc_drops_pruned_messages_at_once() {
    testonly::run_test(|ctx, _| async move {
        let (send, mut recv) = queue();
        let (ack1, acked1) = oneshot::channel();
        let (ack2, acked2) = oneshot::channel();
        let (ack3, acked3) = oneshot::channel();
        send.send((0, 0, 1, Some(ack1)));
        send.send((0, 0, 2, Some(ack2)));
        send.send((1, 0, 3, Some(ack3)));
        // The pruned and the filtered message were dropped, which completes their acks.
        assert!(acked1.recv_or_disconnected(&ctx).await?.is_err());
        assert!(acked3.recv_or_disconnected(&ctx).await?.is_err());
        let (_, _, view, ack) = recv.recv(&ctx).await?;
        assert_eq!(view, 2);
        ack.unwrap().send(());
        assert!(acked2.recv_or_disconnected(&ctx).await?.is_ok());
        Ok(())
    });
}

#[test]
fn prunable_mpsc_recv_wakes_on_send() {
    testonly::run_test(|ctx, _| async move {
        let (send, mut recv) = queue();
        scope::run!(&ctx, |ctx, s| async {
            let got = s.spawn(async {
                let mut views = vec![];
                for _ in 0..3 {
                    views.push(recv.recv(ctx).await?.2);
                }
                Ok(views)
            });
            for (i, signer) in [0u8, 2, 4].into_iter().enumerate() {
                ctx.yield_now().await?;
                send.send((signer, 0, i as u64, None));
            }
            assert_eq!(got.join(ctx).await?, vec![0, 1, 2]);
            Ok::<(), ctx::Error>(())
        })
        .await
    });
}

#[test]
fn bounded_channel_waits_for_capacity_and_is_cancellable() {
    testonly::run_test(|ctx, clock| async move {
        let (send, mut recv) = channel::bounded::<u32>(1);
        send.send(&ctx, 1).await?;
        assert_eq!(send.try_send(2), Err(2));
        {
            let sub = ctx.with_timeout(Duration::from_secs(1));
            let mut wait = pin!(send.send(&sub, 2));
            assert!(testonly::is_pending(wait.as_mut()));
            clock.advance(Duration::from_secs(1));
            assert!(wait.await.is_err());
        }
        scope::run!(&ctx, |ctx, s| async {
            s.spawn(async { send.send(ctx, 3).await.map_err(ctx::Error::from) });
            assert_eq!(recv.recv(ctx).await?, 1);
            assert_eq!(recv.recv(ctx).await?, 3);
            Ok::<(), ctx::Error>(())
        })
        .await?;
        // All senders gone: recv waits for cancellation instead of failing.
        drop(send);
        let sub = ctx.with_timeout(Duration::from_secs(1));
        let mut wait = pin!(recv.recv(&sub));
        assert!(testonly::is_pending(wait.as_mut()));
        clock.advance(Duration::from_secs(1));
        assert!(wait.await.is_err());
        Ok(())
    });
}

#[test]
fn unbounded_channel_and_closed_receiver() {
    testonly::run_test(|ctx, _| async move {
        let (send, mut recv) = channel::unbounded::<u32>();
        for i in 0..100 {
            send.send(i);
        }
        assert_eq!(recv.len(), 100);
        assert_eq!(recv.recv(&ctx).await?, 0);
        assert_eq!(recv.try_recv(), Some(1));
        drop(recv);
        // Sending to a dropped receiver discards silently.
        send.send(5);
        let (bsend, brecv) = channel::bounded::<u32>(1);
        drop(brecv);
        bsend.send(&ctx, 1).await?;
        assert_eq!(bsend.try_send(1), Ok(()));
        Ok(())
    });
}

#[test]
fn oneshot_and_signal() {
    testonly::run_test(|ctx, clock| async move {
        let (send, recv) = oneshot::channel::<u8>();
        assert!(!send.is_closed());
        send.send(3);
        assert_eq!(recv.recv(&ctx).await?, 3);

        let (send, recv) = oneshot::channel::<u8>();
        drop(send);
        assert_eq!(
            recv.recv_or_disconnected(&ctx).await?,
            Err(oneshot::Disconnected)
        );
        // A dropped sender: `recv` waits for cancellation.
        let (send, recv) = oneshot::channel::<u8>();
        drop(send);
        let sub = ctx.with_timeout(Duration::from_secs(1));
        let mut wait = pin!(recv.recv(&sub));
        assert!(testonly::is_pending(wait.as_mut()));
        clock.advance(Duration::from_secs(1));
        assert!(wait.await.is_err());

        let sig = Arc::new(signal::Once::new());
        assert!(!sig.try_recv());
        let sub = ctx.with_timeout(Duration::from_secs(1));
        let mut wait = pin!(sig.recv(&sub));
        assert!(testonly::is_pending(wait.as_mut()));
        clock.advance(Duration::from_secs(1));
        assert!(wait.await.is_err());
        scope::run!(&ctx, |ctx, s| async {
            let waiters: Vec<_> = (0..3)
                .map(|_| s.spawn(async { Ok(sig.recv(ctx).await?) }))
                .collect();
            ctx.yield_now().await?;
            sig.send();
            for w in waiters {
                w.join(ctx).await?;
            }
            Ok::<(), ctx::Error>(())
        })
        .await?;
        assert!(sig.try_recv());
        Ok(())
    });
}

#[test]
fn prunable_mpsc_a_winning_queued_message_protects_the_others() {
    // Pruner: drop queued messages with a smaller number, but the new message loses to a queued
    // 100. Nothing queued may be dropped when the new message loses.
    let (send, mut recv) = prunable_mpsc::channel(
        |_: &u32| true,
        |old: &u32, new: &u32| {
            if *old == 100 {
                Prune::DropNew
            } else if *new == 100 {
                Prune::KeepBoth
            } else if old < new {
                Prune::DropOld
            } else {
                Prune::KeepBoth
            }
        },
    );
    assert!(send.send(1));
    assert!(send.send(100));
    assert!(!send.send(5));
    assert_eq!(recv.try_recv(), Some(1));
    assert_eq!(recv.try_recv(), Some(100));
    assert_eq!(recv.try_recv(), None);
}
