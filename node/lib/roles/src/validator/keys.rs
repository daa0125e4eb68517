//! Validator keys: BLS12-381 min-sig (protocol.md 3.1), wrapped so that the protocol's text and
//! protobuf formats can be implemented on them.

use anyhow::Context as _;
use zksync_consensus_crypto::{ByteFmt, Text, TextFmt, TextFmtError, bls12_381};
use zksync_protobuf::{ProtoFmt, required};

use super::messages::{Msg, MsgHash, Signed};
use crate::proto::zksync::roles::validator as proto;
use zksync_consensus_utils::enum_util::Variant;

/// A validator's secret key. Zeroized on drop; `Debug` shows the public key only.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SecretKey(pub bls12_381::SecretKey);

/// A validator's public key. Ordered by compressed bytes (the schedule order).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct PublicKey(pub bls12_381::PublicKey);

/// A validator's signature.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Signature(pub bls12_381::Signature);

/// An aggregate of validator signatures.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct AggregateSignature(pub bls12_381::AggregateSignature);

/// A proof of possession of a validator key (for on-chain registration).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct ProofOfPossession(pub bls12_381::ProofOfPossession);

impl SecretKey {
    /// A fresh key.
    pub fn generate(rng: &mut (impl rand::Rng + ?Sized)) -> Self {
        Self(bls12_381::SecretKey::generate(rng))
    }

    /// The public key.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.public())
    }

    /// Signs the hash of a message.
    pub fn sign_hash(&self, hash: &MsgHash) -> Signature {
        Signature(self.0.sign(hash.0.as_bytes()))
    }

    /// Signs a message.
    pub fn sign_msg<V: Variant<Msg> + Clone>(&self, msg: V) -> Signed<V> {
        let sig = self.sign_hash(&msg.clone().insert().hash());
        Signed {
            msg,
            key: self.public(),
            sig,
        }
    }

    /// A proof of possession of this key.
    pub fn sign_pop(&self) -> ProofOfPossession {
        ProofOfPossession(self.0.sign_pop())
    }
}

impl PublicKey {
    /// Checks a proof of possession of this key.
    pub fn verify_pop(&self, pop: &ProofOfPossession) -> anyhow::Result<()> {
        Ok(self.0.verify_pop(&pop.0)?)
    }
}

impl Signature {
    /// Checks this signature by `key` over `hash`.
    pub fn verify_hash(&self, hash: &MsgHash, key: &PublicKey) -> Result<(), bls12_381::Error> {
        self.0.verify(hash.0.as_bytes(), &key.0)
    }
}

/// Implements `TextFmt` on a newtype by delegating to the wrapped type.
macro_rules! delegate_text_fmt {
    ($($t:ty),*) => {$(
        impl TextFmt for $t {
            fn decode(text: Text<'_>) -> Result<Self, TextFmtError> {
                TextFmt::decode(text).map(Self)
            }
            fn encode(&self) -> String {
                TextFmt::encode(&self.0)
            }
        }
    )*};
}
delegate_text_fmt!(
    SecretKey,
    PublicKey,
    Signature,
    AggregateSignature,
    ProofOfPossession
);

/// Implements `ProtoFmt` for a key type stored as bytes in the `bn254` field (a historical name:
/// the content is BLS12-381).
macro_rules! bytes_proto_fmt {
    ($t:ident) => {
        impl ProtoFmt for $t {
            type Proto = proto::$t;
            fn read(r: &Self::Proto) -> anyhow::Result<Self> {
                let bytes = required(&r.bn254).context("bn254")?;
                Ok(Self(ByteFmt::decode(bytes).context("bn254")?))
            }
            fn build(&self) -> Self::Proto {
                proto::$t {
                    bn254: Some(ByteFmt::encode(&self.0)),
                }
            }
        }
    };
}
bytes_proto_fmt!(PublicKey);
bytes_proto_fmt!(Signature);
bytes_proto_fmt!(AggregateSignature);
