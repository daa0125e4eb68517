//! Genesis: the parameters that identify a chain (protocol.md 2.13-2.14).

use std::fmt;

use anyhow::{Context as _, bail};
use zksync_consensus_crypto::{ByteFmt, Text, TextFmt, TextFmtError, keccak256::Keccak256};
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

/// The hash of a genesis.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct GenesisHash(pub Keccak256);

impl fmt::Debug for GenesisHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&TextFmt::encode(self))
    }
}

impl TextFmt for GenesisHash {
    fn decode(text: Text<'_>) -> Result<Self, TextFmtError> {
        text.strip("genesis_hash:keccak256:")?
            .decode_hex()
            .map(Self)
    }
    fn encode(&self) -> String {
        format!("genesis_hash:keccak256:{}", hex::encode(self.0.as_bytes()))
    }
}

impl ProtoFmt for GenesisHash {
    type Proto = proto::GenesisHash;
    fn read(r: &Self::Proto) -> anyhow::Result<Self> {
        let bytes = required(&r.keccak256).context("keccak256")?;
        Ok(Self(ByteFmt::decode(bytes).context("keccak256")?))
    }
    fn build(&self) -> Self::Proto {
        proto::GenesisHash {
            keccak256: Some(self.0.as_bytes().to_vec()),
        }
    }
}
