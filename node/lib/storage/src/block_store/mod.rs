//! The block store: verified finalized blocks queued ahead of persistence (protocol.md 6.3).
//!
//! Blocks enter through [`BlockStore::queue_block`] (from bft or from sync), are verified, and
//! are appended in order to an in-memory queue. Sync may instead verify many blocks at once
//! with [`BlockStore::verify_blocks`] (one batched signature check, see `verified.rs`) and queue
//! the results with [`BlockStore::queue_verified_block`]. The runner hands queued blocks, in
//! order, to the execution layer and mirrors its persisted range. The queue is bounded: once
//! `max_unpersisted` blocks wait for persistence, queueing waits too.

use std::{collections::VecDeque, sync::Arc};

use anyhow::Context as _;
use tokio::sync::watch;
use zksync_concurrency::{ctx, error::Wrap as _, scope, sync};
use zksync_consensus_roles::validator::{
    Block, BlockNumber, EpochNumber, FinalBlock, Genesis, GenesisHash, PreGenesisBlock, Schedule,
};

use crate::{
    BlockStoreState, ExecutionLayer, Last, VerifyError,
    epochs::{EpochInfo, Epochs},
};

mod errors;
#[cfg(test)]
mod tests;
mod verified;

pub use errors::BlockError;
pub use verified::VerifiedBlock;

/// Settings of a [`BlockStore`].
#[derive(Clone, Debug)]
pub struct Config {
    /// How many verified blocks may wait for persistence before queueing another one waits.
    pub max_unpersisted: usize,
    /// At most how many recently persisted blocks stay cached in memory (for peers that sync).
    pub cache_persisted: usize,
    /// At most this many payload bytes of persisted blocks stay cached (older blocks are read
    /// from the execution layer): with large payloads the count alone would hold megabytes.
    pub cache_persisted_bytes: usize,
    /// How often the pending validator schedule is polled (dynamic schedules only).
    pub schedule_poll_interval: zksync_concurrency::time::Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_unpersisted: 100,
            cache_persisted: 100,
            cache_persisted_bytes: 2 << 20,
            schedule_poll_interval: zksync_concurrency::time::Duration::from_secs(5),
        }
    }
}

#[derive(Clone, Debug)]
struct Inner {
    /// Blocks accepted by the store: persisted ones plus the queue.
    queued: BlockStoreState,
    /// What the execution layer reports as durable.
    persisted: BlockStoreState,
    /// Contiguous blocks ending at `queued.last`: the unpersisted ones and a few persisted.
    cache: VecDeque<Block>,
}

impl Inner {
    fn unpersisted(&self) -> usize {
        (self.queued.next().0 - self.persisted.next().0.min(self.queued.next().0)) as usize
    }
}

/// Verified blocks, queued ahead of the execution layer's persistence.
#[derive(Debug)]
pub struct BlockStore {
    engine: Arc<dyn ExecutionLayer>,
    genesis: Genesis,
    genesis_hash: GenesisHash,
    config: Config,
    inner: watch::Sender<Inner>,
    queued_watch: watch::Sender<BlockStoreState>,
    epochs: Epochs,
}

/// Background tasks of a [`BlockStore`]; run it for as long as the store is used.
#[must_use = "the block store does nothing unless its runner runs"]
#[derive(Debug)]
pub struct BlockStoreRunner(Arc<BlockStore>);

impl BlockStore {
    /// Reads the genesis and the persisted range, and sets up epoch schedules.
    pub async fn new(
        ctx: &ctx::Ctx,
        engine: Arc<dyn ExecutionLayer>,
        config: Config,
    ) -> ctx::Result<(Arc<Self>, BlockStoreRunner)> {
        let genesis = engine.genesis(ctx).await.wrap("genesis()")?;
        let genesis_hash = genesis.hash();
        let persisted = engine.persisted().borrow().clone();
        persisted
            .verify(genesis_hash)
            .context("execution layer's persisted range")?;
        let epochs = Epochs::new(&genesis);
        let this = Arc::new(Self {
            engine,
            genesis,
            genesis_hash,
            config,
            queued_watch: watch::Sender::new(persisted.clone()),
            inner: watch::Sender::new(Inner {
                queued: persisted.clone(),
                persisted,
                cache: VecDeque::new(),
            }),
            epochs,
        });
        Ok((this.clone(), BlockStoreRunner(this)))
    }

