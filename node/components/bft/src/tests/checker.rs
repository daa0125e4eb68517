//! Invariants checked on every step of a simulation.
//!
//! - Agreement: no two different blocks are finalized at one number, by any node (twins
//!   included: a certificate for a conflicting block is a violation wherever it shows up).
//! - Validity: every finalized block's payload matches its certificate, the certificate has a
//!   quorum of signers of this schedule, and every signer really sent that commit vote (with
//!   real crypto, the aggregate signature is verified too).
//! - No double votes: no node signs two different commit votes, or two different timeout votes,
//!   in one view, across restarts.

use std::collections::{BTreeMap, HashMap, HashSet};

use zksync_consensus_roles::validator::{
    BlockNumber, ConsensusMsg, FinalBlock, PayloadHash, ReplicaCommit, ReplicaTimeout, Signed,
    ViewNumber,
};

use crate::core::Params;

/// What the checker has seen.
#[derive(Debug)]
pub(super) struct Checker {
    params: Params,
    real_crypto: bool,
    /// Finalized payload hash per block number, when it was first finalized, and in which
    /// view (of the first certificate seen).
    pub(super) finalized: BTreeMap<BlockNumber, (PayloadHash, u64, ViewNumber)>,
    commits: Vec<HashMap<ViewNumber, ReplicaCommit>>,
    timeouts: Vec<HashMap<ViewNumber, ReplicaTimeout>>,
    /// Commit votes sent, by validator index.
    sent_votes: HashSet<(usize, ReplicaCommit)>,
    /// When each view's proposal was first sent.
    pub(super) proposals_sent: BTreeMap<ViewNumber, u64>,
    /// Messages sent, by kind label.
    pub(super) sent: BTreeMap<&'static str, u64>,
    /// The first violation found.
    pub(super) violation: Option<String>,
}

impl Checker {
    pub(super) fn new(params: Params, real_crypto: bool, nodes: usize) -> Self {
        Self {
            params,
            real_crypto,
            finalized: BTreeMap::new(),
            commits: vec![HashMap::new(); nodes],
            timeouts: vec![HashMap::new(); nodes],
            sent_votes: HashSet::new(),
            proposals_sent: BTreeMap::new(),
            sent: BTreeMap::new(),
            violation: None,
        }
    }

    fn fail(&mut self, msg: String) {
        if self.violation.is_none() {
            self.violation = Some(msg);
        }
    }

    pub(super) fn on_sent(&mut self, node: usize, m: &Signed<ConsensusMsg>, now: u64) {
        *self.sent.entry(m.msg.label()).or_default() += 1;
        match &m.msg {
            ConsensusMsg::ReplicaCommit(v) => {
                if let Some(old) = self.commits[node].insert(v.view.number, v.clone())
                    && old != *v
                {
                    self.fail(format!(
                        "node {node} signed two commit votes in view {}",
                        v.view.number
                    ));
                }
                if let Some(i) = self.params.schedule.index(&m.key) {
                    self.sent_votes.insert((i, v.clone()));
                }
            }
            ConsensusMsg::ReplicaTimeout(t) => {
                if let Some(old) = self.timeouts[node].insert(t.view.number, t.clone())
                    && old != *t
                {
                    self.fail(format!(
                        "node {node} signed two timeout votes in view {}",
                        t.view.number
                    ));
                }
            }
            ConsensusMsg::LeaderProposal(p) => {
                self.proposals_sent.entry(p.view().number).or_insert(now);
            }
            ConsensusMsg::ReplicaNewView(_) => {}
        }
    }

    pub(super) fn on_block(&mut self, node: usize, b: &FinalBlock, now: u64) {
        let p = &self.params;
        let qc = &b.justification;
        if let Err(e) = b.verify_payload() {
            return self.fail(format!("node {node}: block {}: {e}", b.number()));
        }
        if let Err(e) = qc.verify_structure(p.genesis, p.epoch, &p.schedule) {
            return self.fail(format!("node {node}: block {}: {e}", b.number()));
        }
        if self.real_crypto
            && let Err(e) = qc.verify(p.genesis, p.epoch, &p.schedule)
        {
            return self.fail(format!("node {node}: block {}: {e}", b.number()));
        }
        if let Some(i) = qc
            .signers
            .iter()
            .find(|i| !self.sent_votes.contains(&(*i, qc.message.clone())))
        {
            return self.fail(format!(
                "node {node}: block {}: validator {i} never sent that vote",
                b.number()
            ));
        }
        let hash = qc.header().payload;
        match self.finalized.get(&b.number()) {
            Some((h, _, _)) if *h != hash => self.fail(format!(
                "agreement: two different blocks finalized at {}",
                b.number()
            )),
            Some(_) => {}
            None => {
                self.finalized
                    .insert(b.number(), (hash, now, qc.view().number));
            }
        }
    }

    /// Checks liveness after stabilisation: at least `min_blocks` finalized after `from`, and no
    /// gap longer than `max_gap` between `from` and `end` without a new block.
    pub(super) fn check_liveness(
        &self,
        from: u64,
        end: u64,
        min_blocks: usize,
        max_gap: u64,
    ) -> Result<(), String> {
        let times: Vec<u64> = {
            let mut t: Vec<u64> = self
                .finalized
                .values()
                .map(|(_, t, _)| *t)
                .filter(|t| *t >= from)
                .collect();
            t.sort_unstable();
            t
        };
        if times.len() < min_blocks {
            return Err(format!(
                "liveness: {} blocks finalized after t={from}, want {min_blocks}",
                times.len()
            ));
        }
        let mut last = from;
        for t in times.iter().copied().chain([end]) {
            if t - last > max_gap {
                return Err(format!(
                    "liveness: no block finalized between t={last} and t={t}"
                ));
            }
            last = t;
        }
        Ok(())
    }
}
