//! Canonical protobuf encoding: the `ProtoFmt` conversion between validated domain types and
//! generated messages, encoding rules that make hashes and signatures reproducible, and
//! (de)serialization of configuration files.
//!
//! Not implemented yet (issue "Crypto, protobuf and roles").
