//! The gossip network (protocol.md 5.1, 5.8, 5.10, 5.11): every node keeps connections to its
//! static outbound peers and accepts connections from its static inbound peers and from up to
//! `dynamic_inbound_limit` others; at most one connection per peer key in each direction.
//! Over each connection both sides push their block range, validator addresses and
//! transactions, fetch blocks they miss, and ping.
//!
//! One gossip network serves the node for all epochs (the reference runs one per epoch and so
//! may hold several connections to one peer, 13.B I9): validator addresses are accepted for
//! the validators of every epoch the block store knows.

pub mod fetch;
mod runner;
#[cfg(test)]
mod tests;
pub mod validator_addrs;

use std::{
    net::SocketAddr,
    sync::{Arc, OnceLock},
};

use anyhow::Context as _;
use rand::RngExt as _;
use tokio::sync::{broadcast, watch};
use zksync_concurrency::{ctx, net, time};
use zksync_consensus_roles::{
    node,
    validator::{self, GenesisHash},
};
use zksync_consensus_storage::{BlockStore, BlockStoreState, Transaction};

use self::{fetch::Fetcher, validator_addrs::ValidatorAddrs};
use crate::{Config, handshake, metrics::Metrics, mux, pool::Pool, preface};

/// Capacity of the transaction broadcast channel (a lagging connection skips transactions).
const TX_CHANNEL: usize = 1000;

/// An established gossip connection.
#[derive(Debug)]
pub struct Peer {
    /// The peer's node key.
    pub key: node::PublicKey,
    /// The peer's address.
    pub addr: SocketAddr,
    /// Whether the peer dialed this node.
    pub inbound: bool,
    /// The build version the peer told.
    pub build_version: Option<semver::Version>,
    /// When the connection was established.
    pub established: time::Utc,
    /// Traffic figures.
    pub stats: Arc<mux::Stats>,
    /// The block range the peer advertises.
    pub(crate) state: watch::Sender<BlockStoreState>,
    /// Round trip time of the last ping.
    pub(crate) rtt: std::sync::Mutex<Option<time::Duration>>,
    canceler: ctx::Canceler,
}

impl Peer {
    /// Closes the connection (e.g. the peer served an invalid block).
    pub fn disconnect(&self) {
        self.canceler.cancel();
    }

    /// The block range the peer advertises.
    pub fn state(&self) -> BlockStoreState {
        self.state.borrow().clone()
    }

    /// Round trip time of the last ping, if any.
    pub fn rtt(&self) -> Option<time::Duration> {
        *self.rtt.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The gossip network's state.
#[derive(Debug)]
pub struct Gossip {
    pub(crate) cfg: Arc<Config>,
    pub(crate) store: Arc<BlockStore>,
    pub(crate) genesis: GenesisHash,
    /// Inbound connections.
    pub inbound: Pool<node::PublicKey, Arc<Peer>>,
    /// Outbound connections.
    pub outbound: Pool<node::PublicKey, Arc<Peer>>,
    /// Known validator addresses.
    pub validator_addrs: ValidatorAddrs,
    /// Block sync.
    pub fetcher: Fetcher,
    txs: broadcast::Sender<Transaction>,
    metrics: OnceLock<Arc<Metrics>>,
}

/// Redial delays: exponential from 100 ms up to a maximum, with jitter.
struct Backoff {
    next: time::Duration,
    max: time::Duration,
}

impl Backoff {
    const MIN: time::Duration = time::Duration::from_millis(100);

    fn new(max: time::Duration) -> Self {
        Self {
            next: Self::MIN.min(max),
            max,
        }
    }

    fn reset(&mut self) {
        self.next = Self::MIN.min(self.max);
    }

    /// The next delay, between half and all of the current step.
    fn next(&mut self, ctx: &ctx::Ctx) -> time::Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        d.mul_f64(ctx.rng().random_range(0.5..=1.0))
    }
}

impl Gossip {
    /// The gossip network of a node.
    pub fn new(cfg: Arc<Config>, store: Arc<BlockStore>) -> Self {
        let inbound = Pool::new(
            cfg.gossip.static_inbound.iter().cloned(),
            cfg.gossip.dynamic_inbound_limit,
        );
        let outbound = Pool::new(cfg.gossip.static_outbound.keys().cloned(), 0);
        Self {
            genesis: store.genesis().hash(),
            fetcher: Fetcher::new(store.clone(), cfg.max_block_queue_size),
            cfg,
            store,
            inbound,
            outbound,
            validator_addrs: ValidatorAddrs::default(),
            txs: broadcast::channel(TX_CHANNEL).0,
            metrics: OnceLock::new(),
        }
    }

