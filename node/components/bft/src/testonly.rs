//! Test helpers: a [`Crypto`] that skips signature work, for simulations of many replicas.

use std::sync::OnceLock;

use rand::SeedableRng as _;
use zksync_consensus_roles::validator::{
    CommitQC, ConsensusMsg, MsgHash, PublicKey, ReplicaCommit, Schedule, SecretKey, Signature,
    Signed, TimeoutQC,
};

use crate::core::Crypto;

/// Signs nothing and accepts everything: every message carries the same (valid) signature.
/// Only for tests whose checker establishes validity by other means (the simulation checks
/// that every signer of a finalized certificate really sent that vote).
#[derive(Debug, Clone, Copy, Default)]
pub struct Trusting;

fn placeholder() -> &'static Signature {
    static SIG: OnceLock<Signature> = OnceLock::new();
    SIG.get_or_init(|| {
        let key = SecretKey::generate(&mut rand::rngs::StdRng::seed_from_u64(0));
        key.sign_hash(&MsgHash::default())
    })
}

impl Crypto for Trusting {
    fn sign(&self, _: &SecretKey, public: &PublicKey, msg: ConsensusMsg) -> Signed<ConsensusMsg> {
        Signed {
            msg,
            key: public.clone(),
            sig: placeholder().clone(),
        }
    }
    fn verify(&self, _: &dyn Fn() -> MsgHash, _: &PublicKey, _: &Signature) -> bool {
        true
    }
    fn commit_qc_signature(&self, _: &CommitQC, _: &Schedule) -> bool {
        true
    }
    fn timeout_qc_signature(&self, _: &TimeoutQC, _: &Schedule) -> bool {
        true
    }
    fn find_invalid_votes(&self, _: &ReplicaCommit, _: &[(&PublicKey, &Signature)]) -> Vec<usize> {
        vec![]
    }
}
