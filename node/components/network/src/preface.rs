//! The connection preface (protocol.md 5.2 steps 1-4): the dialer names the encryption in
//! plaintext (only Noise NN exists), both sides run the Noise handshake, then the dialer names
//! the endpoint (consensus or gossip network) inside the encrypted stream. The whole preface
//! must complete within [`TIMEOUT`] on both sides; frames are at most [`MAX_FRAME`] bytes.

use std::net::SocketAddr;

use anyhow::Context as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use zksync_concurrency::{ctx, net::tcp, time};
use zksync_protobuf::{ProtoFmt, kB, required};

use crate::{frame, noise, proto::zksync::network::preface as proto};

/// Time allowed for connecting and the preface.
pub const TIMEOUT: time::Duration = time::Duration::from_secs(5);
/// Largest preface frame.
pub const MAX_FRAME: usize = 10 * kB;

/// The encryption of a connection (only Noise NN exists).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encryption {
    /// Noise, NN pattern.
    NoiseNN,
}

/// The endpoint a connection is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// The consensus network (validators).
    ConsensusNet,
    /// The gossip network (every node).
    GossipNet,
}

impl ProtoFmt for Encryption {
    type Proto = proto::Encryption;
    fn read(r: &Self::Proto) -> anyhow::Result<Self> {
        use proto::encryption::T;
        Ok(match required(&r.t)? {
            T::NoiseNn(_) => Self::NoiseNN,
        })
    }
    fn build(&self) -> Self::Proto {
        use proto::encryption::T;
        proto::Encryption {
            t: Some(match self {
                Self::NoiseNN => T::NoiseNn(proto::encryption::NoiseNn {}),
            }),
        }
    }
}

impl ProtoFmt for Endpoint {
    type Proto = proto::Endpoint;
    fn read(r: &Self::Proto) -> anyhow::Result<Self> {
        use proto::endpoint::T;
        Ok(match required(&r.t)? {
            T::ConsensusNet(_) => Self::ConsensusNet,
            T::GossipNet(_) => Self::GossipNet,
        })
    }
    fn build(&self) -> Self::Proto {
        use proto::endpoint::T;
        proto::Endpoint {
            t: Some(match self {
                Self::ConsensusNet => T::ConsensusNet(proto::endpoint::ConsensusNet {}),
                Self::GossipNet => T::GossipNet(proto::endpoint::GossipNet {}),
            }),
        }
    }
}

/// Reads a plaintext frame (before Noise).
async fn read_plain<T: ProtoFmt>(ctx: &ctx::Ctx, tcp: &mut tcp::Stream) -> ctx::Result<T> {
    let mut len = [0u8; 4];
    ctx.wait(tcp.read_exact(&mut len))
        .await?
        .context("reading preface")?;
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(anyhow::anyhow!("preface frame of {len} bytes exceeds {MAX_FRAME}").into());
    }
    let mut buf = vec![0; len];
    ctx.wait(tcp.read_exact(&mut buf))
        .await?
        .context("reading preface")?;
    Ok(zksync_protobuf::decode(&buf).context("preface")?)
}

/// Dials `addr` and runs the dialer's preface for `endpoint`.
pub async fn connect(
    ctx: &ctx::Ctx,
    addr: SocketAddr,
    endpoint: Endpoint,
) -> ctx::Result<noise::Stream> {
    let ctx = &ctx.with_timeout(TIMEOUT);
    let mut tcp = tcp::connect(ctx, addr).await?.context("connect")?;
    ctx.wait(tcp.write_all(&frame::encode(&Encryption::NoiseNN)))
        .await?
        .context("writing preface")?;
    let mut stream = noise::handshake(ctx, tcp, true).await?;
    frame::write(ctx, &mut stream.write, &endpoint).await?;
    Ok(stream)
}

