//! `healthcheck`: asks a node's JSON-RPC endpoint whether it is healthy (for a container's
//! `HEALTHCHECK` in an image without curl), or prints one endpoint's answer (for scripts that
//! can only reach the node from inside its network namespace).
//!
//! - `healthcheck [--addr 127.0.0.1:3055]`: calls `health_check`; exit code 0 if the node
//!   answers `{"health": true}`, 1 otherwise (one line on standard error says why).
//! - `healthcheck --addr A --call last_committed_block`: prints the JSON-RPC `result` of the
//!   method (any method without parameters) on standard output.
//! - `healthcheck --addr A --get /metrics`: prints the body of `GET /metrics` (e.g. the
//!   metrics endpoint) on standard output.
//!
//! A minimal HTTP/1.1 client over `std::net` with a 2 s timeout per step: the endpoints are the
//! node's own, on loopback or a private network.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::{
    io::{Read as _, Write as _},
    net::{SocketAddr, TcpStream, ToSocketAddrs as _},
    process::ExitCode,
    time::Duration,
};

use anyhow::Context as _;
use clap::Parser;
use serde_json::{Value, json};

/// Checks (or queries) a node's JSON-RPC endpoint.
#[derive(Parser, Debug)]
#[command(name = "healthcheck", version, about)]
struct Cli {
    /// The JSON-RPC (or, with `--get`, any HTTP) endpoint: `host:port`.
    #[arg(long, default_value = "127.0.0.1:3055")]
    addr: String,
    /// Call this JSON-RPC method and print its result instead of checking health.
    #[arg(long, conflicts_with = "get")]
    call: Option<String>,
    /// GET this path and print the response body instead of checking health.
    #[arg(long)]
    get: Option<String>,
    /// Timeout of each step (connect, write, read), milliseconds.
    #[arg(long, default_value_t = 2000)]
    timeout_ms: u64,
}

/// Sends one HTTP/1.1 request and returns the body of a 200 response.
fn request(
    addr: &str,
    timeout: Duration,
    method: &str,
    path: &str,
    body: &str,
) -> anyhow::Result<String> {
    let addrs: Vec<SocketAddr> = addr
        .to_socket_addrs()
        .with_context(|| format!("resolving {addr}"))?
        .collect();
    let target = addrs
        .first()
        .with_context(|| format!("{addr} resolved to nothing"))?;
    let mut s = TcpStream::connect_timeout(target, timeout)
        .with_context(|| format!("connecting to {addr}"))?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if !body.is_empty() {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).context("sending the request")?;
    let mut buf = vec![];
    s.read_to_end(&mut buf).context("reading the response")?;
    let text = String::from_utf8(buf).context("response is not UTF-8")?;
    let (head, body) = text
        .split_once("\r\n\r\n")
        .context("malformed HTTP response")?;
    let status = head.lines().next().unwrap_or("");
    anyhow::ensure!(
        status.starts_with("HTTP/1.1 200") || status.starts_with("HTTP/1.0 200"),
        "{addr}{path}: {status}"
    );
    let chunked = head
        .lines()
        .any(|l| l.to_ascii_lowercase().starts_with("transfer-encoding:") && l.contains("chunked"));
    Ok(if chunked {
        dechunk(body)?
    } else {
        body.to_string()
    })
}

/// Decodes a `Transfer-Encoding: chunked` body.
fn dechunk(mut body: &str) -> anyhow::Result<String> {
    let mut out = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n").context("malformed chunk")?;
        let size = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16)
            .context("malformed chunk size")?;
        if size == 0 {
            return Ok(out);
        }
        out.push_str(rest.get(..size).context("truncated chunk")?);
        body = rest
            .get(size..)
            .context("truncated chunk")?
            .trim_start_matches("\r\n");
    }
}

/// Calls a JSON-RPC method without parameters and returns its result.
fn call(addr: &str, timeout: Duration, method: &str) -> anyhow::Result<Value> {
    let req = json!({"jsonrpc": "2.0", "id": 1, "method": method}).to_string();
    let body = request(addr, timeout, "POST", "/", &req)?;
    let resp: Value = serde_json::from_str(&body).context("response is not JSON")?;
    if let Some(err) = resp.get("error") {
        anyhow::bail!("{method}: {err}");
    }
    resp.get("result")
        .cloned()
        .with_context(|| format!("{method}: no result in {body}"))
}

fn run(cli: &Cli) -> anyhow::Result<()> {
    let timeout = Duration::from_millis(cli.timeout_ms.max(1));
    if let Some(path) = &cli.get {
        print!("{}", request(&cli.addr, timeout, "GET", path, "")?);
        return Ok(());
    }
    if let Some(method) = &cli.call {
        println!("{}", call(&cli.addr, timeout, method)?);
        return Ok(());
    }
    let result = call(&cli.addr, timeout, "health_check")?;
    anyhow::ensure!(
        result.get("health") == Some(&Value::Bool(true)),
        "unhealthy: {result}"
    );
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("healthcheck: {err:#}");
            ExitCode::FAILURE
        }
    }
}
