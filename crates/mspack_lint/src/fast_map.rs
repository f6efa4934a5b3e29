//! The hash map of the workspace's indexes.

/// A hash map for the indexes built once per run over every resource (names, hosts, labels: 100k
/// keys and more at scale). foldhash, seeded per process, hashes such short keys several times
/// faster than std's SipHash; the maps hold what the input names, not secrets.
pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// The set of [`FastMap`]'s hasher.
pub type FastSet<T> = std::collections::HashSet<T, foldhash::fast::RandomState>;
