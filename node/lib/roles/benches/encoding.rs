//! Scenario E of the benchmark plan: canonical encoding + hash of a `LeaderProposal` with a
//! 1 MB payload (what a leader signs and a replica re-hashes), and decoding it.
//!
//! `cargo bench -p zksync_consensus_roles --bench encoding`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand::{RngExt as _, SeedableRng as _, rngs::StdRng};
use zksync_consensus_roles::validator::*;

fn proposal() -> Signed<LeaderProposal> {
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
    let genesis = GenesisHash::default();
    let view = View {
        genesis,
        epoch: EpochNumber(0),
        number: ViewNumber(10),
    };
    let payload = Payload((0..1 << 20).map(|_| rng.random()).collect());
    let vote = ReplicaCommit {
        view,
        proposal: BlockHeader {
            number: BlockNumber(9),
            payload: payload.hash(),
        },
    };
    let mut qc = CommitQC::new(vote.clone(), &schedule);
    for k in &keys {
        qc.add(
            &k.sign_msg(vote.clone()),
            genesis,
            EpochNumber(0),
            &schedule,
        )
        .unwrap();
    }
    keys[0].sign_msg(LeaderProposal {
        proposal_payload: Some(payload),
        justification: ProposalJustification::Commit(qc),
    })
}

fn encoding(c: &mut Criterion) {
    let signed = proposal();
    let bytes = zksync_protobuf::encode(&signed);
    let mut g = c.benchmark_group("leader_proposal_1MB");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("encode_and_hash", |b| b.iter(|| signed.msg.msg_hash()));
    g.bench_function("encode", |b| b.iter(|| zksync_protobuf::encode(&signed)));
    g.bench_function("decode", |b| {
        b.iter(|| zksync_protobuf::decode::<Signed<LeaderProposal>>(&bytes).unwrap())
    });
    g.bench_function("decode_and_verify_signature", |b| {
        b.iter(|| {
            zksync_protobuf::decode::<Signed<LeaderProposal>>(&bytes)
                .unwrap()
                .verify()
                .unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, encoding);
criterion_main!(benches);
