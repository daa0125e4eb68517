//! One gossip connection (protocol.md 5.8): both ends register the same clients and servers
//! (push_validator_addrs, push_block_store_state, get_block, push_tx, ping) and run the push
//! loops, block fetching and ping. A failed call of this side's loops ends the connection; a
//! bad request only fails its own call (the peer, whose call failed, drops the connection).

use std::{net::SocketAddr, sync::Arc};

use tokio::sync::{broadcast, watch};
use zksync_concurrency::{ctx, scope};
use zksync_consensus_roles::node;
use zksync_consensus_storage::{BlockStoreState, Transaction};
use zksync_protobuf::kB;

use super::{Gossip, Peer, validator_addrs::SentAddrs};
use crate::{
    mux, noise,
    pool::Pool,
    rpc::{
        self, Client, Handler, Server,
        get_block::GetBlockRpc,
        ping::{self, PingRpc},
        push_block_store_state::PushBlockStoreStateRpc,
        push_tx::PushTxRpc,
        push_validator_addrs::PushValidatorAddrsRpc,
    },
};

/// Largest number of addresses in one push (keeps a request far below its 100 kB limit even
/// with large committees; the reference sends the whole map at once, 13.B I11).
const MAX_ADDRS_PER_PUSH: usize = 200;

/// Removes a connection from its pool when dropped.
struct PoolGuard<'a>(&'a Pool<node::PublicKey, Arc<Peer>>, node::PublicKey);

impl Drop for PoolGuard<'_> {
    fn drop(&mut self) {
        self.0.remove(&self.1);
    }
}

struct AddrsServer<'a>(&'a Gossip);

#[async_trait::async_trait]
impl Handler<PushValidatorAddrsRpc> for AddrsServer<'_> {
    fn max_req_size(&self) -> usize {
        rpc::push_validator_addrs::MAX_REQ_SIZE
    }
    async fn handle(
        &self,
        ctx: &ctx::Ctx,
        req: rpc::push_validator_addrs::Req,
    ) -> anyhow::Result<()> {
        let g = self.0;
        g.validator_addrs
            .update(ctx, |k| g.is_validator(k), req.0)
            .await
            .map_err(|e| anyhow::anyhow!("{e:#}"))??;
        Ok(())
    }
}

struct StateServer<'a>(&'a Gossip, &'a watch::Sender<BlockStoreState>);

#[async_trait::async_trait]
impl Handler<PushBlockStoreStateRpc> for StateServer<'_> {
    fn max_req_size(&self) -> usize {
        rpc::push_block_store_state::MAX_REQ_SIZE
    }
    async fn handle(
        &self,
        _: &ctx::Ctx,
        req: rpc::push_block_store_state::Req,
    ) -> anyhow::Result<()> {
        req.0.verify(self.0.genesis)?;
        self.1.send_replace(req.0);
        Ok(())
    }
}

struct GetBlockServer<'a>(&'a Gossip);

#[async_trait::async_trait]
impl Handler<GetBlockRpc> for GetBlockServer<'_> {
    fn max_req_size(&self) -> usize {
        rpc::get_block::MAX_REQ_SIZE
    }
    async fn handle(
        &self,
        ctx: &ctx::Ctx,
        req: rpc::get_block::Req,
    ) -> anyhow::Result<rpc::get_block::Resp> {
        let block = self
            .0
            .store
            .block(ctx, req.0)
            .await
            .map_err(|e| anyhow::anyhow!("{e:#}"))?;
        Ok(rpc::get_block::Resp(block))
    }
}

struct TxServer<'a>(&'a Gossip);

#[async_trait::async_trait]
impl Handler<PushTxRpc> for TxServer<'_> {
    fn max_req_size(&self) -> usize {
        self.0.cfg.max_tx_size + kB
    }
    async fn handle(&self, ctx: &ctx::Ctx, req: rpc::push_tx::Req) -> anyhow::Result<()> {
        let g = self.0;
        let accepted = g
            .store
            .engine()
            .push_tx(ctx, req.0.clone())
            .await
            .map_err(|e| anyhow::anyhow!("{e:#}"))?;
        if accepted {
            // New and valid: pass it on to every peer.
            let _ = g.txs.send(req.0);
        }
        Ok(())
    }
}

