//! The stream multiplexer (protocol.md 5.6; 13.A W1, 13.B I4): many reusable streams over one
//! Noise connection, one capability (RPC) each.
//!
//! - Handshake: both sides send `mux.Handshake{accept, connect}` at once and read the peer's.
//!   `accept` lists the capabilities this side calls (client), `connect` those it serves
//!   (server), each with a maximum number of concurrent streams. Lists may come in any order;
//!   duplicate ids are refused; unknown capabilities are ignored.
//! - Stream ids: for each capability in ascending id, my client streams get
//!   `min(mine, peer's server streams)` consecutive ids from 0 (and likewise for my server
//!   streams against the peer's client streams); both sides derive the same ids.
//! - Frames: see [`header`]. A frame kind `11`, or an id beyond the allocated ones, is a
//!   protocol error that ends the connection (never a crash).
//! - Each reusable stream loops: CLOSE; a permit from the token bucket its capability shares
//!   with its other streams; then the server sends OPEN when a
//!   local server is ready and waits for the client's OPEN, while the client waits for the
//!   server's OPEN, then for a local call, then sends OPEN; frames that arrive while waiting for
//!   OPEN are stale and dropped; the transient stream is handed over until both halves are
//!   dropped. The first CLOSE is not sent on its own: it goes out just before this side's next
//!   OPEN, in the same write (the peer sees the same frames in the same order, so one system
//!   call carries a client's CLOSE, OPEN, request and end of request).
//! - Memory: received frames wait in buffers shared by the connection (`read_buffer_size` bytes,
//!   `read_frame_count` frames: OPEN, CLOSE, and DATA in chunks of at most `read_frame_size`);
//!   when they are full the connection stops reading, so a peer cannot make us hold more.
//!   Outgoing data is bounded the same way.

pub mod header;
mod reusable;
mod stream;
#[cfg(test)]
mod tests;

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use anyhow::Context as _;
use tokio::sync::Semaphore;
use zksync_concurrency::{channel, ctx, limiter, oneshot, scope, sync};
use zksync_protobuf::{ProtoFmt, kB, required};

pub use self::{
    header::StreamKind,
    stream::{ReadHalf, Stream, StreamError, WriteHalf},
};
use self::{
    header::{FrameKind, Header, STREAM_IDS},
    reusable::run_stream,
    stream::{InFrame, OutFrame},
};
use crate::{frame, metrics::Metrics, noise, proto::zksync::network::mux as proto};

/// A capability (RPC) id.
pub type CapabilityId = u64;

/// Buffer sizes of a connection.
#[derive(Clone, Debug)]
pub struct Config {
    /// Largest amount of received, unconsumed data.
    pub read_buffer_size: u64,
    /// Received DATA is buffered in chunks of at most this size.
    pub read_frame_size: usize,
    /// Largest number of buffered received frames (OPEN, CLOSE and DATA chunks).
    pub read_frame_count: u64,
    /// Largest DATA payload sent in one frame.
    pub write_frame_size: usize,
}

impl Default for Config {
    /// The values every RPC service uses.
    fn default() -> Self {
        Self {
            read_buffer_size: 160 * kB as u64,
            read_frame_size: 16 * kB,
            read_frame_count: 100,
            write_frame_size: 16 * kB,
        }
    }
}

/// Largest mux handshake frame.
const MAX_HANDSHAKE: usize = 10 * kB;

/// The mux handshake: capabilities and their stream counts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Handshake {
    /// Capabilities this side calls (client side), with their stream counts.
    pub accept: BTreeMap<CapabilityId, u32>,
    /// Capabilities this side serves.
    pub connect: BTreeMap<CapabilityId, u32>,
}

fn read_caps(caps: &[proto::handshake::Capability]) -> anyhow::Result<BTreeMap<CapabilityId, u32>> {
    let mut out = BTreeMap::new();
    for c in caps {
        let id = *required(&c.id).context("id")?;
        let max = *required(&c.max_streams).context("max_streams")?;
        anyhow::ensure!(out.insert(id, max).is_none(), "duplicate capability {id}");
    }
    Ok(out)
}

