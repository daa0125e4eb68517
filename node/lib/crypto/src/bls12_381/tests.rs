use rand::{SeedableRng as _, rngs::StdRng};

use super::*;
use crate::testonly::{text_decode, text_encode};

/// Test keys k0..k4 of protocol.md section 11.
const KEYS: [&str; 5] = [
    "validator:secret:bls12_381:27cb45b1670a1ae8d376a85821d51c7f91ebc6e32788027a84758441aaf0a987",
    "validator:secret:bls12_381:20132edc08a529e927f155e710ae7295a2a0d249f1b1f37726894d1d0d8f0d81",
    "validator:secret:bls12_381:0946901f0a6650284726763b12de5da0f06df0016c8ec2144cf6b1903f1979a6",
    "validator:secret:bls12_381:3143a64c079b2f50545288d7c9b282281e05c97ac043228830a9660ddd63fea3",
    "validator:secret:bls12_381:5512f40d33844c1c8107aa630af764005ab6e13f6bf8edb59b4ca3683727e619",
];

fn keys() -> Vec<SecretKey> {
    KEYS.iter().map(|k| text_decode(k).unwrap()).collect()
}

fn rng() -> StdRng {
    StdRng::seed_from_u64(0x5eed)
}

#[test]
fn section_11_key_order() {
    let pks: Vec<PublicKey> = keys().iter().map(SecretKey::public).collect();
    let mut sorted = pks.clone();
    sorted.sort();
    let order: Vec<usize> = sorted
        .iter()
        .map(|pk| pks.iter().position(|p| p == pk).unwrap())
        .collect();
    assert_eq!(order, vec![0, 1, 4, 3, 2]);
}

#[test]
fn section_11_k0_signatures() {
    // (message hash, k0's signature) for ReplicaCommit, ReplicaNewView, ReplicaTimeout and
    // LeaderProposal.
    let vectors = [
        (
            "71c9220b9e0cbb73fc72aa78c863b556ebf6531b599cc96659dd3d41744c2714",
            "a67c4aa8735d190632e018aa091ac00d8e1f75f71671d9685cbea166482a6d8d8a2be0f011fe7d9c0e1193772a235355",
        ),
        (
            "bfdbc016852d4e047f2eaacd66fafc3b6f526a5d5081ffcbeebbd2b84d9d6746",
            "8bf3253c55ed05ffd2c6dd970f7a0d91e5a3c742ce8b7cb58bacefad955369d612f1041391a376e72f6805f4cab08d91",
        ),
        (
            "b2c07fd3ca90233830af980deeaec1dbfa15eb12e43710b13902b29bb81f37da",
            "89bf4a9ff6ab9edf3b16737a77b05b8bd5a04d681bc7ec637d60a45b8fb21e30dcd0a7b7346013ec5acceebebe07326d",
        ),
        (
            "d84174e2a5ef6b23dc59c8dc0b101d5a69f8d32d4cdc20b6c18684edf89aa6ed",
            "930444a944b3733ccbd5e345a017a321263b5d6e689611610e1c34642ea521e0f7c459f94ee4dbc9fec6f6635bb4ed16",
        ),
    ];
    let k0 = &keys()[0];
    for (hash, sig) in vectors {
        let hash = hex::decode(hash).unwrap();
        let got = k0.sign(&hash);
        assert_eq!(hex::encode(got.as_bytes()), sig);
        got.verify(&hash, &k0.public()).unwrap();
    }
}

#[test]
fn sign_verify_and_wrong_inputs() {
    let ks = keys();
    let sig = ks[0].sign(b"msg");
    sig.verify(b"msg", &ks[0].public()).unwrap();
    assert_eq!(
        sig.verify(b"other", &ks[0].public()),
        Err(Error::BadSignature)
    );
    assert_eq!(
        sig.verify(b"msg", &ks[1].public()),
        Err(Error::BadSignature)
    );
}

