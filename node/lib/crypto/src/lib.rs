//! Cryptographic primitives of the protocol (protocol.md section 3):
//! - [`bls12_381`]: validator keys and signatures, BLS12-381 in the "min-sig" variant
//!   (signatures in G1, public keys in G2), with aggregation, a one-check path for many
//!   signatures on one message, and batch verification of many aggregates;
//! - [`ed25519`]: node keys, with strict verification;
//! - [`keccak256`]: the hash of every protocol object;
//! - [`ByteFmt`] and [`TextFmt`]: the byte and prefixed-hex text encodings of section 3.4.
//!
//! Every value of a key or signature type is valid by construction: decoding validates
//! (subgroup checks, non-zero scalars), so later operations never re-check.
//! Secret keys are zeroized on drop and never printed: their `Debug` shows the public key.

pub mod bls12_381;
pub mod ed25519;
mod fmt;
pub mod keccak256;

#[cfg(test)]
mod testonly;

pub use fmt::{ByteFmt, ByteFmtError, Text, TextFmt, TextFmtError};
