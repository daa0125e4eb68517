//! Aggregate signatures and their verification.

use std::collections::BTreeMap;

use blst::min_sig;

use super::{
    Error, INFINITY_SIGNATURE, PublicKey, SIG_DST, Signature, bytes_identity, decode_lazy,
    lazy::LazyG1, pairing, sum_public_keys,
};
use crate::{ByteFmt, ByteFmtError, fmt::text_fmt_with_prefix};

use std::{cmp::Ordering, fmt, hash};

/// The sum of signatures (G1 points). The empty aggregate is the identity. A received
/// aggregate is decoded and validated on first use, like [`Signature`].
#[derive(Clone)]
pub struct AggregateSignature(LazyG1);

bytes_identity!(AggregateSignature, as_bytes());

impl Default for AggregateSignature {
    fn default() -> Self {
        Self::identity()
    }
}

impl AggregateSignature {
    /// The empty aggregate (the identity of G1: `0xc0` then 47 zero bytes).
    pub fn identity() -> Self {
        Self(LazyG1::from_bytes(INFINITY_SIGNATURE))
    }

    /// Adds a signature. Fails, leaving the aggregate unchanged, if either is not a point of
    /// the curve (only possible for received bytes). Subgroup membership is not checked
    /// here: the sum is checked as a whole when it enters a pairing (see `lazy`), so the
    /// caller should add only signatures it verified, alone or within an aggregate.
    pub fn add(&mut self, sig: &Signature) -> Result<(), Error> {
        self.add_all([sig])
    }

    /// Adds signatures, like [`AggregateSignature::add`] one by one but with one conversion
    /// of the sum (a field inversion) instead of one per signature. Fails, leaving the
    /// aggregate unchanged, if any is not a point of the curve.
    pub fn add_all<'a>(
        &mut self,
        sigs: impl IntoIterator<Item = &'a Signature>,
    ) -> Result<(), Error> {
        self.0 = sum(&self.0, sigs)?;
        Ok(())
    }

    /// The aggregate of `sigs` ([`Error::InvalidPoint`] if one of them is not a point of the
    /// curve). The parts are not subgroup-checked: the aggregate is, when it enters a
    /// pairing (one check instead of one per signature).
    pub fn aggregate<'a>(sigs: impl IntoIterator<Item = &'a Signature>) -> Result<Self, Error> {
        let mut sigs = sigs.into_iter();
        let Some(first) = sigs.next() else {
            return Ok(Self::identity());
        };
        Ok(Self(sum(&first.0, sigs)?))
    }

    /// The point, validated ([`Error::InvalidPoint`] if the bytes are not one).
    pub(crate) fn blst(&self) -> Result<&min_sig::Signature, Error> {
        self.0.point()
    }

    /// The compressed encoding.
    pub fn as_bytes(&self) -> &[u8; 48] {
        self.0.bytes()
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
        pairing::verify(self.blst()?, SIG_DST, msgs.into_iter().zip(&pks))
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
        pairing::verify(self.blst()?, SIG_DST, [(msg, &pk)])
    }
}

/// `first` plus `rest`, with one conversion of the sum; subgroup-checked (as far as that is
/// known) only if every part is.
fn sum<'a>(first: &LazyG1, rest: impl IntoIterator<Item = &'a Signature>) -> Result<LazyG1, Error> {
    let mut checked = first.is_checked();
    let mut agg = min_sig::AggregateSignature::from_signature(first.curve_point()?);
    for sig in rest {
        checked &= sig.0.is_checked();
        agg.add_signature(sig.0.curve_point()?, false)
            .map_err(|_| Error::InvalidPoint)?;
    }
    Ok(LazyG1::from_sum(agg.to_signature(), checked))
}

impl ByteFmt for AggregateSignature {
    /// 48 bytes compressed (checked on first use) or 96 uncompressed (checked now).
    fn decode(bytes: &[u8]) -> Result<Self, ByteFmtError> {
        Ok(Self(decode_lazy(bytes, "aggregate signature")?))
    }
    fn encode(&self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }
}

text_fmt_with_prefix!(
    AggregateSignature,
    "validator:aggregate_signature:bls12_381:"
);
