//! Commit votes and commit certificates (protocol.md 2.3-2.4).

use anyhow::Context as _;
use zksync_consensus_crypto::bls12_381;
use zksync_protobuf::{ProtoFmt, read_required};

use super::{
    BlockHeader, EpochNumber, GenesisHash, Schedule, Signable as _, Signed, Signers, View,
    ViewError,
};
use crate::{
    proto::zksync::roles::validator as proto,
    validator::{AggregateSignature, Signature},
};

/// A commit vote: "I commit to this block in this view".
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReplicaCommit {
    /// The view.
    pub view: View,
    /// The block voted for.
    pub proposal: BlockHeader,
}

impl ReplicaCommit {
    /// Checks that the vote is for this chain and epoch.
    pub fn verify(&self, genesis: GenesisHash, epoch: EpochNumber) -> Result<(), ViewError> {
        self.view.verify(genesis, epoch)
    }
}

impl ProtoFmt for ReplicaCommit {
    type Proto = proto::ReplicaCommitV2;
    fn read(r: &Self::Proto) -> anyhow::Result<Self> {
        Ok(Self {
            view: read_required(&r.view).context("view")?,
            proposal: read_required(&r.proposal).context("proposal")?,
        })
    }
    fn build(&self) -> Self::Proto {
        proto::ReplicaCommitV2 {
            view: Some(self.view.build()),
            proposal: Some(self.proposal.build()),
        }
    }
}

/// A commit certificate: commit votes of a quorum for one message, aggregated.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CommitQC {
    /// The vote all signers signed.
    pub message: ReplicaCommit,
    /// Who signed.
    pub signers: Signers,
    /// Aggregate of their signatures.
    pub signature: AggregateSignature,
}

/// A vote cannot be added to a commit certificate (checked in this order).
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum CommitQCAddError {
    /// The signer is not in the schedule.
    #[error("signer not in committee")]
    SignerNotInCommittee,
    /// The signer's vote is already in.
    #[error("duplicate signer")]
    DuplicateSigner,
    /// The vote's signature is invalid.
    #[error("bad signature")]
    BadSignature,
    /// The vote is for another message.
    #[error("inconsistent messages")]
    InconsistentMessages,
    /// The vote is for another chain or epoch.
    #[error("invalid message: {0}")]
    InvalidMessage(ViewError),
}

/// A commit certificate is invalid.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum CommitQCVerifyError {
    /// The message is for another chain or epoch.
    #[error("invalid message: {0}")]
    InvalidMessage(ViewError),
    /// The signer set does not fit the schedule.
    #[error("signers set has {got} bits, schedule has {want} validators")]
    BadSignersSet {
        /// Bits in the set.
        got: usize,
        /// Schedule size.
        want: usize,
    },
    /// Not a quorum.
    #[error("signers have weight {got}, quorum is {want}")]
    NotEnoughWeight {
        /// Weight of the signers.
        got: u64,
        /// Quorum threshold.
        want: u64,
    },
    /// The aggregate signature is invalid.
    #[error("bad aggregate signature")]
    BadSignature,
}

impl CommitQC {
    /// An empty certificate for `message`.
    pub fn new(message: ReplicaCommit, schedule: &Schedule) -> Self {
        Self {
            message,
            signers: Signers::new(schedule.len()),
            signature: AggregateSignature::default(),
        }
    }

    /// The block header it certifies.
    pub fn header(&self) -> &BlockHeader {
        &self.message.proposal
    }

    /// The view of the votes.
    pub fn view(&self) -> &View {
        &self.message.view
    }

    /// Adds a signed vote (its signature is checked).
    pub fn add(
        &mut self,
        vote: &Signed<ReplicaCommit>,
        genesis: GenesisHash,
        epoch: EpochNumber,
        schedule: &Schedule,
    ) -> Result<(), CommitQCAddError> {
        let i = schedule
            .index(&vote.key)
            .ok_or(CommitQCAddError::SignerNotInCommittee)?;
        if self.signers.get(i) {
            return Err(CommitQCAddError::DuplicateSigner);
        }
        vote.verify().map_err(|_| CommitQCAddError::BadSignature)?;
        if vote.msg != self.message {
            return Err(CommitQCAddError::InconsistentMessages);
        }
        vote.msg
            .verify(genesis, epoch)
            .map_err(CommitQCAddError::InvalidMessage)?;
        self.add_verified(i, &vote.sig)
    }

