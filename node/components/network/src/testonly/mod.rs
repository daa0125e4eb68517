//! Test helpers.

use std::{collections::VecDeque, net::SocketAddr, sync::Arc};

use anyhow::Context as _;
use proptest::{arbitrary::any, prop_oneof, sample::Index, strategy::Strategy};
use rand::Rng;
use tokio::sync::watch;
use zksync_concurrency::{ctx, limiter, net::tcp, oneshot, scope, sync};
use zksync_consensus_roles::{
    node,
    testonly::Setup,
    validator::{self, Block, BlockNumber, ConsensusMsg, EpochNumber, GenesisHash, Payload},
};
use zksync_consensus_storage::{
    BlockStore, BlockStoreRunner, ExecutionLayer as _,
    testonly::{InMemory, PayloadBehavior},
};
use zksync_protobuf::{ProtoFmt, kB};

use crate::{
    Config, RpcConfig,
    consensus::{Consensus, ConsensusSink},
    handshake, noise, preface,
};

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
        Self::with_listener(
            ctx,
            setup,
            listener(),
            setup.genesis.first_block,
            cfg,
            blocks,
        )
        .await
    }

    /// Like [`Self::new`], for a pruned node: its store begins at `blocks[0]` (it has never had
    /// the blocks before it). `blocks` must not be empty.
    pub(crate) async fn pruned(
        ctx: &ctx::Ctx,
        setup: &Setup,
        cfg: impl FnOnce(SocketAddr) -> Config,
        blocks: &[Block],
    ) -> Self {
        let first = blocks.first().expect("a pruned node holds blocks").number();
        Self::with_listener(ctx, setup, listener(), first, cfg, blocks).await
    }

    /// Like [`Self::new`], listening on `addr` (a node restarted at its old address).
    pub(crate) async fn new_at(
        ctx: &ctx::Ctx,
        setup: &Setup,
        addr: SocketAddr,
        cfg: impl FnOnce(SocketAddr) -> Config,
        blocks: &[Block],
    ) -> Self {
        let listener = tcp::listen(addr, Default::default()).unwrap();
        let first = setup.genesis.first_block;
        Self::with_listener(ctx, setup, (listener, addr), first, cfg, blocks).await
    }

    async fn with_listener(
        ctx: &ctx::Ctx,
        setup: &Setup,
        (listener, addr): (tcp::Listener, SocketAddr),
        first: BlockNumber,
        cfg: impl FnOnce(SocketAddr) -> Config,
        blocks: &[Block],
    ) -> Self {
        init_logs();
        let engine = Arc::new(InMemory::new(
            setup.genesis.clone(),
            first,
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

// Helpers of the consensus network tests and the malicious-peer tests.

/// What a [`Sink`] has received.
#[derive(Debug, Default)]
pub(crate) struct SinkState {
    /// The messages, in the order they arrived.
    pub(crate) msgs: Vec<validator::Signed<ConsensusMsg>>,
    /// Acks held back (manual mode), oldest first.
    pub(crate) unacked: VecDeque<oneshot::Sender<()>>,
    /// The largest number of messages that waited for their ack at the same time.
    pub(crate) max_unacked: usize,
}

/// A consensus sink that records what it receives. It acks every message at once, or, in
/// manual mode, holds the acks until the test calls [`Sink::ack`].
#[derive(Debug)]
pub(crate) struct Sink {
    manual: bool,
    state: watch::Sender<SinkState>,
}

impl Sink {
    /// A sink that acks at once.
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            manual: false,
            state: watch::Sender::new(SinkState::default()),
        })
    }

    /// A sink that acks only when told to.
    pub(crate) fn manual() -> Arc<Self> {
        Arc::new(Self {
            manual: true,
            state: watch::Sender::new(SinkState::default()),
        })
    }

    /// The messages received so far.
    pub(crate) fn msgs(&self) -> Vec<validator::Signed<ConsensusMsg>> {
        self.state.borrow().msgs.clone()
    }

    /// The messages received so far from `key`.
    pub(crate) fn msgs_from(
        &self,
        key: &validator::PublicKey,
    ) -> Vec<validator::Signed<ConsensusMsg>> {
        self.state
            .borrow()
            .msgs
            .iter()
            .filter(|m| m.key == *key)
            .cloned()
            .collect()
    }

    /// Acks still held back.
    pub(crate) fn unacked(&self) -> usize {
        self.state.borrow().unacked.len()
    }

    /// The largest number of messages that waited for their ack at the same time.
    pub(crate) fn max_unacked(&self) -> usize {
        self.state.borrow().max_unacked
    }

    /// Sends up to `n` held-back acks, oldest first; returns how many were sent.
    pub(crate) fn ack(&self, n: usize) -> usize {
        let mut acked = 0;
        self.state.send_modify(|s| {
            while acked < n {
                let Some(ack) = s.unacked.pop_front() else {
                    break;
                };
                ack.send(());
                acked += 1;
            }
        });
        acked
    }

    /// Waits until `pred` holds for the state.
    pub(crate) async fn wait_for(
        &self,
        ctx: &ctx::Ctx,
        pred: impl Fn(&SinkState) -> bool,
    ) -> ctx::OrCanceled<()> {
        sync::wait_for(ctx, &mut self.state.subscribe(), |s| pred(s)).await?;
        Ok(())
    }
}

