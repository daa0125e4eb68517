//! ChonkyBFT (protocol version 2) for ZK Stack chains: the replica state machine and the
//! proposer of a validator.
//!
//! So far this crate holds the interface to the network ([`io`]): the messages exchanged with
//! it and the inbound queue of protocol.md 2.15. The replica (a pure, deterministic core and an
//! async driver) comes with the "BFT" issue.

pub mod io;
