//! Ctx-aware reads and writes on async streams: each returns `Canceled` as soon as the ctx is
//! cancelled, even if the peer never sends or never reads.
//!
//! `read_exact` and `write_all` are not cancel-safe: after `Canceled` an unknown part of the
//! data may have been read or written, so the stream must be dropped, not reused.

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

use crate::ctx;

/// Reads some bytes into `buf`; `Ok(0)` means end of stream.
pub async fn read<S: AsyncRead + Unpin>(
    ctx: &ctx::Ctx,
    stream: &mut S,
    buf: &mut [u8],
) -> ctx::OrCanceled<std::io::Result<usize>> {
    ctx.wait(stream.read(buf)).await
}

/// Fills `buf` completely (an early end of stream is an `UnexpectedEof` error).
pub async fn read_exact<S: AsyncRead + Unpin>(
    ctx: &ctx::Ctx,
    stream: &mut S,
    buf: &mut [u8],
) -> ctx::OrCanceled<std::io::Result<()>> {
    Ok(ctx.wait(stream.read_exact(buf)).await?.map(|_| ()))
}

/// Writes all of `buf`.
pub async fn write_all<S: AsyncWrite + Unpin>(
    ctx: &ctx::Ctx,
    stream: &mut S,
    buf: &[u8],
) -> ctx::OrCanceled<std::io::Result<()>> {
    ctx.wait(stream.write_all(buf)).await
}

/// Flushes buffered writes.
pub async fn flush<S: AsyncWrite + Unpin>(
    ctx: &ctx::Ctx,
    stream: &mut S,
) -> ctx::OrCanceled<std::io::Result<()>> {
    ctx.wait(stream.flush()).await
}

/// Shuts down the write side.
pub async fn shutdown<S: AsyncWrite + Unpin>(
    ctx: &ctx::Ctx,
    stream: &mut S,
) -> ctx::OrCanceled<std::io::Result<()>> {
    ctx.wait(stream.shutdown()).await
}
