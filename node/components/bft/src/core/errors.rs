//! Why the replica rejects a message (protocol.md 2.6 and 2.11).

use zksync_consensus_roles::validator::{
    JustificationVerifyError, ReplicaTimeoutVerifyError, ViewError,
};

/// A message the replica does not act on. None of these stops the replica: the message is
/// dropped (and counted in the metrics under [`Rejection::label`]).
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// The message is for a view the replica has left (or, for a proposal, the replica has
    /// already voted or timed out in its view; for a new-view message of the current view, the
    /// sender is not the view's leader, or its commit certificate is not higher than the
    /// replica's).
    #[error("message for an old view")]
    Old,
    /// The signer is not a validator of the epoch.
    #[error("signer is not a validator of the epoch")]
    NonValidatorSigner,
    /// The proposal is not signed by the leader of its view.
    #[error("proposal not signed by the leader of its view")]
    InvalidLeader,
    /// The signer already voted in this view or a later one.
    #[error("signer already sent a vote of this kind for this or a later view")]
    DuplicateSigner,
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// The view belongs to another chain or epoch.
    #[error("view: {0}")]
    View(#[from] ViewError),
    /// The certificate justifying a proposal or new view is invalid.
    #[error("justification: {0}")]
    Justification(#[from] JustificationVerifyError),
    /// A timeout vote is invalid (its view, high vote or high certificate).
    #[error("timeout vote: {0}")]
    Timeout(#[from] ReplicaTimeoutVerifyError),
    /// The proposed block is below the first block the store keeps.
    #[error("proposed block {number} is below the store's first block {first}")]
    ProposalAlreadyPruned {
        /// The implied block.
        number: u64,
        /// The store's first block.
        first: u64,
    },
    /// The proposed block is before the epoch's first block.
    #[error("proposed block {number} is before the epoch's first block {first}")]
    BlockOutsideEpoch {
        /// The implied block.
        number: u64,
        /// The epoch's first block.
        first: u64,
    },
    /// A reproposal must not carry a payload.
    #[error("reproposal with a payload")]
    ReproposalWithPayload,
    /// A new block must carry its payload.
    #[error("new block proposal without a payload")]
    MissingPayload,
    /// The payload is larger than allowed.
    #[error("payload of {size} bytes exceeds the limit of {max}")]
    OversizedPayload {
        /// Payload size.
        size: usize,
        /// Configured limit.
        max: usize,
    },
    /// A proposal for this view is already being verified.
    #[error("a proposal for this view is already being verified")]
    ProposalPending,
}

impl Rejection {
    /// A short label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Old => "old",
            Self::NonValidatorSigner => "non_validator_signer",
            Self::InvalidLeader => "invalid_leader",
            Self::DuplicateSigner => "duplicate_signer",
            Self::BadSignature => "bad_signature",
            Self::View(_) => "wrong_view",
            Self::Justification(_) => "invalid_justification",
            Self::Timeout(_) => "invalid_timeout",
            Self::ProposalAlreadyPruned { .. } => "already_pruned",
            Self::BlockOutsideEpoch { .. } => "outside_epoch",
            Self::ReproposalWithPayload => "reproposal_with_payload",
            Self::MissingPayload => "missing_payload",
            Self::OversizedPayload { .. } => "oversized_payload",
            Self::ProposalPending => "proposal_pending",
        }
    }
}
