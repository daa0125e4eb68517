//! Change detectors: the test vectors of protocol.md section 11. If one of these fails, the
//! wire format, a hash or a signature changed, and we can no longer talk to reference nodes.

use zksync_consensus_crypto::{Text, TextFmt};
use zksync_protobuf::ProtoFmt as _;

use crate::validator::*;

const KEYS: [&str; 5] = [
    "validator:secret:bls12_381:27cb45b1670a1ae8d376a85821d51c7f91ebc6e32788027a84758441aaf0a987",
    "validator:secret:bls12_381:20132edc08a529e927f155e710ae7295a2a0d249f1b1f37726894d1d0d8f0d81",
    "validator:secret:bls12_381:0946901f0a6650284726763b12de5da0f06df0016c8ec2144cf6b1903f1979a6",
    "validator:secret:bls12_381:3143a64c079b2f50545288d7c9b282281e05c97ac043228830a9660ddd63fea3",
    "validator:secret:bls12_381:5512f40d33844c1c8107aa630af764005ab6e13f6bf8edb59b4ca3683727e619",
];

fn keys() -> Vec<SecretKey> {
    KEYS.iter()
        .map(|k| <SecretKey as TextFmt>::decode(Text::new(k)).unwrap())
        .collect()
}

/// ki has weight 10 + i, all leaders, Weighted, frequency 1.
fn schedule() -> Schedule {
    Schedule::new(
        keys().iter().enumerate().map(|(i, k)| ValidatorInfo {
            key: k.public(),
            weight: 10 + i as u64,
            leader: true,
        }),
        LeaderSelection {
            frequency: 1,
            mode: LeaderSelectionMode::Weighted,
        },
    )
    .unwrap()
}

fn genesis() -> Genesis {
    Genesis {
        chain_id: ChainId(1337),
        fork_number: ForkNumber(42),
        first_block: BlockNumber(2834),
        protocol_version: ProtocolVersion(2),
        validators_schedule: Some(schedule()),
    }
}

fn payload() -> Payload {
    Payload(
        hex::decode("57b79660558f18d56b5196053f64007030a1cb7eeadb5c32d816b9439f77edf5f6bd9d")
            .unwrap(),
    )
}

fn view() -> View {
    View {
        genesis: genesis().hash(),
        number: ViewNumber(9136),
        epoch: EpochNumber(7),
    }
}

fn replica_commit() -> ReplicaCommit {
    ReplicaCommit {
        view: view(),
        proposal: BlockHeader {
            number: BlockNumber(7728),
            payload: payload().hash(),
        },
    }
}

fn commit_qc() -> CommitQC {
    let schedule = schedule();
    let mut qc = CommitQC::new(replica_commit(), &schedule);
    for k in keys() {
        qc.add(
            &k.sign_msg(replica_commit()),
            view().genesis,
            view().epoch,
            &schedule,
        )
        .unwrap();
    }
    qc
}

fn replica_timeout() -> ReplicaTimeout {
    ReplicaTimeout {
        view: view(),
        high_vote: Some(replica_commit()),
        high_qc: Some(commit_qc()),
    }
}

fn timeout_qc() -> TimeoutQC {
    let schedule = schedule();
    let mut qc = TimeoutQC::new(view());
    for k in keys() {
        qc.add(
            &k.sign_msg(replica_timeout()),
            view().genesis,
            view().epoch,
            &schedule,
        )
        .unwrap();
    }
    qc
}

/// Checks a message's hash and k0's signature over it.
fn check<V: Signable>(msg: V, hash: &str, sig: &str) {
    assert_eq!(hex::encode(msg.msg_hash().0.as_bytes()), hash);
    let signed = keys()[0].sign_msg(msg);
    assert_eq!(hex::encode(signed.sig.0.as_bytes()), sig);
    signed.verify().unwrap();
}

#[test]
fn schedule_order_and_weights() {
    let s = schedule();
    let pks: Vec<PublicKey> = keys().iter().map(SecretKey::public).collect();
    let order: Vec<usize> = s
        .keys()
        .map(|k| pks.iter().position(|p| p == k).unwrap())
        .collect();
    assert_eq!(order, vec![0, 1, 4, 3, 2]);
    let mut signers = Signers::new(5);
    for i in [1, 2, 4] {
        signers.set(i);
    }
    assert_eq!(signers.weight(&s), 11 + 14 + 12);
    assert_eq!(commit_qc().signers.build().bytes, Some(vec![0xf8]));
    assert_eq!(commit_qc().signers.build().size, Some(5));
}

