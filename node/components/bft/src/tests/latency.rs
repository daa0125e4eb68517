//! Latency in message delays, with every link at exactly `delta`.

use super::sim::{Config, Faults, Sim};

const VIEW_TIMEOUT: u64 = 1000;
const DELTA: u64 = 50;

fn config(n: usize, dead: Vec<usize>) -> Config {
    Config {
        validators: n,
        twins: 0,
        view_timeout: VIEW_TIMEOUT,
        delta: DELTA,
        exact_delta: true,
        faults: Faults {
            dead,
            ..Faults::none()
        },
        end: 30 * VIEW_TIMEOUT,
        real_crypto: false,
        sync_interval: VIEW_TIMEOUT / 4,
    }
}

/// With an honest leader a block is finalized exactly 2 delta after its proposal is sent: one
/// delay for the proposal, one for the commit votes (optimal for n = 5f + 1).
#[test]
fn honest_leader_finalizes_in_two_delays() {
    for n in [1, 4, 6, 11] {
        let mut sim = Sim::new(config(n, vec![]), n as u64);
        sim.run().unwrap();
        let c = &sim.checker;
        assert!(
            c.finalized.len() > 100,
            "n={n}: {} blocks",
            c.finalized.len()
        );
        for (number, (_, at, view)) in &c.finalized {
            let sent = c.proposals_sent[view];
            assert_eq!(at - sent, 2 * DELTA, "n={n} block {number} view {view}");
        }
        // Back to back: every view after the first is 2 delta long.
        let times: Vec<u64> = c.finalized.values().map(|(_, t, _)| *t).collect();
        assert!(times.windows(2).all(|w| w[1] - w[0] == 2 * DELTA), "n={n}");
    }
}

/// With a crashed leader the next block comes one view timeout plus three delays after the
/// previous one: the timer, the timeout votes, then the next leader's proposal and votes.
#[test]
fn crashed_leader_costs_one_timeout_and_three_delays() {
    for n in [6, 11] {
        let mut sim = Sim::new(config(n, vec![2]), n as u64);
        sim.run().unwrap();
        let times: Vec<u64> = sim.checker.finalized.values().map(|(_, t, _)| *t).collect();
        assert!(times.len() > 20, "n={n}");
        let gaps: Vec<u64> = times.windows(2).map(|w| w[1] - w[0]).collect();
        for g in &gaps {
            assert!(
                *g == 2 * DELTA || *g == VIEW_TIMEOUT + 3 * DELTA,
                "n={n}: gap {g} in {gaps:?}"
            );
        }
        assert!(
            gaps.contains(&(VIEW_TIMEOUT + 3 * DELTA)),
            "n={n}: {gaps:?}"
        );
    }
}
