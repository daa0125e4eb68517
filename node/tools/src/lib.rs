//! Binaries of the consensus layer and their support code: `node` (one node from a config
//! file), `keys`, `localnet_config` and `localnet` (a whole local testnet with one command).
//!
//! So far:
//! - [`keys`]: generating validator and node keys and recovering public keys from secret keys,
//!   the logic of the `keys` binary (`keys validator`, `keys node`, `keys public -`);
//! - [`store`]: the durable execution layer the `node` binary runs on.
//!
//! The other binaries come with the "Executor and tools" issue.

pub mod keys;
pub mod store;
