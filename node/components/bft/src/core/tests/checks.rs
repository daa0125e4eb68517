//! Signature work the replica skips: another certificate for a certified message, its own
//! messages, and the leader's new-view message that brings nothing new. Each skip is tested
//! with forged inputs, together with the forged inputs that must still be rejected.

use zksync_consensus_roles::validator::{CommitQCVerifyError, JustificationVerifyError};

use super::*;

/// Brings the replica through view 1 (proposal, then commit votes of validators 0..5): it
/// builds the commit certificate of view 1 and enters view 2. Returns that certificate.
fn finalize_view_1(h: &mut Harness, p: &Payload) -> CommitQC {
    let qc = h.enter_view_1();
    let first = h.first();
    h.ok(h.proposal(1, Some(p.clone()), ProposalJustification::Timeout(qc)));
    h.ok(Input::PayloadVerified {
        view: ViewNumber(1),
        number: first,
        hash: p.hash(),
        valid: true,
    });
    let vote = h.commit(1, first, p);
    for i in 0..5 {
        h.ok(h.sign(i, ConsensusMsg::ReplicaCommit(vote.clone())));
    }
    assert_eq!(h.replica.view(), ViewNumber(2));
    h.replica.high_commit_qc().unwrap().clone()
}

/// A certificate for `msg` by `signers` whose aggregate signature is that of another message:
/// its structure is valid, its signature is not.
fn forged_qc(h: &Harness, msg: &ReplicaCommit, signers: &[usize]) -> CommitQC {
    let mut qc = h.setup.commit_qc(msg, signers);
    let mut other = msg.clone();
    other.proposal.payload = payload(b"something else").hash();
    qc.signature = h.setup.commit_qc(&other, signers).signature;
    qc
}

/// `msg` signed by validator `i`, with a signature of another message.
fn broken(h: &Harness, i: usize, msg: ConsensusMsg) -> Input {
    let mut m = h.key(i).sign_msg(msg);
    m.sig = h
        .key(i)
        .sign_msg(ConsensusMsg::ReplicaTimeout(h.timeout(77, None, None)))
        .sig;
    Input::Message(m)
}

fn bad_justification_signature() -> Rejection {
    Rejection::Justification(JustificationVerifyError::Commit(
        CommitQCVerifyError::BadSignature,
    ))
}

/// Each replica builds its own certificate from the votes it received; the leader's, which
/// justifies the next proposal, certifies the same message with other signers. It is
/// accepted without a signature check, and never replaces the replica's own.
#[test]
fn another_certificate_for_a_certified_message_is_not_checked_again() {
    let mut h = Harness::new(6, 0);
    let high = finalize_view_1(&mut h, &payload(b"block"));
    let certified = high.message.clone();
    let checks = h.replica.qc_checks();
    let next = payload(b"next");
    let propose = |h: &Harness, qc: CommitQC| {
        h.proposal(2, Some(next.clone()), ProposalJustification::Commit(qc))
    };

    // A certificate for another message of view 1: checked, and rejected if forged.
    let other = h.commit(1, h.first(), &payload(b"other"));
    let forged_other = forged_qc(&h, &other, &[1, 2, 3, 4, 5]);
    assert_eq!(
        h.feed(propose(&h, forged_other)),
        Err(bad_justification_signature())
    );
    assert_eq!(h.replica.qc_checks(), checks + 1);

    // For the certified message the structure is still checked.
    let weak = forged_qc(&h, &certified, &[1, 2]);
    assert!(matches!(
        h.feed(propose(&h, weak)),
        Err(Rejection::Justification(JustificationVerifyError::Commit(
            CommitQCVerifyError::NotEnoughWeight { .. }
        )))
    ));

    // Other signers and a forged signature: accepted without a check (the statement it
    // certifies is proven by the replica's own certificate) ...
    let twin = forged_qc(&h, &certified, &[1, 2, 3, 4, 5]);
    assert_ne!(twin, high);
    let out = h.ok(propose(&h, twin.clone()));
    assert!(
        matches!(out.as_slice(), [Output::VerifyPayload { number, .. }] if *number == h.first().next()),
        "{out:?}"
    );
    assert_eq!(h.replica.qc_checks(), checks + 1);
    // ... but it never becomes the high certificate, so it is never persisted nor sent.
    assert_eq!(h.replica.high_commit_qc(), Some(&high));
    let out = h.ok(Input::PayloadVerified {
        view: ViewNumber(2),
        number: h.first().next(),
        hash: next.hash(),
        valid: true,
    });
    let Output::PersistState(s) = &out[position(&out, is_persist)] else {
        unreachable!()
    };
    assert_eq!(s.high_commit_qc.as_ref(), Some(&high));
    let out = h.ok(Input::TimerExpired);
    for m in broadcasts(&out) {
        match &m.msg {
            ConsensusMsg::ReplicaTimeout(t) => assert_eq!(t.high_qc.as_ref(), Some(&high)),
            ConsensusMsg::ReplicaNewView(nv) => assert_eq!(
                nv.justification,
                ProposalJustification::Commit(high.clone())
            ),
            m => panic!("{m:?}"),
        }
    }
    // Nor is it remembered as verified: inside a timeout vote (which is kept in a timeout
    // certificate and forwarded) it is checked, and rejected.
    let t = h.timeout(2, None, Some(twin));
    assert!(matches!(
        h.feed(h.sign(1, ConsensusMsg::ReplicaTimeout(t))),
        Err(Rejection::Timeout(_))
    ));
    assert_eq!(h.replica.qc_checks(), checks + 2);
}

