//! The persisted state of a replica (protocol.md 2.10).

use anyhow::Context as _;
use zksync_protobuf::{ProtoFmt, read_optional, read_required, required};

use super::{
    BlockNumber, CommitQC, EpochNumber, Payload, Phase, ReplicaCommit, TimeoutQC, ViewNumber,
};
use crate::proto::zksync::roles::validator as proto;

/// A block payload the replica has seen proposed (kept to answer reproposals).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proposal {
    /// The block number.
    pub number: BlockNumber,
    /// The payload.
    pub payload: Payload,
}

impl ProtoFmt for Proposal {
    type Proto = proto::Proposal;
    fn read(r: &Self::Proto) -> anyhow::Result<Self> {
        Ok(Self {
            number: BlockNumber(*required(&r.number).context("number")?),
            payload: Payload(required(&r.payload).context("payload")?.clone()),
        })
    }
    fn build(&self) -> Self::Proto {
        proto::Proposal {
            number: Some(self.number.0),
            payload: Some(self.payload.0.clone()),
        }
    }
}

/// What a replica persists before sending any vote that depends on it, so that it never votes
/// twice differently in one view, across crashes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaState {
    /// The epoch of this state.
    pub epoch: EpochNumber,
    /// The current view.
    pub view: ViewNumber,
    /// The phase in the current view.
    pub phase: Phase,
    /// The latest commit vote sent.
    pub high_vote: Option<ReplicaCommit>,
    /// The highest commit certificate known.
    pub high_commit_qc: Option<CommitQC>,
    /// The highest timeout certificate known.
    pub high_timeout_qc: Option<TimeoutQC>,
    /// Payloads seen in proposals, for reproposals.
    pub proposals: Vec<Proposal>,
}

impl ReplicaState {
    /// The state of a replica that has done nothing yet in `epoch`.
    pub fn new(epoch: EpochNumber) -> Self {
        Self {
            epoch,
            view: ViewNumber(0),
            phase: Phase::Prepare,
            high_vote: None,
            high_commit_qc: None,
            high_timeout_qc: None,
            proposals: vec![],
        }
    }
}

impl ProtoFmt for ReplicaState {
    type Proto = proto::ReplicaState;
    fn read(r: &Self::Proto) -> anyhow::Result<Self> {
        let proto::replica_state::T::V2(s) = required(&r.t)?;
        let read = || -> anyhow::Result<Self> {
            Ok(Self {
                epoch: EpochNumber(*required(&s.epoch).context("epoch")?),
                view: ViewNumber(*required(&s.view_number).context("view_number")?),
                phase: read_required(&s.phase).context("phase")?,
                high_vote: read_optional(&s.high_vote).context("high_vote")?,
                high_commit_qc: read_optional(&s.high_commit_qc).context("high_commit_qc")?,
                high_timeout_qc: read_optional(&s.high_timeout_qc).context("high_timeout_qc")?,
                proposals: s
                    .proposals
                    .iter()
                    .enumerate()
                    .map(|(i, p)| Proposal::read(p).with_context(|| format!("proposals[{i}]")))
                    .collect::<anyhow::Result<_>>()?,
            })
        };
        read().context("v2")
    }
    fn build(&self) -> Self::Proto {
        proto::ReplicaState {
            t: Some(proto::replica_state::T::V2(proto::ChonkyV2State {
                view_number: Some(self.view.0),
                phase: Some(self.phase.build()),
                high_vote: self.high_vote.as_ref().map(ProtoFmt::build),
                high_commit_qc: self.high_commit_qc.as_ref().map(ProtoFmt::build),
                high_timeout_qc: self.high_timeout_qc.as_ref().map(ProtoFmt::build),
                proposals: self.proposals.iter().map(ProtoFmt::build).collect(),
                epoch: Some(self.epoch.0),
            })),
        }
    }
}
