//! Network addresses and TCP.

use std::{fmt, net::SocketAddr};

use crate::ctx;

pub mod tcp;
#[cfg(test)]
mod tests;

/// A `host:port` address whose host may be a DNS name, resolved when dialing.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Host(pub String);

impl Host {
    /// Resolves the host to socket addresses (in the resolver's order). An error names the host.
    pub async fn resolve(
        &self,
        ctx: &ctx::Ctx,
    ) -> ctx::OrCanceled<std::io::Result<Vec<SocketAddr>>> {
        let res = ctx.wait(tokio::net::lookup_host(self.0.as_str())).await?;
        Ok(res.map(|addrs| addrs.collect()).map_err(|err| {
            std::io::Error::new(err.kind(), format!("resolving {:?}: {err}", self.0))
        }))
    }
}

impl From<SocketAddr> for Host {
    fn from(addr: SocketAddr) -> Self {
        Self(addr.to_string())
    }
}

impl From<&str> for Host {
    fn from(s: &str) -> Self {
        Self(s.to_string())
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
