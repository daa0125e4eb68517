//! The `node` binary's config file (protocol.md 7.2): the reference's `AppConfig` in JSON or
//! YAML (the protobuf JSON mapping; lowerCamelCase or snake_case keys). Unknown fields are
//! rejected and every error names the field. Secret keys in errors are never echoed.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::SocketAddr,
    path::Path,
};

use anyhow::Context as _;
use zksync_concurrency::{limiter, net, time};
use zksync_consensus_crypto::{Text, TextFmt};
use zksync_consensus_executor as executor;
use zksync_consensus_network as network;
use zksync_consensus_roles::{node, validator};
use zksync_protobuf::{ProtoFmt, read_optional, read_required, required};

use crate::proto::{DESCRIPTOR_SET, zksync::tools as proto};

/// The config file's content.
#[derive(Clone, Debug, PartialEq)]
pub struct AppConfig {
    /// Listen address.
    pub server_addr: SocketAddr,
    /// Address other nodes dial.
    pub public_addr: net::Host,
    /// Prometheus metrics endpoint.
    pub metrics_server_addr: Option<SocketAddr>,
    /// The chain.
    pub genesis: validator::Genesis,
    /// Largest payload, bytes.
    pub max_payload_size: usize,
    /// Inbound gossip connections from non-static peers.
    pub gossip_dynamic_inbound_limit: usize,
    /// Keys always accepted inbound.
    pub gossip_static_inbound: BTreeSet<node::PublicKey>,
    /// Peers always kept connected.
    pub gossip_static_outbound: BTreeMap<node::PublicKey, net::Host>,
    /// Validator key, if a validator.
    pub validator_key: Option<validator::SecretKey>,
    /// Node key.
    pub node_key: node::SecretKey,
    /// JSON-RPC endpoint.
    pub rpc_addr: Option<SocketAddr>,
    /// Debug page.
    pub debug_page: Option<network::DebugPageConfig>,
    /// View timeout.
    pub view_timeout: time::Duration,
    /// Largest gossiped transaction, bytes.
    pub max_tx_size: usize,
    /// Dynamic schedule polling period.
    pub fetch_schedule_interval: time::Duration,
    /// Size of the payloads this node proposes.
    pub payload_size: usize,
    /// Blocks fetched at once.
    pub max_block_queue_size: Option<usize>,
    /// Keepalive ping period.
    pub ping_timeout: Option<time::Duration>,
    /// Least time between two validator-address pushes on one gossip connection (default: the
    /// protocol's 5 s). Each gossip hop a new address crosses may wait that long, so a network
    /// started at once connects its validators only after a few of them.
    pub validator_addrs_push_interval: Option<time::Duration>,
}

fn parse_addr(s: &str) -> anyhow::Result<SocketAddr> {
    s.parse()
        .with_context(|| format!("{s:?} is not an IP:port address"))
}

fn parse_text<T: TextFmt>(s: &str) -> anyhow::Result<T> {
    Ok(TextFmt::decode(Text::new(s))?)
}

/// Parses a secret key without echoing it in the error.
fn parse_secret<T: TextFmt>(s: &str) -> anyhow::Result<T> {
    TextFmt::decode(Text::new(s)).map_err(|_| anyhow::anyhow!("invalid format"))
}

/// The longest validator-address push interval accepted (the network re-announces its own
/// address every 10 minutes).
const MAX_PUSH_INTERVAL: time::Duration = time::Duration::from_secs(600);

/// A validator-address push interval must be above zero: the same rate limits the pushes a
/// node accepts, and zero would lift that limit for every peer.
fn check_push_interval(d: Option<time::Duration>) -> anyhow::Result<Option<time::Duration>> {
    if let Some(d) = d {
        anyhow::ensure!(
            !d.is_zero(),
            "must be above zero (it also limits the pushes this node accepts)"
        );
        anyhow::ensure!(
            d <= MAX_PUSH_INTERVAL,
            "must be at most {} s",
            MAX_PUSH_INTERVAL.as_secs()
        );
    }
    Ok(d)
}

