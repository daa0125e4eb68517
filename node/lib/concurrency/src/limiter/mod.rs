//! A token-bucket rate limiter on the ctx clock.
//!
//! The bucket holds up to `burst` tokens and gains one every `refresh`; it starts full.
//! [`Limiter::acquire`] takes tokens, waiting (on the caller's ctx clock) for them to refill.
//! Waiters are served first come, first served. `refresh = 0` means no limit at all.

use tokio::sync::Mutex;

use crate::{
    ctx, sync,
    time::{Duration, Instant},
};

#[cfg(test)]
mod tests;

/// A rate: at most `burst` events at once, then one more per `refresh`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Bucket capacity. A rate with `burst = 0` and a non-zero `refresh` still lets one
    /// event through every `refresh`.
    pub burst: usize,
    /// Time to gain one token. Zero disables limiting.
    pub refresh: Duration,
}

impl Rate {
    /// No limit.
    pub const INF: Rate = Rate {
        burst: usize::MAX,
        refresh: Duration::ZERO,
    };

    /// Whether this rate limits anything.
    pub fn is_unlimited(&self) -> bool {
        self.refresh.is_zero()
    }
}

#[derive(Debug)]
struct Bucket {
    tokens: u64,
    /// Time up to which refills have been counted (`None` before the first use).
    updated: Option<Instant>,
}

/// A token-bucket rate limiter.
#[derive(Debug)]
pub struct Limiter {
    rate: Rate,
    bucket: Mutex<Bucket>,
}

impl Limiter {
    /// A limiter with a full bucket.
    pub fn new(rate: Rate) -> Self {
        Self {
            rate,
            bucket: Mutex::new(Bucket {
                tokens: rate.burst as u64,
                updated: None,
            }),
        }
    }

    /// The limiter's rate.
    pub fn rate(&self) -> Rate {
        self.rate
    }

    fn capacity(&self) -> u64 {
        (self.rate.burst as u64).max(1)
    }

    /// Counts the tokens gained up to `now`. Without `cap` the count may exceed the bucket size:
    /// a waiter in debt spends everything that accrued while it slept.
    fn refill(&self, bucket: &mut Bucket, now: Instant, cap: bool) {
        let Some(updated) = bucket.updated else {
            bucket.updated = Some(now);
            return;
        };
        let gained = (now - updated).as_nanos() / self.rate.refresh.as_nanos();
        let gained = u64::try_from(gained).unwrap_or(u64::MAX);
        bucket.tokens = bucket.tokens.saturating_add(gained);
        bucket.updated = Some(updated + self.refresh_times(gained));
        if cap && bucket.tokens >= self.capacity() {
            bucket.tokens = self.capacity();
            // A full bucket accrues nothing: count from now.
            bucket.updated = Some(now);
        }
    }

    /// Takes `n` tokens, waiting for them as needed. Requests larger than `burst` take the
    /// whole bucket and then wait for the remainder. Tokens taken before a cancellation are
    /// spent.
    pub async fn acquire(&self, ctx: &ctx::Ctx, n: usize) -> ctx::OrCanceled<()> {
        if self.rate.is_unlimited() {
            return if ctx.is_active() {
                Ok(())
            } else {
                Err(ctx::Canceled)
            };
        }
        let mut bucket = sync::lock(ctx, &self.bucket).await?;
        let mut need = n as u64;
        let mut first = true;
        loop {
            self.refill(&mut bucket, ctx.now(), first);
            first = false;
            let take = need.min(bucket.tokens);
            bucket.tokens -= take;
            need -= take;
            if need == 0 {
                bucket.tokens = bucket.tokens.min(self.capacity());
                return Ok(());
            }
            // Sleep until enough has accrued (at most a bucketful at a time).
            let updated = bucket.updated.unwrap_or_else(|| ctx.now());
            let until = updated + self.refresh_times(need.min(self.capacity()));
            ctx.sleep_until(until).await?;
        }
    }

    fn refresh_times(&self, k: u64) -> Duration {
        let nanos = self.rate.refresh.as_nanos().saturating_mul(u128::from(k));
        // Saturates at about 584 years, far beyond any wait that matters.
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// Takes `n` tokens if they are available right now and nobody is waiting.
    pub fn try_acquire(&self, ctx: &ctx::Ctx, n: usize) -> bool {
        if self.rate.is_unlimited() {
            return true;
        }
        let Ok(mut bucket) = self.bucket.try_lock() else {
            return false;
        };
        self.refill(&mut bucket, ctx.now(), true);
        let n = n as u64;
        if bucket.tokens >= n {
            bucket.tokens -= n;
            true
        } else {
            false
        }
    }
}
