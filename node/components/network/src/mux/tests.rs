use std::collections::BTreeMap;

use proptest::prelude::*;
use zksync_concurrency::{ctx, limiter, scope, testonly};

use super::*;
use crate::{
    frame, noise,
    testonly::{
        bytes, case_runtime, decode_stable, framed, mutate, mutations, noise_pair, raw_noise_pair,
        run_case, run_muxes,
    },
};

const CAP: CapabilityId = 7;

fn unlimited() -> limiter::Rate {
    limiter::Rate {
        burst: 1,
        refresh: zksync_concurrency::time::Duration::ZERO,
    }
}

/// A client of CAP with `c` streams on one side, a server with `s` streams on the other;
/// `calls` concurrent echo calls, each reusing streams.
#[test]
fn calls_reuse_streams() {
    testonly::run_test(|ctx, _| async move {
        let ctx = &ctx;
        let conn = noise_pair(ctx).await?;
        let client = StreamQueue::new(2, unlimited());
        let server = StreamQueue::new(3, unlimited());
        let mux_a = Mux {
            accept: BTreeMap::from([(CAP, client.clone())]),
            ..Default::default()
        };
        let mux_b = Mux {
            connect: BTreeMap::from([(CAP, server.clone())]),
            ..Default::default()
        };
        scope::run!(ctx, |ctx, s| async {
            s.spawn_bg(run_muxes(ctx, conn, mux_a, mux_b));
            // Echo server with 3 workers.
            for _ in 0..3 {
                s.spawn_bg::<()>(async {
                    loop {
                        let mut st = server.open(ctx).await?;
                        let mut len = [0u8; 1];
                        st.read
                            .read_exact(ctx, &mut len)
                            .await
                            .map_err(|e| ctx::Error::Internal(e.into()))?;
                        let mut body = vec![0u8; len[0] as usize];
                        st.read
                            .read_exact(ctx, &mut body)
                            .await
                            .map_err(|e| ctx::Error::Internal(e.into()))?;
                        st.read
                            .wait_close(ctx)
                            .await
                            .map_err(|e| ctx::Error::Internal(e.into()))?;
                        st.write
                            .write_all(ctx, &body)
                            .await
                            .map_err(|e| ctx::Error::Internal(e.into()))?;
                    }
                });
            }
            let mut calls = vec![];
            for i in 0..20u8 {
                let client = client.clone();
                calls.push(s.spawn(async move {
                    let mut st = client.open(ctx).await?;
                    let body = vec![i; 100 + i as usize];
                    st.write
                        .write_all(ctx, &[body.len() as u8])
                        .await
                        .map_err(|e| ctx::Error::Internal(e.into()))?;
                    st.write
                        .write_all(ctx, &body)
                        .await
                        .map_err(|e| ctx::Error::Internal(e.into()))?;
                    let Stream { mut read, write } = st;
                    write.close();
                    let mut got = vec![0u8; body.len()];
                    read.read_exact(ctx, &mut got)
                        .await
                        .map_err(|e| ctx::Error::Internal(e.into()))?;
                    assert_eq!(got, body);
                    read.wait_close(ctx)
                        .await
                        .map_err(|e| ctx::Error::Internal(e.into()))?;
                    Ok(())
                }));
            }
            for c in calls {
                c.join(ctx).await?;
            }
            Ok(())
        })
        .await
    });
}

