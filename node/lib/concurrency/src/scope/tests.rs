use std::sync::{
    Arc, Mutex,
    atomic::{AtomicBool, AtomicUsize, Ordering},
};

use anyhow::anyhow;

use crate::{ctx, scope, testonly, time::Duration};

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
        assert!(bg_iterations.load(Ordering::SeqCst) <= 3);
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
        let res = scope::run!(&ctx, |ctx, s| async {
            let h = s.spawn(async { Err::<(), _>(anyhow!("task failed")) });
            assert_eq!(h.join(ctx).await, Err(ctx::Canceled));
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
        let v = scope::wait_blocking(|| (1..=100u64).sum::<u64>()).await;
        assert_eq!(v, 5050);
        let v = scope::run!(&ctx, |ctx, s| async {
            let h = s.spawn_blocking(|| Ok::<_, ctx::Error>(6 * 7));
            Ok::<_, ctx::Error>(h.join(ctx).await?)
        })
        .await?;
        assert_eq!(v, 42);
        Ok(())
    });
}
