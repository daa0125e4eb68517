//! The executor: the bootloader of a node.
//!
//! Not implemented yet (issue "Executor and tools"): it will take a typed `Config` and the
//! execution-layer implementation, build the block store, the network and (for validators) the
//! bft component, and run them in one scope until cancelled.
