//! Generated code of the `zksync.network` schemas (the `.proto` files in this folder).
#![allow(missing_docs, unreachable_pub, clippy::all)]

include!(concat!(env!("OUT_DIR"), "/gen.rs"));

/// Descriptor set of these schemas and their imports.
pub const DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/descriptor.binpb"));

#[cfg(test)]
mod tests;