/// A message certified only by a certificate the replica did not take as its high one (here,
/// the high certificate of a timeout vote) gives no shortcut to a certificate that would
/// become the high one: that one is checked, and rejected if forged.
#[test]
fn a_certificate_higher_than_the_high_one_is_always_checked() {
    let mut h = Harness::new(6, 0);
    h.enter_view_1();
    let first = h.first();
    let msg = h.commit(0, first, &payload(b"a"));
    let valid = h.setup.commit_qc(&msg, &[0, 1, 2, 3, 4]);
    h.ok(h.sign(
        1,
        ConsensusMsg::ReplicaTimeout(h.timeout(1, None, Some(valid.clone()))),
    ));
    assert_eq!(h.replica.high_commit_qc(), None);
    let checks = h.replica.qc_checks();
    let twin = forged_qc(&h, &msg, &[1, 2, 3, 4, 5]);
    let p = payload(b"b");
    assert_eq!(
        h.feed(h.proposal(1, Some(p.clone()), ProposalJustification::Commit(twin))),
        Err(bad_justification_signature())
    );
    assert_eq!(h.replica.qc_checks(), checks + 1);
    assert_eq!(h.replica.high_commit_qc(), None);
    // The valid one is accepted (from the cache) and becomes the high certificate.
    h.ok(h.proposal(1, Some(p), ProposalJustification::Commit(valid.clone())));
    assert_eq!(h.replica.qc_checks(), checks + 1);
    assert_eq!(h.replica.high_commit_qc(), Some(&valid));
}

/// Messages signed with the replica's own key are not checked. This relies on the
/// precondition of `crate::io`, met by the consensus network: such a message can only come
/// over the replica's own loopback connection, authenticated with its key. Messages of other
/// validators with a broken signature are still rejected.
#[test]
fn own_messages_are_not_checked() {
    let me = Harness::new(6, 0).leader(1);
    let other = (me + 1) % 6;
    let mut h = Harness::new(6, me);
    let qc = h.enter_view_1();
    let proposal = ConsensusMsg::LeaderProposal(LeaderProposal {
        proposal_payload: Some(payload(b"x")),
        justification: ProposalJustification::Timeout(qc),
    });
    // The own proposal, with a broken signature: accepted.
    let out = h.ok(broken(&h, me, proposal));
    assert!(matches!(out.as_slice(), [Output::VerifyPayload { .. }]));
    // Timeout votes: another validator's broken one is rejected, the own one accepted.
    let t = ConsensusMsg::ReplicaTimeout(h.timeout(1, None, None));
    assert_eq!(
        h.feed(broken(&h, other, t.clone())),
        Err(Rejection::BadSignature)
    );
    h.ok(broken(&h, me, t));

    // Commit votes checked one by one: the same.
    let mut h = Harness::with(6, 0, VoteCheck::Eager);
    h.enter_view_1();
    let vote = ConsensusMsg::ReplicaCommit(h.commit(1, h.first(), &payload(b"a")));
    assert_eq!(
        h.feed(broken(&h, 1, vote.clone())),
        Err(Rejection::BadSignature)
    );
    h.ok(broken(&h, 0, vote));
}

