//! Cryptographic primitives of the protocol: BLS12-381 in the "min-sig" variant for validator
//! keys, ed25519 for node keys, Keccak-256 for hashes, with their byte and text encodings.
//!
//! Not implemented yet (issue "Crypto, protobuf and roles").
