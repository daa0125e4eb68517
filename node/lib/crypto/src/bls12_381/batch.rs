//! Batch verification of many aggregate signatures over different messages.
//!
//! Each entry is an aggregate signature by a set of keys over one message (a commit
//! certificate). Checking `n` entries one by one costs `2n` pairings; a batch multiplies every
//! entry by a fresh random 64-bit scalar and checks the sum, costing `n + 1` pairings and one
//! final exponentiation. A forged entry passes only with probability about `2^-64`.
//! On failure, [`BatchVerifier::find_invalid`] tells which entries are bad.

use blst::{blst_scalar, min_sig};
use rand::Rng;

use super::{AggregateSignature, Error, PublicKey, SIG_DST, check, pairing, sum_public_keys};

struct Entry {
    msg: Vec<u8>,
    pk: min_sig::PublicKey,
    sig: min_sig::Signature,
}

/// Entries to verify together.
#[derive(Default)]
pub struct BatchVerifier {
    /// In insertion order; the error for an entry that cannot verify (keys summing to the
    /// identity, or a signature that is not a point).
    entries: Vec<Result<Entry, Error>>,
}

impl std::fmt::Debug for BatchVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchVerifier")
            .field("entries", &self.entries.len())
            .finish()
    }
}

impl BatchVerifier {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of entries added.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing was added.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds the claim "`sig` is the aggregate of signatures by `pks` over `msg`".
    pub fn push<'a>(
        &mut self,
        msg: &[u8],
        pks: impl IntoIterator<Item = &'a PublicKey>,
        sig: &AggregateSignature,
    ) {
        let entry = sum_public_keys(pks).and_then(|pk| {
            Ok(Entry {
                msg: msg.to_vec(),
                pk,
                sig: *sig.blst()?,
            })
        });
        self.entries.push(entry);
    }

    /// Verifies every entry at once. An empty batch is valid.
    pub fn verify(&self, rng: &mut (impl Rng + ?Sized)) -> Result<(), Error> {
        let mut entries = Vec::with_capacity(self.entries.len());
        for e in &self.entries {
            entries.push(e.as_ref().map_err(Clone::clone)?);
        }
        if entries.is_empty() {
            return Ok(());
        }
        let rands: Vec<blst_scalar> = entries
            .iter()
            .map(|_| {
                let mut b = [0u8; 32];
                // A non-zero 64-bit little-endian scalar.
                let r = rng.next_u64() | 1;
                b[..8].copy_from_slice(&r.to_le_bytes());
                blst_scalar { b }
            })
            .collect();
        let msgs: Vec<&[u8]> = entries.iter().map(|e| e.msg.as_slice()).collect();
        let pks: Vec<&min_sig::PublicKey> = entries.iter().map(|e| &e.pk).collect();
        let sigs: Vec<&min_sig::Signature> = entries.iter().map(|e| &e.sig).collect();
        // Points were validated when decoded; sums of valid points stay valid.
        check(min_sig::Signature::verify_multiple_aggregate_signatures(
            &msgs, SIG_DST, &pks, false, &sigs, false, &rands, 64,
        ))
    }

    /// Indices (in insertion order) of the entries that do not verify on their own.
    pub fn find_invalid(&self) -> Vec<usize> {
        let valid =
            |e: &Entry| pairing::verify(&e.sig, SIG_DST, [(e.msg.as_slice(), &e.pk)]).is_ok();
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, e)| !e.as_ref().is_ok_and(valid))
            .map(|(i, _)| i)
            .collect()
    }
}
