use proptest::prelude::*;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use zksync_concurrency::{ctx, net::tcp, scope, testonly};

use super::*;
use crate::testonly::{
    bytes, case_runtime, noise_pair as pair, raw_noise_pair, run_case, tcp_pair,
};

/// A handshake state of an initiator driven by hand.
fn raw_initiator() -> snow::HandshakeState {
    let rng = StdRng::seed_from_u64(1);
    snow::Builder::with_resolver(params(), Box::new(Resolver(Mutex::new(Some(rng)))))
        .build_initiator()
        .unwrap()
}

/// The dialer's side of the handshake, by hand on a raw socket.
async fn dial_by_hand(raw: &mut tcp::Stream, hs: &mut snow::HandshakeState) {
    let mut buf = [0u8; 64];
    let n = hs.write_message(&[], &mut buf).unwrap();
    raw.write_all(&[n as u8, 0]).await.unwrap();
    raw.write_all(&buf[..n]).await.unwrap();
    let mut m2 = [0u8; 50];
    raw.read_exact(&mut m2).await.unwrap();
    hs.read_message(&m2[2..], &mut []).unwrap();
}

#[test]
fn handshake_agrees_on_the_session_and_carries_bytes() {
    testonly::run_test(|ctx, _| async move {
        let ctx = &ctx;
        let (mut a, mut b) = pair(ctx).await?;
        assert_eq!(a.session_id, b.session_id);
        // Larger than one transport message, and a small one after it.
        let big: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        a.write.write_all(ctx, &big).await?;
        a.write.write_all(ctx, b"tail").await?;
        a.write.flush(ctx).await?;
        let mut got = vec![0; big.len() + 4];
        b.read.read_exact(ctx, &mut got).await?;
        assert_eq!(&got[..big.len()], &big[..]);
        assert_eq!(&got[big.len()..], b"tail");
        // An empty flush sends nothing (the reference would read it as end of stream).
        b.write.flush(ctx).await?;
        b.write.write_all(ctx, b"x").await?;
        b.write.flush(ctx).await?;
        let mut one = [0u8; 1];
        a.read.read_exact(ctx, &mut one).await?;
        assert_eq!(&one, b"x");
        Ok(())
    });
}

#[test]
fn sessions_differ_per_connection() {
    testonly::run_test(|ctx, _| async move {
        let (a, _) = pair(&ctx).await?;
        let (c, _) = pair(&ctx).await?;
        assert_ne!(a.session_id, c.session_id);
        Ok(())
    });
}

/// Byte-level: the dialer's first message is `20 00 ‖ 32 bytes`, the acceptor's answer
/// `30 00 ‖ 48 bytes`.
#[test]
fn handshake_message_sizes() {
    testonly::run_test(|ctx, _| async move {
        let ctx = &ctx;
        let (dial, mut raw) = tcp_pair(ctx).await?;
        scope::run!(ctx, |ctx, s| async {
            s.spawn_bg(async {
                let _ = handshake(ctx, dial, true).await;
                Ok(())
            });
            let mut m1 = [0u8; 34];
            raw.read_exact(&mut m1).await.unwrap();
            assert_eq!(&m1[..2], &[0x20, 0x00]);
            Ok::<(), ctx::Error>(())
        })
        .await?;
        let (mut raw, acc) = tcp_pair(ctx).await?;
        scope::run!(ctx, |ctx, s| async {
            s.spawn_bg(async {
                let _ = handshake(ctx, acc, false).await;
                Ok(())
            });
            // A valid message 1 from a real initiator state.
            let mut hs = raw_initiator();
            let mut buf = [0u8; 64];
            let n = hs.write_message(&[], &mut buf).unwrap();
            raw.write_all(&[n as u8, 0]).await.unwrap();
            raw.write_all(&buf[..n]).await.unwrap();
            let mut m2 = [0u8; 50];
            raw.read_exact(&mut m2).await.unwrap();
            assert_eq!(&m2[..2], &[0x30, 0x00]);
            let mut payload = [0u8; 0];
            hs.read_message(&m2[2..], &mut payload).unwrap();
            Ok(())
        })
        .await
    });
}

#[test]
fn malformed_handshakes_fail() {
    testonly::run_test(|ctx, _| async move {
        let ctx = &ctx;
        // Wrong length, extra payload bytes, garbage, and a peer that hangs up.
        for (len, body) in [(33u16, vec![7u8; 33]), (31, vec![7; 31]), (0, vec![])] {
            let (mut raw, acc) = tcp_pair(ctx).await?;
            raw.write_all(&len.to_le_bytes()).await.unwrap();
            raw.write_all(&body).await.unwrap();
            assert!(handshake(ctx, acc, false).await.is_err(), "len {len}");
        }
        let (raw, acc) = tcp_pair(ctx).await?;
        drop(raw);
        assert!(handshake(ctx, acc, false).await.is_err());
        Ok(())
    });
}

#[test]
fn tampered_transport_messages_fail() {
    testonly::run_test(|ctx, _| async move {
        let ctx = &ctx;
        let (dial, acc) = tcp_pair(ctx).await?;
        // Handshake by hand on the dialer side so we keep the raw socket.
        let mut raw = dial;
        let mut hs = raw_initiator();
        let res = scope::run!(ctx, |ctx, s| async {
            let b = s.spawn(handshake(ctx, acc, false));
            dial_by_hand(&mut raw, &mut hs).await;
            let mut b = b.join(ctx).await?;
            // Garbage instead of a valid transport message.
            raw.write_all(&[20, 0]).await.unwrap();
            raw.write_all(&[0xAA; 20]).await.unwrap();
            let mut out = [0u8; 1];
            Ok(b.read.read_exact(ctx, &mut out).await)
        })
        .await?;
        let err = res.unwrap_err();
        assert!(format!("{err:#}").contains("decryption"), "{err:#}");
        Ok(())
    });
}

