//! TCP listeners and connections whose waits end on cancellation.
//!
//! Every stream has `TCP_NODELAY` set: consensus messages are small and latency-bound.
//! Read and write through [`crate::io`] so that they stop when the ctx is cancelled.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpSocket};

use crate::ctx;

/// A TCP connection.
pub type Stream = tokio::net::TcpStream;

/// Options of a listening socket.
#[derive(Clone, Copy, Debug)]
pub struct ListenOptions {
    /// Maximum number of connections waiting to be accepted.
    pub backlog: u32,
    /// Set `SO_REUSEPORT`, so that several listeners can share a port (on Unix).
    pub reuse_port: bool,
}

impl Default for ListenOptions {
    fn default() -> Self {
        Self {
            backlog: 1024,
            reuse_port: false,
        }
    }
}

/// A bound, listening TCP socket.
#[derive(Debug)]
pub struct Listener(TcpListener);

/// Binds and listens on `addr` (`SO_REUSEADDR` is always set). Port 0 picks a free port.
pub fn listen(addr: SocketAddr, opts: ListenOptions) -> std::io::Result<Listener> {
    let wrap = |what: &str, err: std::io::Error| {
        std::io::Error::new(err.kind(), format!("{what} {addr}: {err}"))
    };
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4(),
        SocketAddr::V6(_) => TcpSocket::new_v6(),
    }
    .map_err(|e| wrap("creating a socket for", e))?;
    socket
        .set_reuseaddr(true)
        .map_err(|e| wrap("setting SO_REUSEADDR on", e))?;
    #[cfg(unix)]
    if opts.reuse_port {
        socket
            .set_reuseport(true)
            .map_err(|e| wrap("setting SO_REUSEPORT on", e))?;
    }
    socket.bind(addr).map_err(|e| wrap("binding", e))?;
    let listener = socket
        .listen(opts.backlog)
        .map_err(|e| wrap("listening on", e))?;
    Ok(Listener(listener))
}

impl Listener {
    /// The bound address (with the actual port if 0 was asked for).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.0.local_addr()
    }

    /// Waits for the next inbound connection.
    pub async fn accept(
        &mut self,
        ctx: &ctx::Ctx,
    ) -> ctx::OrCanceled<std::io::Result<(Stream, SocketAddr)>> {
        Ok(ctx.wait(self.0.accept()).await?.map(|(stream, addr)| {
            // A failure here concerns this connection only, not the listener.
            if let Err(err) = stream.set_nodelay(true) {
                tracing::debug!(%addr, %err, "setting TCP_NODELAY on an accepted connection");
            }
            (stream, addr)
        }))
    }
}

/// Connects to `addr`.
pub async fn connect(ctx: &ctx::Ctx, addr: SocketAddr) -> ctx::OrCanceled<std::io::Result<Stream>> {
    Ok(ctx.wait(Stream::connect(addr)).await?.and_then(|stream| {
        stream.set_nodelay(true)?;
        Ok(stream)
    }))
}
