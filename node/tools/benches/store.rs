//! Scenario D of the benchmark plan: the durable store queues and persists 10,000 blocks of
//! 1 KiB and of 100 KiB (each block its own fsynced transaction), then reads them back.
//! Each configuration runs 3 times; prints blocks/s and MB/s.
//!
//! `cargo bench -p zksync_consensus_tools --bench store`
#![allow(clippy::print_stdout, clippy::disallowed_methods)]

use std::time::Instant;

use rand::{RngExt as _, SeedableRng as _, rngs::StdRng};
use zksync_concurrency::ctx;
use zksync_consensus_roles::validator::*;
use zksync_consensus_storage::ExecutionLayer as _;
use zksync_consensus_tools::store::{DurableStore, StoreConfig};

const BLOCKS: u64 = 10_000;

fn blocks(payload_size: usize) -> (Genesis, Vec<Block>) {
    let rng = &mut StdRng::seed_from_u64(1);
    let keys: Vec<SecretKey> = (0..6).map(|_| SecretKey::generate(rng)).collect();
    let schedule = Schedule::new(
        keys.iter().map(|k| ValidatorInfo {
            key: k.public(),
            weight: 1,
            leader: true,
        }),
        LeaderSelection::default(),
    )
    .unwrap();
    let genesis = Genesis {
        chain_id: ChainId(1),
        fork_number: ForkNumber(0),
        first_block: BlockNumber(0),
        protocol_version: ProtocolVersion::CURRENT,
        validators_schedule: Some(schedule.clone()),
    };
    let hash = genesis.hash();
    // One certificate's signatures reused with each header would not verify, but the store
    // does not verify: signing 10,000 certificates would only slow the setup down.
    let sig = keys[0].sign_hash(&MsgHash(
        zksync_consensus_crypto::keccak256::Keccak256::new(b""),
    ));
    let blocks = (0..BLOCKS)
        .map(|n| {
            let payload = Payload((0..payload_size).map(|_| rng.random()).collect());
            let msg = ReplicaCommit {
                view: View {
                    genesis: hash,
                    epoch: EpochNumber(0),
                    number: ViewNumber(n),
                },
                proposal: BlockHeader {
                    number: BlockNumber(n),
                    payload: payload.hash(),
                },
            };
            let mut qc = CommitQC::new(msg, &schedule);
            for i in 0..5 {
                qc.add_verified(i, &sig).unwrap();
            }
            Block::Final(FinalBlock {
                payload,
                justification: qc,
            })
        })
        .collect();
    (genesis, blocks)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let ctx = ctx::root();
    for payload_size in [1 << 10, 100 << 10] {
        let (genesis, blocks) = blocks(payload_size);
        let bytes: usize = blocks
            .iter()
            .map(|b| zksync_protobuf::encode(b).len())
            .sum();
        for run in 1..=3 {
            let dir = tempfile::tempdir().unwrap();
            let store = DurableStore::open(
                &dir.path().join("db"),
                genesis.clone(),
                StoreConfig::default(),
            )
            .unwrap();
            rt.block_on(async {
                let start = Instant::now();
                for b in &blocks {
                    store.queue_next_block(&ctx, b.clone()).await.unwrap();
                }
                let write = start.elapsed().as_secs_f64();
                let start = Instant::now();
                for n in 0..BLOCKS {
                    store.block(&ctx, BlockNumber(n)).await.unwrap();
                }
                let read = start.elapsed().as_secs_f64();
                println!(
                    "payload {:>6} B, run {run}: write {:>8.0} blocks/s {:>7.1} MB/s | read {:>8.0} blocks/s {:>7.1} MB/s",
                    payload_size,
                    BLOCKS as f64 / write,
                    bytes as f64 / write / 1e6,
                    BLOCKS as f64 / read,
                    bytes as f64 / read / 1e6,
                );
            });
        }
    }
}