    /// The genesis.
    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    /// Number of blocks held in memory (unpersisted and cached persisted ones).
    #[cfg(test)]
    fn cached_blocks(&self) -> usize {
        self.inner.borrow().cache.len()
    }

    /// The range of accepted (queued or persisted) blocks.
    pub fn queued(&self) -> BlockStoreState {
        self.inner.borrow().queued.clone()
    }

    /// The range of persisted blocks.
    pub fn persisted(&self) -> BlockStoreState {
        self.inner.borrow().persisted.clone()
    }

    /// A watch of the queued range (what the network advertises to peers).
    pub fn subscribe(&self) -> watch::Receiver<BlockStoreState> {
        self.queued_watch.subscribe()
    }

    /// Updates `inner` with `f`, publishing the queued range to subscribers in the same step
    /// (so concurrent updates cannot publish an older range after a newer one).
    fn update<R>(&self, f: impl FnOnce(&mut Inner) -> (bool, R)) -> R {
        let mut out = None;
        self.inner.send_if_modified(|inner| {
            let (modified, r) = f(inner);
            out = Some(r);
            if modified {
                let queued = &inner.queued;
                self.queued_watch.send_if_modified(|q| {
                    let changed = q != queued;
                    if changed {
                        *q = queued.clone();
                    }
                    changed
                });
            }
            modified
        });
        out.expect("the closure ran")
    }

    /// The schedule of `epoch`, if known.
    pub fn epoch(&self, epoch: EpochNumber) -> Option<EpochInfo> {
        self.epochs.get(epoch)
    }

    /// The schedules of every known epoch.
    pub fn epochs(&self) -> std::collections::BTreeMap<EpochNumber, EpochInfo> {
        self.epochs.all()
    }

    /// Watches the schedules of every known epoch (new epochs, expirations).
    pub fn subscribe_epochs(
        &self,
    ) -> watch::Receiver<std::collections::BTreeMap<EpochNumber, EpochInfo>> {
        self.epochs.subscribe()
    }

    /// Waits until the schedule of `epoch` is known.
    pub async fn wait_for_epoch(
        &self,
        ctx: &ctx::Ctx,
        epoch: EpochNumber,
    ) -> ctx::OrCanceled<EpochInfo> {
        self.epochs.wait_for(ctx, epoch).await
    }

    /// The execution layer.
    pub fn engine(&self) -> &Arc<dyn ExecutionLayer> {
        &self.engine
    }

    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    /// A block, if the store has it (cache first, then the execution layer).
    pub async fn block(&self, ctx: &ctx::Ctx, number: BlockNumber) -> ctx::Result<Option<Block>> {
        {
            let inner = self.inner.borrow();
            if !inner.queued.contains(number) {
                return Ok(None);
            }
            if let Some(first) = inner.cache.front()
                && number >= first.number()
            {
                let i = (number.0 - first.number().0) as usize;
                return Ok(inner.cache.get(i).cloned());
            }
        }
        Ok(Some(
            self.engine
                .block(ctx, number)
                .await
                .with_wrap(|| format!("block({number})"))?,
        ))
    }

    /// Verifies a block for this chain: payload hash and certificate against the schedule of
    /// the block's epoch, or the execution layer's check for a pre-genesis block.
    pub async fn verify_block(&self, ctx: &ctx::Ctx, block: &Block) -> Result<(), BlockError> {
        match block {
            Block::Final(b) => self.verify_final(b),
            Block::PreGenesis(b) => self.verify_pregenesis(ctx, b).await,
        }
    }

    fn verify_final(&self, block: &FinalBlock) -> Result<(), BlockError> {
        let schedule = self.verify_final_structure(block)?;
        block
            .justification
            .verify_signature(&schedule)
            .map_err(|e| BlockError::Block(e.into()))
    }

    /// Every check of a final block but its certificate's signature, in the order of
    /// [`BlockStore::verify_block`]; returns the schedule to check the signature against.
    fn verify_final_structure(&self, block: &FinalBlock) -> Result<Arc<Schedule>, BlockError> {
        let number = block.number();
        if number < self.genesis.first_block {
            return Err(BlockError::FinalBeforeGenesis {
                number,
                first_block: self.genesis.first_block,
            });
        }
        let epoch = block.justification.view().epoch;
        let info = self
            .epochs
            .get(epoch)
            .ok_or(BlockError::UnknownEpoch(epoch))?;
        if !info.contains(number) {
            return Err(BlockError::OutsideEpoch { number, epoch });
        }
        block.verify_payload().map_err(BlockError::Block)?;
        block
            .justification
            .verify_structure(self.genesis_hash, epoch, &info.schedule)
            .map_err(|e| BlockError::Block(e.into()))?;
        Ok(info.schedule)
    }

