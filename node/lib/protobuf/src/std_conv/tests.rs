use prost::Message as _;
use rand::{RngExt as _, SeedableRng as _, rngs::StdRng};
use zksync_concurrency::{limiter, time};

use super::*;
use crate::{decode, encode, proto::DESCRIPTOR_SET, testonly::test_encode};

#[test]
fn normalization_matches_the_reference() {
    let n = |s, ns| SignedDuration::new(s, ns).map(|d| (d.seconds(), d.nanos()));
    assert_eq!(n(5, 1_500_000_000), Some((6, 500_000_000)));
    assert_eq!(n(5, -1), Some((4, 999_999_999)));
    assert_eq!(n(-1, 5), Some((0, -999_999_995)));
    assert_eq!(n(-5, -1_500_000_000), Some((-6, -500_000_000)));
    assert_eq!(n(0, 0), Some((0, 0)));
    // The reference panics here; we refuse.
    assert_eq!(n(i64::MAX, 1_000_000_000), None);
    let r: Result<Timestamp, _> = decode(
        &proto::Timestamp {
            seconds: Some(i64::MAX),
            nanos: Some(1_000_000_000),
        }
        .encode_to_vec(),
    );
    assert!(r.unwrap_err().to_string().contains("overflow"));
}

#[test]
fn std_types_round_trip_canonically() {
    let mut rng = StdRng::seed_from_u64(3);
    for _ in 0..200 {
        let ts = Timestamp(
            SignedDuration::new(rng.random(), rng.random_range(-999_999_999..1_000_000_000))
                .unwrap(),
        );
        test_encode(&mut rng, DESCRIPTOR_SET, &ts);
        let d = time::Duration::new(
            rng.random_range(0..1 << 40),
            rng.random_range(0..1_000_000_000),
        );
        test_encode(&mut rng, DESCRIPTOR_SET, &d);
        let addr = if rng.random() {
            SocketAddr::new(IpAddr::V4(rng.random::<[u8; 4]>().into()), rng.random())
        } else {
            SocketAddr::new(IpAddr::V6(rng.random::<[u8; 16]>().into()), rng.random())
        };
        test_encode(&mut rng, DESCRIPTOR_SET, &addr);
        let rate = limiter::Rate {
            burst: rng.random_range(0..1000),
            refresh: time::Duration::from_millis(rng.random_range(0..10_000)),
        };
        test_encode(&mut rng, DESCRIPTOR_SET, &rate);
        let size = rng.random_range(0..100u64);
        let mut bits = BitVector {
            size,
            bytes: (0..size.div_ceil(8)).map(|_| rng.random()).collect(),
        };
        if size % 8 != 0 {
            *bits.bytes.last_mut().unwrap() &= 0xff << (8 - size % 8);
        }
        test_encode(&mut rng, DESCRIPTOR_SET, &bits);
    }
}

#[test]
fn present_zero_values_are_written() {
    // Explicit presence: a zero port and an empty ip... are still encoded.
    let bytes = encode(&time::Duration::ZERO);
    assert_eq!(bytes, vec![0x08, 0x00, 0x10, 0x00]);
}

#[test]
fn bit_vector_decoding_truncates_and_requires_enough_bits() {
    let raw = |size, bytes: &[u8]| {
        proto::BitVector {
            size: Some(size),
            bytes: Some(bytes.to_vec()),
        }
        .encode_to_vec()
    };
    // 5 bits set = 0xF8; extra bytes and tail bits are dropped.
    let b: BitVector = decode(&raw(5, &[0xff, 0xff])).unwrap();
    assert_eq!(b.bytes, vec![0xf8]);
    assert!((0..5).all(|i| b.get(i)) && !b.get(5));
    assert_eq!(encode(&b), raw(5, &[0xf8]));
    let err = decode::<BitVector>(&raw(9, &[0xff])).unwrap_err();
    assert!(err.to_string().contains("bytes_"), "{err}");
    assert!(decode::<BitVector>(&raw(u64::MAX, &[])).is_err());
}

#[test]
fn socket_addr_errors_name_the_field() {
    let raw = |ip: &[u8], port| {
        proto::SocketAddr {
            ip: Some(ip.to_vec()),
            port: Some(port),
        }
        .encode_to_vec()
    };
    assert!(
        decode::<SocketAddr>(&raw(&[1, 2, 3], 80))
            .unwrap_err()
            .to_string()
            .contains("ip")
    );
    assert!(
        decode::<SocketAddr>(&raw(&[1, 2, 3, 4], 70000))
            .unwrap_err()
            .to_string()
            .contains("port")
    );
    let missing = proto::SocketAddr {
        ip: None,
        port: Some(1),
    }
    .encode_to_vec();
    assert_eq!(
        decode::<SocketAddr>(&missing).unwrap_err().to_string(),
        "invalid: ip: missing"
    );
    // Unknown fields are dropped; non-canonical order is accepted.
    let mut bytes = raw(&[1, 2, 3, 4], 80);
    bytes.extend([0xf8, 0x01, 0x05]); // field 31, varint 5
    assert_eq!(
        encode(&decode::<SocketAddr>(&bytes).unwrap()),
        raw(&[1, 2, 3, 4], 80)
    );
    assert!(matches!(
        crate::decode_with_limit::<SocketAddr>(&bytes, 4),
        Err(crate::DecodeError::TooLarge { .. })
    ));
}

proptest::proptest! {
    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
        let _ = decode::<Timestamp>(&bytes);
        let _ = decode::<time::Duration>(&bytes);
        let _ = decode::<SocketAddr>(&bytes);
        let _ = decode::<limiter::Rate>(&bytes);
        let _ = decode::<BitVector>(&bytes);
    }
}