/// Runs the acceptor's preface on an accepted connection.
pub async fn accept(
    ctx: &ctx::Ctx,
    mut tcp: tcp::Stream,
) -> ctx::Result<(noise::Stream, Endpoint)> {
    let ctx = &ctx.with_timeout(TIMEOUT);
    let Encryption::NoiseNN = read_plain(ctx, &mut tcp).await?;
    let mut stream = noise::handshake(ctx, tcp, false).await?;
    let endpoint = frame::read(ctx, &mut stream.read, MAX_FRAME).await?;
    Ok((stream, endpoint))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use zksync_concurrency::{scope, testonly};
    use zksync_protobuf::DecodeError;

    use super::*;
    use crate::testonly::{
        bytes, case_runtime, decode_stable, framed, mutate, mutations, run_case, tcp_pair,
    };

    /// Byte-level golden values of protocol.md 5.2.
    #[test]
    fn preface_bytes() {
        assert_eq!(
            frame::encode(&Encryption::NoiseNN),
            [0x02, 0, 0, 0, 0x0a, 0x00]
        );
        assert_eq!(
            frame::encode(&Endpoint::ConsensusNet),
            [0x02, 0, 0, 0, 0x0a, 0x00]
        );
        assert_eq!(
            frame::encode(&Endpoint::GossipNet),
            [0x02, 0, 0, 0, 0x12, 0x00]
        );
    }

    #[test]
    fn preface_round_trip_and_failures() {
        testonly::run_test(|ctx, _| async move {
            let ctx = &ctx;
            let mut listener = tcp::listen("127.0.0.1:0".parse().unwrap(), Default::default())
                .context("listen")?;
            let addr = listener.local_addr().context("addr")?;
            for endpoint in [Endpoint::ConsensusNet, Endpoint::GossipNet] {
                let got = scope::run!(ctx, |ctx, s| async {
                    let dial = s.spawn(connect(ctx, addr, endpoint));
                    let (tcp, _) = listener.accept(ctx).await?.context("accept")?;
                    let (stream, got) = accept(ctx, tcp).await?;
                    let dial = dial.join(ctx).await?;
                    assert_eq!(stream.session_id, dial.session_id);
                    Ok(got)
                })
                .await?;
                assert_eq!(got, endpoint);
            }
            // Garbage and an oversized length are refused.
            for bytes in [
                vec![0x02, 0, 0, 0, 0xff, 0xff],
                vec![0xff, 0xff, 0xff, 0x7f],
            ] {
                let mut raw = tcp::connect(ctx, addr).await?.context("connect")?;
                raw.write_all(&bytes).await.context("write")?;
                let (tcp, _) = listener.accept(ctx).await?.context("accept")?;
                assert!(accept(ctx, tcp).await.is_err());
            }
            Ok(())
        });
    }

    /// A peer that connects and says nothing is dropped after the preface timeout.
    #[test]
    fn silent_peer_times_out() {
        testonly::run_test(|ctx, clock| async move {
            let ctx = &ctx;
            let mut listener = tcp::listen("127.0.0.1:0".parse().unwrap(), Default::default())
                .context("listen")?;
            let addr = listener.local_addr().context("addr")?;
            let _raw = tcp::connect(ctx, addr).await?.context("connect")?;
            let (tcp, _) = listener.accept(ctx).await?.context("accept")?;
            let mut fut = std::pin::pin!(accept(ctx, tcp));
            // The first poll starts the preface and its deadline.
            assert!(testonly::is_pending(fut.as_mut()));
            clock.advance(TIMEOUT);
            assert!(fut.await.is_err());
            Ok(())
        });
    }

    fn endpoint() -> impl Strategy<Value = Endpoint> {
        prop_oneof![Just(Endpoint::ConsensusNet), Just(Endpoint::GossipNet)]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// The preface decoders never panic on arbitrary bytes, and a value they accept
        /// re-encodes to the same value.
        #[test]
        fn decoders_never_panic(bytes in bytes(64)) {
            decode_stable::<Encryption>(&bytes);
            decode_stable::<Endpoint>(&bytes);
        }

        /// Valid encodings round-trip; damaged ones never make the decoders panic.
        #[test]
        fn round_trip_and_damaged_encodings(endpoint in endpoint(), ms in mutations()) {
            let enc = zksync_protobuf::encode(&Encryption::NoiseNN);
            prop_assert_eq!(decode_stable::<Encryption>(&enc), Some(Encryption::NoiseNN));
            let end = zksync_protobuf::encode(&endpoint);
            prop_assert_eq!(decode_stable::<Endpoint>(&end), Some(endpoint));
            decode_stable::<Encryption>(&mutate(enc, &ms));
            decode_stable::<Endpoint>(&mutate(end, &ms));
        }
    }

    /// What a dialer may send before the Noise handshake: garbage, a length prefix with a
    /// body, an oversized length, or a valid encryption frame followed by garbage.
    fn plain_bytes() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            bytes(40),
            (0..64u32, bytes(80)).prop_map(|(len, body)| framed(len, &body)),
            (MAX_FRAME as u32 + 1.., bytes(8)).prop_map(|(len, body)| framed(len, &body)),
            (mutations(), bytes(80)).prop_map(|(ms, tail)| {
                let body = mutate(zksync_protobuf::encode(&Encryption::NoiseNN), &ms);
                [framed(body.len() as u32, &body), tail].concat()
            }),
            bytes(80).prop_map(|tail| [frame::encode(&Encryption::NoiseNN), tail].concat()),
        ]
    }

    /// The acceptor's preface, fed arbitrary bytes by a dialer that then stops sending, never
    /// panics and fails: a length over [`MAX_FRAME`] as such (before any body is read), a
    /// complete frame that does not decode as a decoding error, a short read as a short read.
    #[test]
    fn accept_of_arbitrary_bytes_fails_cleanly() {
        let rt = case_runtime();
        proptest!(ProptestConfig::with_cases(64), |(bytes in plain_bytes())| {
            let sent = bytes.clone();
            let err = run_case(&rt, |ctx| async move {
                let ctx = &ctx;
                let (mut raw, acc) = tcp_pair(ctx).await?;
                ctx.wait(raw.write_all(&sent)).await?.context("write")?;
                ctx.wait(raw.shutdown()).await?.context("shutdown")?;
                Ok(accept(ctx, acc).await.err())
            });
            let Some(ctx::Error::Internal(err)) = err else {
                return Err(TestCaseError::fail(format!("accepted or canceled: {err:?}")));
            };
            let msg = format!("{err:#}");
            let decode_err = err.chain().any(|e| e.downcast_ref::<DecodeError>().is_some());
            let Some(len) = bytes.get(..4) else {
                prop_assert!(msg.contains("reading preface"), "{}", msg);
                return Ok(());
            };
            let len = u32::from_le_bytes(len.try_into().unwrap()) as usize;
            if len > MAX_FRAME {
                prop_assert!(msg.contains("exceeds"), "{}", msg);
            } else if bytes.len() < 4 + len {
                prop_assert!(msg.contains("reading preface"), "{}", msg);
            } else {
                let valid = zksync_protobuf::decode::<Encryption>(&bytes[4..4 + len]).is_ok();
                // A valid frame leads to the Noise handshake, which the garbage fails.
                prop_assert_eq!(decode_err, !valid, "{}", msg);
            }
        });
    }
}
