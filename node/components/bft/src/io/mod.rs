//! Messages between the bft component and the network.
//!
//! Inbound: the network puts every consensus message it receives into the queue made by
//! [`create_input_channel`]; the replica takes them out. The queue (protocol.md 2.15):
//! - drops a message for a view older than the replica's current view before any signature
//!   work (the replica publishes its view through [`ViewWatermark`]; a stale message could
//!   only be rejected as old later anyway), except a leader proposal of the view just before:
//!   its votes may have overtaken it, and its payload may be the one the replica needs for the
//!   block it just saw certified (see `Replica::take_certified_payload`);
//! - checks no signature: the replica does, after the cheap checks that may reject a message
//!   (an old view, a new-view message from a non-leader), and commit votes a quorum at a time
//!   with one aggregate check (protocol.md 2.15 checks every signature here, which is most of
//!   the signature work a replica does, and mostly wasted);
//! - keeps at most one pending message per (signer, message type): of two, the one with the
//!   higher view survives (on equal views the queued one stays).
//!
//! Precondition: the network puts a message in the queue only if its signer is the validator
//! authenticated on the connection it came from (every consensus message travels directly from
//! its author). So a message with a bad signature can only displace an earlier message of its own
//! signer, and costs only that signer's vote.
//!
//! Every message carries an acknowledgement: it fires when the replica has processed the
//! message and, by being dropped, when the queue discards it. The network answers the
//! consensus RPC only then, which is the back-pressure of the consensus network.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use zksync_concurrency::{oneshot, sync::prunable_mpsc};
use zksync_consensus_roles::validator::{ConsensusMsg, Signed, ViewNumber};

#[cfg(test)]
mod tests;

/// A consensus message from the network, with its acknowledgement.
#[derive(Debug)]
pub struct ConsensusReq {
    /// The signed message.
    pub msg: Signed<ConsensusMsg>,
    /// Fired (or dropped) once the message is processed or discarded.
    pub ack: oneshot::Sender<()>,
}

/// A message the replica broadcasts to every validator of the epoch (itself included).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsensusInputMessage {
    /// The signed message.
    pub message: Signed<ConsensusMsg>,
}

/// The replica's current view, shared with the inbound queue so that stale messages are dropped
/// before their signatures are checked. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct ViewWatermark(Arc<AtomicU64>);

impl ViewWatermark {
    /// Records that the replica is at `view` (never moves back).
    pub fn advance(&self, view: ViewNumber) {
        self.0.fetch_max(view.0, Ordering::Relaxed);
    }

    /// The current view.
    pub fn get(&self) -> ViewNumber {
        ViewNumber(self.0.load(Ordering::Relaxed))
    }
}

/// Sending half of the inbound queue (the network's side).
pub type InputSender = prunable_mpsc::Sender<ConsensusReq>;
/// Receiving half of the inbound queue (the replica's side).
pub type InputReceiver = prunable_mpsc::Receiver<ConsensusReq>;

/// The inbound queue, filtering against `watermark`.
pub fn create_input_channel(watermark: ViewWatermark) -> (InputSender, InputReceiver) {
    prunable_mpsc::channel(
        move |req: &ConsensusReq| {
            let view = req.msg.msg.view().number;
            match &req.msg.msg {
                ConsensusMsg::LeaderProposal(_) => view.next() >= watermark.get(),
                _ => view >= watermark.get(),
            }
        },
        |old: &ConsensusReq, new: &ConsensusReq| {
            if old.msg.key != new.msg.key || old.msg.msg.label() != new.msg.msg.label() {
                return prunable_mpsc::Prune::KeepBoth;
            }
            if old.msg.msg.view().number < new.msg.msg.view().number {
                prunable_mpsc::Prune::DropOld
            } else {
                prunable_mpsc::Prune::DropNew
            }
        },
    )
}
