//! Test helpers.

use anyhow::Context as _;
use zksync_concurrency::{ctx, net::tcp, scope};

use crate::noise;

/// A connected pair of loopback TCP streams (dialer, acceptor).
pub(crate) async fn tcp_pair(ctx: &ctx::Ctx) -> ctx::Result<(tcp::Stream, tcp::Stream)> {
    let mut listener =
        tcp::listen("127.0.0.1:0".parse().unwrap(), Default::default()).context("listen")?;
    let addr = listener.local_addr().context("local_addr")?;
    let dial = tcp::connect(ctx, addr).await?.context("connect")?;
    let (accepted, _) = listener.accept(ctx).await?.context("accept")?;
    Ok((dial, accepted))
}

/// A pair of Noise streams over loopback (dialer, acceptor).
pub(crate) async fn noise_pair(ctx: &ctx::Ctx) -> ctx::Result<(noise::Stream, noise::Stream)> {
    let (a, b) = tcp_pair(ctx).await?;
    scope::run!(ctx, |ctx, s| async {
        let b = s.spawn(noise::handshake(ctx, b, false));
        let a = noise::handshake(ctx, a, true).await?;
        Ok((a, b.join(ctx).await?))
    })
    .await
}

/// Runs two muxes over the two ends of a connection until one fails.
pub(crate) async fn run_muxes(
    ctx: &ctx::Ctx,
    (a, b): (noise::Stream, noise::Stream),
    ma: crate::mux::Mux,
    mb: crate::mux::Mux,
) -> ctx::Result<()> {
    let err = |e: crate::mux::MuxError| ctx::Error::Internal(e.into());
    scope::run!(ctx, |ctx, s| async {
        s.spawn_bg(async { ma.run(ctx, a).await.map_err(err) });
        mb.run(ctx, b).await.map_err(err)
    })
    .await
}
