//! Parameters of the simulator: the network, its faults, and the Twins
//! phases.

use zksync_consensus_roles::validator::ConsensusMsg;

/// The two message phases of a Twins split: proposals, and everything else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(in crate::tests) enum Phase {
    /// Leader proposals.
    Proposal,
    /// Commit, timeout and new-view messages.
    Votes,
}

impl Phase {
    /// Index of the phase of `msg`.
    pub(in crate::tests) fn of(msg: &ConsensusMsg) -> usize {
        match msg {
            ConsensusMsg::LeaderProposal(_) => Phase::Proposal as usize,
            _ => Phase::Votes as usize,
        }
    }
}

/// Node groups: nodes in different groups cannot talk. `group[node]`.
pub(in crate::tests) type Groups = Vec<u8>;

/// The simulated network and faults.
#[derive(Clone, Debug)]
pub(in crate::tests) struct Faults {
    /// Time from which every message arrives within `delta`.
    pub(in crate::tests) gst: u64,
    /// Largest delay before GST.
    pub(in crate::tests) max_delay: u64,
    /// Drop probability before GST.
    pub(in crate::tests) drop: f64,
    /// Duplication probability before GST.
    pub(in crate::tests) duplicate: f64,
    /// Time-based partitions before GST: (from, to, groups).
    pub(in crate::tests) partitions: Vec<(u64, u64, Groups)>,
    /// Twins splits per network view (the highest view any node is in) and [`Phase`]; views
    /// past the end are unpartitioned. A message that cannot pass is kept (the newest per
    /// sender and kind for each receiver) and delivered once the network view changes to one
    /// whose split connects the pair.
    pub(in crate::tests) twins_splits: Vec<[Groups; 2]>,
    /// Crash and restart times (before GST) per node.
    pub(in crate::tests) crashes: Vec<(usize, u64, u64)>,
    /// Nodes that are down for the whole run.
    pub(in crate::tests) dead: Vec<usize>,
    /// Probability that a node crashes right after persisting its state, before sending,
    /// (before GST), restarting `max_delay` later at most.
    pub(in crate::tests) crash_after_persist: f64,
    /// (view, node): the commit votes of that view never reach that node (even after GST).
    pub(in crate::tests) lost_commit_votes: Vec<(u64, usize)>,
}

impl Faults {
    /// A network that delivers within `delta` from the start.
    pub(in crate::tests) fn none() -> Self {
        Self {
            gst: 0,
            max_delay: 0,
            drop: 0.,
            duplicate: 0.,
            partitions: vec![],
            twins_splits: vec![],
            crashes: vec![],
            dead: vec![],
            crash_after_persist: 0.,
            lost_commit_votes: vec![],
        }
    }
}

/// Simulation parameters.
#[derive(Clone, Debug)]
pub(in crate::tests) struct Config {
    /// Number of validators.
    pub(in crate::tests) validators: usize,
    /// The first `twins` validators have a second node.
    pub(in crate::tests) twins: usize,
    /// View timeout.
    pub(in crate::tests) view_timeout: u64,
    /// Delay bound after GST.
    pub(in crate::tests) delta: u64,
    /// Every delay after GST is exactly `delta`.
    pub(in crate::tests) exact_delta: bool,
    /// Faults.
    pub(in crate::tests) faults: Faults,
    /// When the run stops.
    pub(in crate::tests) end: u64,
    /// Real BLS signatures instead of the trusting stand-in.
    pub(in crate::tests) real_crypto: bool,
    /// How often a node fetches missing blocks.
    pub(in crate::tests) sync_interval: u64,
}
