//! View, epoch and phase identifiers.

use std::fmt;

use anyhow::Context as _;
use zksync_protobuf::{ProtoFmt, read_required, required};

use super::GenesisHash;
use crate::proto::zksync::roles::validator as proto;

/// A view number: the consensus round.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ViewNumber(pub u64);

impl ViewNumber {
    /// The next view. `u64::MAX` is never reached in practice; it saturates.
    pub fn next(self) -> Self {
        Self(self.0.saturating_add(1))
    }

    /// The previous view, if any.
    pub fn prev(self) -> Option<Self> {
        self.0.checked_sub(1).map(Self)
    }
}

impl fmt::Display for ViewNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An epoch number: identifies a validator schedule period.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EpochNumber(pub u64);

impl EpochNumber {
    /// The next epoch (saturating).
    pub fn next(self) -> Self {
        Self(self.0.saturating_add(1))
    }
}

impl fmt::Display for EpochNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A view of one chain and epoch. Field order (genesis, epoch, number) defines `Ord`, which
/// orders timeout certificate entries on the wire (protocol.md 4.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct View {
    /// The chain.
    pub genesis: GenesisHash,
    /// The epoch.
    pub epoch: EpochNumber,
    /// The view number.
    pub number: ViewNumber,
}

/// A message belongs to another chain or epoch.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum ViewError {
    /// Another genesis.
    #[error("genesis mismatch: got {got:?}, want {want:?}")]
    Genesis {
        /// In the message.
        got: GenesisHash,
        /// Ours.
        want: GenesisHash,
    },
    /// Another epoch.
    #[error("epoch mismatch: got {got}, want {want}")]
    Epoch {
        /// In the message.
        got: EpochNumber,
        /// Ours.
        want: EpochNumber,
    },
}

impl View {
    /// Checks that the view is of chain `genesis` and epoch `epoch`.
    pub fn verify(&self, genesis: GenesisHash, epoch: EpochNumber) -> Result<(), ViewError> {
        if self.genesis != genesis {
            return Err(ViewError::Genesis {
                got: self.genesis,
                want: genesis,
            });
        }
        if self.epoch != epoch {
            return Err(ViewError::Epoch {
                got: self.epoch,
                want: epoch,
            });
        }
        Ok(())
    }

    /// The same view with the next number.
    pub fn next(self) -> Self {
        Self {
            number: self.number.next(),
            ..self
        }
    }
}

impl ProtoFmt for View {
    type Proto = proto::ViewV2;
    fn read(r: &Self::Proto) -> anyhow::Result<Self> {
        Ok(Self {
            genesis: read_required(&r.genesis).context("genesis")?,
            number: ViewNumber(*required(&r.number).context("number")?),
            epoch: EpochNumber(*required(&r.epoch).context("epoch")?),
        })
    }
    fn build(&self) -> Self::Proto {
        proto::ViewV2 {
            genesis: Some(self.genesis.build()),
            number: Some(self.number.0),
            epoch: Some(self.epoch.0),
        }
    }
}

/// The phase of a replica within a view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Waiting for a proposal.
    Prepare,
    /// Voted to commit.
    Commit,
    /// Voted to time out.
    Timeout,
}

impl ProtoFmt for Phase {
    type Proto = proto::PhaseV2;
    fn read(r: &Self::Proto) -> anyhow::Result<Self> {
        use proto::phase_v2::T;
        Ok(match required(&r.t)? {
            T::Prepare(_) => Self::Prepare,
            T::Commit(_) => Self::Commit,
            T::Timeout(_) => Self::Timeout,
        })
    }
    fn build(&self) -> Self::Proto {
        use proto::phase_v2::T;
        let void = zksync_protobuf::proto::zksync::std::Void {};
        proto::PhaseV2 {
            t: Some(match self {
                Self::Prepare => T::Prepare(void),
                Self::Commit => T::Commit(void),
                Self::Timeout => T::Timeout(void),
            }),
        }
    }
}
