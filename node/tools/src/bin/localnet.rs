//! `localnet`: runs a local testnet of N validators and M full nodes on loopback, each node its
//! own process, with a live progress display; stops after `--blocks`, after `--warmup-secs` +
//! `--duration-secs`, or on Ctrl-C, prints a summary, checks that every node holds the same
//! blocks and prints the figures over the measured window (after the warm-up): finalized
//! blocks/s and MB/s, finality latency p50/p99, CPU per block, max RSS per node (`--json <file>`
//! also writes them as a JSON object).
//!
//! `localnet node --config <file> --database <dir>` runs one node (what `localnet` starts
//! for each node; the same as the `node` binary).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::{io::IsTerminal as _, path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};
use zksync_concurrency::{ctx, scope, time};
use zksync_consensus_tools::localnet;

/// Runs a local testnet on loopback.
#[derive(Parser, Debug)]
#[command(name = "localnet", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Number of validators.
    #[arg(long, default_value_t = 4)]
    validators: usize,
    /// Number of full nodes.
    #[arg(long, default_value_t = 1)]
    full_nodes: usize,
    /// Stop once every node holds this many blocks (0: no limit; with neither this nor
    /// --duration-secs, runs until Ctrl-C) [default: 100, or no limit with --duration-secs].
    #[arg(long)]
    blocks: Option<u64>,
    /// Measure from this many seconds after node 0's first block (0: from that block).
    #[arg(long, default_value_t = 0)]
    warmup_secs: u64,
    /// Stop after the warm-up and this many measured seconds (0: no limit).
    #[arg(long)]
    duration_secs: Option<u64>,
    /// Also write the measured figures to this file, as a JSON object.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Directory for configs, databases and logs (default: a new temporary directory).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Size of the payloads validators propose, in bytes.
    #[arg(long, default_value_t = 0)]
    payload_size: usize,
    /// Gossip peers each node dials.
    #[arg(long, default_value_t = 2)]
    peers: usize,
    /// View timeout, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    view_timeout_ms: u64,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Runs one node (used by localnet itself).
    Node {
        /// The config file.
        #[arg(long)]
        config: PathBuf,
        /// The database directory.
        #[arg(long)]
        database: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Node { config, database }) = &cli.command {
        return zksync_consensus_tools::node::main(config, database);
    }
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: starting the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let res = rt.block_on(async {
        let exe = std::env::current_exe()?;
        let dir = match &cli.dir {
            Some(d) => d.clone(),
            None => std::env::temp_dir().join(format!("localnet-{}", std::process::id())),
        };
        let duration = cli.duration_secs.filter(|d| *d > 0);
        let blocks = match (cli.blocks, cli.duration_secs) {
            (Some(b), _) => b,
            (None, Some(_)) => 0,
            (None, None) => 100,
        };
        let opts = localnet::Options {
            validators: cli.validators,
            full_nodes: cli.full_nodes,
            blocks: (blocks > 0).then_some(blocks),
            warmup: time::Duration::from_secs(cli.warmup_secs),
            duration: duration.map(time::Duration::from_secs),
            dir: dir.clone(),
            payload_size: cli.payload_size,
            peers: cli.peers,
            view_timeout: time::Duration::from_millis(cli.view_timeout_ms),
            exe,
            interactive: std::io::stdout().is_terminal(),
        };
        println!(
            "localnet: {} validators, {} full nodes, in {}",
            opts.validators,
            opts.full_nodes,
            dir.display()
        );
        let ctx = &ctx::root();
        let summary: ctx::Result<localnet::Summary> = scope::run!(ctx, |ctx, s| async {
            let (run_ctx, stop) = ctx.with_canceler();
            s.spawn_bg(async move {
                let _ = ctx.wait(tokio::signal::ctrl_c()).await;
                stop.cancel();
                Ok(())
            });
            Ok(localnet::run(&run_ctx, &opts).await?)
        })
        .await;
        let summary = summary.map_err(|e| anyhow::anyhow!("{e:#}"))?;
        // The rate needs two progress samples (500 ms apart); a short run may end before.
        let rate = if summary.secs > 0. {
            format!(
                "{:.1} blocks/s over {:.1} s",
                summary.blocks_per_sec, summary.secs
            )
        } else {
            "done before a rate could be measured".to_string()
        };
        println!(
            "done: every node holds the same {} blocks; {rate}; files in {}",
            summary.common_height + 1,
            dir.display()
        );
        println!("{}", summary.measurement);
        if let Some(path) = &cli.json {
            let mut json = summary.measurement.to_json();
            json["view_timeout_ms"] = cli.view_timeout_ms.into();
            json["peers"] = cli.peers.into();
            json["common_blocks"] = (summary.common_height + 1).into();
            let text = serde_json::to_string_pretty(&json)? + "\n";
            std::fs::write(path, text)
                .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
        }
        anyhow::Ok(())
    });
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