#[test]
fn empty_message_is_end_of_stream() {
    testonly::run_test(|ctx, _| async move {
        let ctx = &ctx;
        let (dial, acc) = tcp_pair(ctx).await?;
        let mut raw = dial;
        let mut hs = raw_initiator();
        scope::run!(ctx, |ctx, s| async {
            let b = s.spawn(handshake(ctx, acc, false));
            dial_by_hand(&mut raw, &mut hs).await;
            let mut b = b.join(ctx).await?;
            let mut t = hs.into_transport_mode().unwrap();
            let mut ct = [0u8; 16];
            let n = t.write_message(&[], &mut ct).unwrap();
            assert_eq!(n, 16);
            raw.write_all(&[16, 0]).await.unwrap();
            raw.write_all(&ct).await.unwrap();
            let mut out = [0u8; 1];
            let err = b.read.read_exact(ctx, &mut out).await.unwrap_err();
            assert!(format!("{err:#}").contains("end of stream"), "{err:#}");
            Ok(())
        })
        .await
    });
}

/// What a dialer may send as its first handshake message: garbage, or the right length prefix
/// followed by too few, enough or more bytes.
fn first_message() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        bytes(80),
        bytes(70).prop_map(|b| [&[0x20, 0x00][..], &b].concat()),
        (any::<u16>(), bytes(40)).prop_map(|(len, b)| [&len.to_le_bytes()[..], &b].concat()),
    ]
}

/// The acceptor's handshake, fed arbitrary bytes by a dialer that then stops sending, never
/// panics, and completes exactly when they start with the 32-byte length prefix and 32 bytes
/// (any 32 bytes are an X25519 key).
#[test]
fn acceptor_handshake_of_arbitrary_bytes() {
    let rt = case_runtime();
    proptest!(ProptestConfig::with_cases(256), |(msg in first_message())| {
        let sent = msg.clone();
        let res = run_case(&rt, |ctx| async move {
            let ctx = &ctx;
            let (mut raw, acc) = tcp_pair(ctx).await?;
            ctx.wait(raw.write_all(&sent)).await?.context("write")?;
            ctx.wait(raw.shutdown()).await?.context("shutdown")?;
            Ok(handshake(ctx, acc, false).await.map(|_| ()))
        });
        prop_assert_eq!(res.is_ok(), msg.len() >= 34 && msg[..2] == [0x20, 0x00], "{:?}", res);
    });
}

/// The dialer's handshake, answered with arbitrary bytes (the right length prefix or not),
/// never panics and fails.
#[test]
fn dialer_handshake_of_arbitrary_answers() {
    let rt = case_runtime();
    let answers = prop_oneof![
        bytes(80),
        bytes(60).prop_map(|b| [&[0x30, 0x00][..], &b].concat()),
    ];
    proptest!(ProptestConfig::with_cases(128), |(answer in answers)| {
        let res = run_case(&rt, |ctx| async move {
            let ctx = &ctx;
            let (dial, mut raw) = tcp_pair(ctx).await?;
            scope::run!(ctx, |ctx, s| async {
                let dial = s.spawn(async { Ok(handshake(ctx, dial, true).await.map(|_| ())) });
                let mut m1 = [0u8; 34];
                ctx.wait(raw.read_exact(&mut m1)).await?.context("read")?;
                ctx.wait(raw.write_all(&answer)).await?.context("write")?;
                ctx.wait(raw.shutdown()).await?.context("shutdown")?;
                Ok::<_, ctx::Error>(dial.join(ctx).await?)
            })
            .await
        });
        prop_assert!(res.is_err());
    });
}

/// A piece of what a peer past the handshake sends.
#[derive(Clone, Debug)]
enum Segment {
    /// A valid transport message of this plaintext (empty: end of stream).
    Msg(Vec<u8>),
    /// Raw bytes.
    Garbage(Vec<u8>),
}

/// The transport reader, fed valid messages and garbage, never panics: it yields exactly the
/// plaintext of the valid messages before the first garbage or empty message, then fails.
#[test]
fn transport_reader_of_arbitrary_segments() {
    let rt = case_runtime();
    let segment = prop_oneof![
        4 => bytes(300).prop_map(Segment::Msg),
        1 => proptest::collection::vec(any::<u8>(), 1..40).prop_map(Segment::Garbage),
    ];
    let segments = proptest::collection::vec(segment, 0..8);
    proptest!(ProptestConfig::with_cases(128), |(segments in segments)| {
        let sent = segments.clone();
        let (got, err) = run_case(&rt, |ctx| async move {
            let ctx = &ctx;
            let (mut raw, mut acc) = raw_noise_pair(ctx).await?;
            for s in &sent {
                match s {
                    Segment::Msg(pt) => raw.send(ctx, pt).await?,
                    Segment::Garbage(b) => raw.send_raw(ctx, b).await?,
                }
            }
            raw.shutdown(ctx).await?;
            let mut got = vec![];
            let mut byte = [0u8];
            loop {
                match acc.read.read_exact(ctx, &mut byte).await {
                    Ok(()) => got.push(byte[0]),
                    Err(ctx::Error::Internal(err)) => return Ok((got, err)),
                    Err(err) => return Err(err),
                }
            }
        });
        let mut want = vec![];
        for s in &segments {
            match s {
                Segment::Msg(pt) if !pt.is_empty() => want.extend_from_slice(pt),
                _ => break,
            }
        }
        prop_assert_eq!(got, want, "{:#}", err);
    });
}
