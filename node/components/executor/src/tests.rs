//! Nodes over loopback TCP in one process. The clock is real (connections, redials and view
//! timeouts run as in production), but every wait is for an event (a block persisted), never
//! a sleep; a wall-clock guard aborts a hung test.

use std::{future::Future, net::SocketAddr, sync::Arc};

use rand::{SeedableRng as _, rngs::StdRng};
use zksync_concurrency::{ctx, scope, sync, testonly, time};
use zksync_consensus_roles::{
    node,
    testonly::Setup,
    validator::{self, BlockNumber, Genesis},
};
use zksync_consensus_storage::{
    ExecutionLayer as _, Transaction,
    testonly::{InMemory, PayloadBehavior},
};

use crate::{Config, Executor, Tuning};

fn run<F, Fut>(seed: u64, f: F)
where
    F: FnOnce(ctx::Ctx, StdRng) -> Fut,
    Fut: Future<Output = ctx::Result<()>>,
{
    testonly::abort_on_panic();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let _guard = testonly::set_timeout(std::time::Duration::from_secs(120));
    let ctx = ctx::test_root(ctx::Clock::Real, seed);
    let rng = StdRng::seed_from_u64(seed);
    if let Err(err) = testonly::runtime().block_on(f(ctx, rng)) {
        panic!("test failed: {err:#}");
    }
}

/// `n` distinct free loopback addresses (listeners held until all are chosen).
fn free_addrs(n: usize) -> Vec<SocketAddr> {
    let listeners: Vec<_> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    listeners.iter().map(|l| l.local_addr().unwrap()).collect()
}

/// A node under test.
struct TestNode {
    engine: Arc<InMemory>,
    config: Config,
}

impl TestNode {
    fn executor(&self) -> Executor {
        Executor::new(self.config.clone(), self.engine.clone())
    }

    async fn wait_for(&self, ctx: &ctx::Ctx, n: BlockNumber) -> ctx::Result<()> {
        let mut sub = self.engine.persisted();
        sync::wait_for(ctx, &mut sub, |s| s.contains(n)).await?;
        Ok(())
    }
}

/// Nodes of `genesis` (one per key; `None` = full node), each dialing every earlier node.
fn nodes(
    rng: &mut StdRng,
    genesis: &Genesis,
    engine: impl Fn() -> InMemory,
    keys: &[Option<validator::SecretKey>],
) -> Vec<TestNode> {
    let mut out: Vec<TestNode> = vec![];
    for (key, addr) in keys.iter().zip(free_addrs(keys.len())) {
        let mut config = Config {
            build_version: None,
            server_addr: addr,
            public_addr: addr.into(),
            max_payload_size: 1000,
            max_tx_size: 1000,
            view_timeout: time::Duration::from_secs(2),
            gossip_dynamic_inbound_limit: 100,
            gossip_static_inbound: Default::default(),
            gossip_static_outbound: Default::default(),
            rpc: Default::default(),
            node_key: node::SecretKey::generate(rng),
            validator_key: key.clone(),
            debug_page: None,
            tuning: Tuning {
                connect_retry: time::Duration::from_millis(500),
                ..Tuning::default()
            },
        };
        config.tuning.block_store.schedule_poll_interval = time::Duration::from_millis(50);
        for n in &out {
            config
                .gossip_static_outbound
                .insert(n.config.node_key.public(), n.config.server_addr.into());
        }
        let _ = genesis;
        out.push(TestNode {
            engine: Arc::new(engine()),
            config,
        });
    }
    out
}

fn in_memory(genesis: &Genesis) -> impl Fn() -> InMemory + '_ {
    || {
        InMemory::new(
            genesis.clone(),
            genesis.first_block,
            PayloadBehavior::Random(100),
        )
    }
}

/// Runs `nodes` until each has block `n`; then checks they hold the same blocks.
async fn run_until(ctx: &ctx::Ctx, nodes: &[TestNode], n: BlockNumber) -> ctx::Result<()> {
    let executors: Vec<Executor> = nodes.iter().map(TestNode::executor).collect();
    scope::run!(ctx, |ctx, s| async {
        for e in &executors {
            s.spawn_bg(async { e.run(ctx).await.map_err(ctx::Error::Internal) });
        }
        for node in nodes {
            node.wait_for(ctx, n).await?;
        }
        Ok(())
    })
    .await?;
    assert_same_blocks(ctx, nodes, n).await
}

