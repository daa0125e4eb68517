use rand::RngExt as _;

use super::*;
use crate::{error::Wrap as _, scope, sync, testonly};

#[test]
fn cancel_propagates_to_descendants_only() {
    let root = test_root(ManualClock::new(), 0);
    let (child, cancel_child) = root.with_canceler();
    let (grandchild, _) = child.with_canceler();
    let (sibling, _) = root.with_canceler();
    assert!(grandchild.is_active());
    cancel_child.cancel();
    assert!(!child.is_active());
    assert!(!grandchild.is_active());
    assert!(root.is_active());
    assert!(sibling.is_active());
}

#[test]
fn child_deadline_is_capped_by_parent() {
    let clock = ManualClock::new();
    let root = test_root(clock.clone(), 0);
    let parent = root.with_timeout(Duration::from_secs(10));
    let child = parent.with_timeout(Duration::from_secs(100));
    assert_eq!(child.deadline(), parent.deadline());
    let shorter = parent.with_timeout(Duration::from_secs(1));
    assert!(shorter.deadline() < parent.deadline());
    clock.advance(Duration::from_secs(1));
    assert!(!shorter.is_active());
    assert!(parent.is_active());
    clock.advance(Duration::from_secs(9));
    assert!(!parent.is_active() && !child.is_active());
    assert!(root.is_active());
}

#[test]
fn deadline_expiry_wakes_waiters() {
    testonly::run_test(|ctx, clock| async move {
        let sub = ctx.with_timeout(Duration::from_secs(10));
        scope::run!(&ctx, |ctx, s| async {
            let waiter = s.spawn(async { Ok(sub.wait(std::future::pending::<()>()).await) });
            clock.advance(Duration::from_secs(9));
            ctx.yield_now().await?;
            assert!(sub.is_active());
            clock.advance(Duration::from_secs(1));
            assert_eq!(waiter.join(ctx).await?, Err(Canceled));
            Ok(())
        })
        .await
    });
}

#[test]
fn wait_prefers_cancellation() {
    testonly::run_test(|ctx, _clock| async move {
        let (sub, cancel) = ctx.with_canceler();
        assert_eq!(sub.wait(async { 5 }).await, Ok(5));
        cancel.cancel();
        // An immediately ready future still loses to an already cancelled ctx.
        assert_eq!(sub.wait(async { 5 }).await, Err(Canceled));
        assert_eq!(sub.sleep(Duration::ZERO).await, Err(Canceled));
        Ok(())
    });
}

/// Runs ten minutes of timers of several periods on a manual clock, stepping one second at a
/// time, and returns every wake-up as (task, virtual time since start).
async fn timer_trace(ctx: &Ctx, clock: &ManualClock) -> Result<Vec<(usize, Duration)>> {
    const TOTAL: Duration = Duration::from_secs(600);
    let start = ctx.now();
    // Periods are random (from the seeded ctx RNG), in whole seconds.
    let periods: Vec<u64> = (0..5).map(|_| ctx.rng().random_range(1..=90)).collect();
    let expected_at = |t: u64| -> usize { periods.iter().map(|p| (t / p) as usize).sum() };
    let trace = std::sync::Mutex::new(Vec::new());
    let (count_send, mut count_recv) = tokio::sync::watch::channel(0usize);
    scope::run!(ctx, |ctx, s| async {
        for (i, period) in periods.iter().enumerate() {
            let (trace, count_send) = (&trace, &count_send);
            s.spawn_bg(async move {
                for k in 1.. {
                    ctx.sleep_until(start + Duration::from_secs(period * k))
                        .await?;
                    trace.lock().unwrap().push((i, ctx.now() - start));
                    count_send.send_modify(|c| *c += 1);
                }
                Ok(())
            });
        }
        for t in 1..=TOTAL.as_secs() {
            clock.advance(Duration::from_secs(1));
            let want = expected_at(t);
            sync::wait_for(ctx, &mut count_recv, |c| *c >= want)
                .await
                .map(drop)?;
        }
        Ok::<(), Error>(())
    })
    .await?;
    let trace = trace.into_inner().unwrap();
    // Every wake-up happened exactly at a multiple of its period.
    for (i, at) in &trace {
        assert_eq!(at.as_secs() % periods[*i], 0, "task {i} woke at {at:?}");
        assert_eq!(at.subsec_nanos(), 0);
    }
    assert_eq!(trace.len(), expected_at(TOTAL.as_secs()));
    Ok(trace)
}

