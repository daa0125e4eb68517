//! A multi-producer single-consumer FIFO whose senders filter and prune queued messages.
//!
//! The consensus inbound queue (protocol.md 2.15) uses it so that a flood of messages from one
//! peer cannot grow memory: on each send the new message is first checked by a *filter*
//! (messages failing it are dropped), then compared with every queued message by a *pruning*
//! function that decides which of the two survives. A surviving new message goes to the back.
//!
//! Dropped messages are dropped immediately, so a oneshot acknowledgement inside them fires.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex, PoisonError},
};

use tokio::sync::Notify;

use crate::ctx;

/// What to keep when a new message meets a queued one. If any queued message says
/// [`Prune::DropNew`], the new message is dropped and the queue is left as it was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prune {
    /// Keep both.
    KeepBoth,
    /// Drop the queued message (the new one goes on being compared).
    DropOld,
    /// Drop the new message (nothing is queued).
    DropNew,
}

type Filter<T> = dyn Fn(&T) -> bool + Send + Sync;
type Pruner<T> = dyn Fn(&T, &T) -> Prune + Send + Sync;

struct Shared<T> {
    queue: Mutex<VecDeque<T>>,
    notify: Notify,
    filter: Box<Filter<T>>,
    prune: Box<Pruner<T>>,
}

/// A channel with the given filter (`true` = accept) and pruning function
/// (`prune(queued, new)`).
pub fn channel<T>(
    filter: impl Fn(&T) -> bool + Send + Sync + 'static,
    prune: impl Fn(&T, &T) -> Prune + Send + Sync + 'static,
) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        queue: Mutex::new(VecDeque::new()),
        notify: Notify::new(),
        filter: Box::new(filter),
        prune: Box::new(prune),
    });
    (Sender(shared.clone()), Receiver(shared))
}

/// Sending half; cheap to clone.
pub struct Sender<T>(Arc<Shared<T>>);

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T> std::fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("prunable_mpsc::Sender")
            .finish_non_exhaustive()
    }
}

impl<T> Sender<T> {
    /// Filters, prunes and enqueues `v`. Never waits. Returns whether `v` was queued.
    pub fn send(&self, v: T) -> bool {
        if !(self.0.filter)(&v) {
            return false;
        }
        let mut dropped = Vec::new();
        let queued = {
            let mut queue = self.0.queue.lock().unwrap_or_else(PoisonError::into_inner);
            // Decide first, act after: if any queued message wins, nothing queued is dropped.
            let decisions: Vec<Prune> = queue.iter().map(|old| (self.0.prune)(old, &v)).collect();
            let keep_new = !decisions.contains(&Prune::DropNew);
            if keep_new {
                let mut kept = VecDeque::with_capacity(queue.len() + 1);
                for (old, decision) in queue.drain(..).zip(decisions) {
                    match decision {
                        Prune::DropOld => dropped.push(old),
                        _ => kept.push_back(old),
                    }
                }
                *queue = kept;
                queue.push_back(v);
            } else {
                dropped.push(v);
            }
            keep_new
        };
        // Dropped outside the lock: their destructors may do arbitrary work.
        drop(dropped);
        if queued {
            self.0.notify.notify_one();
        }
        queued
    }
}

/// Receiving half.
pub struct Receiver<T>(Arc<Shared<T>>);

impl<T> std::fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("prunable_mpsc::Receiver")
            .finish_non_exhaustive()
    }
}

impl<T> Receiver<T> {
    /// The oldest queued message, if any.
    pub fn try_recv(&mut self) -> Option<T> {
        self.0
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front()
    }

    /// Waits for the oldest queued message.
    pub async fn recv(&mut self, ctx: &ctx::Ctx) -> ctx::OrCanceled<T> {
        loop {
            if let Some(v) = self.try_recv() {
                return Ok(v);
            }
            // `notify_one` stores a permit when nobody waits, so a send between the check
            // above and this wait is not missed.
            ctx.wait(self.0.notify.notified()).await?;
        }
    }

    /// Number of queued messages.
    pub fn len(&self) -> usize {
        self.0
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
