//! The network of a node: TCP, a Noise-encrypted transport, a stream multiplexer, typed RPCs,
//! the gossip network (every node), the consensus network (validators) and block sync.
//!
//! So far this crate holds the wire schemas of the network (protocol.md 4.5, packages
//! `zksync.network.*`); the transport, RPCs and networks come with the "Network" issue.

pub mod proto;
