//! Block sync (scenarios S1/S2 of the benchmark plan, in one process): a fresh full node catches
//! up 10,000 finalized blocks (1 KiB payloads, 6-validator commit certificates) from 1, 2 and 4
//! peers over loopback TCP, real clock, RPC rates unlimited, for fetch windows
//! (`max_block_queue_size`) of 20 (the reference's), 64 (the executor's default) and 256. Each
//! node runs as its own tokio task (as it would in its own process: all of a node's async work
//! is polled by one task), on a runtime of 2 worker threads; certificate checks go to the blocking pool, as in
//! the node. Each figure comes with the CPU time the process spent per block (all nodes, all
//! threads), which other tenants of a shared machine change much less than the wall time, and
//! with what the fresh node's fetcher was doing (sampled every millisecond).
//!
//! Then, to see where the time goes, the parts of one block's trip measured on their own:
//! - get_block calls by a hand-driven client from one peer, 5 in flight, the response bytes
//!   only read (network, Noise, mux, the peer's store and encoding);
//! - the same with the responses decoded (BLS point checks of the certificate included), 5 and
//!   1 in flight;
//! - decoding alone, on one thread;
//! - the fetcher's certificate checks (`BlockStore::verify_blocks`) in batches of 20 and 64, and
//!   two batches of 64 at a time.
//!
//! `cargo bench -p zksync_consensus_network --bench sync` (pass `quick` after `--` for 2,000
//! blocks).
#![allow(clippy::disallowed_methods, clippy::print_stdout, missing_docs)] // A benchmark reads the real clock and prints.

mod common;
use common::{cpu_secs, raw_get_block};

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use rand::{Rng as _, SeedableRng as _, rngs::StdRng};
use zksync_concurrency::{ctx, limiter, net::tcp, scope};
use zksync_consensus_network::{
    Config, Network, RpcConfig, handshake, mux, noise, preface,
    rpc::{self, Client, get_block::GetBlockRpc},
};
use zksync_consensus_roles::{
    node,
    testonly::Setup,
    validator::{Block, BlockHeader, BlockNumber, CommitQC, FinalBlock, Payload, ReplicaCommit},
};
use zksync_consensus_storage::{
    BlockStore, ExecutionLayer as _,
    testonly::{InMemory, PayloadBehavior},
};

const PAYLOAD: usize = 1024;
const MAX_PAYLOAD: usize = 10 * 1024;

/// The chain: `count` blocks with random 1 KiB payloads, each certified by all 6 validators.
/// Signing is the slow part of the setup, so it is split over 2 threads (and the votes are
/// added to the certificates unchecked: they are checked by the syncing node).
fn chain(setup: &Setup, count: u64) -> Vec<Block> {
    let first = setup.genesis.first_block.0;
    let half = count / 2;
    let schedule = setup.schedule();
    let make = |range: std::ops::Range<u64>| {
        let mut rng = StdRng::seed_from_u64(range.start);
        range
            .map(|i| {
                let mut payload = vec![0u8; PAYLOAD];
                rng.fill_bytes(&mut payload);
                let payload = Payload(payload);
                let msg = ReplicaCommit {
                    view: setup.view(first + i),
                    proposal: BlockHeader {
                        number: BlockNumber(first + i),
                        payload: payload.hash(),
                    },
                };
                let mut qc = CommitQC::new(msg.clone(), schedule);
                for k in &setup.keys {
                    let sig = k.sign_msg(msg.clone()).sig;
                    qc.add_verified(schedule.index(&k.public()).unwrap(), &sig)
                        .unwrap();
                }
                Block::Final(FinalBlock {
                    payload,
                    justification: qc,
                })
            })
            .collect::<Vec<_>>()
    };
    std::thread::scope(|s| {
        let a = s.spawn(|| make(0..half));
        let mut b = make(half..count);
        let mut blocks = a.join().unwrap();
        blocks.append(&mut b);
        blocks
    })
}

