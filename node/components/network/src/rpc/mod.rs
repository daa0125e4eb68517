//! Typed RPCs over the multiplexer (protocol.md 5.7): one transient stream per call.
//!
//! - Client: open a stream, write `u32 LE length ‖ canonical request`, close its write half,
//!   read `u32 LE length ‖ response` (length checked against the client's maximum first).
//! - Server: read the request (length checked against the server's maximum before anything
//!   else is read), run the handler, write the response. A handler error writes nothing: the
//!   client sees the stream end.
//! - Concurrency: an RPC has [`Rpc::INFLIGHT`] streams per connection on both sides, so at most
//!   that many calls run at once; each stream establishment takes a token from a rate limiter
//!   on both sides.
//!
//! Each RPC is one file defining its messages and its [`Rpc`] implementation.

pub mod consensus;
pub mod get_block;
pub mod ping;
pub mod push_block_store_state;
pub mod push_tx;
pub mod push_validator_addrs;
#[cfg(test)]
mod tests;

use std::{marker::PhantomData, sync::Arc};

use zksync_concurrency::{ctx, limiter, oneshot, scope};
use zksync_protobuf::ProtoFmt;

use crate::{
    metrics::Metrics,
    mux::{self, CapabilityId, StreamError, StreamQueue},
};

/// An RPC: its capability, messages and limits.
pub trait Rpc: Send + Sync + 'static {
    /// Capability id in the mux handshake.
    const CAPABILITY: CapabilityId;
    /// Streams per connection (concurrent calls).
    const INFLIGHT: u32;
    /// Name in metrics and logs.
    const METHOD: &'static str;
    /// Request.
    type Req: ProtoFmt + Send + Sync;
    /// Response.
    type Resp: ProtoFmt + Send + Sync;
}

