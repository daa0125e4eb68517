//! The network schemas encode canonically with prost, like the roles schemas.

use prost::Message as _;
use rand::{RngExt as _, SeedableRng as _, rngs::StdRng};
use zksync_consensus_roles::validator;
use zksync_protobuf::{ProtoFmt as _, testonly::canonicalize};

use super::{DESCRIPTOR_SET, zksync::network::*};

fn check<M: prost::Message + prost::Name>(msg: &M) {
    let pool = prost_reflect_pool();
    let desc = pool.get_message_by_name(&M::full_name()).unwrap();
    let bytes = msg.encode_to_vec();
    assert_eq!(
        canonicalize(&desc, &bytes).unwrap(),
        bytes,
        "{}",
        M::full_name()
    );
}

fn prost_reflect_pool() -> zksync_protobuf::testonly::DescriptorPool {
    zksync_protobuf::testonly::DescriptorPool::decode(DESCRIPTOR_SET).unwrap()
}

#[test]
fn network_messages_encode_canonically() {
    let rng = &mut StdRng::seed_from_u64(9);
    check(&mux::Handshake {
        accept: vec![
            mux::handshake::Capability {
                id: Some(4),
                max_streams: Some(5),
            },
            mux::handshake::Capability {
                id: Some(0),
                max_streams: Some(3),
            },
        ],
        connect: vec![mux::handshake::Capability {
            id: Some(2),
            max_streams: Some(1),
        }],
    });
    check(&preface::Endpoint {
        t: Some(preface::endpoint::T::GossipNet(
            preface::endpoint::GossipNet {},
        )),
    });
    let session = rng.random::<zksync_consensus_roles::node::Signed>();
    check(&gossip::Handshake {
        session_id: Some(session.build()),
        is_static: Some(false),
        genesis: Some(rng.random::<validator::GenesisHash>().build()),
        build_version: Some("0.1.0".into()),
    });
    let block: validator::FinalBlock = rng.random();
    check(&gossip::GetBlockResponse {
        pre_genesis: None,
        block_v2: Some(block.build()),
    });
    check(&gossip::PushBlockStoreState {
        state: Some(gossip::BlockStoreState {
            first: Some(0),
            last: Some(gossip::Last {
                t: Some(gossip::last::T::FinalV2(block.justification.build())),
            }),
        }),
    });
    check(&consensus::ConsensusReq {
        msg: Some(
            rng.random::<validator::Signed<validator::ConsensusMsg>>()
                .build(),
        ),
    });
    assert_eq!(rpc::Capability::PushTx as i32, 10);
    assert_eq!(rpc::Capability::Consensus as i32, 0);
}

#[test]
fn present_empty_message_is_written() {
    // `is_static = false` is present, so it is written (explicit presence).
    let h = gossip::Handshake {
        is_static: Some(false),
        ..Default::default()
    };
    assert_eq!(h.encode_to_vec(), vec![0x10, 0x00]);
    let ping = ping::PingReq {
        data: Some(vec![7; 32]),
    };
    assert_eq!(ping.encode_to_vec()[..2], [0x0a, 0x20]);
}

/// Decodes `bytes` as an `M` with prost (which must not panic); a message it accepts must
/// survive a round trip.
fn prost_stable<M: prost::Message + Default + PartialEq>(bytes: &[u8]) {
    if let Ok(m) = M::decode(bytes) {
        assert!(M::decode(&*m.encode_to_vec()).unwrap() == m, "{bytes:02x?}");
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    /// The generated decoder of every message of the network schemas never panics on
    /// arbitrary bytes, and what it accepts round-trips (the typed decoders of the preface,
    /// handshake, mux and RPC modules check their own validation on top).
    #[test]
    fn prost_decoders_never_panic(bytes in crate::testonly::bytes(300)) {
        prost_stable::<preface::Encryption>(&bytes);
        prost_stable::<preface::Endpoint>(&bytes);
        prost_stable::<mux::Handshake>(&bytes);
        prost_stable::<gossip::Handshake>(&bytes);
        prost_stable::<gossip::PushValidatorAddrs>(&bytes);
        prost_stable::<gossip::Transaction>(&bytes);
        prost_stable::<gossip::PushTx>(&bytes);
        prost_stable::<gossip::Last>(&bytes);
        prost_stable::<gossip::BlockStoreState>(&bytes);
        prost_stable::<gossip::PushBlockStoreState>(&bytes);
        prost_stable::<gossip::GetBlockRequest>(&bytes);
        prost_stable::<gossip::GetBlockResponse>(&bytes);
        prost_stable::<consensus::Handshake>(&bytes);
        prost_stable::<consensus::ConsensusReq>(&bytes);
        prost_stable::<consensus::ConsensusResp>(&bytes);
        prost_stable::<ping::PingReq>(&bytes);
        prost_stable::<ping::PingResp>(&bytes);
    }
}