fn req_str(x: &Option<String>) -> anyhow::Result<&str> {
    Ok(required(x)?.as_str())
}

fn size(x: &Option<u64>) -> anyhow::Result<usize> {
    Ok(usize::try_from(*required(x)?)?)
}

impl ProtoFmt for AppConfig {
    type Proto = proto::AppConfig;

    fn read(r: &Self::Proto) -> anyhow::Result<Self> {
        let mut static_inbound = BTreeSet::new();
        for (i, k) in r.gossip_static_inbound.iter().enumerate() {
            static_inbound
                .insert(parse_text(k).with_context(|| format!("gossip_static_inbound[{i}]"))?);
        }
        let mut static_outbound = BTreeMap::new();
        for (i, a) in r.gossip_static_outbound.iter().enumerate() {
            let ctx = || format!("gossip_static_outbound[{i}]");
            let key = parse_text(req_str(&a.key).context("key").with_context(ctx)?)
                .context("key")
                .with_context(ctx)?;
            let addr = net::Host(
                req_str(&a.addr)
                    .context("addr")
                    .with_context(ctx)?
                    .to_string(),
            );
            anyhow::ensure!(
                static_outbound.insert(key, addr).is_none(),
                "gossip_static_outbound[{i}]: duplicate key"
            );
        }
        let debug_page = r
            .debug_page
            .as_ref()
            .map(|d| -> anyhow::Result<_> {
                Ok(network::DebugPageConfig {
                    addr: parse_addr(req_str(&d.addr).context("addr")?).context("addr")?,
                    credentials: d.credentials.clone(),
                })
            })
            .transpose()
            .context("debug_page")?;
        Ok(Self {
            server_addr: parse_addr(req_str(&r.server_addr).context("server_addr")?)
                .context("server_addr")?,
            public_addr: net::Host(req_str(&r.public_addr).context("public_addr")?.to_string()),
            metrics_server_addr: r
                .metrics_server_addr
                .as_deref()
                .map(parse_addr)
                .transpose()
                .context("metrics_server_addr")?,
            genesis: read_required(&r.genesis).context("genesis")?,
            max_payload_size: size(&r.max_payload_size).context("max_payload_size")?,
            gossip_dynamic_inbound_limit: size(&r.gossip_dynamic_inbound_limit)
                .context("gossip_dynamic_inbound_limit")?,
            gossip_static_inbound: static_inbound,
            gossip_static_outbound: static_outbound,
            validator_key: r
                .validator_secret_key
                .as_deref()
                .map(parse_secret)
                .transpose()
                .context("validator_secret_key")?,
            node_key: parse_secret(req_str(&r.node_secret_key).context("node_secret_key")?)
                .context("node_secret_key")?,
            rpc_addr: r
                .rpc_addr
                .as_deref()
                .map(parse_addr)
                .transpose()
                .context("rpc_addr")?,
            debug_page,
            view_timeout: read_required(&r.view_timeout).context("view_timeout")?,
            max_tx_size: size(&r.max_tx_size).context("max_tx_size")?,
            fetch_schedule_interval: read_required(&r.fetch_schedule_interval)
                .context("fetch_schedule_interval")?,
            payload_size: r
                .payload_size
                .unwrap_or(0)
                .try_into()
                .context("payload_size")?,
            max_block_queue_size: r
                .max_block_queue_size
                .map(usize::try_from)
                .transpose()
                .context("max_block_queue_size")?,
            ping_timeout: read_optional(&r.ping_timeout).context("ping_timeout")?,
            validator_addrs_push_interval: read_optional(&r.validator_addrs_push_interval)
                .and_then(check_push_interval)
                .context("validator_addrs_push_interval")?,
        })
    }