fn config(rng: &mut StdRng, addr: SocketAddr, window: usize) -> Config {
    let mut cfg = Config::new(
        addr,
        addr.into(),
        node::SecretKey::generate(rng),
        MAX_PAYLOAD,
    );
    cfg.gossip.dynamic_inbound_limit = 10;
    cfg.max_block_queue_size = window;
    cfg.tcp_accept_rate = limiter::Rate::INF;
    cfg.rpc = RpcConfig::unlimited();
    cfg
}

/// A node holding `blocks`, running as its own tokio task until `ctx` is cancelled.
struct Node {
    net: Arc<Network>,
    store: Arc<BlockStore>,
    task: tokio::task::JoinHandle<()>,
}

async fn start(
    ctx: &ctx::Ctx,
    setup: &Setup,
    blocks: &[Block],
    cfg: impl FnOnce(SocketAddr) -> Config,
) -> Node {
    let listener = tcp::listen("127.0.0.1:0".parse().unwrap(), Default::default()).unwrap();
    let addr = listener.local_addr().unwrap();
    let engine = Arc::new(InMemory::new(
        setup.genesis.clone(),
        setup.genesis.first_block,
        PayloadBehavior::Random(PAYLOAD),
    ));
    for b in blocks {
        engine.queue_next_block(ctx, b.clone()).await.unwrap();
    }
    let (store, runner) = BlockStore::new(ctx, engine, Default::default())
        .await
        .unwrap();
    let net = Arc::new(Network::new(cfg(addr), store.clone()).unwrap());
    let task = tokio::spawn({
        let (ctx, net) = (ctx.clone(), net.clone());
        async move {
            let _: ctx::Result<()> = scope::run!(&ctx, |ctx, s| async {
                s.spawn_bg(async { Ok(runner.run(ctx).await?) });
                net.run_with_listener(ctx, listener).await?;
                Ok(())
            })
            .await;
        }
    });
    Node { net, store, task }
}

/// What the fresh node's fetcher was doing, sampled every millisecond.
#[derive(Default)]
struct Samples {
    total: usize,
    /// No get_block call in flight and none wanted: the window is used up by blocks fetched
    /// and waiting for, or under, verification.
    window_used_up: usize,
    in_flight: usize,
    fetched: usize,
}

/// One sync: a fresh node with fetch window `window` dials `peers` nodes holding `blocks`;
/// returns the seconds from its start until the last block is persisted.
async fn sync(setup: &Setup, blocks: &[Block], peers: usize, window: usize) -> (f64, f64, Samples) {
    let (ctx, stop) = ctx::root().with_canceler();
    let ctx = &ctx;
    let rng = &mut StdRng::seed_from_u64(7);
    let mut servers = vec![];
    for _ in 0..peers {
        servers.push(start(ctx, setup, blocks, |a| config(rng, a, window)).await);
    }
    let (started, cpu) = (Instant::now(), cpu_secs());
    let fresh = start(ctx, setup, &[], |a| {
        let mut cfg = config(rng, a, window);
        for s in &servers {
            let c = s.net.config();
            cfg.gossip
                .static_outbound
                .insert(c.node_key.public(), c.server_addr.into());
        }
        cfg
    })
    .await;
    let sampler = tokio::spawn({
        let net = fresh.net.clone();
        let ctx = ctx.clone();
        async move {
            let mut s = Samples::default();
            let mut tick = tokio::time::interval(Duration::from_millis(1));
            while ctx.is_active() {
                tick.tick().await;
                let st = net.gossip.fetcher.status();
                s.total += 1;
                if st.in_flight.is_empty() && st.wanted.is_empty() {
                    s.window_used_up += 1;
                }
                s.in_flight += st.in_flight.len();
                s.fetched += st.fetched.len();
            }
            s
        }
    });
    fresh
        .store
        .wait_until_persisted(ctx, blocks.last().unwrap().number())
        .await
        .unwrap();
    let (secs, cpu) = (started.elapsed().as_secs_f64(), cpu_secs() - cpu);
    stop.cancel();
    for n in servers.into_iter().chain([fresh]) {
        n.task.await.unwrap();
    }
    (secs, cpu, sampler.await.unwrap())
}

