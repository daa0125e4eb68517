//! The executor: builds a node from a [`Config`] and an execution layer, and runs it.
//!
//! A node is a [`BlockStore`] over the execution layer, the network (gossip for every node,
//! block sync, and a consensus network per epoch for validators) and, in every epoch whose
//! schedule contains the node's validator key, a bft replica. Everything runs in one scope:
//! cancelling the ctx stops the node; an error of any part stops it with that error.
//!
//! Epochs (protocol.md 2.13, 6.3): as soon as the schedule of an epoch is known, its
//! components start (so consecutive epochs overlap while the last blocks of the old one are
//! finalized); they stop once the epoch's last block is persisted. Blocks before the genesis
//! (pre-genesis) and of every epoch are synced by the one gossip network.
//!
//! A full node (no validator key, or a key in no schedule) only syncs, relays validator
//! addresses and transactions.
//!
//! # Example
//!
//! `examples/toy_sequencer.rs` is a complete sequencer with its own execution layer (a key-value
//! chain that proposes, verifies and executes blocks of transactions from a mempool fed by
//! gossip) and a committee of four validators in one process; run it with
//! `cargo run --release -p zksync_consensus_executor --example toy_sequencer`.
//!
//! The smallest node: a single validator over the in-memory test execution layer (a real
//! sequencer implements [`zksync_consensus_storage::ExecutionLayer`] over its own database):
//!
//! ```
//! use std::sync::{Arc, OnceLock};
//! use rand::SeedableRng as _;
//! use zksync_concurrency::{ctx, scope};
//! use zksync_consensus_executor::{Config, Executor};
//! use zksync_consensus_roles::{node, testonly::Setup, validator::BlockNumber};
//! use zksync_consensus_storage::testonly::{InMemory, PayloadBehavior};
//!
//! # fn main() -> anyhow::Result<()> {
//! let rt = tokio::runtime::Runtime::new()?;
//! rt.block_on(async {
//!     let ctx = &ctx::root();
//!     let rng = &mut rand::rngs::StdRng::seed_from_u64(1);
//!     let setup = Setup::new(rng, 1);
//!     let engine = Arc::new(InMemory::new(
//!         setup.genesis.clone(),
//!         setup.genesis.first_block,
//!         PayloadBehavior::Random(100),
//!     ));
//!     let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
//!     let addr = listener.local_addr()?;
//!     drop(listener);
//!     // Defaults for the rest; a validator of more nodes sets its peers too.
//!     let config = Config {
//!         validator_key: Some(setup.keys[0].clone()),
//!         ..Config::new(addr, node::SecretKey::generate(rng), 1000)
//!     };
//!     let executor = Executor::new(config, engine.clone());
//!     let want = BlockNumber(setup.genesis.first_block.0 + 3);
//!     scope::run!(ctx, |ctx, s| async {
//!         s.spawn_bg(async { Ok(executor.run(ctx).await?) });
//!         // Runs until cancelled; here: until 4 blocks are final.
//!         let mut persisted = zksync_consensus_storage::ExecutionLayer::persisted(&*engine);
//!         zksync_concurrency::sync::wait_for(ctx, &mut persisted, |s| s.contains(want)).await?;
//!         Ok(())
//!     })
//!     .await
//!     .map_err(|e: ctx::Error| anyhow::anyhow!("{e:#}"))
//! })
//! # }
//! ```

mod config;
#[cfg(test)]
mod tests;

use std::sync::{Arc, OnceLock};

use anyhow::Context as _;
use prometheus_client::registry::Registry;
use zksync_concurrency::{channel, ctx, net::tcp, scope, sync};
use zksync_consensus_bft as bft;
use zksync_consensus_network as network;
use zksync_consensus_roles::validator::{self, ConsensusMsg, EpochNumber};
use zksync_consensus_storage::{BlockStore, EpochInfo, ExecutionLayer, Transaction};

pub use self::config::{Config, ConfigError, Tuning};

/// Hands messages from the consensus network to the bft inbound queue.
#[derive(Debug)]
struct BftSink(bft::io::InputSender);

