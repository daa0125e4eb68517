//! Clocks behind a ctx: real, manual (tests) and affine (sped-up tests).

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use tokio::sync::oneshot;

use crate::time::{Duration, Instant, Utc};

/// The clock of a ctx. All ctx time reads and sleeps go through it.
#[derive(Clone, Debug, Default)]
pub enum Clock {
    /// The system clocks. Sleeps use tokio's timer, so a tokio runtime with paused time
    /// auto-advances them.
    #[default]
    Real,
    /// Time moves only when the test moves it.
    Manual(ManualClock),
    /// Real time scaled by a constant factor.
    Affine(AffineClock),
}

impl Clock {
    /// Current monotonic time.
    pub fn now(&self) -> Instant {
        match self {
            Clock::Real => Instant::from_std(tokio::time::Instant::now().into_std()),
            Clock::Manual(c) => c.now(),
            Clock::Affine(c) => c.now(),
        }
    }

    /// Current wall-clock time.
    pub fn now_utc(&self) -> Utc {
        match self {
            Clock::Real => real_utc(),
            Clock::Manual(c) => c.now_utc(),
            Clock::Affine(c) => c.now_utc(),
        }
    }

    /// Completes once the clock reaches `t` (not cancellable by itself: see `Ctx::sleep_until`).
    pub(crate) async fn sleep_until(&self, t: Instant) {
        match self {
            Clock::Real => tokio::time::sleep_until(t.to_std().into()).await,
            Clock::Manual(c) => c.sleep_until(t).await,
            Clock::Affine(c) => c.sleep_until(t).await,
        }
    }
}

fn real_utc() -> Utc {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    Utc::from_unix(since)
}

fn real_now() -> Instant {
    Instant::from_std(tokio::time::Instant::now().into_std())
}

/// A clock that moves only when told to. Starts at the real time of its creation.
///
/// Sleepers whose time has come are woken in a fixed order (by wake-up time, then by the order
/// in which they started sleeping), so a test on one seed replays identically.
/// Cloning gives another handle to the same clock.
#[derive(Clone, Debug)]
pub struct ManualClock(Arc<ManualInner>);

#[derive(Debug)]
struct ManualInner {
    start: Instant,
    start_utc: Utc,
    state: Mutex<ManualState>,
    /// Held while moving time and waking sleepers.
    waking: Mutex<()>,
}

#[derive(Debug)]
struct ManualState {
    now: Instant,
    next_seq: u64,
    sleepers: BTreeMap<(Instant, u64), oneshot::Sender<()>>,
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl ManualClock {
    /// A manual clock starting now.
    pub fn new() -> Self {
        let start = real_now();
        Self(Arc::new(ManualInner {
            start,
            start_utc: real_utc(),
            state: Mutex::new(ManualState {
                now: start,
                next_seq: 0,
                sleepers: BTreeMap::new(),
            }),
            waking: Mutex::new(()),
        }))
    }

    fn state(&self) -> MutexGuard<'_, ManualState> {
        self.0.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Current time.
    pub fn now(&self) -> Instant {
        self.state().now
    }

    /// Current wall-clock time: the creation time plus the time advanced since.
    pub fn now_utc(&self) -> Utc {
        self.0.start_utc + (self.now() - self.0.start)
    }

    /// Moves time forward by `d`, waking every sleeper whose time has come.
    pub fn advance(&self, d: Duration) {
        self.move_to(|now| now + d);
    }

    /// Moves time forward to `t`, waking every sleeper whose time has come; does nothing if `t`
    /// is not in the future.
    pub fn advance_until(&self, t: Instant) {
        self.move_to(|_| t);
    }

    fn move_to(&self, target: impl FnOnce(Instant) -> Instant) {
        // Concurrent moves are serialised, so wake-ups are delivered in time order.
        let _waking = self.0.waking.lock().unwrap_or_else(PoisonError::into_inner);
        let due = {
            let mut state = self.state();
            let t = target(state.now);
            if t <= state.now {
                return;
            }
            state.now = t;
            let later = state.sleepers.split_off(&(t, u64::MAX));
            std::mem::replace(&mut state.sleepers, later)
        };
        for (_, wake) in due {
            let _ = wake.send(());
        }
    }

    async fn sleep_until(&self, t: Instant) {
        let (key, wake) = {
            let mut state = self.state();
            if state.now >= t {
                return;
            }
            let key = (t, state.next_seq);
            state.next_seq += 1;
            let (send, recv) = oneshot::channel();
            state.sleepers.insert(key, send);
            (key, recv)
        };
        // Removes the entry if this sleep is dropped before its time.
        struct Unregister<'a>(&'a ManualClock, (Instant, u64));
        impl Drop for Unregister<'_> {
            fn drop(&mut self) {
                self.0.state().sleepers.remove(&self.1);
            }
        }
        let _unregister = Unregister(self, key);
        let _ = wake.await;
    }
}

/// A clock running at `rate` times real time, starting at the real time of its creation.
#[derive(Clone, Debug)]
pub struct AffineClock(Arc<AffineInner>);

#[derive(Debug)]
struct AffineInner {
    rate: f64,
    start_real: Instant,
    start_utc: Utc,
}

impl AffineClock {
    /// A clock running `rate` times faster than real time (`rate` > 0; 2.0 = twice as fast).
    ///
    /// # Panics
    /// If `rate` is not a finite positive number: test setup error.
    pub fn new(rate: f64) -> Self {
        assert!(
            rate.is_finite() && rate > 0.0,
            "AffineClock rate must be > 0, got {rate}"
        );
        Self(Arc::new(AffineInner {
            rate,
            start_real: real_now(),
            start_utc: real_utc(),
        }))
    }

    fn virtual_elapsed(&self) -> Duration {
        let secs = (real_now() - self.0.start_real).as_secs_f64() * self.0.rate;
        Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX)
    }

    /// Current (scaled) time.
    pub fn now(&self) -> Instant {
        self.0.start_real + self.virtual_elapsed()
    }

    /// Current (scaled) wall-clock time.
    pub fn now_utc(&self) -> Utc {
        self.0.start_utc + self.virtual_elapsed()
    }

    async fn sleep_until(&self, t: Instant) {
        // Float rounding can wake a little early: sleep again until the clock agrees.
        while self.now() < t {
            let virtual_offset = t - self.0.start_real;
            let real_offset =
                Duration::try_from_secs_f64(virtual_offset.as_secs_f64() / self.0.rate)
                    .unwrap_or(Duration::MAX);
            let Some(real_target) = self.0.start_real.checked_add(real_offset) else {
                return std::future::pending().await;
            };
            let slack = Duration::from_micros(1);
            tokio::time::sleep_until((real_target + slack).to_std().into()).await;
        }
    }
}
