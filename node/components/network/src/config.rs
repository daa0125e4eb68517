//! Configuration of the network (protocol.md 5.14, 6.1). Defaults follow the reference's
//! executor; [`Config::validate`] rejects settings that cannot work.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::SocketAddr,
};

use zksync_concurrency::{limiter, net, time};
use zksync_consensus_roles::{node, validator};

use crate::rpc;

/// Rates and timeouts of the RPCs this node calls and serves.
#[derive(Clone, Debug, PartialEq)]
pub struct RpcConfig {
    /// push_validator_addrs (default: burst 1, one per 5 s).
    pub push_validator_addrs_rate: limiter::Rate,
    /// push_block_store_state (default: burst 2, one per 200 ms).
    pub push_block_store_state_rate: limiter::Rate,
    /// push_tx (default: burst 10, one per 10 ms).
    pub push_tx_rate: limiter::Rate,
    /// get_block (default: burst 10, one per 100 ms).
    pub get_block_rate: limiter::Rate,
    /// Time allowed for one get_block call (`None`: no limit; default 10 s).
    pub get_block_timeout: Option<time::Duration>,
    /// consensus (default: unlimited).
    pub consensus_rate: limiter::Rate,
}

impl Default for RpcConfig {
    fn default() -> Self {
        Self {
            push_validator_addrs_rate: rpc::push_validator_addrs::RATE,
            push_block_store_state_rate: rpc::push_block_store_state::RATE,
            push_tx_rate: rpc::push_tx::RATE,
            get_block_rate: rpc::get_block::RATE,
            get_block_timeout: Some(rpc::get_block::TIMEOUT),
            consensus_rate: rpc::consensus::RATE,
        }
    }
}

impl RpcConfig {
    /// Every rate unlimited, the default timeouts: for benchmarks and tests, or a network
    /// whose peers are all trusted. Rates are what protect a node from a flooding peer.
    pub fn unlimited() -> Self {
        Self {
            push_validator_addrs_rate: limiter::Rate::INF,
            push_block_store_state_rate: limiter::Rate::INF,
            push_tx_rate: limiter::Rate::INF,
            get_block_rate: limiter::Rate::INF,
            consensus_rate: limiter::Rate::INF,
            ..Self::default()
        }
    }
}

/// The gossip network's peers.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GossipConfig {
    /// How many inbound connections from keys outside `static_inbound` are accepted.
    pub dynamic_inbound_limit: usize,
    /// Keys always accepted inbound.
    pub static_inbound: BTreeSet<node::PublicKey>,
    /// Peers this node keeps a connection to.
    pub static_outbound: BTreeMap<node::PublicKey, net::Host>,
}

/// Debug page settings.
#[derive(Clone, Debug, PartialEq)]
pub struct DebugPageConfig {
    /// Address to serve the page on.
    pub addr: SocketAddr,
    /// `user:password` (HTTP basic auth) or a bearer token the client must send. Required
    /// when `addr` is not a loopback address.
    pub credentials: Option<String>,
}

/// The network's configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Address the node listens on (both endpoints).
    pub server_addr: SocketAddr,
    /// Address other nodes reach this node at (announced to validators).
    pub public_addr: net::Host,
    /// The node's key (gossip network identity).
    pub node_key: node::SecretKey,
    /// The validator key, if this node is a validator.
    pub validator_key: Option<validator::SecretKey>,
    /// Gossip peers.
    pub gossip: GossipConfig,
    /// Largest block served or accepted (payload plus 1 kB).
    pub max_block_size: usize,
    /// Largest transaction accepted from a peer.
    pub max_tx_size: usize,
    /// How many missing blocks may be fetched at once (bounds the memory of block sync).
    /// Default 64 (the reference uses 20).
    pub max_block_queue_size: usize,
    /// Rate of accepted TCP connections (default: burst 10, one per 100 ms).
    pub tcp_accept_rate: limiter::Rate,
    /// RPC rates.
    pub rpc: RpcConfig,
    /// Keepalive: a ping every `ping_timeout`, answered within it, or the connection drops.
    pub ping_timeout: Option<time::Duration>,
    /// Longest wait between two dials of an unreachable peer (redials back off up to it).
    pub connect_retry: time::Duration,
    /// How often a validator re-announces its address.
    pub address_announce_interval: time::Duration,
    /// The build version told to peers.
    pub build_version: Option<semver::Version>,
    /// The debug page, if served.
    pub debug_page: Option<DebugPageConfig>,
}

/// A setting that cannot work.
#[derive(thiserror::Error, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// Invalid value.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
}

fn invalid(field: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field,
        reason: reason.into(),
    }
}

impl Config {
    /// A configuration with the reference's defaults for everything but identity and peers.
    pub fn new(
        server_addr: SocketAddr,
        public_addr: net::Host,
        node_key: node::SecretKey,
        max_payload_size: usize,
    ) -> Self {
        Self {
            server_addr,
            public_addr,
            node_key,
            validator_key: None,
            gossip: GossipConfig::default(),
            max_block_size: max_payload_size.saturating_add(zksync_protobuf::kB),
            max_tx_size: 10 * zksync_protobuf::kB,
            max_block_queue_size: 64,
            tcp_accept_rate: limiter::Rate {
                burst: 10,
                refresh: time::Duration::from_millis(100),
            },
            rpc: RpcConfig::default(),
            ping_timeout: Some(time::Duration::from_secs(10)),
            connect_retry: time::Duration::from_secs(20),
            address_announce_interval: time::Duration::from_secs(600),
            build_version: None,
            debug_page: None,
        }
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_block_size == 0 {
            return Err(invalid("max_block_size", "must be positive"));
        }
        if self.max_block_queue_size == 0 {
            return Err(invalid("max_block_queue_size", "must be positive"));
        }
        if self.connect_retry.is_zero() {
            return Err(invalid("connect_retry", "must be positive"));
        }
        if self.address_announce_interval.is_zero() {
            return Err(invalid("address_announce_interval", "must be positive"));
        }
        if self.ping_timeout.is_some_and(|t| t.is_zero()) {
            return Err(invalid("ping_timeout", "must be positive when set"));
        }
        if self.rpc.get_block_timeout.is_some_and(|t| t.is_zero()) {
            return Err(invalid(
                "rpc.get_block_timeout",
                "must be positive when set",
            ));
        }
        let me = self.node_key.public();
        if self.gossip.static_outbound.contains_key(&me) {
            return Err(invalid(
                "gossip.static_outbound",
                "contains this node's own key",
            ));
        }
        if let Some(page) = &self.debug_page {
            if !page.addr.ip().is_loopback() && page.credentials.is_none() {
                return Err(invalid(
                    "debug_page.credentials",
                    format!(
                        "required when the page is served on a non-loopback address ({})",
                        page.addr
                    ),
                ));
            }
            if page.credentials.as_ref().is_some_and(|c| c.is_empty()) {
                return Err(invalid("debug_page.credentials", "must not be empty"));
            }
        }
        Ok(())
    }
}
