//! New-view messages, certificates and view changes (protocol.md 2.6, 2.9, 2.10; 10.1 items
//! 1, 4 and 5).
//!
//! - A new-view message for an older view is old; so is one for the current view unless it
//!   comes from the view's leader (that is how a leader pushes its high certificate to
//!   replicas that lack it), and one of the current view with a commit certificate not higher
//!   than the replica's (it would change nothing). These checks come before any signature or
//!   certificate work.
//! - Its justification must verify; its certificate is processed; a later view is entered.
//! - Processing a commit certificate: if it is higher than the known one it becomes the high
//!   commit certificate, and its block is queued if the payload is cached.
//! - Processing a timeout certificate: its highest commit certificate is processed, and it
//!   becomes the high timeout certificate if higher.
//! - Entering view `v`: phase Prepare, cached payloads pruned, state persisted, then the
//!   new-view message with the current justification, the proposer (if leading `v`), and a
//!   fresh timer. Who gets the new-view message, and when (the reference broadcasts it at
//!   once in every case; bft DESIGN.md difference 11):
//!   - entered by a timeout certificate: everyone, at once;
//!   - entered by a commit certificate: everyone, once the new-view delay elapsed, if the
//!     replica is still in `v` and has not timed out (also after a restart). Every replica,
//!     the leader included, receives the commit votes this one counted and forms the
//!     certificate itself, and the leader's proposal carries it to those that missed them:
//!     in steady state the message was dropped as old everywhere, and a fast view is over
//!     long before the delay;
//!   - entered through the leader's proposal: nobody (the leader broadcast the justification);
//!   - the leader of `v` sends none unless it fails to propose: its proposal carries the same
//!     justification.
//! - Timer expiry: phase Timeout (persisted the first time in a view), then a new-view message
//!   (except in view 0) and the timeout vote, every time the timer expires while the replica
//!   makes no progress: messages lost before the network stabilised are sent again.

use zksync_consensus_roles::validator::{
    CommitQC, ConsensusMsg, FinalBlock, Phase, ProposalJustification, ReplicaNewView,
    ReplicaTimeout, Signed, TimeoutQC, ViewNumber,
};

use super::{Output, Rejection, Replica};

/// How a replica came to enter a view: decides who needs its new-view message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Entry {
    /// A certificate: formed from votes, or received in a new-view message.
    Certificate,
    /// The proposal of the view's leader, which the leader broadcast to every replica.
    Proposal,
}

impl Replica {
    pub(super) fn on_new_view(&mut self, m: Signed<ReplicaNewView>) -> Result<(), Rejection> {
        let v = m.msg.view().number;
        let schedule = &self.params.schedule;
        if v < self.view || (v == self.view && m.key != *schedule.view_leader(self.view)) {
            return Err(Rejection::Old);
        }
        // The leader's new-view message for the current view, with a commit certificate not
        // higher than the replica's, would change nothing (`process_commit_qc` keeps the
        // replica's certificate, and the view stays): in steady state that is every such
        // message, since it carries the certificate of the votes the replica has just counted.
        if v == self.view
            && let ProposalJustification::Commit(qc) = &m.msg.justification
            && self
                .high_commit_qc
                .as_ref()
                .is_some_and(|h| h.view().number >= qc.view().number)
        {
            return Err(Rejection::Old);
        }
        if !schedule.contains(&m.key) {
            return Err(Rejection::NonValidatorSigner);
        }
        self.check_sender(&m)?;
        self.verify_justification(&m.msg.justification)?;
        self.process_justification(&m.msg.justification);
        if v > self.view {
            self.start_new_view(v, Entry::Certificate);
        }
        Ok(())
    }

    pub(super) fn process_justification(&mut self, j: &ProposalJustification) {
        match j {
            ProposalJustification::Commit(qc) => self.process_commit_qc(qc),
            ProposalJustification::Timeout(qc) => self.process_timeout_qc(qc),
        }
    }

    pub(super) fn process_commit_qc(&mut self, qc: &CommitQC) {
        if self
            .high_commit_qc
            .as_ref()
            .is_some_and(|h| h.view().number >= qc.view().number)
        {
            return;
        }
        self.high_commit_qc = Some(qc.clone());
        self.maybe_queue_block();
    }

    pub(super) fn process_timeout_qc(&mut self, qc: &TimeoutQC) {
        if let Some(h) = qc.high_qc() {
            self.process_commit_qc(h);
        }
        if self
            .high_timeout_qc
            .as_ref()
            .is_none_or(|h| h.view.number < qc.view.number)
        {
            self.high_timeout_qc = Some(qc.clone());
        }
    }

