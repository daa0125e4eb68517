//! BLS12-381 in the "min-sig" variant (protocol.md 3.1): signatures are G1 points (48 bytes
//! compressed), public keys G2 points (96 bytes compressed); built on `blst`.
//!
//! Validity is checked once per value: decoded public keys at decoding (in the subgroup, not
//! the identity), signatures and aggregates when first used (in the subgroup; the identity is
//! allowed, as in the reference; see `lazy`: received signatures are mostly dropped unused).
//! Sums of valid points stay in the subgroup, so verification skips the repeated group checks
//! that `blst` would otherwise do on every call (and runs on the calling thread, see
//! `pairing`); the one property a sum can lose, not being the identity, is checked explicitly
//! for summed keys.
//! Validating a public key is a deterministic function of its bytes and validators' keys repeat
//! in every message, so a compressed key is validated once per process: later decodings of the
//! same bytes take it from a bounded cache of valid keys (`key_cache`).
//!
//! Decoding accepts the compressed and the uncompressed point forms, as the reference does;
//! encoding, equality, ordering and hashing always use the compressed form.

use std::{cmp::Ordering, fmt, hash};

use blst::{BLST_ERROR, min_sig};
use rand::Rng;

use crate::{ByteFmt, ByteFmtError, fmt::text_fmt_with_prefix};
use lazy::LazyG1;

mod aggregate;
mod batch;
mod bisect;
mod key_cache;
mod lazy;
mod pairing;
#[cfg(test)]
mod tests;

pub use aggregate::AggregateSignature;
pub use batch::BatchVerifier;
pub use bisect::find_invalid_same_message;

/// Domain separation tag of signatures (the "G2" in it is historical: messages hash to G1).
pub const SIG_DST: &[u8] = b"MATTER_LABS_CONSENSUS_BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";
/// Domain separation tag of proofs of possession.
pub const POP_DST: &[u8] = b"MATTER_LABS_CONSENSUS_BLS_POP_BLS12381G2_XMD:SHA-256_SSWU_RO_";

/// Compressed encoding of the identity of G1 (the empty aggregate signature).
pub const INFINITY_SIGNATURE: [u8; 48] = {
    let mut b = [0u8; 48];
    b[0] = 0xc0;
    b
};
const INFINITY_PUBLIC_KEY: [u8; 96] = {
    let mut b = [0u8; 96];
    b[0] = 0xc0;
    b
};

/// A verification failure.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The signature does not verify.
    #[error("signature verification failed")]
    BadSignature,
    /// Public keys signing the same message sum to the identity; rejected like the reference.
    #[error("aggregated public key is the identity")]
    IdentityPublicKey,
    /// Nothing to verify (an aggregate over no message is rejected).
    #[error("empty signature set")]
    Empty,
    /// The signature's bytes do not encode a point of the subgroup (found when it is first
    /// used: received signatures are decoded lazily).
    #[error("signature is not a valid point of the subgroup")]
    InvalidPoint,
}

fn bls_err(what: &'static str, err: BLST_ERROR) -> ByteFmtError {
    ByteFmtError::Invalid {
        what,
        reason: format!("{err:?}"),
    }
}

fn check(err: BLST_ERROR) -> Result<(), Error> {
    match err {
        BLST_ERROR::BLST_SUCCESS => Ok(()),
        BLST_ERROR::BLST_PK_IS_INFINITY => Err(Error::IdentityPublicKey),
        _ => Err(Error::BadSignature),
    }
}

/// A validator secret key: a non-zero scalar below the group order. Zeroized on drop.
#[derive(Clone)]
pub struct SecretKey(min_sig::SecretKey);

impl SecretKey {
    /// A fresh key from 32 bytes of `rng` (`key_gen_v4_5`, empty salt and info, as the
    /// reference's key tool does).
    pub fn generate(rng: &mut (impl Rng + ?Sized)) -> Self {
        let mut ikm = zeroize::Zeroizing::new([0u8; 32]);
        rng.fill_bytes(&mut ikm[..]);
        // Cannot fail: the input keying material has the required 32 bytes.
        Self(min_sig::SecretKey::key_gen_v4_5(&ikm[..], &[], &[]).expect("32-byte ikm"))
    }

    /// The public key.
    pub fn public(&self) -> PublicKey {
        PublicKey::from_blst(self.0.sk_to_pk())
    }

