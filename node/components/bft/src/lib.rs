//! ChonkyBFT (protocol version 2) for ZK Stack chains: the replica state machine and the
//! proposer of a validator.
//!
//! - [`core`]: the protocol as a pure, deterministic state machine (what the simulation and
//!   Twins tests drive);
//! - [`Config::run`]: the async driver around it, connected to the block store and, through
//!   [`io`], to the network;
//! - [`Metrics`]: what it reports.
//!
//! One replica runs per validator and epoch; the executor starts one when the epoch begins
//! and cancels it when the epoch's last block is persisted.

pub mod core;
mod driver;
pub mod io;
mod metrics;
#[cfg(any(test, feature = "testonly"))]
pub mod testonly;
#[cfg(test)]
mod tests;

use std::sync::Arc;

pub use driver::Io;
pub use metrics::{MessageLabels, Metrics};
use zksync_concurrency::{ctx, time};
use zksync_consensus_roles::validator::{EpochNumber, SecretKey};
use zksync_consensus_storage::BlockStore;

pub use crate::core::VoteCheck;

/// Settings of a replica.
#[derive(Clone, Debug)]
pub struct Config {
    /// The validator key.
    pub secret_key: SecretKey,
    /// The largest payload proposed or accepted, in bytes.
    pub max_payload_size: usize,
    /// How long a view may last without progress before the replica times out (and how often
    /// it re-sends its timeout while stuck).
    pub view_timeout: time::Duration,
    /// The epoch to run in (its schedule must be known to the block store).
    pub epoch: EpochNumber,
    /// How commit votes are checked.
    pub vote_check: VoteCheck,
    /// Whether every message reaches the replica over a channel authenticated as its signer's
    /// validator key (the consensus network guarantees it: the handshake authenticates the
    /// peer and a message signed by another key is refused). If so, the envelope signatures
    /// of leader proposals and new-view messages are not checked: nothing keeps or forwards
    /// them, and the channel already proves who sent them. Votes are always checked, since
    /// their signatures go into certificates.
    pub senders_authenticated: bool,
}

impl Config {
    /// Runs the replica until `ctx` is cancelled (returning `Ok`) or an internal error (the
    /// execution layer or storage failing) stops it. Invalid messages from peers never stop
    /// it: they are dropped and counted.
    pub async fn run(
        self,
        ctx: &ctx::Ctx,
        store: Arc<BlockStore>,
        io: Io,
        metrics: Option<Arc<Metrics>>,
    ) -> anyhow::Result<()> {
        match driver::run(ctx, &self, &store, io, metrics.as_deref()).await {
            Ok(()) => Ok(()),
            Err(ctx::Error::Canceled(_)) if !ctx.is_active() => Ok(()),
            Err(ctx::Error::Canceled(_)) => Err(anyhow::anyhow!("bft: canceled from within")),
            Err(ctx::Error::Internal(e)) => Err(e),
        }
    }
}
