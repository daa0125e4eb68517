//! Signer sets: one bit per validator of a schedule (protocol.md 2.2, 4.4).

use zksync_protobuf::{ProtoFmt, std_conv::BitVector};

use super::Schedule;

/// A set of validators, as a bit per schedule index.
///
/// `Ord` is bit-by-bit lexicographic from index 0 (`false < true`), a shorter vector first when
/// one is a prefix of the other; it orders timeout certificate entries (protocol.md 4.4).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Signers(Vec<bool>);

impl Signers {
    /// An empty set for a schedule of `n` validators.
    pub fn new(n: usize) -> Self {
        Self(vec![false; n])
    }

    /// Number of bits (the schedule size it was made for).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no bits at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether bit `i` is set (false past the end).
    pub fn get(&self, i: usize) -> bool {
        self.0.get(i).copied().unwrap_or(false)
    }

    /// Sets bit `i`; does nothing past the end.
    pub fn set(&mut self, i: usize) {
        if let Some(b) = self.0.get_mut(i) {
            *b = true;
        }
    }

    /// Number of set bits.
    pub fn count(&self) -> usize {
        self.0.iter().filter(|b| **b).count()
    }

    /// Whether no bit is set.
    pub fn is_zero(&self) -> bool {
        !self.0.iter().any(|b| *b)
    }

    /// Indices of the set bits.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.0
            .iter()
            .enumerate()
            .filter(|(_, b)| **b)
            .map(|(i, _)| i)
    }

    /// Whether a bit is set in both.
    pub fn intersects(&self, other: &Self) -> bool {
        self.0.iter().zip(&other.0).any(|(a, b)| *a && *b)
    }

    /// Adds the bits of `other` (up to this set's length).
    pub fn union_with(&mut self, other: &Self) {
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a |= *b;
        }
    }

    /// Total weight of the set bits in `schedule` (bits past the schedule count nothing;
    /// callers check the length first).
    pub fn weight(&self, schedule: &Schedule) -> u64 {
        self.iter()
            .filter_map(|i| schedule.get(i))
            .map(|v| v.weight)
            .sum()
    }
}

impl ProtoFmt for Signers {
    type Proto = <BitVector as ProtoFmt>::Proto;
    fn read(r: &Self::Proto) -> anyhow::Result<Self> {
        let bits = BitVector::read(r)?;
        let size = usize::try_from(bits.size)?;
        Ok(Self((0..size).map(|i| bits.get(i)).collect()))
    }
    fn build(&self) -> Self::Proto {
        let mut bytes = vec![0u8; self.0.len().div_ceil(8)];
        for i in self.iter() {
            bytes[i / 8] |= 0x80 >> (i % 8);
        }
        BitVector {
            size: self.0.len() as u64,
            bytes,
        }
        .build()
    }
}
