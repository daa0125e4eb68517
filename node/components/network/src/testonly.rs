//! Test helpers.

use std::{net::SocketAddr, sync::Arc};

use anyhow::Context as _;
use rand::Rng;
use zksync_concurrency::{ctx, limiter, net::tcp, scope};
use zksync_consensus_roles::{
    node,
    testonly::Setup,
    validator::{self, Block, BlockNumber, Payload},
};
use zksync_consensus_storage::{
    BlockStore, BlockStoreRunner, ExecutionLayer as _,
    testonly::{InMemory, PayloadBehavior},
};
use zksync_protobuf::kB;

use crate::{Config, RpcConfig, noise};

/// A connected pair of loopback TCP streams (dialer, acceptor).
pub(crate) async fn tcp_pair(ctx: &ctx::Ctx) -> ctx::Result<(tcp::Stream, tcp::Stream)> {
    let mut listener =
        tcp::listen("127.0.0.1:0".parse().unwrap(), Default::default()).context("listen")?;
    let addr = listener.local_addr().context("local_addr")?;
    let dial = tcp::connect(ctx, addr).await?.context("connect")?;
    let (accepted, _) = listener.accept(ctx).await?.context("accept")?;
    Ok((dial, accepted))
}

/// A pair of Noise streams over loopback (dialer, acceptor).
pub(crate) async fn noise_pair(ctx: &ctx::Ctx) -> ctx::Result<(noise::Stream, noise::Stream)> {
    let (a, b) = tcp_pair(ctx).await?;
    scope::run!(ctx, |ctx, s| async {
        let b = s.spawn(noise::handshake(ctx, b, false));
        let a = noise::handshake(ctx, a, true).await?;
        Ok((a, b.join(ctx).await?))
    })
    .await
}

/// Runs two muxes over the two ends of a connection until one fails.
pub(crate) async fn run_muxes(
    ctx: &ctx::Ctx,
    (a, b): (noise::Stream, noise::Stream),
    ma: crate::mux::Mux,
    mb: crate::mux::Mux,
) -> ctx::Result<()> {
    let err = |e: crate::mux::MuxError| ctx::Error::Internal(e.into());
    scope::run!(ctx, |ctx, s| async {
        s.spawn_bg(async { ma.run(ctx, a).await.map_err(err) });
        mb.run(ctx, b).await.map_err(err)
    })
    .await
}

/// A node under test: its store, execution layer and network, with a bound listener.
pub(crate) struct TestNode {
    pub(crate) engine: Arc<InMemory>,
    pub(crate) store: Arc<BlockStore>,
    pub(crate) runner: Option<BlockStoreRunner>,
    pub(crate) net: Arc<crate::Network>,
    pub(crate) listener: Option<tcp::Listener>,
}

/// A listener on a free loopback port.
pub(crate) fn listener() -> (tcp::Listener, SocketAddr) {
    let l = tcp::listen("127.0.0.1:0".parse().unwrap(), Default::default()).unwrap();
    let addr = l.local_addr().unwrap();
    (l, addr)
}

/// A network config for tests: no ping (manual clocks), unlimited RPC rates, no peers.
pub(crate) fn config(
    rng: &mut impl Rng,
    addr: SocketAddr,
    validator_key: Option<validator::SecretKey>,
) -> Config {
    let mut cfg = Config::new(addr, addr.into(), node::SecretKey::generate(rng), 10 * kB);
    cfg.validator_key = validator_key;
    cfg.ping_timeout = None;
    cfg.tcp_accept_rate = limiter::Rate::INF;
    cfg.rpc = RpcConfig {
        push_validator_addrs_rate: limiter::Rate::INF,
        push_block_store_state_rate: limiter::Rate::INF,
        push_tx_rate: limiter::Rate::INF,
        get_block_rate: limiter::Rate::INF,
        get_block_timeout: None,
        consensus_rate: limiter::Rate::INF,
    };
    cfg.max_block_queue_size = 10;
    cfg
}

impl TestNode {
    /// A node of `setup`'s chain holding `blocks` (persisted, unverified).
    pub(crate) async fn new(
        ctx: &ctx::Ctx,
        setup: &Setup,
        cfg: impl FnOnce(SocketAddr) -> Config,
        blocks: &[Block],
    ) -> Self {
        init_logs();
        let (listener, addr) = listener();
        let engine = Arc::new(InMemory::new(
            setup.genesis.clone(),
            setup.genesis.first_block,
            PayloadBehavior::Random(10),
        ));
        for b in blocks {
            engine.queue_next_block(ctx, b.clone()).await.unwrap();
        }
        let (store, runner) = BlockStore::new(ctx, engine.clone(), Default::default())
            .await
            .unwrap();
        let net = Arc::new(crate::Network::new(cfg(addr), store.clone()).unwrap());
        Self {
            engine,
            store,
            runner: Some(runner),
            net,
            listener: Some(listener),
        }
    }

    /// The node's key.
    pub(crate) fn key(&self) -> node::PublicKey {
        self.net.config().node_key.public()
    }

    /// The node's address.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.net.config().server_addr
    }

    /// Runs the store and the network until `ctx` is cancelled.
    pub(crate) async fn run(&mut self, ctx: &ctx::Ctx) -> ctx::Result<()> {
        let runner = self.runner.take().expect("run once");
        let listener = self.listener.take().expect("run once");
        let net = &self.net;
        scope::run!(ctx, |ctx, s| async {
            s.spawn_bg(async { Ok(runner.run(ctx).await?) });
            net.run_with_listener(ctx, listener).await?;
            Ok(())
        })
        .await
    }
}

/// `count` valid final blocks of `setup`'s chain from its first block.
pub(crate) fn chain(setup: &Setup, rng: &mut impl Rng, count: u64) -> Vec<Block> {
    let first = setup.genesis.first_block;
    (0..count)
        .map(|i| {
            let mut payload = vec![0u8; 32];
            rng.fill_bytes(&mut payload);
            Block::Final(setup.final_block(BlockNumber(first.0 + i), Payload(payload)))
        })
        .collect()
}

/// Logs to the test output, filtered by `RUST_LOG` (nothing by default).
pub(crate) fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}
