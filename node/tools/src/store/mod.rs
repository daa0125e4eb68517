//! A durable [`ExecutionLayer`] on `redb` (pure Rust, crash-safe B-trees): what the `node`
//! binary runs on.
//!
//! # Layout (one file)
//!
//! | table | key | value |
//! |---|---|---|
//! | `meta` | `"genesis"`, `"first"` | canonical `Genesis`; first block number (u64 BE) |
//! | `blocks` | block number (u64; redb orders it numerically) | canonical `validator.Block` |
//! | `schedules` | activation block (u64) | canonical `ValidatorSchedule` (dynamic schedules) |
//! | `state` | `"replica"` | canonical `ReplicaState` (databases written before the state files; read only) |
//!
//! The replica state lives beside the file, in `<file>.state0` and `<file>.state1` (see
//! `state_file`): it is written twice per view on the consensus critical path, and a write
//! there costs one `fdatasync` instead of a redb commit.
//!
//! # Durability
//!
//! Every block is written in its own write transaction committed with
//! `Durability::Immediate`: redb fsyncs before `commit` returns, so a block reported as
//! persisted survives a crash (or `kill -9`) at any point, and redb's copy-on-write commits
//! make a crash mid-write leave the previous committed state. A replica state is synced to its
//! state file before `set_state` returns, and a crash mid-write leaves the previous state
//! (see `state_file`).
//! All database calls run on tokio's blocking pool, off the async workers.
//!
//! # Not an execution engine
//!
//! The tools chain has no execution: payloads are opaque random bytes of a configured size and
//! every payload is accepted. Pre-genesis blocks are accepted only when their payload hash is
//! in the configured trusted list (there is no L1 to check a justification against).

use std::{
    collections::{BTreeMap, HashSet},
    path::Path,
    sync::{Arc, Mutex, PoisonError},
};

use anyhow::Context as _;
use rand::{RngExt as _, SeedableRng as _, rngs::StdRng};
use redb::{
    Database, Durability, ReadableDatabase as _, ReadableTable as _, ReadableTableMetadata as _,
    TableDefinition,
};
use tokio::sync::watch;
use zksync_concurrency::{ctx, scope};
use zksync_consensus_roles::validator::{
    Block, BlockNumber, Genesis, GenesisHash, Payload, PayloadHash, PreGenesisBlock, ReplicaState,
    Schedule,
};
use zksync_consensus_storage::{
    BlockStoreState, ExecutionLayer, Last, ScheduleAt, Transaction, VerifyError,
};

mod state_file;
#[cfg(test)]
mod tests;

const META: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("meta");
const BLOCKS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("blocks");
const SCHEDULES: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("schedules");
const STATE: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("state");

/// The database cannot be used.
#[derive(thiserror::Error, Debug)]
pub enum StoreError {
    /// The database belongs to another chain.
    #[error(
        "database {path} belongs to another chain: stored genesis {stored:?}, configured {configured:?}"
    )]
    GenesisMismatch {
        /// Database path.
        path: String,
        /// Hash of the stored genesis.
        stored: GenesisHash,
        /// Hash of the configured genesis.
        configured: GenesisHash,
    },
    /// The file is not a valid database, or its content does not decode.
    #[error("database {path} is corrupted: {reason:#}")]
    Corrupted {
        /// Database path.
        path: String,
        /// What is wrong.
        reason: anyhow::Error,
    },
    /// Opening or creating the file failed.
    #[error("opening database {path}: {source}")]
    Open {
        /// Database path.
        path: String,
        /// The redb error.
        source: redb::DatabaseError,
    },
}

/// Settings of the durable store beyond the genesis.
#[derive(Clone, Debug, Default)]
pub struct StoreConfig {
    /// First block the store holds (at most `genesis.first_block`; lower to keep pre-genesis
    /// blocks). `None` = `genesis.first_block`.
    pub first_block: Option<BlockNumber>,
    /// Dynamic validator schedules with their activation blocks (for a genesis without a
    /// static schedule).
    pub schedules: Vec<ScheduleAt>,
    /// Trusted payload hashes of pre-genesis blocks.
    pub pregenesis: BTreeMap<BlockNumber, PayloadHash>,
    /// Size of the random payloads this node proposes.
    pub payload_size: usize,
}

