//! A deterministic simulator of replicas over the pure core.
//!
//! Virtual time in milliseconds, one seeded RNG, an event queue ordered by (time, sequence).
//! The network delivers every broadcast to every node (the sender included) after a delay drawn
//! up to its link's own bound; before the "global stabilisation time" (GST) messages may also be dropped,
//! duplicated, delayed a lot (hence reordered) and cut by partitions; from GST on every message
//! sent arrives within `delta`. Nodes crash (losing everything but their persisted state and
//! blocks, possibly right after persisting and before sending) and restart. Each node has a
//! block store that persists queued blocks in order and fetches missing blocks from the nodes it
//! can reach, as block sync would. Twins are extra nodes sharing a validator key.

use std::{
    cmp::Reverse,
    collections::{BTreeMap, BinaryHeap, VecDeque},
    sync::Arc,
};

use rand::{Rng as _, RngExt as _, SeedableRng as _, rngs::StdRng};
use zksync_consensus_roles::{
    testonly::Setup,
    validator::{
        BlockNumber, ConsensusMsg, EpochNumber, FinalBlock, GenesisHash, Payload, ReplicaState,
        SecretKey, Signed, ViewNumber,
    },
};

use super::checker::Checker;
use crate::core::{Crypto, Input, Output, Params, Replica, VoteCheck};

mod config;
mod net;

pub(super) use self::config::{Config, Faults, Groups, Phase};

#[derive(Debug)]
enum Event {
    Deliver {
        to: usize,
        msg: Signed<ConsensusMsg>,
    },
    Timer {
        node: usize,
        generation: u64,
    },
    NewViewDelay {
        node: usize,
        view: ViewNumber,
        /// The node's crash count when it was armed: a delay does not survive a crash.
        life: u64,
    },
    Crash {
        node: usize,
        restart_at: Option<u64>,
    },
    Restart {
        node: usize,
    },
    Sync {
        node: usize,
    },
}

#[derive(Debug)]
struct Node {
    validator: usize,
    replica: Option<Replica>,
    disk: Option<ReplicaState>,
    /// Persisted blocks (contiguous from the first block).
    blocks: BTreeMap<BlockNumber, FinalBlock>,
    /// Queued blocks waiting for their predecessors.
    queued: BTreeMap<BlockNumber, FinalBlock>,
    timer: u64,
    /// How many times the node crashed.
    life: u64,
    verify: Option<(ViewNumber, BlockNumber, Payload)>,
    propose: Option<(ViewNumber, BlockNumber)>,
}

impl Node {
    fn next(&self, first: BlockNumber) -> BlockNumber {
        self.blocks.keys().next_back().map_or(first, |n| n.next())
    }
}

/// The simulator.
pub(super) struct Sim {
    pub(super) cfg: Config,
    rng: StdRng,
    now: u64,
    seq: u64,
    events: BinaryHeap<Reverse<(u64, u64, usize)>>,
    payloads: BTreeMap<usize, Event>,
    nodes: Vec<Node>,
    keys: Vec<SecretKey>,
    params: Params,
    crypto: Arc<dyn Crypto>,
    inbox: VecDeque<(usize, Input)>,
    /// Highest view of any node (Twins splits are chosen by it).
    net_view: u64,
    /// Per-link delay bounds (before GST, after GST): each message on link `from -> to` takes
    /// a uniform delay up to its link's bound.
    links: Vec<Vec<(u64, u64)>>,
    /// Twins messages waiting for their pair to be connected, per receiver.
    stash: Vec<BTreeMap<(usize, &'static str), Signed<ConsensusMsg>>>,
    pub(super) checker: Checker,
}

const FIRST: BlockNumber = BlockNumber(0);

impl Sim {
    pub(super) fn new(cfg: Config, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let Setup { keys, genesis } = Setup::new(&mut rng, cfg.validators);
        let schedule = genesis.validators_schedule.expect("a static schedule");
        // Node i < validators runs key i; twins follow.
        let mut validator_of: Vec<usize> = (0..cfg.validators).collect();
        validator_of.extend(0..cfg.twins);
        let params = Params {
            genesis: GenesisHash::default(),
            epoch: EpochNumber(0),
            schedule: Arc::new(schedule),
            first_block: FIRST,
            max_payload_size: 1000,
            vote_check: VoteCheck::Aggregate,
            senders_authenticated: false,
        };
        let crypto: Arc<dyn Crypto> = if cfg.real_crypto {
            Arc::new(crate::core::Bls)
        } else {
            Arc::new(crate::testonly::Trusting)
        };
        let nodes = validator_of
            .iter()
            .map(|&validator| Node {
                validator,
                replica: None,
                disk: None,
                blocks: BTreeMap::new(),
                queued: BTreeMap::new(),
                timer: 0,
                life: 0,
                verify: None,
                propose: None,
            })
            .collect();
        let checker = Checker::new(params.clone(), cfg.real_crypto, validator_of.len());
        let nodes_len = validator_of.len();
        let links = (0..nodes_len)
            .map(|_| {
                (0..nodes_len)
                    .map(|_| {
                        (
                            rng.random_range(1..=cfg.faults.max_delay.max(1)),
                            rng.random_range(1..=cfg.delta.max(1)),
                        )
                    })
                    .collect()
            })
            .collect();
        let mut sim = Self {
            cfg,
            rng,
            now: 0,
            seq: 0,
            events: BinaryHeap::new(),
            payloads: BTreeMap::new(),
            nodes,
            keys,
            params,
            crypto,
            inbox: VecDeque::new(),
            net_view: 0,
            links,
            stash: vec![BTreeMap::new(); validator_of.len()],
            checker,
        };
        for node in 0..sim.nodes.len() {
            if !sim.cfg.faults.dead.contains(&node) {
                sim.restart(node);
            }
            let at = sim.rng.random_range(0..sim.cfg.sync_interval);
            sim.schedule(at, Event::Sync { node });
        }
        for (node, crash, restart) in sim.cfg.faults.crashes.clone() {
            sim.schedule(
                crash,
                Event::Crash {
                    node,
                    restart_at: Some(restart),
                },
            );
        }
        sim
    }

