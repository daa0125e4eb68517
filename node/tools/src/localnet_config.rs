//! Configs of a local testnet (the logic of the `localnet_config` binary and of `localnet`):
//! a fresh genesis whose validators are the first `validators` nodes, node keys, and a gossip
//! topology where every node dials `peers` others.
//!
//! Topology: node `i` dials nodes `i+1, …, i+peers` (modulo the node count, never itself), so
//! the graph is connected and every node has about `2·peers` gossip neighbours. (The reference
//! shuffles the list and may give a node itself as a peer.)

use std::{collections::BTreeMap, net::SocketAddr};

use anyhow::Context as _;
use rand::{Rng, RngExt as _};
use zksync_concurrency::{net, time};
use zksync_consensus_roles::{
    node,
    validator::{
        self, BlockNumber, ChainId, ForkNumber, Genesis, LeaderSelection, ProtocolVersion,
        Schedule, ValidatorInfo,
    },
};

use crate::config::AppConfig;

/// What to generate.
#[derive(Clone, Debug)]
pub struct Params {
    /// Each node's address (listen and public).
    pub addrs: Vec<SocketAddr>,
    /// How many of the nodes (the first ones) are validators.
    pub validators: usize,
    /// How many peers each node dials.
    pub peers: usize,
    /// JSON-RPC port of node `i`: `rpc_base_port + i` (none if `None`).
    pub rpc_base_port: Option<u16>,
    /// Metrics port of node `i`: `metrics_base_port + i` (none if `None`).
    pub metrics_base_port: Option<u16>,
    /// Size of proposed payloads.
    pub payload_size: usize,
    /// Largest payload accepted.
    pub max_payload_size: usize,
    /// View timeout.
    pub view_timeout: time::Duration,
    /// Least time between two validator-address pushes on a gossip connection (`None`: the
    /// protocol's default, 5 s).
    pub validator_addrs_push_interval: Option<time::Duration>,
}

/// One node's config and, for validators, the index in the genesis key list.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// The config.
    pub config: AppConfig,
    /// Whether the node is a validator.
    pub is_validator: bool,
}

/// Generates the configs.
pub fn generate(rng: &mut (impl Rng + ?Sized), p: &Params) -> anyhow::Result<Vec<NodeConfig>> {
    let n = p.addrs.len();
    anyhow::ensure!(n > 0, "no addresses given");
    anyhow::ensure!(
        (1..=n).contains(&p.validators),
        "validators must be between 1 and the number of nodes ({n}), got {}",
        p.validators
    );
    let validator_keys: Vec<validator::SecretKey> = (0..p.validators)
        .map(|_| validator::SecretKey::generate(rng))
        .collect();
    let schedule = Schedule::new(
        validator_keys.iter().map(|k| ValidatorInfo {
            key: k.public(),
            weight: 1,
            leader: true,
        }),
        LeaderSelection::default(),
    )
    .context("schedule")?;
    let genesis = Genesis {
        chain_id: ChainId(1337),
        fork_number: ForkNumber(rng.random_range(0..100)),
        first_block: BlockNumber(0),
        protocol_version: ProtocolVersion::CURRENT,
        validators_schedule: Some(schedule),
    };
    let node_keys: Vec<node::SecretKey> = (0..n).map(|_| node::SecretKey::generate(rng)).collect();
    let peers = p.peers.min(n - 1);
    let port = |base: Option<u16>, i: usize, addr: &SocketAddr| -> anyhow::Result<_> {
        base.map(|b| {
            let port = u16::try_from(usize::from(b) + i).context("port beyond 65535")?;
            Ok(SocketAddr::new(addr.ip(), port))
        })
        .transpose()
    };
    let mut out = vec![];
    for (i, addr) in p.addrs.iter().enumerate() {
        let mut outbound = BTreeMap::new();
        for j in 1..=peers {
            let k = (i + j) % n;
            outbound.insert(node_keys[k].public(), net::Host::from(p.addrs[k]));
        }
        let config = AppConfig {
            server_addr: *addr,
            public_addr: (*addr).into(),
            metrics_server_addr: port(p.metrics_base_port, i, addr)?,
            genesis: genesis.clone(),
            max_payload_size: p.max_payload_size,
            gossip_dynamic_inbound_limit: n,
            gossip_static_inbound: Default::default(),
            gossip_static_outbound: outbound,
            validator_key: validator_keys.get(i).cloned(),
            node_key: node_keys[i].clone(),
            rpc_addr: port(p.rpc_base_port, i, addr)?,
            debug_page: None,
            view_timeout: p.view_timeout,
            max_tx_size: 100 * zksync_protobuf::kB,
            fetch_schedule_interval: time::Duration::from_secs(30),
            payload_size: p.payload_size,
            max_block_queue_size: None,
            ping_timeout: None,
            validator_addrs_push_interval: p.validator_addrs_push_interval,
        };
        out.push(NodeConfig {
            config,
            is_validator: i < p.validators,
        });
    }
    Ok(out)
}

