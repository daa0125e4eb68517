use std::sync::Mutex;

use super::*;
use crate::{scope, testonly};

#[test]
fn burst_is_free_then_one_token_per_refresh() {
    testonly::run_test(|ctx, clock| async move {
        let limiter = Limiter::new(Rate {
            burst: 3,
            refresh: Duration::from_secs(1),
        });
        let start = ctx.now();
        limiter.acquire(&ctx, 3).await?;
        assert_eq!(ctx.now(), start, "a full bucket does not wait");
        assert!(!limiter.try_acquire(&ctx, 1));
        scope::run!(&ctx, |ctx, s| async {
            let h = s.spawn(async {
                limiter.acquire(ctx, 1).await?;
                Ok(ctx.now())
            });
            clock.advance(Duration::from_millis(999));
            ctx.yield_now().await?;
            clock.advance(Duration::from_millis(1));
            assert_eq!(h.join(ctx).await?, start + Duration::from_secs(1));
            Ok::<(), ctx::Error>(())
        })
        .await?;
        // Refill stops at `burst`.
        clock.advance(Duration::from_secs(100));
        assert!(limiter.try_acquire(&ctx, 3));
        assert!(!limiter.try_acquire(&ctx, 1));
        Ok(())
    });
}

#[test]
fn waiters_are_served_in_order_and_large_requests_go_into_debt() {
    testonly::run_test(|ctx, clock| async move {
        let limiter = Limiter::new(Rate {
            burst: 2,
            refresh: Duration::from_secs(1),
        });
        let start = ctx.now();
        let served = Mutex::new(vec![]);
        scope::run!(&ctx, |ctx, s| async {
            // Needs 5 tokens with burst 2: takes 2 now, 3 more over 3 seconds.
            s.spawn(async {
                limiter.acquire(ctx, 5).await?;
                served.lock().unwrap().push(("big", ctx.now() - start));
                Ok(())
            });
            ctx.yield_now().await?;
            s.spawn(async {
                limiter.acquire(ctx, 1).await?;
                served.lock().unwrap().push(("small", ctx.now() - start));
                Ok(())
            });
            for _ in 0..5 {
                ctx.yield_now().await?;
                clock.advance(Duration::from_secs(1));
            }
            Ok::<(), ctx::Error>(())
        })
        .await?;
        assert_eq!(
            served.into_inner().unwrap(),
            vec![
                ("big", Duration::from_secs(3)),
                ("small", Duration::from_secs(4))
            ]
        );
        Ok(())
    });
}

#[test]
fn unlimited_rate_never_waits_and_cancellation_is_reported() {
    testonly::run_test(|ctx, clock| async move {
        let limiter = Limiter::new(Rate::INF);
        assert!(Rate::INF.is_unlimited());
        let start = ctx.now();
        for _ in 0..10_000 {
            limiter.acquire(&ctx, 1000).await?;
        }
        assert_eq!(ctx.now(), start);
        assert!(limiter.try_acquire(&ctx, usize::MAX));

        let limited = Limiter::new(Rate {
            burst: 1,
            refresh: Duration::from_secs(60),
        });
        limited.acquire(&ctx, 1).await?;
        // A wait for a token ends when the ctx deadline passes.
        let sub = ctx.with_timeout(Duration::from_secs(1));
        scope::run!(&ctx, |ctx, s| async {
            let h = s.spawn(async { Ok(limited.acquire(&sub, 1).await) });
            ctx.yield_now().await?;
            clock.advance(Duration::from_secs(1));
            assert_eq!(h.join(ctx).await?, Err(ctx::Canceled));
            Ok::<(), ctx::Error>(())
        })
        .await?;
        let (sub, cancel) = ctx.with_canceler();
        cancel.cancel();
        assert!(limiter.acquire(&sub, 1).await.is_err());
        Ok(())
    });
}

#[test]
fn zero_burst_still_lets_one_through_per_refresh() {
    testonly::run_test(|ctx, clock| async move {
        let limiter = Limiter::new(Rate {
            burst: 0,
            refresh: Duration::from_millis(100),
        });
        assert!(!limiter.try_acquire(&ctx, 1));
        clock.advance(Duration::from_millis(100));
        assert!(limiter.try_acquire(&ctx, 1));
        assert!(!limiter.try_acquire(&ctx, 1));
        Ok(())
    });
}

#[test]
fn huge_bursts_do_not_overflow_the_refill_arithmetic() {
    testonly::run_test(|ctx, clock| async move {
        let limiter = Limiter::new(Rate {
            burst: 10_000_000_000,
            refresh: Duration::from_nanos(1),
        });
        assert!(limiter.try_acquire(&ctx, 10_000_000_000));
        // 5 s at one token per ns: 5e9 tokens (more than u32::MAX).
        clock.advance(Duration::from_secs(5));
        assert!(limiter.try_acquire(&ctx, 5_000_000_000));
        assert!(
            !limiter.try_acquire(&ctx, 1),
            "the same time must not be credited twice"
        );
        clock.advance(Duration::from_secs(5));
        assert!(limiter.try_acquire(&ctx, 5_000_000_000));
        assert!(!limiter.try_acquire(&ctx, 1));
        Ok(())
    });
}

#[test]
fn a_waiter_in_debt_keeps_tokens_accrued_while_oversleeping() {
    testonly::run_test(|ctx, clock| async move {
        let limiter = Limiter::new(Rate {
            burst: 2,
            refresh: Duration::from_secs(1),
        });
        scope::run!(&ctx, |ctx, s| async {
            // 2 tokens now, 4 more needed: with no lateness it would wait 4 s.
            let h = s.spawn(async {
                limiter.acquire(ctx, 6).await?;
                Ok(ctx.now())
            });
            ctx.yield_now().await?;
            // The clock jumps 4 s at once (a late timer): 4 tokens accrued, beyond the burst.
            let start = ctx.now();
            clock.advance(Duration::from_secs(4));
            assert_eq!(h.join(ctx).await?, start + Duration::from_secs(4));
            Ok::<(), ctx::Error>(())
        })
        .await
    });
}
