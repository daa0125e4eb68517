//! `dbcheck`: checks that the databases of several (stopped) nodes of one chain agree: at every
//! height that two or more of them hold, the block headers (number and payload hash) are the
//! same, and every stored payload hashes to its header. Used by the chaos scenarios in
//! `infrastructure/` after the nodes have stopped (a running node holds its database's lock).
//!
//! `dbcheck --config <any node's config> [name=]<database dir or file>...` prints each
//! database's range, then `OK ...` and exit code 0, or each disagreement and exit code 1. With
//! `--json` the last line is a JSON summary:
//! `{"ok": bool, "dbs": [{"name", "first", "last"}], "checked": n, "max": h, "errors": [...]}`.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::{collections::BTreeMap, path::PathBuf, process::ExitCode};

use anyhow::Context as _;
use clap::Parser;
use serde_json::json;
use zksync_concurrency::ctx;
use zksync_consensus_crypto::TextFmt as _;
use zksync_consensus_roles::validator::{Block, BlockNumber};
use zksync_consensus_storage::ExecutionLayer as _;
use zksync_consensus_tools::{
    config::AppConfig,
    node::DB_FILE,
    store::{DurableStore, StoreConfig},
};

/// Checks that node databases agree block by block.
#[derive(Parser, Debug)]
#[command(name = "dbcheck", version, about)]
struct Cli {
    /// A node config of the chain (only its genesis is used).
    #[arg(long)]
    config: PathBuf,
    /// Print a JSON summary as the last line.
    #[arg(long)]
    json: bool,
    /// The databases: `[name=]path`, where path is a node's database directory (holding
    /// `node.redb`) or the file itself.
    #[arg(required = true)]
    databases: Vec<String>,
}

/// (header text, whether the payload matches the header).
fn identity(b: &Block) -> (String, bool) {
    match b {
        Block::Final(b) => (
            b.header().payload.encode(),
            b.payload.hash() == b.header().payload,
        ),
        Block::PreGenesis(b) => (format!("pregenesis:{}", b.payload.hash().encode()), true),
    }
}

async fn run(ctx: &ctx::Ctx, cli: &Cli) -> anyhow::Result<bool> {
    let genesis = AppConfig::load(&cli.config)?.genesis;
    let mut dbs = vec![];
    for arg in &cli.databases {
        let (name, path) = match arg.split_once('=') {
            Some((n, p)) => (n.to_string(), PathBuf::from(p)),
            None => (arg.clone(), PathBuf::from(arg)),
        };
        let file = if path.is_dir() {
            path.join(DB_FILE)
        } else {
            path
        };
        anyhow::ensure!(file.exists(), "{name}: no database at {}", file.display());
        let store = DurableStore::open(&file, genesis.clone(), StoreConfig::default())
            .with_context(|| format!("{name}: opening {}", file.display()))?;
        let state = store.persisted().borrow().clone();
        let range = state.last.as_ref().map(|l| (state.first.0, l.number().0));
        match range {
            Some((f, l)) => println!("{name}: blocks {f}..={l}"),
            None => println!("{name}: no blocks"),
        }
        dbs.push((name, store, range));
    }
    let mut errors = vec![];
    let lo = dbs.iter().filter_map(|d| d.2.map(|r| r.0)).min();
    let hi = dbs.iter().filter_map(|d| d.2.map(|r| r.1)).max();
    let mut checked = 0u64;
    if let (Some(lo), Some(hi)) = (lo, hi) {
        for h in lo..=hi {
            // header -> names of the databases holding it
            let mut seen: BTreeMap<String, Vec<&str>> = BTreeMap::new();
            for (name, store, range) in &dbs {
                if !range.is_some_and(|(f, l)| (f..=l).contains(&h)) {
                    continue;
                }
                let block = store
                    .block(ctx, BlockNumber(h))
                    .await
                    .map_err(|e| anyhow::anyhow!("{name}: block {h}: {e:#}"))?;
                let (id, ok) = identity(&block);
                if !ok {
                    errors.push(format!(
                        "{name}: block {h}: payload does not match its header"
                    ));
                }
                seen.entry(id).or_default().push(name);
            }
            if seen.len() > 1 {
                let detail: Vec<String> = seen
                    .iter()
                    .map(|(id, names)| format!("{} has {id}", names.join(",")))
                    .collect();
                errors.push(format!("block {h} differs: {}", detail.join("; ")));
            }
            checked += 1;
        }
    }
    for e in &errors {
        println!("MISMATCH {e}");
    }
    let ok = errors.is_empty();
    if ok {
        println!(
            "OK: {} databases agree on every block they hold ({checked} heights checked, highest {})",
            dbs.len(),
            hi.map_or("-".to_string(), |h| h.to_string())
        );
    }
    if cli.json {
        let list: Vec<_> = dbs
            .iter()
            .map(|(name, _, range)| {
                json!({
                    "name": name,
                    "first": range.map(|r| r.0),
                    "last": range.map(|r| r.1),
                })
            })
            .collect();
        println!(
            "{}",
            json!({"ok": ok, "dbs": list, "checked": checked, "max": hi, "errors": errors})
        );
    }
    Ok(ok)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: starting the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(&ctx::root(), &cli)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("error: {err:#}");
            if cli.json {
                println!("{}", json!({"ok": false, "errors": [format!("{err:#}")]}));
            }
            ExitCode::FAILURE
        }
    }
}
