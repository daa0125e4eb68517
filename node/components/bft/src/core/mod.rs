//! The replica and proposer of ChonkyBFT as a pure, deterministic state machine.
//!
//! [`Replica::handle`] takes one [`Input`] and returns the [`Output`]s the driver must carry out,
//! in order. Nothing in here reads a clock, draws randomness, does I/O or awaits: the async
//! driver (`crate::run`), the simulator and the Twins tests all drive this same code.
//!
//! Rules (protocol.md 2.6-2.11) and where they live:
//! - proposals and the proposer: module `proposal`;
//! - commit and timeout votes, certificate formation and memory bounds: module `votes`;
//! - new-view messages, processing certificates, entering views and timing out:
//!   module `view`.
//!
//! Persistence (protocol.md 2.10): every [`Output::PersistState`] comes before the outputs that
//! depend on it, and the driver must finish it before carrying out the next output. So a vote
//! is never sent before the state recording it is durable, and a restarted replica never signs
//! a second, different commit vote or timeout vote in a view.
//!
//! Where this core deliberately differs from the reference (all allowed by the protocol; the
//! messages are the same, only fewer new-view messages are sent):
//! - a proposal for a later view makes the replica enter that view first (persist, fresh
//!   timer), instead of voting with the old view's timer still running;
//! - the justification of a proposal is processed before its payload is checked, so the block
//!   it finalizes is queued without waiting;
//! - the payload check runs outside the core (the driver), and other messages are handled
//!   meanwhile;
//! - commit votes are checked in aggregate, once a quorum of them is present;
//! - re-broadcast timeout votes are the same signed message as the first one of the view;
//! - cached payloads are kept until their block is persisted, not only until a certificate is
//!   seen, so no finalized payload is lost in a crash;
//! - a failed or oversized payload from the execution layer skips the proposer's turn instead
//!   of stopping the replica;
//! - a new-view message goes out only when it can be of use (see module `view`): in steady
//!   state a view costs only the proposal and the commit votes.

mod crypto;
mod errors;
mod proposal;
#[cfg(test)]
mod tests;
mod view;
mod votes;

use std::{collections::BTreeMap, mem, sync::Arc};

pub(crate) use crypto::QcCache;
pub use crypto::{Bls, Crypto};
pub use errors::Rejection;
use zksync_consensus_roles::validator::{
    BlockNumber, CommitQC, ConsensusMsg, EpochNumber, FinalBlock, GenesisHash, Payload,
    PayloadHash, Phase, Proposal, ReplicaCommit, ReplicaState, Schedule, SecretKey, Signable,
    Signed, TimeoutQC, View, ViewNumber,
};

/// How commit votes are checked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum VoteCheck {
    /// Check each vote as it arrives (what the reference does).
    Eager,
    /// Collect votes unchecked; once a quorum for one message is present, check them with one
    /// aggregate signature check, and find and drop the bad ones only if it fails.
    #[default]
    Aggregate,
}

/// What the replica needs to know about its epoch.
#[derive(Clone, Debug)]
pub struct Params {
    /// Hash of the chain's genesis.
    pub genesis: GenesisHash,
    /// The epoch this replica runs in.
    pub epoch: EpochNumber,
    /// The epoch's validators.
    pub schedule: Arc<Schedule>,
    /// The first block of the epoch.
    pub first_block: BlockNumber,
    /// The largest payload accepted or proposed, in bytes.
    pub max_payload_size: usize,
    /// How commit votes are checked.
    pub vote_check: VoteCheck,
    /// Messages arrive over channels authenticated as their signers (see
    /// `crate::Config::senders_authenticated`): proposals and new-view messages are then not
    /// checked.
    pub senders_authenticated: bool,
}

