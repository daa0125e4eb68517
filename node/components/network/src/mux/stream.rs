//! A transient stream: one RPC call's pair of byte streams over a reusable mux stream.
//!
//! - The write half sends DATA frames of at most the configured size; closing or dropping it
//!   sends CLOSE (end of this side's data). Control frames the reusable stream still owes the
//!   peer (a client's CLOSE and OPEN) go out with the first data, and a message written with
//!   [`WriteHalf::write_all_and_close`] goes out with its CLOSE: one system call for a small
//!   request instead of one per frame. A server's half hands its last frames (the end of the
//!   response and its CLOSE) to the reusable stream when dropped, which sends them together
//!   with its next CLOSE and OPEN if the server is ready for another call right away.
//! - The read half yields the peer's DATA until its CLOSE, then end of stream. It stops at the
//!   CLOSE, so frames after it (the peer's next OPEN) stay for the reusable stream's next round;
//!   an OPEN before the CLOSE cannot belong to a later round and is ignored.
//! - Dropping both halves hands the reusable stream back for the next call.

use std::collections::VecDeque;

use tokio::sync::OwnedSemaphorePermit;
use zksync_concurrency::{channel, ctx, oneshot};

use super::header::{FrameKind, Header, StreamKind};

/// A frame for a stream, as the reader task delivers it. Each holds read-buffer permits until
/// consumed: a frame-count permit, and for DATA the bytes too.
#[derive(Debug)]
pub(super) enum InFrame {
    Open(#[allow(dead_code)] OwnedSemaphorePermit),
    /// A chunk of DATA with its (bytes, frame count) permits.
    Data(
        Vec<u8>,
        #[allow(dead_code)] Option<(OwnedSemaphorePermit, OwnedSemaphorePermit)>,
    ),
    Close(#[allow(dead_code)] OwnedSemaphorePermit),
}

/// Encoded frames for the writer task, written back to back.
#[derive(Debug)]
pub(super) struct OutFrame {
    pub bytes: Vec<u8>,
    /// Write-buffer permit, released once written.
    #[allow(dead_code)]
    pub permit: Option<OwnedSemaphorePermit>,
}

/// Appends a header-only frame (OPEN or CLOSE).
pub(super) fn push_control(out: &mut Vec<u8>, frame: FrameKind, stream: StreamKind, id: u16) {
    out.extend_from_slice(&Header { frame, stream, id }.encode());
}

/// Appends a DATA frame (`data` at most `u16::MAX` bytes).
fn push_data(out: &mut Vec<u8>, stream: StreamKind, id: u16, data: &[u8]) {
    let header = Header {
        frame: FrameKind::Data,
        stream,
        id,
    };
    out.extend_from_slice(&header.encode());
    out.extend_from_slice(&(data.len() as u16).to_le_bytes());
    out.extend_from_slice(data);
}

/// Inbound frames of one reusable stream, passed between the stream task and the read half.
pub(super) type Inbound = channel::Receiver<InFrame>;

/// A transient stream failed.
#[derive(thiserror::Error, Debug)]
pub enum StreamError {
    /// The peer closed its half before sending everything asked for.
    #[error("end of stream")]
    Eof,
    /// The connection ended.
    #[error("connection closed")]
    Closed,
    /// Canceled.
    #[error("canceled")]
    Canceled,
}

impl From<ctx::Canceled> for StreamError {
    fn from(_: ctx::Canceled) -> Self {
        Self::Canceled
    }
}

/// Reading half of a transient stream.
#[derive(Debug)]
pub struct ReadHalf {
    pub(super) inbound: Option<Inbound>,
    pub(super) buf: VecDeque<u8>,
    pub(super) eof: bool,
    /// Returns `inbound` to the stream task on drop.
    pub(super) give_back: Option<oneshot::Sender<Inbound>>,
}

impl ReadHalf {
    /// Reads exactly `out.len()` bytes.
    pub async fn read_exact(&mut self, ctx: &ctx::Ctx, out: &mut [u8]) -> Result<(), StreamError> {
        let mut done = 0;
        while done < out.len() {
            if self.buf.is_empty() {
                self.fill(ctx).await?;
            }
            let n = self.buf.len().min(out.len() - done);
            for (o, b) in out[done..done + n].iter_mut().zip(self.buf.drain(..n)) {
                *o = b;
            }
            done += n;
        }
        Ok(())
    }

    /// Waits for the peer's CLOSE, discarding any further data; `Ok` at end of stream.
    pub async fn wait_close(&mut self, ctx: &ctx::Ctx) -> Result<(), StreamError> {
        loop {
            self.buf.clear();
            match self.fill(ctx).await {
                Ok(()) => {}
                Err(StreamError::Eof) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }

    async fn fill(&mut self, ctx: &ctx::Ctx) -> Result<(), StreamError> {
        if self.eof {
            return Err(StreamError::Eof);
        }
        let inbound = self.inbound.as_mut().ok_or(StreamError::Closed)?;
        loop {
            match inbound.recv(ctx).await? {
                InFrame::Open(_) => continue,
                InFrame::Data(data, _permits) => {
                    self.buf.extend(data);
                    if !self.buf.is_empty() {
                        return Ok(());
                    }
                }
                InFrame::Close(_) => {
                    self.eof = true;
                    return Err(StreamError::Eof);
                }
            }
        }
    }
}

impl Drop for ReadHalf {
    fn drop(&mut self) {
        if let (Some(inbound), Some(tx)) = (self.inbound.take(), self.give_back.take()) {
            tx.send(inbound);
        }
    }
}

/// Writing half of a transient stream.
#[derive(Debug)]
pub struct WriteHalf {
    pub(super) kind: StreamKind,
    pub(super) id: u16,
    pub(super) out: channel::UnboundedSender<OutFrame>,
    pub(super) write_buffer: std::sync::Arc<tokio::sync::Semaphore>,
    pub(super) frame_size: usize,
    /// Encoded control frames owed to the peer, sent before anything else of this half.
    pub(super) prefix: Vec<u8>,
    /// The frames ending this half, when deferred: a server's (`StreamKind::Connect`) are
    /// handed to the stream task (`done`), which may send the next OPEN with them.
    pub(super) end: Option<OutFrame>,
    pub(super) closed: bool,
    /// Fired when the half is dropped, with the deferred end frames if any.
    pub(super) done: Option<oneshot::Sender<Option<OutFrame>>>,
}

impl WriteHalf {
    /// Queues `data` as DATA frames (waiting while the connection's write buffer is full).
    pub async fn write_all(&mut self, ctx: &ctx::Ctx, data: &[u8]) -> Result<(), StreamError> {
        self.write(ctx, data, false).await
    }

    /// Queues `data` as DATA frames followed by CLOSE, as one write when `data` fits in one
    /// frame.
    pub async fn write_all_and_close(
        mut self,
        ctx: &ctx::Ctx,
        data: &[u8],
    ) -> Result<(), StreamError> {
        self.write(ctx, data, true).await
    }

    async fn write(&mut self, ctx: &ctx::Ctx, data: &[u8], close: bool) -> Result<(), StreamError> {
        if self.closed {
            return Err(StreamError::Closed);
        }
        let chunks = data.len().div_ceil(self.frame_size);
        for (n, chunk) in data.chunks(self.frame_size).enumerate() {
            let permit = ctx
                .wait(
                    self.write_buffer
                        .clone()
                        .acquire_many_owned(chunk.len() as u32),
                )
                .await?
                .map_err(|_| StreamError::Closed)?;
            let mut bytes = std::mem::take(&mut self.prefix);
            push_data(&mut bytes, self.kind, self.id, chunk);
            let frame = OutFrame {
                bytes,
                permit: Some(permit),
            };
            if close && n + 1 == chunks {
                self.end_with(frame);
            } else {
                self.out.send(frame);
            }
        }
        if close {
            self.send_close();
        }
        Ok(())
    }

    /// Ends this side of the stream (sends CLOSE).
    pub fn close(mut self) {
        self.send_close();
    }

    fn send_close(&mut self) {
        if !self.closed {
            let bytes = std::mem::take(&mut self.prefix);
            self.end_with(OutFrame {
                bytes,
                permit: None,
            });
        }
    }

    /// Appends CLOSE to `frame`, the last of this half, and sends it or keeps it for the
    /// stream task.
    fn end_with(&mut self, mut frame: OutFrame) {
        self.closed = true;
        push_control(&mut frame.bytes, FrameKind::Close, self.kind, self.id);
        if self.kind == StreamKind::Connect {
            self.end = Some(frame);
        } else {
            self.out.send(frame);
        }
    }
}

impl Drop for WriteHalf {
    fn drop(&mut self) {
        self.send_close();
        if let Some(done) = self.done.take() {
            done.send(self.end.take());
        }
    }
}

/// A transient stream.
#[derive(Debug)]
pub struct Stream {
    /// Reading half.
    pub read: ReadHalf,
    /// Writing half.
    pub write: WriteHalf,
}