impl network::consensus::ConsensusSink for BftSink {
    fn push(
        &self,
        msg: validator::Signed<ConsensusMsg>,
        ack: zksync_concurrency::oneshot::Sender<()>,
    ) {
        self.0.send(bft::io::ConsensusReq { msg, ack });
    }
}

/// A node.
#[derive(Debug)]
pub struct Executor {
    config: Config,
    engine: Arc<dyn ExecutionLayer>,
    bft_metrics: Option<Arc<bft::Metrics>>,
    network_metrics: Option<Arc<network::metrics::Metrics>>,
    running: OnceLock<Running>,
    /// Fires once `running` is set.
    started: zksync_concurrency::signal::Once,
}

/// The parts of a running node, for status pages.
#[derive(Debug, Clone)]
pub struct Running {
    /// The block store.
    pub store: Arc<BlockStore>,
    /// The network.
    pub network: Arc<network::Network>,
}

impl Executor {
    /// A node with `config` over `engine`.
    pub fn new(config: Config, engine: Arc<dyn ExecutionLayer>) -> Self {
        Self {
            config,
            engine,
            bft_metrics: None,
            network_metrics: None,
            running: OnceLock::new(),
            started: Default::default(),
        }
    }

    /// Registers the node's metrics in `registry`.
    pub fn with_metrics(mut self, registry: &mut Registry) -> Self {
        self.bft_metrics = Some(Arc::new(bft::Metrics::new(registry)));
        self.network_metrics = Some(Arc::new(network::metrics::Metrics::new(registry)));
        self
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The store and network, once [`Executor::run`] has started them.
    pub fn running(&self) -> Option<&Running> {
        self.running.get()
    }

    /// Waits until [`Executor::run`] (in another task) has started the store and network,
    /// e.g. before the first [`Executor::broadcast_tx`].
    pub async fn wait_running(&self, ctx: &ctx::Ctx) -> ctx::OrCanceled<&Running> {
        self.started.recv(ctx).await?;
        Ok(self.running.get().expect("set before the signal"))
    }

    /// Gossips `tx` (e.g. a transaction the sequencer received from a user) to every peer,
    /// which hands it to its execution layer's `push_tx`. Returns `false`, sending nothing, if
    /// the node is not running yet. The node's own execution layer does not get it back.
    pub fn broadcast_tx(&self, tx: Transaction) -> bool {
        let Some(running) = self.running() else {
            return false;
        };
        running.network.gossip.broadcast_tx(tx);
        true
    }

    /// Runs the node until `ctx` is cancelled (then returns `Ok`) or a component fails.
    pub async fn run(&self, ctx: &ctx::Ctx) -> anyhow::Result<()> {
        self.config.validate()?;
        let addr = self.config.server_addr;
        let listener = tcp::listen(
            addr,
            tcp::ListenOptions {
                backlog: 32,
                reuse_port: false,
            },
        )
        .with_context(|| format!("listening on {addr}"))?;
        self.run_with_listener(ctx, listener).await
    }

    /// Like [`Executor::run`], with the server address already bound (so that a binary can
    /// report a port in use before it touches anything else).
    pub async fn run_with_listener(
        &self,
        ctx: &ctx::Ctx,
        listener: tcp::Listener,
    ) -> anyhow::Result<()> {
        self.config.validate()?;
        let (store, runner) = BlockStore::new(
            ctx,
            self.engine.clone(),
            self.config.tuning.block_store.clone(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("opening the block store: {e:#}"))?;
        let mut net = network::Network::new(self.config.network_config(), store.clone())?;
        if let Some(m) = &self.network_metrics {
            net = net.with_metrics(m.clone());
        }
        let net = Arc::new(net);
        let _ = self.running.set(Running {
            store: store.clone(),
            network: net.clone(),
        });
        self.started.send();
        let res: ctx::Result<()> = scope::run!(ctx, |ctx, s| async {
            s.spawn_bg(async {
                runner
                    .run(ctx)
                    .await
                    .context("block store")
                    .map_err(Into::into)
            });
            if let Some(key) = &self.config.validator_key {
                s.spawn_bg(self.run_epochs(ctx, key, &store, &net));
            }
            // The main task: everything else runs in the background of it.
            net.run_with_listener(ctx, listener)
                .await
                .context("network")?;
            Ok(())
        })
        .await;
        match res {
            Ok(()) | Err(ctx::Error::Canceled(_)) => Ok(()),
            Err(ctx::Error::Internal(err)) => Err(err),
        }
    }

    /// Starts the components of every epoch as soon as its schedule is known.
    async fn run_epochs(
        &self,
        ctx: &ctx::Ctx,
        key: &validator::SecretKey,
        store: &Arc<BlockStore>,
        net: &network::Network,
    ) -> ctx::Result<()> {
        scope::run!(ctx, |ctx, s| async {
            let mut epochs = store.subscribe_epochs();
            let mut next = EpochNumber(0);
            loop {
                let known =
                    sync::wait_for(ctx, &mut epochs, |m| m.range(next..).next().is_some()).await?;
                let (epoch, info) = known
                    .range(next..)
                    .next()
                    .map(|(e, i)| (*e, i.clone()))
                    .expect("checked by wait_for");
                drop(known);
                next = epoch.next();
                s.spawn_bg(self.run_epoch(ctx, key, store, net, epoch, info));
            }
        })
        .await
    }

    /// Runs the epoch's consensus network and, if this node is one of its validators, its
    /// replica, until the epoch's last block is persisted.
    async fn run_epoch(
        &self,
        ctx: &ctx::Ctx,
        key: &validator::SecretKey,
        store: &Arc<BlockStore>,
        net: &network::Network,
        epoch: EpochNumber,
        info: EpochInfo,
    ) -> ctx::Result<()> {
        if !info.schedule.contains(&key.public()) {
            tracing::info!(%epoch, "not a validator of this epoch: following only");
            return Ok(());
        }
        tracing::info!(%epoch, "starting the replica");
        let watermark = bft::io::ViewWatermark::default();
        let (input, inbound) = bft::io::create_input_channel(watermark.clone());
        let (outbound, mut outbound_recv) = channel::unbounded();
        let consensus = Arc::new(network::consensus::Consensus::new(
            net.gossip.clone(),
            key.clone(),
            epoch,
            info.schedule.clone(),
            Arc::new(BftSink(input)),
        ));
        let bft_cfg = bft::Config {
            secret_key: key.clone(),
            max_payload_size: self.config.max_payload_size,
            view_timeout: self.config.view_timeout,
            epoch,
            vote_check: self.config.tuning.vote_check,
            // The consensus network delivers a message only from a peer authenticated as its
            // signer.
            senders_authenticated: true,
        };
        let io = bft::Io {
            inbound,
            watermark,
            outbound,
        };
        scope::run!(ctx, |ctx, s| async {
            s.spawn_bg(async { Ok(net.run_consensus(ctx, consensus.clone()).await?) });
            s.spawn_bg::<()>(async {
                loop {
                    let msg: bft::io::ConsensusInputMessage = outbound_recv.recv(ctx).await?;
                    consensus.msg_pool.send(msg.message);
                }
            });
            s.spawn_bg(async {
                bft_cfg
                    .run(ctx, store.clone(), io, self.bft_metrics.clone())
                    .await
                    .with_context(|| format!("bft of epoch {epoch}"))
                    .map_err(Into::into)
            });
            // Until the epoch's last block is persisted.
            let mut epochs = store.subscribe_epochs();
            let last = sync::wait_for(ctx, &mut epochs, |m| {
                m.get(&epoch).is_none_or(|i| i.expiration.is_some())
            })
            .await?
            .get(&epoch)
            .and_then(|i| i.expiration);
            if let Some(last) = last {
                store.wait_until_persisted(ctx, last).await?;
            }
            tracing::info!(%epoch, "epoch over");
            Ok(())
        })
        .await
    }
}
