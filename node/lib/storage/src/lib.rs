//! Storage of the consensus layer: the one trait that the embedding execution layer implements,
//! the block store that verifies and queues finalized blocks, and replica state.
//!
//! Not implemented yet (issue "Storage").
