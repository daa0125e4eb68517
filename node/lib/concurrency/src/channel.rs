//! Multi-producer single-consumer channels with ctx-aware send and receive.
//!
//! A closed channel never produces an error: sending to a dropped receiver discards the value,
//! and receiving from a channel whose senders are all gone waits until the ctx is cancelled.
//! Components end by cancellation, not by channel closure.

use tokio::sync::mpsc;

use crate::ctx;

/// A bounded channel holding at most `capacity` (> 0) values.
pub fn bounded<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let (send, recv) = mpsc::channel(capacity.max(1));
    (Sender(send), Receiver(Inner::Bounded(recv)))
}

/// An unbounded channel. Use only where the producer is bounded by other means.
pub fn unbounded<T>() -> (UnboundedSender<T>, Receiver<T>) {
    let (send, recv) = mpsc::unbounded_channel();
    (UnboundedSender(send), Receiver(Inner::Unbounded(recv)))
}

/// Sending half of a bounded channel.
#[derive(Debug)]
pub struct Sender<T>(mpsc::Sender<T>);

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T> Sender<T> {
    /// Sends `v`, waiting for capacity. A dropped receiver discards it.
    pub async fn send(&self, ctx: &ctx::Ctx, v: T) -> ctx::OrCanceled<()> {
        let permit = ctx.wait(self.0.reserve()).await?;
        if let Ok(permit) = permit {
            permit.send(v);
        }
        Ok(())
    }

    /// Sends `v` if there is capacity; returns it otherwise. A dropped receiver discards it.
    pub fn try_send(&self, v: T) -> Result<(), T> {
        match self.0.try_send(v) {
            Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => Ok(()),
            Err(mpsc::error::TrySendError::Full(v)) => Err(v),
        }
    }
}

/// Sending half of an unbounded channel.
#[derive(Debug)]
pub struct UnboundedSender<T>(mpsc::UnboundedSender<T>);

impl<T> Clone for UnboundedSender<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T> UnboundedSender<T> {
    /// Sends `v` without waiting. A dropped receiver discards it.
    pub fn send(&self, v: T) {
        let _ = self.0.send(v);
    }
}

#[derive(Debug)]
enum Inner<T> {
    Bounded(mpsc::Receiver<T>),
    Unbounded(mpsc::UnboundedReceiver<T>),
}

/// Receiving half of a channel.
#[derive(Debug)]
pub struct Receiver<T>(Inner<T>);

impl<T> Receiver<T> {
    /// Waits for the next value. If all senders are gone and the channel is empty, waits until
    /// the ctx is cancelled.
    pub async fn recv(&mut self, ctx: &ctx::Ctx) -> ctx::OrCanceled<T> {
        let v = match &mut self.0 {
            Inner::Bounded(r) => ctx.wait(r.recv()).await?,
            Inner::Unbounded(r) => ctx.wait(r.recv()).await?,
        };
        match v {
            Some(v) => Ok(v),
            None => {
                ctx.canceled().await;
                Err(ctx::Canceled)
            }
        }
    }

    /// The next value if one is queued.
    pub fn try_recv(&mut self) -> Option<T> {
        match &mut self.0 {
            Inner::Bounded(r) => r.try_recv().ok(),
            Inner::Unbounded(r) => r.try_recv().ok(),
        }
    }

    /// Number of queued values.
    pub fn len(&self) -> usize {
        match &self.0 {
            Inner::Bounded(r) => r.len(),
            Inner::Unbounded(r) => r.len(),
        }
    }

    /// Whether no value is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
