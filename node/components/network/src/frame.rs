//! Frames outside the multiplexer (protocol.md 5.2): `u32 LE length ‖ canonical protobuf`, the
//! length checked against a maximum before anything is read.

use anyhow::Context as _;
use zksync_concurrency::ctx;
use zksync_protobuf::ProtoFmt;

use crate::noise;

#[cfg(test)]
mod tests;

/// Reads one frame of at most `max` bytes and decodes it.
pub async fn read<T: ProtoFmt>(
    ctx: &ctx::Ctx,
    stream: &mut noise::ReadHalf,
    max: usize,
) -> ctx::Result<T> {
    let mut len = [0u8; 4];
    stream.read_exact(ctx, &mut len).await?;
    let len = u32::from_le_bytes(len) as usize;
    if len > max {
        return Err(anyhow::anyhow!("frame of {len} bytes exceeds the limit of {max}").into());
    }
    let mut buf = vec![0; len];
    stream.read_exact(ctx, &mut buf).await?;
    Ok(zksync_protobuf::decode(&buf).context("frame")?)
}

/// Encodes `msg` as a frame (length prefix included).
pub fn encode<T: ProtoFmt>(msg: &T) -> Vec<u8> {
    let body = zksync_protobuf::encode(msg);
    let mut buf = (body.len() as u32).to_le_bytes().to_vec();
    buf.extend_from_slice(&body);
    buf
}

/// Writes one frame and flushes.
pub async fn write<T: ProtoFmt>(
    ctx: &ctx::Ctx,
    stream: &mut noise::WriteHalf,
    msg: &T,
) -> ctx::Result<()> {
    stream.write_all(ctx, &encode(msg)).await?;
    stream.flush(ctx).await
}
