//! The `node` and `localnet` binaries as processes: bad configs fail with one line naming the
//! problem and write nothing; a node runs, serves JSON-RPC and stops on SIGTERM; a localnet
//! finalizes blocks on every node.

use std::{
    io::{Read as _, Write as _},
    net::{SocketAddr, TcpStream},
    path::Path,
    process::{Command, Stdio},
    time::Duration,
};

use rand::{SeedableRng as _, rngs::StdRng};
use zksync_consensus_tools::{
    config::AppConfig,
    localnet_config::{self, Params},
};

fn free_addrs(n: usize) -> Vec<SocketAddr> {
    localnet_config::free_loopback_addrs(n).unwrap()
}

/// A single-validator config with a JSON-RPC address.
fn config(seed: u64) -> AppConfig {
    let rng = &mut StdRng::seed_from_u64(seed);
    let ports = free_addrs(2);
    let params = Params {
        addrs: vec![ports[0]],
        validators: 1,
        peers: 0,
        rpc_base_port: None,
        metrics_base_port: None,
        payload_size: 10,
        max_payload_size: 1000,
        view_timeout: zksync_concurrency::time::Duration::from_secs(2),
        validator_addrs_push_interval: None,
    };
    let mut cfg = localnet_config::generate(rng, &params).unwrap()[0]
        .config
        .clone();
    cfg.rpc_addr = Some(ports[1]);
    cfg
}

/// Runs `node` on `config_text` to completion; returns (exit ok, stderr).
fn run_node(dir: &Path, config_text: &str) -> (bool, String) {
    let cfg = dir.join("config.json");
    std::fs::write(&cfg, config_text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_node"))
        .arg("--config")
        .arg(&cfg)
        .arg("--database")
        .arg(dir.join("db"))
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    (out.status.success(), String::from_utf8(out.stderr).unwrap())
}

fn assert_fails(dir: &Path, config_text: &str, want: &str) {
    let (ok, stderr) = run_node(dir, config_text);
    assert!(!ok, "expected a failure");
    assert_eq!(stderr.lines().count(), 1, "one line expected: {stderr}");
    assert!(stderr.contains(want), "{want:?} not in {stderr:?}");
    assert!(!dir.join("db").exists(), "nothing may be written");
}

#[test]
fn bad_configs_fail_with_one_line_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let json: serde_json::Value = serde_json::from_str(&config(1).to_json()).unwrap();
    let with = |f: &dyn Fn(&mut serde_json::Map<String, serde_json::Value>)| {
        let mut v = json.clone();
        f(v.as_object_mut().unwrap());
        v.to_string()
    };
    // Missing field.
    assert_fails(
        dir.path(),
        &with(&|m| {
            m.remove("nodeSecretKey");
        }),
        "node_secret_key",
    );
    // Unknown field.
    assert_fails(
        dir.path(),
        &with(&|m| {
            m.insert("viewTimeot".into(), 1.into());
        }),
        "viewTimeot",
    );
    // Bad key text (and the secret is not echoed).
    let (ok, stderr) = run_node(
        dir.path(),
        &with(&|m| {
            m.insert(
                "validatorSecretKey".into(),
                "validator:secret:bls12_381:00ff".into(),
            );
        }),
    );
    assert!(!ok);
    assert!(stderr.contains("validator_secret_key"), "{stderr}");
    assert!(!stderr.contains("00ff"), "{stderr}");
    assert!(!dir.path().join("db").exists());
    // A validator-address push interval of zero (it would lift the limit on what peers push)
    // or above 10 minutes.
    for seconds in ["0", "601"] {
        assert_fails(
            dir.path(),
            &with(&|m| {
                let d = serde_json::json!({"seconds": seconds, "nanos": 0});
                m.insert("validatorAddrsPushInterval".into(), d);
            }),
            "validator_addrs_push_interval",
        );
    }
    // Not JSON at all.
    assert_fails(dir.path(), "{", "config file");
    // Port in use.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    assert_fails(
        dir.path(),
        &with(&|m| {
            m.insert("serverAddr".into(), addr.clone().into());
        }),
        "server_addr",
    );
}

#[test]
fn database_of_another_chain_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    // Create a database for chain A (the node starts, then is stopped).
    let a = config(2);
    let mut node = spawn(dir.path(), &a);
    wait_for_block(a.rpc_addr.unwrap(), 0, &mut node);
    stop(&mut node);
    // Chain B on the same database.
    let b = config(3);
    let (ok, stderr) = run_node(dir.path(), &b.to_json());
    assert!(!ok);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("genesis"), "{stderr}");
}

