//! `localnet`: runs a local testnet of N validators and M full nodes on loopback, each node its
//! own process, with a live progress display; stops after `--blocks` or on Ctrl-C, prints a
//! summary and checks that every node holds the same blocks.
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
    /// Stop once every node holds this many blocks (0: run until Ctrl-C).
    #[arg(long, default_value_t = 100)]
    blocks: u64,
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
        let opts = localnet::Options {
            validators: cli.validators,
            full_nodes: cli.full_nodes,
            blocks: (cli.blocks > 0).then_some(cli.blocks),
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
        println!(
            "done: every node holds the same {} blocks; {:.1} blocks/s over {:.1} s; files in {}",
            summary.common_height + 1,
            summary.blocks_per_sec,
            summary.secs,
            dir.display()
        );
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
