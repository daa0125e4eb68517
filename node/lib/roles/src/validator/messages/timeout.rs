//! Timeout votes and timeout certificates (protocol.md 2.3-2.4).

use std::collections::{BTreeMap, HashMap};

use anyhow::Context as _;
use zksync_protobuf::{ProtoFmt, read_optional, read_required};

use super::{
    BlockHeader, CommitQC, CommitQCVerifyError, EpochNumber, GenesisHash, MsgHash, ReplicaCommit,
    Schedule, Signable as _, Signed, Signers, View, ViewError,
};
use crate::{proto::zksync::roles::validator as proto, validator::AggregateSignature};

/// A timeout vote: "view `view` failed; here is the highest block I voted for and the highest
/// commit certificate I know".
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReplicaTimeout {
    /// The view that timed out.
    pub view: View,
    /// The sender's latest commit vote.
    pub high_vote: Option<ReplicaCommit>,
    /// The highest commit certificate the sender has.
    pub high_qc: Option<CommitQC>,
}

/// A timeout vote is invalid.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum ReplicaTimeoutVerifyError {
    /// The view is of another chain or epoch.
    #[error("view: {0}")]
    View(ViewError),
    /// The high vote is of another chain or epoch.
    #[error("high_vote: {0}")]
    HighVote(ViewError),
    /// The high certificate is invalid.
    #[error("high_qc: {0}")]
    HighQC(CommitQCVerifyError),
}

impl ReplicaTimeout {
    /// Checks the view, the high vote's view and the whole high certificate.
    pub fn verify(
        &self,
        genesis: GenesisHash,
        epoch: EpochNumber,
        schedule: &Schedule,
    ) -> Result<(), ReplicaTimeoutVerifyError> {
        self.verify_with(genesis, epoch, |qc| qc.verify(genesis, epoch, schedule))
    }

    /// Like [`Self::verify`], with the high certificate checked by `check_qc` (a caller that
    /// caches verified certificates checks each one once).
    pub fn verify_with(
        &self,
        genesis: GenesisHash,
        epoch: EpochNumber,
        check_qc: impl FnOnce(&CommitQC) -> Result<(), CommitQCVerifyError>,
    ) -> Result<(), ReplicaTimeoutVerifyError> {
        self.view
            .verify(genesis, epoch)
            .map_err(ReplicaTimeoutVerifyError::View)?;
        if let Some(v) = &self.high_vote {
            v.verify(genesis, epoch)
                .map_err(ReplicaTimeoutVerifyError::HighVote)?;
        }
        if let Some(qc) = &self.high_qc {
            check_qc(qc).map_err(ReplicaTimeoutVerifyError::HighQC)?;
        }
        Ok(())
    }
}

impl ProtoFmt for ReplicaTimeout {
    type Proto = proto::ReplicaTimeoutV2;
    fn read(r: &Self::Proto) -> anyhow::Result<Self> {
        Ok(Self {
            view: read_required(&r.view).context("view")?,
            high_vote: read_optional(&r.high_vote).context("high_vote")?,
            high_qc: read_optional(&r.high_qc).context("high_qc")?,
        })
    }
    fn build(&self) -> Self::Proto {
        proto::ReplicaTimeoutV2 {
            view: Some(self.view.build()),
            high_vote: self.high_vote.as_ref().map(ProtoFmt::build),
            high_qc: self.high_qc.as_ref().map(ProtoFmt::build),
        }
    }
}

/// A timeout certificate: timeout votes of a quorum for one view. Votes may differ; each
/// distinct vote maps to the set of its signers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeoutQC {
    /// The view that timed out.
    pub view: View,
    /// Distinct votes and their signers, in vote order (the wire order).
    pub map: BTreeMap<ReplicaTimeout, Signers>,
    /// Aggregate of all signatures.
    pub signature: AggregateSignature,
}

/// A vote cannot be added to a timeout certificate (checked in this order).
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum TimeoutQCAddError {
    /// The signer is not in the schedule.
    #[error("signer not in committee")]
    SignerNotInCommittee,
    /// The signer already has a vote in.
    #[error("duplicate signer")]
    DuplicateSigner,
    /// The vote's signature is invalid.
    #[error("bad signature")]
    BadSignature,
    /// The vote is for another view.
    #[error("inconsistent views")]
    InconsistentViews,
    /// The vote is invalid.
    #[error("invalid message: {0}")]
    InvalidMessage(ReplicaTimeoutVerifyError),
}

