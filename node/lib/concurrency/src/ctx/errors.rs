//! The error types of the ctx: cancellation kept apart from real failures.

/// The ctx was cancelled or its deadline passed before the operation finished.
#[derive(thiserror::Error, Debug, Clone, Copy, PartialEq, Eq)]
#[error("canceled")]
pub struct Canceled;

/// The result of an operation that fails only by cancellation.
pub type OrCanceled<T> = std::result::Result<T, Canceled>;

/// An error of a ctx-aware operation: either cancellation, or a real (internal) failure.
///
/// Converting an `anyhow::Error` that *is* a cancellation gives [`Error::Canceled`], so
/// `Canceled -> anyhow -> ctx::Error` round-trips. A cancellation wrapped with
/// `anyhow::Context::context` becomes [`Error::Internal`] on purpose (see [`crate::error`]); add
/// context with [`crate::error::Wrap`] instead.
#[derive(thiserror::Error, Debug)]
pub enum Error {
    /// The ctx was cancelled. Not a failure of the operation itself.
    #[error(transparent)]
    Canceled(#[from] Canceled),
    /// A real failure.
    #[error(transparent)]
    Internal(anyhow::Error),
}

/// The result of a ctx-aware operation.
pub type Result<T> = std::result::Result<T, Error>;

impl From<anyhow::Error> for Error {
    fn from(err: anyhow::Error) -> Self {
        if crate::error::is_canceled(&err) {
            Self::Canceled(Canceled)
        } else {
            Self::Internal(err)
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Self {
        Self::Internal(err.into())
    }
}

impl Error {
    /// Whether this is a cancellation.
    pub fn is_canceled(&self) -> bool {
        matches!(self, Self::Canceled(_))
    }
}