async fn assert_same_blocks(ctx: &ctx::Ctx, nodes: &[TestNode], n: BlockNumber) -> ctx::Result<()> {
    // Each node may hold another certificate (another quorum of signers) for a block; the
    // blocks themselves (header and payload) must be the same.
    let content = |b: validator::Block| match b {
        validator::Block::Final(b) => (b.justification.message.proposal, b.payload),
        validator::Block::PreGenesis(b) => panic!("unexpected pre-genesis block {b:?}"),
    };
    let first = nodes[0].engine.persisted().borrow().first;
    for i in first.0..=n.0 {
        let want = content(nodes[0].engine.block(ctx, BlockNumber(i)).await?);
        for node in &nodes[1..] {
            let got = content(node.engine.block(ctx, BlockNumber(i)).await?);
            assert_eq!(got, want, "block {i}");
        }
    }
    Ok(())
}

fn validators(setup: &Setup) -> Vec<Option<validator::SecretKey>> {
    setup.keys.iter().cloned().map(Some).collect()
}

#[test]
fn single_validator() {
    run(1, |ctx, mut rng| async move {
        let setup = Setup::new(&mut rng, 1);
        let nodes = nodes(
            &mut rng,
            &setup.genesis,
            in_memory(&setup.genesis),
            &validators(&setup),
        );
        let want = BlockNumber(setup.genesis.first_block.0 + 10);
        run_until(&ctx, &nodes, want).await
    });
}

/// `Executor::broadcast_tx` sends nothing before the node runs, and once it runs the
/// transaction reaches a peer's execution layer (here a full node synced from the validator).
/// `Executor::wait_running` returns once the node has started.
#[test]
fn broadcast_tx_reaches_peers_once_running() {
    run(9, |ctx, mut rng| async move {
        let setup = Setup::new(&mut rng, 1);
        let nodes = nodes(
            &mut rng,
            &setup.genesis,
            in_memory(&setup.genesis),
            &[Some(setup.keys[0].clone()), None],
        );
        let executors: Vec<Executor> = nodes.iter().map(TestNode::executor).collect();
        let tx = Transaction(b"a transaction".to_vec());
        assert!(!executors[0].broadcast_tx(tx.clone()), "not running yet");
        // Waiting for a node that is not started ends only with the ctx.
        let (short, cancel) = ctx.with_canceler();
        cancel.cancel();
        assert!(executors[0].wait_running(&short).await.is_err());
        scope::run!(&ctx, |ctx, s| async {
            // A wait begun before the start (it may first run after it: the signal serves both).
            let waiting = s.spawn(async { Ok(executors[0].wait_running(ctx).await.is_ok()) });
            for e in &executors {
                s.spawn_bg(async { e.run(ctx).await.map_err(ctx::Error::Internal) });
            }
            assert!(waiting.join(ctx).await?);
            assert!(executors[0].running().is_some());
            // The full node syncs a block from the validator: they are connected.
            nodes[1].wait_for(ctx, setup.genesis.first_block).await?;
            assert!(executors[0].broadcast_tx(tx.clone()));
            sync::wait_for(ctx, &mut nodes[1].engine.txs(), |t| t.contains(&tx)).await?;
            Ok(())
        })
        .await
    });
}

/// `Config::new` gives a valid configuration with the documented defaults; a bad value is
/// still refused, naming its field.
#[test]
fn config_new_is_valid_with_defaults() {
    let mut rng = StdRng::seed_from_u64(3);
    let addr: SocketAddr = "127.0.0.1:3054".parse().unwrap();
    let cfg = Config::new(addr, node::SecretKey::generate(&mut rng), 1000);
    cfg.validate().unwrap();
    assert_eq!(cfg.public_addr, addr.into());
    assert!(cfg.validator_key.is_none());
    assert!(cfg.gossip_static_outbound.is_empty());
    assert_eq!(cfg.view_timeout, time::Duration::from_secs(2));
    assert_eq!(cfg.max_payload_size, 1000);
    let zero = Config::new(
        "127.0.0.1:0".parse().unwrap(),
        node::SecretKey::generate(&mut rng),
        1000,
    );
    assert_eq!(zero.validate().unwrap_err().field, "server_addr");
}

#[test]
fn four_validators() {
    run(2, |ctx, mut rng| async move {
        let setup = Setup::new(&mut rng, 4);
        let nodes = nodes(
            &mut rng,
            &setup.genesis,
            in_memory(&setup.genesis),
            &validators(&setup),
        );
        let want = BlockNumber(setup.genesis.first_block.0 + 10);
        run_until(&ctx, &nodes, want).await
    });
}

#[test]
fn six_validators_with_an_inactive_validator_and_a_full_node() {
    run(3, |ctx, mut rng| async move {
        let setup = Setup::new(&mut rng, 6);
        let mut keys = validators(&setup);
        // A validator key outside the schedule, and a node without a key: both follow.
        keys.push(Some(validator::SecretKey::generate(&mut rng)));
        keys.push(None);
        let nodes = nodes(&mut rng, &setup.genesis, in_memory(&setup.genesis), &keys);
        let want = BlockNumber(setup.genesis.first_block.0 + 10);
        run_until(&ctx, &nodes, want).await
    });
}

