//! ChonkyBFT (protocol version 2) for ZK Stack chains: the replica state machine and the
//! proposer of a validator.
//!
//! - [`core`]: the protocol as a pure, deterministic state machine;
//! - [`io`]: the messages exchanged with the network and the inbound queue.

pub mod core;
pub mod io;
#[cfg(any(test, feature = "testonly"))]
pub mod testonly;
#[cfg(test)]
mod tests;