    /// Reports to `metrics` from now on. Only the first call has an effect: returns whether
    /// it was this one.
    pub(crate) fn set_metrics(&self, metrics: Arc<Metrics>) -> bool {
        let first = self.metrics.set(metrics.clone()).is_ok();
        if first {
            let _ = self.fetcher.metrics.set(metrics);
        }
        first
    }

    /// The metrics, if any.
    pub(crate) fn metrics(&self) -> Option<&Arc<Metrics>> {
        self.metrics.get()
    }

    fn identity(&self) -> handshake::gossip::Identity<'_> {
        handshake::gossip::Identity {
            key: &self.cfg.node_key,
            genesis: self.genesis,
            build_version: self.cfg.build_version.clone(),
        }
    }

    /// Whether `key` is a validator of an epoch the block store knows.
    pub(crate) fn is_validator(&self, key: &validator::PublicKey) -> bool {
        self.store
            .epochs()
            .values()
            .any(|e| e.schedule.contains(key))
    }

    /// Sends `tx` to every peer (e.g. a transaction the sequencer received from a user).
    pub fn broadcast_tx(&self, tx: Transaction) {
        // No receivers (no connections) is fine.
        let _ = self.txs.send(tx);
    }

    /// Serves an inbound gossip connection until it ends.
    pub(crate) async fn run_inbound(
        &self,
        ctx: &ctx::Ctx,
        mut stream: crate::noise::Stream,
        addr: SocketAddr,
    ) -> anyhow::Result<()> {
        let h = handshake::gossip::inbound(ctx, &self.identity(), &mut stream, |k| {
            self.cfg.gossip.static_inbound.contains(k)
        })
        .await?;
        let key = h.session_id.key;
        self.run_conn(ctx, key, addr, true, h.build_version, stream)
            .await
    }

    /// Dials `key` at `host` once and serves the connection until it ends.
    async fn run_outbound_once(
        &self,
        ctx: &ctx::Ctx,
        key: &node::PublicKey,
        host: &net::Host,
    ) -> anyhow::Result<()> {
        let addrs = host.resolve(ctx).await?.context("resolve")?;
        let addr = *addrs
            .get(ctx.rng().random_range(0..addrs.len().max(1)))
            .context("resolved to no address")?;
        let mut stream = preface::connect(ctx, addr, preface::Endpoint::GossipNet).await?;
        let h = handshake::gossip::outbound(ctx, &self.identity(), &mut stream, key, true).await?;
        self.run_conn(ctx, *key, addr, false, h.build_version, stream)
            .await
    }

    /// Keeps a connection to the static outbound peer `key`, redialing with backoff.
    pub(crate) async fn maintain_outbound(
        &self,
        ctx: &ctx::Ctx,
        key: &node::PublicKey,
        host: &net::Host,
    ) -> ctx::OrCanceled<()> {
        let mut backoff = Backoff::new(self.cfg.connect_retry);
        loop {
            let start = ctx.now();
            let res = self.run_outbound_once(ctx, key, host).await;
            if !ctx.is_active() {
                return Err(ctx::Canceled);
            }
            if let Err(err) = res {
                tracing::debug!("gossip connection to {key:?} at {host:?}: {err:#}");
            }
            if ctx.now().saturating_duration_since(start) > self.cfg.connect_retry {
                backoff.reset();
            }
            ctx.sleep(backoff.next(ctx)).await?;
        }
    }
}
