//! Latency in message delays, with every link at exactly `delta`.

use super::sim::{Config, Faults, Sim};

const VIEW_TIMEOUT: u64 = 1000;
const DELTA: u64 = 50;

fn config(n: usize, dead: Vec<usize>) -> Config {
    config_with(
        n,
        Faults {
            dead,
            ..Faults::none()
        },
    )
}

fn config_with(n: usize, faults: Faults) -> Config {
    Config {
        validators: n,
        twins: 0,
        view_timeout: VIEW_TIMEOUT,
        delta: DELTA,
        exact_delta: true,
        faults,
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

/// A leader that missed the commit votes of the view before it gets the certificate from
/// the others' new-view messages once their delay (a quarter of the view timeout) elapses:
/// its block comes that delay plus three delays after the previous one (the reference, which
/// sends new-view messages at once: three delays), not a view timeout later.
#[test]
fn leader_without_the_votes_waits_for_the_new_view_delay() {
    for n in [6, 11] {
        // Every leader of views 10, 20, ... misses the commit votes of the view before.
        let probe = Sim::new(config(n, vec![]), n as u64);
        let lost: Vec<(u64, usize)> = (1..10)
            .map(|k| (10 * k - 1, probe.leader_node(10 * k)))
            .collect();
        let mut sim = Sim::new(
            config_with(
                n,
                Faults {
                    lost_commit_votes: lost.clone(),
                    ..Faults::none()
                },
            ),
            n as u64,
        );
        sim.run().unwrap();
        let c = &sim.checker;
        let delay = VIEW_TIMEOUT / u64::from(crate::driver::NEW_VIEW_DELAY_FRACTION);
        let slow = delay + 3 * DELTA;
        let mut seen = 0;
        let finalized: Vec<_> = c.finalized.values().collect();
        for w in finalized.windows(2) {
            let ((_, t0, _), (_, t1, v1)) = (w[0], w[1]);
            let gap = t1 - t0;
            if lost.iter().any(|(v, _)| v + 1 == v1.0) {
                assert_eq!(gap, slow, "n={n} view {v1}");
                seen += 1;
            } else {
                assert_eq!(gap, 2 * DELTA, "n={n} view {v1}");
            }
        }
        assert_eq!(seen, lost.len(), "n={n}");
    }
}