#[test]
fn proof_of_possession() {
    let ks = keys();
    let pop = ks[2].sign_pop();
    ks[2].public().verify_pop(&pop).unwrap();
    assert_eq!(ks[1].public().verify_pop(&pop), Err(Error::BadSignature));
    // A PoP is not a signature over the key bytes under the signing DST.
    let sig = Signature::decode(&ByteFmt::encode(&pop)).unwrap();
    assert!(
        sig.verify(ks[2].public().as_bytes(), &ks[2].public())
            .is_err()
    );
    let text = text_encode(&pop);
    assert!(text.starts_with("validator:pop:bls12_381:"));
    assert_eq!(text_decode::<ProofOfPossession>(&text).unwrap(), pop);
}

#[test]
fn aggregate_verification_matches_reference_rules() {
    let ks = keys();
    let msgs: [&[u8]; 2] = [b"first", b"second"];
    // k0, k1, k2 sign the first message; k3, k4 the second.
    let signed: Vec<(&[u8], PublicKey, Signature)> = ks
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let m = msgs[usize::from(i >= 3)];
            (m, k.public(), k.sign(m))
        })
        .collect();
    let agg = AggregateSignature::aggregate(signed.iter().map(|(_, _, s)| s)).unwrap();
    agg.verify(signed.iter().map(|(m, pk, _)| (*m, pk)))
        .unwrap();
    // Incremental aggregation gives the same point.
    let mut inc = AggregateSignature::identity();
    for (_, _, s) in &signed {
        inc.add(s).unwrap();
    }
    assert_eq!(inc, agg);
    // A wrong message or a missing signer fails.
    assert_eq!(
        agg.verify(signed.iter().map(|(_, pk, _)| (msgs[0], pk))),
        Err(Error::BadSignature)
    );
    assert_eq!(
        agg.verify(signed[1..].iter().map(|(m, pk, _)| (*m, pk))),
        Err(Error::BadSignature)
    );
    assert_eq!(agg.verify(std::iter::empty()), Err(Error::Empty));

    // Same-message fast path: one pairing check for a quorum of votes.
    let votes: Vec<Signature> = ks.iter().map(|k| k.sign(b"vote")).collect();
    let agg = AggregateSignature::aggregate(&votes).unwrap();
    let pks: Vec<PublicKey> = ks.iter().map(SecretKey::public).collect();
    agg.verify_same_message(b"vote", &pks).unwrap();
    agg.verify(pks.iter().map(|pk| (&b"vote"[..], pk))).unwrap();
    assert_eq!(
        agg.verify_same_message(b"vote", &pks[1..]),
        Err(Error::BadSignature)
    );
    assert_eq!(
        agg.verify_same_message(b"vote", std::iter::empty()),
        Err(Error::Empty)
    );
}

/// `r - x` for a 32-byte big-endian `x < r` (the group order).
pub(in crate::bls12_381) fn negate_scalar(x: &[u8]) -> Vec<u8> {
    let r =
        hex::decode("73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000001").unwrap();
    let mut out = vec![0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let mut d = i16::from(r[i]) - i16::from(x[i]) - borrow;
        borrow = i16::from(d < 0);
        if d < 0 {
            d += 256;
        }
        out[i] = d as u8;
    }
    out
}

#[test]
fn keys_summing_to_identity_are_rejected() {
    let k = &keys()[0];
    let neg = SecretKey::decode(&negate_scalar(&ByteFmt::encode(k))).unwrap();
    let msg = b"rogue";
    let agg = AggregateSignature::aggregate([&k.sign(msg), &neg.sign(msg)]).unwrap();
    let pks = [k.public(), neg.public()];
    assert_eq!(
        agg.verify_same_message(msg, &pks),
        Err(Error::IdentityPublicKey)
    );
    assert_eq!(
        agg.verify(pks.iter().map(|pk| (&msg[..], pk))),
        Err(Error::IdentityPublicKey)
    );
    // The aggregate of k and -k over one message is the identity signature.
    assert_eq!(agg, AggregateSignature::identity());
    let mut batch = BatchVerifier::new();
    batch.push(msg, &pks, &agg);
    assert_eq!(batch.verify(&mut rng()), Err(Error::IdentityPublicKey));
    assert_eq!(batch.find_invalid(), vec![0]);
}

