//! The `zksync.std` types that appear inside peer messages.
#![no_main]

use std::net::SocketAddr;

use libfuzzer_sys::fuzz_target;
use zksync_concurrency::{limiter, time};
use zksync_protobuf::{decode, encode, std_conv};

fn check<T: zksync_protobuf::ProtoFmt + PartialEq + std::fmt::Debug>(data: &[u8]) {
    if let Ok(x) = decode::<T>(data) {
        assert_eq!(decode::<T>(&encode(&x)).expect("re-encoding decodes"), x);
    }
}

fuzz_target!(|data: &[u8]| {
    check::<std_conv::Timestamp>(data);
    check::<time::Duration>(data);
    check::<SocketAddr>(data);
    check::<limiter::Rate>(data);
    check::<std_conv::BitVector>(data);
});
