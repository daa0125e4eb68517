//! Structured concurrency for the consensus layer.
//!
//! Everything that waits, sleeps, reads the time or draws randomness takes a [`ctx::Ctx`]:
//! a handle carrying a cancellation signal, a deadline, a clock and a random number source.
//! Production code runs on the real clock and OS randomness; tests swap in a manual or sped-up
//! clock and a fixed seed without changing the code under test.
//!
//! Tasks are started only inside a [`scope::run!`] block. A scope returns only after every task
//! it started has finished; the first error cancels the others and is returned. Because a scope's
//! tasks are polled inside the scope's own future, they may borrow from the caller, and no task
//! can outlive its scope even when the scope itself is dropped half-way.
//!
//! Modules:
//! - [`ctx`]: the context, its errors ([`ctx::Error`], [`ctx::Canceled`]) and clocks;
//! - [`scope`]: structured task spawning;
//! - [`time`]: `Instant`, `Duration`, `Deadline`, `Utc` on the ctx clock;
//! - [`channel`], [`oneshot`], [`signal`], [`sync`]: ctx-aware synchronisation, including the
//!   prunable queue of [`sync::prunable_mpsc`];
//! - [`limiter`]: a token-bucket rate limiter on the ctx clock;
//! - [`net`] and [`io`]: DNS resolution, TCP listeners and streams whose operations end when
//!   the ctx is cancelled.
//!
//! Conventions (see `CONTRIBUTING.md`): the context argument is always `ctx`, the scope is `s`,
//! functions named `run_*` loop until cancelled, and there are no `spawn_*` helpers.
#![allow(clippy::disallowed_methods)] // This crate implements the wrappers the lints point to.

pub mod channel;
pub mod ctx;
pub mod error;
pub mod io;
pub mod limiter;
pub mod net;
pub mod oneshot;
pub mod scope;
pub mod signal;
pub mod sync;
pub mod time;

#[cfg(any(test, feature = "testonly"))]
pub mod testonly;