#[test]
fn batch_verification_accepts_valid_and_finds_forgeries() {
    let mut rng = rng();
    let ks: Vec<SecretKey> = (0..6).map(|_| SecretKey::generate(&mut rng)).collect();
    let pks: Vec<PublicKey> = ks.iter().map(SecretKey::public).collect();
    let mut entries: Vec<(Vec<u8>, AggregateSignature)> = (0..64u32)
        .map(|i| {
            let msg = i.to_be_bytes().to_vec();
            let agg =
                AggregateSignature::aggregate(&ks.iter().map(|k| k.sign(&msg)).collect::<Vec<_>>())
                    .unwrap();
            (msg, agg)
        })
        .collect();
    let build = |entries: &[(Vec<u8>, AggregateSignature)]| {
        let mut b = BatchVerifier::new();
        for (msg, agg) in entries {
            b.push(msg, &pks, agg);
        }
        b
    };
    let batch = build(&entries);
    assert_eq!(batch.len(), 64);
    batch.verify(&mut rng).unwrap();
    assert!(batch.find_invalid().is_empty());
    // Swap two aggregates: each is valid, but not for its message.
    let (a, b) = (entries[10].1.clone(), entries[42].1.clone());
    entries[10].1 = b;
    entries[42].1 = a;
    let batch = build(&entries);
    assert_eq!(batch.verify(&mut rng), Err(Error::BadSignature));
    assert_eq!(batch.find_invalid(), vec![10, 42]);
    assert!(BatchVerifier::new().verify(&mut rng).is_ok());
}

#[test]
fn encodings_round_trip_and_reject_bad_input() {
    let ks = keys();
    let k = &ks[3];
    let pk = k.public();
    let sig = k.sign(b"x");
    assert_eq!(SecretKey::decode(&ByteFmt::encode(k)).unwrap(), *k);
    assert_eq!(PublicKey::decode(&ByteFmt::encode(&pk)).unwrap(), pk);
    assert_eq!(Signature::decode(&ByteFmt::encode(&sig)).unwrap(), sig);
    for (text, prefix) in [
        (text_encode(k), "validator:secret:bls12_381:"),
        (text_encode(&pk), "validator:public:bls12_381:"),
        (text_encode(&sig), "validator:signature:bls12_381:"),
        (
            text_encode(&AggregateSignature::identity()),
            "validator:aggregate_signature:bls12_381:",
        ),
    ] {
        assert!(text.starts_with(prefix), "{text}");
    }
    assert_eq!(
        text_decode::<AggregateSignature>("validator:aggregate_signature:bls12_381:c00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000" )
        .unwrap(),
        AggregateSignature::identity()
    );
    // Zero and the group order are not secret keys.
    assert!(SecretKey::decode(&[0u8; 32]).is_err());
    let r =
        hex::decode("73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000001").unwrap();
    assert!(SecretKey::decode(&r).is_err());
    // The identity is not a public key.
    assert!(PublicKey::decode(&INFINITY_PUBLIC_KEY).is_err());
    // Wrong prefix.
    assert!(matches!(
        text_decode::<PublicKey>(&text_encode(&sig)),
        Err(crate::TextFmtError::Prefix { .. })
    ));
    // Uncompressed forms are accepted and re-encoded compressed.
    let pk_raw = min_sig::PublicKey::from_bytes(pk.as_bytes())
        .unwrap()
        .serialize();
    assert_eq!(
        PublicKey::decode(&pk_raw).unwrap().as_bytes(),
        pk.as_bytes()
    );
    let sig_raw = min_sig::Signature::from_bytes(sig.as_bytes())
        .unwrap()
        .serialize();
    assert_eq!(Signature::decode(&sig_raw).unwrap(), sig);
    // Debug never shows the secret.
    let secret_hex = hex::encode(ByteFmt::encode(k));
    assert!(!format!("{k:?}").contains(&secret_hex[..16]));
}

