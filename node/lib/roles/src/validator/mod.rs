//! The validator role: consensus keys and everything validators sign.

mod keys;
pub mod messages;

pub use keys::{AggregateSignature, ProofOfPossession, PublicKey, SecretKey, Signature};
pub use messages::*;

#[cfg(test)]
mod tests;
