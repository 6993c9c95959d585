//! A small least-recently-used map bounded by entry count and by a cost (bytes).
//!
//! Eviction scans for the oldest entry, O(n) per eviction: the caches here hold at most a few
//! hundred entries and evict only when a decode lands, so a linked list would buy nothing.

use std::collections::HashMap;
use std::hash::Hash;

#[derive(Debug)]
pub(crate) struct Lru<K, V> {
    entries: HashMap<K, Entry<V>>,
    clock: u64,
    max_entries: usize,
    max_cost: usize,
    cost: usize,
}

#[derive(Debug)]
struct Entry<V> {
    value: V,
    used: u64,
    cost: usize,
}

impl<K: Hash + Eq + Clone, V> Lru<K, V> {
    pub(crate) fn new(max_entries: usize, max_cost: usize) -> Self {
        Self {
            entries: HashMap::new(),
            clock: 0,
            max_entries: max_entries.max(1),
            max_cost,
            cost: 0,
        }
    }

    /// The value, marked as just used.
    pub(crate) fn get(&mut self, key: &K) -> Option<&V> {
        self.clock += 1;
        let clock = self.clock;
        self.entries.get_mut(key).map(|e| {
            e.used = clock;
            &e.value
        })
    }

    pub(crate) fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.clock += 1;
        let clock = self.clock;
        self.entries.get_mut(key).map(|e| {
            e.used = clock;
            &mut e.value
        })
    }

    /// The value, without marking it used.
    pub(crate) fn peek(&self, key: &K) -> Option<&V> {
        self.entries.get(key).map(|e| &e.value)
    }

    pub(crate) fn contains(&self, key: &K) -> bool {
        self.entries.contains_key(key)
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Total cost of what is held.
    pub(crate) fn cost(&self) -> usize {
        self.cost
    }

    /// Inserts (replacing), then evicts the least recently used entries until both bounds
    /// hold again; the new entry itself is kept even when it alone is over the cost bound.
    pub(crate) fn insert(&mut self, key: K, value: V, cost: usize) {
        self.clock += 1;
        let entry = Entry {
            value,
            used: self.clock,
            cost,
        };
        let newest = self.clock;
        if let Some(old) = self.entries.insert(key, entry) {
            self.cost -= old.cost;
        }
        self.cost += cost;
        while self.entries.len() > self.max_entries
            || (self.cost > self.max_cost && self.entries.len() > 1)
        {
            let oldest = self
                .entries
                .iter()
                .filter(|(_, e)| e.used != newest)
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| k.clone());
            let Some(oldest) = oldest else {
                break;
            };
            self.remove(&oldest);
        }
    }

    pub(crate) fn remove(&mut self, key: &K) -> Option<V> {
        let entry = self.entries.remove(key)?;
        self.cost -= entry.cost;
        Some(entry.value)
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.cost = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_least_recently_used_by_count_and_cost() {
        let mut lru = Lru::new(3, 100);
        lru.insert("a", 1, 10);
        lru.insert("b", 2, 10);
        lru.insert("c", 3, 10);
        assert_eq!(lru.get(&"a"), Some(&1));
        lru.insert("d", 4, 10);
        assert!(!lru.contains(&"b"), "b was the least recently used");
        assert_eq!(lru.len(), 3);
        lru.insert("e", 5, 85);
        // Four entries: c goes; then 10 + 10 + 85 > 100: a goes too.
        assert!(lru.contains(&"d") && lru.contains(&"e"));
        assert!(!lru.contains(&"c") && !lru.contains(&"a"));
        assert_eq!(lru.cost(), 95);
        lru.insert("huge", 6, 1_000);
        assert_eq!(lru.len(), 1, "an entry over budget alone is kept");
        assert_eq!(lru.remove(&"huge"), Some(6));
        assert_eq!(lru.cost(), 0);
    }
}
