//! The roles of the protocol: the `node` role (network identity, ed25519) and the `validator`
//! role (consensus keys, messages, quorum certificates, blocks, genesis, schedules).
//!
//! Not implemented yet (issue "Crypto, protobuf and roles").
