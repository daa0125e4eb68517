//! How frames are grouped into writes: a small request or response goes out in one transport
//! message with the control frames around it, in the order of the reusable-stream protocol
//! (a server's response with the OPEN that makes the stream ready for the next call).

use super::*;

const CLIENT_CLOSE: [u8; 2] = [0x00, 0x80];
const CLIENT_OPEN: [u8; 2] = [0x00, 0x00];
const SERVER_CLOSE: [u8; 2] = [0x00, 0xA0];
const SERVER_OPEN: [u8; 2] = [0x00, 0x20];

/// A DATA frame of stream 0 of `kind`.
fn data(kind: StreamKind, body: &[u8]) -> Vec<u8> {
    let h = Header {
        frame: FrameKind::Data,
        stream: kind,
        id: 0,
    };
    [&h.encode()[..], &(body.len() as u16).to_le_bytes(), body].concat()
}

/// Reads the 5-byte request of the tests.
async fn read_request(ctx: &ctx::Ctx, read: &mut ReadHalf) -> ctx::Result<[u8; 5]> {
    let mut req = [0u8; 5];
    read.read_exact(ctx, &mut req)
        .await
        .map_err(|e| ctx::Error::Internal(e.into()))?;
    Ok(req)
}

/// Runs `mux` on the acceptor end of a connection whose dialer the test drives by hand, after
/// exchanging mux handshakes (`peer` is the dialer's).
async fn with_raw_peer<F, Fut>(ctx: &ctx::Ctx, mux: Mux, peer: Handshake, f: F) -> ctx::Result<()>
where
    F: FnOnce(crate::testonly::RawNoise) -> Fut + Send,
    Fut: Future<Output = ctx::Result<()>> + Send,
{
    let (mut raw, acc) = raw_noise_pair(ctx).await?;
    scope::run!(ctx, |ctx, s| async {
        s.spawn_bg(async {
            // The mux ends with a connection error when the test's end hangs up.
            let _ = mux.run(ctx, acc).await;
            Ok(())
        });
        raw.send(ctx, &frame::encode(&peer)).await?;
        let got = raw.recv(ctx).await?;
        assert_eq!(got, frame::encode(&mux_handshake_of(&peer)));
        f(raw).await
    })
    .await
}

/// The handshake a mux answers `peer` with, in these tests: the mirror image of the peer's.
fn mux_handshake_of(peer: &Handshake) -> Handshake {
    Handshake {
        accept: peer.connect.clone(),
        connect: peer.accept.clone(),
    }
}

#[test]
fn a_small_call_goes_out_in_one_message() {
    testonly::run_test(|ctx, _| async move {
        let ctx = &ctx;
        let (client, mux, peer) = one_stream(StreamKind::Accept);
        with_raw_peer(ctx, mux, peer, |mut raw| async move {
            raw.send(ctx, &[SERVER_CLOSE, SERVER_OPEN].concat()).await?;
            let st = client.open(ctx).await?;
            st.write
                .write_all_and_close(ctx, b"hello")
                .await
                .map_err(|e| ctx::Error::Internal(e.into()))?;
            // Step 1's CLOSE, OPEN, the data and the end of the request: one message.
            let want = [
                &CLIENT_CLOSE[..],
                &CLIENT_OPEN,
                &data(StreamKind::Accept, b"hello"),
                &CLIENT_CLOSE,
            ]
            .concat();
            assert_eq!(raw.recv(ctx).await?, want);
            // The response reaches the caller.
            let mut resp = data(StreamKind::Connect, b"hi");
            resp.extend_from_slice(&SERVER_CLOSE);
            raw.send(ctx, &resp).await?;
            let mut read = st.read;
            let mut got = [0u8; 2];
            read.read_exact(ctx, &mut got)
                .await
                .map_err(|e| ctx::Error::Internal(e.into()))?;
            assert_eq!(&got, b"hi");
            Ok(())
        })
        .await
    });
}

