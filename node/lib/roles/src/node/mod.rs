//! The node role: the identity of a node in the network (ed25519). A node proves it holds its
//! key by signing the session id of each connection (protocol.md 5.4).

use anyhow::Context as _;
use zksync_consensus_crypto::{
    ByteFmt, Text, TextFmt, TextFmtError, ed25519, keccak256::Keccak256,
};
use zksync_protobuf::{ProtoFmt, read_required, required};

use crate::proto::zksync::roles::node as proto;

#[cfg(test)]
mod tests;

/// A node's secret key.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey(pub ed25519::SecretKey);

/// A node's public key: its identity.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PublicKey(pub ed25519::PublicKey);

/// A signature by a node key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature(pub ed25519::Signature);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::fmt::Debug for Signature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl SecretKey {
    /// A fresh key.
    pub fn generate(rng: &mut (impl rand::Rng + ?Sized)) -> Self {
        Self(ed25519::SecretKey::generate(rng))
    }

    /// The public key.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.public())
    }

    /// Signs a message (over the hash of its canonical encoding).
    pub fn sign_msg(&self, msg: Msg) -> Signed {
        let sig = Signature(self.0.sign(msg.hash().as_bytes()));
        Signed {
            msg,
            key: self.public(),
            sig,
        }
    }
}

impl TextFmt for SecretKey {
    fn decode(text: Text<'_>) -> Result<Self, TextFmtError> {
        TextFmt::decode(text).map(Self)
    }
    fn encode(&self) -> String {
        TextFmt::encode(&self.0)
    }
}

impl TextFmt for PublicKey {
    fn decode(text: Text<'_>) -> Result<Self, TextFmtError> {
        TextFmt::decode(text).map(Self)
    }
    fn encode(&self) -> String {
        TextFmt::encode(&self.0)
    }
}

impl ProtoFmt for PublicKey {
    type Proto = proto::PublicKey;
    fn read(r: &Self::Proto) -> anyhow::Result<Self> {
        let bytes = required(&r.ed25519).context("ed25519")?;
        Ok(Self(ByteFmt::decode(bytes).context("ed25519")?))
    }
    fn build(&self) -> Self::Proto {
        proto::PublicKey {
            ed25519: Some(ByteFmt::encode(&self.0)),
        }
    }
}

impl ProtoFmt for Signature {
    type Proto = proto::Signature;
    fn read(r: &Self::Proto) -> anyhow::Result<Self> {
        let bytes = required(&r.ed25519).context("ed25519")?;
        Ok(Self(ByteFmt::decode(bytes).context("ed25519")?))
    }
    fn build(&self) -> Self::Proto {
        proto::Signature {
            ed25519: Some(ByteFmt::encode(&self.0)),
        }
    }
}

/// A session id: bytes both ends of a connection derive from the encryption handshake.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionId(pub Vec<u8>);

/// A message a node signs. Only session ids exist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Msg {
    /// A session id, signed in the gossip handshake.
    SessionId(SessionId),
}

impl Msg {
    /// The hash that is signed: Keccak-256 of the canonical encoding.
    pub fn hash(&self) -> Keccak256 {
        Keccak256::new(&zksync_protobuf::encode(self))
    }
}

impl ProtoFmt for Msg {
    type Proto = proto::Msg;
    fn read(r: &Self::Proto) -> anyhow::Result<Self> {
        use proto::msg::T;
        match required(&r.t)? {
            T::SessionId(b) => Ok(Self::SessionId(SessionId(b.clone()))),
        }
    }
    fn build(&self) -> Self::Proto {
        use proto::msg::T;
        proto::Msg {
            t: Some(match self {
                Self::SessionId(s) => T::SessionId(s.0.clone()),
            }),
        }
    }
}

/// A message with a node's signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signed {
    /// The message.
    pub msg: Msg,
    /// The signer.
    pub key: PublicKey,
    /// Signature over `msg.hash()`.
    pub sig: Signature,
}

/// The node signature does not verify.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[error("invalid node signature")]
pub struct InvalidSignature;

impl Signed {
    /// Checks the signature (strict ed25519 verification).
    pub fn verify(&self) -> Result<(), InvalidSignature> {
        self.key
            .0
            .verify(self.msg.hash().as_bytes(), &self.sig.0)
            .map_err(|_| InvalidSignature)
    }
}

impl ProtoFmt for Signed {
    type Proto = proto::Signed;
    fn read(r: &Self::Proto) -> anyhow::Result<Self> {
        Ok(Self {
            msg: read_required(&r.msg).context("msg")?,
            key: read_required(&r.key).context("key")?,
            sig: read_required(&r.sig).context("sig")?,
        })
    }
    fn build(&self) -> Self::Proto {
        proto::Signed {
            msg: Some(self.msg.build()),
            key: Some(self.key.build()),
            sig: Some(self.sig.build()),
        }
    }
}
