//! Proposals: every rejection path of protocol.md 2.11, the vote, the proposer.

use zksync_consensus_roles::validator::{
    ConsensusMsg, LeaderProposal, Phase, ProposalJustification, ReplicaCommit, ReplicaNewView,
    ViewNumber,
};

use super::*;

#[test]
fn valid_proposal_is_voted_for_after_the_state_is_persisted() {
    let mut h = Harness::new(6, 0);
    let qc = h.enter_view_1();
    let p = payload(b"block");
    let out = h.ok(h.proposal(1, Some(p.clone()), ProposalJustification::Timeout(qc)));
    let first = h.first();
    assert_eq!(
        out,
        vec![Output::VerifyPayload {
            view: ViewNumber(1),
            number: first,
            payload: p.clone(),
        }]
    );
    let out = h.ok(Input::PayloadVerified {
        view: ViewNumber(1),
        number: first,
        hash: p.hash(),
        valid: true,
    });
    let vote = h.commit(1, first, &p);
    let persisted = position(&out, is_persist);
    let sent = position(&out, |o| matches!(o, Output::Broadcast(_)));
    assert!(persisted < sent, "{out:?}");
    let Output::PersistState(s) = &out[persisted] else {
        unreachable!()
    };
    assert_eq!(s.phase, Phase::Commit);
    assert_eq!(s.high_vote.as_ref(), Some(&vote));
    assert_eq!(s.proposals.len(), 1);
    let b = broadcasts(&out);
    assert_eq!(b[0].msg, ConsensusMsg::ReplicaCommit(vote));
    b[0].verify().unwrap();
    // A second proposal of the view is old now.
    assert_eq!(
        h.feed(h.proposal(
            1,
            Some(p),
            ProposalJustification::Timeout(h.empty_timeout_qc(0))
        )),
        Err(Rejection::Old)
    );
}

#[test]
fn payload_rejected_by_the_execution_layer_gets_no_vote() {
    let mut h = Harness::new(6, 0);
    let qc = h.enter_view_1();
    let p = payload(b"bad");
    h.ok(h.proposal(1, Some(p.clone()), ProposalJustification::Timeout(qc)));
    let first = h.first();
    let out = h.ok(Input::PayloadVerified {
        view: ViewNumber(1),
        number: first,
        hash: p.hash(),
        valid: false,
    });
    assert!(out.is_empty());
    assert_eq!(h.replica.phase(), Phase::Prepare);
}

#[test]
fn proposal_rejections() {
    let mut h = Harness::new(6, 0);
    let qc = h.enter_view_1();
    let j = ProposalJustification::Timeout(qc);
    let p = payload(b"x");
    // Old: a view before the current one.
    let old_j = ProposalJustification::Timeout(h.empty_timeout_qc(0));
    h.ok(Input::Store {
        first: h.first(),
        persisted_next: h.first(),
    });
    let mut h2 = Harness::new(6, 0);
    h2.enter_view_1();
    let qc1 = h2.empty_timeout_qc(1);
    let nv = ConsensusMsg::ReplicaNewView(ReplicaNewView {
        justification: ProposalJustification::Timeout(qc1),
    });
    let l2 = h2.leader(2);
    h2.ok(h2.sign(l2, nv));
    assert_eq!(
        h2.feed(h2.proposal(1, Some(p.clone()), old_j)),
        Err(Rejection::Old)
    );

    // Not the leader.
    let not_leader = (h.leader(1) + 1) % 6;
    let m = h.sign(
        not_leader,
        ConsensusMsg::LeaderProposal(LeaderProposal {
            proposal_payload: Some(p.clone()),
            justification: j.clone(),
        }),
    );
    assert_eq!(h.feed(m), Err(Rejection::InvalidLeader));

    // Bad signature (checked after the cheap checks).
    let Input::Message(mut forged) = h.proposal(1, Some(p.clone()), j.clone()) else {
        unreachable!()
    };
    forged.sig = h
        .key(0)
        .sign_msg(ConsensusMsg::ReplicaCommit(h.commit(1, h.first(), &p)))
        .sig;
    assert_eq!(h.feed(Input::Message(forged)), Err(Rejection::BadSignature));

    // Invalid justification: a timeout certificate with too few signers.
    let t = h.timeout(0, None, None);
    let weak = h
        .setup
        .timeout_qc(h.setup.view(0), &[(0, t.clone()), (1, t)]);
    assert!(matches!(
        h.feed(h.proposal(1, Some(p.clone()), ProposalJustification::Timeout(weak))),
        Err(Rejection::Justification(_))
    ));

    // Missing payload for a new block; oversized payload.
    assert_eq!(
        h.feed(h.proposal(1, None, j.clone())),
        Err(Rejection::MissingPayload)
    );
    let big = payload(&[7; 101]);
    assert_eq!(
        h.feed(h.proposal(1, Some(big), j.clone())),
        Err(Rejection::OversizedPayload {
            size: 101,
            max: 100
        })
    );

    // Below the store's first block.
    let first = h.first();
    h.ok(Input::Store {
        first: first.next(),
        persisted_next: first.next(),
    });
    assert_eq!(
        h.feed(h.proposal(1, Some(p.clone()), j.clone())),
        Err(Rejection::ProposalAlreadyPruned {
            number: first.0,
            first: first.0 + 1
        })
    );
    h.ok(Input::Store {
        first,
        persisted_next: first,
    });

    // Accepted, then the same proposal again while its payload is being checked.
    h.ok(h.proposal(1, Some(p.clone()), j.clone()));
    assert_eq!(
        h.feed(h.proposal(1, Some(p), j)),
        Err(Rejection::ProposalPending)
    );
}

