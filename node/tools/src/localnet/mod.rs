//! `localnet`: a whole testnet on loopback with one command.
//!
//! Generates the configs (a fresh genesis, keys, free ports), starts every node as its own
//! process (this same executable, in node mode), shows live progress (per node height,
//! finalized blocks/s, finality latency p50/p99, peers), and stops after `--blocks` blocks or
//! on Ctrl-C, or after `--warmup-secs` + `--duration-secs`. Then it stops the nodes, opens
//! every node's database and checks that all of them hold the same blocks. The figures over the
//! measured window (after the warm-up; see [`Measurement`]) are returned with the summary.

mod measure;
mod probe;
mod report;

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Stdio,
};

use anyhow::Context as _;
use zksync_concurrency::{ctx, time};
use zksync_consensus_roles::validator::{Block, BlockNumber};
use zksync_consensus_storage::ExecutionLayer as _;

pub use self::measure::Measurement;
use self::{
    measure::{Sample, Window},
    probe::Probe,
    report::Display,
};
use crate::{
    localnet_config::{self, NodeConfig, Params},
    node::DB_FILE,
    store::{DurableStore, StoreConfig},
};

/// What to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// Number of validators.
    pub validators: usize,
    /// Number of full nodes.
    pub full_nodes: usize,
    /// Stop once every node has this many blocks (`None`: no limit).
    pub blocks: Option<u64>,
    /// Measure from this long after node 0's first reported block (zero: from that block).
    pub warmup: time::Duration,
    /// Stop once the measured window has lasted this long (`None`: no limit). With neither
    /// this nor `blocks`, the run goes on until Ctrl-C.
    pub duration: Option<time::Duration>,
    /// Where the configs, databases and logs go.
    pub dir: PathBuf,
    /// Size of proposed payloads.
    pub payload_size: usize,
    /// Gossip peers each node dials.
    pub peers: usize,
    /// View timeout.
    pub view_timeout: time::Duration,
    /// The executable to run nodes with (`<exe> node --config .. --database ..`).
    pub exe: PathBuf,
    /// Progress display: redraw in place (a terminal) or print lines.
    pub interactive: bool,
}

/// A running node process.
struct NodeProc {
    child: tokio::process::Child,
    dir: PathBuf,
}

fn spawn(opts: &Options, dir: &Path) -> anyhow::Result<NodeProc> {
    let log = std::fs::File::create(dir.join("node.log")).context("creating node.log")?;
    let child = tokio::process::Command::new(&opts.exe)
        .arg("node")
        .arg("--config")
        .arg(dir.join("config.json"))
        .arg("--database")
        .arg(dir.join("db"))
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", opts.exe.display()))?;
    Ok(NodeProc {
        child,
        dir: dir.to_path_buf(),
    })
}

/// Stops a node with SIGTERM and waits for it (SIGKILL after 10 s).
async fn stop(ctx: &ctx::Ctx, p: &mut NodeProc) -> anyhow::Result<()> {
    if let Some(pid) = p.child.id() {
        // SIGTERM: the node shuts down gracefully.
        let _ = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status();
    }
    // Waited for even if `ctx` is cancelled (Ctrl-C): the databases are checked next.
    let wait = ctx::root().with_timeout(time::Duration::from_secs(10));
    match wait.wait(p.child.wait()).await {
        Ok(status) => {
            status?;
        }
        Err(_) => p.child.kill().await?,
    }
    let _ = ctx;
    Ok(())
}

/// The outcome of a run.
#[derive(Debug)]
pub struct Summary {
    /// Blocks every node holds.
    pub common_height: u64,
    /// Finalized blocks per second over the run (validator 0).
    pub blocks_per_sec: f64,
    /// Seconds the run took (after the first block).
    pub secs: f64,
    /// The figures over the measured window.
    pub measurement: Measurement,
}

/// The validator-address push interval of localnet nodes (all on one machine, all trusted).
const LOCALNET_ADDRS_PUSH_INTERVAL: time::Duration = time::Duration::from_millis(100);

