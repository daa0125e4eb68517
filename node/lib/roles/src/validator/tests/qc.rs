//! Certificate rules (protocol.md 2.4): thresholds, every add/verify error, the historical
//! aggregation bug, and the reproposal rule.

use rand::{SeedableRng as _, rngs::StdRng};

use crate::{testonly::Setup, validator::*};

fn setup(n: usize) -> Setup {
    Setup::new(&mut StdRng::seed_from_u64(n as u64), n)
}

fn commit(setup: &Setup, view: u64, block: u64) -> ReplicaCommit {
    ReplicaCommit {
        view: setup.view(view),
        proposal: BlockHeader {
            number: BlockNumber(block),
            payload: Payload(vec![block as u8]).hash(),
        },
    }
}

fn timeout(setup: &Setup, view: u64) -> ReplicaTimeout {
    ReplicaTimeout {
        view: setup.view(view),
        high_vote: None,
        high_qc: None,
    }
}

const E0: EpochNumber = EpochNumber(0);

#[test]
fn commit_qc_threshold() {
    // n = 6: f = 1, quorum = 5.
    let s = setup(6);
    let msg = commit(&s, 3, 7);
    let qc = s.commit_qc(&msg, &[0, 1, 2, 3]);
    assert_eq!(
        qc.verify(s.genesis_hash(), E0, s.schedule()),
        Err(CommitQCVerifyError::NotEnoughWeight { got: 4, want: 5 })
    );
    let qc = s.commit_qc(&msg, &[0, 1, 2, 3, 4]);
    qc.verify(s.genesis_hash(), E0, s.schedule()).unwrap();
    s.commit_qc(&msg, &[0, 1, 2, 3, 4, 5])
        .verify(s.genesis_hash(), E0, s.schedule())
        .unwrap();
}

#[test]
fn commit_qc_add_errors() {
    let s = setup(4);
    let other = setup(1);
    let (g, sch) = (s.genesis_hash(), s.schedule());
    let msg = commit(&s, 3, 7);
    let mut qc = CommitQC::new(msg.clone(), sch);
    let vote = s.keys[0].sign_msg(msg.clone());
    qc.add(&vote, g, E0, sch).unwrap();
    assert_eq!(
        qc.add(&vote, g, E0, sch),
        Err(CommitQCAddError::DuplicateSigner)
    );
    assert_eq!(
        qc.add(&other.keys[0].sign_msg(msg.clone()), g, E0, sch),
        Err(CommitQCAddError::SignerNotInCommittee)
    );
    let mut forged = s.keys[1].sign_msg(msg.clone());
    forged.sig = s.keys[1].sign_msg(commit(&s, 3, 8)).sig;
    assert_eq!(
        qc.add(&forged, g, E0, sch),
        Err(CommitQCAddError::BadSignature)
    );
    assert_eq!(
        qc.add(&s.keys[1].sign_msg(commit(&s, 4, 7)), g, E0, sch),
        Err(CommitQCAddError::InconsistentMessages)
    );
    // A certificate for a vote of another chain: the vote is consistent but invalid.
    let foreign = ReplicaCommit {
        view: other.view(3),
        ..msg
    };
    let mut qc2 = CommitQC::new(foreign.clone(), sch);
    assert!(matches!(
        qc2.add(&s.keys[1].sign_msg(foreign), g, E0, sch),
        Err(CommitQCAddError::InvalidMessage(ViewError::Genesis { .. }))
    ));
    assert_eq!(qc.signers.count(), 1, "failed adds change nothing");
}

#[test]
fn commit_qc_verify_errors() {
    let s = setup(4);
    let (g, sch) = (s.genesis_hash(), s.schedule());
    let qc = s.commit_qc(&commit(&s, 3, 7), &[0, 1, 2, 3]);
    qc.verify(g, E0, sch).unwrap();
    assert!(matches!(
        qc.verify(g, EpochNumber(1), sch),
        Err(CommitQCVerifyError::InvalidMessage(ViewError::Epoch { .. }))
    ));
    let mut bad = qc.clone();
    bad.signers = Signers::new(5);
    assert_eq!(
        bad.verify(g, E0, sch),
        Err(CommitQCVerifyError::BadSignersSet { got: 5, want: 4 })
    );
    // Claiming a signer whose signature is not in the aggregate.
    let mut bad = s.commit_qc(&commit(&s, 3, 7), &[0, 1, 2]);
    bad.signers.set(3);
    assert_eq!(
        bad.verify(g, E0, sch),
        Err(CommitQCVerifyError::BadSignature)
    );
    // The aggregate of another message.
    let mut bad = qc;
    bad.signature = s.commit_qc(&commit(&s, 3, 8), &[0, 1, 2, 3]).signature;
    assert_eq!(
        bad.verify(g, E0, sch),
        Err(CommitQCVerifyError::BadSignature)
    );
}