/// A timeout certificate in which a subquorum reports the same high vote implies a reproposal:
/// it must come without payload, and replicas vote for it at once.
#[test]
fn reproposal() {
    let mut h = Harness::new(6, 0);
    h.enter_view_1();
    let p = payload(b"voted");
    let first = h.first();
    let vote = h.commit(1, first, &p);
    // Subquorum of 6 is 3: three signers report the vote, three report nothing.
    let with: ReplicaTimeout = h.timeout(1, Some(vote.clone()), None);
    let without = h.timeout(1, None, None);
    let votes: Vec<_> = (0..6)
        .map(|i| (i, if i < 3 { with.clone() } else { without.clone() }))
        .collect();
    let tqc = h.setup.timeout_qc(h.setup.view(1), &votes);
    let j = ProposalJustification::Timeout(tqc);
    assert_eq!(
        h.feed(h.proposal(2, Some(p), j.clone())),
        Err(Rejection::ReproposalWithPayload)
    );
    let out = h.ok(h.proposal(2, None, j));
    // Entering view 2 first, then the vote for the reproposed block.
    assert_eq!(h.replica.view(), ViewNumber(2));
    let b = broadcasts(&out);
    let last = b.last().unwrap();
    assert_eq!(
        last.msg,
        ConsensusMsg::ReplicaCommit(ReplicaCommit {
            view: h.setup.view(2),
            proposal: vote.proposal,
        })
    );
}

#[test]
fn proposal_for_a_later_view_enters_it_first() {
    let mut h = Harness::new(6, 0);
    h.enter_view_1();
    let j = ProposalJustification::Timeout(h.empty_timeout_qc(4));
    let out = h.ok(h.proposal(5, Some(payload(b"p")), j));
    assert_eq!(h.replica.view(), ViewNumber(5));
    let Output::PersistState(s) = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!((s.view, s.phase), (ViewNumber(5), Phase::Prepare));
    assert!(out.contains(&Output::ResetTimer));
    assert!(matches!(out.last(), Some(Output::VerifyPayload { .. })));
}

#[test]
fn leader_proposes_in_its_view() {
    let h0 = Harness::new(6, 0);
    let me = h0.leader(1);
    let mut h = Harness::new(6, me);
    drop(h0);
    h.ok(Input::Start);
    let qc = h.empty_timeout_qc(0);
    let nv = ConsensusMsg::ReplicaNewView(ReplicaNewView {
        justification: ProposalJustification::Timeout(qc),
    });
    let out = h.ok(h.sign((me + 1) % 6, nv));
    let first = h.first();
    assert!(out.contains(&Output::ProposePayload {
        view: ViewNumber(1),
        number: first
    }));
    // The leader leaves its justification to its proposal: no new-view message yet.
    assert!(broadcasts(&out).is_empty(), "{out:?}");
    // Oversized or late payloads are not proposed; the justification then goes out as a
    // new-view message.
    let out = h.ok(Input::PayloadProposed {
        view: ViewNumber(1),
        payload: Some(payload(&[0; 101])),
    });
    let b = broadcasts(&out);
    assert_eq!(b.len(), 1, "{out:?}");
    let ConsensusMsg::ReplicaNewView(nv) = &b[0].msg else {
        panic!("{out:?}")
    };
    assert_eq!(nv.view().number, ViewNumber(1));
    // (The proposer's turn is used up by a failure.)
    assert!(
        h.ok(Input::PayloadProposed {
            view: ViewNumber(1),
            payload: Some(payload(b"ok"))
        })
        .is_empty()
    );
}

#[test]
fn leader_broadcasts_its_payload() {
    let h0 = Harness::new(6, 0);
    let me = h0.leader(1);
    let mut h = Harness::new(6, me);
    h.ok(Input::Start);
    let qc = h.empty_timeout_qc(0);
    let nv = ConsensusMsg::ReplicaNewView(ReplicaNewView {
        justification: ProposalJustification::Timeout(qc),
    });
    h.ok(h.sign((me + 1) % 6, nv));
    // Stale answers (another view) are ignored.
    assert!(
        h.ok(Input::PayloadProposed {
            view: ViewNumber(7),
            payload: Some(payload(b"ok"))
        })
        .is_empty()
    );
    let out = h.ok(Input::PayloadProposed {
        view: ViewNumber(1),
        payload: Some(payload(b"ok")),
    });
    let b = broadcasts(&out);
    assert_eq!(b.len(), 1);
    let ConsensusMsg::LeaderProposal(p) = &b[0].msg else {
        panic!()
    };
    assert_eq!(p.proposal_payload, Some(payload(b"ok")));
    assert_eq!(p.view().number, ViewNumber(1));
}
