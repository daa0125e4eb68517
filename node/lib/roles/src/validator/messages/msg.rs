//! What validators sign: the `Msg` wrapper, its hash, and signed messages (protocol.md 3.1).
//!
//! A validator always signs `keccak256(canonical(validator.Msg))`, where `Msg` wraps a
//! consensus message, a session id or a network address.

use anyhow::Context as _;
use prost::Message as _;
use zksync_consensus_crypto::{bls12_381, keccak256::Keccak256};
use zksync_consensus_utils::enum_util::{BadVariantError, Variant};
use zksync_protobuf::{ProtoFmt, read_required, required};

use super::{LeaderProposal, NetAddress, ReplicaCommit, ReplicaNewView, ReplicaTimeout, View};
use crate::{
    node::SessionId,
    proto::zksync::roles::validator as proto,
    validator::{PublicKey, Signature},
};

/// A ChonkyBFT (protocol version 2) message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConsensusMsg {
    /// A leader's proposal.
    LeaderProposal(LeaderProposal),
    /// A commit vote.
    ReplicaCommit(ReplicaCommit),
    /// A new-view announcement.
    ReplicaNewView(ReplicaNewView),
    /// A timeout vote.
    ReplicaTimeout(ReplicaTimeout),
}

impl ConsensusMsg {
    /// The label used in metrics and in the inbound queue (one pending message per signer and
    /// label).
    pub fn label(&self) -> &'static str {
        match self {
            Self::LeaderProposal(_) => "LeaderProposalV2",
            Self::ReplicaCommit(_) => "ReplicaCommitV2",
            Self::ReplicaNewView(_) => "ReplicaNewViewV2",
            Self::ReplicaTimeout(_) => "ReplicaTimeoutV2",
        }
    }

    /// The view of the message.
    pub fn view(&self) -> View {
        match self {
            Self::LeaderProposal(m) => m.view(),
            Self::ReplicaCommit(m) => m.view,
            Self::ReplicaNewView(m) => m.view(),
            Self::ReplicaTimeout(m) => m.view,
        }
    }
}

impl ProtoFmt for ConsensusMsg {
    type Proto = proto::ConsensusMsg;
    fn read(r: &Self::Proto) -> anyhow::Result<Self> {
        use proto::{chonky_msg_v2::T as V2, consensus_msg::T};
        let T::V2(v2) = required(&r.t)?;
        Ok(match required(&v2.t).context("v2")? {
            V2::LeaderProposal(m) => {
                Self::LeaderProposal(ProtoFmt::read(m).context("v2: leader_proposal")?)
            }
            V2::ReplicaCommit(m) => {
                Self::ReplicaCommit(ProtoFmt::read(m).context("v2: replica_commit")?)
            }
            V2::ReplicaNewView(m) => {
                Self::ReplicaNewView(ProtoFmt::read(m).context("v2: replica_new_view")?)
            }
            V2::ReplicaTimeout(m) => {
                Self::ReplicaTimeout(ProtoFmt::read(m).context("v2: replica_timeout")?)
            }
        })
    }
    fn build(&self) -> Self::Proto {
        wrap_v2(match self {
            Self::LeaderProposal(m) => proto::chonky_msg_v2::T::LeaderProposal(m.build()),
            Self::ReplicaCommit(m) => proto::chonky_msg_v2::T::ReplicaCommit(m.build()),
            Self::ReplicaNewView(m) => proto::chonky_msg_v2::T::ReplicaNewView(m.build()),
            Self::ReplicaTimeout(m) => proto::chonky_msg_v2::T::ReplicaTimeout(m.build()),
        })
    }
}

fn wrap_v2(t: proto::chonky_msg_v2::T) -> proto::ConsensusMsg {
    proto::ConsensusMsg {
        t: Some(proto::consensus_msg::T::V2(proto::ChonkyMsgV2 {
            t: Some(t),
        })),
    }
}

/// Anything a validator signs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Msg {
    /// A consensus message.
    Consensus(ConsensusMsg),
    /// A session id (consensus network handshake).
    SessionId(SessionId),
    /// A network address (validator address discovery).
    NetAddress(NetAddress),
}

impl Msg {
    /// The hash that is signed.
    pub fn hash(&self) -> MsgHash {
        hash_proto(&self.build())
    }
}

fn hash_proto(msg: &proto::Msg) -> MsgHash {
    MsgHash(Keccak256::new(&msg.encode_to_vec()))
}

impl ProtoFmt for Msg {
    type Proto = proto::Msg;
    fn read(r: &Self::Proto) -> anyhow::Result<Self> {
        use proto::msg::T;
        Ok(match required(&r.t)? {
            T::Consensus(m) => Self::Consensus(ProtoFmt::read(m).context("consensus")?),
            T::SessionId(b) => Self::SessionId(SessionId(b.clone())),
            T::NetAddress(m) => Self::NetAddress(ProtoFmt::read(m).context("net_address")?),
        })
    }
    fn build(&self) -> Self::Proto {
        use proto::msg::T;
        proto::Msg {
            t: Some(match self {
                Self::Consensus(m) => T::Consensus(m.build()),
                Self::SessionId(s) => T::SessionId(s.0.clone()),
                Self::NetAddress(a) => T::NetAddress(a.build()),
            }),
        }
    }
}