/// redb's page cache, in bytes. redb's default (1 GiB) keeps every page written by a
/// long-running node in memory up to that size: with 100 KiB payloads a validator reached
/// 386 MiB of RSS in a minute (16 MiB: 53 MiB; 2 MiB: 23 MiB with the block store's cache
/// bounded in bytes too, at the same CPU per block). Blocks are written once and read back
/// rarely (by syncing peers, after the block store's own cache of recent blocks), and the OS
/// page cache serves those reads anyway.
const CACHE_SIZE: usize = 2 << 20;

/// Transactions remembered for deduplication, at most.
const MAX_TXS: usize = 100_000;

/// The durable execution layer of the tools.
#[derive(Debug)]
pub struct DurableStore {
    db: Arc<Database>,
    genesis: Genesis,
    config: StoreConfig,
    persisted: watch::Sender<BlockStoreState>,
    /// Serializes block writes.
    write: tokio::sync::Mutex<()>,
    /// The replica state's own files (see `state_file`), one write at a time: the lock keeps
    /// writes in order, and the files move into the blocking task of a write and back (`None`
    /// only if that task panicked).
    state_files: tokio::sync::Mutex<Option<state_file::StateFiles>>,
    /// The newest replica state: the last one written, else the one read at opening (from
    /// the state files, else from a database written before them).
    state: Mutex<Option<Vec<u8>>>,
    txs: Mutex<HashSet<Transaction>>,
}

fn corrupted(path: &str) -> impl Fn(anyhow::Error) -> StoreError + '_ {
    move |reason| StoreError::Corrupted {
        path: path.to_string(),
        reason,
    }
}

impl DurableStore {
    /// Opens (or creates) the database at `path` for `genesis`. A database created for another
    /// genesis, or one that does not decode, is an error: it is never silently reused.
    pub fn open(path: &Path, genesis: Genesis, config: StoreConfig) -> Result<Self, StoreError> {
        let p = path.display().to_string();
        let db = Database::builder()
            .set_cache_size(CACHE_SIZE)
            .create(path)
            .map_err(|source| match source {
                redb::DatabaseError::Storage(e) => StoreError::Corrupted {
                    path: p.clone(),
                    reason: e.into(),
                },
                source => StoreError::Open {
                    path: p.clone(),
                    source,
                },
            })?;
        let first = config.first_block.unwrap_or(genesis.first_block);
        let state = Self::init(&db, &genesis, first, &config.schedules).map_err(corrupted(&p))?;
        let state = match state {
            Ok(state) => state,
            Err(stored) => {
                return Err(StoreError::GenesisMismatch {
                    path: p,
                    stored,
                    configured: genesis.hash(),
                });
            }
        };
        let (state_files, initial_state) =
            state_file::StateFiles::open(path).map_err(|reason| StoreError::Corrupted {
                path: p.clone(),
                reason,
            })?;
        let initial_state = match initial_state {
            Some(s) => Some(s),
            None => Self::legacy_state(&db).map_err(corrupted(&p))?,
        };
        Ok(Self {
            db: Arc::new(db),
            genesis,
            config,
            persisted: watch::Sender::new(state),
            write: tokio::sync::Mutex::new(()),
            state_files: tokio::sync::Mutex::new(Some(state_files)),
            state: Mutex::new(initial_state),
            txs: Mutex::default(),
        })
    }

    /// The replica state of a database written before the state files existed.
    fn legacy_state(db: &Database) -> anyhow::Result<Option<Vec<u8>>> {
        let tx = db.begin_read()?;
        let table = tx.open_table(STATE)?;
        Ok(table.get("replica")?.map(|v| v.value().to_vec()))
    }

