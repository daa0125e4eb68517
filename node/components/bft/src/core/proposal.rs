//! Proposals: receiving them (protocol.md 2.6 `on_proposal`, 2.11) and making them (2.7).
//!
//! A proposal is voted for iff:
//! - its view is not older than the replica's, and if it is the current view, the replica has
//!   neither voted nor timed out in it yet;
//! - it is signed by the leader of its view, and the signature is valid;
//! - its justification verifies for this chain, epoch and schedule;
//! - its implied block is not below the store's first block nor the epoch's first block;
//! - a reproposal (the justification implies a block with a known hash) carries no payload; a
//!   new block carries a payload of at most `max_payload_size` bytes, the block before it is
//!   persisted before the view's timer expires, and the execution layer accepts it (the driver
//!   checks these last two and answers with `Input::PayloadVerified`).
//!
//! The vote is `ReplicaCommit{view, (number, hash)}`; the replica records it (phase Commit,
//! high vote, payload cached) and persists the state before broadcasting it.
//!
//! The leader of a view proposes when it enters the view: a reproposal without payload if the
//! justification implies one, otherwise a new block whose payload the driver obtains from the
//! execution layer (`Output::ProposePayload`). Proposals go to every validator, the leader
//! included, and the leader votes for its own proposal when it comes back.

use zksync_consensus_roles::validator::{
    BlockHeader, BlockNumber, ConsensusMsg, LeaderProposal, Payload, PayloadHash, Phase,
    ProposalJustification, ReplicaCommit, ReplicaNewView, Signed, ViewNumber,
};

use super::{Output, PendingProposal, Rejection, Replica, view::Entry};

impl Replica {
    pub(super) fn on_proposal(&mut self, m: Signed<LeaderProposal>) -> Result<(), Rejection> {
        let v = m.msg.view().number;
        if v < self.view || (v == self.view && self.phase != Phase::Prepare) {
            if self.take_certified_payload(&m.msg) {
                return Ok(());
            }
            return Err(Rejection::Old);
        }
        if self.pending.as_ref().is_some_and(|p| p.view == v) {
            return Err(Rejection::ProposalPending);
        }
        let p = &self.params;
        if m.key != *p.schedule.view_leader(v) {
            return Err(Rejection::InvalidLeader);
        }
        self.check_sender(&m)?;
        self.verify_justification(&m.msg.justification)?;
        let p = &self.params;
        let j = &m.msg.justification;
        let (number, implied_hash) = j.get_implied_block(&p.schedule, p.first_block);
        if number < self.store_first {
            return Err(Rejection::ProposalAlreadyPruned {
                number: number.0,
                first: self.store_first.0,
            });
        }
        if number < p.first_block {
            return Err(Rejection::BlockOutsideEpoch {
                number: number.0,
                first: p.first_block.0,
            });
        }
        let payload = match (implied_hash, m.msg.proposal_payload) {
            (Some(_), Some(_)) => return Err(Rejection::ReproposalWithPayload),
            (Some(_), None) => None,
            (None, None) => return Err(Rejection::MissingPayload),
            (None, Some(payload)) => {
                if payload.len() > p.max_payload_size {
                    return Err(Rejection::OversizedPayload {
                        size: payload.len(),
                        max: p.max_payload_size,
                    });
                }
                Some(payload)
            }
        };
        // Accepted. The justification is a verified certificate: use it at once.
        self.process_justification(&m.msg.justification);
        if v > self.view {
            self.start_new_view(v, Entry::Proposal);
        }
        match (implied_hash, payload) {
            (Some(hash), _) => self.vote(v, number, hash, None),
            (None, Some(payload)) => {
                let hash = payload.hash();
                self.pending = Some(PendingProposal {
                    view: v,
                    number,
                    hash,
                    payload: payload.clone(),
                });
                self.out.push(Output::VerifyPayload {
                    view: v,
                    number,
                    payload,
                });
            }
            (None, None) => unreachable!("checked above"),
        }
        Ok(())
    }

