//! Random values of every protocol type and a test committee (`testonly` feature).

use std::{collections::BTreeMap, net::SocketAddr};

use rand::{
    Rng, RngExt as _, SeedableRng as _,
    distr::{Distribution, StandardUniform},
    rngs::StdRng,
};
use zksync_consensus_crypto::keccak256::Keccak256;
use zksync_protobuf::std_conv::{SignedDuration, Timestamp};

use crate::{node, validator::*};

/// Implements `Distribution<T> for StandardUniform` with the given body.
macro_rules! random {
    ($t:ty, |$rng:ident| $body:expr) => {
        impl Distribution<$t> for StandardUniform {
            fn sample<R: Rng + ?Sized>(&self, $rng: &mut R) -> $t {
                $body
            }
        }
    };
}

/// `Some(f(..))` half of the time.
fn some<T>(rng: &mut (impl Rng + ?Sized), f: impl FnOnce(&mut StdRng) -> T) -> Option<T> {
    rng.random::<bool>()
        .then(|| f(&mut StdRng::seed_from_u64(rng.random())))
}

fn bytes(rng: &mut (impl Rng + ?Sized), max: usize) -> Vec<u8> {
    let n = rng.random_range(0..=max);
    (0..n).map(|_| rng.random()).collect()
}

random!(SecretKey, |rng| SecretKey::generate(rng));
random!(PublicKey, |rng| rng.random::<SecretKey>().public());
random!(Signature, |rng| rng
    .random::<SecretKey>()
    .sign_hash(&rng.random()));
random!(AggregateSignature, |rng| {
    let mut agg = AggregateSignature::default();
    for _ in 0..rng.random_range(0..3) {
        agg.0
            .add(&rng.random::<Signature>().0)
            .expect("a signature made locally is a valid point");
    }
    agg
});
random!(node::SecretKey, |rng| node::SecretKey::generate(rng));
random!(node::SessionId, |rng| node::SessionId(bytes(rng, 64)));
random!(node::PublicKey, |rng| rng
    .random::<node::SecretKey>()
    .public());
random!(node::Msg, |rng| node::Msg::SessionId(rng.random()));
random!(node::Signed, |rng| rng
    .random::<node::SecretKey>()
    .sign_msg(rng.random()));
random!(MsgHash, |rng| MsgHash(Keccak256::new(
    &rng.random::<[u8; 8]>()
)));
random!(GenesisHash, |rng| GenesisHash(Keccak256::new(
    &rng.random::<[u8; 8]>()
)));
random!(Payload, |rng| Payload(bytes(rng, 100)));
random!(PayloadHash, |rng| rng.random::<Payload>().hash());
random!(BlockNumber, |rng| BlockNumber(
    rng.random_range(0..1_000_000)
));
random!(ViewNumber, |rng| ViewNumber(rng.random_range(0..1_000_000)));
random!(EpochNumber, |rng| EpochNumber(rng.random_range(0..100)));
random!(View, |rng| View {
    genesis: rng.random(),
    epoch: rng.random(),
    number: rng.random(),
});
random!(BlockHeader, |rng| BlockHeader {
    number: rng.random(),
    payload: rng.random(),
});
random!(Phase, |rng| match rng.random_range(0..3) {
    0 => Phase::Prepare,
    1 => Phase::Commit,
    _ => Phase::Timeout,
});
random!(Signers, |rng| {
    let n = rng.random_range(1..20);
    let mut s = Signers::new(n);
    for i in 0..n {
        if rng.random() {
            s.set(i);
        }
    }
    s
});
random!(ReplicaCommit, |rng| ReplicaCommit {
    view: rng.random(),
    proposal: rng.random(),
});
random!(CommitQC, |rng| CommitQC {
    message: rng.random(),
    signers: rng.random(),
    signature: rng.random(),
});
random!(ReplicaTimeout, |rng| ReplicaTimeout {
    view: rng.random(),
    high_vote: some(rng, |r| r.random()),
    high_qc: some(rng, |r| r.random()),
});
random!(TimeoutQC, |rng| {
    let view: View = rng.random();
    let mut map = BTreeMap::new();
    for _ in 0..rng.random_range(0..3) {
        let mut msg: ReplicaTimeout = rng.random();
        msg.view = view;
        map.insert(msg, rng.random());
    }
    TimeoutQC {
        view,
        map,
        signature: rng.random(),
    }
});
random!(ProposalJustification, |rng| if rng.random() {
    ProposalJustification::Commit(rng.random())
} else {
    ProposalJustification::Timeout(rng.random())
});
random!(LeaderProposal, |rng| LeaderProposal {
    proposal_payload: some(rng, |r| r.random()),
    justification: rng.random(),
});
random!(ReplicaNewView, |rng| ReplicaNewView {
    justification: rng.random(),
});
random!(ConsensusMsg, |rng| match rng.random_range(0..4) {
    0 => ConsensusMsg::LeaderProposal(rng.random()),
    1 => ConsensusMsg::ReplicaCommit(rng.random()),
    2 => ConsensusMsg::ReplicaNewView(rng.random()),
    _ => ConsensusMsg::ReplicaTimeout(rng.random()),
});
random!(NetAddress, |rng| NetAddress {
    addr: SocketAddr::new(rng.random::<[u8; 4]>().into(), rng.random()),
    version: rng.random(),
    timestamp: Timestamp(
        SignedDuration::new(
            rng.random_range(0..1 << 40),
            rng.random_range(0..1_000_000_000)
        )
        .expect("in range")
    ),
});
random!(Msg, |rng| match rng.random_range(0..3) {
    0 => Msg::Consensus(rng.random()),
    1 => Msg::SessionId(rng.random()),
    _ => Msg::NetAddress(rng.random()),
});
random!(Signed<ConsensusMsg>, |rng| rng
    .random::<SecretKey>()
    .sign_msg(rng.random()));
