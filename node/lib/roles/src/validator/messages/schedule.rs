//! The validator schedule of an epoch and leader selection (protocol.md 2.1, 2.5).

use std::collections::HashMap;

use anyhow::Context as _;
use zksync_consensus_crypto::keccak256::Keccak256;
use zksync_protobuf::{ProtoFmt, read_required, required};

use super::ViewNumber;
use crate::{proto::zksync::roles::validator as proto, validator::PublicKey};

/// A validator and its voting weight.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ValidatorInfo {
    /// Consensus key.
    pub key: PublicKey,
    /// Voting weight (> 0).
    pub weight: u64,
    /// Whether it may be chosen as leader.
    pub leader: bool,
}

/// How leaders are chosen among the validators with `leader = true`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum LeaderSelectionMode {
    /// In turn, by schedule index.
    #[default]
    RoundRobin,
    /// Pseudo-randomly, proportionally to weight.
    Weighted,
}

/// Leader selection parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LeaderSelection {
    /// Consecutive views per leader (> 0).
    pub frequency: u64,
    /// The mode.
    pub mode: LeaderSelectionMode,
}

impl Default for LeaderSelection {
    fn default() -> Self {
        Self {
            frequency: 1,
            mode: LeaderSelectionMode::RoundRobin,
        }
    }
}

/// A list of validators cannot form a schedule.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum ScheduleError {
    /// No validators.
    #[error("the schedule has no validators")]
    Empty,
    /// A key appears twice.
    #[error("duplicate validator {0:?}")]
    Duplicate(PublicKey),
    /// A validator has weight 0.
    #[error("validator {0:?} has weight 0")]
    ZeroWeight(PublicKey),
    /// The weights overflow `u64`.
    #[error("total weight overflows u64")]
    WeightOverflow,
    /// No validator may lead.
    #[error("no validator is marked as leader")]
    NoLeader,
    /// `frequency = 0` (reference nodes divide by it and crash).
    #[error("leader selection frequency must be > 0")]
    ZeroFrequency,
}

/// The validators of an epoch, sorted by public key; the index of a validator in this order is
/// its bit in [`super::Signers`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    validators: Vec<ValidatorInfo>,
    leader_selection: LeaderSelection,
    index: HashMap<PublicKey, usize>,
    leaders: Vec<usize>,
    leader_weight: u64,
    total_weight: u64,
}

impl Schedule {
    /// Builds a schedule; the input order is irrelevant.
    pub fn new(
        validators: impl IntoIterator<Item = ValidatorInfo>,
        leader_selection: LeaderSelection,
    ) -> Result<Self, ScheduleError> {
        let mut validators: Vec<ValidatorInfo> = validators.into_iter().collect();
        if validators.is_empty() {
            return Err(ScheduleError::Empty);
        }
        if leader_selection.frequency == 0 {
            return Err(ScheduleError::ZeroFrequency);
        }
        validators.sort_by(|a, b| a.key.cmp(&b.key));
        let mut index = HashMap::with_capacity(validators.len());
        let mut total_weight = 0u64;
        let mut leaders = vec![];
        let mut leader_weight = 0u64;
        for (i, v) in validators.iter().enumerate() {
            if index.insert(v.key.clone(), i).is_some() {
                return Err(ScheduleError::Duplicate(v.key.clone()));
            }
            if v.weight == 0 {
                return Err(ScheduleError::ZeroWeight(v.key.clone()));
            }
            total_weight = total_weight
                .checked_add(v.weight)
                .ok_or(ScheduleError::WeightOverflow)?;
            if v.leader {
                leaders.push(i);
                // Cannot overflow: bounded by the total weight.
                leader_weight += v.weight;
            }
        }
        if leaders.is_empty() {
            return Err(ScheduleError::NoLeader);
        }
        Ok(Self {
            validators,
            leader_selection,
            index,
            leaders,
            leader_weight,
            total_weight,
        })
    }

    /// Number of validators.
    pub fn len(&self) -> usize {
        self.validators.len()
    }

    /// Always false: schedules are never empty.
    pub fn is_empty(&self) -> bool {
        self.validators.is_empty()
    }

    /// Validators in schedule order.
    pub fn iter(&self) -> impl Iterator<Item = &ValidatorInfo> {
        self.validators.iter()
    }

    /// Keys in schedule order.
    pub fn keys(&self) -> impl Iterator<Item = &PublicKey> {
        self.validators.iter().map(|v| &v.key)
    }

    /// The validator at schedule index `i`.
    pub fn get(&self, i: usize) -> Option<&ValidatorInfo> {
        self.validators.get(i)
    }

    /// The schedule index of `key`.
    pub fn index(&self, key: &PublicKey) -> Option<usize> {
        self.index.get(key).copied()
    }

    /// Whether `key` is a validator.
    pub fn contains(&self, key: &PublicKey) -> bool {
        self.index.contains_key(key)
    }

    /// The leader selection parameters.
    pub fn leader_selection(&self) -> &LeaderSelection {
        &self.leader_selection
    }