#[test]
fn timeout_qc_threshold_and_add_errors() {
    let s = setup(6);
    let (g, sch) = (s.genesis_hash(), s.schedule());
    let votes: Vec<(usize, ReplicaTimeout)> = (0..4).map(|i| (i, timeout(&s, 5))).collect();
    let qc = s.timeout_qc(s.view(5), &votes);
    assert_eq!(
        qc.verify(g, E0, sch),
        Err(TimeoutQCVerifyError::NotEnoughWeight { got: 4, want: 5 })
    );
    let mut qc = s.timeout_qc(s.view(5), &[votes, vec![(4, timeout(&s, 5))]].concat());
    qc.verify(g, E0, sch).unwrap();
    assert_eq!(qc.weight(sch), 5);
    let vote = s.keys[0].sign_msg(timeout(&s, 5));
    assert_eq!(
        qc.add(&vote, g, E0, sch),
        Err(TimeoutQCAddError::DuplicateSigner)
    );
    assert_eq!(
        qc.add(&s.keys[5].sign_msg(timeout(&s, 6)), g, E0, sch),
        Err(TimeoutQCAddError::InconsistentViews)
    );
    let mut forged = s.keys[5].sign_msg(timeout(&s, 5));
    forged.sig = s.keys[5].sign_msg(timeout(&s, 6)).sig;
    assert_eq!(
        qc.add(&forged, g, E0, sch),
        Err(TimeoutQCAddError::BadSignature)
    );
    // A vote carrying an invalid high QC.
    let bad_high_qc = ReplicaTimeout {
        high_qc: Some(s.commit_qc(&commit(&s, 2, 1), &[0])),
        ..timeout(&s, 5)
    };
    assert!(matches!(
        qc.add(&s.keys[5].sign_msg(bad_high_qc), g, E0, sch),
        Err(TimeoutQCAddError::InvalidMessage(
            ReplicaTimeoutVerifyError::HighQC(_)
        ))
    ));
}

#[test]
fn timeout_qc_verify_errors() {
    let s = setup(6);
    let (g, sch) = (s.genesis_hash(), s.schedule());
    let votes: Vec<(usize, ReplicaTimeout)> = (0..6).map(|i| (i, timeout(&s, 5))).collect();
    let good = s.timeout_qc(s.view(5), &votes);
    good.verify(g, E0, sch).unwrap();

    // Overlapping signer sets: a second entry claims signer 0 again.
    let mut bad = good.clone();
    let other = ReplicaTimeout {
        high_vote: Some(commit(&s, 4, 1)),
        ..timeout(&s, 5)
    };
    let mut signers = Signers::new(6);
    signers.set(0);
    bad.map.insert(other.clone(), signers);
    let i = bad.map.keys().position(|k| k == &other).unwrap();
    let first_overlap = if i == 0 { 1 } else { i };
    assert_eq!(
        bad.verify(g, E0, sch),
        Err(TimeoutQCVerifyError::OverlappingSignatureSet(first_overlap))
    );
    // An entry without signers.
    let mut bad = good.clone();
    bad.map.insert(other, Signers::new(6));
    assert!(matches!(
        bad.verify(g, E0, sch),
        Err(TimeoutQCVerifyError::NoSignersAssigned(_))
    ));
    // Wrong signer set length.
    let mut bad = good.clone();
    *bad.map.values_mut().next().unwrap() = Signers::new(7);
    assert_eq!(
        bad.verify(g, E0, sch),
        Err(TimeoutQCVerifyError::WrongSignersLength(0))
    );
    // An entry of another view.
    let mut bad = good.clone();
    let (msg, signers) = bad.map.pop_first().unwrap();
    bad.map.insert(
        ReplicaTimeout {
            view: s.view(6),
            ..msg
        },
        signers,
    );
    assert!(matches!(
        bad.verify(g, E0, sch),
        Err(TimeoutQCVerifyError::InconsistentView(_))
    ));
    // A broken aggregate.
    let mut bad = good.clone();
    bad.signature = AggregateSignature::default();
    assert_eq!(
        bad.verify(g, E0, sch),
        Err(TimeoutQCVerifyError::BadSignature)
    );
    // Another epoch.
    assert!(matches!(
        good.verify(g, EpochNumber(3), sch),
        Err(TimeoutQCVerifyError::InvalidView(_))
    ));
}

