//! Binaries of the consensus layer and their support code: `node` (one node from a config
//! file), `keys`, `localnet_config` and `localnet` (a whole local testnet with one command).
//!
//! - [`config`]: the config file of the `node` binary (JSON or YAML);
//! - [`node`]: running one node (the `node` binary);
//! - [`rpc_server`]: its JSON-RPC and metrics endpoints;
//! - [`localnet_config`] and [`localnet`]: a local testnet's configs, and running one;
//! - [`keys`]: generating validator and node keys and recovering public keys from secret keys,
//!   the logic of the `keys` binary (`keys validator`, `keys node`, `keys public -`);
//! - [`store`]: the durable execution layer the `node` binary runs on.

pub mod config;
pub mod keys;
pub mod localnet;
pub mod localnet_config;
pub mod node;
pub mod proto;
pub mod rpc_server;
pub mod store;
