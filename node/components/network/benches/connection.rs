//! Throughput of one connection (issue #6): RPC round trips per second with small messages, and
//! MiB/s of 1 MiB blocks, over real loopback TCP through the whole stack: TCP, the connection
//! preface, Noise (ChaChaPoly), the mux and the RPC layer, real clock, rates unlimited
//! (`limiter::Rate::INF`).
//!
//! - ping: a hand-driven server (preface, Noise, mux, the ping RPC's `Server` with
//!   `rpc::ping::Server`, rate unlimited; the node's own ping server keeps the protocol's rate of
//!   2 per second) and a typed `Client<PingRpc>`; 1 call in flight, the RPC's maximum.
//! - get_block: a server [`Network`] node (gossip endpoint, handshake included before the timer)
//!   holding a chain of one validator's blocks with 32-byte and with 1 MiB random payloads (in
//!   an in-memory store: each call clones the block and encodes it); a hand-driven client asks
//!   for them on one connection, 1 call or 5 (the RPC's maximum) in flight. "bytes" rows read
//!   the response bytes without decoding them (request, the peer's store and encoding, Noise,
//!   mux, both ends); the "decoded" row goes through `Client<GetBlockRpc>`, which decodes the
//!   block (the aggregate signature's point checks included). No row verifies certificates.
//!
//! Each side of the connection is its own tokio task (as in a node, all of a side's work is
//! polled by one task), on a runtime of 2 worker threads. Every row runs 3 times (the rows
//! interleaved, a fresh connection each time, set up before the timer); the table gives the
//! median and the range. "µs per call" is wall time over calls: the round trip with 1 call in
//! flight, the inverse of the throughput with more. "CPU" is the process's CPU time (both
//! sides, all threads, from `/proc/self/stat`) per call. MiB/s count the get_block response
//! bodies (MiB = 1024 * 1024 bytes), not the mux and Noise framing.
//!
//! `cargo bench -p zksync_consensus_network --bench connection` (pass words after `--` to run
//! only the rows whose name contains one of them, e.g. `-- 1MiB`).
#![allow(clippy::disallowed_methods, clippy::print_stdout, missing_docs)] // A benchmark reads the real clock and prints.

mod common;
use common::{cpu_secs, raw_get_block};

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Context as _;
use rand::{Rng as _, SeedableRng as _, rngs::StdRng};
use zksync_concurrency::{ctx, limiter, net::tcp, scope};
use zksync_consensus_network::{
    Config, Network, RpcConfig, handshake, mux, preface,
    rpc::{
        Client, Rpc as _, Server,
        get_block::{self, GetBlockRpc},
        ping::{self, PingRpc},
    },
};
use zksync_consensus_roles::{
    node,
    testonly::Setup,
    validator::{Block, BlockNumber, GenesisHash, Payload},
};
use zksync_consensus_storage::{
    BlockStore, ExecutionLayer as _,
    testonly::{InMemory, PayloadBehavior},
};

const SMALL: usize = 32;
const LARGE: usize = 1 << 20;
const MIB: f64 = (1 << 20) as f64;
/// Distinct blocks of each size in the server's store (fetched round robin).
const N_SMALL: u64 = 1_000;
const N_LARGE: u64 = 16;
const RUNS: usize = 3;

#[derive(Clone, Copy)]
enum Work {
    Ping,
    GetBlock {
        large: bool,
        inflight: usize,
        decode: bool,
    },
}

/// What the client connects to.
struct Target {
    ping_addr: SocketAddr,
    node_addr: SocketAddr,
    node_key: node::PublicKey,
    genesis: GenesisHash,
    first: BlockNumber,
    /// The get_block response body of each block, in bytes.
    sizes: Vec<usize>,
}

/// One timed run: wall seconds, CPU seconds, response bytes.
#[derive(Clone, Copy)]
struct Run {
    secs: f64,
    cpu: f64,
    bytes: u64,
}

/// A chain of `setup` (one validator): `N_SMALL` blocks with small payloads, then `N_LARGE`
/// with 1 MiB payloads.
fn chain(setup: &Setup) -> Vec<Block> {
    let rng = &mut StdRng::seed_from_u64(2);
    let first = setup.genesis.first_block.0;
    (0..N_SMALL + N_LARGE)
        .map(|i| {
            let mut payload = vec![0u8; if i < N_SMALL { SMALL } else { LARGE }];
            rng.fill_bytes(&mut payload);
            Block::Final(setup.final_block(BlockNumber(first + i), Payload(payload)))
        })
        .collect()
}

