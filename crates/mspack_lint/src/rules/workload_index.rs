//! Support for the rules that match label selectors against workloads (the gateway and
//! DestinationRule subset rules): selectors read as Istio's analyzers read them (a `key: value`
//! map whose empty form selects everything), their canonical `k=v,k2=v2` text, and an inverted
//! index so a selector finds its workloads without scanning every workload.

use std::collections::{BTreeMap, HashMap};

use mspack_yaml::Node;

/// A label set or an equality selector, keyed and ordered by label key.
pub type LabelMap = BTreeMap<String, String>;

/// Read a `key: value` mapping (a selector or a label set). Values are taken as written, null
/// as the empty string; a repeated key keeps its last value. Anything but a mapping reads as empty.
pub fn read_label_map(node: Option<&Node>) -> LabelMap {
    let mut out = LabelMap::new();
    for (key, _, value) in node.into_iter().flat_map(Node::entries) {
        let Some(scalar) = value.scalar() else {
            continue;
        };
        let text = if scalar.is_null() {
            String::new()
        } else {
            scalar.text.clone()
        };
        out.insert(key.to_string(), text);
    }
    out
}

/// Labels given as pairs (the workspace's [`crate::selector::Labels`]) as a map.
pub fn to_label_map(pairs: &[(String, String)]) -> LabelMap {
    pairs.iter().cloned().collect()
}

/// The canonical text of an equality selector: `k=v` pairs sorted by key, joined by commas
/// (empty for the empty selector), as Kubernetes prints a selector built from a label set.
pub fn selector_string(selector: &LabelMap) -> String {
    selector
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Does `labels` carry every `key=value` of `selector`? The empty selector matches everything.
pub fn selector_matches(selector: &LabelMap, labels: &LabelMap) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// An inverted index over label sets: `(key, value)` to the ascending positions that carry it.
#[derive(Default)]
pub struct LabelIndex {
    len: usize,
    postings: HashMap<(String, String), Vec<usize>>,
}

impl LabelIndex {
    /// Index label sets; a set's position in the iterator is its id.
    pub fn new<'a>(sets: impl IntoIterator<Item = &'a LabelMap>) -> LabelIndex {
        let mut index = LabelIndex::default();
        for (id, labels) in sets.into_iter().enumerate() {
            for (k, v) in labels {
                index
                    .postings
                    .entry((k.clone(), v.clone()))
                    .or_default()
                    .push(id);
            }
            index.len = id + 1;
        }
        index
    }

    /// Ids of the label sets `selector` matches, ascending.
    pub fn matching(&self, selector: &LabelMap) -> Vec<usize> {
        if selector.is_empty() {
            return (0..self.len).collect();
        }
        let mut lists = Vec::with_capacity(selector.len());
        for (k, v) in selector {
            match self.postings.get(&(k.clone(), v.clone())) {
                Some(list) => lists.push(list.as_slice()),
                None => return Vec::new(),
            }
        }
        lists.sort_by_key(|l| l.len());
        let (first, rest) = lists
            .split_first()
            .map_or((&[][..], &[][..]), |(f, r)| (*f, r));
        first
            .iter()
            .copied()
            .filter(|id| rest.iter().all(|l| l.binary_search(id).is_ok()))
            .collect()
    }

    /// Does `selector` match any indexed label set?
    pub fn any_match(&self, selector: &LabelMap) -> bool {
        if selector.is_empty() {
            return self.len > 0;
        }
        !self.matching(selector).is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> LabelMap {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn index_intersects_postings() {
        let sets = [
            map(&[("app", "orders"), ("version", "v1")]),
            map(&[("app", "orders"), ("version", "v2")]),
            map(&[("app", "kitchen")]),
        ];
        let index = LabelIndex::new(&sets);
        assert_eq!(index.matching(&map(&[("app", "orders")])), vec![0, 1]);
        assert_eq!(
            index.matching(&map(&[("app", "orders"), ("version", "v2")])),
            vec![1]
        );
        assert!(index.matching(&map(&[("app", "payments")])).is_empty());
        assert_eq!(index.matching(&LabelMap::new()), vec![0, 1, 2]);
        assert!(!LabelIndex::new(&[]).any_match(&LabelMap::new()));
    }

    #[test]
    fn selector_text_is_sorted() {
        let s = map(&[("zone", "a"), ("app", "orders")]);
        assert_eq!(selector_string(&s), "app=orders,zone=a");
        assert_eq!(selector_string(&LabelMap::new()), "");
    }
}
