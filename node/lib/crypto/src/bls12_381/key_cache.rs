//! A process-wide cache of decoded public keys.
//!
//! Decoding a public key (decompressing a G2 point, checking that it is in the subgroup and not
//! the identity) costs a good part of a signature check, and it is a deterministic function of
//! the key's bytes. Every consensus message carries its signer's key, and the signers are the
//! same few validators again and again, so [`PublicKey::decode`](super::PublicKey) remembers
//! the keys it validated, by the 96 bytes (compressed encoding) they were decoded from, and
//! hands out a copy the next time the same bytes come.
//!
//! Only keys that passed validation are stored, so a hit returns exactly what validating again
//! would return. Uncompressed (192-byte) encodings are not cached: no protocol message uses
//! them.
//!
//! Bounded: two generations of at most [`GENERATION`] keys each. A lookup checks the current
//! generation, then the previous one (a hit there moves the key into the current one); when the
//! current generation is full it becomes the previous one and the older one is dropped. So the
//! cache never holds more than `2 * GENERATION` keys (about 400 bytes each), and a key in use
//! stays cached however many other keys go through it, as long as it is used again before
//! [`GENERATION`] other keys are inserted. A flood of distinct valid keys can only bring the
//! cost back to that of validating every key, plus a hash-map insertion each.

use std::{
    collections::HashMap,
    sync::{LazyLock, Mutex, PoisonError},
};

use super::PublicKey;

/// Keys per generation.
pub(super) const GENERATION: usize = 2048;

/// Validated keys by their compressed encoding.
#[derive(Debug)]
pub(super) struct KeyCache {
    cap: usize,
    current: HashMap<[u8; 96], PublicKey>,
    previous: HashMap<[u8; 96], PublicKey>,
}

impl KeyCache {
    /// An empty cache of generations of at most `cap` keys.
    pub(super) fn new(cap: usize) -> Self {
        Self {
            cap: cap.max(1),
            current: HashMap::new(),
            previous: HashMap::new(),
        }
    }

    /// The key encoded by `bytes`, if it was validated before (and is still cached).
    pub(super) fn get(&mut self, bytes: &[u8; 96]) -> Option<PublicKey> {
        if let Some(pk) = self.current.get(bytes) {
            return Some(pk.clone());
        }
        let pk = self.previous.remove(bytes)?;
        self.insert(*bytes, pk.clone());
        Some(pk)
    }

    /// Records `pk`, validated from `bytes`.
    pub(super) fn insert(&mut self, bytes: [u8; 96], pk: PublicKey) {
        if self.current.len() >= self.cap {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.insert(bytes, pk);
    }

    /// Number of keys held.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.current.len() + self.previous.len()
    }

    /// Whether `bytes` is cached (without moving it).
    #[cfg(test)]
    pub(super) fn contains(&self, bytes: &[u8; 96]) -> bool {
        self.current.contains_key(bytes) || self.previous.contains_key(bytes)
    }
}

/// The cache [`PublicKey::decode`](super::PublicKey) uses.
pub(super) static DECODED: LazyLock<Mutex<KeyCache>> =
    LazyLock::new(|| Mutex::new(KeyCache::new(GENERATION)));

/// Runs `f` on the process-wide cache. The lock is held only for a lookup or an insertion;
/// a poisoned lock is still usable (the cache holds no invariant a panic could break).
pub(super) fn with<R>(f: impl FnOnce(&mut KeyCache) -> R) -> R {
    f(&mut DECODED.lock().unwrap_or_else(PoisonError::into_inner))
}