/// Big payloads cross in many frames, both ways.
#[test]
fn large_transfer() {
    testonly::run_test(|ctx, _| async move {
        let ctx = &ctx;
        let conn = noise_pair(ctx).await?;
        let client = StreamQueue::new(1, unlimited());
        let server = StreamQueue::new(1, unlimited());
        let mux_a = Mux {
            accept: BTreeMap::from([(CAP, client.clone())]),
            ..Default::default()
        };
        let mux_b = Mux {
            connect: BTreeMap::from([(CAP, server.clone())]),
            ..Default::default()
        };
        let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        scope::run!(ctx, |ctx, s| async {
            s.spawn_bg(run_muxes(ctx, conn, mux_a, mux_b));
            s.spawn_bg(async {
                let mut st = server.open(ctx).await?;
                let mut got = vec![0u8; data.len()];
                st.read
                    .read_exact(ctx, &mut got)
                    .await
                    .map_err(|e| ctx::Error::Internal(e.into()))?;
                st.write
                    .write_all(ctx, &got)
                    .await
                    .map_err(|e| ctx::Error::Internal(e.into()))?;
                Ok(())
            });
            let st = client.open(ctx).await?;
            let (mut read, mut write) = (st.read, st.write);
            let d = &data;
            let w = s.spawn(async move {
                write
                    .write_all(ctx, d)
                    .await
                    .map_err(|e| ctx::Error::Internal(e.into()))?;
                write.close();
                Ok(())
            });
            let mut got = vec![0u8; data.len()];
            read.read_exact(ctx, &mut got)
                .await
                .map_err(|e| ctx::Error::Internal(e.into()))?;
            w.join(ctx).await?;
            assert!(got == data);
            Ok(())
        })
        .await
    });
}

/// Runs a mux on one end and lets the test write raw frames from the other end (after the
/// mux handshake). Returns the mux's result.
async fn against_raw(
    ctx: &ctx::Ctx,
    peer_handshake: Handshake,
    raw: &[u8],
) -> ctx::Result<Result<(), MuxError>> {
    let (a, mut b) = noise_pair(ctx).await?;
    let server = StreamQueue::new(2, unlimited());
    let mux_a = Mux {
        connect: BTreeMap::from([(CAP, server)]),
        ..Default::default()
    };
    scope::run!(ctx, |ctx, s| async {
        let res = s.spawn(async { Ok(mux_a.run(ctx, a).await) });
        frame::write(ctx, &mut b.write, &peer_handshake).await?;
        let _: Handshake = frame::read(ctx, &mut b.read, 10_000).await?;
        b.write.write_all(ctx, raw).await?;
        b.write.flush(ctx).await?;
        drop(b);
        let res = res.join(ctx).await?;
        Ok(res)
    })
    .await
}

#[test]
fn invalid_frames_are_protocol_errors() {
    testonly::run_test(|ctx, _| async move {
        let ctx = &ctx;
        let peer = Handshake {
            accept: BTreeMap::from([(CAP, 2)]),
            ..Default::default()
        };
        // Frame kind 11.
        let res = against_raw(ctx, peer.clone(), &[0x00, 0xC0]).await?;
        assert!(matches!(res, Err(MuxError::Protocol(_))), "{res:?}");
        // Stream id beyond the two allocated.
        let res = against_raw(ctx, peer.clone(), &[0x02, 0x00]).await?;
        assert!(matches!(res, Err(MuxError::Protocol(_))), "{res:?}");
        // A stream kind with no streams (the peer serves nothing).
        let res = against_raw(ctx, peer.clone(), &[0x00, 0x20]).await?;
        assert!(matches!(res, Err(MuxError::Protocol(_))), "{res:?}");
        // Valid frames (OPEN, empty DATA, CLOSE) then a hang-up: a connection error, not a
        // protocol error.
        let res = against_raw(ctx, peer, &[0x00, 0x00, 0x01, 0x40, 0x00, 0x00, 0x01, 0x80]).await?;
        assert!(matches!(res, Err(MuxError::Connection(_))), "{res:?}");
        Ok(())
    });
}

#[test]
fn handshake_rules() {
    use zksync_protobuf::ProtoFmt as _;
    let h = Handshake {
        accept: BTreeMap::from([(1, 2), (3, 4)]),
        connect: BTreeMap::from([(0, 3)]),
    };
    let mut p = h.build();
    assert_eq!(Handshake::read(&p).unwrap(), h);
    // Any order.
    p.accept.reverse();
    assert_eq!(Handshake::read(&p).unwrap(), h);
    // Duplicates and missing fields are refused.
    p.accept.push(p.accept[0]);
    assert!(Handshake::read(&p).is_err());
    p.accept.pop();
    p.accept[0].max_streams = None;
    assert!(Handshake::read(&p).is_err());
}

