//! The simulated network: delivery delays, drops and duplicates before GST, partitions, and
//! the Twins splits (undeliverable messages kept until the pair is connected again).

use rand::RngExt as _;
use zksync_consensus_roles::validator::{ConsensusMsg, Signed};

use super::{Event, Groups, Phase, Sim};

impl Sim {
    pub(super) fn twins_cut(&self, from: usize, to: usize, msg: &ConsensusMsg) -> bool {
        let splits = &self.cfg.faults.twins_splits;
        splits
            .get(self.net_view as usize)
            .is_some_and(|s| self.groups_split(&s[Phase::of(msg)], from, to))
    }

    /// Delivers kept Twins messages whose pair the split of the new network view connects.
    pub(super) fn update_net_view(&mut self) {
        let view = (0..self.nodes.len())
            .filter_map(|i| self.nodes[i].replica.as_ref().map(|r| r.view().0))
            .max()
            .unwrap_or(0);
        if view <= self.net_view {
            return;
        }
        self.net_view = view;
        for to in 0..self.nodes.len() {
            let stash = std::mem::take(&mut self.stash[to]);
            for ((from, _), msg) in stash {
                self.send(from, to, &msg);
            }
        }
    }

    pub(super) fn groups_split(&self, groups: &Groups, from: usize, to: usize) -> bool {
        groups.get(from) != groups.get(to)
    }

    pub(super) fn send(&mut self, from: usize, to: usize, msg: &Signed<ConsensusMsg>) {
        let f = &self.cfg.faults;
        if let ConsensusMsg::ReplicaCommit(vote) = &msg.msg
            && f.lost_commit_votes.contains(&(vote.view.number.0, to))
        {
            return;
        }
        if self.twins_cut(from, to, &msg.msg) {
            let stash = &mut self.stash[to];
            let key = (from, msg.msg.label());
            if stash
                .get(&key)
                .is_none_or(|old| old.msg.view().number <= msg.msg.view().number)
            {
                stash.insert(key, msg.clone());
            }
            return;
        }
        let copies = if self.now < f.gst {
            if f.partitions
                .iter()
                .any(|(a, b, g)| (*a..*b).contains(&self.now) && self.groups_split(g, from, to))
                || self.rng.random_bool(f.drop)
            {
                return;
            }
            if self.rng.random_bool(f.duplicate) {
                2
            } else {
                1
            }
        } else {
            1
        };
        for _ in 0..copies {
            let (before, after) = self.links[from][to];
            let delay = if self.now >= self.cfg.faults.gst {
                if self.cfg.exact_delta {
                    self.cfg.delta
                } else {
                    self.rng.random_range(1..=after)
                }
            } else {
                self.rng.random_range(1..=before)
            };
            let at = self.now + delay;
            self.schedule(
                at,
                Event::Deliver {
                    to,
                    msg: msg.clone(),
                },
            );
        }
    }
}
