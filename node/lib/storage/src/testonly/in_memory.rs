//! An execution layer that keeps everything in memory (durable as soon as written).

use std::{
    collections::HashSet,
    sync::{Mutex, MutexGuard, PoisonError},
};

use rand::{RngExt as _, SeedableRng as _, rngs::StdRng};
use tokio::sync::watch;
use zksync_concurrency::ctx;
use zksync_consensus_crypto::keccak256::Keccak256;
use zksync_consensus_roles::validator::{
    Block, BlockNumber, Genesis, Payload, PreGenesisBlock, ReplicaState,
};

use crate::{BlockStoreState, ExecutionLayer, Last, ScheduleAt, Transaction, VerifyError};

/// How the in-memory execution layer proposes and verifies payloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayloadBehavior {
    /// Proposes random payloads of the given size; accepts every payload.
    Random(usize),
    /// Never proposes (the call waits until cancelled); accepts every payload.
    NeverPropose,
    /// Proposes random payloads; rejects every payload it is asked to verify.
    RejectAll,
}

#[derive(Debug, Default)]
struct State {
    blocks: Vec<Block>,
    replica: Option<ReplicaState>,
}

/// An in-memory [`ExecutionLayer`]. Pre-genesis blocks are valid iff their justification is
/// the Keccak-256 of their payload.
#[derive(Debug)]
pub struct InMemory {
    genesis: Genesis,
    /// Dynamic schedules, by activation block (ascending).
    schedules: Vec<ScheduleAt>,
    payloads: PayloadBehavior,
    persisted: watch::Sender<BlockStoreState>,
    state: Mutex<State>,
    txs: watch::Sender<HashSet<Transaction>>,
}

impl InMemory {
    /// An empty store for `genesis`. Blocks start at `first` (which may be before the genesis'
    /// first block, to hold pre-genesis blocks).
    pub fn new(genesis: Genesis, first: BlockNumber, payloads: PayloadBehavior) -> Self {
        Self {
            genesis,
            schedules: vec![],
            payloads,
            persisted: watch::Sender::new(BlockStoreState::empty(first)),
            state: Mutex::default(),
            txs: watch::Sender::default(),
        }
    }

    /// Adds dynamic schedules (for a genesis without a static one), by activation block.
    pub fn with_schedules(mut self, mut schedules: Vec<ScheduleAt>) -> Self {
        schedules.sort_by_key(|(_, activation)| *activation);
        self.schedules = schedules;
        self
    }

    /// The transactions pushed so far (watchable).
    pub fn txs(&self) -> watch::Receiver<HashSet<Transaction>> {
        self.txs.subscribe()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The valid justification of a pre-genesis block with `payload`.
    pub fn pregenesis_justification(payload: &Payload) -> Vec<u8> {
        Keccak256::new(&payload.0).as_bytes().to_vec()
    }
}

#[async_trait::async_trait]
impl ExecutionLayer for InMemory {
    async fn genesis(&self, _ctx: &ctx::Ctx) -> ctx::Result<Genesis> {
        Ok(self.genesis.clone())
    }

    async fn validator_schedule(
        &self,
        _ctx: &ctx::Ctx,
        number: BlockNumber,
    ) -> ctx::Result<ScheduleAt> {
        match self.schedules.iter().rev().find(|(_, a)| *a <= number) {
            Some(s) => Ok(s.clone()),
            None => Err(anyhow::anyhow!("no schedule active at block {number}").into()),
        }
    }

    async fn pending_validator_schedule(
        &self,
        _ctx: &ctx::Ctx,
        number: BlockNumber,
    ) -> ctx::Result<Option<ScheduleAt>> {
        Ok(self.schedules.iter().find(|(_, a)| *a > number).cloned())
    }

    fn persisted(&self) -> watch::Receiver<BlockStoreState> {
        self.persisted.subscribe()
    }

    async fn block(&self, _ctx: &ctx::Ctx, number: BlockNumber) -> ctx::Result<Block> {
        let first = self.persisted.borrow().first;
        let state = self.state();
        let i = number.0.checked_sub(first.0).map(|i| i as usize);
        match i.and_then(|i| state.blocks.get(i)) {
            Some(b) => Ok(b.clone()),
            None => Err(anyhow::anyhow!("block {number} is not stored").into()),
        }
    }

    async fn queue_next_block(&self, _ctx: &ctx::Ctx, block: Block) -> ctx::Result<()> {
        let next = self.persisted.borrow().next();
        if block.number() < next {
            return Ok(());
        }
        if block.number() > next {
            return Err(
                anyhow::anyhow!("gap: expected block {next}, got {}", block.number()).into(),
            );
        }
        let last = Last::of(&block);
        self.state().blocks.push(block);
        self.persisted.send_modify(|p| p.last = Some(last));
        Ok(())
    }

    async fn verify_pregenesis_block(
        &self,
        _ctx: &ctx::Ctx,
        block: &PreGenesisBlock,
    ) -> Result<(), VerifyError> {
        if block.justification.0 != Self::pregenesis_justification(&block.payload) {
            return Err(VerifyError::Invalid(anyhow::anyhow!("bad justification")));
        }
        Ok(())
    }

    async fn verify_payload(
        &self,
        _ctx: &ctx::Ctx,
        _number: BlockNumber,
        _payload: &Payload,
    ) -> Result<(), VerifyError> {
        match self.payloads {
            PayloadBehavior::RejectAll => Err(VerifyError::Invalid(anyhow::anyhow!(
                "rejecting every payload"
            ))),
            _ => Ok(()),
        }
    }

    async fn propose_payload(&self, ctx: &ctx::Ctx, _number: BlockNumber) -> ctx::Result<Payload> {
        let size = match self.payloads {
            PayloadBehavior::Random(size) => size,
            PayloadBehavior::RejectAll => 100,
            PayloadBehavior::NeverPropose => {
                ctx.canceled().await;
                return Err(ctx::Canceled.into());
            }
        };
        let mut rng = StdRng::seed_from_u64(ctx.rng().random());
        Ok(Payload((0..size).map(|_| rng.random()).collect()))
    }

    async fn state(&self, _ctx: &ctx::Ctx) -> ctx::Result<Option<ReplicaState>> {
        Ok(self.state().replica.clone())
    }

    async fn set_state(&self, _ctx: &ctx::Ctx, state: &ReplicaState) -> ctx::Result<()> {
        self.state().replica = Some(state.clone());
        Ok(())
    }

    async fn push_tx(&self, _ctx: &ctx::Ctx, tx: Transaction) -> ctx::Result<bool> {
        Ok(self.txs.send_if_modified(|txs| txs.insert(tx)))
    }
}