    /// Runs until the configured end; returns the first invariant violation.
    pub(super) fn run(&mut self) -> Result<(), String> {
        self.run_until(|_| false).map(|_| ())
    }

    /// The node running the leader of view `v` (without twins: the validator's index).
    pub(super) fn leader_node(&self, v: u64) -> usize {
        let key = self.params.schedule.view_leader(ViewNumber(v));
        (0..self.keys.len())
            .find(|i| self.keys[*i].public() == *key)
            .expect("a validator")
    }

    /// Runs until `stop` holds after a step, or the configured end; returns the time it
    /// stopped at, or the first invariant violation.
    pub(super) fn run_until(&mut self, stop: impl Fn(&Checker) -> bool) -> Result<u64, String> {
        while let Some(Reverse((t, _, id))) = self.events.pop() {
            if t > self.cfg.end {
                break;
            }
            self.now = t;
            let ev = self.payloads.remove(&id).expect("event");
            self.step(ev);
            self.drain();
            if !self.cfg.faults.twins_splits.is_empty() {
                self.update_net_view();
            }
            if let Some(v) = self.checker.violation.take() {
                return Err(format!("t={}: {v}", self.now));
            }
            if stop(&self.checker) {
                return Ok(self.now);
            }
        }
        Ok(self.cfg.end)
    }

    fn schedule(&mut self, at: u64, ev: Event) {
        self.seq += 1;
        let id = self.seq as usize;
        self.payloads.insert(id, ev);
        self.events.push(Reverse((at, self.seq, id)));
    }

    fn alive(&self, node: usize) -> bool {
        self.nodes[node].replica.is_some()
    }

    fn step(&mut self, ev: Event) {
        match ev {
            Event::Deliver { to, msg } => {
                if self.alive(to) {
                    self.inbox.push_back((to, Input::Message(msg)));
                }
            }
            Event::Timer { node, generation } => {
                if self.alive(node) && self.nodes[node].timer == generation {
                    // Waits bounded by the view deadline give up first.
                    if let Some(check) = self.nodes[node].verify.take() {
                        self.answer_check(node, check, false);
                    }
                    if let Some((view, _)) = self.nodes[node].propose.take() {
                        self.inbox.push_back((
                            node,
                            Input::PayloadProposed {
                                view,
                                payload: None,
                            },
                        ));
                    }
                    self.inbox.push_back((node, Input::TimerExpired));
                }
            }
            Event::NewViewDelay { node, view, life } => {
                if self.alive(node) && self.nodes[node].life == life {
                    self.inbox
                        .push_back((node, Input::NewViewDelayElapsed { view }));
                }
            }
            Event::Crash { node, restart_at } => {
                self.crash(node);
                if let Some(at) = restart_at {
                    self.schedule(at.max(self.now), Event::Restart { node });
                }
            }
            Event::Restart { node } => {
                if !self.alive(node) {
                    self.restart(node);
                }
            }
            Event::Sync { node } => {
                self.sync(node);
                let at = self.now + self.cfg.sync_interval;
                self.schedule(at, Event::Sync { node });
            }
        }
    }

    fn crash(&mut self, node: usize) {
        let n = &mut self.nodes[node];
        n.replica = None;
        n.queued.clear();
        n.verify = None;
        n.propose = None;
        n.timer += 1;
        n.life += 1;
    }

    fn restart(&mut self, node: usize) {
        let n = &self.nodes[node];
        let replica = Replica::new(
            self.params.clone(),
            self.keys[n.validator].clone(),
            self.crypto.clone(),
            n.disk.clone(),
        )
        .expect("persisted state must load");
        let persisted_next = n.next(FIRST);
        self.nodes[node].replica = Some(replica);
        self.inbox.push_back((
            node,
            Input::Store {
                first: FIRST,
                persisted_next,
            },
        ));
        self.inbox.push_back((node, Input::Start));
    }

