//! Who gets a replica's new-view message on entering a view (bft DESIGN.md difference 11).

use zksync_consensus_roles::validator::{ConsensusMsg, ReplicaNewView, ViewNumber};

use super::*;

/// The justifications of the new-view messages among `outputs`.
fn new_views(outputs: &[Output]) -> Vec<&ProposalJustification> {
    broadcasts(outputs)
        .into_iter()
        .filter_map(|m| match &m.msg {
            ConsensusMsg::ReplicaNewView(ReplicaNewView { justification }) => Some(justification),
            _ => None,
        })
        .collect()
}

fn delays(outputs: &[Output]) -> Vec<ViewNumber> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::DelayNewView { view } => Some(*view),
            _ => None,
        })
        .collect()
}

/// A replica of 6 that does not lead view 2, in view 1.
fn replica_not_leading_view_2() -> Harness {
    let h = Harness::new(6, 0);
    let me = (h.leader(2) + 1) % 6;
    let mut h = Harness::new(6, me);
    h.enter_view_1();
    h
}

/// Commit votes of view 1 from five validators other than the replica: it forms the
/// certificate and enters view 2. Returns the outputs of the last vote and the certificate's
/// justification.
fn certify_view_1(h: &mut Harness) -> (Vec<Output>, ProposalJustification) {
    let vote = h.commit(1, h.first(), &payload(b"a"));
    let signers: Vec<usize> = (0..6).filter(|i| *i != h.me).take(5).collect();
    let mut out = vec![];
    for i in &signers {
        out = h.ok(h.sign(*i, ConsensusMsg::ReplicaCommit(vote.clone())));
    }
    assert_eq!(h.replica.view(), ViewNumber(2));
    let qc = h.replica.high_commit_qc().unwrap().clone();
    (out, ProposalJustification::Commit(qc))
}

/// A commit certificate: the new-view message goes out only when the delay elapses, and
/// only if the replica is still in the view.
#[test]
fn held_back_for_the_delay_then_goes_to_everyone() {
    let mut h = replica_not_leading_view_2();
    let (out, j) = certify_view_1(&mut h);
    assert!(new_views(&out).is_empty(), "{out:?}");
    assert_eq!(delays(&out), vec![ViewNumber(2)]);
    let delay = position(&out, |o| matches!(o, Output::DelayNewView { .. }));
    assert!(position(&out, is_persist) < delay);
    // A delay of another view is stale.
    assert!(
        h.ok(Input::NewViewDelayElapsed {
            view: ViewNumber(1)
        })
        .is_empty()
    );
    let out = h.ok(Input::NewViewDelayElapsed {
        view: ViewNumber(2),
    });
    assert_eq!(new_views(&out), vec![&j]);
    assert_eq!(out.len(), 1, "{out:?}");
}

/// A proposal received or voted on does not hold the message back (the leader may have sent
/// it to some replicas only); leaving the view or timing out does.
#[test]
fn only_leaving_the_view_or_a_timeout_holds_it_back() {
    let elapsed = |v: u64| Input::NewViewDelayElapsed {
        view: ViewNumber(v),
    };
    let mut h = replica_not_leading_view_2();
    let (_, j) = certify_view_1(&mut h);
    let p = payload(b"b");
    h.ok(h.proposal(2, Some(p.clone()), j.clone()));
    h.ok(Input::PayloadVerified {
        view: ViewNumber(2),
        number: h.first().next(),
        hash: p.hash(),
        valid: true,
    });
    assert_eq!(h.replica.phase(), Phase::Commit);
    assert_eq!(
        new_views(&h.ok(elapsed(2))),
        vec![&j],
        "voted, still in view 2"
    );
    // Timed out: the timer expiry broadcast it.
    let mut h = replica_not_leading_view_2();
    certify_view_1(&mut h);
    assert_eq!(new_views(&h.ok(Input::TimerExpired)).len(), 1);
    assert!(h.ok(elapsed(2)).is_empty(), "timed out");
    // Left the view.
    let mut h = replica_not_leading_view_2();
    certify_view_1(&mut h);
    let t = ProposalJustification::Timeout(h.empty_timeout_qc(2));
    let other = (0..6).find(|i| *i != h.me && *i != h.leader(2)).unwrap();
    let nv = ConsensusMsg::ReplicaNewView(ReplicaNewView { justification: t });
    h.ok(h.sign(other, nv));
    assert_eq!(h.replica.view(), ViewNumber(3));
    assert!(h.ok(elapsed(2)).is_empty(), "left the view");
}

