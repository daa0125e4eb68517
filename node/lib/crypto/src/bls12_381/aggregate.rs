//! Aggregate signatures and their verification.

use std::collections::BTreeMap;

use blst::min_sig;

use super::{
    Error, INFINITY_SIGNATURE, PublicKey, SIG_DST, Signature, bytes_identity, check,
    decode_signature, sum_public_keys,
};
use crate::{ByteFmt, ByteFmtError, fmt::text_fmt_with_prefix};

use std::{cmp::Ordering, fmt, hash};

/// The sum of signatures (G1 points). The empty aggregate is the identity.
#[derive(Clone)]
pub struct AggregateSignature {
    sig: min_sig::Signature,
    bytes: [u8; 48],
}

bytes_identity!(AggregateSignature, bytes);

impl Default for AggregateSignature {
    fn default() -> Self {
        Self::identity()
    }
}

impl AggregateSignature {
    /// The empty aggregate (the identity of G1: `0xc0` then 47 zero bytes).
    pub fn identity() -> Self {
        Self {
            // The identity is a valid compressed point.
            sig: min_sig::Signature::from_bytes(&INFINITY_SIGNATURE).expect("identity point"),
            bytes: INFINITY_SIGNATURE,
        }
    }

    /// Adds a signature.
    pub fn add(&mut self, sig: &Signature) {
        let mut agg = min_sig::AggregateSignature::from_signature(&self.sig);
        // Inputs are valid points: no group check.
        let _ = agg.add_signature(sig.blst(), false);
        self.sig = agg.to_signature();
        self.bytes = self.sig.compress();
    }

    /// The aggregate of `sigs`.
    pub fn aggregate<'a>(sigs: impl IntoIterator<Item = &'a Signature>) -> Self {
        let mut sigs = sigs.into_iter();
        let Some(first) = sigs.next() else {
            return Self::identity();
        };
        let mut agg = min_sig::AggregateSignature::from_signature(first.blst());
        for sig in sigs {
            let _ = agg.add_signature(sig.blst(), false);
        }
        let sig = agg.to_signature();
        Self {
            bytes: sig.compress(),
            sig,
        }
    }

    pub(crate) fn blst(&self) -> &min_sig::Signature {
        &self.sig
    }

    /// The compressed encoding.
    pub fn as_bytes(&self) -> &[u8; 48] {
        &self.bytes
    }

    /// Verifies the aggregate over `(message, public key)` pairs, exactly as the reference
    /// does: public keys of equal messages are summed first (a sum that is the identity is
    /// rejected), then one multi-pairing check is made over the distinct messages.
    pub fn verify<'a>(
        &self,
        pairs: impl IntoIterator<Item = (&'a [u8], &'a PublicKey)>,
    ) -> Result<(), Error> {
        let mut groups: BTreeMap<&[u8], Vec<&PublicKey>> = BTreeMap::new();
        for (msg, pk) in pairs {
            groups.entry(msg).or_default().push(pk);
        }
        if groups.is_empty() {
            return Err(Error::Empty);
        }
        let mut msgs = Vec::with_capacity(groups.len());
        let mut pks = Vec::with_capacity(groups.len());
        for (msg, group) in groups {
            msgs.push(msg);
            pks.push(sum_public_keys(group)?);
        }
        let pk_refs: Vec<&min_sig::PublicKey> = pks.iter().collect();
        check(
            self.sig
                .aggregate_verify(false, &msgs, SIG_DST, &pk_refs, false),
        )
    }

    /// Verifies the aggregate of signatures by `pks` over one message `msg`, with a single
    /// pairing check: the fast path for a quorum of identical votes. Same result as
    /// [`AggregateSignature::verify`] with every pair carrying `msg`.
    pub fn verify_same_message<'a>(
        &self,
        msg: &[u8],
        pks: impl IntoIterator<Item = &'a PublicKey>,
    ) -> Result<(), Error> {
        let pk = sum_public_keys(pks)?;
        check(
            self.sig
                .aggregate_verify(false, &[msg], SIG_DST, &[&pk], false),
        )
    }
}

impl ByteFmt for AggregateSignature {
    fn decode(bytes: &[u8]) -> Result<Self, ByteFmtError> {
        let sig = decode_signature(bytes, "aggregate signature")?;
        Ok(Self {
            bytes: sig.compress(),
            sig,
        })
    }
    fn encode(&self) -> Vec<u8> {
        self.bytes.to_vec()
    }
}

text_fmt_with_prefix!(
    AggregateSignature,
    "validator:aggregate_signature:bls12_381:"
);
