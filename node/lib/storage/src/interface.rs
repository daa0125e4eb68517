//! The execution-layer interface: the one trait a sequencer implements to embed the consensus
//! layer (protocol.md 6.2).
//!
//! # What an implementation must guarantee
//!
//! - **Cancellation.** Every method returns promptly with `Canceled` once `ctx` is cancelled
//!   (wrap waits in `ctx.wait(..)`); blocking work goes through `scope::wait_blocking`.
//! - **Blocks.** [`ExecutionLayer::persisted`] is a watch of the contiguous range of durable
//!   blocks. It only grows at the head (its `next()` never decreases; a shrinking range is a
//!   fatal error that stops the node); `first` may advance if old blocks are pruned. Every block
//!   in the range is readable with [`ExecutionLayer::block`].
//! - **Ordering.** [`ExecutionLayer::queue_next_block`] is called with blocks in increasing
//!   order starting at `persisted().next()`. It may return before the block is durable; the
//!   watch says when it is. A block that is already persisted may be offered again and must be
//!   ignored. Blocks are verified before they are offered.
//! - **Replica state.** [`ExecutionLayer::set_state`] returns only once the state is durable:
//!   votes are sent right after it, and a validator that forgets its state after a crash could
//!   vote twice in one view.
//! - **Payloads.** [`ExecutionLayer::propose_payload`] and [`ExecutionLayer::verify_payload`] are
//!   called for block `n` only after block `n - 1` is persisted.

use std::fmt;

use zksync_concurrency::ctx;
use zksync_consensus_roles::validator::{
    Block, BlockNumber, Genesis, Payload, PreGenesisBlock, ReplicaState, Schedule,
};

use crate::BlockStoreState;

/// A transaction gossiped between nodes; opaque to consensus.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Transaction(pub Vec<u8>);

impl fmt::Debug for Transaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Transaction({} bytes)", self.0.len())
    }
}

/// A validity check failed: either the checked thing is invalid, or the check itself could not
/// be done.
#[derive(thiserror::Error, Debug)]
pub enum VerifyError {
    /// The ctx was cancelled.
    #[error(transparent)]
    Canceled(#[from] ctx::Canceled),
    /// The payload or block is invalid (the peer that sent it is at fault).
    #[error("invalid: {0:#}")]
    Invalid(anyhow::Error),
    /// The check could not be done (our fault; the node should stop).
    #[error("internal: {0:#}")]
    Internal(anyhow::Error),
}

impl From<ctx::Error> for VerifyError {
    fn from(err: ctx::Error) -> Self {
        match err {
            ctx::Error::Canceled(c) => Self::Canceled(c),
            ctx::Error::Internal(e) => Self::Internal(e),
        }
    }
}

/// A validator schedule with the block at which it takes effect.
pub type ScheduleAt = (Schedule, BlockNumber);

/// The execution layer, as seen by the consensus layer.
#[async_trait::async_trait]
pub trait ExecutionLayer: 'static + fmt::Debug + Send + Sync {
    /// The genesis of the chain. Called once, at start.
    async fn genesis(&self, ctx: &ctx::Ctx) -> ctx::Result<Genesis>;

    /// The schedule active at block `number` and its activation block. Called only when the
    /// genesis has no static schedule.
    async fn validator_schedule(
        &self,
        ctx: &ctx::Ctx,
        number: BlockNumber,
    ) -> ctx::Result<ScheduleAt>;

    /// The next schedule (not active yet) known as of block `number`, if any. Polled
    /// periodically when the genesis has no static schedule.
    async fn pending_validator_schedule(
        &self,
        ctx: &ctx::Ctx,
        number: BlockNumber,
    ) -> ctx::Result<Option<ScheduleAt>>;

    /// A watch of the persisted block range (see the module docs for its rules).
    fn persisted(&self) -> tokio::sync::watch::Receiver<BlockStoreState>;

    /// A block of the persisted range.
    async fn block(&self, ctx: &ctx::Ctx, number: BlockNumber) -> ctx::Result<Block>;

    /// Persists `block`, the next after the last queued one, eventually.
    async fn queue_next_block(&self, ctx: &ctx::Ctx, block: Block) -> ctx::Result<()>;

    /// Checks the external justification of a block from before genesis.
    async fn verify_pregenesis_block(
        &self,
        ctx: &ctx::Ctx,
        block: &PreGenesisBlock,
    ) -> Result<(), VerifyError>;

    /// Checks a proposed payload for block `number` (replicas).
    async fn verify_payload(
        &self,
        ctx: &ctx::Ctx,
        number: BlockNumber,
        payload: &Payload,
    ) -> Result<(), VerifyError>;

    /// Builds the payload of block `number` (leader).
    async fn propose_payload(&self, ctx: &ctx::Ctx, number: BlockNumber) -> ctx::Result<Payload>;

    /// The stored replica state, or `None` if none was stored.
    async fn state(&self, ctx: &ctx::Ctx) -> ctx::Result<Option<ReplicaState>>;

    /// Stores the replica state durably (overwrite) before returning.
    async fn set_state(&self, ctx: &ctx::Ctx, state: &ReplicaState) -> ctx::Result<()>;

    /// Offers a gossiped transaction; `true` iff it was new and accepted (it is then gossiped
    /// further).
    async fn push_tx(&self, ctx: &ctx::Ctx, tx: Transaction) -> ctx::Result<bool>;
}
