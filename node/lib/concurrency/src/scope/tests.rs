use std::sync::{
    Arc, Mutex,
    atomic::{AtomicBool, AtomicUsize, Ordering},
};

use anyhow::anyhow;

use crate::{ctx, net, scope, testonly, time::Duration};

#[test]
fn returns_root_value_after_joining_all_tasks() {
    testonly::run_test(|ctx, _| async move {
        let done = AtomicUsize::new(0);
        let v = scope::run!(&ctx, |ctx, s| async {
            for _ in 0..10 {
                s.spawn(async {
                    ctx.yield_now().await?;
                    done.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                });
            }
            Ok::<_, ctx::Error>(7)
        })
        .await?;
        assert_eq!(v, 7);
        assert_eq!(done.load(Ordering::SeqCst), 10);
        Ok(())
    });
}

#[test]
fn tasks_can_borrow_and_spawn_siblings() {
    testonly::run_test(|ctx, _| async move {
        let data = vec![1u64, 2, 3, 4, 5];
        let total = Mutex::new(0);
        scope::run!(&ctx, |ctx, s| async {
            for x in &data {
                let total = &total;
                s.spawn(async move {
                    // A nested spawn from inside a task.
                    let h = s.spawn(async move { Ok(*x * 10) });
                    *total.lock().unwrap() += h.join(ctx).await?;
                    Ok(())
                });
            }
            Ok::<(), ctx::Error>(())
        })
        .await?;
        assert_eq!(*total.lock().unwrap(), 150);
        Ok(())
    });
}

#[test]
fn first_error_cancels_siblings_and_is_returned() {
    testonly::run_test(|ctx, _| async move {
        let sibling_saw_cancel = AtomicBool::new(false);
        let res = scope::run!(&ctx, |ctx, s| async {
            s.spawn::<()>(async {
                ctx.canceled().await;
                sibling_saw_cancel.store(true, Ordering::SeqCst);
                // Errors after the first are dropped.
                Err(anyhow!("second"))
            });
            s.spawn_bg(async {
                ctx.canceled().await;
                Ok(())
            });
            s.spawn::<()>(async {
                ctx.yield_now().await?;
                Err(anyhow!("first"))
            });
            ctx.canceled().await;
            Ok(())
        })
        .await;
        assert_eq!(res.unwrap_err().to_string(), "first");
        assert!(sibling_saw_cancel.load(Ordering::SeqCst));
        assert!(
            ctx.is_active(),
            "the parent ctx is not cancelled by a scope error"
        );
        Ok(())
    });
}

#[test]
fn root_error_is_returned() {
    testonly::run_test(|ctx, _| async move {
        let res: Result<(), anyhow::Error> = scope::run!(&ctx, |ctx, s| async {
            s.spawn(async {
                ctx.canceled().await;
                Ok(())
            });
            Err(anyhow!("root failed"))
        })
        .await;
        assert_eq!(res.unwrap_err().to_string(), "root failed");
        Ok(())
    });
}

#[test]
fn background_tasks_are_cancelled_when_main_tasks_finish() {
    testonly::run_test(|ctx, clock| async move {
        let bg_iterations = AtomicUsize::new(0);
        scope::run!(&ctx, |ctx, s| async {
            s.spawn_bg::<()>(async {
                loop {
                    // Returns Err(Canceled) at termination; ignored by the scope.
                    ctx.sleep(Duration::from_secs(1)).await?;
                    bg_iterations.fetch_add(1, Ordering::SeqCst);
                }
            });
            s.spawn(async {
                for _ in 0..3 {
                    clock.advance(Duration::from_secs(1));
                    ctx.yield_now().await?;
                }
                Ok(())
            });
            Ok::<(), ctx::Error>(())
        })
        .await?;
        // The background task saw each of the three ticks, then was cancelled.
        assert_eq!(bg_iterations.load(Ordering::SeqCst), 3);
        Ok(())
    });
}

#[test]
fn background_error_before_termination_fails_the_scope() {
    testonly::run_test(|ctx, _| async move {
        let res = scope::run!(&ctx, |ctx, s| async {
            s.spawn_bg::<()>(async { Err(anyhow!("bg broke")) });
            ctx.canceled().await;
            Ok(())
        })
        .await;
        assert_eq!(res.unwrap_err().to_string(), "bg broke");
        Ok(())
    });
}

#[test]
fn parent_cancellation_reaches_nested_scopes() {
    testonly::run_test(|ctx, _| async move {
        let (sub, cancel) = ctx.with_canceler();
        let inner_saw_cancel = AtomicBool::new(false);
        let res: ctx::Result<()> = scope::run!(&sub, |ctx, s| async {
            s.spawn(async {
                scope::run!(ctx, |ctx, s| async {
                    s.spawn(async {
                        ctx.canceled().await;
                        inner_saw_cancel.store(true, Ordering::SeqCst);
                        Ok(())
                    });
                    Ok::<(), ctx::Error>(())
                })
                .await
            });
            s.spawn(async {
                cancel.cancel();
                Ok(())
            });
            // The root reports cancellation as an error.
            ctx.canceled().await;
            Err(ctx::Canceled.into())
        })
        .await;
        assert!(res.unwrap_err().is_canceled());
        assert!(inner_saw_cancel.load(Ordering::SeqCst));
        Ok(())
    });
}

