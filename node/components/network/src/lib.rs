//! The network of a node: TCP, a Noise-encrypted transport, a stream multiplexer, typed RPCs,
//! the gossip network (every node), the consensus network (validators) and block sync.
//!
//! Not implemented yet (issue "Network").
