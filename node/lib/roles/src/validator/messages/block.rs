//! Blocks and payloads (protocol.md 2.12).

use std::fmt;

use anyhow::Context as _;
use zksync_consensus_crypto::keccak256::Keccak256;
use zksync_protobuf::{ProtoFmt, read_required, required};

use super::{CommitQC, CommitQCVerifyError, EpochNumber, GenesisHash, Schedule};
use crate::proto::zksync::roles::validator as proto;

/// A block number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlockNumber(pub u64);

impl BlockNumber {
    /// The next number, `None` at `u64::MAX`.
    pub fn checked_next(self) -> Option<Self> {
        self.0.checked_add(1).map(Self)
    }

    /// The next number (saturating: `u64::MAX` blocks are never reached).
    pub fn next(self) -> Self {
        Self(self.0.saturating_add(1))
    }

    /// The previous number, if any.
    pub fn prev(self) -> Option<Self> {
        self.0.checked_sub(1).map(Self)
    }
}

impl fmt::Display for BlockNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The opaque content of a block, defined by the execution layer.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Payload(pub Vec<u8>);

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Payload({} bytes, {:?})", self.0.len(), self.hash())
    }
}

impl Payload {
    /// Keccak-256 of the payload bytes.
    pub fn hash(&self) -> PayloadHash {
        PayloadHash(Keccak256::new(&self.0))
    }

    /// Size in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

super::hash::keccak_hash_type!(
    /// The hash of a payload.
    PayloadHash,
    "payload:keccak256:",
    proto::PayloadHash
);

/// What validators vote on: a block number and the hash of its payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlockHeader {
    /// The block number.
    pub number: BlockNumber,
    /// The payload hash.
    pub payload: PayloadHash,
}

impl ProtoFmt for BlockHeader {
    type Proto = proto::BlockHeaderV2;
    fn read(r: &Self::Proto) -> anyhow::Result<Self> {
        Ok(Self {
            number: BlockNumber(*required(&r.number).context("number")?),
            payload: read_required(&r.payload).context("payload")?,
        })
    }
    fn build(&self) -> Self::Proto {
        proto::BlockHeaderV2 {
            number: Some(self.number.0),
            payload: Some(self.payload.build()),
        }
    }
}

/// A finalized block: a payload and the commit certificate that finalized it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FinalBlock {
    /// The payload.
    pub payload: Payload,
    /// The certificate; its header carries the block number and payload hash.
    pub justification: CommitQC,
}

/// A finalized block is invalid.
#[derive(thiserror::Error, Debug)]
pub enum BlockValidationError {
    /// The payload does not match the header's hash.
    #[error("payload hash mismatch: header has {header:?}, payload hashes to {payload:?}")]
    PayloadHash {
        /// Hash in the header.
        header: PayloadHash,
        /// Hash of the payload.
        payload: PayloadHash,
    },
    /// The certificate is invalid.
    #[error("invalid justification: {0}")]
    Justification(#[from] CommitQCVerifyError),
}

impl FinalBlock {
    /// The block's header.
    pub fn header(&self) -> &BlockHeader {
        self.justification.header()
    }

    /// The block number.
    pub fn number(&self) -> BlockNumber {
        self.header().number
    }

    /// Checks the payload hash, then the certificate against the schedule of `epoch`.
    pub fn verify(
        &self,
        genesis: GenesisHash,
        epoch: EpochNumber,
        schedule: &Schedule,
    ) -> Result<(), BlockValidationError> {
        self.verify_payload()?;
        self.justification.verify(genesis, epoch, schedule)?;
        Ok(())
    }

    /// Checks only that the payload matches the header (cheap; no signatures).
    pub fn verify_payload(&self) -> Result<(), BlockValidationError> {
        let payload = self.payload.hash();
        if payload != self.header().payload {
            return Err(BlockValidationError::PayloadHash {
                header: self.header().payload,
                payload,
            });
        }
        Ok(())
    }
}

impl ProtoFmt for FinalBlock {
    type Proto = proto::FinalBlockV2;
    fn read(r: &Self::Proto) -> anyhow::Result<Self> {
        Ok(Self {
            payload: Payload(required(&r.payload).context("payload")?.clone()),
            justification: read_required(&r.justification).context("justification")?,
        })
    }
    fn build(&self) -> Self::Proto {
        proto::FinalBlockV2 {
            payload: Some(self.payload.0.clone()),
            justification: Some(self.justification.build()),
        }
    }
}

/// An opaque proof that a block before genesis is part of the chain; checked by the execution
/// layer, not by consensus.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Justification(pub Vec<u8>);

/// A block from before the genesis of consensus (protocol.md 2.12).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreGenesisBlock {
    /// The block number.
    pub number: BlockNumber,
    /// The payload.
    pub payload: Payload,
    /// Proof of inclusion, verified by the execution layer.
    pub justification: Justification,
}

impl ProtoFmt for PreGenesisBlock {
    type Proto = proto::PreGenesisBlock;
    fn read(r: &Self::Proto) -> anyhow::Result<Self> {
        Ok(Self {
            number: BlockNumber(*required(&r.number).context("number")?),
            payload: Payload(required(&r.payload).context("payload")?.clone()),
            justification: Justification(
                required(&r.justification).context("justification")?.clone(),
            ),
        })
    }
    fn build(&self) -> Self::Proto {
        proto::PreGenesisBlock {
            number: Some(self.number.0),
            payload: Some(self.payload.0.clone()),
            justification: Some(self.justification.0.clone()),
        }
    }
}

/// Any block of the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Block {
    /// Before genesis.
    PreGenesis(PreGenesisBlock),
    /// Finalized by consensus.
    Final(FinalBlock),
}

impl Block {
    /// The block number.
    pub fn number(&self) -> BlockNumber {
        match self {
            Self::PreGenesis(b) => b.number,
            Self::Final(b) => b.number(),
        }
    }

    /// The payload.
    pub fn payload(&self) -> &Payload {
        match self {
            Self::PreGenesis(b) => &b.payload,
            Self::Final(b) => &b.payload,
        }
    }
}

impl From<FinalBlock> for Block {
    fn from(b: FinalBlock) -> Self {
        Self::Final(b)
    }
}

impl From<PreGenesisBlock> for Block {
    fn from(b: PreGenesisBlock) -> Self {
        Self::PreGenesis(b)
    }
}

impl ProtoFmt for Block {
    type Proto = proto::Block;
    fn read(r: &Self::Proto) -> anyhow::Result<Self> {
        use proto::block::T;
        Ok(match required(&r.t)? {
            T::PreGenesis(b) => Self::PreGenesis(ProtoFmt::read(b).context("pre_genesis")?),
            T::FinalV2(b) => Self::Final(ProtoFmt::read(b).context("final_v2")?),
        })
    }
    fn build(&self) -> Self::Proto {
        use proto::block::T;
        proto::Block {
            t: Some(match self {
                Self::PreGenesis(b) => T::PreGenesis(b.build()),
                Self::Final(b) => T::FinalV2(b.build()),
            }),
        }
    }
}
