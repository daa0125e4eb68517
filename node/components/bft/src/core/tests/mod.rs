//! Unit tests of the core: one replica driven by hand, with real signatures.

mod checks;
mod new_view;
mod proposal;
mod view;
mod votes;

use std::sync::Arc;

use rand::{SeedableRng as _, rngs::StdRng};
use zksync_consensus_roles::{
    testonly::Setup,
    validator::{
        BlockHeader, BlockNumber, CommitQC, ConsensusMsg, EpochNumber, LeaderProposal, Payload,
        Phase, ProposalJustification, ReplicaCommit, ReplicaNewView, ReplicaState, ReplicaTimeout,
        SecretKey, Signed, TimeoutQC, ViewNumber,
    },
};

use super::{Bls, Input, Output, Params, Rejection, Replica, VoteCheck};

/// One replica (validator `me` of a `Setup`) and the keys of everybody.
struct Harness {
    setup: Setup,
    me: usize,
    params: Params,
    replica: Replica,
}

impl Harness {
    fn new(n: usize, me: usize) -> Self {
        Self::with(n, me, VoteCheck::Aggregate)
    }

    fn with(n: usize, me: usize, vote_check: VoteCheck) -> Self {
        let setup = Setup::new(&mut StdRng::seed_from_u64(n as u64), n);
        let params = Params {
            genesis: setup.genesis_hash(),
            epoch: EpochNumber(0),
            schedule: Arc::new(setup.schedule().clone()),
            first_block: setup.genesis.first_block,
            max_payload_size: 100,
            vote_check,
            senders_authenticated: false,
        };
        let replica =
            Replica::new(params.clone(), setup.keys[me].clone(), Arc::new(Bls), None).unwrap();
        let mut h = Self {
            setup,
            me,
            params,
            replica,
        };
        let first = h.first();
        h.ok(Input::Store {
            first,
            persisted_next: first,
        });
        h
    }

    fn first(&self) -> BlockNumber {
        self.setup.genesis.first_block
    }

    fn restart(&mut self, state: ReplicaState) {
        self.replica = Replica::new(
            self.params.clone(),
            self.setup.keys[self.me].clone(),
            Arc::new(Bls),
            Some(state),
        )
        .unwrap();
        let first = self.first();
        self.ok(Input::Store {
            first,
            persisted_next: first,
        });
    }

    fn feed(&mut self, input: Input) -> Result<Vec<Output>, Rejection> {
        self.replica.handle(input)
    }

    fn ok(&mut self, input: Input) -> Vec<Output> {
        self.feed(input).expect("accepted")
    }

    fn key(&self, i: usize) -> &SecretKey {
        &self.setup.keys[i]
    }

    /// Index (in `setup.keys`) of the leader of view `v`.
    fn leader(&self, v: u64) -> usize {
        let key = self.setup.schedule().view_leader(ViewNumber(v));
        (0..self.setup.keys.len())
            .find(|i| self.setup.keys[*i].public() == *key)
            .unwrap()
    }

    fn sign(&self, i: usize, msg: ConsensusMsg) -> Input {
        Input::Message(self.key(i).sign_msg(msg))
    }

    fn commit(&self, v: u64, number: BlockNumber, payload: &Payload) -> ReplicaCommit {
        ReplicaCommit {
            view: self.setup.view(v),
            proposal: BlockHeader {
                number,
                payload: payload.hash(),
            },
        }
    }

    fn timeout(
        &self,
        v: u64,
        high_vote: Option<ReplicaCommit>,
        high_qc: Option<CommitQC>,
    ) -> ReplicaTimeout {
        ReplicaTimeout {
            view: self.setup.view(v),
            high_vote,
            high_qc,
        }
    }

    /// A timeout certificate of view `v` signed by everybody with empty votes.
    fn empty_timeout_qc(&self, v: u64) -> TimeoutQC {
        let t = self.timeout(v, None, None);
        let votes: Vec<_> = (0..self.setup.keys.len()).map(|i| (i, t.clone())).collect();
        self.setup.timeout_qc(self.setup.view(v), &votes)
    }

    fn all(&self) -> Vec<usize> {
        (0..self.setup.keys.len()).collect()
    }

    /// Brings the replica into view 1 (phase Prepare) through a timeout certificate of view 0.
    fn enter_view_1(&mut self) -> TimeoutQC {
        self.ok(Input::Start);
        let qc = self.empty_timeout_qc(0);
        let nv = ConsensusMsg::ReplicaNewView(ReplicaNewView {
            justification: ProposalJustification::Timeout(qc.clone()),
        });
        let l = self.leader(1);
        self.ok(self.sign(l, nv));
        assert_eq!(self.replica.view(), ViewNumber(1));
        assert_eq!(self.replica.phase(), Phase::Prepare);
        qc
    }

    fn proposal(&self, v: u64, payload: Option<Payload>, j: ProposalJustification) -> Input {
        self.sign(
            self.leader(v),
            ConsensusMsg::LeaderProposal(LeaderProposal {
                proposal_payload: payload,
                justification: j,
            }),
        )
    }
}

/// The broadcast messages among `outputs`.
fn broadcasts(outputs: &[Output]) -> Vec<&Signed<ConsensusMsg>> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Broadcast(m) => Some(m),
            _ => None,
        })
        .collect()
}

/// Position of the first output matching `f`.
fn position(outputs: &[Output], f: impl Fn(&Output) -> bool) -> usize {
    outputs.iter().position(f).expect("output present")
}

fn is_persist(o: &Output) -> bool {
    matches!(o, Output::PersistState(_))
}

fn payload(bytes: &[u8]) -> Payload {
    Payload(bytes.to_vec())
}