/// A peer flooding a stream whose user does not read fills the connection's read buffer and no
/// more; the data is all delivered once the user reads.
#[test]
fn read_buffer_bounds_a_flood() {
    testonly::run_test(|ctx, _| async move {
        let ctx = &ctx;
        let (a, mut b) = noise_pair(ctx).await?;
        let server = StreamQueue::new(1, unlimited());
        let mux = Mux {
            connect: BTreeMap::from([(CAP, server.clone())]),
            ..Default::default()
        };
        let stats = mux.stats.clone();
        let cap = mux.cfg.read_buffer_size;
        const FRAMES: usize = 100;
        const SIZE: usize = 16_000;
        scope::run!(ctx, |ctx, s| async {
            s.spawn_bg(async {
                mux.run(ctx, a)
                    .await
                    .map_err(|e| ctx::Error::Internal(e.into()))
            });
            let peer = Handshake {
                accept: BTreeMap::from([(CAP, 1)]),
                ..Default::default()
            };
            frame::write(ctx, &mut b.write, &peer).await?;
            let _: Handshake = frame::read(ctx, &mut b.read, 10_000).await?;
            s.spawn_bg(async move {
                // OPEN, then a flood of DATA on client stream 0.
                b.write.write_all(ctx, &[0x00, 0x00]).await?;
                for i in 0..FRAMES {
                    b.write.write_all(ctx, &[0x00, 0x40]).await?;
                    b.write.write_all(ctx, &(SIZE as u16).to_le_bytes()).await?;
                    b.write.write_all(ctx, &vec![i as u8; SIZE]).await?;
                }
                b.write.flush(ctx).await?;
                ctx.canceled().await;
                Ok(())
            });
            let mut st = server.open(ctx).await?;
            // The buffer fills up to its limit, not beyond.
            while stats.buffered_bytes() + SIZE as u64 <= cap {
                ctx.yield_now().await?;
            }
            for _ in 0..100 {
                assert!(stats.buffered_bytes() <= cap);
                ctx.yield_now().await?;
            }
            // Everything arrives, in order.
            for i in 0..FRAMES {
                let mut got = vec![0u8; SIZE];
                st.read
                    .read_exact(ctx, &mut got)
                    .await
                    .map_err(|e| ctx::Error::Internal(e.into()))?;
                assert!(got.iter().all(|x| *x == i as u8), "frame {i}");
                assert!(stats.buffered_bytes() <= cap);
            }
            Ok(())
        })
        .await
    });
}

/// A mux handshake with up to 4 capabilities on each side, counts of any size.
fn handshake() -> impl Strategy<Value = Handshake> {
    let caps = || proptest::collection::btree_map(0..20u64, any::<u32>(), 0..4);
    (caps(), caps()).prop_map(|(accept, connect)| Handshake { accept, connect })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The mux handshake decoder never panics on arbitrary bytes, and a value it accepts
    /// re-encodes to the same value.
    #[test]
    fn handshake_decoder_never_panics(bytes in bytes(200)) {
        decode_stable::<Handshake>(&bytes);
    }

    /// Mux handshakes round-trip; damaged encodings never make the decoder panic.
    #[test]
    fn handshake_round_trip_and_damaged_encodings(h in handshake(), ms in mutations()) {
        let enc = zksync_protobuf::encode(&h);
        prop_assert_eq!(decode_stable::<Handshake>(&enc), Some(h));
        decode_stable::<Handshake>(&mutate(enc, &ms));
    }
}