/// Runs a node holding `blocks` on its own tokio task, forever; returns its address and key.
async fn start_node(setup: &Setup, blocks: Vec<Block>) -> (SocketAddr, node::PublicKey) {
    let ctx = &ctx::root();
    let listener = tcp::listen("127.0.0.1:0".parse().unwrap(), Default::default()).unwrap();
    let addr = listener.local_addr().unwrap();
    let engine = Arc::new(InMemory::new(
        setup.genesis.clone(),
        setup.genesis.first_block,
        PayloadBehavior::Random(SMALL),
    ));
    for b in blocks {
        engine.queue_next_block(ctx, b).await.unwrap();
    }
    let (store, runner) = BlockStore::new(ctx, engine, Default::default())
        .await
        .unwrap();
    let rng = &mut StdRng::seed_from_u64(3);
    let mut cfg = Config::new(addr, addr.into(), node::SecretKey::generate(rng), LARGE);
    cfg.gossip.dynamic_inbound_limit = 100;
    cfg.ping_timeout = None; // The bench's client does not serve pings.
    cfg.tcp_accept_rate = limiter::Rate::INF;
    cfg.rpc = RpcConfig {
        get_block_timeout: None,
        ..RpcConfig::unlimited()
    };
    let key = cfg.node_key.public();
    let net = Network::new(cfg, store).unwrap();
    tokio::spawn(async move {
        let ctx = &ctx::root();
        let _: ctx::Result<()> = scope::run!(ctx, |ctx, s| async {
            s.spawn_bg(async { Ok(runner.run(ctx).await?) });
            net.run_with_listener(ctx, listener).await?;
            Ok(())
        })
        .await;
    });
    (addr, key)
}

/// Serves pings (rate unlimited) on every connection to `listener`, forever.
async fn ping_server(mut listener: tcp::Listener) {
    let ctx = &ctx::root();
    let _: ctx::Result<()> = scope::run!(ctx, |ctx, s| async {
        loop {
            let (tcp, _) = listener.accept(ctx).await?.context("accept")?;
            s.spawn_bg(async {
                let Ok((stream, _)) = preface::accept(ctx, tcp).await else {
                    return Ok(());
                };
                let server = Server::new(ping::Server, limiter::Rate::INF);
                let mut m = mux::Mux::default();
                server.register(&mut m);
                scope::run!(ctx, |ctx, s| async {
                    s.spawn_bg(async { Ok(server.run(ctx).await?) });
                    // Ends when the client closes the connection.
                    let _ = m.run(ctx, stream).await;
                    Ok(())
                })
                .await
            });
        }
    })
    .await;
}

