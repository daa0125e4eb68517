//! Canonical protobuf encoding for the consensus layer (protocol.md 4.1-4.2).
//!
//! Every protocol object is a validated domain type implementing [`ProtoFmt`]: `build` turns it
//! into a generated prost struct, `read` validates a decoded struct into the domain type.
//! [`encode`] produces the canonical encoding that hashes and signatures cover; [`decode`] is
//! lenient exactly as the reference (any field order, non-minimal varints, repeated singular
//! fields, unknown fields dropped), so anything hashed after decoding must be re-encoded.
//!
//! Canonical encoding without a re-encoding pass: prost writes fields in ascending tag order,
//! minimal varints and every present `optional` field, which is the canonical form for schemas
//! that pass the build-time check of `zksync_protobuf_build` (proto3, explicit presence, no maps,
//! no repeated numeric fields, no interleaved oneofs). The tests of every schema-owning crate
//! compare this encoding with an independent canonicalizer (the `testonly` module).

#[cfg(any(test, feature = "config"))]
pub mod config;
mod proto_fmt;
pub mod std_conv;
#[cfg(any(test, feature = "testonly"))]
pub mod testonly;

pub use proto_fmt::{
    DecodeError, ProtoFmt, decode, decode_with_limit, encode, read_optional, read_required,
    required,
};

/// 1 kB (1024 bytes), as the protocol's limits count.
#[allow(non_upper_case_globals)]
pub const kB: usize = 1 << 10;
/// 1 MB (2^20 bytes).
pub const MB: usize = 1 << 20;

/// Generated code of the `zksync.std` schema.
#[allow(missing_docs, unreachable_pub, clippy::all)]
pub mod proto {
    include!(concat!(env!("OUT_DIR"), "/gen.rs"));

    /// Descriptor set of the schemas of this crate (for reflection in tests and tools).
    pub const DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/descriptor.binpb"));
}
