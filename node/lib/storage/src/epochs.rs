//! Validator schedules per epoch (protocol.md 2.13).
//!
//! With a static schedule (in the genesis) there is one epoch, 0, from the genesis' first block
//! on, never expiring. Otherwise schedules come from the execution layer: the schedule active
//! at the persisted head starts the list, and the pending schedule is polled; when one appears,
//! the previous epoch expires (inclusively) at the block before its activation.

use std::{collections::BTreeMap, sync::Arc};

use anyhow::Context as _;
use tokio::sync::watch;
use zksync_concurrency::{ctx, error::Wrap as _, sync};
use zksync_consensus_roles::validator::{BlockNumber, EpochNumber, Genesis, Schedule};

use crate::{BlockStore, Last};

/// The schedule of an epoch and the blocks it covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EpochInfo {
    /// The validators.
    pub schedule: Arc<Schedule>,
    /// The first block of the epoch.
    pub activation: BlockNumber,
    /// The last block of the epoch (inclusive), once known.
    pub expiration: Option<BlockNumber>,
}

impl EpochInfo {
    /// Whether block `n` belongs to the epoch.
    pub fn contains(&self, n: BlockNumber) -> bool {
        self.activation <= n && self.expiration.is_none_or(|e| n <= e)
    }
}

#[derive(Debug)]
pub(crate) struct Epochs(watch::Sender<BTreeMap<EpochNumber, EpochInfo>>);

impl Epochs {
    pub(crate) fn new(genesis: &Genesis) -> Self {
        let mut map = BTreeMap::new();
        if let Some(schedule) = &genesis.validators_schedule {
            map.insert(
                EpochNumber(0),
                EpochInfo {
                    schedule: Arc::new(schedule.clone()),
                    activation: genesis.first_block,
                    expiration: None,
                },
            );
        }
        Self(watch::Sender::new(map))
    }

    pub(crate) fn get(&self, epoch: EpochNumber) -> Option<EpochInfo> {
        self.0.borrow().get(&epoch).cloned()
    }

    pub(crate) fn all(&self) -> BTreeMap<EpochNumber, EpochInfo> {
        self.0.borrow().clone()
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<BTreeMap<EpochNumber, EpochInfo>> {
        self.0.subscribe()
    }

    pub(crate) async fn wait_for(
        &self,
        ctx: &ctx::Ctx,
        epoch: EpochNumber,
    ) -> ctx::OrCanceled<EpochInfo> {
        let mut recv = self.0.subscribe();
        let map = sync::wait_for(ctx, &mut recv, |m| m.contains_key(&epoch)).await?;
        Ok(map[&epoch].clone())
    }

    /// Dynamic schedules: seeds the current epoch, then polls for the pending one.
    pub(crate) async fn run_poller(&self, ctx: &ctx::Ctx, store: &BlockStore) -> ctx::Result<()> {
        let engine = store.engine();
        let first_block = store.genesis().first_block;
        // Pre-genesis blocks come first.
        if let Some(last_pre) = first_block.prev() {
            store.wait_until_persisted(ctx, last_pre).await?;
        }
        let (head, mut epoch) = match &store.persisted().last {
            Some(Last::Final(qc)) => (qc.header().number, qc.view().epoch),
            Some(Last::PreGenesis(n)) => (*n, EpochNumber(0)),
            None => (first_block, EpochNumber(0)),
        };
        // With only pre-genesis blocks persisted, the head is before the first schedule.
        let at = head.max(first_block);
        let (schedule, activation) = engine
            .validator_schedule(ctx, at)
            .await
            .with_wrap(|| format!("validator_schedule({at})"))?;
        self.0.send_modify(|m| {
            m.insert(
                epoch,
                EpochInfo {
                    schedule: Arc::new(schedule),
                    activation,
                    expiration: None,
                },
            );
        });
        loop {
            ctx.sleep(store.config().schedule_poll_interval).await?;
            let head = store.persisted().head().unwrap_or(first_block);
            let newest = self.get(epoch).context("current epoch missing")?;
            // Asking already at the activation block (the reference waits for one block more)
            // lets a one-block epoch hand over instead of stalling.
            if head < newest.activation {
                continue;
            }
            let Some((schedule, activation)) =
                engine
                    .pending_validator_schedule(ctx, head)
                    .await
                    .with_wrap(|| format!("pending_validator_schedule({head})"))?
            else {
                continue;
            };
            // The reference panics on activation 0; any activation not after the current
            // epoch's is an error of the execution layer.
            let expiration = activation
                .prev()
                .filter(|e| *e >= newest.activation)
                .with_context(|| {
                    format!(
                        "pending schedule activates at {activation}, not after the current \
                         epoch's activation {}",
                        newest.activation
                    )
                })?;
            let next = epoch.next();
            self.0.send_modify(|m| {
                if let Some(cur) = m.get_mut(&epoch) {
                    cur.expiration = Some(expiration);
                }
                m.insert(
                    next,
                    EpochInfo {
                        schedule: Arc::new(schedule),
                        activation,
                        expiration: None,
                    },
                );
                // Forget the oldest epoch once two newer ones exist and the newest is active.
                if m.len() >= 3 && m.values().nth(2).is_some_and(|e| e.activation < head) {
                    m.pop_first();
                }
            });
            tracing::info!(
                epoch = next.0,
                activation = activation.0,
                "new validator schedule"
            );
            epoch = next;
        }
    }
}
