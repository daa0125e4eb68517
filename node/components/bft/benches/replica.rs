//! Replica throughput and memory (the bft simulation benchmark of the plan): n replicas over a
//! simulated network with zero delay and real BLS signatures, single-threaded, so the wall time
//! of the run is the CPU time of all replicas on one core.
//!
//! `cargo bench -p zksync_consensus_bft --bench replica` prints, for n = 6, 11, 51, 101 and
//! both vote checks, the blocks finalized per second per core and the CPU time per block per
//! replica, then the memory test. Pass `quick` after `--` for fewer blocks, `memory` for the
//! memory test only.
#![allow(clippy::disallowed_methods, clippy::print_stdout, missing_docs)] // A benchmark reads the real clock and prints.

use std::{collections::VecDeque, sync::Arc, time::Instant};

use rand::{Rng as _, SeedableRng as _, rngs::StdRng};
use zksync_consensus_bft::{
    VoteCheck,
    core::{Bls, Input, Output, Params, Replica},
};
use zksync_consensus_roles::{
    testonly::Setup,
    validator::{
        BlockHeader, BlockNumber, ConsensusMsg, EpochNumber, Payload, ReplicaCommit, ViewNumber,
    },
};

fn params(setup: &Setup, vote_check: VoteCheck) -> Params {
    Params {
        genesis: setup.genesis_hash(),
        epoch: EpochNumber(0),
        schedule: Arc::new(setup.schedule().clone()),
        first_block: setup.genesis.first_block,
        max_payload_size: 1 << 20,
        vote_check,
        senders_authenticated: false,
    }
}

/// Runs until replica 0 has finalized `blocks` blocks after its first one; returns the seconds
/// taken from the first block on (the start, where every replica checks every other's view-0
/// timeout, is not steady state).
fn run(n: usize, check: VoteCheck, blocks: u64) -> f64 {
    let rng = &mut StdRng::seed_from_u64(n as u64);
    let setup = Setup::new(rng, n);
    let first = setup.genesis.first_block;
    let params = params(&setup, check);
    let mut replicas: Vec<Replica> = setup
        .keys
        .iter()
        .map(|k| Replica::new(params.clone(), k.clone(), Arc::new(Bls), None).unwrap())
        .collect();
    let mut queue: VecDeque<(usize, Input)> = VecDeque::new();
    for i in 0..n {
        queue.push_back((
            i,
            Input::Store {
                first,
                persisted_next: first,
            },
        ));
        queue.push_back((i, Input::Start));
    }
    let mut finalized = 0;
    let mut start = Instant::now();
    while let Some((i, input)) = queue.pop_front() {
        let Ok(outputs) = replicas[i].handle(input) else {
            continue;
        };
        for out in outputs {
            match out {
                Output::Broadcast(m) => {
                    for j in 0..n {
                        queue.push_back((j, Input::Message(m.clone())));
                    }
                }
                Output::QueueBlock(b) => {
                    if i == 0 {
                        if finalized == 0 {
                            start = Instant::now();
                        }
                        if finalized == blocks {
                            return start.elapsed().as_secs_f64();
                        }
                        finalized += 1;
                    }
                    let next = b.number().next();
                    queue.push_back((
                        i,
                        Input::Store {
                            first,
                            persisted_next: next,
                        },
                    ));
                }
                Output::VerifyPayload {
                    view,
                    number,
                    payload,
                } => queue.push_back((
                    i,
                    Input::PayloadVerified {
                        view,
                        number,
                        hash: payload.hash(),
                        valid: true,
                    },
                )),
                Output::ProposePayload { view, .. } => {
                    let mut bytes = vec![0; 1024];
                    rng.fill_bytes(&mut bytes);
                    queue.push_back((
                        i,
                        Input::PayloadProposed {
                            view,
                            payload: Some(Payload(bytes)),
                        },
                    ));
                }
                // No timers fire: the run never goes quiet long enough.
                Output::PersistState(_) | Output::ResetTimer | Output::DelayNewView { .. } => {}
            }
        }
    }
    panic!("the network went quiet after {finalized} blocks");
}

/// RSS of this process in KiB.
fn rss_kib() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4
}

/// One replica (n = 6) receives 100,000 commit votes for far future views (10 s at 10,000
/// messages per second), spread over the other validators; votes are unchecked until a quorum
/// for one message forms, which spam never reaches, so this is the cheapest path to memory.
fn memory() {
    let rng = &mut StdRng::seed_from_u64(1);
    let setup = Setup::new(rng, 6);
    let first = setup.genesis.first_block;
    let params = params(&setup, VoteCheck::Aggregate);
    let mut r = Replica::new(params, setup.keys[0].clone(), Arc::new(Bls), None).unwrap();
    r.handle(Input::Start).unwrap();
    // Signing 100,000 votes would dominate; the signature is never checked, so reuse one.
    let sig = setup.keys[1]
        .sign_msg(ConsensusMsg::ReplicaCommit(ReplicaCommit {
            view: setup.view(1),
            proposal: BlockHeader {
                number: first,
                payload: Payload(vec![]).hash(),
            },
        }))
        .sig;
    let keys: Vec<_> = setup.keys.iter().map(|k| k.public()).collect();
    let before = rss_kib();
    let mut max_pending = (0, 0);
    let start = Instant::now();
    for k in 0..100_000u64 {
        let signer = 1 + (k % 5) as usize;
        let view = ViewNumber(10 + k);
        let mut payload = [0u8; 8];
        rng.fill_bytes(&mut payload);
        let msg = ConsensusMsg::ReplicaCommit(ReplicaCommit {
            view: setup.view(view.0),
            proposal: BlockHeader {
                number: BlockNumber(first.0 + k),
                payload: Payload(payload.to_vec()).hash(),
            },
        });
        let m = zksync_consensus_roles::validator::Signed {
            msg,
            key: keys[signer].clone(),
            sig: sig.clone(),
        };
        let _ = r.handle(Input::Message(m));
        let p = r.pending_votes();
        max_pending = (max_pending.0.max(p.0), max_pending.1.max(p.1));
    }
    let secs = start.elapsed().as_secs_f64();
    let after = rss_kib();
    println!(
        "memory: 100,000 future-view commit votes handled in {secs:.2} s ({:.0}/s): RSS {before} KiB -> {after} KiB (+{} KiB); at most {} votes pending over {} views",
        100_000. / secs,
        after.saturating_sub(before),
        max_pending.0,
        max_pending.1
    );
}

fn main() {
    let quick = std::env::args().any(|a| a == "quick");
    if std::env::args().any(|a| a == "memory") {
        return memory();
    }
    // Criterion-style filters are not supported; `cargo bench` passes `--bench`.
    for (n, blocks) in [(6, 200), (11, 100), (51, 20), (101, 5)] {
        let blocks = if quick { blocks / 5 } else { blocks };
        let mut per_block = vec![];
        for check in [VoteCheck::Eager, VoteCheck::Aggregate] {
            let secs = run(n, check, blocks);
            let block = secs / blocks as f64;
            per_block.push(block);
            println!(
                "n={n:>3} {check:?}: {blocks} blocks in {secs:.2} s on one core: {:.1} blocks/s/core, {:.3} ms CPU per block per replica",
                1. / block,
                block / n as f64 * 1e3,
            );
        }
        println!(
            "n={n:>3} aggregate speed-up: {:.2}x",
            per_block[0] / per_block[1]
        );
    }
    memory();
}
