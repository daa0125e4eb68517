//! Metrics of the network (protocol.md 5.13), registered under `network_` in a registry the
//! caller passes: never a global one, so that every network instance reports what it does (the
//! reference registers its gauges once per process and so describes only the first instance,
//! 13.B I16). Networks sharing one [`Metrics`] add up.
//!
//! Names as exposed (prometheus-client appends the unit, and `_total` to counters, 13.A W6):
//! - `network_tcp_sent_bytes_total`, `network_tcp_received_bytes_total`: bytes of the mux
//!   frames of established connections (counted in [`crate::mux`]; the 18 bytes of Noise
//!   framing per transport message and the handshakes before the mux are not included).
//! - `network_connections_established_total{endpoint,direction}` and
//!   `network_connections_active{endpoint,direction}`: connections admitted to a pool;
//!   `endpoint` is `gossip` or `consensus`, `direction` is `inbound` or `outbound`.
//! - `network_rpc_client_latency_seconds{method,result}`: client calls, from sending the request
//!   to receiving the whole response (`result` is `ok` or `error`);
//!   `network_rpc_client_inflight{method}`: client calls running;
//!   `network_rpc_message_size_bytes{method,type}`: encoded messages of client calls, `type`
//!   `req_sent` or `resp_recv`. `method` is [`crate::rpc::Rpc::METHOD`].
//! - `network_sync_fetched_blocks_total`: blocks received from peers by get_block;
//!   `network_sync_invalid_blocks_total`: fetched blocks that failed verification;
//!   `network_sync_queue_blocks{state}`: the fetcher's numbers by `state` (`wanted`,
//!   `in_flight`, `fetched`), read from [`crate::gossip::fetch::Fetcher::status`] at scrape
//!   time.

#[cfg(test)]
mod tests;

use std::{
    fmt,
    sync::{Arc, Mutex, Weak},
};

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric as _},
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::{Registry, Unit},
};
use zksync_concurrency::{ctx, time};

use crate::gossip::Gossip;

/// Labels of connection metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConnLabels {
    /// `gossip` or `consensus`.
    pub endpoint: &'static str,
    /// `inbound` or `outbound`.
    pub direction: &'static str,
}

/// Labels of RPC latencies.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RpcResultLabels {
    /// [`crate::rpc::Rpc::METHOD`].
    pub method: &'static str,
    /// `ok` or `error`.
    pub result: &'static str,
}

/// Labels of RPC message sizes.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RpcMessageLabels {
    /// [`crate::rpc::Rpc::METHOD`].
    pub method: &'static str,
    /// `req_sent` or `resp_recv`.
    pub r#type: &'static str,
}

/// Labels of per-method metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MethodLabels {
    /// [`crate::rpc::Rpc::METHOD`].
    pub method: &'static str,
}

/// Labels of the fetch queue gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabels {
    state: &'static str,
}

/// Reads the fetch queues of the networks using the metrics at scrape time.
#[derive(Debug, Default)]
struct QueueCollector(Mutex<Vec<Weak<Gossip>>>);

impl Collector for QueueCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        let mut counts = [0usize; 3];
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|g| {
                let Some(g) = g.upgrade() else {
                    return false;
                };
                let s = g.fetcher.status();
                counts[0] += s.wanted.len();
                counts[1] += s.in_flight.len();
                counts[2] += s.fetched.len();
                true
            });
        let family = Family::<QueueLabels, Gauge>::default();
        for (state, n) in ["wanted", "in_flight", "fetched"].into_iter().zip(counts) {
            family
                .get_or_create(&QueueLabels { state })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        let m = encoder.encode_descriptor(
            "sync_queue_blocks",
            "Block numbers in the fetcher, by state",
            None,
            family.metric_type(),
        )?;
        family.encode(m)
    }
}

/// The network's metrics.
#[derive(Debug)]
pub struct Metrics {
    /// Bytes sent on established connections.
    pub tcp_sent: Counter,
    /// Bytes received on established connections.
    pub tcp_received: Counter,
    /// Connections admitted to a pool.
    pub connections_established: Family<ConnLabels, Counter>,
    /// Connections open.
    pub connections_active: Family<ConnLabels, Gauge>,
    /// Client call latencies (seconds).
    pub rpc_client_latency: Family<RpcResultLabels, Histogram>,
    /// Client calls running.
    pub rpc_client_inflight: Family<MethodLabels, Gauge>,
    /// Sizes of the messages of client calls (bytes).
    pub rpc_message_size: Family<RpcMessageLabels, Histogram>,
    /// Blocks received from peers.
    pub sync_fetched_blocks: Counter,
    /// Fetched blocks that failed verification.
    pub sync_invalid_blocks: Counter,
    queues: Arc<QueueCollector>,
}