/// One event for the replica.
#[derive(Clone, Debug)]
pub enum Input {
    /// The replica starts (first input; after [`Input::Store`]).
    Start,
    /// A message from a validator (its signature is checked here, after the cheap checks that
    /// may reject it; commit votes are checked a quorum at a time).
    Message(Signed<ConsensusMsg>),
    /// The timer set by the last [`Output::ResetTimer`] expired.
    TimerExpired,
    /// The block store changed: blocks below `first` are pruned, blocks below `persisted_next`
    /// are durable.
    Store {
        /// First block kept.
        first: BlockNumber,
        /// First block not persisted yet.
        persisted_next: BlockNumber,
    },
    /// Answer to [`Output::VerifyPayload`].
    PayloadVerified {
        /// View of the proposal.
        view: ViewNumber,
        /// Block number.
        number: BlockNumber,
        /// Hash of the payload checked.
        hash: PayloadHash,
        /// Whether the previous block was persisted in time and the execution layer accepted
        /// the payload.
        valid: bool,
    },
    /// The delay set by [`Output::DelayNewView`] for `view` elapsed.
    NewViewDelayElapsed {
        /// The view.
        view: ViewNumber,
    },
    /// Answer to [`Output::ProposePayload`]; `None` if no payload could be made in time.
    PayloadProposed {
        /// View of the proposal.
        view: ViewNumber,
        /// The payload.
        payload: Option<Payload>,
    },
}

/// Something the driver must do. Outputs are carried out in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// Make this state durable before carrying out any later output.
    PersistState(ReplicaState),
    /// Send to every validator of the epoch, this one included.
    Broadcast(Signed<ConsensusMsg>),
    /// Queue this finalized block in the block store (after the blocks before it).
    QueueBlock(FinalBlock),
    /// Check a proposed payload: wait (until the timer expires at the latest) for the block
    /// before it to be persisted, ask the execution layer, answer with
    /// [`Input::PayloadVerified`].
    VerifyPayload {
        /// View of the proposal.
        view: ViewNumber,
        /// Block number.
        number: BlockNumber,
        /// The payload.
        payload: Payload,
    },
    /// This replica leads `view` and must propose block `number`: wait (until the timer expires
    /// at the latest) for the block before it to be persisted, ask the execution layer for a
    /// payload, answer with [`Input::PayloadProposed`].
    ProposePayload {
        /// The view.
        view: ViewNumber,
        /// Block number.
        number: BlockNumber,
    },
    /// (Re)start the view timer: [`Input::TimerExpired`] after one view timeout from now.
    ResetTimer,
    /// Answer with [`Input::NewViewDelayElapsed`] for `view` after the new-view delay (a
    /// fraction of the view timeout, far longer than a view with a live leader lasts). A
    /// later one replaces an earlier one; it need not survive a restart (the replica starts it
    /// again on [`Input::Start`]).
    DelayNewView {
        /// The view.
        view: ViewNumber,
    },
}

/// The persisted state is unusable.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum StateError {
    /// A certificate in it does not verify.
    #[error("persisted replica state: {0}")]
    Invalid(String),
}

/// A proposal whose payload is being checked by the driver.
#[derive(Clone, Debug)]
struct PendingProposal {
    view: ViewNumber,
    number: BlockNumber,
    hash: PayloadHash,
    payload: Payload,
}

/// The replica of one validator in one epoch.
#[derive(Debug)]
pub struct Replica {
    params: Params,
    key: SecretKey,
    me: zksync_consensus_roles::validator::PublicKey,
    crypto: Arc<dyn Crypto>,

    // Persisted (protocol.md 2.10).
    view: ViewNumber,
    phase: Phase,
    high_vote: Option<ReplicaCommit>,
    high_commit_qc: Option<CommitQC>,
    high_timeout_qc: Option<TimeoutQC>,
    proposals: BTreeMap<BlockNumber, BTreeMap<PayloadHash, Payload>>,

    // In memory only.
    votes: votes::Votes,
    qcs: QcCache,
    pending: Option<PendingProposal>,
    /// The justification of the view this replica leads and must still propose in.
    proposing: Option<(
        ViewNumber,
        zksync_consensus_roles::validator::ProposalJustification,
    )>,
    /// The timeout vote of the current view, once signed (re-broadcast unchanged).
    sent_timeout: Option<Signed<ConsensusMsg>>,
    store_first: BlockNumber,
    persisted_next: BlockNumber,
    /// Highest block handed out in [`Output::QueueBlock`].
    queued_up_to: Option<BlockNumber>,
    out: Vec<Output>,
}

