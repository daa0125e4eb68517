//! Why a block is refused.

use zksync_concurrency::ctx;
use zksync_consensus_roles::validator::{BlockNumber, BlockValidationError, EpochNumber};

/// A block was refused by the block store.
#[derive(thiserror::Error, Debug)]
pub enum BlockError {
    /// The ctx was cancelled.
    #[error(transparent)]
    Canceled(#[from] ctx::Canceled),
    /// The execution layer failed (not the block's fault).
    #[error("internal: {0:#}")]
    Internal(anyhow::Error),
    /// Payload hash or certificate invalid.
    #[error("invalid block: {0}")]
    Block(BlockValidationError),
    /// The certificate's epoch has no known schedule.
    #[error("unknown epoch {0}")]
    UnknownEpoch(EpochNumber),
    /// The block is not in the range of blocks of its certificate's epoch.
    #[error("block {number} is outside epoch {epoch}")]
    OutsideEpoch {
        /// The block.
        number: BlockNumber,
        /// Its certificate's epoch.
        epoch: EpochNumber,
    },
    /// A finalized block numbered before the genesis' first block.
    #[error("final block {number} is before the first block {first_block}")]
    FinalBeforeGenesis {
        /// The block.
        number: BlockNumber,
        /// The genesis' first block.
        first_block: BlockNumber,
    },
    /// A pre-genesis block numbered at or after the genesis' first block.
    #[error("pre-genesis block {number} is not before the first block {first_block}")]
    PreGenesisAfterGenesis {
        /// The block.
        number: BlockNumber,
        /// The genesis' first block.
        first_block: BlockNumber,
    },
    /// The execution layer rejected a pre-genesis block's justification.
    #[error("invalid pre-genesis block: {0:#}")]
    InvalidPreGenesis(anyhow::Error),
    /// The block is not the next one.
    #[error("gap: expected block {next}, got {got}")]
    Gap {
        /// The next block the store accepts.
        next: BlockNumber,
        /// The offered block.
        got: BlockNumber,
    },
}

impl From<ctx::Error> for BlockError {
    fn from(err: ctx::Error) -> Self {
        match err {
            ctx::Error::Canceled(c) => Self::Canceled(c),
            ctx::Error::Internal(e) => Self::Internal(e),
        }
    }
}

/// For callers that treat any refusal as a failure of their own.
impl From<BlockError> for ctx::Error {
    fn from(err: BlockError) -> Self {
        match err {
            BlockError::Canceled(c) => Self::Canceled(c),
            BlockError::Internal(e) => Self::Internal(e),
            err => Self::Internal(err.into()),
        }
    }
}
