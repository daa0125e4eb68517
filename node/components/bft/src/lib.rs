//! ChonkyBFT (protocol version 2) for ZK Stack chains: the replica state machine and the
//! proposer of a validator.
//!
//! Not implemented yet (issue "BFT"): a pure, deterministic protocol core driven by verified
//! messages and timer expiries, and an async driver that persists replica state before sending
//! the votes that depend on it.
