//! The context: cancellation, deadline, clock and randomness in one handle.
//!
//! A [`Ctx`] is passed as the first argument (`ctx: &ctx::Ctx`) to everything that may wait.
//! Contexts form a tree: a child is cancelled when its parent is, and its deadline is never
//! later than its parent's. Cancellation is observed, never forced: an operation started with
//! [`Ctx::wait`] returns [`Canceled`] as soon as the ctx is cancelled or its deadline passes.

use std::{fmt, future::Future, sync::Arc};

use rand::rngs::StdRng;
use tokio_util::sync::CancellationToken;

use crate::time::{Deadline, Duration, Instant, Utc};

mod clock;
mod errors;
mod rng;
#[cfg(test)]
mod tests;

pub use clock::{AffineClock, Clock, ManualClock};
pub use errors::{Canceled, Error, OrCanceled, Result};
use rng::RngProvider;

/// A context: a node in the cancellation tree, with a deadline, a clock and an RNG source.
///
/// Cheap to clone; clones are the same context.
#[derive(Clone)]
pub struct Ctx(Arc<Inner>);

struct Inner {
    token: CancellationToken,
    deadline: Deadline,
    clock: Clock,
    rng: RngProvider,
}

impl fmt::Debug for Ctx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ctx")
            .field("canceled", &self.0.token.is_cancelled())
            .field("deadline", &self.0.deadline)
            .finish_non_exhaustive()
    }
}

/// Cancels the ctx it was created with (and so all of its descendants).
#[derive(Clone, Debug)]
pub struct Canceler(CancellationToken);

impl Canceler {
    /// Cancels the ctx. Idempotent.
    pub fn cancel(&self) {
        self.0.cancel();
    }
}

/// The root context of a production process: real clock, OS randomness, no deadline.
///
/// Use one per process (or per node) and derive everything else from it.
pub fn root() -> Ctx {
    Ctx::new(Clock::Real, RngProvider::Os)
}

/// A root context for tests: the given clock and an RNG derived from `seed`.
#[cfg(any(test, feature = "testonly"))]
pub fn test_root(clock: impl Into<Clock>, seed: u64) -> Ctx {
    Ctx::new(clock.into(), RngProvider::seeded(seed))
}

impl From<ManualClock> for Clock {
    fn from(c: ManualClock) -> Self {
        Clock::Manual(c)
    }
}

impl From<AffineClock> for Clock {
    fn from(c: AffineClock) -> Self {
        Clock::Affine(c)
    }
}

impl Ctx {
    fn new(clock: Clock, rng: RngProvider) -> Self {
        Self(Arc::new(Inner {
            token: CancellationToken::new(),
            deadline: Deadline::Infinite,
            clock,
            rng,
        }))
    }

    fn child_inner(&self, deadline: Deadline) -> (Ctx, CancellationToken) {
        let token = self.0.token.child_token();
        let ctx = Ctx(Arc::new(Inner {
            token: token.clone(),
            deadline: deadline.min(self.0.deadline),
            clock: self.0.clock.clone(),
            rng: self.0.rng.clone(),
        }));
        (ctx, token)
    }

    /// A child that can be cancelled with the returned [`Canceler`] (or by cancelling `self`).
    pub fn with_canceler(&self) -> (Ctx, Canceler) {
        let (ctx, token) = self.child_inner(self.0.deadline);
        (ctx, Canceler(token))
    }

    /// A child whose deadline is `deadline`, or `self`'s if that is earlier.
    pub fn with_deadline(&self, deadline: impl Into<Deadline>) -> Ctx {
        self.child_inner(deadline.into()).0
    }

    /// A child whose deadline is `timeout` from now, or `self`'s if that is earlier.
    pub fn with_timeout(&self, timeout: Duration) -> Ctx {
        let deadline = match self.now().checked_add(timeout) {
            Some(t) => Deadline::Finite(t),
            None => Deadline::Infinite,
        };
        self.with_deadline(deadline)
    }

    /// The clock of this ctx.
    pub fn clock(&self) -> &Clock {
        &self.0.clock
    }

    /// Current monotonic time on the ctx clock.
    pub fn now(&self) -> Instant {
        self.0.clock.now()
    }

    /// Current wall-clock time on the ctx clock.
    pub fn now_utc(&self) -> Utc {
        self.0.clock.now_utc()
    }

    /// The deadline of this ctx.
    pub fn deadline(&self) -> Deadline {
        self.0.deadline
    }

    /// A new random number generator: OS-seeded in production, derived from the test seed in
    /// tests (each call gives the next generator of a deterministic sequence).
    pub fn rng(&self) -> StdRng {
        self.0.rng.rng()
    }

    /// Whether the ctx is neither cancelled nor past its deadline.
    pub fn is_active(&self) -> bool {
        !self.0.token.is_cancelled() && !self.0.deadline.has_passed(self.now())
    }

    /// Completes when the ctx is cancelled or its deadline passes.
    pub async fn canceled(&self) {
        match self.0.deadline {
            Deadline::Infinite => self.0.token.cancelled().await,
            Deadline::Finite(t) => {
                tokio::select! {
                    biased;
                    () = self.0.token.cancelled() => {}
                    () = self.0.clock.sleep_until(t) => {}
                }
            }
        }
    }

    /// Runs `fut` until it completes or the ctx is cancelled, whichever comes first.
    ///
    /// Cancellation wins ties: if the ctx is already cancelled, `fut` is not polled at all,
    /// which keeps behaviour deterministic under a manual clock.
    pub async fn wait<F: Future>(&self, fut: F) -> OrCanceled<F::Output> {
        if !self.is_active() {
            return Err(Canceled);
        }
        tokio::select! {
            biased;
            () = self.canceled() => Err(Canceled),
            v = fut => Ok(v),
        }
    }

    /// Sleeps for `d` on the ctx clock.
    pub async fn sleep(&self, d: Duration) -> OrCanceled<()> {
        match self.now().checked_add(d) {
            Some(t) => self.sleep_until(t).await,
            None => {
                self.canceled().await;
                Err(Canceled)
            }
        }
    }

    /// Sleeps until `t` on the ctx clock.
    pub async fn sleep_until(&self, t: Instant) -> OrCanceled<()> {
        self.wait(self.0.clock.sleep_until(t)).await
    }

    /// Sleeps until `deadline` on the ctx clock; an infinite deadline waits for cancellation.
    pub async fn sleep_until_deadline(&self, deadline: Deadline) -> OrCanceled<()> {
        match deadline {
            Deadline::Finite(t) => self.sleep_until(t).await,
            Deadline::Infinite => {
                self.canceled().await;
                Err(Canceled)
            }
        }
    }

    /// Yields to the runtime once (lets other tasks of the scope run). Fails if cancelled.
    pub async fn yield_now(&self) -> OrCanceled<()> {
        self.wait(tokio::task::yield_now()).await
    }
}