    async fn verify_pregenesis(
        &self,
        ctx: &ctx::Ctx,
        block: &PreGenesisBlock,
    ) -> Result<(), BlockError> {
        if block.number >= self.genesis.first_block {
            return Err(BlockError::PreGenesisAfterGenesis {
                number: block.number,
                first_block: self.genesis.first_block,
            });
        }
        match self.engine.verify_pregenesis_block(ctx, block).await {
            Ok(()) => Ok(()),
            Err(VerifyError::Invalid(err)) => Err(BlockError::InvalidPreGenesis(err)),
            Err(VerifyError::Canceled(c)) => Err(BlockError::Canceled(c)),
            Err(VerifyError::Internal(err)) => Err(BlockError::Internal(err)),
        }
    }

    /// Verifies `block` and appends it to the queue. It must be the next block after the
    /// queued range (a block already in the range is accepted and ignored; a gap is an error).
    /// Waits while `max_unpersisted` blocks are waiting for persistence.
    pub async fn queue_block(&self, ctx: &ctx::Ctx, block: Block) -> Result<(), BlockError> {
        if self.queued().contains(block.number()) {
            return Ok(());
        }
        self.verify_block(ctx, &block).await?;
        self.queue_verified_block(ctx, VerifiedBlock(block)).await
    }

    /// [`BlockStore::queue_block`] for a finalized block whose certificate's signature the
    /// caller has already verified (the consensus replica: a certificate it aggregated from
    /// votes it checked, or one it checked on receipt): every check of `queue_block` but the
    /// certificate's pairing check, which would only repeat the caller's. Blocks from anywhere
    /// else must go through [`BlockStore::queue_block`] or [`BlockStore::verify_blocks`].
    pub async fn queue_block_with_verified_qc(
        &self,
        ctx: &ctx::Ctx,
        block: FinalBlock,
    ) -> Result<(), BlockError> {
        if self.queued().contains(block.number()) {
            return Ok(());
        }
        self.verify_final_structure(&block)?;
        self.queue_verified_block(ctx, VerifiedBlock(Block::Final(block)))
            .await
    }

    /// [`BlockStore::queue_block`] for a block this store already verified (with
    /// [`BlockStore::verify_blocks`]): appends it to the queue, with the same ordering rules
    /// and waits. A block verified by another store (of another chain) must not be passed here.
    pub async fn queue_verified_block(
        &self,
        ctx: &ctx::Ctx,
        block: VerifiedBlock,
    ) -> Result<(), BlockError> {
        let block = block.into_inner();
        let number = block.number();
        let max = self.config.max_unpersisted.max(1);
        let mut recv = self.inner.subscribe();
        let mut block = Some(block);
        loop {
            sync::wait_for(ctx, &mut recv, |inner| {
                inner.unpersisted() < max || inner.queued.contains(number)
            })
            .await?;
            // Checked again under the update: other callers may have filled the queue.
            let res = self.update(|inner| {
                let next = inner.queued.next();
                if number < next {
                    return (false, Ok(true));
                }
                if number > next {
                    return (false, Err(BlockError::Gap { next, got: number }));
                }
                if inner.unpersisted() >= max {
                    return (false, Ok(false));
                }
                let block = block.take().expect("appended once");
                inner.queued.last = Some(Last::of(&block));
                inner.cache.push_back(block);
                (true, Ok(true))
            });
            if res? {
                return Ok(());
            }
        }
    }

    /// Waits until block `number` is queued.
    pub async fn wait_until_queued(
        &self,
        ctx: &ctx::Ctx,
        number: BlockNumber,
    ) -> ctx::OrCanceled<BlockStoreState> {
        let mut recv = self.inner.subscribe();
        Ok(
            sync::wait_for(ctx, &mut recv, |inner| number < inner.queued.next())
                .await?
                .queued
                .clone(),
        )
    }

