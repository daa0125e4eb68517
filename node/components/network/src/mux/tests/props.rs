//! Property tests: the mux handshake and reader fed arbitrary bytes from a peer.

use super::*;

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
