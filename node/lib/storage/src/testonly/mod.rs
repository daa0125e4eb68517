//! Test helpers: an in-memory execution layer.

mod in_memory;

pub use in_memory::{InMemory, PayloadBehavior};
