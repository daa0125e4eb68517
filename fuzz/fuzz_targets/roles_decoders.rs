//! Every roles type a peer (or a database) can hand us. The first byte picks the type.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zksync_consensus_roles::{node, validator};
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
    match kind % 9 {
        0 => check::<validator::Signed<validator::ConsensusMsg>>(data),
        1 => check::<validator::Signed<validator::NetAddress>>(data),
        2 => check::<validator::Signed<node::SessionId>>(data),
        3 => check::<node::Signed>(data),
        4 => check::<validator::Block>(data),
        5 => check::<validator::TimeoutQC>(data),
        6 => check::<validator::Genesis>(data),
        7 => check::<validator::ReplicaState>(data),
        _ => check::<validator::Schedule>(data),
    }
});
