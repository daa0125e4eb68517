//! The consensus network (protocol.md 5.9): validators of the epoch, connected to each other
//! directly, exchanging consensus messages.

pub mod msg_pool;
