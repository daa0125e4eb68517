//! The network of a node: TCP, a Noise-encrypted transport, a stream multiplexer, typed RPCs,
//! the gossip network (every node), the consensus network (validators) and block sync.
//!
//! Layers, bottom up: the connection [`preface`] (plaintext encryption choice, the [`noise`]
//! handshake, the endpoint), length-prefixed [`frame`]s, the endpoint [`handshake`]s, the
//! multiplexer ([`mux`]) and the RPCs ([`rpc`]). On top: the [`gossip`] network with block
//! sync ([`gossip::fetch`]) and validator address discovery, and the [`consensus`] network of
//! each epoch.
//!
//! [`Network`] ties them together: one listener (both endpoints), the gossip network, and the
//! consensus network of the current epoch(s), which the embedder starts with
//! [`Network::run_consensus`] and feeds through [`consensus::Consensus::msg_pool`].
//!
//! Observability: [`metrics`] (Prometheus, in a registry the embedder passes to
//! [`Network::with_metrics`]) and the [`debug_page`], served when the config asks for it.

pub mod config;
pub mod consensus;
pub mod debug_page;
pub mod frame;
pub mod gossip;
pub mod handshake;
pub mod metrics;
pub mod mux;
pub mod noise;
pub mod pool;
pub mod preface;
pub mod proto;
pub mod rpc;
#[cfg(test)]
mod testonly;
#[cfg(test)]
mod tests;

use std::{collections::BTreeMap, net::SocketAddr, sync::Arc};

use anyhow::Context as _;
use tokio::sync::watch;
use zksync_concurrency::{ctx, limiter, net::tcp, scope, time};
use zksync_consensus_roles::validator::EpochNumber;
use zksync_consensus_storage::BlockStore;

pub use self::config::{Config, ConfigError, DebugPageConfig, GossipConfig, RpcConfig};
use self::{consensus::Consensus, gossip::Gossip};

/// Listener backlog (protocol.md 5.14).
const BACKLOG: u32 = 32;

/// A node's network.
#[derive(Debug)]
pub struct Network {
    /// The gossip network.
    pub gossip: Arc<Gossip>,
    /// The running consensus networks, by epoch.
    consensus: watch::Sender<BTreeMap<EpochNumber, Arc<Consensus>>>,
}

impl Network {
    /// The network of a node storing its blocks in `store`.
    pub fn new(cfg: Config, store: Arc<BlockStore>) -> Result<Self, ConfigError> {
        cfg.validate()?;
        Ok(Self {
            gossip: Arc::new(Gossip::new(Arc::new(cfg), store)),
            consensus: watch::Sender::new(BTreeMap::new()),
        })
    }

    /// Reports to `metrics` (registered by the caller in its registry). A network reports to
    /// one set of metrics: a second call has no effect.
    pub fn with_metrics(self, metrics: Arc<metrics::Metrics>) -> Self {
        if self.gossip.set_metrics(metrics.clone()) {
            metrics.watch_fetcher(Arc::downgrade(&self.gossip));
        }
        self
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.gossip.cfg
    }

    /// The running consensus networks.
    pub fn consensus(&self) -> BTreeMap<EpochNumber, Arc<Consensus>> {
        self.consensus.borrow().clone()
    }

    /// Binds `server_addr` and runs until `ctx` is cancelled.
    pub async fn run(&self, ctx: &ctx::Ctx) -> anyhow::Result<()> {
        let addr = self.gossip.cfg.server_addr;
        let listener = tcp::listen(
            addr,
            tcp::ListenOptions {
                backlog: BACKLOG,
                reuse_port: false,
            },
        )
        .with_context(|| format!("listening on {addr}"))?;
        self.run_with_listener(ctx, listener).await
    }

    /// Runs with a bound listener until `ctx` is cancelled: accepts connections, keeps the
    /// static outbound peers connected, syncs blocks and serves the debug page if configured.
    pub async fn run_with_listener(
        &self,
        ctx: &ctx::Ctx,
        mut listener: tcp::Listener,
    ) -> anyhow::Result<()> {
        let g = &self.gossip;
        let res: ctx::Result<()> = scope::run!(ctx, |ctx, s| async {
            s.spawn_bg(g.fetcher.run(ctx));
            if g.cfg.debug_page.is_some() {
                s.spawn_bg(async { Ok(debug_page::run(ctx, self).await?) });
            }
            for (key, host) in &g.cfg.gossip.static_outbound {
                s.spawn_bg(async { Ok(g.maintain_outbound(ctx, key, host).await?) });
            }
            let limiter = limiter::Limiter::new(g.cfg.tcp_accept_rate);
            loop {
                limiter.acquire(ctx, 1).await?;
                match listener.accept(ctx).await? {
                    Ok((stream, addr)) => {
                        s.spawn_bg(async move {
                            if let Err(err) = self.serve(ctx, stream, addr).await {
                                tracing::debug!(%addr, "inbound connection: {err:#}");
                            }
                            Ok(())
                        });
                    }
                    // Transient (e.g. too many open files, a connection reset before
                    // accept): the listener stays up (13.B I8).
                    Err(err) => {
                        tracing::warn!("accept: {err}");
                        ctx.sleep(time::Duration::from_millis(100)).await?;
                    }
                }
            }
        })
        .await;
        match res {
            Ok(()) | Err(ctx::Error::Canceled(_)) => Ok(()),
            Err(ctx::Error::Internal(err)) => Err(err),
        }
    }

    /// Serves one accepted connection.
    async fn serve(
        &self,
        ctx: &ctx::Ctx,
        stream: tcp::Stream,
        addr: SocketAddr,
    ) -> anyhow::Result<()> {
        let (mut stream, endpoint) = preface::accept(ctx, stream).await?;
        match endpoint {
            preface::Endpoint::GossipNet => self.gossip.run_inbound(ctx, stream, addr).await,
            preface::Endpoint::ConsensusNet => {
                let cfg = &self.gossip.cfg;
                let key = cfg
                    .validator_key
                    .as_ref()
                    .context("consensus connection to a node that is not a validator")?;
                let peer =
                    handshake::consensus::inbound(ctx, key, self.gossip.genesis, &mut stream)
                        .await?;
                // The newest running epoch that has the peer as a validator.
                let net = self
                    .consensus()
                    .into_values()
                    .rev()
                    .find(|c| c.schedule.contains(&peer))
                    .context("peer is not a validator of a running epoch")?;
                net.run_inbound(ctx, peer, addr, stream).await
            }
        }
    }

    /// Runs the consensus network `net` (registering it for inbound connections) until `ctx`
    /// is cancelled.
    pub async fn run_consensus(&self, ctx: &ctx::Ctx, net: Arc<Consensus>) -> ctx::OrCanceled<()> {
        let epoch = net.epoch;
        self.consensus.send_modify(|m| {
            m.insert(epoch, net.clone());
        });
        let res = net.run(ctx).await;
        self.consensus.send_modify(|m| {
            if m.get(&epoch).is_some_and(|n| Arc::ptr_eq(n, &net)) {
                m.remove(&epoch);
            }
        });
        res
    }
}