    /// Takes the payload of a proposal that came too late to be voted for when it is the
    /// payload of the high commit certificate's block and that block is missing: votes can
    /// overtake the proposal they are for (they come over other connections), and the replica
    /// then forms the certificate without the payload. The certificate's hash proves the
    /// payload, so nothing of the proposal is checked; without this the block would come by
    /// sync, whose announcements come at most every 200 ms. Returns whether it was taken.
    fn take_certified_payload(&mut self, m: &LeaderProposal) -> bool {
        let (Some(qc), Some(payload)) = (&self.high_commit_qc, &m.proposal_payload) else {
            return false;
        };
        let h = qc.header();
        let missing = h.number >= self.persisted_next
            && self.queued_up_to.is_none_or(|q| q < h.number)
            && self
                .proposals
                .get(&h.number)
                .is_none_or(|c| !c.contains_key(&h.payload));
        if !missing || payload.len() > self.params.max_payload_size || payload.hash() != h.payload {
            return false;
        }
        self.proposals
            .entry(h.number)
            .or_default()
            .insert(h.payload, payload.clone());
        self.maybe_queue_block();
        true
    }

    pub(super) fn on_payload_verified(
        &mut self,
        view: ViewNumber,
        number: BlockNumber,
        hash: PayloadHash,
        valid: bool,
    ) {
        let Some(p) = self
            .pending
            .take_if(|p| p.view == view && p.number == number && p.hash == hash)
        else {
            return;
        };
        if valid && view == self.view && self.phase == Phase::Prepare {
            self.vote(view, number, hash, Some(p.payload));
        }
    }

    fn vote(
        &mut self,
        v: ViewNumber,
        number: BlockNumber,
        hash: PayloadHash,
        payload: Option<Payload>,
    ) {
        if let Some(payload) = payload {
            self.proposals
                .entry(number)
                .or_default()
                .insert(hash, payload);
        }
        let vote = ReplicaCommit {
            view: self.view_of(v),
            proposal: BlockHeader {
                number,
                payload: hash,
            },
        };
        self.phase = Phase::Commit;
        self.high_vote = Some(vote.clone());
        self.persist();
        self.broadcast(ConsensusMsg::ReplicaCommit(vote));
        // The payload may complete a certificate already known.
        self.maybe_queue_block();
    }

    /// Proposes in view `v` with justification `j` if this replica leads `v`.
    pub(super) fn propose(&mut self, v: ViewNumber, j: ProposalJustification) {
        let p = &self.params;
        if !self.is_me(p.schedule.view_leader(v)) {
            return;
        }
        match j.get_implied_block(&p.schedule, p.first_block) {
            (_, Some(_)) => self.broadcast(ConsensusMsg::LeaderProposal(LeaderProposal {
                proposal_payload: None,
                justification: j,
            })),
            (number, None) => {
                self.proposing = Some((v, j));
                self.out.push(Output::ProposePayload { view: v, number });
            }
        }
    }

    pub(super) fn on_payload_proposed(&mut self, view: ViewNumber, payload: Option<Payload>) {
        let Some((_, j)) = self.proposing.take_if(|(v, _)| *v == view) else {
            return;
        };
        // A proposal for a view the replica has left would be rejected by everyone.
        if view != self.view {
            return;
        }
        let Some(payload) = payload.filter(|p| p.len() <= self.params.max_payload_size) else {
            // No proposal: the justification goes out as the new-view message that
            // `start_new_view` left to the proposal.
            self.broadcast(ConsensusMsg::ReplicaNewView(ReplicaNewView {
                justification: j,
            }));
            return;
        };
        self.broadcast(ConsensusMsg::LeaderProposal(LeaderProposal {
            proposal_payload: Some(payload),
            justification: j,
        }));
    }
}