    fn build(&self) -> Self::Proto {
        proto::AppConfig {
            server_addr: Some(self.server_addr.to_string()),
            public_addr: Some(self.public_addr.0.clone()),
            metrics_server_addr: self.metrics_server_addr.map(|a| a.to_string()),
            genesis: Some(self.genesis.build()),
            max_payload_size: Some(self.max_payload_size as u64),
            gossip_dynamic_inbound_limit: Some(self.gossip_dynamic_inbound_limit as u64),
            gossip_static_inbound: self
                .gossip_static_inbound
                .iter()
                .map(TextFmt::encode)
                .collect(),
            gossip_static_outbound: self
                .gossip_static_outbound
                .iter()
                .map(|(k, a)| proto::NodeAddr {
                    key: Some(TextFmt::encode(k)),
                    addr: Some(a.0.clone()),
                })
                .collect(),
            validator_secret_key: self.validator_key.as_ref().map(TextFmt::encode),
            node_secret_key: Some(TextFmt::encode(&self.node_key)),
            rpc_addr: self.rpc_addr.map(|a| a.to_string()),
            debug_page: self.debug_page.as_ref().map(|d| proto::DebugPageConfig {
                addr: Some(d.addr.to_string()),
                credentials: d.credentials.clone(),
            }),
            view_timeout: Some(self.view_timeout.build()),
            max_tx_size: Some(self.max_tx_size as u64),
            fetch_schedule_interval: Some(self.fetch_schedule_interval.build()),
            payload_size: (self.payload_size != 0).then_some(self.payload_size as u64),
            max_block_queue_size: self.max_block_queue_size.map(|n| n as u64),
            ping_timeout: self.ping_timeout.as_ref().map(ProtoFmt::build),
            validator_addrs_push_interval: self
                .validator_addrs_push_interval
                .as_ref()
                .map(ProtoFmt::build),
        }
    }
}

impl AppConfig {
    /// Parses a config file's text: YAML if `yaml`, else JSON.
    pub fn parse(text: &str, yaml: bool) -> anyhow::Result<Self> {
        let res = if yaml {
            zksync_protobuf::config::decode_yaml(DESCRIPTOR_SET, text)
        } else {
            zksync_protobuf::config::decode_json(DESCRIPTOR_SET, text)
        };
        Ok(res?)
    }

    /// Reads a config file (YAML if its name ends in `.yaml` or `.yml`, else JSON).
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let yaml = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        );
        Self::parse(&text, yaml).with_context(|| format!("config file {}", path.display()))
    }

    /// As JSON.
    pub fn to_json(&self) -> String {
        zksync_protobuf::config::encode_json(DESCRIPTOR_SET, self)
            .expect("the schema describes AppConfig")
    }

    /// The executor's configuration.
    pub fn executor_config(&self) -> executor::Config {
        let mut tuning = executor::Tuning::default();
        tuning.block_store.schedule_poll_interval = self.fetch_schedule_interval;
        if let Some(n) = self.max_block_queue_size {
            tuning.max_block_queue_size = n;
        }
        if self.ping_timeout.is_some() {
            tuning.ping_timeout = self.ping_timeout;
        }
        executor::Config {
            build_version: Some(
                env!("CARGO_PKG_VERSION")
                    .parse()
                    .expect("the crate version is SemVer"),
            ),
            server_addr: self.server_addr,
            public_addr: self.public_addr.clone(),
            max_payload_size: self.max_payload_size,
            max_tx_size: self.max_tx_size,
            view_timeout: self.view_timeout,
            gossip_dynamic_inbound_limit: self.gossip_dynamic_inbound_limit,
            gossip_static_inbound: self.gossip_static_inbound.clone(),
            gossip_static_outbound: self.gossip_static_outbound.clone(),
            rpc: network::RpcConfig {
                push_validator_addrs_rate: match self.validator_addrs_push_interval {
                    Some(refresh) => limiter::Rate { burst: 1, refresh },
                    None => network::RpcConfig::default().push_validator_addrs_rate,
                },
                ..Default::default()
            },
            node_key: self.node_key.clone(),
            validator_key: self.validator_key.clone(),
            debug_page: self.debug_page.clone(),
            tuning,
        }
    }
}
