//! Block sync (protocol.md 5.8 item 4, 5.11; better than the reference, 13.C A3 and 13.B I5).
//!
//! The fetcher wants the `window` blocks after the store's queued range. Every gossip
//! connection runs get_block calls (up to the RPC's in-flight limit at once), each taking the
//! **lowest** wanted number that its peer advertises (a peer that lacks the lowest block still
//! serves higher ones; the reference lets it idle). Fetched blocks wait, in a map bounded by the
//! window, until they extend the queued range; then a contiguous run of them is verified in one
//! batch (one random-linear-combination check of all their certificates) and queued in order.
//!
//! A block that fails verification disconnects the peer that served it, and its number is
//! wanted again (another peer will serve it). A block whose epoch is not known yet (a dynamic
//! schedule that the store learns only when earlier blocks are persisted) is not the peer's
//! fault: its number is wanted again once the store moves. Verification never runs under a
//! peer's call timeout, so a slow earlier block does not cost a correct peer its connection.
//!
//! Memory: at most `window` blocks are in flight or fetched, each at most `max_block_size`.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{
        Arc, OnceLock,
        atomic::{AtomicU64, Ordering},
    },
};

use tokio::sync::watch;
use zksync_concurrency::{ctx, time};
use zksync_consensus_roles::validator::{Block, BlockNumber};
use zksync_consensus_storage::{BlockError, BlockStore, BlockStoreState};

use super::Peer;
use crate::metrics::Metrics;

/// Largest number of blocks verified in one batch.
const MAX_BATCH: usize = 64;

#[derive(Debug, Default)]
struct Inner {
    /// Numbers to fetch, not taken by any connection.
    wanted: BTreeSet<BlockNumber>,
    /// Numbers a connection is fetching.
    in_flight: BTreeSet<BlockNumber>,
    /// Fetched, unverified blocks and who served them.
    fetched: BTreeMap<BlockNumber, (Block, Arc<Peer>)>,
}

impl Inner {
    fn contains(&self, n: BlockNumber) -> bool {
        self.wanted.contains(&n) || self.in_flight.contains(&n) || self.fetched.contains_key(&n)
    }

    /// Drops what is below `next` and wants the window `[next, next + window)`.
    fn refill(&mut self, next: BlockNumber, window: usize) -> bool {
        let mut changed = false;
        while self.wanted.first().is_some_and(|n| *n < next) {
            self.wanted.pop_first();
            changed = true;
        }
        while self
            .fetched
            .first_key_value()
            .is_some_and(|(n, _)| *n < next)
        {
            self.fetched.pop_first();
            changed = true;
        }
        for i in 0..window as u64 {
            let n = BlockNumber(next.0.saturating_add(i));
            if !self.contains(n) {
                self.wanted.insert(n);
                changed = true;
            }
        }
        changed
    }
}

/// Figures for the debug page and metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FetchStatus {
    /// Numbers wanted, not taken by a connection.
    pub wanted: Vec<BlockNumber>,
    /// Numbers being fetched.
    pub in_flight: Vec<BlockNumber>,
    /// Numbers fetched, waiting for verification.
    pub fetched: Vec<BlockNumber>,
    /// Invalid blocks received so far (each disconnected its peer).
    pub invalid_blocks: u64,
}

/// The node's block fetcher.
#[derive(Debug)]
pub struct Fetcher {
    store: Arc<BlockStore>,
    window: usize,
    inner: watch::Sender<Inner>,
    invalid_blocks: AtomicU64,
    pub(crate) metrics: OnceLock<Arc<Metrics>>,
}

/// Waits until `a` or `b` changes. A receiver whose sender is gone never wakes it.
async fn changed_any<A, B>(
    ctx: &ctx::Ctx,
    a: &mut watch::Receiver<A>,
    b: &mut watch::Receiver<B>,
) -> ctx::OrCanceled<()> {
    ctx.wait(async {
        tokio::select! {
            Ok(()) = a.changed() => {}
            Ok(()) = b.changed() => {}
            else => std::future::pending().await,
        }
    })
    .await
}

impl Fetcher {
    /// A fetcher keeping at most `window` blocks in flight or fetched.
    pub fn new(store: Arc<BlockStore>, window: usize) -> Self {
        Self {
            store,
            window: window.max(1),
            inner: watch::Sender::new(Inner::default()),
            invalid_blocks: AtomicU64::new(0),
            metrics: OnceLock::new(),
        }
    }

    /// Current figures.
    pub fn status(&self) -> FetchStatus {
        let i = self.inner.borrow();
        FetchStatus {
            wanted: i.wanted.iter().copied().collect(),
            in_flight: i.in_flight.iter().copied().collect(),
            fetched: i.fetched.keys().copied().collect(),
            invalid_blocks: self.invalid_blocks.load(Ordering::Relaxed),
        }
    }

