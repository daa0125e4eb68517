//! Random round trips of every wire type through the canonical encoding, and decoders fed
//! with garbage.

use std::fmt::Debug;

use prost::Message as _;
use rand::{
    RngExt as _, SeedableRng as _,
    distr::{Distribution, StandardUniform},
    rngs::StdRng,
};
use zksync_protobuf::{ProtoFmt, decode, encode, testonly::test_encode};

use crate::{node, proto::DESCRIPTOR_SET, validator::*};

fn rng() -> StdRng {
    StdRng::seed_from_u64(0xc0ffee)
}

fn round_trips<T>(rng: &mut StdRng, n: usize)
where
    T: ProtoFmt + PartialEq + Debug,
    T::Proto: prost::Name,
    StandardUniform: Distribution<T>,
{
    for _ in 0..n {
        let x: T = rng.random();
        test_encode(rng, DESCRIPTOR_SET, &x);
    }
}

#[test]
fn every_wire_type_round_trips_canonically() {
    let rng = &mut rng();
    round_trips::<node::PublicKey>(rng, 10);
    round_trips::<node::Msg>(rng, 10);
    round_trips::<node::Signed>(rng, 10);
    round_trips::<PublicKey>(rng, 10);
    round_trips::<Signature>(rng, 10);
    round_trips::<AggregateSignature>(rng, 10);
    round_trips::<MsgHash>(rng, 10);
    round_trips::<GenesisHash>(rng, 10);
    round_trips::<PayloadHash>(rng, 10);
    round_trips::<View>(rng, 20);
    round_trips::<BlockHeader>(rng, 20);
    round_trips::<Phase>(rng, 10);
    round_trips::<Signers>(rng, 30);
    round_trips::<ReplicaCommit>(rng, 20);
    round_trips::<CommitQC>(rng, 20);
    round_trips::<ReplicaTimeout>(rng, 20);
    round_trips::<TimeoutQC>(rng, 20);
    round_trips::<ProposalJustification>(rng, 20);
    round_trips::<LeaderProposal>(rng, 20);
    round_trips::<ReplicaNewView>(rng, 20);
    round_trips::<ConsensusMsg>(rng, 30);
    round_trips::<NetAddress>(rng, 20);
    round_trips::<Msg>(rng, 30);
    round_trips::<Signed<ConsensusMsg>>(rng, 20);
    round_trips::<ValidatorInfo>(rng, 10);
    round_trips::<LeaderSelection>(rng, 10);
    round_trips::<Schedule>(rng, 20);
    round_trips::<Genesis>(rng, 20);
    round_trips::<FinalBlock>(rng, 20);
    round_trips::<PreGenesisBlock>(rng, 10);
    round_trips::<Block>(rng, 20);
    round_trips::<Proposal>(rng, 10);
    round_trips::<ReplicaState>(rng, 20);
}

#[test]
fn signatures_survive_re_encoding_by_a_relay() {
    // A message received in a shuffled (non-canonical) encoding still verifies, because
    // signatures are checked over the re-encoding.
    let rng = &mut rng();
    let desc = zksync_protobuf::testonly::descriptor::<Signed<ConsensusMsg>>(DESCRIPTOR_SET);
    for _ in 0..10 {
        let signed: Signed<ConsensusMsg> = rng.random();
        let shuffled = zksync_protobuf::testonly::shuffle(&desc, &encode(&signed), rng).unwrap();
        let back: Signed<ConsensusMsg> = decode(&shuffled).unwrap();
        back.verify().unwrap();
    }
}

#[test]
fn genesis_with_another_protocol_version_is_an_error() {
    let rng = &mut rng();
    let mut proto = rng.random::<Genesis>().build();
    for version in [0, 1, 3, u32::MAX] {
        proto.protocol_version = Some(version);
        let err = decode::<Genesis>(&proto.encode_to_vec()).unwrap_err();
        assert!(err.to_string().contains("protocol_version"), "{err}");
    }
    proto.protocol_version = None;
    let err = decode::<Genesis>(&proto.encode_to_vec()).unwrap_err();
    assert_eq!(err.to_string(), "invalid: protocol_version: missing");
}

