//! Connection pools (protocol.md 5.1, 5.4, 5.5): at most one connection per peer key in each
//! pool; peers from an allowed set always fit, others only up to a limit.
//!
//! The gossip network keeps one inbound pool (static inbound keys allowed, up to
//! `dynamic_inbound_limit` others) and one outbound pool; the consensus network one inbound pool
//! of the epoch's validators (no others).

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt,
};

use tokio::sync::watch;

/// Why a connection is refused.
#[derive(thiserror::Error, Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolError {
    /// A connection with this peer already exists.
    #[error("already exists")]
    AlreadyExists,
    /// The peer is not in the allowed set and the limit for others is reached.
    #[error("limit of {0} connections from other peers reached")]
    LimitReached(usize),
}

/// The connections of one pool, watchable.
#[derive(Debug)]
pub struct Pool<K: Ord + Clone, V: Clone> {
    allowed: BTreeSet<K>,
    extra_limit: usize,
    current: watch::Sender<BTreeMap<K, V>>,
}

impl<K: Ord + Clone + fmt::Debug, V: Clone> Pool<K, V> {
    /// A pool admitting every key of `allowed`, and up to `extra_limit` other keys.
    pub fn new(allowed: impl IntoIterator<Item = K>, extra_limit: usize) -> Self {
        Self {
            allowed: allowed.into_iter().collect(),
            extra_limit,
            current: watch::Sender::new(BTreeMap::new()),
        }
    }

    /// Adds the connection of `key`.
    pub fn insert(&self, key: K, value: V) -> Result<(), PoolError> {
        let mut res = Ok(());
        self.current.send_if_modified(|m| {
            if m.contains_key(&key) {
                res = Err(PoolError::AlreadyExists);
                return false;
            }
            if !self.allowed.contains(&key) {
                let extra = m.keys().filter(|k| !self.allowed.contains(*k)).count();
                if extra >= self.extra_limit {
                    res = Err(PoolError::LimitReached(self.extra_limit));
                    return false;
                }
            }
            m.insert(key.clone(), value.clone());
            true
        });
        res
    }

    /// Removes the connection of `key`.
    pub fn remove(&self, key: &K) {
        self.current.send_if_modified(|m| m.remove(key).is_some());
    }

    /// The current connections.
    pub fn current(&self) -> BTreeMap<K, V> {
        self.current.borrow().clone()
    }

    /// Watches the connections.
    pub fn subscribe(&self) -> watch::Receiver<BTreeMap<K, V>> {
        self.current.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_connection_per_key_and_a_limit_for_others() {
        let pool: Pool<u32, &str> = Pool::new([1, 2], 2);
        pool.insert(1, "a").unwrap();
        assert_eq!(pool.insert(1, "b"), Err(PoolError::AlreadyExists));
        pool.insert(10, "x").unwrap();
        pool.insert(11, "y").unwrap();
        assert_eq!(pool.insert(12, "z"), Err(PoolError::LimitReached(2)));
        // Allowed keys fit beyond the limit.
        pool.insert(2, "c").unwrap();
        assert_eq!(pool.insert(11, "y"), Err(PoolError::AlreadyExists));
        pool.remove(&10);
        pool.insert(12, "z").unwrap();
        assert_eq!(pool.current().len(), 4);
        // Limit 0: only allowed keys (the consensus network's inbound pool).
        let pool: Pool<u32, ()> = Pool::new([1], 0);
        assert_eq!(pool.insert(5, ()), Err(PoolError::LimitReached(0)));
        pool.insert(1, ()).unwrap();
    }

    #[test]
    fn subscribers_see_changes() {
        let pool: Pool<u32, ()> = Pool::new([], 5);
        let mut sub = pool.subscribe();
        pool.insert(3, ()).unwrap();
        assert!(sub.has_changed().unwrap());
        assert!(sub.borrow_and_update().contains_key(&3));
        // A refused insert changes nothing.
        let _ = pool.insert(3, ());
        assert!(!sub.has_changed().unwrap());
        pool.remove(&3);
        assert!(sub.has_changed().unwrap());
    }
}
