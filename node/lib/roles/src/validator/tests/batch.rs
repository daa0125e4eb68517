//! Batch verification of commit certificates: same verdicts as one-by-one verification.

use rand::{RngExt as _, SeedableRng as _, rngs::StdRng};

use crate::{testonly::Setup, validator::*};

fn commit(setup: &Setup, block: u64) -> ReplicaCommit {
    ReplicaCommit {
        view: setup.view(block),
        proposal: BlockHeader {
            number: BlockNumber(block),
            payload: Payload(block.to_be_bytes().to_vec()).hash(),
        },
    }
}

/// `count` valid certificates for consecutive blocks, signed by everyone.
fn qcs(setup: &Setup, count: u64) -> Vec<CommitQC> {
    let all: Vec<usize> = (0..setup.keys.len()).collect();
    (0..count)
        .map(|i| setup.commit_qc(&commit(setup, i), &all))
        .collect()
}

fn batch<'a>(entries: impl IntoIterator<Item = (&'a CommitQC, &'a Schedule)>) -> CommitQCBatch {
    let mut b = CommitQCBatch::new();
    for (qc, schedule) in entries {
        b.push(qc, schedule);
    }
    b
}

#[test]
fn valid_certificates_pass() {
    let rng = &mut StdRng::seed_from_u64(1);
    let s = Setup::new(rng, 5);
    let qcs = qcs(&s, 20);
    let b = batch(qcs.iter().map(|qc| (qc, s.schedule())));
    assert_eq!(b.len(), 20);
    assert!(!b.is_empty());
    assert_eq!(b.verify(rng), Ok(()));
}

#[test]
fn one_forgery_among_twenty_is_found() {
    let rng = &mut StdRng::seed_from_u64(2);
    let s = Setup::new(rng, 4);
    let mut qcs = qcs(&s, 20);
    // Valid structure, but the aggregate of another block's certificate.
    qcs[13].signature = qcs[14].signature.clone();
    qcs[13]
        .verify_structure(s.genesis_hash(), EpochNumber(0), s.schedule())
        .unwrap();
    let b = batch(qcs.iter().map(|qc| (qc, s.schedule())));
    assert_eq!(b.verify(rng), Err(vec![13]));
}

#[test]
fn empty_batch_is_valid() {
    let b = CommitQCBatch::new();
    assert_eq!(b.len(), 0);
    assert!(b.is_empty());
    assert_eq!(b.verify(&mut StdRng::seed_from_u64(3)), Ok(()));
}

/// A random certificate for `setup`: valid, or broken in one of the ways a signature check
/// catches (forged aggregate, a claimed signer who did not sign, no signers at all).
fn random_qc(rng: &mut StdRng, setup: &Setup) -> CommitQC {
    let n = setup.keys.len();
    let msg = commit(setup, rng.random_range(0..1000));
    let signers: Vec<usize> = (0..n).filter(|_| rng.random_range(0..4) > 0).collect();
    let mut qc = setup.commit_qc(&msg, &signers);
    match rng.random_range(0..6) {
        0 => qc.signature = setup.commit_qc(&commit(setup, 1001), &signers).signature,
        1 => qc.signers.set(rng.random_range(0..n)),
        2 => qc = CommitQC::new(msg, setup.schedule()),
        _ => {}
    }
    qc
}

#[test]
fn batch_agrees_with_one_by_one_verification() {
    let rng = &mut StdRng::seed_from_u64(4);
    // Certificates of two committees, each checked against its own schedule.
    let setups = [Setup::new(rng, 3), Setup::new(rng, 5)];
    let mut saw = (false, false);
    for _ in 0..30 {
        let entries: Vec<(CommitQC, &Schedule)> = (0..rng.random_range(0..8))
            .map(|_| {
                let s = &setups[rng.random_range(0..setups.len())];
                (random_qc(rng, s), s.schedule())
            })
            .collect();
        let want: Vec<usize> = entries
            .iter()
            .enumerate()
            .filter(|(_, (qc, schedule))| qc.verify_signature(schedule).is_err())
            .map(|(i, _)| i)
            .collect();
        let got = batch(entries.iter().map(|(qc, s)| (qc, *s))).verify(rng);
        if want.is_empty() {
            saw.0 |= !entries.is_empty();
            assert_eq!(got, Ok(()));
        } else {
            saw.1 = true;
            assert_eq!(got, Err(want));
        }
    }
    assert_eq!(saw, (true, true), "both outcomes are exercised");
}