fn spawn(dir: &Path, cfg: &AppConfig) -> std::process::Child {
    let path = dir.join("config.json");
    std::fs::write(&path, cfg.to_json()).unwrap();
    Command::new(env!("CARGO_BIN_EXE_node"))
        .arg("--config")
        .arg(&path)
        .arg("--database")
        .arg(dir.join("db"))
        .env("RUST_LOG", "off")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn stop(node: &mut std::process::Child) {
    let pid = node.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let status = node.wait().unwrap();
    assert!(status.success(), "graceful shutdown expected: {status}");
}

fn get(addr: SocketAddr, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.split_once("\r\n\r\n").map(|(_, b)| b.to_string())
}

/// Waits (polling the JSON-RPC, at most 60 s) until the node holds block `n`.
fn wait_for_block(rpc: SocketAddr, n: u64, node: &mut std::process::Child) {
    // Polled every 50 ms, at most 1200 times (a minute).
    for _ in 0..1200 {
        if let Some(body) = get(rpc, "/last_committed_block")
            && let Ok(v) = serde_json::from_str::<serde_json::Value>(&body)
            && v["last_committed_block"].as_u64().is_some_and(|h| h >= n)
        {
            return;
        }
        if let Ok(Some(status)) = node.try_wait() {
            let mut err = String::new();
            node.stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            panic!("node exited ({status}): {err}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("no block {n} within a minute");
}

#[test]
fn node_serves_json_rpc_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(4);
    let rpc = cfg.rpc_addr.unwrap();
    let mut node = spawn(dir.path(), &cfg);
    wait_for_block(rpc, 5, &mut node);
    let health: serde_json::Value = serde_json::from_str(&get(rpc, "/health").unwrap()).unwrap();
    assert_eq!(health["health"], true);
    let view: serde_json::Value = serde_json::from_str(&get(rpc, "/last_view").unwrap()).unwrap();
    assert!(view["last_view"].as_u64().unwrap() >= 5, "{view}");
    stop(&mut node);
    // Restarts from its database and goes on.
    let mut node = spawn(dir.path(), &cfg);
    wait_for_block(rpc, 10, &mut node);
    stop(&mut node);
}

#[test]
fn localnet_runs_and_checks_agreement() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_localnet"))
        .args(["--validators", "3", "--full-nodes", "1", "--blocks", "20"])
        .arg("--dir")
        .arg(dir.path().join("net"))
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("every node holds the same"), "{stdout}");
}

/// 6 validators; 20 times a random validator is killed with SIGKILL at a random moment and
/// restarted from its database. The chain keeps advancing, and afterwards every node holds the
/// same blocks.
#[test]
fn validators_killed_with_sigkill_and_restarted() {
    use rand::RngExt as _;
    use zksync_consensus_roles::validator::{Block, BlockNumber};
    use zksync_consensus_storage::ExecutionLayer as _;
    use zksync_consensus_tools::store::{DurableStore, StoreConfig};

    let dir = tempfile::tempdir().unwrap();
    let rng = &mut StdRng::seed_from_u64(5);
    let params = Params {
        addrs: free_addrs(6),
        validators: 6,
        peers: 2,
        rpc_base_port: None,
        metrics_base_port: None,
        payload_size: 10,
        max_payload_size: 1000,
        view_timeout: zksync_concurrency::time::Duration::from_secs(1),
        validator_addrs_push_interval: None,
    };
    let mut configs: Vec<AppConfig> = localnet_config::generate(rng, &params)
        .unwrap()
        .into_iter()
        .map(|c| c.config)
        .collect();
    let dirs: Vec<_> = (0..6)
        .map(|i| dir.path().join(format!("node{i}")))
        .collect();
    let rpc_ports = free_addrs(6);
    for ((c, d), rpc) in configs.iter_mut().zip(&dirs).zip(rpc_ports) {
        c.rpc_addr = Some(rpc);
        // Quick redials: a restarted node is back within a second.
        c.ping_timeout = Some(zksync_concurrency::time::Duration::from_secs(2));
        std::fs::create_dir_all(d).unwrap();
    }
    let mut nodes: Vec<_> = configs
        .iter()
        .zip(&dirs)
        .map(|(c, d)| spawn(d, c))
        .collect();
    let height = |i: usize| -> Option<u64> {
        let body = get(configs[i].rpc_addr.unwrap(), "/last_committed_block")?;
        serde_json::from_str::<serde_json::Value>(&body).ok()?["last_committed_block"].as_u64()
    };
    wait_for_block(configs[0].rpc_addr.unwrap(), 5, &mut nodes[0]);
    let start = (0..6).filter_map(height).max().unwrap();
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(rng.random_range(0..500)));
        let victim = rng.random_range(0..6);
        nodes[victim].kill().unwrap();
        nodes[victim].wait().unwrap();
        nodes[victim] = spawn(&dirs[victim], &configs[victim]);
    }
    // Every node catches up to a common height, then all stop.
    let target = (0..6).filter_map(height).max().unwrap().max(start) + 3;
    for i in 0..6 {
        wait_for_block(configs[i].rpc_addr.unwrap(), target, &mut nodes[i]);
    }
    for n in &mut nodes {
        stop(n);
    }
    // The same blocks everywhere (each node may hold another certificate for a block).
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ctx = &zksync_concurrency::ctx::root();
    let genesis = configs[0].genesis.clone();
    let stores: Vec<_> = dirs
        .iter()
        .map(|d| {
            DurableStore::open(
                &d.join("db").join(zksync_consensus_tools::node::DB_FILE),
                genesis.clone(),
                StoreConfig::default(),
            )
            .unwrap()
        })
        .collect();
    rt.block_on(async {
        for n in genesis.first_block.0..=target {
            let content = |b: Block| match b {
                Block::Final(b) => (b.justification.message.proposal, b.payload),
                Block::PreGenesis(_) => panic!("pre-genesis block"),
            };
            let want = content(stores[0].block(ctx, BlockNumber(n)).await.unwrap());
            for s in &stores[1..] {
                assert_eq!(
                    content(s.block(ctx, BlockNumber(n)).await.unwrap()),
                    want,
                    "block {n}"
                );
            }
        }
    });
}