/// Sets the flag when dropped.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn dropping_the_scope_future_drops_every_task() {
    testonly::run_test(|ctx, _| async move {
        let dropped = Arc::new(AtomicBool::new(false));
        let started = crate::signal::Once::new();
        {
            let fut = scope::run!(&ctx, |ctx, s| async {
                let flag = DropFlag(dropped.clone());
                s.spawn(async {
                    let _flag = flag;
                    started.send();
                    ctx.canceled().await;
                    Ok(())
                });
                ctx.canceled().await;
                Ok::<(), ctx::Error>(())
            });
            // Poll the scope until its task has started, then drop it half-way.
            tokio::select! {
                _ = fut => unreachable!("the scope cannot finish"),
                res = started.recv(&ctx) => res?,
            }
        }
        assert!(started.try_recv());
        assert!(dropped.load(Ordering::SeqCst), "a task outlived its scope");
        Ok(())
    });
}

#[test]
fn join_of_a_failed_task_is_canceled() {
    testonly::run_test(|ctx, _| async move {
        let outer = &ctx;
        let res = scope::run!(&ctx, |_ctx, s| async {
            let h = s.spawn(async { Err::<(), _>(anyhow!("task failed")) });
            // Joined with a ctx that stays active: `Canceled` comes from the task's failure.
            assert_eq!(h.join(outer).await, Err(ctx::Canceled));
            assert!(outer.is_active());
            Ok(())
        })
        .await;
        assert_eq!(res.unwrap_err().to_string(), "task failed");
        Ok(())
    });
}

#[test]
fn blocking_work_runs_off_the_scope() {
    testonly::run_test(|ctx, _| async move {
        let here = std::thread::current().id();
        let (v, there) =
            scope::wait_blocking(|| ((1..=100u64).sum::<u64>(), std::thread::current().id())).await;
        assert_eq!(v, 5050);
        assert_ne!(here, there, "blocking work must run on another thread");
        let v = scope::run!(&ctx, |ctx, s| async {
            let h = s.spawn_blocking(|| Ok::<_, ctx::Error>(6 * 7));
            Ok::<_, ctx::Error>(h.join(ctx).await?)
        })
        .await?;
        assert_eq!(v, 42);
        Ok(())
    });
}

/// Spawns a task holding a `DropFlag` when dropped: a task spawned from a destructor while the
/// scope itself is being dropped.
struct SpawnOnDrop<'a, 'env> {
    s: &'a scope::Scope<'env, ctx::Error>,
    flag: Arc<AtomicBool>,
}

impl Drop for SpawnOnDrop<'_, '_> {
    fn drop(&mut self) {
        let flag = DropFlag(self.flag.clone());
        self.s.spawn(async move {
            let _flag = flag;
            std::future::pending::<()>().await;
            Ok(())
        });
    }
}

#[test]
fn tasks_spawned_while_the_scope_is_dropped_are_dropped_too() {
    testonly::run_test(|ctx, _| async move {
        let dropped = Arc::new(AtomicBool::new(false));
        let started = crate::signal::Once::new();
        {
            let fut = scope::run!(&ctx, |ctx, s| async {
                let guard = SpawnOnDrop {
                    s,
                    flag: dropped.clone(),
                };
                s.spawn(async {
                    let _guard = guard;
                    started.send();
                    ctx.canceled().await;
                    Ok(())
                });
                ctx.canceled().await;
                Ok::<(), ctx::Error>(())
            });
            tokio::select! {
                _ = fut => unreachable!("the scope cannot finish"),
                res = started.recv(&ctx) => res?,
            }
        }
        assert!(
            dropped.load(Ordering::SeqCst),
            "a pending task outlived its scope"
        );
        Ok(())
    });
}

#[test]
fn a_spawning_loop_does_not_starve_the_runtime() {
    // On a single-threaded runtime, I/O readiness is only processed when the scope returns
    // control. A root that spawns and yields in a loop must not keep the thread forever.
    testonly::abort_on_panic();
    let _guard = testonly::set_timeout(testonly::DEFAULT_TIMEOUT);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ctx = ctx::test_root(ctx::ManualClock::new(), 0);
    rt.block_on(async {
        let mut listener = net::tcp::listen("127.0.0.1:0".parse().unwrap(), Default::default())?;
        let addr = listener.local_addr()?;
        let connected = crate::signal::Once::new();
        scope::run!(&ctx, |ctx, s| async {
            s.spawn(async {
                let _conn = net::tcp::connect(ctx, addr).await??;
                let _accepted = listener.accept(ctx).await??;
                connected.send();
                Ok(())
            });
            // A task that also spawns and yields forever, until the connection is made.
            s.spawn(async {
                while !connected.try_recv() {
                    s.spawn(async { Ok(()) });
                    ctx.yield_now().await?;
                }
                Ok(())
            });
            while !connected.try_recv() {
                s.spawn(async { Ok(()) });
                ctx.yield_now().await?;
            }
            Ok::<(), ctx::Error>(())
        })
        .await
    })
    .unwrap();
}
