//! Time types used with the ctx clock.
//!
//! [`Instant`] is a point on a monotonic clock (real, manual or sped-up, depending on the ctx),
//! [`Utc`] a point in wall-clock time, [`Deadline`] an optional point in time after which a ctx
//! counts as cancelled.

use std::{fmt, ops};

/// A span of time. The standard library's type is used as is.
pub type Duration = std::time::Duration;

/// A point in monotonic time, as read from a ctx clock ([`crate::ctx::Ctx::now`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(std::time::Instant);

impl Instant {
    pub(crate) fn from_std(t: std::time::Instant) -> Self {
        Self(t)
    }

    pub(crate) fn to_std(self) -> std::time::Instant {
        self.0
    }

    /// Time elapsed from `earlier` to `self`; zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        self.0.saturating_duration_since(earlier.0)
    }

    /// `self + d`, or `None` on overflow.
    pub fn checked_add(self, d: Duration) -> Option<Instant> {
        self.0.checked_add(d).map(Self)
    }
}

impl ops::Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        Self(self.0 + d)
    }
}

impl ops::AddAssign<Duration> for Instant {
    fn add_assign(&mut self, d: Duration) {
        self.0 += d;
    }
}

impl ops::Sub<Duration> for Instant {
    type Output = Instant;
    fn sub(self, d: Duration) -> Instant {
        Self(self.0 - d)
    }
}

/// Saturating difference: an `Instant` earlier than `rhs` gives zero.
impl ops::Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_duration_since(rhs)
    }
}

/// A point in wall-clock (UTC) time, as the time since the Unix epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Utc(Duration);

impl Utc {
    /// The Unix epoch, 1970-01-01T00:00:00Z.
    pub const UNIX_EPOCH: Utc = Utc(Duration::ZERO);

    /// The point `d` after the Unix epoch.
    pub const fn from_unix(d: Duration) -> Self {
        Self(d)
    }

    /// Time since the Unix epoch.
    pub const fn since_unix(self) -> Duration {
        self.0
    }

    /// Whole seconds since the Unix epoch.
    pub fn unix_seconds(self) -> u64 {
        self.0.as_secs()
    }

    /// Time elapsed from `earlier` to `self`; zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Utc) -> Duration {
        self.0.saturating_sub(earlier.0)
    }
}

impl ops::Add<Duration> for Utc {
    type Output = Utc;
    fn add(self, d: Duration) -> Utc {
        Self(self.0 + d)
    }
}

impl fmt::Display for Utc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:09}", self.0.as_secs(), self.0.subsec_nanos())
    }
}

/// A point in time after which a ctx counts as cancelled, or none.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Deadline {
    /// Expires at the given instant.
    Finite(Instant),
    /// Never expires. Orders after every finite deadline.
    Infinite,
}

impl Deadline {
    /// Whether the deadline has passed at `now`.
    pub fn has_passed(self, now: Instant) -> bool {
        match self {
            Deadline::Finite(t) => now >= t,
            Deadline::Infinite => false,
        }
    }

    /// Time left at `now`: zero once passed, `None` if infinite.
    pub fn remaining(self, now: Instant) -> Option<Duration> {
        match self {
            Deadline::Finite(t) => Some(t - now),
            Deadline::Infinite => None,
        }
    }
}

impl From<Instant> for Deadline {
    fn from(t: Instant) -> Self {
        Deadline::Finite(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_order_and_expiry() {
        let t = Instant::from_std(std::time::Instant::now());
        let later = t + Duration::from_secs(1);
        assert!(Deadline::Finite(t) < Deadline::Finite(later));
        assert!(Deadline::Finite(later) < Deadline::Infinite);
        assert!(!Deadline::Finite(later).has_passed(t));
        assert!(Deadline::Finite(later).has_passed(later));
        assert!(!Deadline::Infinite.has_passed(later));
        assert_eq!(
            Deadline::Finite(later).remaining(t),
            Some(Duration::from_secs(1))
        );
        assert_eq!(Deadline::Finite(t).remaining(later), Some(Duration::ZERO));
        assert_eq!(Deadline::Infinite.remaining(t), None);
    }

    #[test]
    fn instant_sub_saturates() {
        let t = Instant::from_std(std::time::Instant::now());
        let later = t + Duration::from_millis(5);
        assert_eq!(later - t, Duration::from_millis(5));
        assert_eq!(t - later, Duration::ZERO);
    }

    #[test]
    fn utc_display_and_arith() {
        let u = Utc::from_unix(Duration::new(12, 5)) + Duration::from_secs(3);
        assert_eq!(u.unix_seconds(), 15);
        assert_eq!(u.to_string(), "15.000000005");
        assert_eq!(
            u.saturating_duration_since(Utc::UNIX_EPOCH),
            Duration::new(15, 5)
        );
        assert_eq!(Utc::UNIX_EPOCH.saturating_duration_since(u), Duration::ZERO);
    }
}