fn rpc_err(e: rpc::RpcError) -> ctx::Error {
    match e {
        rpc::RpcError::Canceled => ctx::Canceled.into(),
        e => anyhow::Error::from(e).into(),
    }
}

impl Gossip {
    /// Pushes the block range on every change.
    async fn push_state(
        &self,
        ctx: &ctx::Ctx,
        client: &Client<PushBlockStoreStateRpc>,
    ) -> ctx::Result<()> {
        let mut sub = self.store.subscribe();
        loop {
            let state = sub.borrow_and_update().clone();
            let req = rpc::push_block_store_state::Req(state);
            client.call(ctx, &req, kB).await.map_err(rpc_err)?;
            ctx.wait(sub.changed()).await?.ok();
        }
    }

    /// Pushes validator addresses the peer has not got from this side yet.
    async fn push_addrs(
        &self,
        ctx: &ctx::Ctx,
        client: &Client<PushValidatorAddrsRpc>,
    ) -> ctx::Result<()> {
        let mut sent = SentAddrs::default();
        let mut sub = self.validator_addrs.subscribe();
        loop {
            let map = sub.borrow_and_update().clone();
            loop {
                let batch = sent.take_new(&map, MAX_ADDRS_PER_PUSH);
                if batch.is_empty() {
                    break;
                }
                let req = rpc::push_validator_addrs::Req(batch);
                client.call(ctx, &req, kB).await.map_err(rpc_err)?;
            }
            ctx.wait(sub.changed()).await?.ok();
        }
    }

    /// Pushes transactions from the node's broadcast channel.
    async fn push_txs(
        &self,
        ctx: &ctx::Ctx,
        client: &Client<PushTxRpc>,
        mut sub: broadcast::Receiver<Transaction>,
    ) -> ctx::Result<()> {
        loop {
            match ctx.wait(sub.recv()).await? {
                Ok(tx) => {
                    let req = rpc::push_tx::Req(tx);
                    client.call(ctx, &req, kB).await.map_err(rpc_err)?;
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::debug!("gossip: skipped {n} transactions for a slow peer");
                }
                Err(broadcast::error::RecvError::Closed) => return Ok(()),
            }
        }
    }

    /// Fetches blocks the node wants and the peer advertises, one call at a time.
    async fn fetch_blocks(
        &self,
        ctx: &ctx::Ctx,
        client: &Client<GetBlockRpc>,
        peer: &Arc<Peer>,
    ) -> ctx::Result<()> {
        let mut state = peer.state.subscribe();
        let max_resp = rpc::get_block::max_resp_size(self.cfg.max_block_size);
        loop {
            let call = client.reserve(ctx).await?;
            let n = self.fetcher.take(ctx, &mut state).await?;
            let resp = match self.cfg.rpc.get_block_timeout {
                Some(t) => {
                    call.call(&ctx.with_timeout(t), &rpc::get_block::Req(n), max_resp)
                        .await
                }
                None => call.call(ctx, &rpc::get_block::Req(n), max_resp).await,
            };
            match resp {
                Ok(rpc::get_block::Resp(Some(block))) if block.number() == n => {
                    if let Some(m) = self.metrics() {
                        m.sync_fetched_blocks.inc();
                    }
                    self.fetcher.deliver(block, peer.clone());
                }
                Ok(rpc::get_block::Resp(got)) => {
                    self.fetcher.release(n);
                    return Err(anyhow::anyhow!(
                        "asked for block {n}, got {:?}",
                        got.map(|b| b.number())
                    )
                    .into());
                }
                Err(err) => {
                    self.fetcher.release(n);
                    if !ctx.is_active() {
                        return Err(ctx::Canceled.into());
                    }
                    return Err(anyhow::anyhow!("get_block({n}): {err}").into());
                }
            }
        }
    }

