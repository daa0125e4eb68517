//! Genesis: the parameters that identify a chain (protocol.md 2.13-2.14).

use anyhow::{Context as _, bail};
use zksync_consensus_crypto::keccak256::Keccak256;
use zksync_protobuf::{ProtoFmt, read_optional, required};

use super::{BlockNumber, Schedule};
use crate::proto::zksync::roles::validator as proto;

/// The chain id of the L2 chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChainId(pub u64);

/// Increases at every hard fork of the consensus chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ForkNumber(pub u64);

/// Version of the consensus protocol. Only version 2 (ChonkyBFT) exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProtocolVersion(pub u32);

impl ProtocolVersion {
    /// The version this implementation speaks.
    pub const CURRENT: Self = Self(2);
}

/// The parameters of a chain. Its hash identifies the chain in every message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Genesis {
    /// The L2 chain id.
    pub chain_id: ChainId,
    /// The fork number.
    pub fork_number: ForkNumber,
    /// The first block finalized by consensus (earlier blocks are pre-genesis).
    pub first_block: BlockNumber,
    /// Always [`ProtocolVersion::CURRENT`]; decoding rejects others.
    pub protocol_version: ProtocolVersion,
    /// The static validator schedule, or `None` when schedules come from the execution layer
    /// per epoch.
    pub validators_schedule: Option<Schedule>,
}

impl Genesis {
    /// The hash: Keccak-256 of the canonical encoding.
    pub fn hash(&self) -> GenesisHash {
        GenesisHash(Keccak256::new(&zksync_protobuf::encode(self)))
    }
}

impl ProtoFmt for Genesis {
    type Proto = proto::Genesis;
    fn read(r: &Self::Proto) -> anyhow::Result<Self> {
        let protocol_version =
            ProtocolVersion(*required(&r.protocol_version).context("protocol_version")?);
        if protocol_version != ProtocolVersion::CURRENT {
            bail!(
                "protocol_version: {} is not supported (only {})",
                protocol_version.0,
                ProtocolVersion::CURRENT.0
            );
        }
        Ok(Self {
            chain_id: ChainId(*required(&r.chain_id).context("chain_id")?),
            fork_number: ForkNumber(*required(&r.fork_number).context("fork_number")?),
            first_block: BlockNumber(*required(&r.first_block).context("first_block")?),
            protocol_version,
            validators_schedule: read_optional(&r.validators_schedule)
                .context("validators_schedule")?,
        })
    }
    fn build(&self) -> Self::Proto {
        proto::Genesis {
            chain_id: Some(self.chain_id.0),
            fork_number: Some(self.fork_number.0),
            first_block: Some(self.first_block.0),
            protocol_version: Some(self.protocol_version.0),
            validators_schedule: self.validators_schedule.as_ref().map(ProtoFmt::build),
        }
    }
}

super::hash::keccak_hash_type!(
    /// The hash of a genesis: identifies the chain in every message.
    GenesisHash,
    "genesis_hash:keccak256:",
    proto::GenesisHash
);