fn build_caps(caps: &BTreeMap<CapabilityId, u32>) -> Vec<proto::handshake::Capability> {
    caps.iter()
        .map(|(id, max)| proto::handshake::Capability {
            id: Some(*id),
            max_streams: Some(*max),
        })
        .collect()
}

impl ProtoFmt for Handshake {
    type Proto = proto::Handshake;
    fn read(r: &Self::Proto) -> anyhow::Result<Self> {
        Ok(Self {
            accept: read_caps(&r.accept).context("accept")?,
            connect: read_caps(&r.connect).context("connect")?,
        })
    }
    fn build(&self) -> Self::Proto {
        proto::Handshake {
            accept: build_caps(&self.accept),
            connect: build_caps(&self.connect),
        }
    }
}

/// The users of one capability on one connection: RPC calls (client side) or a server ready to
/// answer (server side) reserve streams here.
#[derive(Debug)]
pub struct StreamQueue {
    max_streams: u32,
    rate: limiter::Rate,
    send: channel::UnboundedSender<oneshot::Sender<Stream>>,
    recv: tokio::sync::Mutex<channel::Receiver<oneshot::Sender<Stream>>>,
}

impl StreamQueue {
    /// A queue offering up to `max_streams` concurrent streams, each one established at
    /// most at `rate`.
    pub fn new(max_streams: u32, rate: limiter::Rate) -> Arc<Self> {
        let (send, recv) = channel::unbounded();
        Arc::new(Self {
            max_streams,
            rate,
            send,
            recv: tokio::sync::Mutex::new(recv),
        })
    }

    /// Waits for a transient stream (as a client: a call; as a server: ready to serve one).
    pub async fn open(&self, ctx: &ctx::Ctx) -> ctx::OrCanceled<Stream> {
        self.reserve().recv(ctx).await
    }

    /// Reserves a transient stream without waiting: the receiver gets it when one is ready.
    /// A server that knows it will serve another call reserves before it sends a response,
    /// so that the stream can announce it is ready again in the same write as the response.
    pub fn reserve(&self) -> oneshot::Receiver<Stream> {
        let (send, recv) = oneshot::channel();
        self.send.send(send);
        recv
    }

    /// Takes a reservation whose caller still waits, if there is one right now.
    fn try_reservation(&self) -> Option<oneshot::Sender<Stream>> {
        let mut recv = self.recv.try_lock().ok()?;
        loop {
            let r = recv.try_recv()?;
            if !r.is_closed() {
                return Some(r);
            }
        }
    }

    /// Takes the next reservation whose caller still waits.
    async fn reservation(&self, ctx: &ctx::Ctx) -> ctx::OrCanceled<oneshot::Sender<Stream>> {
        let mut recv = sync::lock(ctx, &self.recv).await?;
        loop {
            let r = recv.recv(ctx).await?;
            if !r.is_closed() {
                return Ok(r);
            }
        }
    }
}

/// Live figures of a running mux.
#[derive(Debug, Default)]
pub struct Stats {
    /// The read buffer and its size, once running.
    read: std::sync::OnceLock<(Arc<Semaphore>, u64)>,
    /// Frame bytes sent.
    sent: AtomicU64,
    /// Frame bytes received.
    received: AtomicU64,
    /// Where the byte counts are added up for the whole node, if anywhere.
    metrics: Option<Arc<Metrics>>,
}

impl Stats {
    /// Figures whose byte counts also add to `metrics`' TCP counters.
    pub fn new(metrics: Option<Arc<Metrics>>) -> Self {
        Self {
            metrics,
            ..Self::default()
        }
    }

