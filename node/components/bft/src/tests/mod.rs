//! Simulation tests of the replica core: random faults, latency, Twins.

mod checker;
mod driver;
mod latency;
mod random;
mod sim;
mod twins;
