//! Signatures decoded on first use.
//!
//! Decompressing a G1 point costs a square root and its subgroup check a few scalar
//! multiplications: together about as much as a third of a verification. A consensus node
//! receives many signed messages it drops unverified (old views, a certificate it already
//! holds), so a received signature keeps its 48 compressed bytes and is decoded and
//! validated only when something needs the point (verification or aggregation), once per
//! value. Invalid bytes then show as [`Error::InvalidPoint`] from that operation instead of
//! as a decoding error; the outcome for the message is the same (rejected), only later.

use std::sync::OnceLock;

use blst::min_sig;

use super::Error;

/// A G1 point (a signature or an aggregate) as 48 compressed bytes, validated on first use.
#[derive(Clone)]
pub(crate) struct LazyG1 {
    bytes: [u8; 48],
    /// `Some(None)`: the bytes were found not to encode a point of the subgroup.
    point: OnceLock<Option<min_sig::Signature>>,
}

impl LazyG1 {
    /// A point known to be valid (made locally, or decoded from the uncompressed form).
    pub(crate) fn from_point(p: min_sig::Signature) -> Self {
        Self {
            bytes: p.compress(),
            point: OnceLock::from(Some(p)),
        }
    }

    /// Compressed bytes, not checked yet.
    pub(crate) fn from_bytes(bytes: [u8; 48]) -> Self {
        Self {
            bytes,
            point: OnceLock::new(),
        }
    }

    /// The compressed bytes, as received or made.
    pub(crate) fn bytes(&self) -> &[u8; 48] {
        &self.bytes
    }

    /// The point, decoded and subgroup-checked on the first call (the identity is allowed,
    /// as in the reference).
    pub(crate) fn point(&self) -> Result<&min_sig::Signature, Error> {
        self.point
            .get_or_init(|| min_sig::Signature::sig_validate(&self.bytes, false).ok())
            .as_ref()
            .ok_or(Error::InvalidPoint)
    }
}
