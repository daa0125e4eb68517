//! Storage of the consensus layer (protocol.md 6.2-6.3):
//! - [`ExecutionLayer`]: the one trait the embedding sequencer implements (genesis, schedules,
//!   blocks, payloads, replica state, transactions);
//! - [`BlockStore`]: verified finalized blocks queued ahead of persistence, with waits for
//!   queued/persisted blocks and the validator schedule of each epoch;
//! - with the `testonly` feature, an in-memory `ExecutionLayer` and a conformance suite for
//!   implementations.

mod block_store;
mod epochs;
mod interface;
mod state;
#[cfg(any(test, feature = "testonly"))]
pub mod testonly;

pub use block_store::{BlockError, BlockStore, BlockStoreRunner, Config, VerifiedBlock};
pub use epochs::EpochInfo;
pub use interface::{ExecutionLayer, ScheduleAt, Transaction, VerifyError};
pub use state::{BlockStoreState, Last, StateError};
