//! Ping (capability 2; protocol.md 5.7): the client sends 32 random bytes, the server echoes
//! them. A client loop pings every `timeout` and drops the connection on a wrong or late echo.
//! The server's rate is part of the protocol: burst 2, one per second.

use anyhow::Context as _;
use rand::Rng as _;
use zksync_concurrency::{ctx, limiter, time};
use zksync_protobuf::{ProtoFmt, kB, required};

use super::{Client, Handler, Rpc};
use crate::proto::zksync::network::ping as proto;

/// The ping RPC.
#[derive(Debug)]
pub struct PingRpc;

impl Rpc for PingRpc {
    const CAPABILITY: u64 = 2;
    const INFLIGHT: u32 = 1;
    const METHOD: &'static str = "ping";
    type Req = Req;
    type Resp = Resp;
}

/// The server's rate.
pub const RATE: limiter::Rate = limiter::Rate {
    burst: 2,
    refresh: time::Duration::from_secs(1),
};
/// Largest request or response.
pub const MAX_SIZE: usize = kB;

/// A ping: 32 bytes to echo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Req(pub [u8; 32]);

/// The echo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resp(pub [u8; 32]);

impl ProtoFmt for Req {
    type Proto = proto::PingReq;
    fn read(r: &Self::Proto) -> anyhow::Result<Self> {
        Ok(Self(required(&r.data)?[..].try_into().context("data")?))
    }
    fn build(&self) -> Self::Proto {
        proto::PingReq {
            data: Some(self.0.to_vec()),
        }
    }
}

impl ProtoFmt for Resp {
    type Proto = proto::PingResp;
    fn read(r: &Self::Proto) -> anyhow::Result<Self> {
        Ok(Self(required(&r.data)?[..].try_into().context("data")?))
    }
    fn build(&self) -> Self::Proto {
        proto::PingResp {
            data: Some(self.0.to_vec()),
        }
    }
}

/// Echoes pings.
#[derive(Debug, Default)]
pub struct Server;

#[async_trait::async_trait]
impl Handler<PingRpc> for Server {
    fn max_req_size(&self) -> usize {
        MAX_SIZE
    }
    async fn handle(&self, _: &ctx::Ctx, req: Req) -> anyhow::Result<Resp> {
        Ok(Resp(req.0))
    }
}

/// Pings every `timeout`, each within `timeout`, reporting each round trip time to `on_rtt`;
/// returns an error (which should drop the connection) on the first failure.
pub async fn run_client(
    ctx: &ctx::Ctx,
    client: &Client<PingRpc>,
    timeout: time::Duration,
    mut on_rtt: impl FnMut(time::Duration),
) -> ctx::Result<()> {
    loop {
        let mut data = [0u8; 32];
        ctx.rng().fill_bytes(&mut data);
        let start = ctx.now();
        let resp = client
            .call(&ctx.with_timeout(timeout), &Req(data), MAX_SIZE)
            .await;
        if !ctx.is_active() {
            return Err(ctx::Canceled.into());
        }
        let resp = resp.map_err(|e| anyhow::anyhow!("ping: {e}"))?;
        if resp.0 != data {
            return Err(anyhow::anyhow!("ping: wrong echo").into());
        }
        on_rtt(ctx.now().saturating_duration_since(start));
        ctx.sleep(timeout).await?;
    }
}
