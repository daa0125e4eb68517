//! Commit and timeout votes: rejections, certificate formation, aggregate checking, memory.

use zksync_consensus_roles::validator::{ConsensusMsg, GenesisHash, View, ViewNumber};

use super::*;

/// Feeds commit votes for `vote` from `signers`; returns the outputs of the last one.
fn commits(h: &mut Harness, vote: &ReplicaCommit, signers: &[usize]) -> Vec<Output> {
    let mut last = vec![];
    for &i in signers {
        last = h.ok(h.sign(i, ConsensusMsg::ReplicaCommit(vote.clone())));
    }
    last
}

#[test]
fn commit_quorum_finalizes_and_starts_the_next_view() {
    let mut h = Harness::new(6, 0);
    let qc = h.enter_view_1();
    let p = payload(b"block");
    let first = h.first();
    h.ok(h.proposal(1, Some(p.clone()), ProposalJustification::Timeout(qc)));
    h.ok(Input::PayloadVerified {
        view: ViewNumber(1),
        number: first,
        hash: p.hash(),
        valid: true,
    });
    let vote = h.commit(1, first, &p);
    // Four votes (quorum is 5) do nothing.
    assert!(commits(&mut h, &vote, &[0, 1, 2, 3]).is_empty());
    let out = commits(&mut h, &vote, &[4]);
    let Some(Output::QueueBlock(b)) = out.first() else {
        panic!("{out:?}")
    };
    assert_eq!(b.payload, p);
    assert_eq!(b.justification.message, vote);
    b.justification
        .verify(h.params.genesis, EpochNumber(0), &h.params.schedule)
        .unwrap();
    assert_eq!(h.replica.view(), ViewNumber(2));
    // The new view is persisted before its new-view message goes out; the payload stays
    // cached until the store says the block is persisted.
    let persisted = position(&out, is_persist);
    let Output::PersistState(s) = &out[persisted] else {
        unreachable!()
    };
    assert_eq!(s.proposals.len(), 1);
    assert!(persisted < position(&out, |o| matches!(o, Output::DelayNewView { .. })));
    h.ok(Input::Store {
        first,
        persisted_next: first.next(),
    });
    // Votes of view 1 are old now.
    assert_eq!(
        h.feed(h.sign(5, ConsensusMsg::ReplicaCommit(vote))),
        Err(Rejection::Old)
    );
}

/// A quorum may certify a block while this replica's check of its payload is still running
/// (its previous block not persisted yet). The block is queued with the payload of the pending
/// proposal, without waiting for the check and without block sync; the late answer of the
/// check changes nothing. A certificate for another payload of that number queues nothing.
#[test]
fn a_quorum_certifies_a_payload_still_under_check() {
    for certified_is_pending in [true, false] {
        let mut h = Harness::new(6, 0);
        let qc = h.enter_view_1();
        let p = payload(b"block");
        let first = h.first();
        h.ok(h.proposal(1, Some(p.clone()), ProposalJustification::Timeout(qc)));
        let certified = if certified_is_pending {
            p.clone()
        } else {
            payload(b"another block")
        };
        let vote = h.commit(1, first, &certified);
        let out = commits(&mut h, &vote, &[1, 2, 3, 4, 5]);
        assert_eq!(h.replica.view(), ViewNumber(2));
        let queued: Vec<_> = out
            .iter()
            .filter_map(|o| match o {
                Output::QueueBlock(b) => Some(b),
                _ => None,
            })
            .collect();
        if !certified_is_pending {
            assert!(queued.is_empty(), "{out:?}");
            continue;
        }
        assert_eq!(queued.len(), 1, "{out:?}");
        assert_eq!(queued[0].payload, p);
        assert_eq!(queued[0].justification.message, vote);
        // The check ends after the view did: no vote, nothing queued again.
        let late = h.ok(Input::PayloadVerified {
            view: ViewNumber(1),
            number: first,
            hash: p.hash(),
            valid: true,
        });
        assert!(late.is_empty(), "{late:?}");
    }
}