/// A type that validators sign: a variant of [`Msg`] that can be hashed without building a
/// `Msg` first.
pub trait Signable: Variant<Msg> + Clone {
    /// The `Msg` wrapping `self`, as a protobuf struct.
    fn msg_proto(&self) -> proto::Msg;
    /// The hash that is signed.
    fn msg_hash(&self) -> MsgHash {
        hash_proto(&self.msg_proto())
    }
}

impl Variant<Msg> for ConsensusMsg {
    fn insert(self) -> Msg {
        Msg::Consensus(self)
    }
    fn extract(m: Msg) -> Result<Self, BadVariantError> {
        match m {
            Msg::Consensus(m) => Ok(m),
            _ => Err(BadVariantError {
                expected: "consensus",
            }),
        }
    }
}

impl Signable for ConsensusMsg {
    fn msg_proto(&self) -> proto::Msg {
        proto::Msg {
            t: Some(proto::msg::T::Consensus(self.build())),
        }
    }
}

impl Variant<Msg> for SessionId {
    fn insert(self) -> Msg {
        Msg::SessionId(self)
    }
    fn extract(m: Msg) -> Result<Self, BadVariantError> {
        match m {
            Msg::SessionId(s) => Ok(s),
            _ => Err(BadVariantError {
                expected: "session_id",
            }),
        }
    }
}

impl Signable for SessionId {
    fn msg_proto(&self) -> proto::Msg {
        proto::Msg {
            t: Some(proto::msg::T::SessionId(self.0.clone())),
        }
    }
}

impl Variant<Msg> for NetAddress {
    fn insert(self) -> Msg {
        Msg::NetAddress(self)
    }
    fn extract(m: Msg) -> Result<Self, BadVariantError> {
        match m {
            Msg::NetAddress(a) => Ok(a),
            _ => Err(BadVariantError {
                expected: "net_address",
            }),
        }
    }
}

impl Signable for NetAddress {
    fn msg_proto(&self) -> proto::Msg {
        proto::Msg {
            t: Some(proto::msg::T::NetAddress(self.build())),
        }
    }
}

/// Implements `Variant<Msg>` and `Signable` for a consensus message type.
macro_rules! consensus_variant {
    ($t:ident, $proto:ident) => {
        impl Variant<Msg> for $t {
            fn insert(self) -> Msg {
                Msg::Consensus(ConsensusMsg::$t(self))
            }
            fn extract(m: Msg) -> Result<Self, BadVariantError> {
                match m {
                    Msg::Consensus(ConsensusMsg::$t(m)) => Ok(m),
                    _ => Err(BadVariantError {
                        expected: stringify!($t),
                    }),
                }
            }
        }

        impl Signable for $t {
            fn msg_proto(&self) -> proto::Msg {
                proto::Msg {
                    t: Some(proto::msg::T::Consensus(wrap_v2(
                        proto::chonky_msg_v2::T::$proto(self.build()),
                    ))),
                }
            }
        }
    };
}
consensus_variant!(LeaderProposal, LeaderProposal);
consensus_variant!(ReplicaCommit, ReplicaCommit);
consensus_variant!(ReplicaNewView, ReplicaNewView);
consensus_variant!(ReplicaTimeout, ReplicaTimeout);

super::hash::keccak_hash_type!(
    /// The hash of a [`Msg`]: what a validator signs.
    MsgHash,
    "validator_msg:keccak256:",
    proto::MsgHash
);

/// A message signed by a validator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signed<V> {
    /// The message.
    pub msg: V,
    /// The signer.
    pub key: PublicKey,
    /// Signature over `msg.msg_hash()`.
    pub sig: Signature,
}

impl<V: Signable> Signed<V> {
    /// Checks the signature.
    pub fn verify(&self) -> Result<(), bls12_381::Error> {
        self.sig.verify_hash(&self.msg.msg_hash(), &self.key)
    }

    /// The same signed message as a more general variant (e.g. a commit vote as a
    /// `ConsensusMsg`).
    pub fn cast<U: Signable>(self) -> Result<Signed<U>, BadVariantError> {
        Ok(Signed {
            msg: U::extract(self.msg.insert())?,
            key: self.key,
            sig: self.sig,
        })
    }
}

impl<V: Signable> ProtoFmt for Signed<V> {
    type Proto = proto::Signed;
    fn read(r: &Self::Proto) -> anyhow::Result<Self> {
        let msg: Msg = read_required(&r.msg).context("msg")?;
        Ok(Self {
            msg: V::extract(msg).context("msg")?,
            key: read_required(&r.key).context("key")?,
            sig: read_required(&r.sig).context("sig")?,
        })
    }
    fn build(&self) -> Self::Proto {
        proto::Signed {
            msg: Some(self.msg.msg_proto()),
            key: Some(self.key.build()),
            sig: Some(self.sig.build()),
        }
    }
}