/// get_block calls by hand from one peer, `inflight` at a time; with `decode`, through the
/// typed client (responses decoded), else on raw streams (response bytes read, not decoded).
async fn raw_fetch(setup: &Setup, blocks: &[Block], inflight: usize, decode: bool) -> (f64, f64) {
    let (ctx, stop) = ctx::root().with_canceler();
    let ctx = &ctx;
    let rng = &mut StdRng::seed_from_u64(8);
    let server = start(ctx, setup, blocks, |a| config(rng, a, 20)).await;
    let key = node::SecretKey::generate(rng);
    let (peer, addr) = {
        let c = server.net.config();
        (c.node_key.public(), c.server_addr)
    };
    let mut stream = preface::connect(ctx, addr, preface::Endpoint::GossipNet)
        .await
        .unwrap();
    let me = handshake::gossip::Identity {
        key: &key,
        genesis: setup.genesis.hash(),
        build_version: None,
    };
    handshake::gossip::outbound(ctx, &me, &mut stream, &peer, false)
        .await
        .unwrap();
    let client = Client::<GetBlockRpc>::new(limiter::Rate::INF);
    let queue = mux::StreamQueue::new(5, limiter::Rate::INF);
    let mut m = mux::Mux::default();
    if decode {
        client.register(&mut m);
    } else {
        m.accept.insert(4, queue.clone());
    }
    let first = blocks[0].number().0;
    let count = blocks.len() as u64;
    let next = std::sync::atomic::AtomicU64::new(0);
    let secs = scope::run!(ctx, |ctx, s| async {
        s.spawn_bg(run_mux(ctx, m, stream));
        let (started, cpu) = (Instant::now(), cpu_secs());
        let workers: Vec<_> = (0..inflight)
            .map(|_| {
                s.spawn(async {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if i >= count {
                            return Ok(());
                        }
                        let req = rpc::get_block::Req(BlockNumber(first + i));
                        if decode {
                            let resp = client.call(ctx, &req, 2 * MAX_PAYLOAD).await.unwrap();
                            assert!(resp.0.is_some());
                        } else {
                            raw_get_block(ctx, &queue, &req).await;
                        }
                    }
                })
            })
            .collect();
        for w in workers {
            w.join(ctx).await?;
        }
        Ok((started.elapsed().as_secs_f64(), cpu_secs() - cpu))
    })
    .await
    .unwrap();
    stop.cancel();
    server.task.await.unwrap();
    secs
}

async fn run_mux(ctx: &ctx::Ctx, m: mux::Mux, stream: noise::Stream) -> ctx::Result<()> {
    match m.run(ctx, stream).await {
        Err(mux::MuxError::Canceled) => Err(ctx::Canceled.into()),
        Err(e) => Err(anyhow::anyhow!("{e}").into()),
        Ok(()) => Ok(()),
    }
}

/// Decodes every block's get_block response on this thread; returns seconds.
fn decode_all(blocks: &[Block]) -> (f64, f64) {
    let encoded: Vec<Vec<u8>> = blocks
        .iter()
        .map(|b| zksync_protobuf::encode(&rpc::get_block::Resp(Some(b.clone()))))
        .collect();
    let (started, cpu) = (Instant::now(), cpu_secs());
    for e in &encoded {
        let r: rpc::get_block::Resp = zksync_protobuf::decode(e).unwrap();
        assert!(r.0.is_some());
    }
    (started.elapsed().as_secs_f64(), cpu_secs() - cpu)
}

