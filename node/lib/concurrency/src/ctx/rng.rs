//! Randomness of a ctx: OS-seeded in production, derived from one seed in tests.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use rand::{SeedableRng as _, rngs::StdRng};

/// Where `Ctx::rng` gets its generators from.
#[derive(Clone, Debug)]
pub(crate) enum RngProvider {
    /// Each generator seeded from the OS.
    Os,
    /// Each generator derived from a fixed seed and a counter, so that a test that asks for
    /// generators in the same order gets the same numbers every run.
    #[cfg_attr(not(any(test, feature = "testonly")), allow(dead_code))]
    Seeded { seed: u64, counter: Arc<AtomicU64> },
}

impl RngProvider {
    #[cfg_attr(not(any(test, feature = "testonly")), allow(dead_code))]
    pub(crate) fn seeded(seed: u64) -> Self {
        Self::Seeded {
            seed,
            counter: Arc::new(AtomicU64::new(0)),
        }
    }

    pub(crate) fn rng(&self) -> StdRng {
        match self {
            Self::Os => rand::make_rng(),
            Self::Seeded { seed, counter } => {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let mut bytes = [0u8; 32];
                bytes[..8].copy_from_slice(&seed.to_le_bytes());
                bytes[8..16].copy_from_slice(&n.to_le_bytes());
                bytes[16..].copy_from_slice(b"zksync-ctx-rng!!");
                StdRng::from_seed(bytes)
            }
        }
    }
}
