//! The range of blocks a store holds (protocol.md 6.2).

use zksync_consensus_roles::validator::{Block, BlockNumber, CommitQC, GenesisHash};

/// The last block of a store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Last {
    /// A pre-genesis block with this number.
    PreGenesis(BlockNumber),
    /// A finalized block, with the certificate that finalized it.
    Final(CommitQC),
}

impl Last {
    /// `block` as the last block of a range.
    pub fn of(block: &Block) -> Self {
        match block {
            Block::Final(b) => Self::Final(b.justification.clone()),
            Block::PreGenesis(b) => Self::PreGenesis(b.number),
        }
    }

    /// The block number.
    pub fn number(&self) -> BlockNumber {
        match self {
            Self::PreGenesis(n) => *n,
            Self::Final(qc) => qc.header().number,
        }
    }
}

/// A contiguous range of blocks `[first, last]`, or an empty range starting at `first`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockStoreState {
    /// The first block (or where the range will start, if empty).
    pub first: BlockNumber,
    /// The last block, `None` if the range is empty.
    pub last: Option<Last>,
}

/// A block store state is inconsistent.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum StateError {
    /// `last < first`.
    #[error("last block {last} is before first block {first}")]
    LastBeforeFirst {
        /// First block.
        first: BlockNumber,
        /// Last block.
        last: BlockNumber,
    },
    /// The last block's certificate belongs to another chain.
    #[error("last block certificate is of another genesis")]
    OtherGenesis,
}

impl BlockStoreState {
    /// An empty range starting at `first`.
    pub fn empty(first: BlockNumber) -> Self {
        Self { first, last: None }
    }

    /// Whether block `n` is in the range.
    pub fn contains(&self, n: BlockNumber) -> bool {
        self.first <= n && self.last.as_ref().is_some_and(|l| n <= l.number())
    }

    /// The number of the block after the range.
    pub fn next(&self) -> BlockNumber {
        match &self.last {
            Some(l) => l.number().next(),
            None => self.first,
        }
    }

    /// The last block number, or the one before `first` for an empty range (`None` if that
    /// would be negative).
    pub fn head(&self) -> Option<BlockNumber> {
        match &self.last {
            Some(l) => Some(l.number()),
            None => self.first.prev(),
        }
    }

    /// Checks internal consistency.
    pub fn verify(&self, genesis: GenesisHash) -> Result<(), StateError> {
        if let Some(last) = &self.last {
            if last.number() < self.first {
                return Err(StateError::LastBeforeFirst {
                    first: self.first,
                    last: last.number(),
                });
            }
            if let Last::Final(qc) = last
                && qc.view().genesis != genesis
            {
                return Err(StateError::OtherGenesis);
            }
        }
        Ok(())
    }
}