/// Votes can overtake their proposal: the replica forms the certificate without the payload
/// and moves on. The proposal, arriving late, still delivers the certified payload: the block
/// is queued (no sync needed). A late proposal whose payload is not the certified one, or that
/// comes once the block is queued, is old.
#[test]
fn a_proposal_overtaken_by_its_votes_still_delivers_the_block() {
    let mut h = Harness::new(6, 0);
    let qc = h.enter_view_1();
    let p = payload(b"block");
    let first = h.first();
    let vote = h.commit(1, first, &p);
    let out = commits(&mut h, &vote, &[1, 2, 3, 4, 5]);
    assert_eq!(h.replica.view(), ViewNumber(2));
    assert!(
        !out.iter().any(|o| matches!(o, Output::QueueBlock(_))),
        "{out:?}"
    );
    let j = ProposalJustification::Timeout(qc);
    assert_eq!(
        h.feed(h.proposal(1, Some(payload(b"other")), j.clone())),
        Err(Rejection::Old)
    );
    let out = h.ok(h.proposal(1, Some(p.clone()), j.clone()));
    let [Output::QueueBlock(b)] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(b.payload, p);
    assert_eq!(b.justification.message, vote);
    assert_eq!(h.feed(h.proposal(1, Some(p), j)), Err(Rejection::Old));
}

#[test]
fn commit_rejections() {
    let mut h = Harness::new(6, 0);
    h.enter_view_1();
    let first = h.first();
    let vote = h.commit(1, first, &payload(b"a"));
    // Not a validator.
    let stranger = SecretKey::generate(&mut StdRng::seed_from_u64(99));
    let m = Input::Message(stranger.sign_msg(ConsensusMsg::ReplicaCommit(vote.clone())));
    assert_eq!(h.feed(m), Err(Rejection::NonValidatorSigner));
    // Old.
    let old = h.commit(0, first, &payload(b"a"));
    assert_eq!(
        h.feed(h.sign(1, ConsensusMsg::ReplicaCommit(old))),
        Err(Rejection::Old)
    );
    // Another chain.
    let mut foreign = vote.clone();
    foreign.view = View {
        genesis: GenesisHash::default(),
        ..foreign.view
    };
    assert!(matches!(
        h.feed(h.sign(1, ConsensusMsg::ReplicaCommit(foreign))),
        Err(Rejection::View(_))
    ));
    // One vote per signer and view, never an older one.
    h.ok(h.sign(1, ConsensusMsg::ReplicaCommit(vote)));
    let other = h.commit(1, first, &payload(b"b"));
    assert_eq!(
        h.feed(h.sign(1, ConsensusMsg::ReplicaCommit(other))),
        Err(Rejection::DuplicateSigner)
    );
    let later = h.commit(3, first, &payload(b"a"));
    h.ok(h.sign(1, ConsensusMsg::ReplicaCommit(later)));
    assert_eq!(
        h.feed(h.sign(
            1,
            ConsensusMsg::ReplicaCommit(h.commit(2, first, &payload(b"a")))
        )),
        Err(Rejection::DuplicateSigner)
    );
}

#[test]
fn eager_mode_rejects_a_bad_signature_at_once() {
    let mut h = Harness::with(6, 0, VoteCheck::Eager);
    h.enter_view_1();
    let vote = h.commit(1, h.first(), &payload(b"a"));
    let mut m = h.key(1).sign_msg(ConsensusMsg::ReplicaCommit(vote));
    m.sig = h
        .key(1)
        .sign_msg(ConsensusMsg::ReplicaCommit(h.commit(
            1,
            h.first(),
            &payload(b"b"),
        )))
        .sig;
    assert_eq!(h.feed(Input::Message(m)), Err(Rejection::BadSignature));
}

/// With aggregate checking a bad signature is found only when a quorum is present; it is
/// dropped and the certificate waits for one more good vote.
#[test]
fn aggregate_mode_drops_the_bad_vote_and_waits() {
    let mut h = Harness::new(6, 0);
    h.enter_view_1();
    let first = h.first();
    let vote = h.commit(1, first, &payload(b"a"));
    let mut bad = h.key(2).sign_msg(ConsensusMsg::ReplicaCommit(vote.clone()));
    bad.sig = h
        .key(2)
        .sign_msg(ConsensusMsg::ReplicaCommit(h.commit(
            1,
            first,
            &payload(b"b"),
        )))
        .sig;
    commits(&mut h, &vote, &[0, 1]);
    h.ok(Input::Message(bad));
    // Quorum weight present, but one is bad: no certificate.
    assert!(commits(&mut h, &vote, &[3, 4]).is_empty());
    assert_eq!(h.replica.bad_votes(), 1);
    assert_eq!(h.replica.view(), ViewNumber(1));
    // The bad signer cannot vote again in this view; another validator completes the quorum.
    let out = commits(&mut h, &vote, &[5]);
    assert_eq!(h.replica.view(), ViewNumber(2));
    assert!(out.contains(&Output::DelayNewView {
        view: ViewNumber(2)
    }));
}