random!(ValidatorInfo, |rng| ValidatorInfo {
    key: rng.random(),
    weight: rng.random_range(1..1000),
    leader: rng.random(),
});
random!(LeaderSelection, |rng| LeaderSelection {
    frequency: rng.random_range(1..5),
    mode: if rng.random() {
        LeaderSelectionMode::RoundRobin
    } else {
        LeaderSelectionMode::Weighted
    },
});
random!(Schedule, |rng| {
    let n = rng.random_range(1..6);
    let mut validators: Vec<ValidatorInfo> = (0..n).map(|_| rng.random()).collect();
    validators[0].leader = true;
    Schedule::new(validators, rng.random()).expect("valid random schedule")
});
random!(Genesis, |rng| Genesis {
    chain_id: ChainId(rng.random()),
    fork_number: ForkNumber(rng.random()),
    first_block: rng.random(),
    protocol_version: ProtocolVersion::CURRENT,
    validators_schedule: some(rng, |r| r.random()),
});
random!(FinalBlock, |rng| {
    let payload: Payload = rng.random();
    let mut justification: CommitQC = rng.random();
    justification.message.proposal.payload = payload.hash();
    FinalBlock {
        payload,
        justification,
    }
});
random!(PreGenesisBlock, |rng| PreGenesisBlock {
    number: rng.random(),
    payload: rng.random(),
    justification: Justification(bytes(rng, 50)),
});
random!(Block, |rng| if rng.random() {
    Block::Final(rng.random())
} else {
    Block::PreGenesis(rng.random())
});
random!(Proposal, |rng| Proposal {
    number: rng.random(),
    payload: rng.random(),
});
random!(ReplicaState, |rng| ReplicaState {
    epoch: rng.random(),
    view: rng.random(),
    phase: rng.random(),
    high_vote: some(rng, |r| r.random()),
    high_commit_qc: some(rng, |r| r.random()),
    high_timeout_qc: some(rng, |r| r.random()),
    proposals: (0..rng.random_range(0..3)).map(|_| rng.random()).collect(),
});

/// A committee with valid keys, a genesis with its static schedule, and helpers to produce
/// valid signed messages and certificates.
#[derive(Debug, Clone)]
pub struct Setup {
    /// Validator keys, in the order they were given (not the schedule order).
    pub keys: Vec<SecretKey>,
    /// The genesis (with `validators_schedule` set).
    pub genesis: Genesis,
}

impl Setup {
    /// `n` validators of weight 1, all leaders, round robin.
    pub fn new(rng: &mut (impl Rng + ?Sized), n: usize) -> Self {
        Self::with_weights(rng, &vec![1; n])
    }

    /// Validators of the given weights, all leaders, round robin.
    pub fn with_weights(rng: &mut (impl Rng + ?Sized), weights: &[u64]) -> Self {
        let keys: Vec<SecretKey> = weights.iter().map(|_| SecretKey::generate(rng)).collect();
        let schedule = Schedule::new(
            keys.iter().zip(weights).map(|(k, w)| ValidatorInfo {
                key: k.public(),
                weight: *w,
                leader: true,
            }),
            LeaderSelection::default(),
        )
        .expect("valid schedule");
        Self {
            keys,
            genesis: Genesis {
                chain_id: ChainId(1337),
                fork_number: ForkNumber(rng.random_range(0..100)),
                first_block: BlockNumber(rng.random_range(0..100)),
                protocol_version: ProtocolVersion::CURRENT,
                validators_schedule: Some(schedule),
            },
        }
    }

    /// The static schedule.
    pub fn schedule(&self) -> &Schedule {
        self.genesis
            .validators_schedule
            .as_ref()
            .expect("Setup always has a schedule")
    }

    /// The genesis hash.
    pub fn genesis_hash(&self) -> GenesisHash {
        self.genesis.hash()
    }

    /// The view `number` of epoch 0.
    pub fn view(&self, number: u64) -> View {
        View {
            genesis: self.genesis_hash(),
            epoch: EpochNumber(0),
            number: ViewNumber(number),
        }
    }

    /// A commit certificate for `msg` signed by the keys at the given indices.
    pub fn commit_qc(&self, msg: &ReplicaCommit, signers: &[usize]) -> CommitQC {
        let mut qc = CommitQC::new(msg.clone(), self.schedule());
        for &i in signers {
            qc.add(
                &self.keys[i].sign_msg(msg.clone()),
                self.genesis_hash(),
                EpochNumber(0),
                self.schedule(),
            )
            .expect("valid vote");
        }
        qc
    }

    /// A timeout certificate from `(signer index, vote)` pairs.
    pub fn timeout_qc(&self, view: View, votes: &[(usize, ReplicaTimeout)]) -> TimeoutQC {
        let mut qc = TimeoutQC::new(view);
        for (i, vote) in votes {
            qc.add(
                &self.keys[*i].sign_msg(vote.clone()),
                self.genesis_hash(),
                EpochNumber(0),
                self.schedule(),
            )
            .expect("valid vote");
        }
        qc
    }

    /// A valid finalized block `number` with `payload`, certified by every validator in view
    /// `number` of epoch 0.
    pub fn final_block(&self, number: BlockNumber, payload: Payload) -> FinalBlock {
        let msg = ReplicaCommit {
            view: self.view(number.0),
            proposal: BlockHeader {
                number,
                payload: payload.hash(),
            },
        };
        let all: Vec<usize> = (0..self.keys.len()).collect();
        FinalBlock {
            payload,
            justification: self.commit_qc(&msg, &all),
        }
    }
}
