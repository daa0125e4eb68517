//! `node`: runs one consensus node from a config file (JSON or YAML) and a database directory,
//! until SIGINT or SIGTERM. Logs go to standard error, filtered by `RUST_LOG` (default
//! `info`). On an error it prints one line and exits with code 1.

use std::{path::PathBuf, process::ExitCode};

use clap::Parser;

/// Runs one consensus node.
#[derive(Parser, Debug)]
#[command(name = "node", version, about)]
struct Cli {
    /// The config file (`.json`, or `.yaml`/`.yml`).
    #[arg(long)]
    config: PathBuf,
    /// The database directory (created if missing; it must belong to the config's chain).
    #[arg(long)]
    database: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    zksync_consensus_tools::node::main(&cli.config, &cli.database)
}