    /// Sum of all weights.
    pub fn total_weight(&self) -> u64 {
        self.total_weight
    }

    /// Maximum weight of faulty validators: `(W - 1) / 5`.
    pub fn max_faulty_weight(&self) -> u64 {
        (self.total_weight - 1) / 5
    }

    /// Weight of a commit or timeout certificate: `W - f`.
    pub fn quorum_threshold(&self) -> u64 {
        self.total_weight - self.max_faulty_weight()
    }

    /// Weight of a high vote that forces a reproposal: `W - 3f`.
    pub fn subquorum_threshold(&self) -> u64 {
        self.total_weight - 3 * self.max_faulty_weight()
    }

    /// The schedule index of the leader of `view`.
    ///
    /// Weighted mode picks the first leader whose cumulative weight exceeds
    /// `keccak256(u64_be(view / frequency)) mod leader_weight`. When that value is 0 the
    /// reference crashes (protocol.md 14.A I1); we pick the first leader, the natural reading
    /// of the rule. A committee mixing our nodes with reference nodes in Weighted mode will
    /// see the reference nodes crash in those views.
    pub fn view_leader_index(&self, view: ViewNumber) -> usize {
        let turn = view.0 / self.leader_selection.frequency;
        match self.leader_selection.mode {
            LeaderSelectionMode::RoundRobin => {
                self.leaders[(turn % self.leaders.len() as u64) as usize]
            }
            LeaderSelectionMode::Weighted => {
                let e = weighted_eligibility(turn, self.leader_weight);
                let mut acc = 0u64;
                for &i in &self.leaders {
                    acc += self.validators[i].weight;
                    if e < acc {
                        return i;
                    }
                }
                // Unreachable: e < leader_weight = the final `acc`.
                self.leaders[0]
            }
        }
    }

    /// The leader of `view`.
    pub fn view_leader(&self, view: ViewNumber) -> &PublicKey {
        &self.validators[self.view_leader_index(view)].key
    }
}

/// `keccak256(turn as 8 big-endian bytes)`, read as a big-endian integer, modulo `modulus`.
pub(crate) fn weighted_eligibility(turn: u64, modulus: u64) -> u64 {
    let hash = Keccak256::new(&turn.to_be_bytes());
    let m = u128::from(modulus);
    let mut r = 0u128;
    for &b in hash.as_bytes() {
        r = ((r << 8) | u128::from(b)) % m;
    }
    r as u64
}

impl ProtoFmt for ValidatorInfo {
    type Proto = proto::ValidatorInfo;
    fn read(r: &Self::Proto) -> anyhow::Result<Self> {
        Ok(Self {
            key: read_required(&r.key).context("key")?,
            weight: *required(&r.weight).context("weight")?,
            leader: *required(&r.leader).context("leader")?,
        })
    }
    fn build(&self) -> Self::Proto {
        proto::ValidatorInfo {
            key: Some(self.key.build()),
            weight: Some(self.weight),
            leader: Some(self.leader),
        }
    }
}

impl ProtoFmt for LeaderSelection {
    type Proto = proto::LeaderSelection;
    fn read(r: &Self::Proto) -> anyhow::Result<Self> {
        use proto::leader_selection_mode::Mode;
        let mode = required(&r.mode).context("mode")?;
        let mode = match required(&mode.mode).context("mode")? {
            Mode::RoundRobin(_) => LeaderSelectionMode::RoundRobin,
            Mode::Weighted(_) => LeaderSelectionMode::Weighted,
        };
        Ok(Self {
            frequency: *required(&r.frequency).context("frequency")?,
            mode,
        })
    }
    fn build(&self) -> Self::Proto {
        use proto::leader_selection_mode::{Mode, RoundRobin, Weighted};
        proto::LeaderSelection {
            frequency: Some(self.frequency),
            mode: Some(proto::LeaderSelectionMode {
                mode: Some(match self.mode {
                    LeaderSelectionMode::RoundRobin => Mode::RoundRobin(RoundRobin {}),
                    LeaderSelectionMode::Weighted => Mode::Weighted(Weighted {}),
                }),
            }),
        }
    }
}

impl ProtoFmt for Schedule {
    type Proto = proto::ValidatorSchedule;
    fn read(r: &Self::Proto) -> anyhow::Result<Self> {
        let validators = r
            .validators
            .iter()
            .enumerate()
            .map(|(i, v)| ValidatorInfo::read(v).with_context(|| format!("validators[{i}]")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let leader_selection = read_required(&r.leader_selection).context("leader_selection")?;
        Ok(Self::new(validators, leader_selection)?)
    }
    fn build(&self) -> Self::Proto {
        proto::ValidatorSchedule {
            validators: self.validators.iter().map(ProtoFmt::build).collect(),
            leader_selection: Some(self.leader_selection.build()),
        }
    }
}

/// [`weighted_eligibility`] for the change-detector tests.
#[cfg(test)]
pub(crate) fn weighted_eligibility_for_tests(turn: u64, modulus: u64) -> u64 {
    weighted_eligibility(turn, modulus)
}