    /// Bytes of frames sent (headers and data; the Noise framing not included).
    pub fn sent_bytes(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Bytes of frames received (headers and data; the Noise framing not included).
    pub fn received_bytes(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    fn add_sent(&self, n: usize) {
        self.sent.fetch_add(n as u64, Ordering::Relaxed);
        if let Some(m) = &self.metrics {
            m.tcp_sent.inc_by(n as u64);
        }
    }

    fn add_received(&self, n: usize) {
        self.received.fetch_add(n as u64, Ordering::Relaxed);
        if let Some(m) = &self.metrics {
            m.tcp_received.inc_by(n as u64);
        }
    }

    /// Bytes received and not yet consumed by the streams' users.
    pub fn buffered_bytes(&self) -> u64 {
        self.read
            .get()
            .map_or(0, |(s, cap)| cap - s.available_permits() as u64)
    }
}

/// The services of one side of a connection.
#[derive(Debug, Default)]
pub struct Mux {
    /// Live figures.
    pub stats: Arc<Stats>,
    /// Buffer sizes.
    pub cfg: Config,
    /// Capabilities this side calls.
    pub accept: BTreeMap<CapabilityId, Arc<StreamQueue>>,
    /// Capabilities this side serves.
    pub connect: BTreeMap<CapabilityId, Arc<StreamQueue>>,
}

/// A protocol error of the peer.
#[derive(thiserror::Error, Debug)]
pub enum MuxError {
    /// The handshake was invalid.
    #[error("mux handshake: {0:#}")]
    Handshake(anyhow::Error),
    /// An invalid frame.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The connection failed or ended.
    #[error("connection: {0:#}")]
    Connection(anyhow::Error),
    /// Canceled.
    #[error("canceled")]
    Canceled,
}

impl From<ctx::Error> for MuxError {
    fn from(e: ctx::Error) -> Self {
        match e {
            ctx::Error::Canceled(_) => Self::Canceled,
            ctx::Error::Internal(e) => Self::Connection(e),
        }
    }
}

impl From<ctx::Canceled> for MuxError {
    fn from(_: ctx::Canceled) -> Self {
        Self::Canceled
    }
}

/// Stream counts of one kind: (capability, count) in ascending capability order.
fn allocate(
    mine: &BTreeMap<CapabilityId, Arc<StreamQueue>>,
    peer: &BTreeMap<CapabilityId, u32>,
) -> Vec<(CapabilityId, u32)> {
    mine.iter()
        .map(|(id, q)| (*id, q.max_streams.min(*peer.get(id).unwrap_or(&0))))
        .collect()
}

impl Mux {
    fn handshake(&self) -> Handshake {
        let caps = |m: &BTreeMap<CapabilityId, Arc<StreamQueue>>| {
            m.iter().map(|(id, q)| (*id, q.max_streams)).collect()
        };
        Handshake {
            accept: caps(&self.accept),
            connect: caps(&self.connect),
        }
    }

    /// Runs the mux over `stream` until the connection ends or `ctx` is cancelled.
    pub async fn run(self, ctx: &ctx::Ctx, stream: noise::Stream) -> Result<(), MuxError> {
        for caps in [&self.accept, &self.connect] {
            let total: u64 = caps.values().map(|q| u64::from(q.max_streams)).sum();
            if total > STREAM_IDS as u64 {
                return Err(MuxError::Handshake(anyhow::anyhow!(
                    "{total} streams of one kind requested, at most {STREAM_IDS} exist"
                )));
            }
        }
        let noise::Stream {
            mut read,
            mut write,
            ..
        } = stream;
        let mine = self.handshake();
        let (_, peer) = scope::run!(ctx, |ctx, s| async {
            let r =
                s.spawn(async { frame::read::<Handshake>(ctx, &mut read, MAX_HANDSHAKE).await });
            frame::write(ctx, &mut write, &mine).await?;
            Ok(((), r.join(ctx).await?))
        })
        .await
        .map_err(|e: ctx::Error| match e {
            ctx::Error::Canceled(_) => MuxError::Canceled,
            ctx::Error::Internal(e) => MuxError::Handshake(e),
        })?;
        let mut streams: Vec<(StreamKind, u16, Arc<StreamQueue>, usize)> = vec![];
        // One token bucket per capability and direction, shared by all its streams: the
        // connection as a whole keeps to the rate however many streams the RPC has.
        let mut limiters: Vec<limiter::Limiter> = vec![];
        for (kind, queues, peer_caps) in [
            (StreamKind::Accept, &self.accept, &peer.connect),
            (StreamKind::Connect, &self.connect, &peer.accept),
        ] {
            let mut next = 0u16;
            for (cap, n) in allocate(queues, peer_caps) {
                let queue = &queues[&cap];
                limiters.push(limiter::Limiter::new(queue.rate));
                for _ in 0..n {
                    streams.push((kind, next, queue.clone(), limiters.len() - 1));
                    next += 1;
                }
            }
        }
        let counts = |kind| streams.iter().filter(|(k, ..)| *k == kind).count();
        let (n_accept, n_connect) = (counts(StreamKind::Accept), counts(StreamKind::Connect));
        let cfg = &self.cfg;
        let read_bytes = Arc::new(Semaphore::new(cfg.read_buffer_size as usize));
        let _ = self
            .stats
            .read
            .set((read_bytes.clone(), cfg.read_buffer_size));
        let read_frames = Arc::new(Semaphore::new(cfg.read_frame_count as usize));
        let write_buffer = Arc::new(Semaphore::new(
            cfg.read_buffer_size.max(cfg.write_frame_size as u64) as usize,
        ));
        let stats = &*self.stats;
        let (out_send, mut out_recv) = channel::unbounded::<OutFrame>();
        let mut inbound_senders = BTreeMap::new();
        scope::run!(ctx, |ctx, s| async {
            for (kind, id, queue, limiter) in &streams {
                let (send, recv) = channel::unbounded();
                inbound_senders.insert((*kind, *id), send);
                let (out, wb) = (out_send.clone(), write_buffer.clone());
                let limiter = &limiters[*limiter];
                s.spawn_bg(async move {
                    run_stream(
                        ctx,
                        *kind,
                        *id,
                        queue,
                        limiter,
                        out,
                        wb,
                        cfg.write_frame_size,
                        recv,
                    )
                    .await
                    .map_err(MuxError::from)
                });
            }
            // Writer.
            s.spawn_bg::<()>(async {
                loop {
                    let f = out_recv.recv(ctx).await?;
                    write_frames(ctx, &mut write, &f, stats).await?;
                    drop(f);
                    while let Some(f) = out_recv.try_recv() {
                        write_frames(ctx, &mut write, &f, stats).await?;
                    }
                    write.flush(ctx).await?;
                }
            });
            // Reader.
            loop {
                let mut raw = [0u8; 2];
                read.read_exact(ctx, &mut raw).await?;
                stats.add_received(2);
                let h = Header::decode(raw).map_err(|e| MuxError::Protocol(e.to_string()))?;
                let local = h.stream.opposite();
                let limit = match local {
                    StreamKind::Accept => n_accept,
                    StreamKind::Connect => n_connect,
                };
                if usize::from(h.id) >= limit {
                    return Err(MuxError::Protocol(format!(
                        "frame for {local:?} stream {} of {limit}",
                        h.id
                    )));
                }
                let dest = &inbound_senders[&(local, h.id)];
                match h.frame {
                    // Control frames count against the frame count too, so that a peer
                    // repeating them cannot make a stream that is not reading queue them
                    // without limit.
                    FrameKind::Open | FrameKind::Close => {
                        let frame = ctx
                            .wait(read_frames.clone().acquire_owned())
                            .await?
                            .map_err(|e| MuxError::Connection(e.into()))?;
                        dest.send(match h.frame {
                            FrameKind::Open => InFrame::Open(frame),
                            _ => InFrame::Close(frame),
                        });
                    }
                    FrameKind::Data => {
                        let mut len = [0u8; 2];
                        read.read_exact(ctx, &mut len).await?;
                        stats.add_received(2);
                        let mut left = usize::from(u16::from_le_bytes(len));
                        while left > 0 {
                            let n = left.min(cfg.read_frame_size);
                            let bytes = ctx
                                .wait(read_bytes.clone().acquire_many_owned(n as u32))
                                .await?
                                .map_err(|e| MuxError::Connection(e.into()))?;
                            let frames = ctx
                                .wait(read_frames.clone().acquire_owned())
                                .await?
                                .map_err(|e| MuxError::Connection(e.into()))?;
                            let mut chunk = vec![0; n];
                            read.read_exact(ctx, &mut chunk).await?;
                            stats.add_received(n);
                            dest.send(InFrame::Data(chunk, Some((bytes, frames))));
                            left -= n;
                        }
                    }
                }
            }
        })
        .await
    }
}

async fn write_frames(
    ctx: &ctx::Ctx,
    w: &mut noise::WriteHalf,
    f: &OutFrame,
    stats: &Stats,
) -> ctx::Result<()> {
    w.write_all(ctx, &f.bytes).await?;
    stats.add_sent(f.bytes.len());
    Ok(())
}