/// A mux, fed an arbitrary handshake frame, never panics: it fails the handshake exactly when
/// the frame does not decode, and otherwise runs until the connection ends.
#[test]
fn handshake_of_arbitrary_frames() {
    let rt = case_runtime();
    let frames = prop_oneof![
        bytes(40),
        bytes(60).prop_map(|b| framed(b.len() as u32, &b)),
        (handshake(), mutations()).prop_map(|(h, ms)| {
            let body = mutate(zksync_protobuf::encode(&h), &ms);
            framed(body.len() as u32, &body)
        }),
        handshake().prop_map(|h| frame::encode(&h)),
        (handshake(), bytes(8)).prop_map(|(h, tail)| [frame::encode(&h), tail].concat()),
    ];
    proptest!(ProptestConfig::with_cases(128), |(f in frames)| {
        let sent = f.clone();
        let res = run_case(&rt, |ctx| async move {
            let ctx = &ctx;
            let (mut raw, acc) = raw_noise_pair(ctx).await?;
            raw.send_chunked(ctx, &sent, sent.len()).await?;
            raw.shutdown(ctx).await?;
            let mux = Mux {
                connect: BTreeMap::from([(CAP, StreamQueue::new(2, unlimited()))]),
                ..Default::default()
            };
            Ok(mux.run(ctx, acc).await)
        });
        let len = f.get(..4).map(|l| u32::from_le_bytes(l.try_into().unwrap()) as usize);
        let body = len.and_then(|len| f.get(4..4 + len));
        if body.is_none_or(|b| zksync_protobuf::decode::<Handshake>(b).is_err()) {
            prop_assert!(matches!(res, Err(MuxError::Handshake(_))), "{:?}", res);
        } else if len == Some(f.len() - 4) {
            prop_assert!(matches!(res, Err(MuxError::Connection(_))), "{:?}", res);
        } else {
            // The bytes after the frame are read as mux frames.
            prop_assert!(
                matches!(res, Err(MuxError::Connection(_) | MuxError::Protocol(_))),
                "{:?}",
                res
            );
        }
    });
}

/// Something a peer writes after the mux handshake.
#[derive(Clone, Debug)]
enum PeerFrame {
    /// A header of frame kind `kind` (`3` is invalid), the sender's stream kind and `id`; for
    /// DATA the length field (by default the length of `data`) and `data`.
    Frame {
        kind: u16,
        connect: bool,
        id: u16,
        len: Option<u16>,
        data: Vec<u8>,
    },
    /// Any bytes.
    Raw(Vec<u8>),
}

/// A valid OPEN, DATA or CLOSE frame for one of the first two client streams.
fn valid_frame() -> impl Strategy<Value = PeerFrame> {
    (0..3u16, 0..2u16, bytes(48)).prop_map(|(kind, id, data)| PeerFrame::Frame {
        kind,
        connect: false,
        id,
        len: None,
        data,
    })
}

/// Any frame: mostly valid ones, some with an invalid kind, another stream kind, any stream
/// id or a lying length, and garbage.
fn any_frame() -> impl Strategy<Value = PeerFrame> {
    let frame = (
        prop_oneof![9 => 0..3u16, 1 => Just(3u16)],
        proptest::bool::weighted(0.05),
        prop_oneof![9 => 0..3u16, 1 => 0..=header::MAX_STREAM_ID],
        proptest::option::weighted(0.05, prop_oneof![0..64u16, any::<u16>()]),
        bytes(48),
    )
        .prop_map(|(kind, connect, id, len, data)| PeerFrame::Frame {
            kind,
            connect,
            id,
            len,
            data,
        });
    prop_oneof![20 => frame, 1 => bytes(6).prop_map(PeerFrame::Raw)]
}