/// Over channels that authenticate senders (the consensus network), a proposal and a
/// new-view message are taken on their sender's word: broken envelope signatures pass. Their
/// certificates are still checked, and so is every vote, whose signature goes into
/// certificates. The same messages are rejected when senders are not authenticated.
#[test]
fn with_authenticated_senders_only_votes_and_certificates_are_checked() {
    for authenticated in [true, false] {
        let mut h = Harness::new(6, 0);
        let leader = h.leader(1);
        let other = (1..6).find(|i| *i != leader).unwrap();
        h.params.senders_authenticated = authenticated;
        h.restart(ReplicaState::new(EpochNumber(0)));
        let qc = h.enter_view_1();
        let p = payload(b"x");
        let proposal = ConsensusMsg::LeaderProposal(LeaderProposal {
            proposal_payload: Some(p.clone()),
            justification: ProposalJustification::Timeout(qc),
        });
        let res = h.feed(broken(&h, leader, proposal));
        if authenticated {
            assert!(matches!(
                res.unwrap().as_slice(),
                [Output::VerifyPayload { .. }]
            ));
        } else {
            assert_eq!(res, Err(Rejection::BadSignature));
        }
        // A new-view message with a higher certificate: the envelope as above.
        let qc1 = finalize_view_1(&mut Harness::new(6, 0), &p);
        let nv = ConsensusMsg::ReplicaNewView(ReplicaNewView {
            justification: ProposalJustification::Commit(qc1.clone()),
        });
        let res = h.feed(broken(&h, other, nv));
        if authenticated {
            res.unwrap();
            assert_eq!(h.replica.view(), ViewNumber(2));
        } else {
            assert_eq!(res, Err(Rejection::BadSignature));
        }
        // A forged certificate (of view 2, higher than the replica's) is rejected either way.
        let p2 = payload(b"y");
        let forged = forged_qc(&h, &h.commit(2, h.first().next(), &p2), &[1, 2, 3, 4, 5]);
        let nv = ConsensusMsg::ReplicaNewView(ReplicaNewView {
            justification: ProposalJustification::Commit(forged),
        });
        if authenticated {
            assert_eq!(
                h.feed(h.sign(other, nv)),
                Err(bad_justification_signature())
            );
        }
        // Votes: a broken timeout vote is rejected either way.
        let v = h.replica.view().0;
        let t = ConsensusMsg::ReplicaTimeout(h.timeout(v, None, None));
        assert_eq!(h.feed(broken(&h, other, t)), Err(Rejection::BadSignature));
    }
}

/// The leader's new-view message of the current view is rejected before any signature or
/// certificate check when its commit certificate is not higher than the replica's: it would
/// change nothing. With a higher one it is checked and processed.
#[test]
fn leaders_new_view_without_a_higher_certificate_is_rejected_unchecked() {
    let nv = |qc: CommitQC| {
        ConsensusMsg::ReplicaNewView(ReplicaNewView {
            justification: ProposalJustification::Commit(qc),
        })
    };
    let mut h = Harness::new(6, 0);
    let high = finalize_view_1(&mut h, &payload(b"block"));
    let checks = h.replica.qc_checks();
    let l = h.leader(2);
    let twin = forged_qc(&h, &high.message, &[1, 2, 3, 4, 5]);
    assert_eq!(h.feed(broken(&h, l, nv(twin))), Err(Rejection::Old));
    assert_eq!(h.feed(h.sign(l, nv(high))), Err(Rejection::Old));
    assert_eq!(h.replica.qc_checks(), checks);

    // Entered view 1 through a timeout certificate, the replica lacks the commit certificate
    // of view 0: the leader's new-view message brings it.
    let mut h = Harness::new(6, 0);
    h.enter_view_1();
    let l = h.leader(1);
    let msg = h.commit(0, h.first(), &payload(b"a"));
    let forged = forged_qc(&h, &msg, &[0, 1, 2, 3, 4]);
    assert_eq!(
        h.feed(h.sign(l, nv(forged))),
        Err(bad_justification_signature())
    );
    let valid = h.setup.commit_qc(&msg, &[0, 1, 2, 3, 4]);
    h.ok(h.sign(l, nv(valid.clone())));
    assert_eq!(h.replica.high_commit_qc(), Some(&valid));
    assert_eq!(h.replica.view(), ViewNumber(1));
}
