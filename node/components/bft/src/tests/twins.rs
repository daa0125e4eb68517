//! Twins: a Byzantine validator is modelled as two honest nodes sharing its key, and the
//! network is cut by random partitions chosen per view and per message kind (proposals and
//! new views, commit votes, timeout votes). Twins can then vote for two blocks, propose two
//! blocks, and show different views to different halves of the network, which covers
//! equivocation without writing any Byzantine code. With at most f twins no run may break
//! agreement, and once the partitions stop the chain must move on; with more twins than the
//! fault bound some run must break agreement, which shows the checker can fail.
//!
//! `BFT_TWINS_SCENARIOS=N` changes the number of scenarios per configuration (default 300).

use rand::{RngExt as _, SeedableRng as _, rngs::StdRng};

use super::sim::{Config, Faults, Groups, Sim};

const VIEW_TIMEOUT: u64 = 1000;
const DELTA: u64 = 50;
/// Network views with partitions.
const PARTITIONED_VIEWS: usize = 10;

/// A random split of the nodes into 1 to 3 groups, one of which holds a quorum of distinct
/// keys (otherwise no view could end and the scenario would only test waiting).
fn split(validator_of: &[usize], quorum: usize, rng: &mut StdRng) -> Groups {
    loop {
        let parts = rng.random_range(1..=3u8);
        let groups: Groups = validator_of
            .iter()
            .map(|_| rng.random_range(0..parts))
            .collect();
        let has_quorum = (0..parts).any(|g| {
            let mut keys: Vec<usize> = (0..groups.len())
                .filter(|&i| groups[i] == g)
                .map(|i| validator_of[i])
                .collect();
            keys.sort_unstable();
            keys.dedup();
            keys.len() >= quorum
        });
        if has_quorum {
            return groups;
        }
    }
}

fn scenario(n: usize, twins: usize, rng: &mut StdRng) -> Config {
    let validator_of: Vec<usize> = (0..n).chain(0..twins).collect();
    let quorum = n - (n - 1) / 5;
    let twins_splits = (0..PARTITIONED_VIEWS)
        .map(|_| {
            [
                split(&validator_of, quorum, rng),
                split(&validator_of, quorum, rng),
            ]
        })
        .collect();
    Config {
        validators: n,
        twins,
        view_timeout: VIEW_TIMEOUT,
        delta: DELTA,
        exact_delta: false,
        faults: Faults {
            twins_splits,
            ..Faults::none()
        },
        end: (PARTITIONED_VIEWS as u64 + 15) * VIEW_TIMEOUT,
        real_crypto: false,
        sync_interval: VIEW_TIMEOUT / 4,
    }
}

fn scenarios() -> u64 {
    std::env::var("BFT_TWINS_SCENARIOS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

/// Runs scenarios; returns how many broke agreement or validity, and the first message.
fn run(
    n: usize,
    twins: usize,
    seeds: std::ops::Range<u64>,
    check_liveness: bool,
    stop_at_first_violation: bool,
) -> (u64, Option<String>) {
    let mut broken = 0;
    let mut first = None;
    for seed in seeds {
        let mut rng = StdRng::seed_from_u64(seed ^ ((n * 100 + twins) as u64) << 32);
        let cfg = scenario(n, twins, &mut rng);
        let mut sim = Sim::new(cfg, seed);
        let after_partitions = |c: &super::checker::Checker| {
            c.finalized
                .values()
                .filter(|(_, _, view)| view.0 > PARTITIONED_VIEWS as u64)
                .count()
        };
        if let Err(e) = sim.run_until(|c| after_partitions(c) >= 3) {
            broken += 1;
            first.get_or_insert(format!("n={n} twins={twins} seed={seed}: {e}"));
            if stop_at_first_violation {
                break;
            }
            continue;
        }
        if check_liveness {
            let after = after_partitions(&sim.checker);
            assert!(
                after >= 3,
                "n={n} twins={twins} seed={seed}: only {after} blocks after the partitions"
            );
        }
    }
    (broken, first)
}

macro_rules! twins_safe {
    ($name:ident, $n:expr, $twins:expr) => {
        #[test]
        fn $name() {
            let (broken, first) = run($n, $twins, 0..scenarios(), true, false);
            assert_eq!(broken, 0, "{first:?}");
        }
    };
}

twins_safe!(twins_n6, 6, 1);
twins_safe!(twins_n7, 7, 1);
twins_safe!(twins_n8, 8, 1);
twins_safe!(twins_n9, 9, 1);
twins_safe!(twins_n10, 10, 1);
twins_safe!(twins_n11_one_twin, 11, 1);
twins_safe!(twins_n11_two_twins, 11, 2);

/// Beyond the fault bound (n = 6 tolerates one Byzantine validator; here all six have a twin,
/// as in the reference's negative test), the checker must catch a run that breaks agreement.
#[test]
fn twins_beyond_the_fault_bound_break_agreement() {
    let (broken, first) = run(6, 6, 0..scenarios(), false, true);
    assert!(broken > 0, "no violation found");
    let first = first.unwrap();
    assert!(first.contains("agreement"), "{first}");
}
