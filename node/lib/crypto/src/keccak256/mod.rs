//! Keccak-256 (the Ethereum variant, not SHA3-256).

use sha3::Digest as _;

use crate::{ByteFmt, ByteFmtError, fmt::fixed};

#[cfg(test)]
mod tests;

/// A Keccak-256 digest.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Keccak256([u8; 32]);

impl Keccak256 {
    /// Hashes `data`.
    pub fn new(data: &[u8]) -> Self {
        Self(sha3::Keccak256::digest(data).into())
    }

    /// Wraps raw digest bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The digest bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl ByteFmt for Keccak256 {
    fn decode(bytes: &[u8]) -> Result<Self, ByteFmtError> {
        Ok(Self(fixed(bytes, "32")?))
    }
    fn encode(&self) -> Vec<u8> {
        self.0.to_vec()
    }
}

impl std::fmt::Debug for Keccak256 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "keccak256:{}", hex::encode(self.0))
    }
}