    /// Signs `msg` (in the protocol: always a 32-byte message hash).
    pub fn sign(&self, msg: &[u8]) -> Signature {
        Signature::from_blst(self.0.sign(msg, SIG_DST, &[]))
    }

    /// A proof of possession: the key's signature over its own compressed public key.
    pub fn sign_pop(&self) -> ProofOfPossession {
        let pk = self.public();
        ProofOfPossession(Signature::from_blst(self.0.sign(&pk.bytes, POP_DST, &[])))
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("bls12_381::SecretKey")
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
    /// 32 bytes, big-endian; zero and values not below the group order are rejected.
    fn decode(bytes: &[u8]) -> Result<Self, ByteFmtError> {
        let bytes = zeroize::Zeroizing::new(crate::fmt::fixed::<32>(bytes, "32")?);
        Ok(Self(
            min_sig::SecretKey::from_bytes(&bytes[..]).map_err(|e| bls_err("secret key", e))?,
        ))
    }
    fn encode(&self) -> Vec<u8> {
        self.0.to_bytes().to_vec()
    }
}

text_fmt_with_prefix!(SecretKey, "validator:secret:bls12_381:");

/// A validator public key: a G2 point in the subgroup, not the identity.
#[derive(Clone)]
pub struct PublicKey {
    pk: min_sig::PublicKey,
    bytes: [u8; 96],
}

impl PublicKey {
    fn from_blst(pk: min_sig::PublicKey) -> Self {
        Self {
            bytes: pk.compress(),
            pk,
        }
    }

    /// The compressed encoding.
    pub fn as_bytes(&self) -> &[u8; 96] {
        &self.bytes
    }

