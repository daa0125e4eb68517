//! The consensus network (protocol.md 5.9): the validators of one epoch, each connected to
//! every other (and to itself, over loopback through its public address, which also proves the
//! address works before it is announced).
//!
//! Messages flow from the dialer to the acceptor only: the dialer's consensus client sends what
//! the outbound [`msg_pool::MsgPool`] holds (only the newest message of each kind, so a
//! reconnecting peer gets just those), reserving a stream before it picks the message. The
//! acceptor checks that the message is signed by the validator authenticated on the connection,
//! hands it to the [`ConsensusSink`] (the bft inbound queue) and answers only once the replica
//! has processed or dropped it: with at most 3 calls in flight per connection, that is the
//! back-pressure of the consensus network.
//!
//! A validator's messages to itself are not sent over its loopback connection (the reference
//! sends them through it, protocol.md 2.6 "Self-delivery"): while that connection is up they
//! go straight into the sink, three at a time and in order like any peer's, without its new-view
//! messages (it is always in that view already). Nothing on the wire changes; it saves the
//! Noise, TCP and RPC work of about a tenth of a validator's messages.
//!
//! Address announcement: when the loopback connection succeeds the node signs its public
//! address with a version above any seen for its key and spreads it through the gossip
//! network; again every `address_announce_interval`, and at once when another address for its
//! key shows up (an older instance of the node).

pub mod msg_pool;
mod runner;
#[cfg(test)]
mod tests;

use std::{collections::BTreeMap, net::SocketAddr, sync::Arc};

use anyhow::Context as _;
use rand::RngExt as _;
use zksync_concurrency::{ctx, oneshot, scope, sync, time};
use zksync_consensus_roles::validator::{self, ConsensusMsg, EpochNumber, NetAddress, Schedule};
use zksync_protobuf::std_conv::Timestamp;

use self::msg_pool::MsgPool;
use crate::{gossip::Gossip, handshake, mux, pool::Pool, preface};

/// Where received consensus messages go: the bft inbound queue.
pub trait ConsensusSink: Send + Sync + std::fmt::Debug {
    /// Queues `msg`; `ack` fires (or is dropped) once it is processed or discarded.
    fn push(&self, msg: validator::Signed<ConsensusMsg>, ack: oneshot::Sender<()>);
}

/// An established consensus connection.
#[derive(Debug)]
pub struct Peer {
    /// The peer's validator key.
    pub key: validator::PublicKey,
    /// The peer's address.
    pub addr: SocketAddr,
    /// When the connection was established.
    pub established: time::Utc,
    /// Traffic figures.
    pub stats: Arc<mux::Stats>,
}

/// The consensus network of one epoch.
#[derive(Debug)]
pub struct Consensus {
    pub(crate) gossip: Arc<Gossip>,
    key: validator::SecretKey,
    /// The epoch.
    pub epoch: EpochNumber,
    /// Its validators.
    pub schedule: Arc<Schedule>,
    /// Connections from validators (they send to this node).
    pub inbound: Pool<validator::PublicKey, Arc<Peer>>,
    /// Connections to validators (this node sends to them).
    pub outbound: Pool<validator::PublicKey, Arc<Peer>>,
    /// What this node sends.
    pub msg_pool: MsgPool,
    sink: Arc<dyn ConsensusSink>,
    /// Wakes the redial loop of a validator that just dialed this node.
    kicks: BTreeMap<validator::PublicKey, tokio::sync::Notify>,
}

impl Consensus {
    /// The consensus network of `epoch` for the validator `key`.
    pub fn new(
        gossip: Arc<Gossip>,
        key: validator::SecretKey,
        epoch: EpochNumber,
        schedule: Arc<Schedule>,
        sink: Arc<dyn ConsensusSink>,
    ) -> Self {
        let kicks = schedule
            .keys()
            .map(|k| (k.clone(), tokio::sync::Notify::new()))
            .collect();
        Self {
            gossip,
            key,
            epoch,
            inbound: Pool::new(schedule.keys().cloned(), 0),
            outbound: Pool::new(schedule.keys().cloned(), 0),
            schedule,
            msg_pool: MsgPool::default(),
            sink,
            kicks,
        }
    }

    /// This node's validator key.
    pub fn public_key(&self) -> validator::PublicKey {
        self.key.public()
    }

    /// Serves an inbound connection whose consensus handshake authenticated `peer`.
    pub(crate) async fn run_inbound(
        &self,
        ctx: &ctx::Ctx,
        peer: validator::PublicKey,
        addr: SocketAddr,
        stream: crate::noise::Stream,
    ) -> anyhow::Result<()> {
        if let Some(k) = self.kicks.get(&peer) {
            k.notify_one();
        }
        self.run_server_conn(ctx, peer, addr, stream).await
    }

