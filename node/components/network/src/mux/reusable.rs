//! The loop of one reusable stream (protocol.md 5.6, "Reusable-stream protocol"): CLOSE, a
//! rate-limiter permit, OPEN on both sides, one transient stream handed to the user, again.

use std::sync::Arc;

use tokio::sync::Semaphore;
use zksync_concurrency::{channel, ctx, limiter, oneshot};

use super::{
    StreamQueue,
    header::{FrameKind, StreamKind},
    stream::{self, InFrame, Inbound, OutFrame, ReadHalf, Stream, WriteHalf},
};

/// One reusable stream, forever.
#[allow(clippy::too_many_arguments)]
pub(super) async fn run_stream(
    ctx: &ctx::Ctx,
    kind: StreamKind,
    id: u16,
    queue: &StreamQueue,
    limiter: &limiter::Limiter,
    out: channel::UnboundedSender<OutFrame>,
    write_buffer: Arc<Semaphore>,
    frame_size: usize,
    mut inbound: Inbound,
) -> ctx::OrCanceled<()> {
    let control = |frames: &[FrameKind]| {
        let mut bytes = vec![];
        for f in frames {
            stream::push_control(&mut bytes, *f, kind, id);
        }
        bytes
    };
    // Waits for the peer's OPEN, dropping stale frames.
    async fn wait_open(ctx: &ctx::Ctx, inbound: &mut Inbound) -> ctx::OrCanceled<()> {
        loop {
            if let InFrame::Open(_) = inbound.recv(ctx).await? {
                return Ok(());
            }
        }
    }
    // Step 1's CLOSE is sent together with this side's next OPEN (the same frames in the same
    // order, in one write): a server's when it is ready, a client's with its request. A
    // server's last transient stream may have left its end frames (`end`): when the next call
    // can be served at once, they go out in that same write too.
    let mut end: Option<OutFrame> = None;
    loop {
        let mut token = false;
        let ready_now = match end.take() {
            Some(mut frames) => {
                token = limiter.try_acquire(ctx, 1);
                let r = token.then(|| queue.try_reservation()).flatten();
                if r.is_some() {
                    frames
                        .bytes
                        .extend(control(&[FrameKind::Close, FrameKind::Open]));
                }
                out.send(frames);
                r
            }
            None => None,
        };
        if !token {
            limiter.acquire(ctx, 1).await?;
        }
        let (reservation, prefix) = match kind {
            StreamKind::Connect => {
                let r = match ready_now {
                    Some(r) => r,
                    None => {
                        let r = queue.reservation(ctx).await?;
                        out.send(OutFrame {
                            bytes: control(&[FrameKind::Close, FrameKind::Open]),
                            permit: None,
                        });
                        r
                    }
                };
                wait_open(ctx, &mut inbound).await?;
                (r, vec![])
            }
            StreamKind::Accept => {
                wait_open(ctx, &mut inbound).await?;
                let r = queue.reservation(ctx).await?;
                (r, control(&[FrameKind::Close, FrameKind::Open]))
            }
        };
        let (give_back, given_back) = oneshot::channel();
        let (done, write_done) = oneshot::channel();
        reservation.send(Stream {
            read: ReadHalf {
                inbound: Some(inbound),
                buf: Default::default(),
                eof: false,
                give_back: Some(give_back),
            },
            write: WriteHalf {
                kind,
                id,
                out: out.clone(),
                write_buffer: write_buffer.clone(),
                frame_size,
                prefix,
                end: None,
                closed: false,
                done: Some(done),
            },
        });
        // The write half first: if the read half is still in use, its end frames go out now
        // rather than wait for it.
        let mut given_back = given_back;
        let end_frames = write_done.recv_or_disconnected(ctx).await?.ok().flatten();
        inbound = match given_back.try_recv() {
            Some(inbound) => {
                end = end_frames;
                inbound
            }
            None => {
                if let Some(frames) = end_frames {
                    out.send(frames);
                }
                given_back.recv(ctx).await?
            }
        };
    }
}
