//! Build-time generation of Rust code from `.proto` files, with `prost-build` driven by `protox`
//! so that no `protoc` binary is needed.
//!
//! Not implemented yet (issue "Crypto, protobuf and roles").