#[test]
fn timeout_quorum_forms_a_certificate() {
    let mut h = Harness::new(6, 0);
    h.enter_view_1();
    let t = h.timeout(1, None, None);
    for i in 0..4 {
        assert!(
            h.ok(h.sign(i, ConsensusMsg::ReplicaTimeout(t.clone())))
                .is_empty()
        );
    }
    let out = h.ok(h.sign(4, ConsensusMsg::ReplicaTimeout(t)));
    assert_eq!(h.replica.view(), ViewNumber(2));
    let nv = broadcasts(&out)
        .into_iter()
        .find_map(|m| match &m.msg {
            ConsensusMsg::ReplicaNewView(nv) => Some(nv.clone()),
            _ => None,
        })
        .unwrap();
    let ProposalJustification::Timeout(qc) = nv.justification else {
        panic!()
    };
    qc.verify(h.params.genesis, EpochNumber(0), &h.params.schedule)
        .unwrap();
}

#[test]
fn timeout_rejections() {
    let mut h = Harness::new(6, 0);
    h.enter_view_1();
    let t = h.timeout(1, None, None);
    let stranger = SecretKey::generate(&mut StdRng::seed_from_u64(99));
    let m = Input::Message(stranger.sign_msg(ConsensusMsg::ReplicaTimeout(t.clone())));
    assert_eq!(h.feed(m), Err(Rejection::NonValidatorSigner));
    assert_eq!(
        h.feed(h.sign(1, ConsensusMsg::ReplicaTimeout(h.timeout(0, None, None)))),
        Err(Rejection::Old)
    );
    let mut forged = h.key(1).sign_msg(ConsensusMsg::ReplicaTimeout(t.clone()));
    forged.sig = h
        .key(1)
        .sign_msg(ConsensusMsg::ReplicaTimeout(h.timeout(2, None, None)))
        .sig;
    assert_eq!(h.feed(Input::Message(forged)), Err(Rejection::BadSignature));
    h.ok(h.sign(1, ConsensusMsg::ReplicaTimeout(t.clone())));
    assert_eq!(
        h.feed(h.sign(1, ConsensusMsg::ReplicaTimeout(t))),
        Err(Rejection::DuplicateSigner)
    );
    // A high certificate without a quorum.
    let first = h.first();
    let weak = h
        .setup
        .commit_qc(&h.commit(0, first, &payload(b"a")), &[0, 1]);
    let bad = h.timeout(1, None, Some(weak));
    assert!(matches!(
        h.feed(h.sign(2, ConsensusMsg::ReplicaTimeout(bad))),
        Err(Rejection::Timeout(_))
    ));
}

/// A flood of votes for ever higher future views keeps at most one pending view per signer.
#[test]
fn future_view_spam_is_bounded() {
    let mut h = Harness::new(6, 0);
    h.enter_view_1();
    let first = h.first();
    for v in 2..500 {
        let vote = h.commit(v, first, &payload(b"spam"));
        h.ok(h.sign(1, ConsensusMsg::ReplicaCommit(vote)));
        h.ok(h.sign(2, ConsensusMsg::ReplicaTimeout(h.timeout(v, None, None))));
    }
    assert!(
        h.replica.votes.pending_views() <= 2,
        "{}",
        h.replica.votes.pending_views()
    );
}

/// The high commit certificate carried by every timeout vote is verified once.
#[test]
fn repeated_certificates_are_checked_once() {
    let mut h = Harness::new(6, 0);
    h.enter_view_1();
    let checks = h.replica.qc_checks();
    let first = h.first();
    let qc = h
        .setup
        .commit_qc(&h.commit(0, first, &payload(b"a")), &h.all());
    for i in 0..4 {
        let t = h.timeout(1, None, Some(qc.clone()));
        h.ok(h.sign(i, ConsensusMsg::ReplicaTimeout(t)));
    }
    assert_eq!(h.replica.qc_checks(), checks + 1);
}
