//! A one-value channel with a ctx-aware receiver.

use tokio::sync::oneshot;

use crate::ctx;

/// The sender was dropped without sending.
#[derive(thiserror::Error, Debug, Clone, Copy, PartialEq, Eq)]
#[error("oneshot sender dropped without sending")]
pub struct Disconnected;

/// A new oneshot channel.
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let (send, recv) = oneshot::channel();
    (Sender(send), Receiver(recv))
}

/// Sending half.
#[derive(Debug)]
pub struct Sender<T>(oneshot::Sender<T>);

impl<T> Sender<T> {
    /// Sends `v`. A dropped receiver discards it.
    pub fn send(self, v: T) {
        let _ = self.0.send(v);
    }

    /// Whether the receiver was dropped.
    pub fn is_closed(&self) -> bool {
        self.0.is_closed()
    }
}

/// Receiving half.
#[derive(Debug)]
pub struct Receiver<T>(oneshot::Receiver<T>);

impl<T> Receiver<T> {
    /// Waits for the value, or for the sender to be dropped.
    pub async fn recv_or_disconnected(
        self,
        ctx: &ctx::Ctx,
    ) -> ctx::OrCanceled<Result<T, Disconnected>> {
        Ok(ctx.wait(self.0).await?.map_err(|_| Disconnected))
    }

    /// Waits for the value; if the sender is dropped without sending, waits for cancellation.
    pub async fn recv(self, ctx: &ctx::Ctx) -> ctx::OrCanceled<T> {
        match self.recv_or_disconnected(ctx).await? {
            Ok(v) => Ok(v),
            Err(Disconnected) => {
                ctx.canceled().await;
                Err(ctx::Canceled)
            }
        }
    }

    /// The value if it was already sent.
    pub fn try_recv(&mut self) -> Option<T> {
        self.0.try_recv().ok()
    }
}