#[test]
fn lagging_validator_syncs_from_a_full_node() {
    run(4, |ctx, mut rng| async move {
        let ctx = &ctx;
        let setup = Setup::new(&mut rng, 6);
        // Five validators (a quorum) and a full node first; the sixth validator later, connected
        // only to the full node.
        let mut keys = validators(&setup);
        let late_key = keys.pop().unwrap();
        keys.push(None);
        let mut nodes = nodes(&mut rng, &setup.genesis, in_memory(&setup.genesis), &keys);
        let full = &nodes[5];
        let mut late = self::nodes(
            &mut rng,
            &setup.genesis,
            in_memory(&setup.genesis),
            &[late_key],
        )
        .pop()
        .unwrap();
        late.config.gossip_static_outbound = [(
            full.config.node_key.public(),
            full.config.server_addr.into(),
        )]
        .into();
        let first = setup.genesis.first_block;
        let executors: Vec<Executor> = nodes.iter().map(TestNode::executor).collect();
        scope::run!(ctx, |ctx, s| async {
            for e in &executors {
                s.spawn_bg(async { e.run(ctx).await.map_err(ctx::Error::Internal) });
            }
            nodes[5].wait_for(ctx, BlockNumber(first.0 + 10)).await?;
            let late_exec = late.executor();
            s.spawn_bg(async move { late_exec.run(ctx).await.map_err(ctx::Error::Internal) });
            late.wait_for(ctx, BlockNumber(first.0 + 20)).await?;
            Ok(())
        })
        .await?;
        nodes.push(late);
        assert_same_blocks(ctx, &nodes, BlockNumber(first.0 + 20)).await
    });
}

#[test]
fn validators_rotate_across_dynamic_epochs() {
    run(5, |ctx, mut rng| async move {
        let (s0, s1) = (Setup::new(&mut rng, 4), Setup::new(&mut rng, 4));
        let mut genesis = s0.genesis.clone();
        genesis.validators_schedule = None;
        let first = genesis.first_block;
        let switch = BlockNumber(first.0 + 5);
        let schedules = vec![
            (s0.schedule().clone(), first),
            (s1.schedule().clone(), switch),
        ];
        let engine = || {
            InMemory::new(genesis.clone(), first, PayloadBehavior::Random(100))
                .with_schedules(schedules.clone())
        };
        // The old validators, the new ones and a full node.
        let mut keys = validators(&s0);
        keys.extend(validators(&s1));
        keys.push(None);
        let nodes = nodes(&mut rng, &genesis, engine, &keys);
        run_until(&ctx, &nodes, BlockNumber(switch.0 + 10)).await?;
        // Blocks of the second epoch are certified by the new validators.
        let b = nodes[0]
            .engine
            .block(&ctx, BlockNumber(switch.0 + 1))
            .await?;
        let validator::Block::Final(b) = b else {
            panic!("final block expected")
        };
        assert_eq!(b.justification.view().epoch, validator::EpochNumber(1));
        Ok(())
    });
}

#[test]
fn validator_restarts_from_its_store() {
    run(6, |ctx, mut rng| async move {
        let ctx = &ctx;
        let setup = Setup::new(&mut rng, 4);
        let nodes = nodes(
            &mut rng,
            &setup.genesis,
            in_memory(&setup.genesis),
            &validators(&setup),
        );
        let first = setup.genesis.first_block;
        let executors: Vec<Executor> = nodes.iter().map(TestNode::executor).collect();
        scope::run!(ctx, |ctx, s| async {
            for e in &executors[1..] {
                s.spawn_bg(async { e.run(ctx).await.map_err(ctx::Error::Internal) });
            }
            // Node 0 runs, stops mid-run (its replica state and blocks stay in its store),
            // then starts again; with all 4 validators needed for a quorum, the chain only
            // advances past the stop if it really came back.
            let (stop_ctx, stop) = ctx.with_canceler();
            let node0 = &executors[0];
            let first_run =
                s.spawn(async move { node0.run(&stop_ctx).await.map_err(ctx::Error::Internal) });
            nodes[0].wait_for(ctx, BlockNumber(first.0 + 5)).await?;
            stop.cancel();
            first_run.join(ctx).await?;
            let head = nodes[0].engine.persisted().borrow().head().unwrap();
            s.spawn_bg(async { executors[0].run(ctx).await.map_err(ctx::Error::Internal) });
            for node in &nodes {
                node.wait_for(ctx, BlockNumber(head.0 + 5)).await?;
            }
            Ok(())
        })
        .await?;
        assert_same_blocks(ctx, &nodes, BlockNumber(first.0 + 10)).await
    });
}
