//! One consensus connection: the dialer sends messages (consensus client), the acceptor
//! receives them (consensus server); both serve pings and ping if enabled.

use std::{net::SocketAddr, sync::Arc};

use zksync_concurrency::{ctx, oneshot, scope, sync};
use zksync_consensus_roles::validator;

use super::{Consensus, Peer, msg_pool::Cursor};
use crate::{
    mux, noise,
    pool::Pool,
    rpc::{
        self, Client, Handler, Server,
        consensus::ConsensusRpc,
        ping::{self, PingRpc},
    },
};

/// Removes a connection from its pool when dropped.
struct PoolGuard<'a>(
    &'a Pool<validator::PublicKey, Arc<Peer>>,
    validator::PublicKey,
);

impl Drop for PoolGuard<'_> {
    fn drop(&mut self) {
        self.0.remove(&self.1);
    }
}

/// A registered connection: its mux, and guards that unregister it.
struct Conn<'a> {
    mux: mux::Mux,
    _guard: PoolGuard<'a>,
    _active: Option<crate::metrics::ConnectionGuard>,
}

struct ConsensusServer<'a> {
    net: &'a Consensus,
    peer: validator::PublicKey,
}

#[async_trait::async_trait]
impl Handler<ConsensusRpc> for ConsensusServer<'_> {
    fn max_req_size(&self) -> usize {
        rpc::consensus::max_req_size(self.net.gossip.cfg.max_block_size)
    }
    async fn handle(
        &self,
        ctx: &ctx::Ctx,
        req: rpc::consensus::Req,
    ) -> anyhow::Result<rpc::consensus::Resp> {
        // Every message travels directly from its author: the bft queue relies on it.
        anyhow::ensure!(
            req.0.key == self.peer,
            "message signed by another validator than the peer"
        );
        tracing::trace!(
            "consensus: received {} of view {}",
            req.0.msg.label(),
            req.0.msg.view().number.0
        );
        let (send, recv) = oneshot::channel();
        self.net.sink.push(req.0, send);
        // Fired or dropped: either way the message is done with.
        let _ = recv.recv_or_disconnected(ctx).await?;
        Ok(rpc::consensus::Resp)
    }
}

fn mux_err(e: mux::MuxError) -> ctx::Error {
    match e {
        mux::MuxError::Canceled => ctx::Canceled.into(),
        e => anyhow::Error::from(e).into(),
    }
}

fn end(res: ctx::Result<()>) -> anyhow::Result<()> {
    match res {
        Ok(()) | Err(ctx::Error::Canceled(_)) => Ok(()),
        Err(ctx::Error::Internal(err)) => Err(err),
    }
}

impl Consensus {
    fn peer(&self, ctx: &ctx::Ctx, key: validator::PublicKey, addr: SocketAddr) -> Arc<Peer> {
        Arc::new(Peer {
            key,
            addr,
            established: ctx.now_utc(),
            stats: Arc::new(mux::Stats::new(self.gossip.metrics().cloned())),
        })
    }

    fn ping_client(&self, ctx: &ctx::Ctx, mux: &mut mux::Mux) -> Option<Client<PingRpc>> {
        let _ = ctx;
        self.gossip.cfg.ping_timeout.map(|_| {
            let c = Client::<PingRpc>::new(ping::RATE).with_metrics(self.gossip.metrics().cloned());
            c.register(mux);
            c
        })
    }

