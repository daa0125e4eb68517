//! Adding context to errors without losing cancellation.
//!
//! `anyhow::Context::context` would turn a [`Canceled`] into an opaque internal error, so a
//! shutdown would look like a failure. [`Wrap::wrap`] adds context to internal errors only.

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

/// Whether an error or anything in its source chain is a cancellation.
pub fn is_canceled(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.is::<Canceled>()
            || matches!(
                e.downcast_ref::<ctx::Error>(),
                Some(ctx::Error::Canceled(_))
            )
    })
}
