use rand::{SeedableRng as _, rngs::StdRng};

use super::*;
use crate::testonly::{text_decode, text_encode};

/// The first three test vectors of RFC 8032 section 7.1: (secret, public, message, signature).
const RFC8032: [(&str, &str, &str, &str); 3] = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
];

#[test]
fn rfc8032_vectors() {
    for (sk, pk, msg, sig) in RFC8032 {
        let sk = SecretKey::decode(&hex::decode(sk).unwrap()).unwrap();
        let pk = PublicKey::decode(&hex::decode(pk).unwrap()).unwrap();
        let msg = hex::decode(msg).unwrap();
        let sig = Signature::decode(&hex::decode(sig).unwrap()).unwrap();
        assert_eq!(sk.public(), pk);
        assert_eq!(sk.sign(&msg), sig);
        pk.verify(&msg, &sig).unwrap();
        assert_eq!(pk.verify(b"other", &sig), Err(BadSignature));
    }
}

#[test]
fn strict_verification_rejects_small_order_keys() {
    // The identity point (a small-order key): decodes as a point, never verifies.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let pk = PublicKey::decode(&identity).unwrap();
    let sig = Signature::decode(&[0u8; 64]).unwrap();
    assert_eq!(pk.verify(b"", &sig), Err(BadSignature));
}

#[test]
fn text_round_trip_and_debug_hides_secret() {
    let mut rng = StdRng::seed_from_u64(1);
    let sk = SecretKey::generate(&mut rng);
    let text = text_encode(&sk);
    assert!(text.starts_with("node:secret:ed25519:"));
    assert_eq!(text_decode::<SecretKey>(&text).unwrap(), sk);
    let pk_text = text_encode(&sk.public());
    assert!(pk_text.starts_with("node:public:ed25519:"));
    let upper = pk_text.replace(&pk_text[20..], &pk_text[20..].to_uppercase());
    assert_eq!(text_decode::<PublicKey>(&upper).unwrap(), sk.public());
    assert!(text_decode::<PublicKey>(&text).is_err());
    let secret_hex = hex::encode(ByteFmt::encode(&sk));
    assert!(!format!("{sk:?}").contains(&secret_hex[..16]));
}
