//! Generated code of the `zksync.roles` schemas (`zksync/roles/**/*.proto` in this folder).
#![allow(missing_docs, unreachable_pub, clippy::all)]

include!(concat!(env!("OUT_DIR"), "/gen.rs"));

/// Descriptor set of these schemas and their imports (for reflection in tests and tools).
pub const DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/descriptor.binpb"));
