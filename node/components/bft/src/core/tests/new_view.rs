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

/// A commit certificate: the new-view message goes out only when the delay elapses without
/// a proposal.
#[test]
fn waits_for_the_proposal_then_goes_to_everyone() {
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

/// Once the view's proposal arrived (its check pending, or voted on), the delay sends
/// nothing: the leader gave every replica the certificate.
#[test]
fn nothing_more_once_the_proposal_came() {
    let mut h = replica_not_leading_view_2();
    let (_, j) = certify_view_1(&mut h);
    let p = payload(b"b");
    let out = h.ok(h.proposal(2, Some(p.clone()), j));
    assert!(new_views(&out).is_empty(), "{out:?}");
    let elapsed = Input::NewViewDelayElapsed {
        view: ViewNumber(2),
    };
    assert!(h.ok(elapsed.clone()).is_empty(), "check pending");
    h.ok(Input::PayloadVerified {
        view: ViewNumber(2),
        number: h.first().next(),
        hash: p.hash(),
        valid: true,
    });
    assert_eq!(h.replica.phase(), Phase::Commit);
    assert!(h.ok(elapsed).is_empty(), "voted");
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