#[test]
fn weighted_leader_selection() {
    let s = schedule();
    for (view, index, eligibility) in [
        (2297, 2, 22),
        (7203, 3, 39),
        (8394, 2, 29),
        (9089, 1, 11),
        (99821, 3, 41),
    ] {
        assert_eq!(schedules_eligibility(view), eligibility, "view {view}");
        assert_eq!(s.view_leader_index(ViewNumber(view)), index, "view {view}");
    }
    // Eligibility 0: the reference aborts; we pick the first leader.
    for view in [20, 108, 111, 126] {
        assert_eq!(schedules_eligibility(view), 0, "view {view}");
        assert_eq!(s.view_leader_index(ViewNumber(view)), 0);
    }
}

fn schedules_eligibility(view: u64) -> u64 {
    weighted_eligibility_for_tests(view, 60)
}

#[test]
fn round_robin_leader_selection_and_frequency() {
    let mut validators: Vec<ValidatorInfo> = schedule().iter().cloned().collect();
    validators[1].leader = false;
    let s = Schedule::new(
        validators,
        LeaderSelection {
            frequency: 2,
            mode: LeaderSelectionMode::RoundRobin,
        },
    )
    .unwrap();
    let leaders: Vec<usize> = (0..10)
        .map(|v| s.view_leader_index(ViewNumber(v)))
        .collect();
    assert_eq!(leaders, vec![0, 0, 2, 2, 3, 3, 4, 4, 0, 0]);
}

#[test]
fn genesis_and_payload_hashes() {
    assert_eq!(
        TextFmt::encode(&genesis().hash()),
        "genesis_hash:keccak256:879ce5d5cf25cc60c605144b1145d7572bf36b309692d0737b712ca7c0e07e1f"
    );
    assert_eq!(
        TextFmt::encode(&payload().hash()),
        "payload:keccak256:ba8ffff2526cae27a9e8e014749014b08b80e01905c8b769159d02d6579d9b83"
    );
}

#[test]
fn message_hashes_and_signatures() {
    check(
        replica_commit(),
        "71c9220b9e0cbb73fc72aa78c863b556ebf6531b599cc96659dd3d41744c2714",
        "a67c4aa8735d190632e018aa091ac00d8e1f75f71671d9685cbea166482a6d8d8a2be0f011fe7d9c0e1193772a235355",
    );
    check(
        ReplicaNewView {
            justification: ProposalJustification::Commit(commit_qc()),
        },
        "bfdbc016852d4e047f2eaacd66fafc3b6f526a5d5081ffcbeebbd2b84d9d6746",
        "8bf3253c55ed05ffd2c6dd970f7a0d91e5a3c742ce8b7cb58bacefad955369d612f1041391a376e72f6805f4cab08d91",
    );
    check(
        replica_timeout(),
        "b2c07fd3ca90233830af980deeaec1dbfa15eb12e43710b13902b29bb81f37da",
        "89bf4a9ff6ab9edf3b16737a77b05b8bd5a04d681bc7ec637d60a45b8fb21e30dcd0a7b7346013ec5acceebebe07326d",
    );
    check(
        LeaderProposal {
            proposal_payload: Some(payload()),
            justification: ProposalJustification::Timeout(timeout_qc()),
        },
        "d84174e2a5ef6b23dc59c8dc0b101d5a69f8d32d4cdc20b6c18684edf89aa6ed",
        "930444a944b3733ccbd5e345a017a321263b5d6e689611610e1c34642ea521e0f7c459f94ee4dbc9fec6f6635bb4ed16",
    );
    // The certificates themselves verify.
    let s = schedule();
    commit_qc()
        .verify(view().genesis, view().epoch, &s)
        .unwrap();
    timeout_qc()
        .verify(view().genesis, view().epoch, &s)
        .unwrap();
}

#[test]
fn thresholds() {
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(1);
    let s = crate::testonly::Setup::with_weights(&mut rng, &[10, 20]);
    let s = s.schedule();
    assert_eq!(
        (
            s.max_faulty_weight(),
            s.quorum_threshold(),
            s.subquorum_threshold()
        ),
        (5, 25, 15)
    );
    for (n, f, q, sq) in [(1, 0, 1, 1), (4, 0, 4, 4), (6, 1, 5, 3), (11, 2, 9, 5)] {
        let setup = crate::testonly::Setup::new(&mut rng, n);
        let s = setup.schedule();
        assert_eq!(
            (
                s.max_faulty_weight(),
                s.quorum_threshold(),
                s.subquorum_threshold()
            ),
            (f, q, sq),
            "n = {n}"
        );
    }
}