    /// Where to dial `peer`: its public address for this node, else its announced address
    /// (waiting for one to be announced).
    async fn peer_addr(
        &self,
        ctx: &ctx::Ctx,
        peer: &validator::PublicKey,
    ) -> ctx::Result<SocketAddr> {
        if *peer == self.key.public() {
            let addrs = self
                .gossip
                .cfg
                .public_addr
                .resolve(ctx)
                .await?
                .context("resolving the public address")?;
            let i = ctx.rng().random_range(0..addrs.len().max(1));
            return Ok(*addrs.get(i).context("public address resolved to nothing")?);
        }
        let mut sub = self.gossip.validator_addrs.subscribe();
        let addrs = sync::wait_for(ctx, &mut sub, |m| m.contains_key(peer)).await?;
        Ok(addrs[peer].msg.addr)
    }

    /// Waits until `peer` announces an address other than `last` (never, for this node).
    async fn addr_changed(
        &self,
        ctx: &ctx::Ctx,
        peer: &validator::PublicKey,
        last: Option<SocketAddr>,
    ) -> ctx::OrCanceled<()> {
        if *peer == self.key.public() {
            ctx.canceled().await;
            return Err(ctx::Canceled);
        }
        let mut sub = self.gossip.validator_addrs.subscribe();
        sync::wait_for(ctx, &mut sub, |m| {
            m.get(peer).is_some_and(|a| Some(a.msg.addr) != last)
        })
        .await?;
        Ok(())
    }

    /// Keeps a connection to `peer` (possibly this node itself), redialing with backoff.
    ///
    /// After a failure the same address is dialed again once the backoff ends: a validator
    /// restarted at its old address announces nothing new, so waiting for a new address would
    /// leave it without this node's messages. The backoff ends early when the peer dials this
    /// node (it is up again) or announces another address.
    async fn maintain(&self, ctx: &ctx::Ctx, peer: &validator::PublicKey) -> ctx::OrCanceled<()> {
        let mut delay = time::Duration::from_millis(100);
        let mut last = None;
        loop {
            let res = async {
                let addr = self.peer_addr(ctx, peer).await?;
                last = Some(addr);
                let mut stream =
                    preface::connect(ctx, addr, preface::Endpoint::ConsensusNet).await?;
                handshake::consensus::outbound(
                    ctx,
                    &self.key,
                    self.gossip.genesis,
                    &mut stream,
                    peer,
                )
                .await
                .map_err(|e| ctx::Error::Internal(e.into()))?;
                delay = time::Duration::from_millis(100);
                self.run_client_conn(ctx, peer.clone(), addr, stream)
                    .await
                    .map_err(ctx::Error::Internal)
            }
            .await;
            if !ctx.is_active() {
                return Err(ctx::Canceled);
            }
            if let Err(err) = res {
                tracing::debug!(epoch = %self.epoch, "consensus connection to {peer:?}: {err:#}");
            }
            let sleep = ctx.sleep(delay.mul_f64(ctx.rng().random_range(0.5..=1.0)));
            let kick = async {
                match self.kicks.get(peer) {
                    Some(k) => k.notified().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                res = sleep => res?,
                () = kick => delay = time::Duration::from_millis(50),
                res = self.addr_changed(ctx, peer, last) => {
                    res?;
                    delay = time::Duration::from_millis(50);
                }
            }
            delay = (delay * 2).min(self.gossip.cfg.connect_retry);
        }
    }

    /// Announces `addr` as this validator's address (signed, with a version above any seen).
    pub(crate) fn announce(&self, ctx: &ctx::Ctx, addr: SocketAddr) {
        let me = self.key.public();
        let version = self
            .gossip
            .validator_addrs
            .current()
            .get(&me)
            .map_or(0, |a| a.msg.version + 1);
        let msg = NetAddress {
            addr,
            version,
            timestamp: Timestamp::from_utc(ctx.now_utc()),
        };
        self.gossip
            .validator_addrs
            .insert_own(self.key.sign_msg(msg));
    }

    /// Re-announces `addr` every interval, and at once when the map shows another address
    /// for this key. Runs while the loopback connection is up.
    pub(crate) async fn run_announcer(&self, ctx: &ctx::Ctx, addr: SocketAddr) -> ctx::Result<()> {
        let me = self.key.public();
        let mut sub = self.gossip.validator_addrs.subscribe();
        loop {
            self.announce(ctx, addr);
            sub.borrow_and_update();
            let wait = ctx.with_timeout(self.gossip.cfg.address_announce_interval);
            let _ = sync::wait_for(&wait, &mut sub, |m| {
                m.get(&me).is_none_or(|a| a.msg.addr != addr)
            })
            .await;
            if !ctx.is_active() {
                return Err(ctx::Canceled.into());
            }
        }
    }

    /// Connects to every validator of the epoch until `ctx` is cancelled.
    pub async fn run(&self, ctx: &ctx::Ctx) -> ctx::OrCanceled<()> {
        let res: ctx::OrCanceled<()> = scope::run!(ctx, |ctx, s| async {
            for peer in self.schedule.keys() {
                s.spawn(self.maintain(ctx, peer));
            }
            Ok(())
        })
        .await;
        res
    }
}
