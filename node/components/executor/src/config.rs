//! The executor's configuration (protocol.md 6.1), with validation that names the bad field.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::SocketAddr,
};

use zksync_concurrency::{limiter, net, time};
use zksync_consensus_bft::VoteCheck;
use zksync_consensus_network as network;
use zksync_consensus_roles::{node, validator};
use zksync_consensus_storage as storage;

/// Everything a node needs besides its execution layer.
#[derive(Clone, Debug)]
pub struct Config {
    /// Told to peers in handshakes.
    pub build_version: Option<semver::Version>,
    /// Address to listen on (port must not be 0: peers are configured with it).
    pub server_addr: SocketAddr,
    /// Address other nodes dial (`host:port`, DNS allowed); validators announce it.
    pub public_addr: net::Host,
    /// Largest payload proposed or accepted, in bytes.
    pub max_payload_size: usize,
    /// Largest transaction accepted from a peer, in bytes.
    pub max_tx_size: usize,
    /// How long a view may last without progress.
    pub view_timeout: time::Duration,
    /// How many inbound gossip connections from keys outside `gossip_static_inbound`.
    pub gossip_dynamic_inbound_limit: usize,
    /// Node keys always accepted inbound.
    pub gossip_static_inbound: BTreeSet<node::PublicKey>,
    /// Peers always kept connected.
    pub gossip_static_outbound: BTreeMap<node::PublicKey, net::Host>,
    /// RPC rates and timeouts.
    pub rpc: network::RpcConfig,
    /// The node's key.
    pub node_key: node::SecretKey,
    /// The validator key; the node takes part in consensus in the epochs whose schedule
    /// contains it.
    pub validator_key: Option<validator::SecretKey>,
    /// The debug page, if served.
    pub debug_page: Option<network::DebugPageConfig>,
    /// Tuning with sensible defaults.
    pub tuning: Tuning,
}

/// Settings most deployments leave at their defaults.
#[derive(Clone, Debug)]
pub struct Tuning {
    /// Keepalive ping period (`None`: no pings). Default 10 s.
    pub ping_timeout: Option<time::Duration>,
    /// Blocks fetched at once by block sync (the reference uses 20). Default 64. Memory held by
    /// sync is at most this many blocks of `max_payload_size`.
    pub max_block_queue_size: usize,
    /// Rate of accepted TCP connections. Default burst 10, one per 100 ms.
    pub tcp_accept_rate: limiter::Rate,
    /// Longest wait between redials. Default 20 s.
    pub connect_retry: time::Duration,
    /// How commit votes are checked. Default: aggregate.
    pub vote_check: VoteCheck,
    /// Block store settings.
    pub block_store: storage::Config,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            ping_timeout: Some(time::Duration::from_secs(10)),
            max_block_queue_size: 64,
            tcp_accept_rate: limiter::Rate {
                burst: 10,
                refresh: time::Duration::from_millis(100),
            },
            connect_retry: time::Duration::from_secs(20),
            vote_check: VoteCheck::default(),
            block_store: storage::Config::default(),
        }
    }
}

/// A setting that cannot work.
#[derive(thiserror::Error, Debug, PartialEq, Eq)]
#[error("{field}: {reason}")]
pub struct ConfigError {
    /// The field.
    pub field: String,
    /// What is wrong.
    pub reason: String,
}

impl Config {
    /// A node listening on `server_addr` (also the address peers dial) with `node_key`,
    /// accepting payloads of at most `max_payload_size` bytes, and defaults for the rest: not a
    /// validator (set `validator_key`), no peers (set `gossip_static_outbound` and
    /// `gossip_dynamic_inbound_limit`), view timeout 2 s, transactions up to 10 kB, the
    /// reference's RPC rates, no debug page, [`Tuning::default`].
    pub fn new(
        server_addr: SocketAddr,
        node_key: node::SecretKey,
        max_payload_size: usize,
    ) -> Self {
        let net = network::Config::new(
            server_addr,
            server_addr.into(),
            node_key.clone(),
            max_payload_size,
        );
        Self {
            build_version: None,
            server_addr,
            public_addr: server_addr.into(),
            max_payload_size,
            max_tx_size: net.max_tx_size,
            view_timeout: time::Duration::from_secs(2),
            gossip_dynamic_inbound_limit: net.gossip.dynamic_inbound_limit,
            gossip_static_inbound: BTreeSet::new(),
            gossip_static_outbound: BTreeMap::new(),
            rpc: network::RpcConfig::default(),
            node_key,
            validator_key: None,
            debug_page: None,
            tuning: Tuning::default(),
        }
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |field: &str, reason: &str| ConfigError {
            field: field.into(),
            reason: reason.into(),
        };
        if self.server_addr.port() == 0 {
            return Err(err("server_addr", "port must not be 0"));
        }
        if self.max_payload_size == 0 {
            return Err(err("max_payload_size", "must be positive"));
        }
        if self.view_timeout.is_zero() {
            return Err(err("view_timeout", "must be positive"));
        }
        if self
            .gossip_static_outbound
            .contains_key(&self.node_key.public())
        {
            return Err(err(
                "gossip_static_outbound",
                "contains this node's own key",
            ));
        }
        self.network_config().validate().map_err(
            |network::ConfigError::Invalid { field, reason }| ConfigError {
                field: field.into(),
                reason,
            },
        )
    }

    /// The network's configuration.
    pub fn network_config(&self) -> network::Config {
        let mut cfg = network::Config::new(
            self.server_addr,
            self.public_addr.clone(),
            self.node_key.clone(),
            self.max_payload_size,
        );
        cfg.validator_key = self.validator_key.clone();
        cfg.gossip = network::GossipConfig {
            dynamic_inbound_limit: self.gossip_dynamic_inbound_limit,
            static_inbound: self.gossip_static_inbound.clone(),
            static_outbound: self.gossip_static_outbound.clone(),
        };
        cfg.max_tx_size = self.max_tx_size;
        cfg.max_block_queue_size = self.tuning.max_block_queue_size;
        cfg.tcp_accept_rate = self.tuning.tcp_accept_rate;
        cfg.rpc = self.rpc.clone();
        cfg.ping_timeout = self.tuning.ping_timeout;
        cfg.connect_retry = self.tuning.connect_retry;
        cfg.build_version = self.build_version.clone();
        cfg.debug_page = self.debug_page.clone();
        cfg
    }
}
