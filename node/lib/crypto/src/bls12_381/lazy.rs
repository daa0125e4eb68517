//! Signatures decoded on first use.
//!
//! Decompressing a G1 point costs a square root and its subgroup check a few scalar
//! multiplications: together about as much as a third of a verification. A consensus node
//! receives many signed messages it drops unverified (old views, a certificate it already
//! holds), so a received signature keeps its 48 compressed bytes and is decoded and
//! validated only when something needs the point (verification or aggregation), once per
//! value. Invalid bytes then show as [`Error::InvalidPoint`] from that operation instead of
//! as a decoding error; the outcome for the message is the same (rejected), only later.
//!
//! The two halves of the check are cached apart: decompression (a point of the curve) is all
//! that adding points needs, and the subgroup check (three quarters of the cost) is made
//! only on what enters a pairing. A quorum of votes is aggregated from decompressed points
//! and only the aggregate is subgroup-checked: one check instead of one per vote. That is
//! sound because an aggregate that is in the subgroup and passes the pairing check is a
//! valid aggregate signature of the signers, whatever the parts were.

use std::sync::OnceLock;

use blst::min_sig;

use super::Error;

/// A G1 point (a signature or an aggregate) as 48 compressed bytes, validated on first use.
#[derive(Clone)]
pub(crate) struct LazyG1 {
    bytes: [u8; 48],
    /// The decompressed point; `Some(None)`: the bytes are not a point of the curve.
    curve: OnceLock<Option<min_sig::Signature>>,
    /// Whether that point is in the subgroup, once checked.
    in_group: OnceLock<bool>,
}

impl LazyG1 {
    /// A point known to be valid (made locally, or decoded from the uncompressed form).
    pub(crate) fn from_point(p: min_sig::Signature) -> Self {
        Self {
            bytes: p.compress(),
            curve: OnceLock::from(Some(p)),
            in_group: OnceLock::from(true),
        }
    }

    /// A point of the curve whose subgroup membership is not known (a sum of unchecked
    /// points); checked on first use in a pairing, like received bytes.
    pub(crate) fn from_curve_point(p: min_sig::Signature) -> Self {
        Self {
            bytes: p.compress(),
            curve: OnceLock::from(Some(p)),
            in_group: OnceLock::new(),
        }
    }

    /// A sum of points: known to be in the subgroup if all its parts were (`checked`).
    pub(crate) fn from_sum(p: min_sig::Signature, checked: bool) -> Self {
        if checked {
            Self::from_point(p)
        } else {
            Self::from_curve_point(p)
        }
    }

    /// Whether the point is known to be in the subgroup.
    pub(crate) fn is_checked(&self) -> bool {
        self.in_group.get() == Some(&true)
    }

    /// Compressed bytes, not checked yet.
    pub(crate) fn from_bytes(bytes: [u8; 48]) -> Self {
        Self {
            bytes,
            curve: OnceLock::new(),
            in_group: OnceLock::new(),
        }
    }

    /// The compressed bytes, as received or made.
    pub(crate) fn bytes(&self) -> &[u8; 48] {
        &self.bytes
    }

    /// The point, decompressed on the first call of this or [`LazyG1::point`], without the
    /// subgroup check: for additions only, never for a pairing.
    pub(crate) fn curve_point(&self) -> Result<&min_sig::Signature, Error> {
        self.curve
            .get_or_init(|| min_sig::Signature::uncompress(&self.bytes).ok())
            .as_ref()
            .ok_or(Error::InvalidPoint)
    }

    /// The point, decompressed and subgroup-checked on the first call (the identity is
    /// allowed, as in the reference: the same check as `sig_validate(bytes, false)`).
    pub(crate) fn point(&self) -> Result<&min_sig::Signature, Error> {
        let p = self.curve_point()?;
        if *self.in_group.get_or_init(|| p.subgroup_check()) {
            Ok(p)
        } else {
            Err(Error::InvalidPoint)
        }
    }
}
