//! ed25519 node keys (protocol.md 3.2). Verification is strict: small-order public keys and
//! non-canonical signatures are rejected (`verify_strict`).

use std::{cmp::Ordering, fmt, hash};

use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use rand::Rng;

use crate::{ByteFmt, ByteFmtError, fmt::fixed, fmt::text_fmt_with_prefix};

#[cfg(test)]
mod tests;

/// The signature does not verify.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[error("ed25519 signature verification failed")]
pub struct BadSignature;

/// A node secret key. Zeroized on drop.
#[derive(Clone)]
pub struct SecretKey(SigningKey);

impl SecretKey {
    /// A fresh key from 32 bytes of `rng`.
    pub fn generate(rng: &mut (impl Rng + ?Sized)) -> Self {
        let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
        rng.fill_bytes(&mut bytes[..]);
        Self(SigningKey::from_bytes(&bytes))
    }

    /// The public key.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// Signs `msg`.
    pub fn sign(&self, msg: &[u8]) -> Signature {
        Signature(self.0.sign(msg))
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ed25519::SecretKey")
            .field(&self.public())
            .finish()
    }
}

impl PartialEq for SecretKey {
    fn eq(&self, other: &Self) -> bool {
        self.public() == other.public()
    }
}

impl Eq for SecretKey {}

impl ByteFmt for SecretKey {
    fn decode(bytes: &[u8]) -> Result<Self, ByteFmtError> {
        let bytes = zeroize::Zeroizing::new(fixed::<32>(bytes, "32")?);
        Ok(Self(SigningKey::from_bytes(&bytes)))
    }
    fn encode(&self) -> Vec<u8> {
        self.0.to_bytes().to_vec()
    }
}

text_fmt_with_prefix!(SecretKey, "node:secret:ed25519:");

/// A node public key (a valid point encoding).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// Checks `sig` over `msg`, strictly.
    pub fn verify(&self, msg: &[u8], sig: &Signature) -> Result<(), BadSignature> {
        self.0.verify_strict(msg, &sig.0).map_err(|_| BadSignature)
    }

    /// The 32-byte encoding.
    pub fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }
}

impl PartialOrd for PublicKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for PublicKey {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl hash::Hash for PublicKey {
    fn hash<H: hash::Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ed25519:{}", hex::encode(&self.as_bytes()[..8]))
    }
}

impl ByteFmt for PublicKey {
    fn decode(bytes: &[u8]) -> Result<Self, ByteFmtError> {
        let bytes = fixed::<32>(bytes, "32")?;
        VerifyingKey::from_bytes(&bytes)
            .map(Self)
            .map_err(|e| ByteFmtError::Invalid {
                what: "ed25519 public key",
                reason: e.to_string(),
            })
    }
    fn encode(&self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }
}

text_fmt_with_prefix!(PublicKey, "node:public:ed25519:");

/// A signature (64 bytes).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature(ed25519_dalek::Signature);

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ed25519_sig:{}", hex::encode(&self.0.to_bytes()[..8]))
    }
}

impl ByteFmt for Signature {
    fn decode(bytes: &[u8]) -> Result<Self, ByteFmtError> {
        let bytes = fixed::<64>(bytes, "64")?;
        Ok(Self(ed25519_dalek::Signature::from_bytes(&bytes)))
    }
    fn encode(&self) -> Vec<u8> {
        self.0.to_bytes().to_vec()
    }
}