/// Decoding the same compressed key twice validates it once: the second decoding comes from
/// the process-wide cache and is the same key. Invalid bytes fail every time and are never
/// cached; uncompressed keys bypass the cache.
#[test]
fn decoded_public_keys_are_cached_and_invalid_ones_are_not() {
    let sk = SecretKey::generate(&mut StdRng::seed_from_u64(0xcace));
    let pk = sk.public();
    let bytes = *pk.as_bytes();
    assert!(!key_cache::with(|c| c.contains(&bytes)));
    let first = PublicKey::decode(&bytes).unwrap();
    assert!(key_cache::with(|c| c.contains(&bytes)));
    let second = PublicKey::decode(&bytes).unwrap();
    assert_eq!(first, pk);
    assert_eq!(second, pk);
    // The cached copy carries the point, not just the bytes.
    sk.sign(b"m").verify(b"m", &second).unwrap();

    // Not on the curve or not in the subgroup: rejected twice, never cached.
    let bad = (0..96)
        .map(|i| {
            let mut b = bytes;
            b[95 - i] ^= 1;
            b
        })
        .find(|b| PublicKey::decode_uncached(b).is_err())
        .unwrap();
    for _ in 0..2 {
        assert!(matches!(
            PublicKey::decode(&bad),
            Err(ByteFmtError::Invalid { .. })
        ));
        assert!(!key_cache::with(|c| c.contains(&bad)));
    }
    assert!(PublicKey::decode(&INFINITY_PUBLIC_KEY).is_err());
    assert!(!key_cache::with(|c| c.contains(&INFINITY_PUBLIC_KEY)));

    // The uncompressed form is validated each time (and decodes to the same key).
    let other = SecretKey::generate(&mut StdRng::seed_from_u64(0xcacf)).public();
    let raw = min_sig::PublicKey::from_bytes(other.as_bytes())
        .unwrap()
        .serialize();
    assert_eq!(PublicKey::decode(&raw).unwrap(), other);
    assert!(!key_cache::with(|c| c.contains(other.as_bytes())));
}

/// A received signature is kept as bytes until used: 48 bytes that are not a point decode
/// (and re-encode unchanged), and every use of them fails with `InvalidPoint`, never with a
/// panic or a wrong success. The uncompressed form is still checked at decoding.
#[test]
fn signatures_are_validated_on_first_use() {
    let ks = keys();
    let msg = b"lazy";
    let good = ks[0].sign(msg);
    // Flip bits of a valid encoding until it is no longer a point of the subgroup.
    let bad_bytes = (0..48)
        .map(|i| {
            let mut b = *good.as_bytes();
            b[47 - i] ^= 1;
            b
        })
        .find(|b| min_sig::Signature::sig_validate(b, false).is_err())
        .unwrap();
    let bad = Signature::decode(&bad_bytes).unwrap();
    assert_eq!(ByteFmt::encode(&bad), bad_bytes.to_vec());
    assert_ne!(bad, good);
    for _ in 0..2 {
        // The outcome is remembered, not recomputed into something else.
        assert_eq!(bad.verify(msg, &ks[0].public()), Err(Error::InvalidPoint));
    }
    assert!(matches!(
        AggregateSignature::aggregate([&good, &bad]),
        Err(Error::InvalidPoint)
    ));
    let mut agg = AggregateSignature::identity();
    assert_eq!(agg.add(&bad), Err(Error::InvalidPoint));
    // A failed add leaves the aggregate as it was, also when earlier parts were fine.
    assert_eq!(agg, AggregateSignature::identity());
    assert_eq!(agg.add_all([&good, &bad]), Err(Error::InvalidPoint));
    assert_eq!(agg, AggregateSignature::identity());
    // Adding at once or one by one gives the same sum.
    let more: Vec<_> = ks.iter().map(|k| k.sign(msg)).collect();
    let mut one_by_one = AggregateSignature::identity();
    for sig in &more {
        one_by_one.add(sig).unwrap();
    }
    agg.add_all(&more).unwrap();
    assert_eq!(agg, one_by_one);
    assert_eq!(agg, AggregateSignature::aggregate(&more).unwrap());
    let bad_agg = AggregateSignature::decode(&bad_bytes).unwrap();
    assert_eq!(
        bad_agg.verify_same_message(msg, [&ks[0].public()]),
        Err(Error::InvalidPoint)
    );
    // Bisection names the signer whose signature is not a point, and only it.
    let pks: Vec<_> = ks.iter().map(SecretKey::public).collect();
    let sigs: Vec<_> = ks.iter().map(|k| k.sign(msg)).collect();
    let mut votes: Vec<_> = pks.iter().zip(&sigs).collect();
    votes[3].1 = &bad;
    assert_eq!(find_invalid_same_message(msg, &votes), vec![3]);
    // The batch verifier fails on it and names it.
    let mut batch = BatchVerifier::new();
    batch.push(
        msg,
        [&pks[0]],
        &AggregateSignature::aggregate([&good]).unwrap(),
    );
    batch.push(msg, [&pks[0]], &bad_agg);
    assert_eq!(batch.verify(&mut rng()), Err(Error::InvalidPoint));
    assert_eq!(batch.find_invalid(), vec![1]);
    // 96 bytes (uncompressed) are validated when decoded.
    let mut raw = min_sig::Signature::from_bytes(good.as_bytes())
        .unwrap()
        .serialize();
    raw[95] ^= 1;
    assert!(Signature::decode(&raw).is_err());
}

