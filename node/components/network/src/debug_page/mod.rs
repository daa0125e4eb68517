//! The debug page (protocol.md 5.12, 13.A W5, 13.B I18): one HTML page describing the node's
//! network (config limits including the push_tx rate, gossip peers and connections with their
//! traffic and RTT, validator addresses, the block fetcher, and every running consensus
//! network), served over HTTP/1.1 for any method and path. Off unless
//! [`crate::Config::debug_page`] is set; [`crate::Network::run_with_listener`] then serves it.
//!
//! Access: when `credentials` are set, a request must carry `Authorization: Basic
//! base64(credentials)` (credentials being `user:password`) or `Authorization: Bearer
//! credentials`; anything else gets 401 with `WWW-Authenticate: Basic`. The comparison hashes
//! both sides first and compares the hashes in constant time, so it tells nothing about the
//! credentials, their length included. The config requires credentials on non-loopback
//! addresses. There is no TLS: on an untrusted network, put a TLS proxy in front.
//!
//! The HTTP server is a minimal hand-written one over the concurrency crate's TCP rather than
//! axum: one request per connection, answered, then closed. That brings in no HTTP stack (axum
//! would add hyper, tower and some thirty crates for one page), and every wait runs under the
//! ctx, so the limits are simple to state and to test: a request head is at most
//! [`MAX_HEAD`] bytes, a connection lives at most [`CONN_TIMEOUT`] on the ctx clock, and at
//! most [`MAX_CONNS`] connections are served at once.

mod page;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use anyhow::Context as _;
use base64::Engine as _;
use subtle::ConstantTimeEq as _;
use tokio::sync::Semaphore;
use zksync_concurrency::{ctx, io, net::tcp, scope, time};
use zksync_consensus_crypto::keccak256::Keccak256;

use crate::Network;

/// Largest request head (request line and headers).
pub const MAX_HEAD: usize = 8 * 1024;
/// Longest a connection may take, from accept to close.
pub const CONN_TIMEOUT: time::Duration = time::Duration::from_secs(10);
/// Most connections served at once (more wait in the listener's backlog).
pub const MAX_CONNS: usize = 16;
/// Largest amount of trailing data read and discarded after the response, so that closing
/// does not reset the connection before the client has read the response.
const MAX_DRAIN: usize = 64 * 1024;

/// Binds `debug_page.addr` and serves the page until `ctx` is cancelled. Does nothing if the
/// page is not configured.
pub async fn run(ctx: &ctx::Ctx, network: &Network) -> anyhow::Result<()> {
    let Some(cfg) = &network.config().debug_page else {
        return Ok(());
    };
    let listener = tcp::listen(
        cfg.addr,
        tcp::ListenOptions {
            backlog: 32,
            reuse_port: false,
        },
    )
    .with_context(|| format!("debug page: listening on {}", cfg.addr))?;
    serve(ctx, network, listener).await
}

/// Serves the page on a bound listener until `ctx` is cancelled, with the credentials of
/// `debug_page` (which must be configured).
pub async fn serve(
    ctx: &ctx::Ctx,
    network: &Network,
    mut listener: tcp::Listener,
) -> anyhow::Result<()> {
    let cfg = network
        .config()
        .debug_page
        .as_ref()
        .context("debug page not configured")?;
    let credentials = cfg.credentials.as_deref();
    let slots = Arc::new(Semaphore::new(MAX_CONNS));
    let res: ctx::Result<()> = scope::run!(ctx, |ctx, s| async {
        loop {
            let slot = ctx
                .wait(slots.clone().acquire_owned())
                .await?
                .context("debug page connection slots")?;
            match listener.accept(ctx).await? {
                Ok((stream, addr)) => {
                    s.spawn_bg(async move {
                        let _slot = slot;
                        let ctx = &ctx.with_timeout(CONN_TIMEOUT);
                        if let Err(err) = serve_conn(ctx, network, credentials, stream).await {
                            tracing::debug!(%addr, "debug page: {err:#}");
                        }
                        Ok(())
                    });
                }
                Err(err) => {
                    tracing::warn!("debug page: accept: {err}");
                    ctx.sleep(time::Duration::from_millis(100)).await?;
                }
            }
        }
    })
    .await;
    match res {
        Ok(()) | Err(ctx::Error::Canceled(_)) => Ok(()),
        Err(ctx::Error::Internal(err)) => Err(err),
    }
}

/// What a connection sent before the end of its request head.
enum Head {
    /// The head, without the blank line that ends it.
    Complete(Vec<u8>),
    /// More than [`MAX_HEAD`] bytes without the end of the head.
    TooLarge,
    /// The client closed the connection first.
    Closed,
}

