use rand::{RngExt as _, SeedableRng as _, rngs::StdRng};
use zksync_consensus_crypto::{Text, TextFmt};
use zksync_protobuf::{decode, encode};

use super::*;

#[test]
fn session_id_signatures() {
    let rng = &mut StdRng::seed_from_u64(5);
    let key = SecretKey::generate(rng);
    let msg = Msg::SessionId(SessionId(rng.random::<[u8; 32]>().to_vec()));
    let signed = key.sign_msg(msg);
    signed.verify().unwrap();
    // Over the canonical re-encoding.
    let back: Signed = decode(&encode(&signed)).unwrap();
    back.verify().unwrap();
    // Another message or another key fails.
    let mut other = signed.clone();
    other.msg = Msg::SessionId(SessionId(vec![1, 2, 3]));
    assert_eq!(other.verify(), Err(InvalidSignature));
    let mut other = signed;
    other.key = SecretKey::generate(rng).public();
    assert_eq!(other.verify(), Err(InvalidSignature));
}

#[test]
fn key_text_formats() {
    let rng = &mut StdRng::seed_from_u64(6);
    let key = SecretKey::generate(rng);
    let text = TextFmt::encode(&key);
    assert!(text.starts_with("node:secret:ed25519:"));
    let back: SecretKey = TextFmt::decode(Text::new(&text)).unwrap();
    assert_eq!(back.public(), key.public());
    let pk_text = TextFmt::encode(&key.public());
    assert!(pk_text.starts_with("node:public:ed25519:"));
    assert_eq!(
        <PublicKey as TextFmt>::decode(Text::new(&pk_text)).unwrap(),
        key.public()
    );
    assert!(<PublicKey as TextFmt>::decode(Text::new(&text)).is_err());
}
