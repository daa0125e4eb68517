//! The signature work of the replica, behind one trait, with a cache of verified certificates.
//!
//! Production uses [`Bls`]. The simulation and Twins tests, which run thousands of scenarios of
//! up to 16 replicas, use a trusting implementation (`testonly`) so that they measure the
//! protocol, not pairings; their checker verifies every finalized certificate independently.
//!
//! Certificates arrive many times over: every validator's timeout vote carries its high commit
//! certificate (usually the same one), and every new-view message repeats a justification. The
//! [`QcCache`] remembers which certificates were verified, so each is checked once.

use std::{collections::BTreeSet, fmt};

use zksync_consensus_crypto::bls12_381;
use zksync_consensus_roles::validator::{
    CommitQC, CommitQCVerifyError, ConsensusMsg, EpochNumber, GenesisHash, MsgHash,
    ProposalJustification, PublicKey, ReplicaCommit, Schedule, SecretKey, Signable as _, Signature,
    Signed, TimeoutQC, TimeoutQCVerifyError,
};

/// Signing and signature checks. Implementations must be deterministic.
pub trait Crypto: fmt::Debug + Send + Sync {
    /// Signs `msg` with `key`, whose public key is `public`.
    fn sign(&self, key: &SecretKey, public: &PublicKey, msg: ConsensusMsg) -> Signed<ConsensusMsg>;
    /// Checks the signature `sig` by `key` of the message whose hash `hash` computes (called
    /// only if needed: hashing a proposal means hashing its payload).
    fn verify(&self, hash: &dyn Fn() -> MsgHash, key: &PublicKey, sig: &Signature) -> bool;
    /// Checks the aggregate signature of a commit certificate.
    fn commit_qc_signature(&self, qc: &CommitQC, schedule: &Schedule) -> bool;
    /// Checks the aggregate signature of a timeout certificate.
    fn timeout_qc_signature(&self, qc: &TimeoutQC, schedule: &Schedule) -> bool;
    /// Indices of the `votes` (key, signature) that are not valid signatures of `msg`.
    fn find_invalid_votes(
        &self,
        msg: &ReplicaCommit,
        votes: &[(&PublicKey, &Signature)],
    ) -> Vec<usize>;
}

/// Real BLS12-381 signatures.
#[derive(Debug, Clone, Copy, Default)]
pub struct Bls;

impl Crypto for Bls {
    fn sign(&self, key: &SecretKey, public: &PublicKey, msg: ConsensusMsg) -> Signed<ConsensusMsg> {
        Signed {
            sig: key.sign_hash(&msg.msg_hash()),
            key: public.clone(),
            msg,
        }
    }
    fn verify(&self, hash: &dyn Fn() -> MsgHash, key: &PublicKey, sig: &Signature) -> bool {
        sig.verify_hash(&hash(), key).is_ok()
    }
    fn commit_qc_signature(&self, qc: &CommitQC, schedule: &Schedule) -> bool {
        qc.verify_signature(schedule).is_ok()
    }
    fn timeout_qc_signature(&self, qc: &TimeoutQC, schedule: &Schedule) -> bool {
        qc.verify_signature(schedule).is_ok()
    }
    fn find_invalid_votes(
        &self,
        msg: &ReplicaCommit,
        votes: &[(&PublicKey, &Signature)],
    ) -> Vec<usize> {
        let hash = msg.msg_hash();
        let raw: Vec<_> = votes.iter().map(|(k, s)| (&k.0, &s.0)).collect();
        bls12_381::find_invalid_same_message(hash.0.as_bytes(), &raw)
    }
}

/// How many verified certificates of each kind are remembered.
const CACHE_SIZE: usize = 64;

/// Certificates already verified (bounded; the lowest views are forgotten first).
#[derive(Debug, Default)]
pub(crate) struct QcCache {
    commit: BTreeSet<CommitQC>,
    /// Timeout certificates are few and have no total order of their own; a short list of the
    /// most recent ones suffices.
    timeout: Vec<TimeoutQC>,
    /// Number of signature checks made (for tests of the cache).
    pub(crate) checks: u64,
}

/// A justification is invalid.
pub(crate) type JustificationError = zksync_consensus_roles::validator::JustificationVerifyError;

impl QcCache {
    /// Verifies a commit certificate fully, its signature only if not verified before.
    pub(crate) fn verify_commit(
        &mut self,
        crypto: &dyn Crypto,
        qc: &CommitQC,
        genesis: GenesisHash,
        epoch: EpochNumber,
        schedule: &Schedule,
    ) -> Result<(), CommitQCVerifyError> {
        qc.verify_structure(genesis, epoch, schedule)?;
        if self.commit.contains(qc) {
            return Ok(());
        }
        self.checks += 1;
        if !crypto.commit_qc_signature(qc, schedule) {
            return Err(CommitQCVerifyError::BadSignature);
        }
        self.remember_commit(qc);
        Ok(())
    }

    /// Verifies a timeout certificate fully (embedded commit certificates through the cache).
    pub(crate) fn verify_timeout(
        &mut self,
        crypto: &dyn Crypto,
        qc: &TimeoutQC,
        genesis: GenesisHash,
        epoch: EpochNumber,
        schedule: &Schedule,
    ) -> Result<(), TimeoutQCVerifyError> {
        if self.timeout.contains(qc) {
            return Ok(());
        }
        qc.verify_structure_with(genesis, epoch, schedule, |c| {
            self.verify_commit(crypto, c, genesis, epoch, schedule)
        })?;
        self.checks += 1;
        if !crypto.timeout_qc_signature(qc, schedule) {
            return Err(TimeoutQCVerifyError::BadSignature);
        }
        self.remember_timeout(qc);
        Ok(())
    }

    /// Records a commit certificate this replica built from votes it checked.
    pub(crate) fn remember_commit(&mut self, qc: &CommitQC) {
        self.commit.insert(qc.clone());
        while self.commit.len() > CACHE_SIZE {
            self.commit.pop_first();
        }
    }

    /// Records a timeout certificate this replica built from votes it checked.
    pub(crate) fn remember_timeout(&mut self, qc: &TimeoutQC) {
        if self.timeout.len() >= CACHE_SIZE / 8 {
            self.timeout.remove(0);
        }
        self.timeout.push(qc.clone());
    }

    /// Verifies a justification.
    pub(crate) fn verify_justification(
        &mut self,
        crypto: &dyn Crypto,
        j: &ProposalJustification,
        genesis: GenesisHash,
        epoch: EpochNumber,
        schedule: &Schedule,
    ) -> Result<(), JustificationError> {
        match j {
            ProposalJustification::Commit(qc) => {
                self.verify_commit(crypto, qc, genesis, epoch, schedule)?
            }
            ProposalJustification::Timeout(qc) => {
                self.verify_timeout(crypto, qc, genesis, epoch, schedule)?
            }
        }
        Ok(())
    }
}
