//! Proposals, new-view messages and their justification (protocol.md 2.3).

use anyhow::Context as _;
use zksync_protobuf::{ProtoFmt, read_required, required};

use super::{
    BlockNumber, CommitQC, CommitQCVerifyError, EpochNumber, GenesisHash, Payload, PayloadHash,
    Schedule, TimeoutQC, TimeoutQCVerifyError, View,
};
use crate::proto::zksync::roles::validator as proto;

/// Why a new view starts: the previous view finalized a block, or timed out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProposalJustification {
    /// The previous view produced a commit certificate.
    Commit(CommitQC),
    /// The previous view timed out.
    Timeout(TimeoutQC),
}

/// A justification is invalid.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum JustificationVerifyError {
    /// Invalid commit certificate.
    #[error("commit_qc: {0}")]
    Commit(#[from] CommitQCVerifyError),
    /// Invalid timeout certificate.
    #[error("timeout_qc: {0}")]
    Timeout(#[from] TimeoutQCVerifyError),
}

impl ProposalJustification {
    /// The view it starts: the certificate's view plus one.
    pub fn view(&self) -> View {
        match self {
            Self::Commit(qc) => qc.view().next(),
            Self::Timeout(qc) => qc.view.next(),
        }
    }

    /// Verifies the certificate.
    pub fn verify(
        &self,
        genesis: GenesisHash,
        epoch: EpochNumber,
        schedule: &Schedule,
    ) -> Result<(), JustificationVerifyError> {
        match self {
            Self::Commit(qc) => qc.verify(genesis, epoch, schedule)?,
            Self::Timeout(qc) => qc.verify(genesis, epoch, schedule)?,
        }
        Ok(())
    }

    /// The block the new view must propose: its number, and the payload hash if it must be a
    /// reproposal. `first_block` is the first block of the epoch.
    pub fn get_implied_block(
        &self,
        schedule: &Schedule,
        first_block: BlockNumber,
    ) -> (BlockNumber, Option<PayloadHash>) {
        match self {
            Self::Commit(qc) => (qc.header().number.next(), None),
            Self::Timeout(qc) => {
                let high_vote = qc.high_vote(schedule);
                let high_qc = qc.high_qc();
                if let Some(v) = high_vote
                    && high_qc.is_none_or(|qc| v.number > qc.header().number)
                {
                    return (v.number, Some(v.payload));
                }
                match high_qc {
                    Some(qc) => (qc.header().number.next(), None),
                    None => (first_block, None),
                }
            }
        }
    }
}

impl ProtoFmt for ProposalJustification {
    type Proto = proto::ProposalJustificationV2;
    fn read(r: &Self::Proto) -> anyhow::Result<Self> {
        use proto::proposal_justification_v2::T;
        Ok(match required(&r.t)? {
            T::CommitQc(qc) => Self::Commit(ProtoFmt::read(qc).context("commit_qc")?),
            T::TimeoutQc(qc) => Self::Timeout(ProtoFmt::read(qc).context("timeout_qc")?),
        })
    }
    fn build(&self) -> Self::Proto {
        use proto::proposal_justification_v2::T;
        proto::ProposalJustificationV2 {
            t: Some(match self {
                Self::Commit(qc) => T::CommitQc(qc.build()),
                Self::Timeout(qc) => T::TimeoutQc(qc.build()),
            }),
        }
    }
}

/// A leader's proposal for its view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderProposal {
    /// The payload of a new block; `None` for a reproposal of the implied block.
    pub proposal_payload: Option<Payload>,
    /// Why this view started.
    pub justification: ProposalJustification,
}

impl LeaderProposal {
    /// The view of the proposal.
    pub fn view(&self) -> View {
        self.justification.view()
    }

    /// Verifies the justification.
    pub fn verify(
        &self,
        genesis: GenesisHash,
        epoch: EpochNumber,
        schedule: &Schedule,
    ) -> Result<(), JustificationVerifyError> {
        self.justification.verify(genesis, epoch, schedule)
    }
}

impl ProtoFmt for LeaderProposal {
    type Proto = proto::LeaderProposalV2;
    fn read(r: &Self::Proto) -> anyhow::Result<Self> {
        Ok(Self {
            proposal_payload: r.proposal_payload.clone().map(Payload),
            justification: read_required(&r.justification).context("justification")?,
        })
    }
    fn build(&self) -> Self::Proto {
        proto::LeaderProposalV2 {
            proposal_payload: self.proposal_payload.as_ref().map(|p| p.0.clone()),
            justification: Some(self.justification.build()),
        }
    }
}

/// "I moved to a new view, here is why": sent to all when entering a view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaNewView {
    /// Why the view started.
    pub justification: ProposalJustification,
}

impl ReplicaNewView {
    /// The new view.
    pub fn view(&self) -> View {
        self.justification.view()
    }

    /// Verifies the justification.
    pub fn verify(
        &self,
        genesis: GenesisHash,
        epoch: EpochNumber,
        schedule: &Schedule,
    ) -> Result<(), JustificationVerifyError> {
        self.justification.verify(genesis, epoch, schedule)
    }
}

impl ProtoFmt for ReplicaNewView {
    type Proto = proto::ReplicaNewViewV2;
    fn read(r: &Self::Proto) -> anyhow::Result<Self> {
        Ok(Self {
            justification: read_required(&r.justification).context("justification")?,
        })
    }
    fn build(&self) -> Self::Proto {
        proto::ReplicaNewViewV2 {
            justification: Some(self.justification.build()),
        }
    }
}