    /// Writes the genesis on first use, checks it afterwards, and reads the block range.
    /// `Ok(Err(hash))`: the database holds another genesis.
    fn init(
        db: &Database,
        genesis: &Genesis,
        first: BlockNumber,
        schedules: &[ScheduleAt],
    ) -> anyhow::Result<Result<BlockStoreState, GenesisHash>> {
        let mut tx = db.begin_write()?;
        tx.set_durability(Durability::Immediate)?;
        let first = {
            let mut meta = tx.open_table(META)?;
            let stored = meta.get("genesis")?.map(|v| v.value().to_vec());
            match stored {
                Some(bytes) => {
                    let stored: Genesis =
                        zksync_protobuf::decode(&bytes).context("stored genesis")?;
                    if stored != *genesis {
                        return Ok(Err(stored.hash()));
                    }
                    let first = meta.get("first")?.context("stored first block missing")?;
                    let first: [u8; 8] = first.value().try_into().context("stored first block")?;
                    BlockNumber(u64::from_be_bytes(first))
                }
                None => {
                    meta.insert("genesis", zksync_protobuf::encode(genesis).as_slice())?;
                    meta.insert("first", first.0.to_be_bytes().as_slice())?;
                    first
                }
            }
        };
        {
            let mut table = tx.open_table(SCHEDULES)?;
            for (schedule, activation) in schedules {
                table.insert(activation.0, zksync_protobuf::encode(schedule).as_slice())?;
            }
            let _ = tx.open_table(BLOCKS)?;
            let _ = tx.open_table(STATE)?;
        }
        tx.commit()?;

        // The block range: contiguous from `first` (checked: no holes).
        let tx = db.begin_read()?;
        let blocks = tx.open_table(BLOCKS)?;
        let mut state = BlockStoreState::empty(first);
        if let Some((k, v)) = blocks.last()? {
            let last = BlockNumber(k.value());
            let count = blocks.len()?;
            let expected = last.0.checked_sub(first.0).and_then(|d| d.checked_add(1));
            anyhow::ensure!(
                blocks.first()?.map(|(k, _)| k.value()) == Some(first.0) && expected == Some(count),
                "blocks are not a contiguous range starting at {first}"
            );
            let block: Block = zksync_protobuf::decode(v.value()).context("last block")?;
            anyhow::ensure!(
                block.number() == last,
                "block {} stored under key {last}",
                block.number()
            );
            if let Block::Final(b) = &block {
                anyhow::ensure!(
                    b.justification.view().genesis == genesis.hash(),
                    "last block belongs to another genesis"
                );
            }
            state.last = Some(Last::of(&block));
        }
        Ok(Ok(state))
    }

    /// A read on the blocking pool; returns early if `ctx` is cancelled.
    async fn read<T: Send + 'static>(
        &self,
        ctx: &ctx::Ctx,
        f: impl FnOnce(&Database) -> anyhow::Result<T> + Send + 'static,
    ) -> ctx::Result<T> {
        let db = self.db.clone();
        Ok(ctx.wait(scope::wait_blocking(move || f(&db))).await??)
    }

    /// A write on the blocking pool, serialized with all other writes. Once started it is
    /// awaited even if `ctx` is cancelled: a detached write could otherwise commit after a later
    /// one (e.g. an old epoch's replica state over the new epoch's).
    async fn write(
        &self,
        ctx: &ctx::Ctx,
        f: impl FnOnce(&Database) -> anyhow::Result<()> + Send + 'static,
    ) -> ctx::Result<()> {
        let _guard = ctx.wait(self.write.lock()).await?;
        let db = self.db.clone();
        Ok(scope::wait_blocking(move || f(&db)).await?)
    }
}

#[async_trait::async_trait]
impl ExecutionLayer for DurableStore {
    async fn genesis(&self, _ctx: &ctx::Ctx) -> ctx::Result<Genesis> {
        Ok(self.genesis.clone())
    }

    async fn validator_schedule(
        &self,
        ctx: &ctx::Ctx,
        number: BlockNumber,
    ) -> ctx::Result<ScheduleAt> {
        self.read(ctx, move |db| {
            let tx = db.begin_read()?;
            let table = tx.open_table(SCHEDULES)?;
            let (k, v) = table
                .range(..=number.0)?
                .next_back()
                .transpose()?
                .with_context(|| format!("no schedule active at block {number}"))?;
            let schedule: Schedule = zksync_protobuf::decode(v.value()).context("schedule")?;
            Ok((schedule, BlockNumber(k.value())))
        })
        .await
    }

    async fn pending_validator_schedule(
        &self,
        ctx: &ctx::Ctx,
        number: BlockNumber,
    ) -> ctx::Result<Option<ScheduleAt>> {
        self.read(ctx, move |db| {
            let tx = db.begin_read()?;
            let table = tx.open_table(SCHEDULES)?;
            let Some(entry) = table.range(number.0.saturating_add(1)..)?.next() else {
                return Ok(None);
            };
            let (k, v) = entry?;
            let schedule: Schedule = zksync_protobuf::decode(v.value()).context("schedule")?;
            Ok(Some((schedule, BlockNumber(k.value()))))
        })
        .await
    }