impl Replica {
    /// A replica resuming from `state` (ignored if it is of another epoch), or fresh.
    pub fn new(
        params: Params,
        key: SecretKey,
        crypto: Arc<dyn Crypto>,
        state: Option<ReplicaState>,
    ) -> Result<Self, StateError> {
        let state = state
            .filter(|s| s.epoch == params.epoch)
            .unwrap_or_else(|| ReplicaState::new(params.epoch));
        let mut proposals: BTreeMap<BlockNumber, BTreeMap<PayloadHash, Payload>> = BTreeMap::new();
        for p in state.proposals {
            proposals
                .entry(p.number)
                .or_default()
                .insert(p.payload.hash(), p.payload);
        }
        let mut this = Self {
            votes: votes::Votes::new(params.schedule.len()),
            qcs: QcCache::default(),
            pending: None,
            proposing: None,
            sent_timeout: None,
            store_first: params.first_block,
            persisted_next: params.first_block,
            queued_up_to: None,
            out: vec![],
            view: state.view,
            phase: state.phase,
            high_vote: state.high_vote,
            high_commit_qc: state.high_commit_qc,
            high_timeout_qc: state.high_timeout_qc,
            proposals,
            params,
            me: key.public(),
            key,
            crypto,
        };
        this.check_loaded_state()?;
        Ok(this)
    }

    fn check_loaded_state(&mut self) -> Result<(), StateError> {
        let p = &self.params;
        let bad =
            |what: &str, e: &dyn std::fmt::Display| StateError::Invalid(format!("{what}: {e}"));
        if let Some(v) = &self.high_vote {
            v.verify(p.genesis, p.epoch)
                .map_err(|e| bad("high_vote", &e))?;
        }
        if let Some(qc) = &self.high_commit_qc {
            self.qcs
                .verify_commit(&*self.crypto, qc, p.genesis, p.epoch, &p.schedule)
                .map_err(|e| bad("high_commit_qc", &e))?;
        }
        if let Some(qc) = &self.high_timeout_qc {
            self.qcs
                .verify_timeout(&*self.crypto, qc, p.genesis, p.epoch, &p.schedule)
                .map_err(|e| bad("high_timeout_qc", &e))?;
        }
        Ok(())
    }

    /// Handles one input. On a rejection the state is unchanged and there is nothing to do.
    pub fn handle(&mut self, input: Input) -> Result<Vec<Output>, Rejection> {
        let res = match input {
            Input::Start => {
                self.on_start();
                Ok(())
            }
            Input::Message(m) => self.on_message(m),
            Input::TimerExpired => {
                self.start_timeout();
                Ok(())
            }
            Input::NewViewDelayElapsed { view } => {
                self.on_new_view_delay(view);
                Ok(())
            }
            Input::Store {
                first,
                persisted_next,
            } => {
                self.store_first = first;
                self.persisted_next = persisted_next;
                Ok(())
            }
            Input::PayloadVerified {
                view,
                number,
                hash,
                valid,
            } => {
                self.on_payload_verified(view, number, hash, valid);
                Ok(())
            }
            Input::PayloadProposed { view, payload } => {
                self.on_payload_proposed(view, payload);
                Ok(())
            }
        };
        let out = mem::take(&mut self.out);
        match res {
            Ok(()) => Ok(out),
            Err(e) => {
                debug_assert!(out.is_empty(), "rejected input produced outputs");
                Err(e)
            }
        }
    }

    fn on_message(&mut self, m: Signed<ConsensusMsg>) -> Result<(), Rejection> {
        let Signed { msg, key, sig } = m;
        match msg {
            ConsensusMsg::LeaderProposal(msg) => self.on_proposal(Signed { msg, key, sig }),
            ConsensusMsg::ReplicaCommit(msg) => self.on_commit(Signed { msg, key, sig }),
            ConsensusMsg::ReplicaNewView(msg) => self.on_new_view(Signed { msg, key, sig }),
            ConsensusMsg::ReplicaTimeout(msg) => self.on_timeout(Signed { msg, key, sig }),
        }
    }

    fn on_start(&mut self) {
        if self.phase == Phase::Timeout {
            // The timeout vote signed before the restart: the persisted state is exactly what
            // it was built from, and signing is deterministic.
            self.sent_timeout = Some(self.sign_timeout());
        }
        self.maybe_queue_block();
        if self.view == ViewNumber(0) {
            self.start_timeout();
        } else {
            self.out.push(Output::ResetTimer);
            // A new-view message held back before a crash is not lost: the delay starts again.
            if self.phase != Phase::Timeout
                && !self.is_me(self.params.schedule.view_leader(self.view))
            {
                self.out.push(Output::DelayNewView { view: self.view });
            }
        }
    }

