//! Metrics of the replica (protocol.md 6.6), registered in a registry the caller passes.

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::{Registry, Unit},
};

/// Labels of processed inputs.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MessageLabels {
    /// Message type (`LeaderProposalV2`, `ReplicaCommitV2`, ... or `timer`).
    pub r#type: String,
    /// `ok` or the rejection label.
    pub result: String,
}

/// The replica's metrics.
#[derive(Debug)]
pub struct Metrics {
    /// Current view.
    pub view: Gauge,
    /// Highest block handed to the block store.
    pub finalized_block: Gauge,
    /// Size of the proposed payloads (bytes).
    pub proposal_payload_size: Histogram,
    /// From entering a view to receiving its proposal (seconds).
    pub proposal_latency: Histogram,
    /// From entering a view to finalizing its block (seconds).
    pub commit_latency: Histogram,
    /// Duration of views (seconds).
    pub view_latency: Histogram,
    /// Processing time of inputs by type and result (seconds).
    pub processing: Family<MessageLabels, Histogram>,
    /// Commit votes dropped for a bad signature.
    pub bad_votes: Counter,
}

fn latency_buckets() -> impl Iterator<Item = f64> {
    // 1 ms .. 65 s, doubling. (The reference starts at 0.125 s, which cannot resolve the
    // millisecond latencies of a fast network.)
    prometheus_client::metrics::histogram::exponential_buckets(0.001, 2., 17)
}

impl Metrics {
    /// Creates the metrics and registers them under `consensus_` in `registry`.
    pub fn new(registry: &mut Registry) -> Self {
        let this = Self {
            view: Gauge::default(),
            finalized_block: Gauge::default(),
            proposal_payload_size: Histogram::new(
                prometheus_client::metrics::histogram::exponential_buckets(4096., 2., 11),
            ),
            proposal_latency: Histogram::new(latency_buckets()),
            commit_latency: Histogram::new(latency_buckets()),
            view_latency: Histogram::new(latency_buckets()),
            processing: Family::new_with_constructor(|| {
                Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
                    1e-5, 4., 10,
                ))
            }),
            bad_votes: Counter::default(),
        };
        let r = registry.sub_registry_with_prefix("consensus");
        r.register("replica_view_number", "Current view", this.view.clone());
        r.register(
            "finalized_block_number",
            "Highest finalized block queued",
            this.finalized_block.clone(),
        );
        r.register_with_unit(
            "proposal_payload_size",
            "Size of proposed payloads",
            Unit::Bytes,
            this.proposal_payload_size.clone(),
        );
        r.register_with_unit(
            "proposal_latency",
            "From entering a view to receiving its proposal",
            Unit::Seconds,
            this.proposal_latency.clone(),
        );
        r.register_with_unit(
            "commit_latency",
            "From entering a view to finalizing its block",
            Unit::Seconds,
            this.commit_latency.clone(),
        );
        r.register_with_unit(
            "view_latency",
            "Duration of views",
            Unit::Seconds,
            this.view_latency.clone(),
        );
        r.register_with_unit(
            "message_processing_latency",
            "Processing time of replica inputs",
            Unit::Seconds,
            this.processing.clone(),
        );
        r.register(
            "bad_commit_votes",
            "Commit votes dropped for a bad signature",
            this.bad_votes.clone(),
        );
        this
    }
}