    fn persisted(&self) -> watch::Receiver<BlockStoreState> {
        self.persisted.subscribe()
    }

    async fn block(&self, ctx: &ctx::Ctx, number: BlockNumber) -> ctx::Result<Block> {
        self.read(ctx, move |db| {
            let tx = db.begin_read()?;
            let table = tx.open_table(BLOCKS)?;
            let v = table
                .get(number.0)?
                .with_context(|| format!("block {number} is not stored"))?;
            zksync_protobuf::decode(v.value()).with_context(|| format!("block {number}"))
        })
        .await
    }

    async fn queue_next_block(&self, ctx: &ctx::Ctx, block: Block) -> ctx::Result<()> {
        // Callers queue in order; the check and the write need not be atomic with each other,
        // because only this method writes blocks and it is called by one task at a time.
        let next = self.persisted.borrow().next();
        let number = block.number();
        if number < next {
            return Ok(());
        }
        if number > next {
            return Err(anyhow::anyhow!("gap: expected block {next}, got {number}").into());
        }
        let bytes = zksync_protobuf::encode(&block);
        self.write(ctx, move |db| {
            let mut tx = db.begin_write()?;
            tx.set_durability(Durability::Immediate)?;
            tx.open_table(BLOCKS)?.insert(number.0, bytes.as_slice())?;
            tx.commit()?;
            Ok(())
        })
        .await?;
        let last = Last::of(&block);
        self.persisted.send_modify(|p| p.last = Some(last));
        Ok(())
    }

    async fn verify_pregenesis_block(
        &self,
        _ctx: &ctx::Ctx,
        block: &PreGenesisBlock,
    ) -> Result<(), VerifyError> {
        match self.config.pregenesis.get(&block.number) {
            Some(h) if *h == block.payload.hash() => Ok(()),
            Some(_) => Err(VerifyError::Invalid(anyhow::anyhow!(
                "payload of pre-genesis block {} is not the trusted one",
                block.number
            ))),
            None => Err(VerifyError::Invalid(anyhow::anyhow!(
                "no trusted payload hash for pre-genesis block {}",
                block.number
            ))),
        }
    }

    async fn verify_payload(
        &self,
        _ctx: &ctx::Ctx,
        _number: BlockNumber,
        _payload: &Payload,
    ) -> Result<(), VerifyError> {
        Ok(())
    }

    async fn propose_payload(&self, ctx: &ctx::Ctx, _number: BlockNumber) -> ctx::Result<Payload> {
        let mut rng = StdRng::seed_from_u64(ctx.rng().random());
        Ok(Payload(
            (0..self.config.payload_size)
                .map(|_| rng.random())
                .collect(),
        ))
    }

    async fn state(&self, _ctx: &ctx::Ctx) -> ctx::Result<Option<ReplicaState>> {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(bytes) = state.as_ref() else {
            return Ok(None);
        };
        Ok(Some(
            zksync_protobuf::decode(bytes).context("stored replica state")?,
        ))
    }

    /// Written to the state files (see `state_file`); once started, the write is awaited even
    /// if `ctx` is cancelled, so a later write never lands before an earlier one.
    async fn set_state(&self, ctx: &ctx::Ctx, state: &ReplicaState) -> ctx::Result<()> {
        let bytes = zksync_protobuf::encode(state);
        let mut guard = ctx.wait(self.state_files.lock()).await?;
        let mut files = guard
            .take()
            .context("an earlier replica state write panicked")?;
        let (files, res) = scope::wait_blocking(move || {
            let res = files.write(&bytes).map(|()| bytes);
            (files, res)
        })
        .await;
        *guard = Some(files);
        let bytes = res?;
        *self.state.lock().unwrap_or_else(PoisonError::into_inner) = Some(bytes);
        Ok(())
    }

    async fn push_tx(&self, _ctx: &ctx::Ctx, tx: Transaction) -> ctx::Result<bool> {
        let mut txs = self.txs.lock().unwrap_or_else(PoisonError::into_inner);
        if txs.len() >= MAX_TXS {
            txs.clear();
        }
        Ok(txs.insert(tx))
    }
}