#[test]
fn votes_differing_only_in_high_qc_signers_stay_distinct() {
    // Historical bug (protocol.md 10.1 item 2): ordering commit certificates by view alone
    // merged such votes and broke the aggregate signature.
    let s = setup(6);
    let (g, sch) = (s.genesis_hash(), s.schedule());
    let msg = commit(&s, 4, 1);
    let qc_a = s.commit_qc(&msg, &[0, 1, 2, 3, 4]);
    let qc_b = s.commit_qc(&msg, &[1, 2, 3, 4, 5]);
    assert_ne!(qc_a, qc_b);
    let vote = |qc: &CommitQC| ReplicaTimeout {
        view: s.view(5),
        high_vote: Some(msg.clone()),
        high_qc: Some(qc.clone()),
    };
    let votes: Vec<(usize, ReplicaTimeout)> = (0..6)
        .map(|i| (i, vote(if i < 3 { &qc_a } else { &qc_b })))
        .collect();
    let qc = s.timeout_qc(s.view(5), &votes);
    assert_eq!(qc.map.len(), 2);
    qc.verify(g, E0, sch).unwrap();
    let back: TimeoutQC = zksync_protobuf::decode(&zksync_protobuf::encode(&qc)).unwrap();
    assert_eq!(back, qc);
    back.verify(g, E0, sch).unwrap();
}

#[test]
fn reproposal_rule() {
    // n = 6: f = 1, quorum = 5, subquorum = 3.
    let s = setup(6);
    let (sch, first) = (s.schedule(), BlockNumber(100));
    let hv1 = commit(&s, 4, 10);
    let hv2 = commit(&s, 4, 11);
    let with_vote = |v: &ReplicaCommit| ReplicaTimeout {
        high_vote: Some(v.clone()),
        ..timeout(&s, 5)
    };
    let justify = |votes: Vec<(usize, ReplicaTimeout)>| {
        ProposalJustification::Timeout(s.timeout_qc(s.view(5), &votes))
    };

    // Zero subquorums, no high QC: a new block at the epoch's first block.
    let j = justify((0..6).map(|i| (i, timeout(&s, 5))).collect());
    assert_eq!(j.get_implied_block(sch, first), (first, None));

    // Exactly one subquorum (3 of 6): repropose that block.
    let j = justify(
        (0..6)
            .map(|i| {
                (
                    i,
                    if i < 3 {
                        with_vote(&hv1)
                    } else {
                        timeout(&s, 5)
                    },
                )
            })
            .collect(),
    );
    assert_eq!(
        j.get_implied_block(sch, first),
        (BlockNumber(10), Some(hv1.proposal.payload))
    );

    // Two subquorums: neither can have been finalized; propose a new block.
    let j = justify(
        (0..6)
            .map(|i| (i, with_vote(if i < 3 { &hv1 } else { &hv2 })))
            .collect(),
    );
    assert_eq!(j.get_implied_block(sch, first), (first, None));

    // Below subquorum (2 of 6) counts as none.
    let j = justify(
        (0..6)
            .map(|i| {
                (
                    i,
                    if i < 2 {
                        with_vote(&hv1)
                    } else {
                        timeout(&s, 5)
                    },
                )
            })
            .collect(),
    );
    assert_eq!(j.get_implied_block(sch, first), (first, None));

    // One subquorum, but a high QC already at or above it: build on the high QC.
    let high_qc = s.commit_qc(&commit(&s, 4, 10), &[0, 1, 2, 3, 4]);
    let with_both = ReplicaTimeout {
        high_vote: Some(hv1),
        high_qc: Some(high_qc.clone()),
        ..timeout(&s, 5)
    };
    let j = justify((0..6).map(|i| (i, with_both.clone())).collect());
    assert_eq!(j.get_implied_block(sch, first), (BlockNumber(11), None));

    // A commit justification: the next block.
    let j = ProposalJustification::Commit(high_qc);
    assert_eq!(j.get_implied_block(sch, first), (BlockNumber(11), None));
    assert_eq!(j.view().number, ViewNumber(5));
}

#[test]
fn schedule_rejects_bad_committees() {
    let s = setup(3);
    let v: Vec<ValidatorInfo> = s.schedule().iter().cloned().collect();
    let sel = LeaderSelection::default();
    assert_eq!(Schedule::new(vec![], sel), Err(ScheduleError::Empty));
    assert!(matches!(
        Schedule::new([v.clone(), vec![v[0].clone()]].concat(), sel),
        Err(ScheduleError::Duplicate(_))
    ));
    let mut zero = v.clone();
    zero[1].weight = 0;
    assert!(matches!(
        Schedule::new(zero, sel),
        Err(ScheduleError::ZeroWeight(_))
    ));
    let mut heavy = v.clone();
    heavy[0].weight = u64::MAX;
    assert_eq!(
        Schedule::new(heavy, sel),
        Err(ScheduleError::WeightOverflow)
    );
    let no_leader: Vec<_> = v
        .iter()
        .cloned()
        .map(|x| ValidatorInfo { leader: false, ..x })
        .collect();
    assert_eq!(Schedule::new(no_leader, sel), Err(ScheduleError::NoLeader));
    let zero_freq = LeaderSelection {
        frequency: 0,
        ..sel
    };
    assert_eq!(
        Schedule::new(v, zero_freq),
        Err(ScheduleError::ZeroFrequency)
    );
}
