//! Validator address discovery (protocol.md 5.10): the newest signed address of every validator,
//! learned from peers and spread to them.
//!
//! A received batch is applied by these rules, in order:
//! 1. the same key twice in one batch rejects the whole batch (spam);
//! 2. entries of keys that are not validators are skipped;
//! 3. entries not newer (by `(version, timestamp)`) than the stored one are skipped, before any
//!    signature work;
//! 4. one bad signature rejects the whole batch (nothing of it is applied);
//! 5. the rest is stored; subscribers hear of it only if something changed.
//!
//! Signatures are checked on a blocking thread, so a large batch does not stall other tasks.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
};

use tokio::sync::watch;
use zksync_concurrency::{ctx, scope};
use zksync_consensus_roles::validator::{NetAddress, PublicKey, Signed};

/// A rejected batch.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum AddrsError {
    /// One key appears twice.
    #[error("key {0:?} appears twice in one batch")]
    DuplicateKey(PublicKey),
    /// A signature does not verify.
    #[error("bad signature for key {0:?}")]
    Signature(PublicKey),
}

/// The newest known address of each validator.
pub type AddrMap = BTreeMap<PublicKey, Arc<Signed<NetAddress>>>;

/// Whether `a` is newer than `b`.
pub fn is_newer(a: &NetAddress, b: &NetAddress) -> bool {
    (a.version, a.timestamp) > (b.version, b.timestamp)
}

/// The address map, watchable.
#[derive(Debug)]
pub struct ValidatorAddrs(watch::Sender<AddrMap>);

impl Default for ValidatorAddrs {
    fn default() -> Self {
        Self(watch::Sender::new(AddrMap::new()))
    }
}

impl ValidatorAddrs {
    /// The current map.
    pub fn current(&self) -> AddrMap {
        self.0.borrow().clone()
    }

    /// Watches the map.
    pub fn subscribe(&self) -> watch::Receiver<AddrMap> {
        self.0.subscribe()
    }

    /// Stores an entry signed by this node (no checks); returns whether it changed the map.
    pub fn insert_own(&self, addr: Signed<NetAddress>) -> bool {
        self.0.send_if_modified(|m| {
            if m.get(&addr.key)
                .is_some_and(|old| !is_newer(&addr.msg, &old.msg))
            {
                return false;
            }
            m.insert(addr.key.clone(), Arc::new(addr));
            true
        })
    }

    /// Applies a batch received from a peer (rules in the module docs). `is_validator` tells
    /// which keys belong to a known validator schedule.
    pub async fn update(
        &self,
        ctx: &ctx::Ctx,
        is_validator: impl Fn(&PublicKey) -> bool,
        batch: Vec<Signed<NetAddress>>,
    ) -> ctx::Result<Result<(), AddrsError>> {
        let mut seen = BTreeSet::new();
        for a in &batch {
            if !seen.insert(&a.key) {
                return Ok(Err(AddrsError::DuplicateKey(a.key.clone())));
            }
        }
        let fresh: Vec<Signed<NetAddress>> = {
            let current = self.0.borrow();
            batch
                .into_iter()
                .filter(|a| is_validator(&a.key))
                .filter(|a| {
                    current
                        .get(&a.key)
                        .is_none_or(|old| is_newer(&a.msg, &old.msg))
                })
                .collect()
        };
        if fresh.is_empty() {
            return Ok(Ok(()));
        }
        let fresh = ctx
            .wait(scope::wait_blocking(move || {
                for a in &fresh {
                    if a.verify().is_err() {
                        return Err(AddrsError::Signature(a.key.clone()));
                    }
                }
                Ok(fresh)
            }))
            .await?;
        let fresh = match fresh {
            Ok(fresh) => fresh,
            Err(err) => return Ok(Err(err)),
        };
        self.0.send_if_modified(|m| {
            let mut changed = false;
            for a in fresh {
                // Checked again: the map may have changed while signatures were checked.
                if m.get(&a.key).is_none_or(|old| is_newer(&a.msg, &old.msg)) {
                    m.insert(a.key.clone(), Arc::new(a));
                    changed = true;
                }
            }
            changed
        });
        Ok(Ok(()))
    }
}

/// What a connection has sent of the map: the entries newer than what it sent before.
#[derive(Debug, Default)]
pub struct SentAddrs(BTreeMap<PublicKey, NetAddress>);

impl SentAddrs {
    /// Entries of `map` not sent yet (or newer than sent), at most `max` of them (oldest keys
    /// first); marks them sent.
    pub fn take_new(&mut self, map: &AddrMap, max: usize) -> Vec<Signed<NetAddress>> {
        let mut out = vec![];
        for (key, a) in map {
            if out.len() >= max {
                break;
            }
            if self.0.get(key).is_none_or(|sent| is_newer(&a.msg, sent)) {
                self.0.insert(key.clone(), a.msg.clone());
                out.push((**a).clone());
            }
        }
        out
    }
}