    /// Waits until block `number` is persisted.
    pub async fn wait_until_persisted(
        &self,
        ctx: &ctx::Ctx,
        number: BlockNumber,
    ) -> ctx::OrCanceled<BlockStoreState> {
        let mut recv = self.inner.subscribe();
        Ok(
            sync::wait_for(ctx, &mut recv, |inner| number < inner.persisted.next())
                .await?
                .persisted
                .clone(),
        )
    }
}

impl BlockStoreRunner {
    /// Runs until `ctx` is cancelled or the execution layer fails.
    pub async fn run(self, ctx: &ctx::Ctx) -> anyhow::Result<()> {
        let store = &*self.0;
        let res = scope::run!(ctx, |ctx, s| async {
            s.spawn_bg(store.run_mirror_persisted(ctx));
            s.spawn_bg(store.run_persist(ctx));
            if store.genesis.validators_schedule.is_none() {
                s.spawn_bg(store.epochs.run_poller(ctx, store));
            }
            ctx.canceled().await;
            Ok(())
        })
        .await;
        match res {
            Ok(()) => Ok(()),
            // A cancellation is a clean exit only if it is ours.
            Err(ctx::Error::Canceled(_)) if !ctx.is_active() => Ok(()),
            Err(ctx::Error::Canceled(_)) => Err(anyhow::anyhow!(
                "execution layer reported a cancellation while the store was running"
            )),
            Err(ctx::Error::Internal(err)) => Err(err),
        }
    }
}

impl BlockStore {
    /// Mirrors the execution layer's persisted range; a shrinking range is fatal.
    async fn run_mirror_persisted(&self, ctx: &ctx::Ctx) -> ctx::Result<()> {
        let mut persisted = self.engine.persisted();
        loop {
            // The current value first: it may have changed since `new()` read it.
            let new = persisted.borrow_and_update().clone();
            new.verify(self.genesis_hash)
                .context("execution layer's persisted range")?;
            let res = self.update(|inner| {
                if new.next() < inner.persisted.next() {
                    let err = anyhow::anyhow!(
                        "execution layer's persisted range shrank: next block went from {} to {}",
                        inner.persisted.next(),
                        new.next()
                    );
                    return (false, Err(err));
                }
                if new == inner.persisted {
                    return (false, Ok(()));
                }
                inner.persisted = new.clone();
                if inner.queued.next() < new.next() {
                    // Persistence overtook the queue (blocks arrived another way).
                    inner.queued = new.clone();
                    inner.cache.clear();
                }
                // Pruned blocks are no longer offered.
                inner.queued.first = inner.queued.first.max(new.first);
                // Keep the unpersisted blocks and the newest persisted ones, at most
                // `cache_persisted` of them and `cache_persisted_bytes` of payload.
                let unpersisted = inner.unpersisted();
                let persisted_cached = inner.cache.len().saturating_sub(unpersisted);
                let mut bytes: usize = (inner.cache.iter().take(persisted_cached))
                    .map(|b| b.payload().len())
                    .sum();
                while inner.cache.len() > unpersisted
                    && (inner.cache.len() - unpersisted > self.config.cache_persisted
                        || bytes > self.config.cache_persisted_bytes)
                {
                    if let Some(b) = inner.cache.pop_front() {
                        bytes -= b.payload().len();
                    }
                }
                (true, Ok(()))
            });
            res?;
            sync::changed(ctx, &mut persisted).await?;
        }
    }

    /// Hands queued blocks to the execution layer, in order.
    async fn run_persist(&self, ctx: &ctx::Ctx) -> ctx::Result<()> {
        let mut recv = self.inner.subscribe();
        let mut next = self.persisted().next();
        loop {
            let block = {
                let inner = sync::wait_for(ctx, &mut recv, |inner| {
                    inner.queued.next() > next.max(inner.persisted.next())
                })
                .await?;
                next = next.max(inner.persisted.next());
                // Unpersisted blocks always stay in the cache, so `next` is there.
                let first = inner.cache.front().map(|b| b.number()).unwrap_or(next);
                next.0
                    .checked_sub(first.0)
                    .and_then(|i| inner.cache.get(i as usize))
                    .cloned()
            };
            let block = block.with_context(|| format!("block {next} missing from the queue"))?;
            self.engine
                .queue_next_block(ctx, block)
                .await
                .with_wrap(|| format!("queue_next_block({next})"))?;
            next = next.next();
        }
    }
}