#[test]
fn errors_name_the_field_path() {
    let rng = &mut rng();
    let mut proto = Signed::<ConsensusMsg> {
        msg: ConsensusMsg::ReplicaCommit(rng.random()),
        ..rng.random()
    }
    .build();
    // Drop the payload hash of the commit vote's block header.
    let crate::proto::zksync::roles::validator::msg::T::Consensus(c) =
        proto.msg.as_mut().unwrap().t.as_mut().unwrap()
    else {
        unreachable!()
    };
    let crate::proto::zksync::roles::validator::consensus_msg::T::V2(v2) = c.t.as_mut().unwrap();
    let Some(crate::proto::zksync::roles::validator::chonky_msg_v2::T::ReplicaCommit(rc)) =
        v2.t.as_mut()
    else {
        unreachable!()
    };
    rc.proposal.as_mut().unwrap().payload = None;
    let err = decode::<Signed<ConsensusMsg>>(&proto.encode_to_vec()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid: msg: consensus: v2: replica_commit: proposal: payload: missing"
    );
}

/// Decodes `bytes` as every type a peer (or a database) can send us; must never panic.
fn decode_all(bytes: &[u8]) {
    let _ = decode::<Signed<ConsensusMsg>>(bytes);
    let _ = decode::<Signed<NetAddress>>(bytes);
    let _ = decode::<Signed<node::SessionId>>(bytes);
    let _ = decode::<node::Signed>(bytes);
    let _ = decode::<Block>(bytes);
    let _ = decode::<FinalBlock>(bytes);
    let _ = decode::<PreGenesisBlock>(bytes);
    let _ = decode::<CommitQC>(bytes);
    let _ = decode::<TimeoutQC>(bytes);
    let _ = decode::<Genesis>(bytes);
    let _ = decode::<GenesisHash>(bytes);
    let _ = decode::<ReplicaState>(bytes);
    let _ = decode::<Schedule>(bytes);
}

#[test]
fn mutated_valid_messages_never_panic_decoders() {
    let rng = &mut rng();
    let samples: Vec<Vec<u8>> = (0..40)
        .flat_map(|_| {
            [
                encode(&rng.random::<Signed<ConsensusMsg>>()),
                encode(&rng.random::<Block>()),
                encode(&rng.random::<ReplicaState>()),
                encode(&rng.random::<Genesis>()),
            ]
        })
        .collect();
    for bytes in &samples {
        for _ in 0..25 {
            let mut b = bytes.clone();
            match rng.random_range(0..3) {
                0 => {
                    for _ in 0..rng.random_range(1..4) {
                        let i = rng.random_range(0..b.len());
                        b[i] = rng.random();
                    }
                }
                1 => b.truncate(rng.random_range(0..b.len())),
                _ => {
                    let i = rng.random_range(0..=b.len());
                    b.insert(i, rng.random());
                }
            }
            decode_all(&b);
        }
    }
}

proptest::proptest! {
    #[test]
    fn random_bytes_never_panic_decoders(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
        decode_all(&bytes);
    }
}

#[test]
fn config_types_round_trip_through_json_and_yaml() {
    use zksync_protobuf::config::{decode_json, decode_yaml, encode_json, encode_yaml};
    let rng = &mut rng();
    for _ in 0..10 {
        let genesis: Genesis = rng.random();
        let json = encode_json(DESCRIPTOR_SET, &genesis).unwrap();
        assert_eq!(
            decode_json::<Genesis>(DESCRIPTOR_SET, &json).unwrap(),
            genesis
        );
        let yaml = encode_yaml(DESCRIPTOR_SET, &genesis).unwrap();
        assert_eq!(
            decode_yaml::<Genesis>(DESCRIPTOR_SET, &yaml).unwrap(),
            genesis
        );
    }
}