/// A mux with one stream of CAP of `kind` (Accept: it calls; Connect: it serves), and the
/// handshake of a peer with the matching stream.
fn one_stream(kind: StreamKind) -> (Arc<StreamQueue>, Mux, Handshake) {
    let queue = StreamQueue::new(1, unlimited());
    let mine = BTreeMap::from([(CAP, queue.clone())]);
    let theirs = BTreeMap::from([(CAP, 1)]);
    let (mux, peer) = match kind {
        StreamKind::Accept => (
            Mux {
                accept: mine,
                ..Default::default()
            },
            Handshake {
                connect: theirs,
                ..Default::default()
            },
        ),
        StreamKind::Connect => (
            Mux {
                connect: mine,
                ..Default::default()
            },
            Handshake {
                accept: theirs,
                ..Default::default()
            },
        ),
    };
    (queue, mux, peer)
}

#[test]
fn a_small_response_goes_out_with_the_next_open() {
    testonly::run_test(|ctx, _| async move {
        let ctx = &ctx;
        let (server, mux, peer) = one_stream(StreamKind::Connect);
        with_raw_peer(ctx, mux, peer, |mut raw| async move {
            scope::run!(ctx, |ctx, s| async {
                let served = s.spawn(async {
                    let st = server.open(ctx).await?;
                    let mut read = st.read;
                    assert_eq!(&read_request(ctx, &mut read).await?, b"hello");
                    drop(read);
                    // Ready for the next call before the response is written, like the RPC
                    // server.
                    let next = server.reserve();
                    st.write
                        .write_all_and_close(ctx, b"hi")
                        .await
                        .map_err(|e| ctx::Error::Internal(e.into()))?;
                    Ok(next)
                });
                // The server is ready: its CLOSE and OPEN in one message.
                assert_eq!(raw.recv(ctx).await?, [SERVER_CLOSE, SERVER_OPEN].concat());
                let mut req = [&CLIENT_OPEN[..], &data(StreamKind::Accept, b"hello")].concat();
                req.extend_from_slice(&CLIENT_CLOSE);
                raw.send(ctx, &req).await?;
                let _next = served.join(ctx).await?;
                // The response, its CLOSE, and the stream's CLOSE and OPEN for the next call:
                // one message.
                let want = [
                    &data(StreamKind::Connect, b"hi")[..],
                    &SERVER_CLOSE,
                    &SERVER_CLOSE,
                    &SERVER_OPEN,
                ]
                .concat();
                assert_eq!(raw.recv(ctx).await?, want);
                Ok(())
            })
            .await
        })
        .await
    });
}

/// A server that answers before it has read the whole request (it still holds its read half)
/// gets its response out at once: the end frames wait for nothing.
#[test]
fn a_response_is_not_held_back_by_a_read_half_in_use() {
    testonly::run_test(|ctx, _| async move {
        let ctx = &ctx;
        let (server, mux, peer) = one_stream(StreamKind::Connect);
        with_raw_peer(ctx, mux, peer, |mut raw| async move {
            scope::run!(ctx, |ctx, s| async {
                let served = s.spawn(async {
                    let Stream { mut read, write } = server.open(ctx).await?;
                    write
                        .write_all_and_close(ctx, b"early")
                        .await
                        .map_err(|e| ctx::Error::Internal(e.into()))?;
                    // Only now the request, which the peer sends after the response.
                    read_request(ctx, &mut read).await
                });
                assert_eq!(raw.recv(ctx).await?, [SERVER_CLOSE, SERVER_OPEN].concat());
                raw.send(ctx, &CLIENT_OPEN).await?;
                let want = [&data(StreamKind::Connect, b"early")[..], &SERVER_CLOSE].concat();
                assert_eq!(raw.recv(ctx).await?, want);
                let mut req = data(StreamKind::Accept, b"hello");
                req.extend_from_slice(&CLIENT_CLOSE);
                raw.send(ctx, &req).await?;
                assert_eq!(&served.join(ctx).await?, b"hello");
                Ok(())
            })
            .await
        })
        .await
    });
}
