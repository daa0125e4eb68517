//! The `node` binary: one node from a config file and a database directory.
//!
//! Order of start-up, so that a bad setting fails before anything is written: parse and
//! validate the config; bind every port (server, JSON-RPC, metrics); only then open (or
//! create) the database, which refuses a database of another chain.

use std::{path::Path, process::ExitCode, sync::Arc};

use anyhow::Context as _;
use prometheus_client::registry::Registry;
use zksync_concurrency::{ctx, net::tcp, scope};
use zksync_consensus_executor::Executor;

use crate::{
    config::AppConfig,
    rpc_server,
    store::{DurableStore, StoreConfig},
};

/// Name of the database file inside the database directory.
pub const DB_FILE: &str = "node.redb";

/// Runs the node of `config_path` over the database in `database` until `ctx` is cancelled.
pub async fn run(ctx: &ctx::Ctx, config_path: &Path, database: &Path) -> anyhow::Result<()> {
    let cfg = AppConfig::load(config_path)?;
    let exec_cfg = cfg.executor_config();
    exec_cfg
        .validate()
        .with_context(|| format!("config file {}", config_path.display()))?;

    let listener = tcp::listen(
        exec_cfg.server_addr,
        tcp::ListenOptions {
            backlog: 32,
            reuse_port: false,
        },
    )
    .with_context(|| format!("listening on {} (server_addr)", exec_cfg.server_addr))?;
    let rpc = match cfg.rpc_addr {
        Some(addr) => Some(rpc_server::bind(addr).await.context("rpc_addr")?),
        None => None,
    };
    let metrics = match cfg.metrics_server_addr {
        Some(addr) => Some(
            rpc_server::bind(addr)
                .await
                .context("metrics_server_addr")?,
        ),
        None => None,
    };

    if !database.exists() {
        std::fs::create_dir_all(database)
            .with_context(|| format!("creating database directory {}", database.display()))?;
    }
    let store = DurableStore::open(
        &database.join(DB_FILE),
        cfg.genesis.clone(),
        StoreConfig {
            payload_size: cfg.payload_size,
            ..StoreConfig::default()
        },
    )?;
    let engine = Arc::new(store);

    let mut registry = Registry::default();
    let executor = Arc::new(Executor::new(exec_cfg, engine.clone()).with_metrics(&mut registry));
    let registry = Arc::new(registry);
    tracing::info!(
        server_addr = %cfg.server_addr,
        validator = cfg.validator_key.is_some(),
        "node starting"
    );
    let res: ctx::Result<()> = scope::run!(ctx, |ctx, s| async {
        if let Some(l) = rpc {
            let node = Arc::new(rpc_server::Node {
                executor: executor.clone(),
                engine: engine.clone(),
            });
            s.spawn_bg(async { Ok(rpc_server::run_rpc(ctx, l, node).await?) });
        }
        if let Some(l) = metrics {
            let registry = registry.clone();
            s.spawn_bg(async { Ok(rpc_server::run_metrics(ctx, l, registry).await?) });
        }
        executor.run_with_listener(ctx, listener).await?;
        Ok(())
    })
    .await;
    match res {
        Ok(()) | Err(ctx::Error::Canceled(_)) => Ok(()),
        Err(ctx::Error::Internal(err)) => Err(err),
    }
}

/// Waits for SIGINT or SIGTERM.
async fn shutdown_signal() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    Ok(())
}

/// The `node` binary: logs to standard error (filtered by `RUST_LOG`, default `info`), runs
/// until SIGINT or SIGTERM; on an error prints one line and returns a failure code.
#[allow(clippy::print_stderr)]
pub fn main(config: &Path, database: &Path) -> ExitCode {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: starting the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let res: anyhow::Result<()> = rt.block_on(async {
        let ctx = &ctx::root();
        let res: ctx::Result<()> = scope::run!(ctx, |ctx, s| async {
            s.spawn_bg::<()>(async {
                // Cancellable: the scope ends when the node fails, too.
                ctx.wait(shutdown_signal()).await??;
                tracing::info!("shutting down");
                Err(ctx::Canceled.into())
            });
            run(ctx, config, database).await?;
            Ok(())
        })
        .await;
        match res {
            Ok(()) | Err(ctx::Error::Canceled(_)) => Ok(()),
            Err(ctx::Error::Internal(err)) => Err(err),
        }
    });
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
