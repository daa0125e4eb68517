//! Small helpers shared by the consensus crates. Only what at least two crates use lives here.

pub mod enum_util;