/// A call failed.
#[derive(thiserror::Error, Debug)]
pub enum RpcError {
    /// The message is larger than allowed.
    #[error("{what} of {size} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Request or response.
        what: &'static str,
        /// Size announced.
        size: usize,
        /// Limit.
        max: usize,
    },
    /// The message did not decode.
    #[error("decoding {0}: {1:#}")]
    Decode(&'static str, anyhow::Error),
    /// The stream failed (for a client: no response, e.g. the handler failed).
    #[error("stream: {0}")]
    Stream(#[from] StreamError),
    /// Canceled (or timed out).
    #[error("canceled")]
    Canceled,
}

impl From<ctx::Canceled> for RpcError {
    fn from(_: ctx::Canceled) -> Self {
        Self::Canceled
    }
}

/// Writes `msg` and closes the write half (one write for a message that fits in a frame);
/// returns the size of its encoding.
async fn write_msg<T: ProtoFmt>(
    ctx: &ctx::Ctx,
    w: mux::WriteHalf,
    msg: &T,
) -> Result<usize, RpcError> {
    let body = zksync_protobuf::encode(msg);
    let mut framed = Vec::with_capacity(4 + body.len());
    framed.extend_from_slice(&(body.len() as u32).to_le_bytes());
    framed.extend_from_slice(&body);
    w.write_all_and_close(ctx, &framed).await?;
    Ok(body.len())
}

async fn read_msg<T: ProtoFmt>(
    ctx: &ctx::Ctx,
    r: &mut mux::ReadHalf,
    what: &'static str,
    max: usize,
) -> Result<(T, usize), RpcError> {
    let mut len = [0u8; 4];
    r.read_exact(ctx, &mut len).await?;
    let size = u32::from_le_bytes(len) as usize;
    if size > max {
        return Err(RpcError::TooLarge { what, size, max });
    }
    let mut body = vec![0; size];
    r.read_exact(ctx, &mut body).await?;
    let msg = zksync_protobuf::decode(&body).map_err(|e| RpcError::Decode(what, e.into()))?;
    Ok((msg, size))
}

/// The client side of an RPC on one connection.
#[derive(Debug)]
pub struct Client<R: Rpc> {
    queue: Arc<StreamQueue>,
    metrics: Option<Arc<Metrics>>,
    _rpc: PhantomData<R>,
}

impl<R: Rpc> Client<R> {
    /// A client establishing streams at most at `rate`.
    pub fn new(rate: limiter::Rate) -> Self {
        Self {
            queue: StreamQueue::new(R::INFLIGHT, rate),
            metrics: None,
            _rpc: PhantomData,
        }
    }

    /// Reports the calls' latency and message sizes to `metrics`, if any.
    pub fn with_metrics(mut self, metrics: Option<Arc<Metrics>>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Registers this client in `mux`.
    pub fn register(&self, mux: &mut mux::Mux) {
        mux.accept.insert(R::CAPABILITY, self.queue.clone());
    }

    /// Calls the peer; the response may be at most `max_resp` bytes.
    pub async fn call(
        &self,
        ctx: &ctx::Ctx,
        req: &R::Req,
        max_resp: usize,
    ) -> Result<R::Resp, RpcError> {
        self.reserve(ctx).await?.call(ctx, req, max_resp).await
    }

    /// Waits until the peer is ready to serve a call (so that what is sent can be chosen at
    /// the last moment).
    pub async fn reserve(&self, ctx: &ctx::Ctx) -> ctx::OrCanceled<Reserved<R>> {
        Ok(Reserved {
            stream: self.queue.open(ctx).await?,
            metrics: self.metrics.clone(),
            _rpc: PhantomData,
        })
    }
}

/// A stream reserved for one call of `R`.
#[derive(Debug)]
pub struct Reserved<R: Rpc> {
    stream: mux::Stream,
    metrics: Option<Arc<Metrics>>,
    _rpc: PhantomData<R>,
}

impl<R: Rpc> Reserved<R> {
    /// Makes the call; the response may be at most `max_resp` bytes.
    pub async fn call(
        self,
        ctx: &ctx::Ctx,
        req: &R::Req,
        max_resp: usize,
    ) -> Result<R::Resp, RpcError> {
        let mux::Stream { mut read, write } = self.stream;
        let m = self.metrics.as_deref().map(|m| m.rpc_call(ctx, R::METHOD));
        let res = async {
            let size = write_msg(ctx, write, req).await?;
            if let Some(m) = &m {
                m.message("req_sent", size);
            }
            let (resp, size) = read_msg(ctx, &mut read, "response", max_resp).await?;
            if let Some(m) = &m {
                m.message("resp_recv", size);
            }
            read.wait_close(ctx).await?;
            Ok(resp)
        }
        .await;
        if let Some(m) = m {
            m.finish(ctx, res.is_ok());
        }
        res
    }
}

/// What a server does with a request.
#[async_trait::async_trait]
pub trait Handler<R: Rpc>: Send + Sync {
    /// Largest request accepted, in bytes.
    fn max_req_size(&self) -> usize;
    /// Answers a request; an error sends no response.
    async fn handle(&self, ctx: &ctx::Ctx, req: R::Req) -> anyhow::Result<R::Resp>;
}

/// The server side of an RPC on one connection.
pub struct Server<R: Rpc, H: Handler<R>> {
    queue: Arc<StreamQueue>,
    handler: H,
    _rpc: PhantomData<R>,
}

impl<R: Rpc, H: Handler<R>> Server<R, H> {
    /// A server establishing streams at most at `rate`.
    pub fn new(handler: H, rate: limiter::Rate) -> Self {
        Self {
            queue: StreamQueue::new(R::INFLIGHT, rate),
            handler,
            _rpc: PhantomData,
        }
    }

    /// Registers this server in `mux`.
    pub fn register(&self, mux: &mut mux::Mux) {
        mux.connect.insert(R::CAPABILITY, self.queue.clone());
    }

    /// Serves one call on `stream`. Once the request is read, reserves the stream for the
    /// next call into `next` before the response is written (so that the stream can say it is
    /// ready again in the same write as the response).
    async fn serve_one(
        &self,
        ctx: &ctx::Ctx,
        stream: mux::Stream,
        next: &mut Option<oneshot::Receiver<mux::Stream>>,
    ) -> Result<(), RpcError> {
        let mux::Stream { mut read, write } = stream;
        let req = async {
            let (req, _) = read_msg(ctx, &mut read, "request", self.handler.max_req_size()).await?;
            read.wait_close(ctx).await?;
            Ok::<_, RpcError>(req)
        }
        .await;
        drop(read);
        let resp = self.handler.handle(ctx, req?).await;
        *next = Some(self.queue.reserve());
        match resp {
            Ok(resp) => write_msg(ctx, write, &resp).await.map(|_| ()),
            Err(e) => {
                tracing::debug!("rpc {}: handler: {e:#}", R::METHOD);
                Ok(())
            }
        }
    }

    /// Serves calls until `ctx` is cancelled: [`Rpc::INFLIGHT`] at a time. A bad request only
    /// ends its own call.
    pub async fn run(&self, ctx: &ctx::Ctx) -> ctx::OrCanceled<()> {
        let res: ctx::Result<()> = scope::run!(ctx, |ctx, s| async {
            for _ in 0..R::INFLIGHT {
                s.spawn(async {
                    let mut next = None;
                    while ctx.is_active() {
                        let reserved = next.take().unwrap_or_else(|| self.queue.reserve());
                        let Ok(stream) = reserved.recv(ctx).await else {
                            break;
                        };
                        if let Err(e) = self.serve_one(ctx, stream, &mut next).await {
                            if matches!(e, RpcError::Canceled) {
                                break;
                            }
                            tracing::debug!("rpc {}: {e}", R::METHOD);
                        }
                    }
                    Ok(())
                });
            }
            Ok(())
        })
        .await;
        res.map_err(|_| ctx::Canceled)
    }
}
