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

mod coalesce;
mod props;

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