/// Runs the testnet.
pub async fn run(ctx: &ctx::Ctx, opts: &Options) -> anyhow::Result<Summary> {
    let n = opts.validators + opts.full_nodes;
    anyhow::ensure!(opts.validators > 0, "--validators must be at least 1");
    let mut ports = localnet_config::free_loopback_addrs(3 * n)
        .context("finding free ports")?
        .into_iter();
    let mut take = |k| -> Vec<SocketAddr> { ports.by_ref().take(k).collect() };
    let (addrs, rpc_addrs, metric_addrs) = (take(n), take(n), take(n));
    let params = Params {
        addrs,
        validators: opts.validators,
        peers: opts.peers,
        rpc_base_port: None,
        metrics_base_port: None,
        payload_size: opts.payload_size,
        max_payload_size: opts.payload_size.max(1) * 2,
        view_timeout: opts.view_timeout,
        // Every node starts at once: with the protocol's 5 s between two address pushes, an
        // address needs up to 5 s per gossip hop, and an 11-validator ring (diameter 3) lost
        // ~10 s of views before every consensus connection was up.
        validator_addrs_push_interval: Some(LOCALNET_ADDRS_PUSH_INTERVAL),
    };
    let mut configs: Vec<NodeConfig> = localnet_config::generate(&mut ctx.rng(), &params)?;
    for (i, c) in configs.iter_mut().enumerate() {
        c.config.rpc_addr = Some(rpc_addrs[i]);
        c.config.metrics_server_addr = Some(metric_addrs[i]);
    }
    std::fs::create_dir_all(&opts.dir)
        .with_context(|| format!("creating {}", opts.dir.display()))?;
    localnet_config::write(&opts.dir, &configs)?;
    let genesis = configs[0].config.genesis.clone();

    let mut procs = vec![];
    for i in 0..n {
        procs.push(spawn(opts, &opts.dir.join(format!("node{i}")))?);
    }
    let probes: Vec<Probe> = (0..n)
        .map(|i| Probe::new(rpc_addrs[i], metric_addrs[i], configs[i].is_validator))
        .collect();
    let mut display = Display::new(opts.interactive, &probes);
    let first = genesis.first_block.0;
    let target = opts.blocks.map(|b| first + b.max(1) - 1);
    let mut window = Window::new(opts.warmup, opts.duration);
    let ticks_per_sec = measure::clock_ticks_per_sec();
    let t0 = ctx.now();
    // Peak memory per node, read at every poll and just before stopping (on a terminal, Ctrl-C
    // reaches the nodes too, and an exited process has none).
    let mut max_rss: Vec<Option<f64>> = vec![None; n];
    let read_rss = |rss: &mut Vec<Option<f64>>, procs: &[NodeProc]| {
        for (r, p) in rss.iter_mut().zip(procs) {
            if let Some(v) = p.child.id().and_then(measure::max_rss_mib) {
                *r = Some(r.map_or(v, |r| r.max(v)));
            }
        }
    };
    let res = async {
        loop {
            // Node 0 is polled first: its height is read at about this time.
            let t = ctx.now() - t0;
            let statuses = probe::poll_all(ctx, &probes).await;
            display.update(ctx, &statuses);
            for (i, p) in procs.iter_mut().enumerate() {
                if let Some(status) = p.child.try_wait()? {
                    anyhow::bail!(
                        "node{i} exited ({status}); see {}",
                        p.dir.join("node.log").display()
                    );
                }
            }
            read_rss(&mut max_rss, &procs);
            if let Some(height) = statuses[0].height {
                let cpu = procs
                    .iter()
                    .map(|p| {
                        p.child
                            .id()
                            .and_then(|pid| measure::cpu_secs(pid, ticks_per_sec))
                    })
                    .collect();
                let latency = statuses.iter().map(|s| s.latency.clone()).collect();
                let sample = Sample {
                    t,
                    height,
                    latency,
                    cpu,
                };
                if window.observe(sample) {
                    return Ok(());
                }
            }
            if let Some(t) = target
                && statuses.iter().all(|s| s.height.is_some_and(|h| h >= t))
            {
                return Ok(());
            }
            if ctx.sleep(time::Duration::from_millis(500)).await.is_err() {
                return Ok(());
            }
        }
    }
    .await;
    display.finish();
    let (secs, blocks_per_sec) = display.rate();
    read_rss(&mut max_rss, &procs);
    let is_validator: Vec<bool> = probes.iter().map(|p| p.is_validator).collect();
    let measurement = window.measurement(&is_validator, opts.payload_size, max_rss);
    for p in &mut procs {
        stop(ctx, p).await?;
    }
    res?;

    // Every node holds the same blocks. Checked even after Ctrl-C (`ctx` is cancelled then).
    let ctx = &ctx::root();
    let mut stores = vec![];
    for i in 0..n {
        let path = opts.dir.join(format!("node{i}")).join("db").join(DB_FILE);
        stores.push(
            DurableStore::open(&path, genesis.clone(), StoreConfig::default())
                .with_context(|| format!("opening the database of node{i}"))?,
        );
    }
    let heights: Vec<u64> = stores
        .iter()
        .map(|s| s.persisted().borrow().head().map_or(0, |h| h.0))
        .collect();
    let common = heights.iter().copied().min().unwrap_or(0);
    let content = |b: Block| match b {
        Block::Final(b) => Ok((b.justification.message.proposal, b.payload)),
        Block::PreGenesis(b) => Err(anyhow::anyhow!("unexpected pre-genesis block {}", b.number)),
    };
    for h in first..=common {
        let want = content(stores[0].block(ctx, BlockNumber(h)).await?)?;
        for (i, s) in stores.iter().enumerate().skip(1) {
            let got = content(s.block(ctx, BlockNumber(h)).await?)?;
            anyhow::ensure!(got == want, "node{i} differs from node0 at block {h}");
        }
    }
    Ok(Summary {
        common_height: common,
        blocks_per_sec,
        secs,
        measurement,
    })
}
