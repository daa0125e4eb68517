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

fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// A single-validator config with a JSON-RPC address.
fn config(seed: u64) -> AppConfig {
    let rng = &mut StdRng::seed_from_u64(seed);
    let params = Params {
        addrs: vec![free_addr()],
        validators: 1,
        peers: 0,
        rpc_base_port: None,
        metrics_base_port: None,
        payload_size: 10,
        max_payload_size: 1000,
        view_timeout: zksync_concurrency::time::Duration::from_secs(2),
    };
    let mut cfg = localnet_config::generate(rng, &params).unwrap()[0]
        .config
        .clone();
    cfg.rpc_addr = Some(free_addr());
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
