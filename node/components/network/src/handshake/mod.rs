//! Endpoint handshakes (protocol.md 5.4, 5.5): after the preface, each side proves its identity
//! by signing the Noise session id, and both check they follow the same chain (genesis hash).
//! Frames are at most [`MAX_FRAME`] bytes and the whole handshake must finish within
//! [`TIMEOUT`].

pub mod consensus;
pub mod gossip;
#[cfg(test)]
mod tests;

use zksync_concurrency::{ctx, time};
use zksync_protobuf::kB;

/// Largest handshake frame.
pub const MAX_FRAME: usize = 10 * kB;
/// Time allowed for a handshake.
pub const TIMEOUT: time::Duration = time::Duration::from_secs(5);

/// Why a handshake failed.
#[derive(thiserror::Error, Debug)]
pub enum HandshakeError {
    /// The peer follows another chain.
    #[error("genesis mismatch")]
    GenesisMismatch,
    /// The peer signed another session id (a relayed or replayed handshake).
    #[error("session id mismatch")]
    SessionIdMismatch,
    /// The peer is not the one dialed.
    #[error("peer mismatch: connected to another key than the one dialed")]
    PeerMismatch,
    /// The signature does not verify.
    #[error("invalid signature")]
    Signature,
    /// The stream failed (I/O, decoding, timeout or cancellation).
    #[error("stream: {0:#}")]
    Stream(anyhow::Error),
    /// Canceled.
    #[error("canceled")]
    Canceled,
}

impl From<ctx::Error> for HandshakeError {
    fn from(e: ctx::Error) -> Self {
        match e {
            ctx::Error::Canceled(_) => Self::Canceled,
            ctx::Error::Internal(e) => Self::Stream(e),
        }
    }
}
