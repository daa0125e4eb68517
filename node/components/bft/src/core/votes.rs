//! Commit and timeout votes, and the certificates built from them (protocol.md 2.6
//! `on_commit`/`on_timeout`; 10.1 item 6).
//!
//! For both kinds of vote:
//! - the signer must be a validator of the epoch; a vote for a view older than the current one
//!   is old;
//! - each validator's latest vote view is remembered, and a vote for that view or an older one
//!   is a duplicate: at most one vote per validator and view, never going back;
//! - votes are kept only for views that are some validator's latest, so a flood of votes for
//!   far future views costs at most one pending vote per validator;
//! - when the votes for one message (commit) or one view (timeout) reach the quorum weight, the
//!   certificate is formed, processed, and the replica enters the next view. Votes for future
//!   views count too: a certificate for a later view moves the replica forward directly.
//!
//! Commit votes (in [`VoteCheck::Aggregate`](super::VoteCheck::Aggregate) mode) are stored
//! unchecked. Once a quorum for one message is present, their signatures are checked at once
//! with one aggregate check; only if that fails are the bad ones found (by bisection) and
//! dropped, and the certificate waits for more votes. A bad signature costs only its sender's
//! vote: the signer's latest view stays recorded, so it cannot flood the replica either.
//!
//! Timeout votes carry different messages; each one's signature is checked on arrival, and
//! their embedded commit certificates through the certificate cache.

use std::collections::BTreeMap;

use zksync_consensus_roles::validator::{
    CommitQC, ReplicaCommit, ReplicaTimeout, Signature, Signed, TimeoutQC, ViewNumber,
};

use super::{Rejection, Replica, VoteCheck, view::Entry};

/// Commit votes for one message.
#[derive(Debug, Default)]
struct VoteSet {
    /// Schedule index -> (signature, checked).
    votes: BTreeMap<usize, (Signature, bool)>,
    weight: u64,
}

/// Votes not yet part of a certificate.
#[derive(Debug)]
pub(super) struct Votes {
    latest_commit: Vec<Option<ViewNumber>>,
    commits: BTreeMap<ViewNumber, BTreeMap<ReplicaCommit, VoteSet>>,
    latest_timeout: Vec<Option<ViewNumber>>,
    timeouts: BTreeMap<ViewNumber, TimeoutQC>,
    pub(super) bad_votes: u64,
}

impl Votes {
    pub(super) fn new(validators: usize) -> Self {
        Self {
            latest_commit: vec![None; validators],
            commits: BTreeMap::new(),
            latest_timeout: vec![None; validators],
            timeouts: BTreeMap::new(),
            bad_votes: 0,
        }
    }

    /// Number of views with pending votes (commit and timeout views counted apart).
    pub(super) fn pending_views(&self) -> usize {
        self.commits.len() + self.timeouts.len()
    }

    /// Number of pending votes.
    pub(super) fn pending_votes(&self) -> usize {
        let commits: usize = self
            .commits
            .values()
            .flat_map(|m| m.values())
            .map(|s| s.votes.len())
            .sum();
        let timeouts: usize = self
            .timeouts
            .values()
            .flat_map(|qc| qc.map.values())
            .map(|s| s.count())
            .sum();
        commits + timeouts
    }
}

/// Records `v` as validator `i`'s latest view and forgets views that are nobody's latest.
fn record_latest<T>(
    latest: &mut [Option<ViewNumber>],
    pending: &mut BTreeMap<ViewNumber, T>,
    i: usize,
    v: ViewNumber,
) {
    latest[i] = Some(v);
    pending.retain(|view, _| latest.contains(&Some(*view)));
}

impl Replica {
    /// The checks every vote passes first: a validator's, not old, not a duplicate. Returns
    /// the signer's schedule index.
    fn check_new_vote(
        &self,
        key: &zksync_consensus_roles::validator::PublicKey,
        v: ViewNumber,
        latest: &[Option<ViewNumber>],
    ) -> Result<usize, Rejection> {
        let i = self
            .params
            .schedule
            .index(key)
            .ok_or(Rejection::NonValidatorSigner)?;
        if v < self.view {
            return Err(Rejection::Old);
        }
        if latest[i].is_some_and(|l| l >= v) {
            return Err(Rejection::DuplicateSigner);
        }
        Ok(i)
    }