    /// Connection side: waits for the lowest wanted number within the peer's advertised range
    /// and takes it. The caller must [`Fetcher::deliver`] or [`Fetcher::release`] it.
    pub async fn take(
        &self,
        ctx: &ctx::Ctx,
        peer: &mut watch::Receiver<BlockStoreState>,
    ) -> ctx::OrCanceled<BlockNumber> {
        let mut sub = self.inner.subscribe();
        loop {
            sub.borrow_and_update();
            let range = peer.borrow_and_update().clone();
            let mut got = None;
            self.inner.send_if_modified(|i| {
                let Some(n) = i.wanted.iter().copied().find(|n| range.contains(*n)) else {
                    return false;
                };
                i.wanted.remove(&n);
                i.in_flight.insert(n);
                got = Some(n);
                true
            });
            if let Some(n) = got {
                return Ok(n);
            }
            changed_any(ctx, &mut sub, peer).await?;
        }
    }

    /// Connection side: the block of a taken number arrived (its number was checked).
    pub fn deliver(&self, block: Block, peer: Arc<Peer>) {
        let n = block.number();
        self.inner.send_modify(|i| {
            if i.in_flight.remove(&n) {
                i.fetched.insert(n, (block, peer));
            }
        });
    }

    /// Connection side: a taken number could not be fetched; someone else should.
    pub fn release(&self, n: BlockNumber) {
        self.inner.send_modify(|i| {
            if i.in_flight.remove(&n) {
                i.wanted.insert(n);
            }
        });
    }

    /// Takes the fetched blocks that extend the queued range, once there is at least one.
    async fn next_run(&self, ctx: &ctx::Ctx) -> ctx::OrCanceled<Vec<(Block, Arc<Peer>)>> {
        let mut sub = self.inner.subscribe();
        let mut queued = self.store.subscribe();
        loop {
            sub.borrow_and_update();
            let next = queued.borrow_and_update().next();
            let mut run = vec![];
            self.inner.send_if_modified(|i| {
                let mut changed = i.refill(next, self.window);
                let mut n = next;
                while run.len() < MAX_BATCH {
                    let Some(entry) = i.fetched.remove(&n) else {
                        break;
                    };
                    run.push(entry);
                    n = n.next();
                    changed = true;
                }
                changed
            });
            if !run.is_empty() {
                return Ok(run);
            }
            changed_any(ctx, &mut sub, &mut queued).await?;
        }
    }

    /// Puts back blocks that were taken for verification but not queued.
    fn put_back(&self, blocks: impl IntoIterator<Item = (Block, Arc<Peer>)>) {
        self.inner.send_modify(|i| {
            for (b, p) in blocks {
                i.fetched.insert(b.number(), (b, p));
            }
        });
    }

    /// Wants `n` again (its block was dropped).
    fn want_again(&self, n: BlockNumber) {
        self.inner.send_modify(|i| {
            i.fetched.remove(&n);
            i.in_flight.remove(&n);
            i.wanted.insert(n);
        });
    }

    /// Verifies and queues fetched blocks until `ctx` is cancelled.
    pub async fn run(&self, ctx: &ctx::Ctx) -> ctx::Result<()> {
        loop {
            let run = self.next_run(ctx).await?;
            let (blocks, peers): (Vec<Block>, Vec<Arc<Peer>>) = run.into_iter().unzip();
            let verdicts = self.store.verify_blocks(ctx, blocks.clone()).await?;
            let mut rest = blocks.into_iter().zip(peers).zip(verdicts);
            for ((block, peer), verdict) in rest.by_ref() {
                let n = block.number();
                match verdict {
                    Ok(verified) => match self.store.queue_verified_block(ctx, verified).await {
                        Ok(()) => continue,
                        Err(BlockError::Canceled(c)) => return Err(c.into()),
                        Err(err) => return Err(anyhow::anyhow!("queueing block {n}: {err}").into()),
                    },
                    Err(BlockError::Canceled(c)) => return Err(c.into()),
                    Err(BlockError::Internal(err)) => return Err(err.into()),
                    Err(BlockError::UnknownEpoch(epoch)) => {
                        tracing::debug!("block {n}: epoch {epoch} not known yet");
                        self.want_again(n);
                        // Retried when the store moves (or after a while).
                        let mut sub = self.store.subscribe();
                        let _ = ctx
                            .with_timeout(time::Duration::from_secs(1))
                            .wait(sub.changed())
                            .await;
                    }
                    Err(err) => {
                        tracing::info!("peer {:?} served an invalid block {n}: {err}", peer.key);
                        self.invalid_blocks.fetch_add(1, Ordering::Relaxed);
                        if let Some(m) = self.metrics.get() {
                            m.sync_invalid_blocks.inc();
                        }
                        peer.disconnect();
                        self.want_again(n);
                    }
                }
                break;
            }
            self.put_back(rest.map(|(bp, _)| bp));
        }
    }
}
