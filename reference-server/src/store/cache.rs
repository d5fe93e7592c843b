//! A bounded in-memory cache for records that are read on every payment and (almost) never
//! change: customers and device pairings never change once stored, merchants only through
//! `upsert_merchant`, which calls [`Cache::forget`].
//!
//! An entry is only ever filled from a read that returned after the data was durable, so the
//! cache never holds what a crash could undo. A read that began before a `forget` cannot fill
//! the cache afterwards with what it saw ([`Cache::generation`]).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{PoisonError, RwLock};

/// Entries kept before the cache starts over (about 20 MB of customer records at most).
pub const CAPACITY: usize = 100_000;

/// The cache.
#[derive(Debug)]
pub struct Cache<K, V> {
    inner: RwLock<Inner<K, V>>,
}

#[derive(Debug)]
struct Inner<K, V> {
    map: HashMap<K, V>,
    generation: u64,
}

impl<K: Eq + Hash, V: Clone> Default for Cache<K, V> {
    fn default() -> Self {
        Self {
            inner: RwLock::new(Inner {
                map: HashMap::new(),
                generation: 0,
            }),
        }
    }
}

impl<K: Eq + Hash, V: Clone> Cache<K, V> {
    /// The entry for `key`, if cached.
    pub fn get(&self, key: &K) -> Option<V> {
        self.inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .map
            .get(key)
            .cloned()
    }

    /// The generation to pass to [`Cache::put`]: take it before the read that fills the cache.
    pub fn generation(&self) -> u64 {
        self.inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .generation
    }

    /// Caches `value` unless a [`Cache::forget`] happened since `generation` was taken.
    pub fn put(&self, generation: u64, key: K, value: V) {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        if inner.generation != generation {
            return;
        }
        if inner.map.len() >= CAPACITY {
            inner.map.clear();
        }
        inner.map.insert(key, value);
    }

    /// Drops `key` (its record changed).
    pub fn forget(&self, key: &K) {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        inner.generation += 1;
        inner.map.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_older_than_a_forget_does_not_fill_the_cache() {
        let cache: Cache<u32, &str> = Cache::default();
        let before = cache.generation();
        cache.forget(&1);
        cache.put(before, 1, "stale");
        assert_eq!(cache.get(&1), None);
        let now = cache.generation();
        cache.put(now, 1, "fresh");
        assert_eq!(cache.get(&1), Some("fresh"));
        cache.forget(&1);
        assert_eq!(cache.get(&1), None);
    }

    #[test]
    fn it_starts_over_when_full() {
        let cache: Cache<usize, usize> = Cache::default();
        for i in 0..=CAPACITY {
            cache.put(0, i, i);
        }
        assert_eq!(cache.get(&CAPACITY), Some(CAPACITY));
        assert_eq!(cache.get(&0), None);
    }
}
