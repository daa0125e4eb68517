//! `localnet`: a whole testnet on loopback with one command.
//!
//! Generates the configs (a fresh genesis, keys, free ports), starts every node as its own
//! process (this same executable, in node mode), shows live progress (per node height,
//! finalized blocks/s, finality latency p50/p99, peers), and stops after `--blocks` blocks or
//! on Ctrl-C. Then it stops the nodes, opens every node's database and checks that all of
//! them hold the same blocks.

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

use self::{probe::Probe, report::Display};
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
    /// Stop once every node has this many blocks (`None`: run until Ctrl-C).
    pub blocks: Option<u64>,
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
}

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
    let res = async {
        loop {
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
    for p in &mut procs {
        stop(ctx, p).await?;
    }
    res?;

    // Every node holds the same blocks.
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
    })
}
