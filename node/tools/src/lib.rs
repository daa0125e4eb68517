//! Binaries and their support code: `node` (one node from a config file), `keys`,
//! `localnet_config` and `localnet` (a whole local testnet with one command).
//!
//! Not implemented yet (issue "Executor and tools").