    /// Registers a connection with `key` in its pool (and metrics); the returned guards undo
    /// it when dropped.
    fn open(
        &self,
        ctx: &ctx::Ctx,
        key: &validator::PublicKey,
        addr: SocketAddr,
        inbound: bool,
    ) -> anyhow::Result<Conn<'_>> {
        let peer = self.peer(ctx, key.clone(), addr);
        let pool = if inbound {
            &self.inbound
        } else {
            &self.outbound
        };
        pool.insert(key.clone(), peer.clone())?;
        Ok(Conn {
            mux: mux::Mux {
                stats: peer.stats.clone(),
                ..mux::Mux::default()
            },
            _guard: PoolGuard(pool, key.clone()),
            _active: self
                .gossip
                .metrics()
                .map(|m| m.connection("consensus", inbound)),
        })
    }

    /// Dialer side: sends the pool's messages to `key`.
    pub(crate) async fn run_client_conn(
        &self,
        ctx: &ctx::Ctx,
        key: validator::PublicKey,
        addr: SocketAddr,
        stream: noise::Stream,
    ) -> anyhow::Result<()> {
        let Conn {
            mut mux,
            _guard,
            _active,
        } = self.open(ctx, &key, addr, false)?;
        let client = Client::<ConsensusRpc>::new(self.gossip.cfg.rpc.consensus_rate)
            .with_metrics(self.gossip.metrics().cloned());
        client.register(&mut mux);
        let ping_server = Server::new(ping::Server, ping::RATE);
        ping_server.register(&mut mux);
        let ping_client = self.ping_client(ctx, &mut mux);
        let cursor = tokio::sync::Mutex::new(Cursor::default());
        let is_self = key == self.key.public();
        end(scope::run!(ctx, |ctx, s| async {
            s.spawn_bg(async { Ok(ping_server.run(ctx).await?) });
            if let (Some(c), Some(t)) = (&ping_client, self.gossip.cfg.ping_timeout) {
                s.spawn_bg(ping::run_client(ctx, c, t, |_| {}));
            }
            if is_self {
                s.spawn_bg(self.run_announcer(ctx, addr));
            }
            for _ in 0..<ConsensusRpc as rpc::Rpc>::INFLIGHT {
                s.spawn_bg::<()>(async {
                    loop {
                        // The replica's own messages skip the loopback connection (it only
                        // has to be up, proving the announced address): they reach the
                        // replica's inbound queue directly, as if received over it.
                        let call = if is_self {
                            None
                        } else {
                            Some(client.reserve(ctx).await?)
                        };
                        let msg = {
                            let mut cursor = sync::lock(ctx, &cursor).await?;
                            loop {
                                let msg = self.msg_pool.next(ctx, &mut cursor).await?;
                                // A replica's own new-view message is of no use to it: it
                                // sends one when it enters a view, so it is always in that view
                                // already; handing it over would only cost a rejection per
                                // view. (Its own votes and proposals do go through: the
                                // replica counts and votes on them.)
                                if !(is_self
                                    && matches!(
                                        msg.msg,
                                        validator::ConsensusMsg::ReplicaNewView(_)
                                    ))
                                {
                                    break msg;
                                }
                            }
                        };
                        let Some(call) = call else {
                            let (send, recv) = oneshot::channel();
                            self.sink.push(msg, send);
                            let _ = recv.recv_or_disconnected(ctx).await?;
                            continue;
                        };
                        let max = rpc::consensus::MAX_RESP_SIZE;
                        if let Err(err) = call.call(ctx, &rpc::consensus::Req(msg), max).await {
                            // Not retried: the replica re-broadcasts what matters.
                            tracing::debug!("consensus call to {key:?}: {err}");
                        }
                    }
                });
            }
            mux.run(ctx, stream).await.map_err(mux_err)
        })
        .await)
    }

    /// Acceptor side: receives `key`'s messages.
    pub(crate) async fn run_server_conn(
        &self,
        ctx: &ctx::Ctx,
        key: validator::PublicKey,
        addr: SocketAddr,
        stream: noise::Stream,
    ) -> anyhow::Result<()> {
        let Conn {
            mut mux,
            _guard,
            _active,
        } = self.open(ctx, &key, addr, true)?;
        let server = Server::new(
            ConsensusServer {
                net: self,
                peer: key,
            },
            self.gossip.cfg.rpc.consensus_rate,
        );
        server.register(&mut mux);
        let ping_server = Server::new(ping::Server, ping::RATE);
        ping_server.register(&mut mux);
        let ping_client = self.ping_client(ctx, &mut mux);
        end(scope::run!(ctx, |ctx, s| async {
            s.spawn_bg(async { Ok(server.run(ctx).await?) });
            s.spawn_bg(async { Ok(ping_server.run(ctx).await?) });
            if let (Some(c), Some(t)) = (&ping_client, self.gossip.cfg.ping_timeout) {
                s.spawn_bg(ping::run_client(ctx, c, t, |_| {}));
            }
            mux.run(ctx, stream).await.map_err(mux_err)
        })
        .await)
    }
}