fn encode_frames(frames: &[PeerFrame]) -> Vec<u8> {
    let mut out = vec![];
    for f in frames {
        match f {
            PeerFrame::Frame {
                kind,
                connect,
                id,
                len,
                data,
            } => {
                let word = kind << 14 | u16::from(*connect) << 13 | id;
                out.extend_from_slice(&word.to_le_bytes());
                if *kind == 1 {
                    let len = len.unwrap_or(data.len() as u16);
                    out.extend_from_slice(&len.to_le_bytes());
                    out.extend_from_slice(data);
                }
            }
            PeerFrame::Raw(b) => out.extend_from_slice(b),
        }
    }
    out
}

/// How the mux reader must end on `bytes` from a peer with `streams` client streams of CAP
/// (and no server streams): `None` at a protocol error (the first frame kind `11` or stream id
/// beyond those allocated), else `Some(n)` at the end of the bytes, `n` bytes of them in
/// complete frames.
fn reader_end(bytes: &[u8], streams: usize) -> Option<usize> {
    let mut i = 0;
    while i + 2 <= bytes.len() {
        let h = Header::decode([bytes[i], bytes[i + 1]]).ok()?;
        if h.stream != StreamKind::Accept || usize::from(h.id) >= streams {
            return None;
        }
        let mut end = i + 2;
        if h.frame == FrameKind::Data {
            let Some(len) = bytes.get(end..end + 2) else {
                break;
            };
            end += 2 + usize::from(u16::from_le_bytes([len[0], len[1]]));
        }
        if end > bytes.len() {
            break;
        }
        i = end;
    }
    Some(i)
}

/// Runs a server mux of CAP with two streams (and `cfg`) against a peer that completes the
/// handshake as `peer`, then writes `bytes` and ends its stream. Users of the server streams
/// read everything they are given, checking that the read buffer never holds more than its
/// size. Returns the mux's result and the bytes it counted as received.
async fn mux_vs_bytes(
    ctx: &ctx::Ctx,
    cfg: Config,
    peer: &Handshake,
    bytes: &[u8],
) -> ctx::Result<(Result<(), MuxError>, u64)> {
    let (a, b) = noise_pair(ctx).await?;
    let noise::Stream {
        read: mut b_read,
        write: mut b_write,
        ..
    } = b;
    let server = StreamQueue::new(2, unlimited());
    let cap = cfg.read_buffer_size;
    let mux = Mux {
        cfg,
        connect: BTreeMap::from([(CAP, server.clone())]),
        ..Default::default()
    };
    let stats = mux.stats.clone();
    scope::run!(ctx, |ctx, s| async {
        for _ in 0..2 {
            s.spawn_bg::<()>(async {
                loop {
                    let mut st = server.open(ctx).await?;
                    let mut byte = [0u8];
                    while st.read.read_exact(ctx, &mut byte).await.is_ok() {
                        assert!(stats.buffered_bytes() <= cap);
                    }
                }
            });
        }
        let res = s.spawn(async { Ok(mux.run(ctx, a).await) });
        frame::write(ctx, &mut b_write, peer).await?;
        let _: Handshake = frame::read(ctx, &mut b_read, 10_000).await?;
        b_write.write_all(ctx, bytes).await?;
        b_write.flush(ctx).await?;
        // Ends the stream but keeps reading what the mux sends, so that nothing resets the
        // connection before the mux has read everything.
        drop(b_write);
        s.spawn_bg(async {
            let mut buf = [0u8; 1];
            while b_read.read_exact(ctx, &mut buf).await.is_ok() {}
            Ok(())
        });
        let res = res.join(ctx).await?;
        Ok((res, stats.received_bytes()))
    })
    .await
}

