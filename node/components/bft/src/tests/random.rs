//! Random faults before stabilisation, safety always, liveness after.
//!
//! The suite runs 500 seeds across n in {1, 4, 6, 11, 16}. Run more locally with
//! `BFT_SIM_SEEDS=100000 cargo nextest run -p zksync_consensus_bft --release random_faults`
//! (the count is per validator-set size; `BFT_SIM_FIRST_SEED` shifts the range).

use rand::{RngExt as _, SeedableRng as _, rngs::StdRng};

use super::sim::{Config, Faults, Sim};

const VIEW_TIMEOUT: u64 = 1000;
const DELTA: u64 = 50;

fn random_config(n: usize, rng: &mut StdRng) -> Config {
    let f = (n - 1) / 5;
    let gst = rng.random_range(2_000..15_000);
    let mut partitions = vec![];
    for _ in 0..rng.random_range(0..3) {
        let a = rng.random_range(0..gst);
        let b = rng.random_range(a..=gst);
        let groups = (0..n).map(|_| rng.random_range(0..2u8)).collect();
        partitions.push((a, b, groups));
    }
    let mut crashes = vec![];
    for _ in 0..rng.random_range(0..=n) {
        let node = rng.random_range(0..n);
        let at = rng.random_range(0..gst);
        crashes.push((node, at, rng.random_range(at..=gst)));
    }
    let mut dead: Vec<usize> = (0..rng.random_range(0..=f))
        .map(|_| rng.random_range(0..n))
        .collect();
    dead.sort_unstable();
    dead.dedup();
    crashes.retain(|(node, _, _)| !dead.contains(node));
    Config {
        validators: n,
        twins: 0,
        view_timeout: VIEW_TIMEOUT,
        delta: DELTA,
        exact_delta: false,
        faults: Faults {
            gst,
            max_delay: rng.random_range(1..3 * VIEW_TIMEOUT),
            drop: rng.random_range(0.0..0.3),
            duplicate: rng.random_range(0.0..0.1),
            partitions,
            twins_splits: vec![],
            crashes,
            dead,
            crash_after_persist: rng.random_range(0.0..0.05),
            lost_commit_votes: vec![],
        },
        end: gst + 25 * VIEW_TIMEOUT,
        real_crypto: false,
        sync_interval: VIEW_TIMEOUT / 4,
    }
}

/// Runs one seed: safety on every step, then liveness after stabilisation.
fn run_seed(n: usize, seed: u64) -> Result<(), String> {
    let mut rng = StdRng::seed_from_u64(seed ^ (n as u64) << 32);
    let cfg = random_config(n, &mut rng);
    let f = (n as u64 - 1) / 5;
    let (gst, end) = (cfg.faults.gst, cfg.end);
    let mut sim = Sim::new(cfg.clone(), seed);
    const BLOCKS: usize = 10;
    let stopped = sim
        .run_until(|c| c.finalized.values().filter(|(_, t, _)| *t >= gst).count() >= BLOCKS)
        .map_err(|e| format!("n={n} seed={seed}: {e}\n{cfg:?}"))?;
    // After GST: at most one view timeout to resynchronise, then at most f views of dead
    // leaders before a live one, one view for it, and a few message delays.
    let max_gap = (f + 3) * VIEW_TIMEOUT + 10 * DELTA;
    sim.checker
        .check_liveness(gst, stopped.min(end), BLOCKS, max_gap)
        .map_err(|e| format!("n={n} seed={seed}: {e}\n{cfg:?}"))
}

fn seeds() -> std::ops::Range<u64> {
    let env = |k: &str, d: u64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let first = env("BFT_SIM_FIRST_SEED", 0);
    first..first + env("BFT_SIM_SEEDS", 100)
}

macro_rules! random_faults {
    ($name:ident, $n:expr) => {
        #[test]
        fn $name() {
            for seed in seeds() {
                if let Err(e) = run_seed($n, seed) {
                    panic!("{e}");
                }
            }
        }
    };
}

random_faults!(random_faults_n1, 1);
random_faults!(random_faults_n4, 4);
random_faults!(random_faults_n6, 6);
random_faults!(random_faults_n11, 11);
random_faults!(random_faults_n16, 16);

/// A few seeds with real BLS signatures end to end.
#[test]
fn random_faults_real_crypto() {
    for seed in 0..3 {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut cfg = random_config(4, &mut rng);
        cfg.real_crypto = true;
        cfg.end = cfg.faults.gst + 8 * VIEW_TIMEOUT;
        let gst = cfg.faults.gst;
        let end = cfg.end;
        let mut sim = Sim::new(cfg, seed);
        sim.run().unwrap();
        sim.checker
            .check_liveness(gst, end, 3, 3 * VIEW_TIMEOUT + 10 * DELTA)
            .unwrap();
    }
}