/// Connects to `t` and makes `calls` calls of `work`; returns the timed part.
async fn measure(t: Arc<Target>, work: Work, calls: u64) -> Run {
    let ctx = &ctx::root();
    let mut m = mux::Mux::default();
    let ping = Client::<PingRpc>::new(limiter::Rate::INF);
    let typed = Client::<GetBlockRpc>::new(limiter::Rate::INF);
    let raw = mux::StreamQueue::new(GetBlockRpc::INFLIGHT, limiter::Rate::INF);
    let (stream, inflight, first) = match work {
        Work::Ping => {
            ping.register(&mut m);
            let s = preface::connect(ctx, t.ping_addr, preface::Endpoint::GossipNet).await;
            (s.unwrap(), 1, 0)
        }
        Work::GetBlock {
            large,
            inflight,
            decode,
        } => {
            if decode {
                typed.register(&mut m);
            } else {
                m.accept.insert(GetBlockRpc::CAPABILITY, raw.clone());
            }
            let ep = preface::Endpoint::GossipNet;
            let mut s = preface::connect(ctx, t.node_addr, ep).await.unwrap();
            let key = node::SecretKey::generate(&mut ctx.rng());
            let me = handshake::gossip::Identity {
                key: &key,
                genesis: t.genesis,
                build_version: None,
            };
            handshake::gossip::outbound(ctx, &me, &mut s, &t.node_key, false)
                .await
                .unwrap();
            (s, inflight, t.first.0 + if large { N_SMALL } else { 0 })
        }
    };
    let (next, bytes) = (AtomicU64::new(0), AtomicU64::new(0));
    let (next, bytes, raw, t) = (&next, &bytes, &raw, &*t);
    let (ping, typed) = (&ping, &typed);
    let res: ctx::Result<Run> = scope::run!(ctx, |ctx, s| async {
        s.spawn_bg(async {
            match m.run(ctx, stream).await {
                Ok(()) | Err(mux::MuxError::Canceled) => Ok(()),
                Err(e) => Err(ctx::Error::Internal(anyhow::anyhow!("mux: {e}"))),
            }
        });
        let (started, cpu) = (Instant::now(), cpu_secs());
        let workers: Vec<_> = (0..inflight)
            .map(|_| {
                s.spawn(async move {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= calls {
                            return Ok(());
                        }
                        let n = match work {
                            Work::Ping => {
                                let mut data = [0u8; 32];
                                ctx.rng().fill_bytes(&mut data);
                                let r = ping.call(ctx, &ping::Req(data), ping::MAX_SIZE).await;
                                assert_eq!(r.unwrap().0, data);
                                32
                            }
                            Work::GetBlock { large, decode, .. } => {
                                let count = if large { N_LARGE } else { N_SMALL };
                                let req = get_block::Req(BlockNumber(first + i % count));
                                if decode {
                                    let max = get_block::max_resp_size(LARGE + 1024);
                                    let resp = typed.call(ctx, &req, max).await.unwrap();
                                    assert!(resp.0.is_some(), "block not served");
                                    t.sizes[(i % count + first - t.first.0) as usize]
                                } else {
                                    raw_get_block(ctx, raw, &req).await
                                }
                            }
                        };
                        bytes.fetch_add(n as u64, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for w in workers {
            w.join(ctx).await?;
        }
        Ok(Run {
            secs: started.elapsed().as_secs_f64(),
            cpu: cpu_secs() - cpu,
            bytes: bytes.load(Ordering::Relaxed),
        })
    })
    .await;
    res.unwrap()
}

fn median_range(mut xs: Vec<f64>) -> (f64, f64, f64) {
    xs.sort_by(f64::total_cmp);
    (xs[xs.len() / 2], xs[0], xs[xs.len() - 1])
}

fn main() {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let setup = Setup::new(&mut StdRng::seed_from_u64(1), 1);
    let blocks = chain(&setup);
    let sizes: Vec<usize> = blocks
        .iter()
        .map(|b| zksync_protobuf::encode(&get_block::Resp(Some(b.clone()))).len())
        .collect();
    println!(
        "get_block response bodies: {} bytes (small), {} bytes (1 MiB payload)",
        sizes[0], sizes[N_SMALL as usize]
    );
    let gb = |name, large, inflight, decode, calls| {
        let work = Work::GetBlock {
            large,
            inflight,
            decode,
        };
        (name, work, calls)
    };
    let rows: Vec<(&str, Work, u64)> = vec![
        ("ping, 1 in flight", Work::Ping, 10_000),
        gb(
            "get_block small, 1 in flight, bytes",
            false,
            1,
            false,
            10_000,
        ),
        gb(
            "get_block small, 5 in flight, bytes",
            false,
            5,
            false,
            20_000,
        ),
        gb("get_block 1MiB, 1 in flight, bytes", true, 1, false, 300),
        gb("get_block 1MiB, 5 in flight, bytes", true, 5, false, 300),
        gb("get_block 1MiB, 5 in flight, decoded", true, 5, true, 300),
    ];
    let rows: Vec<_> = rows
        .into_iter()
        .filter(|(name, ..)| filters.is_empty() || filters.iter().any(|f| name.contains(f)))
        .collect();
    let target = rt.block_on(async {
        let listener = tcp::listen("127.0.0.1:0".parse().unwrap(), Default::default()).unwrap();
        let ping_addr = listener.local_addr().unwrap();
        tokio::spawn(ping_server(listener));
        let (node_addr, node_key) = start_node(&setup, blocks.clone()).await;
        Arc::new(Target {
            ping_addr,
            node_addr,
            node_key,
            genesis: setup.genesis.hash(),
            first: setup.genesis.first_block,
            sizes,
        })
    });
    drop(blocks);
    let mut runs: Vec<Vec<Run>> = vec![vec![]; rows.len()];
    for _ in 0..RUNS {
        for (i, (_, work, calls)) in rows.iter().enumerate() {
            let run = rt.spawn(measure(target.clone(), *work, *calls));
            runs[i].push(rt.block_on(run).unwrap());
        }
    }
    println!();
    println!(
        "| Row | Calls per run | Calls/s, median (range) | µs per call | MiB/s, median (range) \
         | CPU per call | Cores | Calls/s (cores) of each run |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for ((name, work, calls), runs) in rows.iter().zip(&runs) {
        let n = *calls as f64;
        let rate = median_range(runs.iter().map(|r| n / r.secs).collect());
        let mib = median_range(runs.iter().map(|r| r.bytes as f64 / MIB / r.secs).collect());
        let mib = match work {
            Work::Ping => "-".to_string(),
            _ => format!("{:.1} ({:.1}-{:.1})", mib.0, mib.1, mib.2),
        };
        let cpu = median_range(runs.iter().map(|r| r.cpu * 1e6 / n).collect()).0;
        let cores = median_range(runs.iter().map(|r| r.cpu / r.secs).collect()).0;
        let each: Vec<String> = runs
            .iter()
            .map(|r| format!("{:.0} ({:.2})", n / r.secs, r.cpu / r.secs))
            .collect();
        println!(
            "| {name} | {calls} | {:.0} ({:.0}-{:.0}) | {:.1} | {mib} | {cpu:.0} µs | {cores:.2} | {} |",
            rate.0,
            rate.1,
            rate.2,
            1e6 / rate.0,
            each.join(", "),
        );
    }
    rt.shutdown_timeout(Duration::from_secs(1));
}