    pub(super) fn on_commit(&mut self, m: Signed<ReplicaCommit>) -> Result<(), Rejection> {
        let v = m.msg.view.number;
        let i = self.check_new_vote(&m.key, v, &self.votes.latest_commit)?;
        let p = &self.params;
        m.msg.verify(p.genesis, p.epoch)?;
        let checked = match p.vote_check {
            VoteCheck::Eager => {
                self.check_signature(&m)?;
                true
            }
            VoteCheck::Aggregate => false,
        };
        let weight = p.schedule.get(i).map_or(0, |v| v.weight);
        let quorum = p.schedule.quorum_threshold();
        record_latest(&mut self.votes.latest_commit, &mut self.votes.commits, i, v);
        let set = self
            .votes
            .commits
            .entry(v)
            .or_default()
            .entry(m.msg.clone())
            .or_default();
        set.votes.insert(i, (m.sig, checked));
        set.weight += weight;
        if set.weight < quorum {
            return Ok(());
        }
        let bad = check_votes(self, v, &m.msg);
        self.votes.bad_votes += bad;
        let Some(set) = self.votes.commits.get(&v).and_then(|s| s.get(&m.msg)) else {
            return Ok(());
        };
        if set.weight < quorum {
            return Ok(());
        }
        let mut qc = CommitQC::new(m.msg.clone(), &self.params.schedule);
        // Every vote left in the set passed `check_votes`, so its signature is a point.
        qc.add_all_verified(set.votes.iter().map(|(i, (sig, _))| (*i, sig)))
            .map_err(|_| Rejection::BadSignature)?;
        // Competing votes of this view are useless now (the reference drops them too).
        self.votes.commits.remove(&v);
        self.qcs.remember_commit(&qc);
        self.process_commit_qc(&qc);
        self.start_new_view(v.next(), Entry::Certificate);
        Ok(())
    }

    pub(super) fn on_timeout(&mut self, m: Signed<ReplicaTimeout>) -> Result<(), Rejection> {
        let v = m.msg.view.number;
        let i = self.check_new_vote(&m.key, v, &self.votes.latest_timeout)?;
        let p = &self.params;
        let (genesis, epoch, schedule) = (p.genesis, p.epoch, p.schedule.clone());
        self.check_signature(&m)?;
        let (qcs, crypto) = (&mut self.qcs, &*self.crypto);
        m.msg.verify_with(genesis, epoch, |qc| {
            qcs.verify_commit(crypto, qc, genesis, epoch, &schedule)
        })?;
        record_latest(
            &mut self.votes.latest_timeout,
            &mut self.votes.timeouts,
            i,
            v,
        );
        let view = self.view_of(v);
        let qc = self
            .votes
            .timeouts
            .entry(v)
            .or_insert_with(|| TimeoutQC::new(view));
        // The signature was checked above (or is this replica's own, made locally).
        qc.add_verified(&m, i, &schedule)
            .map_err(|_| Rejection::BadSignature)?;
        if qc.weight(&schedule) < schedule.quorum_threshold() {
            return Ok(());
        }
        let Some(qc) = self.votes.timeouts.remove(&v) else {
            return Ok(());
        };
        self.qcs.remember_timeout(&qc);
        self.process_timeout_qc(&qc);
        self.start_new_view(v.next(), Entry::Certificate);
        Ok(())
    }
}

/// Checks the unchecked votes for `msg` in view `v`, drops the bad ones; returns how many.
fn check_votes(r: &mut Replica, v: ViewNumber, msg: &ReplicaCommit) -> u64 {
    let schedule = r.params.schedule.clone();
    let Some(set) = r.votes.commits.get_mut(&v).and_then(|s| s.get_mut(msg)) else {
        return 0;
    };
    let unchecked: Vec<usize> = set
        .votes
        .iter()
        .filter(|(_, (_, checked))| !checked)
        .map(|(i, _)| *i)
        .collect();
    if unchecked.is_empty() {
        return 0;
    }
    let keys: Vec<_> = unchecked
        .iter()
        .map(|i| &schedule.get(*i).expect("index from the schedule").key)
        .collect();
    let pairs: Vec<_> = unchecked
        .iter()
        .zip(&keys)
        .map(|(i, k)| (*k, &set.votes[i].0))
        .collect();
    let bad = r.crypto.find_invalid_votes(msg, &pairs);
    for (n, i) in unchecked.iter().enumerate() {
        if bad.contains(&n) {
            set.votes.remove(i);
            set.weight -= schedule.get(*i).map_or(0, |v| v.weight);
        } else if let Some(vote) = set.votes.get_mut(i) {
            vote.1 = true;
        }
    }
    bad.len() as u64
}
