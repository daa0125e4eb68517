//! Batch verification of the signatures of many commit certificates (for block sync).
//!
//! A node catching up checks one [`CommitQC`] per block. Each certificate is an aggregate
//! signature over its own message, so checking `n` of them one by one costs `2n` pairings; a
//! [`CommitQCBatch`] checks a random linear combination of all of them with `n + 1` pairings
//! (see [`bls12_381::BatchVerifier`]). A forged certificate makes the whole batch fail (except
//! with probability about `2^-64`); only then is each certificate checked on its own to tell which
//! ones are bad, so a batch with a forgery costs the batch plus `2n` pairings.
//!
//! Only the signature is batched: callers check each certificate's structure first
//! ([`CommitQC::verify_structure`]).

use zksync_consensus_crypto::bls12_381;

use super::{CommitQC, Schedule, Signable as _};

/// The signatures of many commit certificates, verified together.
///
/// The result is the same as calling [`CommitQC::verify_signature`] on each certificate (up to
/// the `2^-64` chance that a batch with a forgery passes).
#[derive(Debug, Default)]
pub struct CommitQCBatch(bls12_381::BatchVerifier);

impl CommitQCBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the signature of `qc`, whose signers are indices into `schedule` (the schedule of the
    /// certificate's epoch). Only the signature is checked later: check
    /// [`CommitQC::verify_structure`] first.
    pub fn push(&mut self, qc: &CommitQC, schedule: &Schedule) {
        let hash = qc.message.msg_hash();
        self.0
            .push(hash.0.as_bytes(), qc.signer_keys(schedule), &qc.signature.0);
    }

    /// Number of certificates added.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no certificate was added.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Verifies every signature at once (an empty batch is valid). On failure, returns the
    /// indices, in push order, of the certificates whose signature is invalid, found by checking
    /// each certificate on its own.
    pub fn verify(&self, rng: &mut (impl rand::Rng + ?Sized)) -> Result<(), Vec<usize>> {
        if self.0.verify(rng).is_ok() {
            return Ok(());
        }
        // A batch of valid entries always passes, so some entry is invalid; the per-entry checks
        // are the reference (they match `CommitQC::verify_signature`).
        let invalid = self.0.find_invalid();
        if invalid.is_empty() {
            return Ok(());
        }
        Err(invalid)
    }
}