/// Entering by another replica's new-view message with a commit certificate holds the
/// message back too; the leader of the view holds back nothing (its proposal carries it).
#[test]
fn entering_by_a_new_view_message_and_as_leader() {
    let mut h = replica_not_leading_view_2();
    let qc = h
        .setup
        .commit_qc(&h.commit(1, h.first(), &payload(b"d")), &h.all());
    let nv = ConsensusMsg::ReplicaNewView(ReplicaNewView {
        justification: ProposalJustification::Commit(qc),
    });
    let other = (0..6).find(|i| *i != h.me && *i != h.leader(2)).unwrap();
    let out = h.ok(h.sign(other, nv.clone()));
    assert_eq!(h.replica.view(), ViewNumber(2));
    assert!(new_views(&out).is_empty(), "{out:?}");
    assert_eq!(delays(&out), vec![ViewNumber(2)]);
    // The leader of view 2.
    let l = h.leader(2);
    let mut h = Harness::new(6, l);
    h.enter_view_1();
    let out = h.ok(h.sign(other, nv));
    assert_eq!(h.replica.view(), ViewNumber(2));
    assert!(new_views(&out).is_empty(), "{out:?}");
    assert!(delays(&out).is_empty(), "{out:?}");
    assert!(
        h.ok(Input::NewViewDelayElapsed {
            view: ViewNumber(2)
        })
        .is_empty()
    );
}

/// A replica restarted in a view it has not timed out in starts the delay again: a new-view
/// message held back before the crash is not lost.
#[test]
fn a_restart_starts_the_delay_again() {
    let mut h = replica_not_leading_view_2();
    let (out, j) = certify_view_1(&mut h);
    let Some(Output::PersistState(state)) = out.iter().find(|o| is_persist(o)).cloned() else {
        panic!("{out:?}")
    };
    h.restart(state);
    let out = h.ok(Input::Start);
    assert_eq!(delays(&out), vec![ViewNumber(2)]);
    let out = h.ok(Input::NewViewDelayElapsed {
        view: ViewNumber(2),
    });
    assert_eq!(new_views(&out), vec![&j]);
}

/// After a timeout the leader of the view before failed: the new-view message goes to
/// everyone at once, as in the reference.
#[test]
fn timeout_certificate_goes_to_everyone_at_once() {
    let mut h = replica_not_leading_view_2();
    let t = ConsensusMsg::ReplicaTimeout(h.timeout(1, None, None));
    let signers: Vec<usize> = (0..6).filter(|i| *i != h.me).take(5).collect();
    let mut out = vec![];
    for i in &signers {
        out = h.ok(h.sign(*i, t.clone()));
    }
    assert_eq!(h.replica.view(), ViewNumber(2));
    let nv = new_views(&out);
    assert_eq!(nv.len(), 1, "{out:?}");
    assert!(matches!(nv[0], ProposalJustification::Timeout(_)));
    assert!(delays(&out).is_empty());
}

/// A replica that enters a view through the leader's proposal sends no new-view message:
/// the leader broadcast that justification itself.
#[test]
fn entering_by_the_proposal_sends_none() {
    let mut h = replica_not_leading_view_2();
    let j = ProposalJustification::Timeout(h.empty_timeout_qc(1));
    let out = h.ok(h.proposal(2, Some(payload(b"c")), j));
    assert_eq!(h.replica.view(), ViewNumber(2));
    assert!(new_views(&out).is_empty(), "{out:?}");
    assert!(delays(&out).is_empty());
}