/// A timeout certificate is invalid.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum TimeoutQCVerifyError {
    /// The certificate's view is of another chain or epoch.
    #[error("view: {0}")]
    InvalidView(ViewError),
    /// Vote `i` is for another view than the certificate.
    #[error("vote {0}: inconsistent view")]
    InconsistentView(usize),
    /// Signers of vote `i` do not fit the schedule.
    #[error("vote {0}: signers set has the wrong length")]
    WrongSignersLength(usize),
    /// Vote `i` has no signers.
    #[error("vote {0}: no signers")]
    NoSignersAssigned(usize),
    /// A signer of vote `i` also signed an earlier vote.
    #[error("vote {0}: signers overlap those of earlier votes")]
    OverlappingSignatureSet(usize),
    /// Vote `i` is invalid.
    #[error("vote {0}: {1}")]
    InvalidMessage(usize, ReplicaTimeoutVerifyError),
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

impl TimeoutQC {
    /// An empty certificate for `view`.
    pub fn new(view: View) -> Self {
        Self {
            view,
            map: BTreeMap::new(),
            signature: AggregateSignature::default(),
        }
    }

    /// Whether `i` signed any vote.
    fn has_signer(&self, i: usize) -> bool {
        self.map.values().any(|s| s.get(i))
    }

    /// Adds a signed vote (its signature and the vote itself are checked).
    pub fn add(
        &mut self,
        vote: &Signed<ReplicaTimeout>,
        genesis: GenesisHash,
        epoch: EpochNumber,
        schedule: &Schedule,
    ) -> Result<(), TimeoutQCAddError> {
        let i = schedule
            .index(&vote.key)
            .ok_or(TimeoutQCAddError::SignerNotInCommittee)?;
        if self.has_signer(i) {
            return Err(TimeoutQCAddError::DuplicateSigner);
        }
        vote.verify().map_err(|_| TimeoutQCAddError::BadSignature)?;
        if vote.msg.view != self.view {
            return Err(TimeoutQCAddError::InconsistentViews);
        }
        vote.msg
            .verify(genesis, epoch, schedule)
            .map_err(TimeoutQCAddError::InvalidMessage)?;
        self.add_verified(vote, i, schedule)
    }

    /// Total weight of all signers.
    pub fn weight(&self, schedule: &Schedule) -> u64 {
        self.map.values().map(|s| s.weight(schedule)).sum()
    }

    /// The block that must be reproposed, if any: the one header (number and payload hash;
    /// the high vote's view is ignored, as in the reference) whose high votes together have at
    /// least the subquorum weight. `None` if no header or more than one qualifies.
    pub fn high_vote(&self, schedule: &Schedule) -> Option<BlockHeader> {
        let mut weights: HashMap<BlockHeader, u64> = HashMap::new();
        for (msg, signers) in &self.map {
            if let Some(v) = &msg.high_vote {
                *weights.entry(v.proposal).or_default() += signers.weight(schedule);
            }
        }
        let threshold = schedule.subquorum_threshold();
        let mut qualifying = weights.into_iter().filter(|(_, w)| *w >= threshold);
        match (qualifying.next(), qualifying.next()) {
            (Some((header, _)), None) => Some(header),
            _ => None,
        }
    }

    /// The highest commit certificate among the votes (by view number; on ties the last one in
    /// vote order, as the reference picks).
    pub fn high_qc(&self) -> Option<&CommitQC> {
        self.map
            .keys()
            .filter_map(|m| m.high_qc.as_ref())
            .max_by_key(|qc| qc.view().number)
    }

    /// Adds a vote of schedule index `i` whose signature and message the caller has already
    /// checked. Does nothing if `i` already signed a vote of this certificate. Fails, changing
    /// nothing, only if the signature is not a valid point, i.e. was not verified after all.
    pub fn add_verified(
        &mut self,
        vote: &Signed<ReplicaTimeout>,
        i: usize,
        schedule: &Schedule,
    ) -> Result<(), TimeoutQCAddError> {
        if i >= schedule.len() || self.has_signer(i) {
            return Ok(());
        }
        self.signature
            .0
            .add(&vote.sig.0)
            .map_err(|_| TimeoutQCAddError::BadSignature)?;
        self.map
            .entry(vote.msg.clone())
            .or_insert_with(|| Signers::new(schedule.len()))
            .set(i);
        Ok(())
    }