impl Metrics {
    /// Creates the metrics and registers them under `network_` in `registry`.
    pub fn new(registry: &mut Registry) -> Self {
        let this = Self {
            tcp_sent: Counter::default(),
            tcp_received: Counter::default(),
            connections_established: Family::default(),
            connections_active: Family::default(),
            rpc_client_latency: Family::new_with_constructor(|| {
                // 1 ms .. 65 s.
                Histogram::new(exponential_buckets(0.001, 2., 17))
            }),
            rpc_client_inflight: Family::default(),
            rpc_message_size: Family::new_with_constructor(|| {
                // 64 B .. 16 MiB.
                Histogram::new(exponential_buckets(64., 4., 10))
            }),
            sync_fetched_blocks: Counter::default(),
            sync_invalid_blocks: Counter::default(),
            queues: Arc::default(),
        };
        let r = registry.sub_registry_with_prefix("network");
        r.register_with_unit(
            "tcp_sent",
            "Bytes sent on established connections",
            Unit::Bytes,
            this.tcp_sent.clone(),
        );
        r.register_with_unit(
            "tcp_received",
            "Bytes received on established connections",
            Unit::Bytes,
            this.tcp_received.clone(),
        );
        r.register(
            "connections_established",
            "Connections admitted, by endpoint and direction",
            this.connections_established.clone(),
        );
        r.register(
            "connections_active",
            "Open connections, by endpoint and direction",
            this.connections_active.clone(),
        );
        r.register_with_unit(
            "rpc_client_latency",
            "Client calls, from sending the request to receiving the response",
            Unit::Seconds,
            this.rpc_client_latency.clone(),
        );
        r.register(
            "rpc_client_inflight",
            "Client calls running",
            this.rpc_client_inflight.clone(),
        );
        r.register_with_unit(
            "rpc_message_size",
            "Encoded messages of client calls",
            Unit::Bytes,
            this.rpc_message_size.clone(),
        );
        r.register(
            "sync_fetched_blocks",
            "Blocks received from peers",
            this.sync_fetched_blocks.clone(),
        );
        r.register(
            "sync_invalid_blocks",
            "Fetched blocks that failed verification",
            this.sync_invalid_blocks.clone(),
        );
        r.register_collector(Box::new(this.queues.clone()));
        this
    }

    /// Reports the fetch queues of `gossip` (while it lives).
    pub(crate) fn watch_fetcher(&self, gossip: Weak<Gossip>) {
        self.queues
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(gossip);
    }

    /// Counts a connection admitted to a pool; it is active until the guard is dropped.
    pub(crate) fn connection(&self, endpoint: &'static str, inbound: bool) -> ConnectionGuard {
        let labels = ConnLabels {
            endpoint,
            direction: if inbound { "inbound" } else { "outbound" },
        };
        self.connections_established.get_or_create(&labels).inc();
        let active = self.connections_active.get_or_create_owned(&labels);
        active.inc();
        ConnectionGuard(active)
    }

    /// Starts measuring a client call of `method`.
    pub(crate) fn rpc_call(&self, ctx: &ctx::Ctx, method: &'static str) -> RpcCall<'_> {
        let inflight = self
            .rpc_client_inflight
            .get_or_create_owned(&MethodLabels { method });
        inflight.inc();
        RpcCall {
            metrics: self,
            method,
            start: ctx.now(),
            inflight,
        }
    }
}

/// An active connection (see [`Metrics::connection`]).
#[derive(Debug)]
pub(crate) struct ConnectionGuard(Gauge);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// A client call being measured (see [`Metrics::rpc_call`]); in flight until dropped.
#[derive(Debug)]
pub(crate) struct RpcCall<'a> {
    metrics: &'a Metrics,
    method: &'static str,
    start: time::Instant,
    inflight: Gauge,
}

impl RpcCall<'_> {
    /// Records the size of a message of the call (`req_sent` or `resp_recv`).
    pub(crate) fn message(&self, r#type: &'static str, size: usize) {
        self.metrics
            .rpc_message_size
            .get_or_create(&RpcMessageLabels {
                method: self.method,
                r#type,
            })
            .observe(size as f64);
    }

    /// Records the latency of the finished call.
    pub(crate) fn finish(self, ctx: &ctx::Ctx, ok: bool) {
        let labels = RpcResultLabels {
            method: self.method,
            result: if ok { "ok" } else { "error" },
        };
        self.metrics
            .rpc_client_latency
            .get_or_create(&labels)
            .observe((ctx.now() - self.start).as_secs_f64());
    }
}

impl Drop for RpcCall<'_> {
    fn drop(&mut self) {
        self.inflight.dec();
    }
}