/// Checks all blocks with `BlockStore::verify_blocks` in batches of `batch`, `parallel` batches
/// at a time; returns seconds.
async fn verify_all(setup: &Setup, blocks: &[Block], batch: usize, parallel: usize) -> (f64, f64) {
    let ctx = &ctx::root();
    let node = start(ctx, setup, &[], |a| {
        config(&mut StdRng::seed_from_u64(9), a, 20)
    })
    .await;
    let store = &node.store;
    let (started, cpu) = (Instant::now(), cpu_secs());
    let part = blocks.len().div_ceil(parallel);
    let parts: Vec<_> = blocks
        .chunks(part)
        .map(|blocks| async move {
            for chunk in blocks.chunks(batch) {
                for v in store.verify_blocks(ctx, chunk.to_vec()).await.unwrap() {
                    v.unwrap();
                }
            }
        })
        .collect();
    futures_join_all(parts).await;
    let res = (started.elapsed().as_secs_f64(), cpu_secs() - cpu);
    node.task.abort();
    res
}

/// Runs the futures concurrently (on this task) until all are done.
async fn futures_join_all<F: Future<Output = ()> + Send>(futs: Vec<F>) {
    let ctx = &ctx::root();
    let _: ctx::Result<()> = scope::run!(ctx, |_ctx, s| async {
        for f in futs {
            s.spawn(async {
                f.await;
                Ok(())
            });
        }
        Ok(())
    })
    .await;
}

fn main() {
    let quick = std::env::args().any(|a| a == "quick");
    let count: u64 = if quick { 2_000 } else { 10_000 };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let setup = Setup::new(&mut StdRng::seed_from_u64(1), 6);
    let started = Instant::now();
    let blocks = chain(&setup, count);
    let bytes: usize = blocks
        .iter()
        .map(|b| zksync_protobuf::encode(b).len())
        .sum();
    println!(
        "{count} blocks, {:.0} bytes per block encoded, signed in {:.1} s",
        bytes as f64 / count as f64,
        started.elapsed().as_secs_f64()
    );
    let report = |what: &str, (secs, cpu): (f64, f64)| {
        println!(
            "{what:<44} {:>6.0} blocks/s {:>5.1} MB/s | CPU {:>4.0} us/block, {:.2} cores",
            count as f64 / secs,
            bytes as f64 / secs / 1e6,
            cpu * 1e6 / count as f64,
            cpu / secs,
        );
    };
    rt.block_on(async {
        for peers in [1, 2, 4] {
            for window in [20, 64, 256] {
                let (secs, cpu, s) = sync(&setup, &blocks, peers, window).await;
                report(
                    &format!("sync from {peers} peer(s), window {window}"),
                    (secs, cpu),
                );
                let n = s.total.max(1) as f64;
                println!(
                    "    fetcher: window used up {:.0}% of the time, {:.1} calls in flight, \
                     {:.1} blocks fetched and waiting (averages of {} samples)",
                    100. * s.window_used_up as f64 / n,
                    s.in_flight as f64 / n,
                    s.fetched as f64 / n,
                    s.total,
                );
            }
        }
        // Where the time goes.
        report(
            "get_block by hand, 5 in flight, bytes only",
            raw_fetch(&setup, &blocks, 5, false).await,
        );
        report(
            "get_block by hand, 5 in flight, decoded",
            raw_fetch(&setup, &blocks, 5, true).await,
        );
        report(
            "get_block by hand, 1 in flight, decoded",
            raw_fetch(&setup, &blocks, 1, true).await,
        );
        report("decode only (one thread)", decode_all(&blocks));
        for batch in [20, 64] {
            report(
                &format!("verify_blocks, batches of {batch}"),
                verify_all(&setup, &blocks, batch, 1).await,
            );
        }
        report(
            "verify_blocks, batches of 64, 2 at a time",
            verify_all(&setup, &blocks, 64, 2).await,
        );
    });
    // Let the runtime's blocking threads finish.
    rt.shutdown_timeout(Duration::from_secs(1));
}