/// `n` distinct free loopback addresses (all listeners are held until every port is chosen,
/// so no port is handed out twice).
pub fn free_loopback_addrs(n: usize) -> std::io::Result<Vec<SocketAddr>> {
    let listeners = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()?;
    listeners.iter().map(|l| l.local_addr()).collect()
}

/// Writes `configs` as `<dir>/<node index>/config.json` (directories 0700, files 0600: they
/// hold secret keys).
pub fn write(dir: &std::path::Path, configs: &[NodeConfig]) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
    for (i, c) in configs.iter().enumerate() {
        let node_dir = dir.join(format!("node{i}"));
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&node_dir)
            .with_context(|| format!("creating {}", node_dir.display()))?;
        let path = node_dir.join("config.json");
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("writing {}", path.display()))?;
        std::io::Write::write_all(&mut f, c.config.to_json().as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use rand::{SeedableRng as _, rngs::StdRng};

    use super::*;

    fn params(n: u16, validators: usize, peers: usize) -> Params {
        Params {
            addrs: (0..n)
                .map(|i| SocketAddr::from(([127, 0, 0, 1], 3000 + i)))
                .collect(),
            validators,
            peers,
            rpc_base_port: Some(4000),
            metrics_base_port: None,
            payload_size: 10,
            max_payload_size: 1000,
            view_timeout: time::Duration::from_secs(2),
            validator_addrs_push_interval: None,
        }
    }

    #[test]
    fn configs_round_trip_and_form_a_connected_graph() {
        let rng = &mut StdRng::seed_from_u64(1);
        let configs = generate(rng, &params(7, 4, 2)).unwrap();
        assert_eq!(configs.iter().filter(|c| c.is_validator).count(), 4);
        let genesis = &configs[0].config.genesis;
        assert_eq!(genesis.validators_schedule.as_ref().unwrap().len(), 4);
        for (i, c) in configs.iter().enumerate() {
            assert_eq!(&c.config.genesis, genesis);
            assert_eq!(c.config.gossip_static_outbound.len(), 2);
            assert!(
                !c.config
                    .gossip_static_outbound
                    .contains_key(&c.config.node_key.public())
            );
            assert_eq!(c.config.rpc_addr.unwrap().port(), 4000 + i as u16);
            let json = c.config.to_json();
            assert_eq!(AppConfig::parse(&json, false).unwrap(), c.config);
            c.config.executor_config().validate().unwrap();
        }
        // Connected: a walk along the dial edges from node 0 reaches everyone.
        let keys: Vec<_> = configs.iter().map(|c| c.config.node_key.public()).collect();
        let mut seen = vec![false; configs.len()];
        let mut todo = vec![0];
        while let Some(i) = todo.pop() {
            if std::mem::replace(&mut seen[i], true) {
                continue;
            }
            for k in configs[i].config.gossip_static_outbound.keys() {
                todo.push(keys.iter().position(|x| x == k).unwrap());
            }
        }
        assert!(seen.iter().all(|s| *s));
    }

    /// The validator-address push interval goes through the config file into the network's
    /// RPC rate; without it the protocol's default stays.
    #[test]
    fn validator_addrs_push_interval_sets_the_rate() {
        let rng = &mut StdRng::seed_from_u64(2);
        let default = generate(rng, &params(2, 2, 1)).unwrap();
        let rate = |c: &AppConfig| c.executor_config().rpc.push_validator_addrs_rate;
        let protocol = zksync_consensus_network::RpcConfig::default().push_validator_addrs_rate;
        assert_eq!(rate(&default[0].config), protocol);
        let interval = time::Duration::from_millis(100);
        let p = Params {
            validator_addrs_push_interval: Some(interval),
            ..params(2, 2, 1)
        };
        let fast = generate(rng, &p).unwrap();
        let json = fast[0].config.to_json();
        assert!(json.contains("validatorAddrsPushInterval"), "{json}");
        let parsed = AppConfig::parse(&json, false).unwrap();
        assert_eq!(parsed, fast[0].config);
        assert_eq!(
            rate(&parsed),
            zksync_concurrency::limiter::Rate {
                burst: 1,
                refresh: interval
            }
        );
    }

    #[test]
    fn bad_params_are_rejected() {
        let rng = &mut StdRng::seed_from_u64(1);
        assert!(generate(rng, &params(3, 0, 2)).is_err());
        assert!(generate(rng, &params(3, 4, 2)).is_err());
        assert!(generate(rng, &params(0, 0, 2)).is_err());
        // One node: no peers.
        let one = generate(rng, &params(1, 1, 2)).unwrap();
        assert!(one[0].config.gossip_static_outbound.is_empty());
    }
}
