//! A toy sequencer that embeds the consensus layer. Four validators run in this one process,
//! each with its own small key-value execution layer, and they finalize blocks of
//! `set key=value` transactions.
//!
//! Run: `cargo run --release -p zksync_consensus_executor --example toy_sequencer [-- BLOCKS]`
//! (20 blocks by default). Set `RUST_LOG=info` to see the library's logs.
//!
//! The only thing a sequencer must write is [`ToyChain`], an implementation of
//! [`ExecutionLayer`]. Everything else is configuration: one genesis (the chain id and the
//! validator schedule), one [`Config`] per node, and [`Executor::run_with_listener`].
//! Dependencies: `zksync_consensus_{executor,storage,roles}`, `zksync_concurrency`, `tokio`
//! (`watch`, a runtime), `async-trait` (the trait's methods) and `anyhow`.
#![allow(clippy::print_stdout)] // A demo program: printing its progress is the point.

use std::{
    collections::{BTreeMap, HashSet},
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use anyhow::Context as _;
use tokio::sync::watch;
use zksync_concurrency::{ctx, net::tcp, scope, sync, time};
use zksync_consensus_executor::{Config, Executor};
use zksync_consensus_roles::validator::{
    Block, BlockNumber, Payload, PreGenesisBlock, ReplicaState,
};
use zksync_consensus_roles::{node, validator};
use zksync_consensus_storage::{
    BlockStoreState, ExecutionLayer, Last, ScheduleAt, Transaction, VerifyError,
};

const VALIDATORS: usize = 4;
/// Most transactions a leader puts in one block.
const MAX_TXS_PER_BLOCK: usize = 16;

/// The toy chain's state: a key-value map.
type State = BTreeMap<String, String>;

/// Parses one transaction, `set <key>=<value>` (both of ASCII letters, digits and `_`).
fn parse_tx(tx: &str) -> anyhow::Result<(&str, &str)> {
    let word = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    match tx.strip_prefix("set ").and_then(|kv| kv.split_once('=')) {
        Some((key, value)) if word(key) && word(value) => Ok((key, value)),
        _ => anyhow::bail!("{tx:?} is not `set key=value`"),
    }
}

/// Parses a payload: transactions separated by `\n`. An empty payload is an empty block. The
/// encoding is strict (no trailing newline): one list of transactions, one encoding.
fn parse_payload(payload: &Payload) -> anyhow::Result<Vec<&str>> {
    let text = std::str::from_utf8(&payload.0).context("payload is not UTF-8")?;
    let txs: Vec<&str> = text.split('\n').filter(|_| !text.is_empty()).collect();
    anyhow::ensure!(txs.len() <= MAX_TXS_PER_BLOCK, "{} transactions", txs.len());
    for tx in &txs {
        parse_tx(tx)?;
    }
    Ok(txs)
}

/// The execution layer of one node. A real sequencer keeps blocks, state and the replica state
/// in its database; this one keeps them in memory.
#[derive(Debug)]
struct ToyChain {
    genesis: validator::Genesis,
    /// The range of persisted blocks. The consensus layer watches it to learn when a block it
    /// queued is durable.
    persisted: watch::Sender<BlockStoreState>,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Blocks from `genesis.first_block` on, each with the state after executing it.
    blocks: Vec<(Block, State)>,
    /// The bft replica's state (its votes); see `set_state`.
    replica: Option<ReplicaState>,
    /// Transactions not in a block yet, in arrival order.
    mempool: Vec<String>,
    /// Every transaction ever accepted, so that gossip does not bring one back.
    seen: HashSet<String>,
}

impl ToyChain {
    fn new(genesis: validator::Genesis) -> Self {
        let persisted = watch::Sender::new(BlockStoreState::empty(genesis.first_block));
        Self {
            genesis,
            persisted,
            inner: Mutex::default(),
        }
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a transaction (from a user or from a peer) to the mempool. `false` if it is
    /// malformed or was seen before.
    fn add_tx(&self, tx: &[u8]) -> bool {
        let tx = match std::str::from_utf8(tx) {
            Ok(tx) if parse_tx(tx).is_ok() => tx,
            _ => return false,
        };
        let mut inner = self.inner();
        if !inner.seen.insert(tx.into()) {
            return false;
        }
        inner.mempool.push(tx.into());
        true
    }

    /// Persisted block `n` and the state after it.
    fn get(&self, n: BlockNumber) -> Option<(Block, State)> {
        let i = usize::try_from(n.0.checked_sub(self.genesis.first_block.0)?).ok()?;
        self.inner().blocks.get(i).cloned()
    }
}

// Every method gets a ctx: one that waits (on a database, say) must end with `Canceled` when the
// ctx is cancelled. Ours never wait.
#[async_trait::async_trait]
impl ExecutionLayer for ToyChain {
    async fn genesis(&self, _ctx: &ctx::Ctx) -> ctx::Result<validator::Genesis> {
        Ok(self.genesis.clone())
    }

    // These two are called only when the genesis has no static schedule (the chain itself then
    // decides who validates, e.g. through a contract). Ours has one.
    async fn validator_schedule(&self, _: &ctx::Ctx, _: BlockNumber) -> ctx::Result<ScheduleAt> {
        Err(anyhow::anyhow!("the validator schedule is static (in the genesis)").into())
    }
    async fn pending_validator_schedule(
        &self,
        _: &ctx::Ctx,
        _: BlockNumber,
    ) -> ctx::Result<Option<ScheduleAt>> {
        Ok(None)
    }

    fn persisted(&self) -> watch::Receiver<BlockStoreState> {
        self.persisted.subscribe()
    }

    async fn block(&self, _ctx: &ctx::Ctx, number: BlockNumber) -> ctx::Result<Block> {
        let block = self.get(number).map(|(block, _)| block);
        Ok(block.with_context(|| format!("block {number} is not stored"))?)
    }

    /// A finalized block (built by bft, or fetched from a peer by block sync), already verified
    /// against its certificate: execute it, store it, then announce it through `persisted`.
    async fn queue_next_block(&self, _ctx: &ctx::Ctx, block: Block) -> ctx::Result<()> {
        let next = self.persisted.borrow().next();
        if block.number() < next {
            return Ok(()); // Already have it.
        }
        if block.number() > next {
            return Err(anyhow::anyhow!("block {} after a gap", block.number()).into());
        }
        // Consensus finalizes only payloads that a quorum verified, so this does not fail.
        let txs = parse_payload(block.payload()).context("finalized payload is malformed")?;
        let mut inner = self.inner();
        let mut state = inner
            .blocks
            .last()
            .map_or_else(State::new, |(_, s)| s.clone());
        for tx in &txs {
            let (key, value) = parse_tx(tx)?;
            state.insert(key.into(), value.into());
        }
        inner.mempool.retain(|tx| !txs.contains(&tx.as_str()));
        inner.seen.extend(txs.iter().map(|tx| tx.to_string()));
        let last = Last::of(&block);
        inner.blocks.push((block, state));
        drop(inner);
        self.persisted.send_modify(|p| p.last = Some(last));
        Ok(())
    }

    async fn verify_pregenesis_block(
        &self,
        _: &ctx::Ctx,
        _: &PreGenesisBlock,
    ) -> Result<(), VerifyError> {
        // Only for chains that existed before consensus was enabled; this one did not.
        Err(VerifyError::Invalid(anyhow::anyhow!("no pre-genesis")))
    }

    /// Another validator's proposal for block `number` (block `number - 1` is persisted by
    /// then, so a real sequencer can execute it on top of its state). `Invalid`: we do not vote.
    async fn verify_payload(
        &self,
        _: &ctx::Ctx,
        _: BlockNumber,
        payload: &Payload,
    ) -> Result<(), VerifyError> {
        parse_payload(payload).map_err(VerifyError::Invalid)?;
        Ok(())
    }

    /// Our proposal for block `number`, as the view's leader: the oldest mempool transactions.
    /// They leave the mempool only once a block with them is final.
    async fn propose_payload(&self, _: &ctx::Ctx, _: BlockNumber) -> ctx::Result<Payload> {
        let mempool = &self.inner().mempool;
        let txs = &mempool[..mempool.len().min(MAX_TXS_PER_BLOCK)];
        Ok(Payload(txs.join("\n").into_bytes()))
    }

    async fn state(&self, _: &ctx::Ctx) -> ctx::Result<Option<ReplicaState>> {
        Ok(self.inner().replica.clone())
    }

    /// Must be durable before returning (write and fsync): a validator that forgets its votes
    /// in a crash could vote twice in a view after the restart.
    async fn set_state(&self, _: &ctx::Ctx, state: &ReplicaState) -> ctx::Result<()> {
        self.inner().replica = Some(state.clone());
        Ok(())
    }

    /// A transaction gossiped by a peer; `true` makes the node pass it on.
    async fn push_tx(&self, _: &ctx::Ctx, tx: Transaction) -> ctx::Result<bool> {
        Ok(self.add_tx(&tx.0))
    }
}

/// One node: its execution layer and its consensus node.
struct Node {
    chain: Arc<ToyChain>,
    executor: Executor,
}

/// Runs the committee until `blocks` blocks are final on every node; checks they agree.
async fn run(ctx: &ctx::Ctx, blocks: u64) -> anyhow::Result<()> {
    anyhow::ensure!(blocks > 0, "at least one block");
    // Keys and genesis. In a deployment each operator generates its keys (the `keys` tool) and
    // everyone agrees on one genesis with the validators' public keys.
    let rng = &mut ctx.rng();
    let validator_keys: Vec<_> = (0..VALIDATORS)
        .map(|_| validator::SecretKey::generate(rng))
        .collect();
    let validators = validator_keys.iter().map(|key| validator::ValidatorInfo {
        key: key.public(),
        weight: 1,
        leader: true,
    });
    let genesis = validator::Genesis {
        chain_id: validator::ChainId(270),
        fork_number: validator::ForkNumber(0),
        first_block: BlockNumber(0),
        protocol_version: validator::ProtocolVersion::CURRENT,
        validators_schedule: Some(validator::Schedule::new(validators, Default::default())?),
    };

    // The nodes. Each binds its listener first (port 0: any free port), so that it can be
    // dialed at once, and dials every node created before it.
    let mut nodes: Vec<Node> = vec![];
    let mut listeners = vec![];
    for key in validator_keys {
        let listener = tcp::listen(([127, 0, 0, 1], 0).into(), Default::default())?;
        let addr = listener.local_addr()?;
        // Defaults for everything but the identity, the peers and the transaction size.
        let config = Config {
            max_tx_size: 256,
            gossip_dynamic_inbound_limit: VALIDATORS,
            gossip_static_outbound: nodes
                .iter()
                .map(|n| {
                    let peer = n.executor.config();
                    (peer.node_key.public(), peer.server_addr.into())
                })
                .collect(),
            validator_key: Some(key),
            ..Config::new(addr, node::SecretKey::generate(rng), 4096)
        };
        let chain = Arc::new(ToyChain::new(genesis.clone()));
        let executor = Executor::new(config, chain.clone());
        nodes.push(Node { chain, executor });
        listeners.push(listener);
    }

    // Structured concurrency: every task lives in this scope, and returning from it cancels
    // (stops) the nodes. A deadline turns a stuck run into an error.
    let ctx = &ctx.with_timeout(time::Duration::from_secs(30 + 2 * blocks));
    let last = BlockNumber(genesis.first_block.0 + blocks - 1);
    scope::run!(ctx, |ctx, s| async {
        for (node, listener) in nodes.iter().zip(listeners) {
            s.spawn_bg(node.executor.run_with_listener(ctx, listener));
        }
        // A "user" sending transactions to the nodes in turn. The node takes one into its
        // mempool and gossips it, so that every leader can include it.
        s.spawn_bg(async {
            for node in &nodes {
                // `broadcast_tx` sends nothing before the node runs.
                node.executor.wait_running(ctx).await?;
            }
            for i in 0.. {
                let node = &nodes[i % nodes.len()];
                let tx = format!("set account{}={i}", i % 10);
                if node.chain.add_tx(tx.as_bytes()) {
                    node.executor.broadcast_tx(Transaction(tx.into_bytes()));
                }
                ctx.sleep(time::Duration::from_millis(20)).await?;
            }
            Ok(())
        });
        // Progress: wait for each block on every node.
        for n in genesis.first_block.0..=last.0 {
            let n = BlockNumber(n);
            for (i, node) in nodes.iter().enumerate() {
                let mut persisted = node.chain.persisted();
                sync::wait_for(ctx, &mut persisted, |p| p.contains(n))
                    .await
                    .with_context(|| format!("waiting for block {n} on node {i}"))?;
            }
            let (block, state) = nodes[0].chain.get(n).context("block")?;
            let txs = parse_payload(block.payload())?.len();
            println!(
                "block {n:>3} final on all {VALIDATORS} nodes: {txs:>2} txs, {} keys",
                state.len()
            );
        }
        anyhow::Ok(())
    })
    .await?;

    // Every node holds the same block and the same state at `last`. (Their certificates may
    // differ: any quorum of signatures finalizes a block.)
    let (block0, state0) = nodes[0].chain.get(last).context("block")?;
    println!("\nstate after block {last}:");
    for (key, value) in &state0 {
        println!("  {key} = {value}");
    }
    for (i, node) in nodes.iter().enumerate() {
        let (block, state) = node.chain.get(last).context("block")?;
        let Block::Final(block) = block else {
            anyhow::bail!("not a final block")
        };
        println!("node {i}: block {last}: {:?}", block.header().payload);
        anyhow::ensure!(
            block.payload == *block0.payload() && state == state0,
            "node {i} differs"
        );
    }
    println!("all {VALIDATORS} nodes agree");
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let blocks = match std::env::args().nth(1) {
        Some(arg) => arg.parse().context("usage: toy_sequencer [BLOCKS]")?,
        None => 20,
    };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    tokio::runtime::Runtime::new()?.block_on(run(&ctx::root(), blocks))
}

#[test]
fn four_validators_finalize_the_same_blocks() {
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(run(&ctx::root(), 3))
        .unwrap();
}

#[test]
fn malformed_payloads_are_rejected() {
    assert!(parse_payload(&Payload(b"set a=1\nset b_2=x".to_vec())).is_ok());
    for bad in [
        &b"set a=1\n"[..],
        b"set a=",
        b"del a",
        b"set a b=1",
        b"\xff",
    ] {
        assert!(parse_payload(&Payload(bad.to_vec())).is_err(), "{bad:?}");
    }
}