    /// The current view number.
    pub fn view(&self) -> ViewNumber {
        self.view
    }

    /// The phase in the current view.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The highest commit certificate known.
    pub fn high_commit_qc(&self) -> Option<&CommitQC> {
        self.high_commit_qc.as_ref()
    }

    /// How many commit votes were dropped for a bad signature.
    pub fn bad_votes(&self) -> u64 {
        self.votes.bad_votes
    }

    /// Votes held while waiting for a certificate, and the number of views they are for (a
    /// bound against future-view spam: at most one commit and one timeout view per validator).
    pub fn pending_votes(&self) -> (usize, usize) {
        (self.votes.pending_votes(), self.votes.pending_views())
    }

    /// How many certificate signature checks were made (each certificate is checked once).
    pub fn qc_checks(&self) -> u64 {
        self.qcs.checks
    }

    /// The state to persist.
    pub fn state(&self) -> ReplicaState {
        ReplicaState {
            epoch: self.params.epoch,
            view: self.view,
            phase: self.phase,
            high_vote: self.high_vote.clone(),
            high_commit_qc: self.high_commit_qc.clone(),
            high_timeout_qc: self.high_timeout_qc.clone(),
            proposals: self
                .proposals
                .iter()
                .flat_map(|(n, m)| {
                    m.values().map(|p| Proposal {
                        number: *n,
                        payload: p.clone(),
                    })
                })
                .collect(),
        }
    }

    fn persist(&mut self) {
        let s = self.state();
        self.out.push(Output::PersistState(s));
    }

    fn broadcast(&mut self, msg: ConsensusMsg) {
        let signed = self.crypto.sign(&self.key, &self.me, msg);
        self.out.push(Output::Broadcast(signed));
    }

    fn view_of(&self, number: ViewNumber) -> View {
        View {
            genesis: self.params.genesis,
            epoch: self.params.epoch,
            number,
        }
    }

    /// Checks the signature of a message (after the cheap checks that may reject it).
    ///
    /// A message signed with this replica's own key is not checked. Precondition, met by the
    /// consensus network (see `crate::io`): a message is delivered only over a connection
    /// authenticated as its signer's validator key, and a connection is authenticated as this
    /// validator only by a node holding its secret key, in practice its own loopback
    /// connection. So a message that names this replica as its signer was signed by this
    /// replica (or by another instance of the same validator), and checking it would only
    /// re-check a signature this replica made. (With aggregate vote checks, own commit votes
    /// still go through the aggregate check with the others: that costs one key addition.)
    fn check_signature<V: Signable>(&self, m: &Signed<V>) -> Result<(), Rejection> {
        if self.is_me(&m.key) {
            return Ok(());
        }
        if self.crypto.verify(&|| m.msg.msg_hash(), &m.key, &m.sig) {
            Ok(())
        } else {
            Err(Rejection::BadSignature)
        }
    }

    /// Checks the envelope of a message whose signature is used only to know its sender (a
    /// proposal or a new-view message): not checked when the channel authenticated the sender.
    fn check_sender<V: Signable>(&self, m: &Signed<V>) -> Result<(), Rejection> {
        if self.params.senders_authenticated {
            return Ok(());
        }
        self.check_signature(m)
    }

    fn is_me(&self, key: &zksync_consensus_roles::validator::PublicKey) -> bool {
        *key == self.me
    }

    /// Verifies the justification of a proposal or a new-view message (a commit certificate
    /// for a message already certified may skip its signature check, see
    /// [`QcCache::verify_commit_justification`]).
    fn verify_justification(
        &mut self,
        j: &zksync_consensus_roles::validator::ProposalJustification,
    ) -> Result<(), Rejection> {
        let p = &self.params;
        self.qcs.verify_justification(
            &*self.crypto,
            j,
            p.genesis,
            p.epoch,
            &p.schedule,
            self.high_commit_qc.as_ref(),
        )?;
        Ok(())
    }
}
