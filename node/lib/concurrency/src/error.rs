//! Adding context to errors without losing cancellation.
//!
//! [`Wrap::wrap`] adds context to internal errors only, so cancellation stays recognisable.
//!
//! `anyhow::Context::context` on a cancellation deliberately makes it an internal error: code
//! that gives a sub-operation its own deadline (`ctx.with_timeout(..)`) and adds context to its
//! failure means "this timed out", which must not look like a shutdown to the caller.

use crate::ctx::{self, Canceled};

/// Adds context to the error of a result, keeping cancellation recognisable.
pub trait Wrap: Sized {
    /// Adds `c` as context to an internal error; cancellation is left unchanged.
    fn wrap<C>(self, c: C) -> Self
    where
        C: std::fmt::Display + Send + Sync + 'static,
    {
        self.with_wrap(|| c)
    }

    /// Like [`Wrap::wrap`], computing the context only on error.
    fn with_wrap<C, F>(self, f: F) -> Self
    where
        C: std::fmt::Display + Send + Sync + 'static,
        F: FnOnce() -> C;
}

impl Wrap for ctx::Error {
    fn with_wrap<C, F>(self, f: F) -> Self
    where
        C: std::fmt::Display + Send + Sync + 'static,
        F: FnOnce() -> C,
    {
        match self {
            ctx::Error::Canceled(c) => ctx::Error::Canceled(c),
            ctx::Error::Internal(err) => ctx::Error::Internal(err.context(f())),
        }
    }
}

impl<T, E: Wrap> Wrap for Result<T, E> {
    fn with_wrap<C, F>(self, f: F) -> Self
    where
        C: std::fmt::Display + Send + Sync + 'static,
        F: FnOnce() -> C,
    {
        self.map_err(|err| err.with_wrap(f))
    }
}

/// Whether the error itself (not something it wraps with added context) is a cancellation.
pub fn is_canceled(err: &anyhow::Error) -> bool {
    let Some(outer) = err.chain().next() else {
        return false;
    };
    outer.is::<Canceled>()
        || matches!(
            outer.downcast_ref::<ctx::Error>(),
            Some(ctx::Error::Canceled(_))
        )
}
