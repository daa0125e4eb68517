//! Start, timeouts and their re-broadcast, restarts, new-view messages.

use zksync_consensus_roles::validator::{ConsensusMsg, ReplicaNewView, ViewNumber};

use super::*;

#[test]
fn view_0_times_out_at_once() {
    let mut h = Harness::new(6, 0);
    let out = h.ok(Input::Start);
    let Output::PersistState(s) = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!((s.view, s.phase), (ViewNumber(0), Phase::Timeout));
    let b = broadcasts(&out);
    // No new-view message in view 0: there is no justification yet.
    assert_eq!(b.len(), 1);
    assert_eq!(
        b[0].msg,
        ConsensusMsg::ReplicaTimeout(h.timeout(0, None, None))
    );
    assert_eq!(out.last(), Some(&Output::ResetTimer));
}

/// While stuck, every timer expiry sends the same timeout vote again (and a new-view
/// message), without persisting anything new; a restarted replica sends the same vote too.
#[test]
fn timeouts_are_resent_unchanged_across_restarts() {
    let mut h = Harness::new(6, 0);
    h.enter_view_1();
    let out = h.ok(Input::TimerExpired);
    let Output::PersistState(state) = out[0].clone() else {
        panic!("{out:?}")
    };
    let timeout = |out: &[Output]| {
        broadcasts(out)
            .into_iter()
            .find(|m| matches!(m.msg, ConsensusMsg::ReplicaTimeout(_)))
            .cloned()
            .unwrap()
    };
    let first = timeout(&out);
    assert!(
        broadcasts(&out)
            .iter()
            .any(|m| matches!(m.msg, ConsensusMsg::ReplicaNewView(_)))
    );
    // A higher commit certificate arrives in between (from the current leader's new view).
    let p = payload(b"a");
    let qc = h.setup.commit_qc(&h.commit(0, h.first(), &p), &h.all());
    let nv = ConsensusMsg::ReplicaNewView(ReplicaNewView {
        justification: ProposalJustification::Commit(qc),
    });
    let l = h.leader(1);
    h.ok(h.sign(l, nv));
    let again = h.ok(Input::TimerExpired);
    assert!(!again.iter().any(is_persist), "{again:?}");
    assert_eq!(timeout(&again), first);
    // Crash and restart from the persisted state.
    h.restart(state);
    assert_eq!(h.ok(Input::Start), vec![Output::ResetTimer]);
    assert_eq!(timeout(&h.ok(Input::TimerExpired)), first);
}

#[test]
fn new_view_rules() {
    let mut h = Harness::new(6, 0);
    h.enter_view_1();
    let j0 = ProposalJustification::Timeout(h.empty_timeout_qc(0));
    let nv = |j: ProposalJustification| {
        ConsensusMsg::ReplicaNewView(ReplicaNewView { justification: j })
    };
    // Current view from someone other than its leader: old.
    let other = (h.leader(1) + 1) % 6;
    assert_eq!(h.feed(h.sign(other, nv(j0.clone()))), Err(Rejection::Old));
    // Current view from its leader: processed, no view change.
    let l = h.leader(1);
    let out = h.ok(h.sign(l, nv(j0)));
    assert!(out.is_empty());
    // Invalid justification.
    let t = h.timeout(1, None, None);
    let weak = h.setup.timeout_qc(h.setup.view(1), &[(0, t)]);
    assert!(matches!(
        h.feed(h.sign(other, nv(ProposalJustification::Timeout(weak)))),
        Err(Rejection::Justification(_))
    ));
    // Bad signature.
    let mut forged = h
        .key(other)
        .sign_msg(nv(ProposalJustification::Timeout(h.empty_timeout_qc(3))));
    forged.sig = h
        .key(other)
        .sign_msg(nv(ProposalJustification::Timeout(h.empty_timeout_qc(2))))
        .sig;
    assert_eq!(h.feed(Input::Message(forged)), Err(Rejection::BadSignature));
    // A later view: entered.
    let out = h.ok(h.sign(
        other,
        nv(ProposalJustification::Timeout(h.empty_timeout_qc(3))),
    ));
    assert_eq!(h.replica.view(), ViewNumber(4));
    assert_eq!(out.last(), Some(&Output::ResetTimer));
}

/// A commit certificate for a block whose payload the replica cached queues the block; a
/// restart before the block is persisted queues it again from the persisted state.
#[test]
fn finalized_payload_survives_a_restart() {
    let mut h = Harness::new(6, 0);
    let qc = h.enter_view_1();
    let p = payload(b"keep");
    let first = h.first();
    h.ok(h.proposal(1, Some(p.clone()), ProposalJustification::Timeout(qc)));
    let out = h.ok(Input::PayloadVerified {
        view: ViewNumber(1),
        number: first,
        hash: p.hash(),
        valid: true,
    });
    let Output::PersistState(state) = out[0].clone() else {
        panic!("{out:?}")
    };
    // The certificate arrives in a new-view message of view 2.
    let cqc = h.setup.commit_qc(&h.commit(1, first, &p), &h.all());
    let nv = ConsensusMsg::ReplicaNewView(ReplicaNewView {
        justification: ProposalJustification::Commit(cqc.clone()),
    });
    let out = h.ok(h.sign(1, nv));
    assert!(matches!(&out[0], Output::QueueBlock(b) if b.payload == p));
    // Crash after persisting the new view, before the block store persisted the block.
    let Some(Output::PersistState(later)) = out.iter().find(|o| is_persist(o)).cloned() else {
        panic!()
    };
    assert_eq!(later.proposals, state.proposals);
    h.restart(later);
    let out = h.ok(Input::Start);
    assert!(matches!(&out[0], Output::QueueBlock(b) if b.payload == p && b.justification == cqc));
}

#[test]
fn invalid_persisted_state_is_refused() {
    let h = Harness::new(6, 0);
    let p = payload(b"a");
    let mut state = ReplicaState::new(EpochNumber(0));
    state.high_commit_qc = Some(h.setup.commit_qc(&h.commit(0, h.first(), &p), &[0, 1]));
    let err = Replica::new(
        h.params.clone(),
        h.key(0).clone(),
        Arc::new(Bls),
        Some(state),
    )
    .unwrap_err();
    assert!(err.to_string().contains("high_commit_qc"), "{err}");
    // A state of another epoch is ignored.
    let mut other = ReplicaState::new(EpochNumber(5));
    other.view = ViewNumber(9);
    let r = Replica::new(
        h.params.clone(),
        h.key(0).clone(),
        Arc::new(Bls),
        Some(other),
    )
    .unwrap();
    assert_eq!(r.view(), ViewNumber(0));
}