#[test]
fn manual_clock_runs_minutes_of_timers_deterministically() {
    let mut traces = vec![];
    for _ in 0..2 {
        let traces = &mut traces;
        testonly::run_test_seeded(42, |ctx, clock| async move {
            traces.push(timer_trace(&ctx, &clock).await?);
            Ok(())
        });
    }
    assert_eq!(traces[0], traces[1]);
    assert!(!traces[0].is_empty());
}

#[test]
fn seeded_rng_is_deterministic_and_streams_differ() {
    let draw = |seed| {
        let ctx = test_root(ManualClock::new(), seed);
        let a: [u64; 4] = ctx.rng().random();
        let b: [u64; 4] = ctx.rng().random();
        (a, b)
    };
    assert_eq!(draw(7), draw(7));
    assert_ne!(draw(7), draw(8));
    let (a, b) = draw(7);
    assert_ne!(a, b, "consecutive generators must differ");
}

#[test]
fn affine_clock_runs_faster_than_real_time() {
    let clock = AffineClock::new(1000.0);
    let ctx = test_root(clock, 0);
    let rt = testonly::runtime();
    let start = ctx.now();
    let real_start = std::time::Instant::now();
    // 10 virtual seconds at 1000x take about 10 ms of real time; at 1x they would take 10 s.
    rt.block_on(ctx.sleep(Duration::from_secs(10))).unwrap();
    assert!(ctx.now() - start >= Duration::from_secs(10));
    assert!(
        real_start.elapsed() < Duration::from_secs(9),
        "the clock was not sped up"
    );
}

#[test]
fn manual_clock_utc_follows_advance() {
    let clock = ManualClock::new();
    let ctx = test_root(clock.clone(), 0);
    let t0 = ctx.now_utc();
    clock.advance(Duration::from_secs(90));
    assert_eq!(
        ctx.now_utc().saturating_duration_since(t0),
        Duration::from_secs(90)
    );
    let target = ctx.now() + Duration::from_secs(5);
    clock.advance_until(target);
    assert_eq!(ctx.now(), target);
    clock.advance_until(target - Duration::from_secs(1));
    assert_eq!(ctx.now(), target, "advance_until never moves time back");
}

#[test]
fn canceled_survives_anyhow_and_context() {
    fn via_anyhow() -> anyhow::Result<()> {
        Err(Canceled)?;
        Ok(())
    }
    fn via_ctx_error() -> anyhow::Result<()> {
        Err(Error::Canceled(Canceled))?;
        Ok(())
    }
    use anyhow::Context as _;
    let e: Error = via_anyhow().unwrap_err().into();
    assert!(e.is_canceled());
    let e: Error = via_ctx_error().unwrap_err().into();
    assert!(e.is_canceled());
    // Context added with anyhow marks a real failure (say, a sub-operation's own timeout).
    let e: Error = via_anyhow().context("rpc timed out").unwrap_err().into();
    assert!(!e.is_canceled());
    let e: Error = anyhow::anyhow!("boom").into();
    assert!(!e.is_canceled());
    // `wrap` adds context to internal errors only.
    let r: Result<()> = Err(Error::Canceled(Canceled));
    assert!(r.wrap("ctx").unwrap_err().is_canceled());
    let r: Result<()> = Err(anyhow::anyhow!("boom").into());
    match r.wrap("while doing x") {
        Err(Error::Internal(e)) => assert_eq!(format!("{e:#}"), "while doing x: boom"),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn concurrent_advances_all_count() {
    let clock = ManualClock::new();
    let start = clock.now();
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                for _ in 0..1000 {
                    clock.advance(Duration::from_millis(1));
                }
            });
        }
    });
    assert_eq!(clock.now() - start, Duration::from_secs(2));
}