    /// Fully verifies the certificate.
    pub fn verify(
        &self,
        genesis: GenesisHash,
        epoch: EpochNumber,
        schedule: &Schedule,
    ) -> Result<(), TimeoutQCVerifyError> {
        self.verify_structure_with(genesis, epoch, schedule, |qc| {
            qc.verify(genesis, epoch, schedule)
        })?;
        self.verify_signature(schedule)
    }

    /// Checks everything but the aggregate signature, with the votes' high certificates
    /// checked by `check_qc` (which a caller caching verified certificates provides).
    pub fn verify_structure_with(
        &self,
        genesis: GenesisHash,
        epoch: EpochNumber,
        schedule: &Schedule,
        mut check_qc: impl FnMut(&CommitQC) -> Result<(), CommitQCVerifyError>,
    ) -> Result<(), TimeoutQCVerifyError> {
        self.view
            .verify(genesis, epoch)
            .map_err(TimeoutQCVerifyError::InvalidView)?;
        let mut union = Signers::new(schedule.len());
        for (i, (msg, signers)) in self.map.iter().enumerate() {
            if msg.view != self.view {
                return Err(TimeoutQCVerifyError::InconsistentView(i));
            }
            if signers.len() != schedule.len() {
                return Err(TimeoutQCVerifyError::WrongSignersLength(i));
            }
            if signers.is_zero() {
                return Err(TimeoutQCVerifyError::NoSignersAssigned(i));
            }
            if union.intersects(signers) {
                return Err(TimeoutQCVerifyError::OverlappingSignatureSet(i));
            }
            msg.verify_with(genesis, epoch, &mut check_qc)
                .map_err(|e| TimeoutQCVerifyError::InvalidMessage(i, e))?;
            union.union_with(signers);
        }
        let weight = union.weight(schedule);
        if weight < schedule.quorum_threshold() {
            return Err(TimeoutQCVerifyError::NotEnoughWeight {
                got: weight,
                want: schedule.quorum_threshold(),
            });
        }
        Ok(())
    }

    /// Checks the aggregate signature only (one pairing per distinct vote).
    pub fn verify_signature(&self, schedule: &Schedule) -> Result<(), TimeoutQCVerifyError> {
        let hashes: Vec<(MsgHash, &Signers)> =
            self.map.iter().map(|(m, s)| (m.msg_hash(), s)).collect();
        let pairs = hashes.iter().flat_map(|(hash, signers)| {
            signers
                .iter()
                .filter_map(|i| schedule.get(i))
                .map(move |v| (&hash.0.as_bytes()[..], &v.key.0))
        });
        self.signature
            .0
            .verify(pairs)
            .map_err(|_| TimeoutQCVerifyError::BadSignature)
    }
}

impl ProtoFmt for TimeoutQC {
    type Proto = proto::TimeoutQcv2;
    fn read(r: &Self::Proto) -> anyhow::Result<Self> {
        // As the reference: votes and signer sets are zipped (extra elements of the longer list
        // are ignored), duplicate votes collapse (the last signer set wins), and the map
        // re-sorts the votes.
        let mut map = BTreeMap::new();
        for (i, (msg, signers)) in r.msgs.iter().zip(&r.signers).enumerate() {
            map.insert(
                ReplicaTimeout::read(msg).with_context(|| format!("msgs[{i}]"))?,
                Signers::read(signers).with_context(|| format!("signers[{i}]"))?,
            );
        }
        Ok(Self {
            view: read_required(&r.view).context("view")?,
            map,
            signature: read_required(&r.sig).context("sig")?,
        })
    }
    fn build(&self) -> Self::Proto {
        proto::TimeoutQcv2 {
            view: Some(self.view.build()),
            msgs: self.map.keys().map(ProtoFmt::build).collect(),
            signers: self.map.values().map(ProtoFmt::build).collect(),
            sig: Some(self.signature.build()),
        }
    }
}
