//! Crypto micro-benchmarks (scenario C of the benchmark plan): BLS sign, verify, public key
//! decoding (validated or from the cache), aggregate verification, the same-message fast path,
//! batch verification of commit certificates vs one by one, ed25519 sign/verify and Keccak-256
//! of 1 MB.
//!
//! `cargo bench -p zksync_consensus_crypto --bench crypto`

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rand::{RngExt as _, SeedableRng as _, rngs::StdRng};
use zksync_consensus_crypto::{ByteFmt, bls12_381, ed25519, keccak256::Keccak256};

fn committee(rng: &mut StdRng, n: usize) -> (Vec<bls12_381::SecretKey>, Vec<bls12_381::PublicKey>) {
    let sks: Vec<_> = (0..n)
        .map(|_| bls12_381::SecretKey::generate(rng))
        .collect();
    let pks = sks.iter().map(bls12_381::SecretKey::public).collect();
    (sks, pks)
}

/// A commit certificate in miniature: `n` signatures over one 32-byte hash, aggregated.
fn qc(sks: &[bls12_381::SecretKey], msg: &[u8]) -> bls12_381::AggregateSignature {
    let sigs: Vec<_> = sks.iter().map(|k| k.sign(msg)).collect();
    bls12_381::AggregateSignature::aggregate(&sigs).expect("signatures made here are valid points")
}

fn bls(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(1);
    let msg = [7u8; 32];
    let (sks, pks) = committee(&mut rng, 100);
    let sig = sks[0].sign(&msg);
    c.bench_function("bls/sign", |b| b.iter(|| sks[0].sign(&msg)));
    c.bench_function("bls/verify", |b| {
        b.iter(|| sig.verify(&msg, &pks[0]).unwrap())
    });

    // Decoding a validator key carried by a message: validated (decompression and subgroup
    // check) against taken from the process-wide cache of validated keys.
    let pk_bytes = *pks[0].as_bytes();
    let mut g = c.benchmark_group("bls/public_key_decode");
    g.bench_function("validate", |b| {
        b.iter(|| bls12_381::PublicKey::decode_uncached(&pk_bytes).unwrap())
    });
    g.bench_function("cached", |b| {
        b.iter(|| <bls12_381::PublicKey as ByteFmt>::decode(&pk_bytes).unwrap())
    });
    g.finish();

    // Decoding a received signature: decompression alone against decompression and the
    // subgroup check (what a signature costs before any pairing).
    let sig_bytes: [u8; 48] = ByteFmt::encode(&sig).try_into().expect("48 bytes");
    let mut g = c.benchmark_group("bls/signature_decode");
    g.bench_function("uncompress", |b| {
        b.iter(|| blst::min_sig::Signature::uncompress(&sig_bytes).unwrap())
    });
    g.bench_function("validate", |b| {
        b.iter(|| blst::min_sig::Signature::sig_validate(&sig_bytes, false).unwrap())
    });
    g.finish();

    let sigs: Vec<_> = sks.iter().map(|k| k.sign(&msg)).collect();
    c.bench_function("bls/aggregate_100", |b| {
        b.iter(|| bls12_381::AggregateSignature::aggregate(&sigs))
    });
    for n in [6usize, 100] {
        let agg = qc(&sks[..n], &msg);
        let mut g = c.benchmark_group("bls/commit_qc_verify");
        g.bench_with_input(BenchmarkId::new("pairs", n), &n, |b, &n| {
            b.iter(|| {
                agg.verify(pks[..n].iter().map(|pk| (&msg[..], pk)))
                    .unwrap()
            })
        });
        g.bench_with_input(BenchmarkId::new("same_message", n), &n, |b, &n| {
            b.iter(|| agg.verify_same_message(&msg, &pks[..n]).unwrap())
        });
        g.finish();
    }

    // A timeout certificate: 100 signers over 10 distinct messages.
    let msgs: Vec<[u8; 32]> = (0..10u8).map(|i| [i; 32]).collect();
    let tsigs: Vec<_> = sks
        .iter()
        .enumerate()
        .map(|(i, k)| k.sign(&msgs[i % 10]))
        .collect();
    let tagg = bls12_381::AggregateSignature::aggregate(&tsigs).expect("valid points");
    c.bench_function("bls/timeout_qc_verify_100_signers_10_msgs", |b| {
        b.iter(|| {
            tagg.verify(
                pks.iter()
                    .enumerate()
                    .map(|(i, pk)| (&msgs[i % 10][..], pk)),
            )
            .unwrap()
        })
    });

    // 64 commit certificates of 6 signers each: one batch vs one by one.
    let (sks6, pks6) = committee(&mut rng, 6);
    let qcs: Vec<([u8; 32], bls12_381::AggregateSignature)> = (0..64)
        .map(|_| {
            let m: [u8; 32] = rng.random();
            let agg = qc(&sks6, &m);
            (m, agg)
        })
        .collect();
    let mut g = c.benchmark_group("bls/64_commit_qcs");
    g.bench_function("one_by_one", |b| {
        b.iter(|| {
            for (m, agg) in &qcs {
                agg.verify_same_message(m, &pks6).unwrap();
            }
        })
    });
    g.bench_function("batch", |b| {
        b.iter(|| {
            let mut batch = bls12_381::BatchVerifier::new();
            for (m, agg) in &qcs {
                batch.push(m, &pks6, agg);
            }
            batch.verify(&mut rng).unwrap()
        })
    });
    g.finish();
}

fn votes(c: &mut Criterion) {
    // A quorum of commit votes for one message, each with its own signature.
    let mut rng = StdRng::seed_from_u64(3);
    let msg = [5u8; 32];
    let (sks, pks) = committee(&mut rng, 100);
    let sigs: Vec<_> = sks.iter().map(|k| k.sign(&msg)).collect();
    let votes: Vec<_> = pks.iter().zip(&sigs).collect();
    let mut bad_sigs = sigs.clone();
    bad_sigs[37] = sks[37].sign(b"another message");
    let bad_votes: Vec<_> = pks.iter().zip(&bad_sigs).collect();
    let mut g = c.benchmark_group("bls/100_votes_one_message");
    g.sample_size(20);
    g.bench_function("eager_per_vote", |b| {
        b.iter(|| {
            for (pk, sig) in &votes {
                sig.verify(&msg, pk).unwrap();
            }
        })
    });
    g.bench_function("aggregate", |b| {
        b.iter(|| assert!(bls12_381::find_invalid_same_message(&msg, &votes).is_empty()))
    });
    g.bench_function("aggregate_one_bad_bisect", |b| {
        b.iter(|| {
            assert_eq!(
                bls12_381::find_invalid_same_message(&msg, &bad_votes),
                vec![37]
            )
        })
    });
    g.finish();
}

fn ed(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(2);
    let sk = ed25519::SecretKey::generate(&mut rng);
    let pk = sk.public();
    let msg = [9u8; 32];
    let sig = sk.sign(&msg);
    c.bench_function("ed25519/sign", |b| b.iter(|| sk.sign(&msg)));
    c.bench_function("ed25519/verify", |b| {
        b.iter(|| pk.verify(&msg, &sig).unwrap())
    });
}

fn keccak(c: &mut Criterion) {
    let data = vec![0xabu8; 1 << 20];
    let mut g = c.benchmark_group("keccak256");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("1MB", |b| b.iter(|| Keccak256::new(&data)));
    g.finish();
}

criterion_group!(benches, bls, votes, ed, keccak);
criterion_main!(benches);
