//! Reading a node's state over its JSON-RPC and metrics endpoints (a minimal HTTP/1.1 GET
//! client: the endpoints are our own, on loopback).

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use zksync_concurrency::{ctx, time};

/// How to reach a node.
#[derive(Debug, Clone)]
pub(super) struct Probe {
    rpc: SocketAddr,
    metrics: SocketAddr,
    pub(super) is_validator: bool,
}

/// What a node reported (`None` where it did not answer).
#[derive(Debug, Clone, Default)]
pub(super) struct Status {
    /// Last block held.
    pub(super) height: Option<u64>,
    /// Gossip connections.
    pub(super) peers: Option<usize>,
    /// Finality latency histogram: (upper bound in seconds, cumulative count).
    pub(super) latency: Vec<(f64, u64)>,
}

async fn get(ctx: &ctx::Ctx, addr: SocketAddr, path: &str) -> anyhow::Result<String> {
    let ctx = &ctx.with_timeout(time::Duration::from_secs(2));
    let mut s = ctx.wait(tokio::net::TcpStream::connect(addr)).await??;
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    ctx.wait(s.write_all(req.as_bytes())).await??;
    let mut buf = vec![];
    ctx.wait(s.read_to_end(&mut buf)).await??;
    let text = String::from_utf8(buf)?;
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| anyhow::anyhow!("malformed response"))?;
    anyhow::ensure!(
        head.starts_with("HTTP/1.1 200"),
        "{}",
        head.lines().next().unwrap_or("")
    );
    Ok(body.to_string())
}

/// Parses the cumulative buckets of histogram `name` from Prometheus text.
pub(super) fn parse_histogram(text: &str, name: &str) -> Vec<(f64, u64)> {
    let prefix = format!("{name}_bucket{{le=\"");
    let mut out = vec![];
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(&prefix) else {
            continue;
        };
        let Some((le, count)) = rest.split_once("\"} ") else {
            continue;
        };
        let le = if le == "+Inf" {
            f64::INFINITY
        } else {
            match le.parse() {
                Ok(v) => v,
                Err(_) => continue,
            }
        };
        if let Ok(c) = count.trim().parse::<f64>() {
            out.push((le, c as u64));
        }
    }
    out
}

/// The `q` quantile (0..1) of a cumulative histogram, interpolated within its bucket.
pub(super) fn quantile(buckets: &[(f64, u64)], q: f64) -> Option<f64> {
    let total = buckets.last()?.1;
    if total == 0 {
        return None;
    }
    let rank = q * total as f64;
    let mut prev = (0., 0u64);
    for &(le, c) in buckets {
        if c as f64 >= rank {
            if le.is_infinite() {
                return Some(prev.0);
            }
            let in_bucket = (c - prev.1) as f64;
            let frac = if in_bucket > 0. {
                (rank - prev.1 as f64) / in_bucket
            } else {
                1.
            };
            return Some(prev.0 + (le - prev.0) * frac);
        }
        prev = (le, c);
    }
    None
}

impl Probe {
    pub(super) fn new(rpc: SocketAddr, metrics: SocketAddr, is_validator: bool) -> Self {
        Self {
            rpc,
            metrics,
            is_validator,
        }
    }

    pub(super) async fn poll(&self, ctx: &ctx::Ctx) -> Status {
        let mut s = Status::default();
        if let Ok(body) = get(ctx, self.rpc, "/last_committed_block").await
            && let Ok(v) = serde_json::from_str::<serde_json::Value>(&body)
        {
            s.height = v["last_committed_block"].as_u64();
        }
        if let Ok(body) = get(ctx, self.rpc, "/peers").await
            && let Ok(v) = serde_json::from_str::<serde_json::Value>(&body)
        {
            let count = |k: &str| v[k].as_array().map_or(0, Vec::len);
            s.peers = Some(count("gossip_inbound") + count("gossip_outbound"));
        }
        if self.is_validator
            && let Ok(text) = get(ctx, self.metrics, "/metrics").await
        {
            s.latency = parse_histogram(&text, "consensus_commit_latency_seconds");
        }
        s
    }
}

/// Polls every node at once.
pub(super) async fn poll_all(ctx: &ctx::Ctx, probes: &[Probe]) -> Vec<Status> {
    let mut out = vec![];
    // Sequential is fine: loopback, a few ms each.
    for p in probes {
        out.push(p.poll(ctx).await);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantiles() {
        let text = "# HELP x\nfoo_seconds_bucket{le=\"0.001\"} 0\nfoo_seconds_bucket{le=\"0.002\"} 50\nfoo_seconds_bucket{le=\"0.004\"} 100\nfoo_seconds_bucket{le=\"+Inf\"} 100\nfoo_seconds_count 100\n";
        let h = parse_histogram(text, "foo_seconds");
        assert_eq!(h.len(), 4);
        let p50 = quantile(&h, 0.5).unwrap();
        assert!((p50 - 0.002).abs() < 1e-9, "{p50}");
        let p99 = quantile(&h, 0.99).unwrap();
        assert!(p99 > 0.0039 && p99 <= 0.004, "{p99}");
        assert_eq!(quantile(&[], 0.5), None);
        assert_eq!(quantile(&[(1., 0), (f64::INFINITY, 0)], 0.5), None);
    }
}
