//! Domain types of the `zksync.std` schema.
//!
//! Decoding normalizes exactly as the reference does, because normalized values are what get
//! re-encoded and hashed (protocol.md 14.A I2): a `Timestamp`/`Duration` carries nanoseconds
//! into seconds and aligns their signs; 32-bit fields arrive already truncated by prost. Where
//! the reference panics (seconds overflow), we return an error.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use anyhow::{Context as _, ensure};
use zksync_concurrency::{limiter, time};

use crate::{ProtoFmt, proto::zksync::std as proto, read_required, required};

#[cfg(test)]
mod tests;

const NANOS_PER_SEC: i64 = 1_000_000_000;

/// A signed span of time as `(seconds, nanos)` with `|nanos| < 10^9` and both of the same sign
/// (the shape of `zksync.std.Timestamp` and `Duration` after the reference's normalization).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SignedDuration {
    seconds: i64,
    nanos: i32,
}

impl SignedDuration {
    /// Normalizes `(seconds, nanos)`; `None` if the seconds overflow.
    pub fn new(seconds: i64, nanos: i32) -> Option<Self> {
        let nanos = i64::from(nanos);
        let mut seconds = seconds.checked_add(nanos / NANOS_PER_SEC)?;
        let mut nanos = nanos % NANOS_PER_SEC;
        if seconds > 0 && nanos < 0 {
            seconds -= 1;
            nanos += NANOS_PER_SEC;
        } else if seconds < 0 && nanos > 0 {
            seconds += 1;
            nanos -= NANOS_PER_SEC;
        }
        Some(Self {
            seconds,
            // |nanos| < 10^9 fits in i32.
            nanos: nanos as i32,
        })
    }

    /// Whole seconds.
    pub fn seconds(&self) -> i64 {
        self.seconds
    }

    /// Sub-second nanoseconds (same sign as `seconds`).
    pub fn nanos(&self) -> i32 {
        self.nanos
    }

    /// The span as an unsigned duration, if not negative.
    pub fn to_std(self) -> Option<time::Duration> {
        let secs = u64::try_from(self.seconds).ok()?;
        let nanos = u32::try_from(self.nanos).ok()?;
        Some(time::Duration::new(secs, nanos))
    }

    /// From an unsigned duration; `None` past `i64::MAX` seconds.
    pub fn from_std(d: time::Duration) -> Option<Self> {
        Some(Self {
            seconds: i64::try_from(d.as_secs()).ok()?,
            nanos: d.subsec_nanos() as i32,
        })
    }
}

fn read_signed(seconds: &Option<i64>, nanos: &Option<i32>) -> anyhow::Result<SignedDuration> {
    let seconds = *required(seconds).context("seconds")?;
    let nanos = *required(nanos).context("nanos")?;
    SignedDuration::new(seconds, nanos).context("seconds overflow")
}

/// `zksync.std.Timestamp`: a point in time relative to the Unix epoch (may be negative).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub SignedDuration);

impl Timestamp {
    /// The given UTC time.
    pub fn from_utc(t: time::Utc) -> Self {
        Self(
            SignedDuration::from_std(t.since_unix()).unwrap_or(SignedDuration {
                seconds: i64::MAX,
                nanos: 0,
            }),
        )
    }
}

/// The empty message (`zksync.std.Void`), e.g. the response of a push RPC.
impl ProtoFmt for () {
    type Proto = proto::Void;
    fn read(_: &Self::Proto) -> anyhow::Result<Self> {
        Ok(())
    }
    fn build(&self) -> Self::Proto {
        proto::Void {}
    }
}

impl ProtoFmt for Timestamp {
    type Proto = proto::Timestamp;
    fn read(r: &Self::Proto) -> anyhow::Result<Self> {
        read_signed(&r.seconds, &r.nanos).map(Self)
    }
    fn build(&self) -> Self::Proto {
        proto::Timestamp {
            seconds: Some(self.0.seconds),
            nanos: Some(self.0.nanos),
        }
    }
}

