//! The signature work of the replica, behind one trait, with a cache of verified certificates.
//!
//! Production uses [`Bls`]. The simulation and Twins tests, which run thousands of scenarios of
//! up to 16 replicas, use a trusting implementation (`testonly`) so that they measure the
//! protocol, not pairings; their checker verifies every finalized certificate independently.
//!
//! Certificates arrive many times over: every validator's timeout vote carries its high commit
//! certificate (usually the same one), and every new-view message repeats a justification. The
//! [`QcCache`] remembers which certificates were verified, so each is checked once.
//!
//! Commit certificates of one message also come in many versions: each replica builds its own
//! from the first quorum of votes it receives, so the certificate justifying a proposal (the
//! leader's) usually has other signers than the one this replica built for the same message,
//! and the cache of whole certificates misses. The cache also remembers the messages certified
//! by the certificates it verified or that the replica built, and
//! [`QcCache::verify_commit_justification`] accepts another certificate for such a message
//! after its structure check alone, under conditions that make this safe (see there).

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
    /// The messages of the commit certificates verified or built by this replica: each is
    /// proven to be signed by a quorum (same bound and order as `commit`).
    certified: BTreeSet<ReplicaCommit>,
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
        self.verify_commit_signature(crypto, qc, schedule)
    }

    /// The signature part of [`QcCache::verify_commit`] (the structure is checked).
    fn verify_commit_signature(
        &mut self,
        crypto: &dyn Crypto,
        qc: &CommitQC,
        schedule: &Schedule,
    ) -> Result<(), CommitQCVerifyError> {
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

    /// Verifies the commit certificate justifying a proposal or a new-view message; `high` is
    /// the replica's high commit certificate.
    ///
    /// If `qc` certifies a message already certified by a certificate this replica verified or
    /// built, and `qc` is not higher than `high`, its structure is checked (chain, epoch, signer
    /// set size, quorum weight) but not its signature, and it is not remembered as verified.
    /// Safe because:
    /// - everything the replica draws from a justification is its message (the block it implies,
    ///   its view), and that statement is already proven by another certificate;
    /// - the replica never keeps nor forwards the unchecked certificate: a justification is
    ///   kept only by becoming the high commit certificate (which goes into the persisted state,
    ///   new-view messages, timeout votes, finalized blocks), and `process_commit_qc` replaces
    ///   the high certificate only by a higher view. `qc` is not higher than `high`, so it is
    ///   dropped, and `high` is a certificate that was verified or built by this replica: no
    ///   path makes an unchecked certificate the high one.
    ///
    /// Without the condition on `high` this would not hold: a message is also certified by the
    /// high certificate of a timeout vote, or by the justification of a rejected proposal,
    /// neither of which becomes the high certificate. Commit certificates inside a timeout
    /// certificate are always checked fully (through [`QcCache::verify_timeout`]): timeout
    /// certificates are kept and forwarded as they are.
    pub(crate) fn verify_commit_justification(
        &mut self,
        crypto: &dyn Crypto,
        qc: &CommitQC,
        genesis: GenesisHash,
        epoch: EpochNumber,
        schedule: &Schedule,
        high: Option<&CommitQC>,
    ) -> Result<(), CommitQCVerifyError> {
        qc.verify_structure(genesis, epoch, schedule)?;
        if high.is_some_and(|h| h.view().number >= qc.view().number)
            && self.certified.contains(&qc.message)
        {
            return Ok(());
        }
        self.verify_commit_signature(crypto, qc, schedule)
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
        self.certified.insert(qc.message.clone());
        while self.certified.len() > CACHE_SIZE {
            self.certified.pop_first();
        }
    }

    /// Records a timeout certificate this replica built from votes it checked.
    pub(crate) fn remember_timeout(&mut self, qc: &TimeoutQC) {
        if self.timeout.len() >= CACHE_SIZE / 8 {
            self.timeout.remove(0);
        }
        self.timeout.push(qc.clone());
    }

    /// Verifies the justification of a proposal or new-view message; `high` is the replica's
    /// high commit certificate (see [`QcCache::verify_commit_justification`]).
    pub(crate) fn verify_justification(
        &mut self,
        crypto: &dyn Crypto,
        j: &ProposalJustification,
        genesis: GenesisHash,
        epoch: EpochNumber,
        schedule: &Schedule,
        high: Option<&CommitQC>,
    ) -> Result<(), JustificationError> {
        match j {
            ProposalJustification::Commit(qc) => {
                self.verify_commit_justification(crypto, qc, genesis, epoch, schedule, high)?
            }
            ProposalJustification::Timeout(qc) => {
                self.verify_timeout(crypto, qc, genesis, epoch, schedule)?
            }
        }
        Ok(())
    }
}