    /// Adds the signature of schedule index `i`, already verified by the caller (for callers
    /// that check many votes at once). Does nothing if `i` is already in. Fails, changing
    /// nothing, only if `sig` is not a valid point, i.e. was not verified after all.
    pub fn add_verified(&mut self, i: usize, sig: &Signature) -> Result<(), CommitQCAddError> {
        self.add_all_verified([(i, sig)])
    }

    /// [`CommitQC::add_verified`] for many signatures at once (one conversion of the sum).
    /// Fails, changing nothing, if any signature is not a valid point.
    pub fn add_all_verified<'a>(
        &mut self,
        sigs: impl IntoIterator<Item = (usize, &'a Signature)>,
    ) -> Result<(), CommitQCAddError> {
        let mut new = std::collections::BTreeMap::new();
        for (i, sig) in sigs {
            if i < self.signers.len() && !self.signers.get(i) {
                new.entry(i).or_insert(sig);
            }
        }
        self.signature
            .0
            .add_all(new.values().map(|s| &s.0))
            .map_err(|_| CommitQCAddError::BadSignature)?;
        for i in new.keys() {
            self.signers.set(*i);
        }
        Ok(())
    }

    /// Checks everything but the signature: view, signer set size, quorum weight.
    pub fn verify_structure(
        &self,
        genesis: GenesisHash,
        epoch: EpochNumber,
        schedule: &Schedule,
    ) -> Result<(), CommitQCVerifyError> {
        self.message
            .verify(genesis, epoch)
            .map_err(CommitQCVerifyError::InvalidMessage)?;
        if self.signers.len() != schedule.len() {
            return Err(CommitQCVerifyError::BadSignersSet {
                got: self.signers.len(),
                want: schedule.len(),
            });
        }
        let weight = self.signers.weight(schedule);
        if weight < schedule.quorum_threshold() {
            return Err(CommitQCVerifyError::NotEnoughWeight {
                got: weight,
                want: schedule.quorum_threshold(),
            });
        }
        Ok(())
    }

    /// Fully verifies the certificate. All signers signed one message, so the aggregate is
    /// checked with one pairing check against the sum of their keys (same result as the
    /// reference's grouped aggregate verification).
    pub fn verify(
        &self,
        genesis: GenesisHash,
        epoch: EpochNumber,
        schedule: &Schedule,
    ) -> Result<(), CommitQCVerifyError> {
        self.verify_structure(genesis, epoch, schedule)?;
        self.verify_signature(schedule)
    }

    /// Checks the aggregate signature only.
    pub fn verify_signature(&self, schedule: &Schedule) -> Result<(), CommitQCVerifyError> {
        let hash = self.message.msg_hash();
        self.signature
            .0
            .verify_same_message(hash.0.as_bytes(), self.signer_keys(schedule))
            .map_err(|_| CommitQCVerifyError::BadSignature)
    }

    /// The keys of the signers, in schedule order (bits beyond the schedule are skipped; the
    /// structure check rejects them). Shared by [`CommitQC::verify_signature`] and
    /// [`super::CommitQCBatch`], so that both check the same claim.
    pub(super) fn signer_keys<'a>(
        &'a self,
        schedule: &'a Schedule,
    ) -> impl Iterator<Item = &'a bls12_381::PublicKey> {
        self.signers
            .iter()
            .filter_map(|i| schedule.get(i))
            .map(|v| &v.key.0)
    }
}

impl ProtoFmt for CommitQC {
    type Proto = proto::CommitQcv2;
    fn read(r: &Self::Proto) -> anyhow::Result<Self> {
        Ok(Self {
            message: read_required(&r.msg).context("msg")?,
            signers: read_required(&r.signers).context("signers")?,
            signature: read_required(&r.sig).context("sig")?,
        })
    }
    fn build(&self) -> Self::Proto {
        proto::CommitQcv2 {
            msg: Some(self.message.build()),
            signers: Some(self.signers.build()),
            sig: Some(self.signature.build()),
        }
    }
}
