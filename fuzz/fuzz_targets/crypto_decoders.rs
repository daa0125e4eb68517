//! Byte and text decoders of keys, signatures and hashes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zksync_consensus_crypto::{ByteFmt, Text, TextFmt, bls12_381, ed25519, keccak256};

fn bytes<T: ByteFmt>(data: &[u8]) {
    if let Ok(x) = T::decode(data) {
        // Canonical re-encoding decodes again.
        T::decode(&x.encode()).expect("re-encoding decodes");
    }
}

fuzz_target!(|data: &[u8]| {
    bytes::<bls12_381::SecretKey>(data);
    bytes::<bls12_381::PublicKey>(data);
    bytes::<bls12_381::Signature>(data);
    bytes::<bls12_381::AggregateSignature>(data);
    bytes::<bls12_381::ProofOfPossession>(data);
    bytes::<ed25519::SecretKey>(data);
    bytes::<ed25519::PublicKey>(data);
    bytes::<ed25519::Signature>(data);
    bytes::<keccak256::Keccak256>(data);
    if let Ok(s) = std::str::from_utf8(data) {
        let t = Text::new(s);
        let _ = <bls12_381::PublicKey as TextFmt>::decode(t);
        let _ = <bls12_381::SecretKey as TextFmt>::decode(t);
        let _ = <ed25519::PublicKey as TextFmt>::decode(t);
    }
});