/// The cache holds at most two generations; a key in use survives a flood of other keys.
#[test]
fn key_cache_is_bounded_and_keeps_keys_in_use() {
    let mut rng = rng();
    let keys: Vec<PublicKey> = (0..12)
        .map(|_| SecretKey::generate(&mut rng).public())
        .collect();
    let mut cache = key_cache::KeyCache::new(2);
    let hot = &keys[0];
    cache.insert(*hot.as_bytes(), hot.clone());
    for k in &keys[1..] {
        cache.insert(*k.as_bytes(), k.clone());
        assert!(cache.len() <= 4, "{}", cache.len());
        // Used between every two insertions: never evicted.
        assert_eq!(cache.get(hot.as_bytes()).as_ref(), Some(hot));
    }
    // Keys not used again are evicted after two generations.
    assert!(!cache.contains(keys[1].as_bytes()));
    assert!(cache.contains(keys[11].as_bytes()));
    assert_eq!(cache.get(keys[2].as_bytes()), None);
    const { assert!(key_cache::GENERATION * 2 <= 4096) };
}

proptest::proptest! {
    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
        let _ = SecretKey::decode(&bytes);
        let _ = PublicKey::decode(&bytes);
        let _ = Signature::decode(&bytes);
        let _ = AggregateSignature::decode(&bytes);
        let _ = ProofOfPossession::decode(&bytes);
        let _ = crate::ed25519::SecretKey::decode(&bytes);
        let _ = crate::ed25519::PublicKey::decode(&bytes);
        let _ = crate::ed25519::Signature::decode(&bytes);
        let _ = crate::keccak256::Keccak256::decode(&bytes);
    }

    #[test]
    fn text_decoders_never_panic(s in ".{0,300}") {
        let t = s.as_str();
        let _ = text_decode::<SecretKey>(t);
        let _ = text_decode::<PublicKey>(t);
        let _ = text_decode::<Signature>(t);
        let _ = text_decode::<AggregateSignature>(t);
        let _ = text_decode::<crate::ed25519::PublicKey>(t);
    }

    #[test]
    fn points_with_valid_prefix_bits_never_panic(tail in proptest::collection::vec(proptest::num::u8::ANY, 47..=47), head in 0u8..=255) {
        let mut b = vec![head | 0x80];
        b.extend(tail);
        let _ = Signature::decode(&b);
        let mut pk = b.clone();
        pk.extend(b);
        let _ = PublicKey::decode(&pk);
    }
}
