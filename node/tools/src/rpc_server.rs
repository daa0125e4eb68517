//! The `node` binary's HTTP endpoints: a JSON-RPC 2.0 server (protocol.md 7.3, with the
//! `last_view` bug fixed: it returns the replica's view, not a block number) and the Prometheus
//! metrics endpoint.
//!
//! JSON-RPC methods (POST `/`), each also at `GET /<method>`:
//! - `health_check` → `{"health": true}`
//! - `last_committed_block` → `{"last_committed_block": n}` (the last block the node holds;
//!   error -32603 while it holds none)
//! - `last_view` → `{"last_view": v}` (the replica's current view; 0 for a full node)
//! - `peers` → gossip and consensus connections
//! - `sync_state` → queued and persisted ranges, fetch queue

use std::{net::SocketAddr, sync::Arc};

use anyhow::Context as _;
use axum::{
    Json, Router,
    extract::{Path, State},
    routing::{get, post},
};
use prometheus_client::registry::Registry;
use serde_json::{Value, json};
use zksync_concurrency::ctx;
use zksync_consensus_executor::Executor;
use zksync_consensus_storage::{BlockStoreState, ExecutionLayer};

/// What the endpoints read.
#[derive(Debug)]
pub struct Node {
    /// The node.
    pub executor: Arc<Executor>,
    /// Its execution layer.
    pub engine: Arc<dyn ExecutionLayer>,
}

/// A JSON-RPC error: (code, message).
type RpcError = (i64, String);

fn state_json(s: &BlockStoreState) -> Value {
    json!({
        "first": s.first.0,
        "last": s.last.as_ref().map(|l| l.number().0),
    })
}

impl Node {
    async fn call(&self, ctx: &ctx::Ctx, method: &str) -> Result<Value, RpcError> {
        let running = self.executor.running();
        match method {
            "health_check" => Ok(json!({"health": true})),
            "last_committed_block" => {
                let state = match running {
                    Some(r) => r.store.queued(),
                    None => self.engine.persisted().borrow().clone(),
                };
                match state.last {
                    Some(last) => Ok(json!({"last_committed_block": last.number().0})),
                    None => Err((-32603, "no block yet".into())),
                }
            }
            "last_view" => {
                let state = self
                    .engine
                    .state(ctx)
                    .await
                    .map_err(|e| (-32603, format!("{e:#}")))?;
                let view = state.map_or(0, |s| s.view.0);
                Ok(json!({"last_view": view}))
            }
            "peers" => {
                let Some(r) = running else {
                    return Ok(json!({}));
                };
                let g = &r.network.gossip;
                let peers = |pool: &zksync_consensus_network::pool::Pool<_, _>| {
                    let list: Vec<Value> = pool
                        .current()
                        .values()
                        .map(|p: &Arc<zksync_consensus_network::gossip::Peer>| {
                            json!({
                                "key": format!("{:?}", p.key),
                                "addr": p.addr.to_string(),
                                "head": p.state().head().map(|n| n.0),
                                "rtt_ms": p.rtt().map(|d| d.as_secs_f64() * 1000.),
                            })
                        })
                        .collect();
                    list
                };
                let consensus: Vec<Value> = r
                    .network
                    .consensus()
                    .values()
                    .map(|c| {
                        json!({
                            "epoch": c.epoch.0,
                            "inbound": c.inbound.current().len(),
                            "outbound": c.outbound.current().len(),
                        })
                    })
                    .collect();
                Ok(json!({
                    "gossip_inbound": peers(&g.inbound),
                    "gossip_outbound": peers(&g.outbound),
                    "consensus": consensus,
                }))
            }
            "sync_state" => {
                let Some(r) = running else {
                    return Ok(json!({}));
                };
                let f = r.network.gossip.fetcher.status();
                Ok(json!({
                    "queued": state_json(&r.store.queued()),
                    "persisted": state_json(&r.store.persisted()),
                    "fetch_wanted": f.wanted.len(),
                    "fetch_in_flight": f.in_flight.len(),
                    "fetch_fetched": f.fetched.len(),
                    "invalid_blocks": f.invalid_blocks,
                }))
            }
            _ => Err((-32601, format!("method {method:?} not found"))),
        }
    }
}

type AppState = (ctx::Ctx, Arc<Node>);

async fn jsonrpc(State((ctx, node)): State<AppState>, Json(req): Json<Value>) -> Json<Value> {
    let id = req.get("id").cloned().unwrap_or(Value::Null);
    let Some(method) = req.get("method").and_then(Value::as_str) else {
        return Json(json!({
            "jsonrpc": "2.0", "id": id,
            "error": {"code": -32600, "message": "invalid request: no method"},
        }));
    };
    Json(match node.call(&ctx, method).await {
        Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
        Err((code, message)) => json!({
            "jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message},
        }),
    })
}

async fn by_path(
    State((ctx, node)): State<AppState>,
    Path(method): Path<String>,
) -> (axum::http::StatusCode, Json<Value>) {
    let method = if method == "health" {
        "health_check"
    } else {
        &method
    };
    match node.call(&ctx, method).await {
        Ok(v) => (axum::http::StatusCode::OK, Json(v)),
        Err((code, message)) => (
            if code == -32601 {
                axum::http::StatusCode::NOT_FOUND
            } else {
                axum::http::StatusCode::INTERNAL_SERVER_ERROR
            },
            Json(json!({"error": {"code": code, "message": message}})),
        ),
    }
}

async fn serve(
    ctx: &ctx::Ctx,
    listener: tokio::net::TcpListener,
    app: Router,
) -> anyhow::Result<()> {
    let stop = ctx.clone();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { stop.canceled().await })
        .await
        .context("http server")
}

/// Binds `addr` for an HTTP endpoint (before anything else starts, so a port in use is
/// reported at once).
pub async fn bind(addr: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on {addr}"))
}

/// Serves JSON-RPC on `listener` until `ctx` is cancelled.
pub async fn run_rpc(
    ctx: &ctx::Ctx,
    listener: tokio::net::TcpListener,
    node: Arc<Node>,
) -> anyhow::Result<()> {
    let app = Router::new()
        .route("/", post(jsonrpc))
        .route("/{method}", get(by_path))
        .with_state((ctx.clone(), node));
    serve(ctx, listener, app).await
}

/// Serves the metrics of `registry` (Prometheus text format) on any path until `ctx` is
/// cancelled.
pub async fn run_metrics(
    ctx: &ctx::Ctx,
    listener: tokio::net::TcpListener,
    registry: Arc<Registry>,
) -> anyhow::Result<()> {
    let handler = move || {
        let registry = registry.clone();
        async move {
            let mut text = String::new();
            match prometheus_client::encoding::text::encode(&mut text, &registry) {
                Ok(()) => (
                    axum::http::StatusCode::OK,
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    text,
                ),
                Err(e) => (
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                    [(axum::http::header::CONTENT_TYPE, "text/plain")],
                    e.to_string(),
                ),
            }
        }
    };
    let app = Router::new().fallback(get(handler));
    serve(ctx, listener, app).await
}