/// The mux reader, fed arbitrary frames (valid ones, invalid kinds, stream ids beyond those
/// allocated, lying lengths, garbage) after a valid handshake, never panics and never buffers
/// more than its read buffer: it ends with a protocol error at the first invalid header, else
/// with a connection error at the end of the stream, having read every complete frame.
#[test]
fn reader_of_arbitrary_frames() {
    let rt = case_runtime();
    let small = Config {
        read_buffer_size: 64,
        read_frame_size: 16,
        read_frame_count: 4,
        write_frame_size: 16,
    };
    let cfg = prop_oneof![Just(Config::default()), Just(small)];
    let streams = prop_oneof![
        1 => Just(None),
        2 => (0..2u32).prop_map(Some),
        6 => (2..4u32).prop_map(Some),
        1 => Just(Some(u32::MAX)),
    ];
    let frames = prop_oneof![
        proptest::collection::vec(valid_frame(), 0..24),
        proptest::collection::vec(any_frame(), 0..24),
    ];
    proptest!(
        ProptestConfig::with_cases(128),
        |(cfg in cfg, streams in streams, mut peer in handshake(), frames in frames)| {
            match streams {
                Some(n) => peer.accept.insert(CAP, n),
                None => peer.accept.remove(&CAP),
            };
            let bytes = encode_frames(&frames);
            let (p, b) = (&peer, &bytes);
            let (res, received) =
                run_case(&rt, |ctx| async move { mux_vs_bytes(&ctx, cfg, p, b).await });
            let allocated = streams.map_or(0, |n| n.min(2) as usize);
            match reader_end(&bytes, allocated) {
                None => prop_assert!(matches!(res, Err(MuxError::Protocol(_))), "{:?}", res),
                Some(complete) => {
                    prop_assert!(matches!(res, Err(MuxError::Connection(_))), "{:?}", res);
                    prop_assert!(received as usize >= complete);
                }
            }
            prop_assert!(received as usize <= bytes.len());
        }
    );
}

/// OPEN and CLOSE frames count against the read buffer's frame count, like DATA chunks (as in
/// the reference): a peer repeating them for a stream whose task is not reading fills the
/// buffer and no more, then the connection stops reading.
///
/// Regression (found while writing `reader_of_arbitrary_frames`): control frames were queued
/// without a permit, so a peer could make us queue a few dozen bytes per 2-byte frame without
/// limit; here the reader went on through 1000 OPEN frames to the invalid frame after them.
#[test]
fn control_frames_count_against_the_read_buffer() {
    testonly::run_test(|ctx, _| async move {
        let ctx = &ctx;
        let (a, b) = noise_pair(ctx).await?;
        let noise::Stream {
            read: mut b_read,
            write: mut b_write,
            ..
        } = b;
        const FRAMES: u64 = 4;
        let mux = Mux {
            cfg: Config {
                read_frame_count: FRAMES,
                ..Config::default()
            },
            // Nobody serves CAP: its stream waits for a server and reads nothing.
            connect: BTreeMap::from([(CAP, StreamQueue::new(1, unlimited()))]),
            ..Default::default()
        };
        let stats = mux.stats.clone();
        scope::run!(ctx, |ctx, s| async {
            s.spawn_bg(async {
                let res = mux.run(ctx, a).await;
                assert!(!matches!(res, Err(MuxError::Protocol(_))), "{res:?}");
                Ok(())
            });
            let peer = Handshake {
                accept: BTreeMap::from([(CAP, 1)]),
                ..Default::default()
            };
            frame::write(ctx, &mut b_write, &peer).await?;
            let _: Handshake = frame::read(ctx, &mut b_read, 10_000).await?;
            s.spawn_bg(async move {
                // 1000 OPEN frames for stream 0, then a frame of kind 11.
                b_write.write_all(ctx, &[0x00, 0x00].repeat(1000)).await?;
                b_write.write_all(ctx, &[0x00, 0xC0]).await?;
                b_write.flush(ctx).await?;
                ctx.canceled().await;
                Ok(())
            });
            // The reader takes FRAMES frames and the header of one more, then waits.
            let limit = 2 * (FRAMES + 1);
            while stats.received_bytes() < limit {
                ctx.yield_now().await?;
            }
            for _ in 0..100 {
                assert_eq!(stats.received_bytes(), limit);
                ctx.yield_now().await?;
            }
            Ok(())
        })
        .await
    });
}
