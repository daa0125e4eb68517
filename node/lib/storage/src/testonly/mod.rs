//! Test helpers: an in-memory execution layer and a conformance suite for implementations.

pub mod conformance;
mod in_memory;

pub use in_memory::{InMemory, PayloadBehavior};