/// Where the head in `buf` ends (before the blank line that ends it), if it does.
fn head_end(buf: &[u8]) -> Option<usize> {
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n");
    let lf = buf.windows(2).position(|w| w == b"\n\n");
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

async fn read_head(ctx: &ctx::Ctx, stream: &mut tcp::Stream) -> ctx::Result<Head> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = head_end(&buf) {
            if end > MAX_HEAD {
                return Ok(Head::TooLarge);
            }
            buf.truncate(end);
            return Ok(Head::Complete(buf));
        }
        if buf.len() > MAX_HEAD {
            return Ok(Head::TooLarge);
        }
        let n = io::read(ctx, stream, &mut chunk)
            .await?
            .context("reading")?;
        if n == 0 {
            return Ok(Head::Closed);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The parts of a request that matter here.
#[derive(Debug, PartialEq, Eq)]
struct Request<'a> {
    method: &'a str,
    authorization: Option<&'a str>,
}

/// Parses a request head; `None` if it is not HTTP/1.
fn parse(head: &[u8]) -> Option<Request<'_>> {
    let head = std::str::from_utf8(head).ok()?;
    let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next().filter(|m| !m.is_empty())?;
    let _target = request_line.next().filter(|t| !t.is_empty())?;
    let version = request_line.next()?;
    if !version.starts_with("HTTP/1.") || request_line.next().is_some() {
        return None;
    }
    let mut authorization = None;
    for line in lines {
        let (name, value) = line.split_once(':')?;
        if name.trim().eq_ignore_ascii_case("authorization") && authorization.is_none() {
            authorization = Some(value.trim());
        }
    }
    Some(Request {
        method,
        authorization,
    })
}

/// Whether an `Authorization` header value grants access with `credentials` (none: everyone
/// may look).
pub(crate) fn authorized(credentials: Option<&str>, header: Option<&str>) -> bool {
    let Some(want) = credentials else {
        return true;
    };
    let Some(header) = header else {
        return false;
    };
    let (scheme, value) = header.trim().split_once(' ').unwrap_or((header, ""));
    let value = value.trim();
    let given = if scheme.eq_ignore_ascii_case("basic") {
        match base64::engine::general_purpose::STANDARD.decode(value) {
            Ok(v) => v,
            Err(_) => return false,
        }
    } else if scheme.eq_ignore_ascii_case("bearer") {
        value.as_bytes().to_vec()
    } else {
        return false;
    };
    // Hashing first makes the comparison independent of the lengths.
    let given = Keccak256::new(&given);
    let want = Keccak256::new(want.as_bytes());
    given.as_bytes().ct_eq(want.as_bytes()).into()
}

/// An HTTP response closing the connection.
fn response(status: &str, headers: &[(&str, &str)], body: &[u8], with_body: bool) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\nCache-Control: no-store\r\n\
         X-Content-Type-Options: nosniff\r\n",
        body.len()
    );
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    if with_body {
        out.extend_from_slice(body);
    }
    out
}

fn plain(status: &str, extra: &[(&str, &str)], with_body: bool) -> Vec<u8> {
    let mut headers = vec![("Content-Type", "text/plain; charset=utf-8")];
    headers.extend_from_slice(extra);
    response(
        status,
        &headers,
        format!("{status}\n").as_bytes(),
        with_body,
    )
}

/// The response to a request head.
fn answer(ctx: &ctx::Ctx, network: &Network, credentials: Option<&str>, head: Head) -> Vec<u8> {
    let head = match head {
        Head::Complete(head) => head,
        Head::TooLarge => return plain("431 Request Header Fields Too Large", &[], true),
        Head::Closed => return vec![],
    };
    let Some(req) = parse(&head) else {
        return plain("400 Bad Request", &[], true);
    };
    let with_body = req.method != "HEAD";
    if !authorized(credentials, req.authorization) {
        return plain(
            "401 Unauthorized",
            &[(
                "WWW-Authenticate",
                "Basic realm=\"debug page\", charset=\"UTF-8\"",
            )],
            with_body,
        );
    }
    let html = page::render(&page::snapshot(ctx, network));
    response(
        "200 OK",
        &[
            ("Content-Type", "text/html; charset=utf-8"),
            // No scripts at all, whatever the page contains.
            (
                "Content-Security-Policy",
                "default-src 'none'; style-src 'unsafe-inline'",
            ),
        ],
        html.as_bytes(),
        with_body,
    )
}

/// Answers one request, then closes the connection.
async fn serve_conn(
    ctx: &ctx::Ctx,
    network: &Network,
    credentials: Option<&str>,
    mut stream: tcp::Stream,
) -> ctx::Result<()> {
    let head = read_head(ctx, &mut stream).await?;
    let resp = answer(ctx, network, credentials, head);
    if resp.is_empty() {
        return Ok(());
    }
    io::write_all(ctx, &mut stream, &resp)
        .await?
        .context("writing")?;
    io::shutdown(ctx, &mut stream).await?.context("closing")?;
    // Reads what else the client sent until it closes, so that our close does not reset the
    // connection (and lose the response) while unread data is pending.
    let mut drained = 0;
    let mut buf = [0u8; 1024];
    while drained < MAX_DRAIN {
        match io::read(ctx, &mut stream, &mut buf).await? {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
    Ok(())
}