impl ProtoFmt for SignedDuration {
    type Proto = proto::Duration;
    fn read(r: &Self::Proto) -> anyhow::Result<Self> {
        read_signed(&r.seconds, &r.nanos)
    }
    fn build(&self) -> Self::Proto {
        proto::Duration {
            seconds: Some(self.seconds),
            nanos: Some(self.nanos),
        }
    }
}

impl ProtoFmt for time::Duration {
    type Proto = proto::Duration;
    fn read(r: &Self::Proto) -> anyhow::Result<Self> {
        SignedDuration::read(r)?
            .to_std()
            .context("negative duration")
    }
    fn build(&self) -> Self::Proto {
        SignedDuration::from_std(*self)
            .unwrap_or(SignedDuration {
                seconds: i64::MAX,
                nanos: NANOS_PER_SEC as i32 - 1,
            })
            .build()
    }
}

impl ProtoFmt for SocketAddr {
    type Proto = proto::SocketAddr;
    fn read(r: &Self::Proto) -> anyhow::Result<Self> {
        let ip = required(&r.ip).context("ip")?;
        let ip = match ip.len() {
            4 => IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(&ip[..])?)),
            16 => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(&ip[..])?)),
            n => anyhow::bail!("ip: {n} bytes; expected 4 or 16"),
        };
        let port = *required(&r.port).context("port")?;
        let port = u16::try_from(port).context("port")?;
        Ok(SocketAddr::new(ip, port))
    }
    fn build(&self) -> Self::Proto {
        let ip = match self.ip() {
            IpAddr::V4(ip) => ip.octets().to_vec(),
            IpAddr::V6(ip) => ip.octets().to_vec(),
        };
        proto::SocketAddr {
            ip: Some(ip),
            port: Some(u32::from(self.port())),
        }
    }
}

impl ProtoFmt for limiter::Rate {
    type Proto = proto::RateLimit;
    fn read(r: &Self::Proto) -> anyhow::Result<Self> {
        let burst = *required(&r.burst).context("burst")?;
        Ok(Self {
            burst: usize::try_from(burst).context("burst")?,
            refresh: read_required(&r.refresh).context("refresh")?,
        })
    }
    fn build(&self) -> Self::Proto {
        proto::RateLimit {
            burst: Some(self.burst as u64),
            refresh: Some(self.refresh.build()),
        }
    }
}

/// `zksync.std.BitVector` as raw parts: `size` bits, MSB-first in `bytes` (protocol.md 4.4).
/// Decoding requires at least `size` bits and drops extra bytes and the unused tail bits.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct BitVector {
    /// Number of bits.
    pub size: u64,
    /// `ceil(size / 8)` bytes, bit `i` at byte `i / 8`, bit `7 - i % 8`; tail bits zero.
    pub bytes: Vec<u8>,
}

impl BitVector {
    /// Bit `i` (false past the end).
    pub fn get(&self, i: usize) -> bool {
        self.bytes
            .get(i / 8)
            .is_some_and(|b| b & (0x80 >> (i % 8)) != 0)
    }
}

impl ProtoFmt for BitVector {
    type Proto = proto::BitVector;
    fn read(r: &Self::Proto) -> anyhow::Result<Self> {
        let size = *required(&r.size).context("size")?;
        let bytes = required(&r.bytes).context("bytes_")?;
        let n = usize::try_from(size.div_ceil(8)).context("size")?;
        ensure!(
            bytes.len() >= n,
            "bytes_: {} bytes cannot hold {size} bits",
            bytes.len()
        );
        let mut bytes = bytes[..n].to_vec();
        if size % 8 != 0
            && let Some(last) = bytes.last_mut()
        {
            *last &= 0xff << (8 - size % 8);
        }
        Ok(Self { size, bytes })
    }
    fn build(&self) -> Self::Proto {
        proto::BitVector {
            size: Some(self.size),
            bytes: Some(self.bytes.clone()),
        }
    }
}
