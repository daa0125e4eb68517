//! Every network message a peer can send: preface, handshakes, mux handshake and frame
//! headers, and each RPC's request and response. The first byte picks the type.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zksync_consensus_network::{handshake, mux, preface, rpc};
use zksync_protobuf::{decode, encode};

/// Decodes as `T`; a successful decode must re-encode and decode to the same value.
fn check<T: zksync_protobuf::ProtoFmt + PartialEq + std::fmt::Debug>(data: &[u8]) {
    if let Ok(x) = decode::<T>(data) {
        let again: T = decode(&encode(&x)).expect("a re-encoding decodes");
        assert_eq!(again, x);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&kind, data)) = data.split_first() else {
        return;
    };
    match kind % 16 {
        0 => check::<preface::Encryption>(data),
        1 => check::<preface::Endpoint>(data),
        2 => check::<handshake::gossip::Handshake>(data),
        3 => check::<handshake::consensus::Handshake>(data),
        4 => check::<mux::Handshake>(data),
        5 => {
            if let [a, b, ..] = data {
                if let Ok(h) = mux::header::Header::decode([*a, *b]) {
                    assert_eq!(h.encode(), [*a, *b]);
                }
            }
        }
        6 => check::<rpc::consensus::Req>(data),
        7 => check::<rpc::consensus::Resp>(data),
        8 => check::<rpc::ping::Req>(data),
        9 => check::<rpc::ping::Resp>(data),
        10 => check::<rpc::push_validator_addrs::Req>(data),
        11 => check::<rpc::push_block_store_state::Req>(data),
        12 => check::<rpc::get_block::Req>(data),
        13 => check::<rpc::get_block::Resp>(data),
        14 => check::<rpc::push_tx::Req>(data),
        _ => check::<()>(data),
    }
});
