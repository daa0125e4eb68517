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
