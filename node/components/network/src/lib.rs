//! The network of a node: TCP, a Noise-encrypted transport, a stream multiplexer, typed RPCs,
//! the gossip network (every node), the consensus network (validators) and block sync.
//!
//! Built so far (bottom up): the wire schemas ([`proto`]), the Noise transport ([`noise`]),
//! length-prefixed frames ([`frame`]), the connection preface ([`preface`]) and the endpoint
//! handshakes ([`handshake`]).

pub mod consensus;
pub mod frame;
pub mod handshake;
pub mod mux;
pub mod noise;
pub mod pool;
pub mod preface;
pub mod proto;
pub mod rpc;
#[cfg(test)]
mod testonly;