impl ConsensusSink for Sink {
    fn push(&self, msg: validator::Signed<ConsensusMsg>, ack: oneshot::Sender<()>) {
        self.state.send_modify(|s| {
            s.msgs.push(msg);
            if !self.manual {
                ack.send(());
                return;
            }
            // An ack whose receiver is gone no longer holds a call back.
            s.unacked.retain(|a| !a.is_closed());
            s.unacked.push_back(ack);
            s.max_unacked = s.max_unacked.max(s.unacked.len());
        });
    }
}

impl TestNode {
    /// The consensus network of epoch 0 of `setup`'s chain (its static schedule), for this
    /// node's validator key, delivering to `sink`.
    pub(crate) fn consensus(&self, setup: &Setup, sink: Arc<Sink>) -> Arc<Consensus> {
        let key = self
            .net
            .config()
            .validator_key
            .clone()
            .expect("a validator node");
        Arc::new(Consensus::new(
            self.net.gossip.clone(),
            key,
            EpochNumber(0),
            Arc::new(setup.schedule().clone()),
            sink,
        ))
    }
}

/// Dials the gossip endpoint at `addr` (of the node `peer`) as the node `key`, and completes
/// the handshake.
pub(crate) async fn dial_gossip(
    ctx: &ctx::Ctx,
    genesis: GenesisHash,
    addr: SocketAddr,
    peer: &node::PublicKey,
    key: &node::SecretKey,
) -> ctx::Result<noise::Stream> {
    let mut stream = preface::connect(ctx, addr, preface::Endpoint::GossipNet).await?;
    let me = handshake::gossip::Identity {
        key,
        genesis,
        build_version: None,
    };
    handshake::gossip::outbound(ctx, &me, &mut stream, peer, false)
        .await
        .map_err(|e| ctx::Error::Internal(e.into()))?;
    Ok(stream)
}

/// Dials the consensus endpoint at `addr` (of the validator `peer`) as the validator `key`,
/// and completes the handshake.
pub(crate) async fn dial_consensus(
    ctx: &ctx::Ctx,
    genesis: GenesisHash,
    addr: SocketAddr,
    peer: &validator::PublicKey,
    key: &validator::SecretKey,
) -> ctx::Result<noise::Stream> {
    let mut stream = preface::connect(ctx, addr, preface::Endpoint::ConsensusNet).await?;
    handshake::consensus::outbound(ctx, key, genesis, &mut stream, peer)
        .await
        .map_err(|e| ctx::Error::Internal(e.into()))?;
    Ok(stream)
}

/// Waits until the other end closes `stream` (everything it sends until then is discarded).
pub(crate) async fn wait_closed(ctx: &ctx::Ctx, mut stream: noise::Stream) -> ctx::Result<()> {
    let mut buf = [0u8; 1024];
    loop {
        match stream.read.read_exact(ctx, &mut buf[..1]).await {
            Ok(()) => {}
            Err(ctx::Error::Canceled(c)) => return Err(c.into()),
            Err(ctx::Error::Internal(_)) => return Ok(()),
        }
    }
}

/// Waits until the other end closes the raw TCP `stream` (discarding what it sends).
pub(crate) async fn wait_tcp_closed(ctx: &ctx::Ctx, stream: &mut tcp::Stream) -> ctx::Result<()> {
    use tokio::io::AsyncReadExt as _;
    let mut buf = [0u8; 1024];
    loop {
        match ctx.wait(stream.read(&mut buf)).await? {
            Ok(0) | Err(_) => return Ok(()),
            Ok(_) => {}
        }
    }
}

/// Runs `mux` over `stream` (a hand-driven peer's side of a connection); ends with an error
/// when the connection fails or closes.
pub(crate) async fn run_mux(
    ctx: &ctx::Ctx,
    mux: crate::mux::Mux,
    stream: noise::Stream,
) -> ctx::Result<()> {
    match mux.run(ctx, stream).await {
        Ok(()) => Ok(()),
        Err(crate::mux::MuxError::Canceled) => Err(ctx::Canceled.into()),
        Err(e) => Err(ctx::Error::Internal(e.into())),
    }
}

mod props;
pub(crate) use props::*;
