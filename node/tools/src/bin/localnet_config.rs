//! `localnet_config`: writes the config files of a testnet: a fresh genesis whose validators are
//! the first `--validators` nodes, fresh keys, and a gossip topology where each node dials
//! `--peers` others. Files go to `<output-dir>/node<i>/config.json` (mode 0600: they hold secret
//! keys).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::{net::SocketAddr, path::PathBuf, process::ExitCode};

use anyhow::Context as _;
use clap::Parser;
use rand::{SeedableRng as _, rngs::StdRng, rngs::SysRng};
use zksync_concurrency::time;
use zksync_consensus_tools::localnet_config::{self, Params};

/// Writes the config files of a testnet.
#[derive(Parser, Debug)]
#[command(name = "localnet_config", version, about)]
struct Cli {
    /// Node addresses (`IP:port`), comma-separated: each node listens on and is reached at its
    /// address.
    #[arg(long, value_delimiter = ',', required = true)]
    addrs: Vec<SocketAddr>,
    /// How many of the nodes (the first ones) are validators (default: all).
    #[arg(long)]
    validators: Option<usize>,
    /// Gossip peers each node dials.
    #[arg(long, default_value_t = 2)]
    peers: usize,
    /// JSON-RPC port of node i: this + i (same IP as the node).
    #[arg(long)]
    rpc_base_port: Option<u16>,
    /// Metrics port of node i: this + i (same IP as the node).
    #[arg(long)]
    metrics_base_port: Option<u16>,
    /// Size of the payloads validators propose, bytes.
    #[arg(long, default_value_t = 0)]
    payload_size: usize,
    /// Largest payload accepted, bytes.
    #[arg(long, default_value_t = 1_000_000)]
    max_payload_size: usize,
    /// View timeout, milliseconds.
    #[arg(long, default_value_t = 2000)]
    view_timeout_ms: u64,
    /// Least time between two validator-address pushes on a gossip connection, milliseconds
    /// (default: the protocol's 5 s). Nodes started at once connect their validators sooner
    /// with a short one (`localnet` uses 100).
    #[arg(long)]
    validator_addrs_push_interval_ms: Option<u64>,
    /// Where to write the configs.
    #[arg(long)]
    output_dir: PathBuf,
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let mut rng = StdRng::try_from_rng(&mut SysRng).context("seeding from the OS")?;
    let params = Params {
        validators: cli.validators.unwrap_or(cli.addrs.len()),
        addrs: cli.addrs,
        peers: cli.peers,
        rpc_base_port: cli.rpc_base_port,
        metrics_base_port: cli.metrics_base_port,
        payload_size: cli.payload_size,
        max_payload_size: cli.max_payload_size,
        view_timeout: time::Duration::from_millis(cli.view_timeout_ms),
        validator_addrs_push_interval: cli
            .validator_addrs_push_interval_ms
            .map(time::Duration::from_millis),
    };
    let configs = localnet_config::generate(&mut rng, &params)?;
    localnet_config::write(&cli.output_dir, &configs)?;
    println!(
        "wrote {} configs ({} validators) to {}",
        configs.len(),
        params.validators,
        cli.output_dir.display()
    );
    Ok(())
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
