//! The roles of the protocol and everything they sign, byte-compatible with the reference
//! (protocol.md sections 2-4):
//! - [`node`]: the network identity of a node (ed25519 keys, signed session ids);
//! - [`validator`]: consensus keys (BLS12-381), the four ChonkyBFT messages, commit and timeout
//!   certificates, blocks, payloads, the validator schedule and leader selection, genesis, the
//!   persisted replica state and signed network addresses.
//!
//! Every type converts to and from its protobuf schema through `zksync_protobuf::ProtoFmt`;
//! hashes and signatures are always computed over the canonical encoding.

pub mod node;
pub mod proto;
pub mod validator;

#[cfg(any(test, feature = "testonly"))]
pub mod testonly;
