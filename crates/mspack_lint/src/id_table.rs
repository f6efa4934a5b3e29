//! A hash index of resources that stores their ids only.

use std::hash::{BuildHasher, Hash};

/// Resource ids hashed by fields of their resource (a kind and a name): an entry is 4 bytes, not
/// a copy of its key, so the index of 100k resources (400 KB) stays in a core's cache while it is
/// built and read. Keys are read back from the resources to compare.
pub struct IdTable {
    table: hashbrown::HashTable<u32>,
    hasher: foldhash::fast::RandomState,
}

impl IdTable {
    pub fn with_capacity(capacity: usize) -> IdTable {
        IdTable {
            table: hashbrown::HashTable::with_capacity(capacity),
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    /// The number of distinct keys.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// The id stored under `key`; `key_of` reads an id's key, as for [`IdTable::insert`].
    pub fn get<K: Hash + Eq>(&self, key: K, key_of: impl Fn(usize) -> K) -> Option<usize> {
        let hash = self.hasher.hash_one(&key);
        self.table
            .find(hash, |&id| key_of(id as usize) == key)
            .map(|&id| id as usize)
    }

    /// Index `id` under `key(id)`. When an id with an equal key is there already, `replace` says
    /// whether `id` takes its place (the last definition wins) or not (the first does).
    pub fn insert<K: Hash + Eq>(&mut self, id: usize, key: impl Fn(usize) -> K, replace: bool) {
        // Ids index a `Vec` of resources of at least 200 bytes each: 2^32 of them do not fit in
        // memory.
        let Ok(stored) = u32::try_from(id) else {
            return;
        };
        let own = key(id);
        let hash = self.hasher.hash_one(&own);
        if let Some(slot) = self
            .table
            .find_mut(hash, |&other| key(other as usize) == own)
        {
            if replace {
                *slot = stored;
            }
            return;
        }
        let hasher = &self.hasher;
        self.table
            .insert_unique(hash, stored, |&other| hasher.hash_one(key(other as usize)));
    }
}

#[cfg(test)]
mod tests {
    use super::IdTable;

    #[test]
    fn first_or_last_definition_wins_and_lookups_compare_keys() {
        let names = ["a", "b", "a", "c", "a"];
        let key = |id: usize| names[id];
        let mut first = IdTable::with_capacity(2);
        let mut last = IdTable::with_capacity(2);
        for id in 0..names.len() {
            first.insert(id, key, false);
            last.insert(id, key, true);
        }
        assert_eq!(first.len(), 3);
        let find = |t: &IdTable, name: &'static str| t.get(name, key);
        assert_eq!(find(&first, "a"), Some(0));
        assert_eq!(find(&last, "a"), Some(4));
        assert_eq!(find(&last, "c"), Some(3));
        assert_eq!(find(&last, "d"), None);
    }
}