    /// Checks a proof of possession of this key.
    pub fn verify_pop(&self, pop: &ProofOfPossession) -> Result<(), Error> {
        pairing::verify(pop.0.blst()?, POP_DST, [(&self.bytes[..], &self.pk)])
    }
}

/// Sums public keys; `None` if there are none. Rejects a sum that is the identity.
pub(crate) fn sum_public_keys<'a>(
    pks: impl IntoIterator<Item = &'a PublicKey>,
) -> Result<min_sig::PublicKey, Error> {
    let mut pks = pks.into_iter();
    let first = pks.next().ok_or(Error::Empty)?;
    let mut agg = min_sig::AggregatePublicKey::from_public_key(&first.pk);
    for pk in pks {
        // Inputs are valid keys; no group check needed.
        agg.add_public_key(&pk.pk, false)
            .map_err(|_| Error::BadSignature)?;
    }
    let sum = agg.to_public_key();
    if sum.compress() == INFINITY_PUBLIC_KEY {
        return Err(Error::IdentityPublicKey);
    }
    Ok(sum)
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

impl Eq for PublicKey {}

impl PartialOrd for PublicKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Lexicographic order of the compressed bytes (the schedule order of protocol.md 2.5).
impl Ord for PublicKey {
    fn cmp(&self, other: &Self) -> Ordering {
        self.bytes.cmp(&other.bytes)
    }
}

impl hash::Hash for PublicKey {
    fn hash<H: hash::Hasher>(&self, state: &mut H) {
        self.bytes.hash(state);
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bls12_381:{}", hex::encode(&self.bytes[..8]))
    }
}

impl PublicKey {
    /// Decodes and validates `bytes` like [`ByteFmt::decode`], without the process-wide cache
    /// of validated keys (neither consulted nor filled): for benchmarks, and for callers that
    /// decode a key only once.
    pub fn decode_uncached(bytes: &[u8]) -> Result<Self, ByteFmtError> {
        if bytes.len() != 96 && bytes.len() != 192 {
            return Err(ByteFmtError::Length {
                expected: "96 or 192",
                got: bytes.len(),
            });
        }
        let pk = min_sig::PublicKey::key_validate(bytes).map_err(|e| bls_err("public key", e))?;
        Ok(Self::from_blst(pk))
    }
}

impl ByteFmt for PublicKey {
    /// 96 bytes compressed or 192 uncompressed; must be in the subgroup and not the identity.
    ///
    /// Validation is a deterministic function of the bytes, and the same validator keys come
    /// in every consensus message: a compressed key validated before is taken from a bounded
    /// process-wide cache instead (see `key_cache`; only valid keys are cached).
    fn decode(bytes: &[u8]) -> Result<Self, ByteFmtError> {
        let Ok(compressed) = <[u8; 96]>::try_from(bytes) else {
            return Self::decode_uncached(bytes);
        };
        if let Some(pk) = key_cache::with(|c| c.get(&compressed)) {
            return Ok(pk);
        }
        let pk = Self::decode_uncached(bytes)?;
        key_cache::with(|c| c.insert(compressed, pk.clone()));
        Ok(pk)
    }
    fn encode(&self) -> Vec<u8> {
        self.bytes.to_vec()
    }
}

text_fmt_with_prefix!(PublicKey, "validator:public:bls12_381:");

/// A signature: a G1 point in the subgroup. A received signature is decoded and validated
/// on first use (see `lazy`): until then it is its 48 compressed bytes.
#[derive(Clone)]
pub struct Signature(LazyG1);

impl Signature {
    fn from_blst(sig: min_sig::Signature) -> Self {
        Self(LazyG1::from_point(sig))
    }

    /// The point, validated ([`Error::InvalidPoint`] if the bytes are not one).
    pub(crate) fn blst(&self) -> Result<&min_sig::Signature, Error> {
        self.0.point()
    }

    /// Checks the signature of `pk` over `msg`.
    pub fn verify(&self, msg: &[u8], pk: &PublicKey) -> Result<(), Error> {
        pairing::verify(self.blst()?, SIG_DST, [(msg, &pk.pk)])
    }

    /// The compressed encoding.
    pub fn as_bytes(&self) -> &[u8; 48] {
        self.0.bytes()
    }
}

/// Decodes a signature or an aggregate: 48 compressed bytes are kept for a later check (see
/// `lazy`); the 96-byte uncompressed form is validated now and kept compressed.
pub(crate) fn decode_lazy(bytes: &[u8], what: &'static str) -> Result<LazyG1, ByteFmtError> {
    match <[u8; 48]>::try_from(bytes) {
        Ok(compressed) => Ok(LazyG1::from_bytes(compressed)),
        Err(_) => Ok(LazyG1::from_point(decode_signature(bytes, what)?)),
    }
}

pub(crate) fn decode_signature(
    bytes: &[u8],
    what: &'static str,
) -> Result<min_sig::Signature, ByteFmtError> {
    if bytes.len() != 48 && bytes.len() != 96 {
        return Err(ByteFmtError::Length {
            expected: "48 or 96",
            got: bytes.len(),
        });
    }
    // Subgroup check; the identity is allowed (reference: `sig_validate(bytes, false)`).
    min_sig::Signature::sig_validate(bytes, false).map_err(|e| bls_err(what, e))
}

impl ByteFmt for Signature {
    /// 48 bytes compressed (checked on first use) or 96 uncompressed (checked now).
    fn decode(bytes: &[u8]) -> Result<Self, ByteFmtError> {
        Ok(Self(decode_lazy(bytes, "signature")?))
    }
    fn encode(&self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }
}

text_fmt_with_prefix!(Signature, "validator:signature:bls12_381:");

macro_rules! bytes_identity {
    ($t:ty, $($field:tt)+) => {
        impl PartialEq for $t {
            fn eq(&self, other: &Self) -> bool {
                self.$($field)+ == other.$($field)+
            }
        }
        impl Eq for $t {}
        impl PartialOrd for $t {
            fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
                Some(self.cmp(other))
            }
        }
        impl Ord for $t {
            fn cmp(&self, other: &Self) -> Ordering {
                self.$($field)+.cmp(&other.$($field)+)
            }
        }
        impl hash::Hash for $t {
            fn hash<H: hash::Hasher>(&self, state: &mut H) {
                self.$($field)+.hash(state);
            }
        }
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}:{}", stringify!($t), hex::encode(&self.$($field)+[..8]))
            }
        }
    };
}
pub(crate) use bytes_identity;

bytes_identity!(Signature, as_bytes());

/// A proof of possession of a secret key (a signature under [`POP_DST`]).
#[derive(Clone)]
pub struct ProofOfPossession(Signature);

bytes_identity!(ProofOfPossession, 0.as_bytes());

impl ByteFmt for ProofOfPossession {
    fn decode(bytes: &[u8]) -> Result<Self, ByteFmtError> {
        Ok(Self(Signature::from_blst(decode_signature(
            bytes,
            "proof of possession",
        )?)))
    }
    fn encode(&self) -> Vec<u8> {
        self.0.as_bytes().to_vec()
    }
}

text_fmt_with_prefix!(ProofOfPossession, "validator:pop:bls12_381:");