    /// Queues the block of the high commit certificate if its payload is cached and it was not
    /// handed out yet.
    ///
    /// The payload of a proposal still under the execution layer's check counts as cached: the
    /// certificate shows that a quorum checked it, as block sync would trust. Without this, a
    /// replica whose check is slower than the quorum's votes (its previous block not persisted
    /// yet) would have to fetch the block by sync, whose announcements come at most every
    /// 200 ms, and stall the chain when it leads next.
    pub(super) fn maybe_queue_block(&mut self) {
        let Some(qc) = &self.high_commit_qc else {
            return;
        };
        let h = qc.header();
        if h.number < self.persisted_next || self.queued_up_to.is_some_and(|q| q >= h.number) {
            return;
        }
        let pending = self
            .pending
            .as_ref()
            .filter(|p| p.number == h.number && p.hash == h.payload)
            .map(|p| &p.payload);
        let Some(payload) = self
            .proposals
            .get(&h.number)
            .and_then(|m| m.get(&h.payload))
            .or(pending)
        else {
            return;
        };
        let block = FinalBlock {
            payload: payload.clone(),
            justification: qc.clone(),
        };
        self.queued_up_to = Some(h.number);
        self.out.push(Output::QueueBlock(block));
    }

    /// The justification of the next view: the higher of the two certificates (commit on
    /// ties). `None` only before the first certificate.
    pub(super) fn justification(&self) -> Option<ProposalJustification> {
        match (&self.high_commit_qc, &self.high_timeout_qc) {
            (Some(c), Some(t)) if c.view().number >= t.view.number => {
                Some(ProposalJustification::Commit(c.clone()))
            }
            (_, Some(t)) => Some(ProposalJustification::Timeout(t.clone())),
            (Some(c), None) => Some(ProposalJustification::Commit(c.clone())),
            (None, None) => None,
        }
    }

    pub(super) fn start_new_view(&mut self, v: ViewNumber, entry: Entry) {
        debug_assert!(v > self.view);
        self.view = v;
        self.phase = Phase::Prepare;
        self.sent_timeout = None;
        if self.pending.as_ref().is_some_and(|p| p.view < v) {
            self.pending = None;
        }
        // Payloads stay until their block is durable (the reference drops them once a
        // certificate for their number is known, which can lose a finalized payload in a crash
        // before the block store persisted it).
        let persisted_next = self.persisted_next;
        self.proposals.retain(|n, _| *n >= persisted_next);
        self.persist();
        let j = self.justification();
        if let Some(j) = j {
            // The leader of `v` sends this justification in its proposal, a superset of the
            // new-view message (which replicas already in `v` drop as old); it sends the
            // new-view message instead only if it cannot propose (`on_payload_proposed`).
            // A replica that entered `v` through the leader's proposal has nothing to tell:
            // the leader broadcast that justification itself.
            if entry == Entry::Certificate && !self.is_me(self.params.schedule.view_leader(v)) {
                self.send_new_view(v, j.clone());
            }
            self.propose(v, j);
        }
        self.out.push(Output::ResetTimer);
    }

    /// The new-view message on entering view `v` by a certificate.
    ///
    /// With a commit certificate it goes out only if the view is still on when the new-view
    /// delay elapses ([`Output::DelayNewView`]): every replica, the leader of `v` included,
    /// receives the commit votes this one counted and forms the certificate itself (votes of
    /// later views count too), and the leader's proposal carries it to any replica that
    /// missed them. With a timeout certificate (the leader of the view before failed) it goes
    /// out at once, as in the reference.
    fn send_new_view(&mut self, v: ViewNumber, j: ProposalJustification) {
        if matches!(j, ProposalJustification::Commit(_)) {
            self.out.push(Output::DelayNewView { view: v });
        } else {
            self.broadcast(ConsensusMsg::ReplicaNewView(ReplicaNewView {
                justification: j,
            }));
        }
    }

    /// The new-view delay of view `v` elapsed: the new-view message goes to everyone if the
    /// replica is still in `v` and has not timed out (which broadcast it already).
    ///
    /// A proposal received or voted on in `v` does not hold it back: a leader may have sent
    /// its proposal only to some replicas (or some may have rejected it), and a view that takes
    /// this long is slow anyway; in a fast view the replica has left `v` long before.
    pub(super) fn on_new_view_delay(&mut self, v: ViewNumber) {
        if v != self.view
            || self.phase == Phase::Timeout
            || self.is_me(self.params.schedule.view_leader(v))
        {
            return;
        }
        if let Some(j) = self.justification() {
            self.broadcast(ConsensusMsg::ReplicaNewView(ReplicaNewView {
                justification: j,
            }));
        }
    }

    pub(super) fn sign_timeout(&self) -> Signed<ConsensusMsg> {
        self.crypto.sign(
            &self.key,
            &self.me,
            ConsensusMsg::ReplicaTimeout(ReplicaTimeout {
                view: self.view_of(self.view),
                high_vote: self.high_vote.clone(),
                high_qc: self.high_commit_qc.clone(),
            }),
        )
    }

    pub(super) fn start_timeout(&mut self) {
        if self.phase != Phase::Timeout || self.sent_timeout.is_none() {
            self.phase = Phase::Timeout;
            self.persist();
            self.sent_timeout = Some(self.sign_timeout());
        }
        if self.view != ViewNumber(0)
            && let Some(j) = self.justification()
        {
            self.broadcast(ConsensusMsg::ReplicaNewView(ReplicaNewView {
                justification: j,
            }));
        }
        if let Some(t) = &self.sent_timeout {
            self.out.push(Output::Broadcast(t.clone()));
        }
        self.out.push(Output::ResetTimer);
    }
}