    /// Runs an authenticated connection until it fails, the peer disconnects, `ctx` is
    /// cancelled or [`Peer::disconnect`] is called.
    pub(crate) async fn run_conn(
        &self,
        ctx: &ctx::Ctx,
        key: node::PublicKey,
        addr: SocketAddr,
        inbound: bool,
        build_version: Option<semver::Version>,
        stream: noise::Stream,
    ) -> anyhow::Result<()> {
        let (conn_ctx, canceler) = ctx.with_canceler();
        let peer = Arc::new(Peer {
            key,
            addr,
            inbound,
            build_version,
            established: ctx.now_utc(),
            stats: Arc::new(mux::Stats::new(self.metrics().cloned())),
            state: watch::Sender::new(BlockStoreState::empty(self.store.genesis().first_block)),
            rtt: std::sync::Mutex::new(None),
            canceler,
        });
        let pool = if inbound {
            &self.inbound
        } else {
            &self.outbound
        };
        // Subscribed before the connection is visible: a transaction broadcast once the peer
        // is in the pool reaches it.
        let txs = self.txs.subscribe();
        pool.insert(key, peer.clone())?;
        let _guard = PoolGuard(pool, key);
        let _active = self.metrics().map(|m| m.connection("gossip", inbound));

        let rates = &self.cfg.rpc;
        let mut mux = mux::Mux {
            stats: peer.stats.clone(),
            ..mux::Mux::default()
        };
        let m = || self.metrics().cloned();
        let addrs_client =
            Client::<PushValidatorAddrsRpc>::new(rates.push_validator_addrs_rate).with_metrics(m());
        let state_client = Client::<PushBlockStoreStateRpc>::new(rates.push_block_store_state_rate)
            .with_metrics(m());
        let tx_client = Client::<PushTxRpc>::new(rates.push_tx_rate).with_metrics(m());
        let block_client = Client::<GetBlockRpc>::new(rates.get_block_rate).with_metrics(m());
        let ping_client = Client::<PingRpc>::new(ping::RATE).with_metrics(m());
        let addrs_server = Server::new(AddrsServer(self), rates.push_validator_addrs_rate);
        let state_server = Server::new(
            StateServer(self, &peer.state),
            rates.push_block_store_state_rate,
        );
        let tx_server = Server::new(TxServer(self), rates.push_tx_rate);
        let block_server = Server::new(GetBlockServer(self), rates.get_block_rate);
        let ping_server = Server::new(ping::Server, ping::RATE);
        addrs_client.register(&mut mux);
        state_client.register(&mut mux);
        tx_client.register(&mut mux);
        block_client.register(&mut mux);
        if self.cfg.ping_timeout.is_some() {
            ping_client.register(&mut mux);
        }
        addrs_server.register(&mut mux);
        state_server.register(&mut mux);
        tx_server.register(&mut mux);
        block_server.register(&mut mux);
        ping_server.register(&mut mux);

        let res: ctx::Result<()> = scope::run!(&conn_ctx, |ctx, s| async {
            s.spawn_bg(async { Ok(addrs_server.run(ctx).await?) });
            s.spawn_bg(async { Ok(state_server.run(ctx).await?) });
            s.spawn_bg(async { Ok(tx_server.run(ctx).await?) });
            s.spawn_bg(async { Ok(block_server.run(ctx).await?) });
            s.spawn_bg(async { Ok(ping_server.run(ctx).await?) });
            s.spawn_bg(self.push_state(ctx, &state_client));
            s.spawn_bg(self.push_addrs(ctx, &addrs_client));
            s.spawn_bg(self.push_txs(ctx, &tx_client, txs));
            for _ in 0..<GetBlockRpc as rpc::Rpc>::INFLIGHT {
                s.spawn_bg(self.fetch_blocks(ctx, &block_client, &peer));
            }
            if let Some(timeout) = self.cfg.ping_timeout {
                s.spawn_bg(ping::run_client(ctx, &ping_client, timeout, |rtt| {
                    *peer.rtt.lock().unwrap_or_else(|e| e.into_inner()) = Some(rtt);
                }));
            }
            mux.run(ctx, stream).await.map_err(|e| match e {
                mux::MuxError::Canceled => ctx::Canceled.into(),
                e => anyhow::Error::from(e).into(),
            })
        })
        .await;
        match res {
            Ok(()) => Ok(()),
            // Cancelled by the caller, or disconnected by this node.
            Err(ctx::Error::Canceled(_)) => Ok(()),
            Err(ctx::Error::Internal(err)) => Err(err),
        }
    }
}