    fn drain(&mut self) {
        while let Some((node, input)) = self.inbox.pop_front() {
            let Some(r) = self.nodes[node].replica.as_mut() else {
                continue;
            };
            let Ok(outputs) = r.handle(input) else {
                continue;
            };
            self.perform(node, outputs);
        }
    }

    fn perform(&mut self, node: usize, outputs: Vec<Output>) {
        for out in outputs {
            match out {
                Output::PersistState(s) => {
                    self.nodes[node].disk = Some(s);
                    let (gst, p, max_delay) = {
                        let f = &self.cfg.faults;
                        (f.gst, f.crash_after_persist, f.max_delay)
                    };
                    if self.now < gst && self.rng.random_bool(p) {
                        // Crash before sending what depends on this state.
                        self.crash(node);
                        // Back up by GST at the latest: stabilisation includes the nodes.
                        let at = (self.now + self.rng.random_range(1..=max_delay.max(1))).min(gst);
                        self.schedule(at, Event::Restart { node });
                        return;
                    }
                }
                Output::Broadcast(msg) => {
                    self.checker.on_sent(node, &msg, self.now);
                    for to in 0..self.nodes.len() {
                        self.send(node, to, &msg);
                    }
                }
                Output::DelayNewView { view } => {
                    let at = self.now
                        + self.cfg.view_timeout / u64::from(crate::driver::NEW_VIEW_DELAY_FRACTION);
                    let life = self.nodes[node].life;
                    self.schedule(at, Event::NewViewDelay { node, view, life });
                }
                Output::QueueBlock(b) => {
                    self.checker.on_block(node, &b, self.now);
                    self.nodes[node].queued.insert(b.number(), b);
                    self.persist_blocks(node);
                }
                Output::VerifyPayload {
                    view,
                    number,
                    payload,
                } => {
                    self.nodes[node].verify = Some((view, number, payload));
                    self.resolve_waits(node);
                }
                Output::ProposePayload { view, number } => {
                    self.nodes[node].propose = Some((view, number));
                    self.resolve_waits(node);
                }
                Output::ResetTimer => {
                    let n = &mut self.nodes[node];
                    n.timer += 1;
                    let generation = n.timer;
                    let at = self.now + self.cfg.view_timeout;
                    self.schedule(at, Event::Timer { node, generation });
                }
            }
        }
    }

    /// Moves queued blocks to the persisted ones in order and tells the replica.
    fn persist_blocks(&mut self, node: usize) {
        let n = &mut self.nodes[node];
        let before = n.next(FIRST);
        loop {
            let next = n.next(FIRST);
            let Some(b) = n.queued.remove(&next) else {
                break;
            };
            n.blocks.insert(next, b);
        }
        let after = n.next(FIRST);
        n.queued.retain(|k, _| *k >= after);
        if after != before {
            self.inbox.push_back((
                node,
                Input::Store {
                    first: FIRST,
                    persisted_next: after,
                },
            ));
            self.resolve_waits(node);
        }
    }

    /// Answers a payload check of `node`.
    fn answer_check(
        &mut self,
        node: usize,
        (view, number, payload): (ViewNumber, BlockNumber, Payload),
        valid: bool,
    ) {
        let hash = payload.hash();
        let input = Input::PayloadVerified {
            view,
            number,
            hash,
            valid,
        };
        self.inbox.push_back((node, input));
    }

    /// Answers a payload check or proposal once the previous block is persisted.
    fn resolve_waits(&mut self, node: usize) {
        let next = self.nodes[node].next(FIRST);
        if let Some(check) = self.nodes[node].verify.take_if(|(_, num, _)| *num <= next) {
            self.answer_check(node, check, true);
        }
        if let Some((view, _)) = self.nodes[node].propose.take_if(|(_, num)| *num <= next) {
            let mut bytes = vec![0u8; self.rng.random_range(1..64)];
            self.rng.fill_bytes(&mut bytes);
            let payload = Some(Payload(bytes));
            self.inbox
                .push_back((node, Input::PayloadProposed { view, payload }));
        }
    }

    /// Block sync: fetch missing blocks from a reachable node that has them.
    fn sync(&mut self, node: usize) {
        if !self.alive(node) {
            return;
        }
        let f = &self.cfg.faults;
        let cut = |from: usize| {
            self.now < f.gst
                && f.partitions.iter().any(|(a, b, g)| {
                    (*a..*b).contains(&self.now) && self.groups_split(g, from, node)
                })
        };
        let mut fetched = vec![];
        let mut next = self.nodes[node].next(FIRST);
        for _ in 0..16 {
            let Some(b) = (0..self.nodes.len())
                .filter(|&j| j != node && self.alive(j) && !cut(j))
                .find_map(|j| self.nodes[j].blocks.get(&next))
            else {
                break;
            };
            fetched.push(b.clone());
            next = next.next();
        }
        for b in fetched {
            self.checker.on_block(node, &b, self.now);
            self.nodes[node].queued.insert(b.number(), b);
        }
        self.persist_blocks(node);
    }
}
