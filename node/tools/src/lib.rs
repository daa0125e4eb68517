//! Binaries of the consensus layer and their support code: `node` (one node from a config
//! file), `keys`, `localnet_config` and `localnet` (a whole local testnet with one command).
//!
//! So far: [`store`], the durable execution layer the `node` binary runs on. The binaries come
//! with the "Executor and tools" issue.

pub mod store;
