//! Istio's validation: the `Problems` a check collects, and reading fields as Istio's JSON decoding
//! does (`camelCase` or `snake_case` names, nulls as absent, numbers possibly quoted).

use mspack_yaml::Node;

/// Problems found, each with the node it is about: errors (IST0106) and warnings (IST0133).
#[derive(Default)]
pub(crate) struct Problems<'a> {
    pub items: Vec<(&'a Node, String)>,
    pub warnings: Vec<(&'a Node, String)>,
    /// Istio drops the warnings of some nested checks (it joins their results as plain errors);
    /// while set, warnings are not recorded.
    pub(crate) quiet: bool,
}

impl<'a> Problems<'a> {
    pub(crate) fn new() -> Problems<'a> {
        Problems::default()
    }

    pub(crate) fn add(&mut self, node: &'a Node, message: impl Into<String>) {
        self.items.push((node, message.into()));
    }

    pub(crate) fn add_err(&mut self, node: &'a Node, result: Result<(), String>) {
        if let Err(message) = result {
            self.add(node, message);
        }
    }

    pub(crate) fn warn(&mut self, node: &'a Node, message: impl Into<String>) {
        if !self.quiet {
            self.warnings.push((node, message.into()));
        }
    }

    /// Run `check` with warnings dropped, as Istio does where it keeps only a check's errors.
    pub(crate) fn errors_only(&mut self, check: impl FnOnce(&mut Problems<'a>)) {
        let saved = std::mem::replace(&mut self.quiet, true);
        check(self);
        self.quiet = saved;
    }
}

// ---------------------------------------------------------------------------------------------
// Reading fields as Istio's JSON decoding does: both `camelCase` and `snake_case` names, nulls
// as absent, numbers possibly quoted.

/// Is `key` the `snake_case` spelling of the `camelCase` `name`? Compared in place: field
/// lookups are the hot path of validation and most of them are for absent fields.
pub(crate) fn is_snake_of(key: &str, name: &str) -> bool {
    let mut k = key.bytes();
    for c in name.bytes() {
        if c.is_ascii_uppercase() {
            if k.next() != Some(b'_') || k.next() != Some(c.to_ascii_lowercase()) {
                return false;
            }
        } else if k.next() != Some(c) {
            return false;
        }
    }
    k.next().is_none()
}

/// A field of a message, `None` when absent or null.
/// The first key spelled `name` wins, else the first spelled in `snake_case`; one pass over the
/// entries (the two spellings differ in length when `name` has capitals).
pub(crate) fn field<'a>(node: &'a Node, name: &str) -> Option<&'a Node> {
    let capitals = name.bytes().filter(u8::is_ascii_uppercase).count();
    let snake_len = name.len() + capitals;
    let mut snake = None;
    for (key, _, value) in node.entries() {
        if key == name {
            return Some(value).filter(|n| !n.is_null());
        }
        if capitals > 0 && snake.is_none() && key.len() == snake_len && is_snake_of(key, name) {
            snake = Some(value);
        }
    }
    snake.filter(|n| !n.is_null())
}

/// A string field; empty when absent.
pub(crate) fn text<'a>(node: &'a Node, name: &str) -> &'a str {
    field(node, name).and_then(Node::as_str).unwrap_or("")
}

/// An integer field (plain or quoted); 0 when absent.
pub(crate) fn int(node: &Node, name: &str) -> i64 {
    field(node, name).map(int_value).unwrap_or(0)
}

pub(crate) fn int_value(node: &Node) -> i64 {
    node.as_i64()
        .or_else(|| node.as_str().and_then(|s| s.trim().parse().ok()))
        .unwrap_or(0)
}

pub(crate) fn float_value(node: &Node) -> f64 {
    node.as_f64()
        .or_else(|| node.as_str().and_then(|s| s.trim().parse().ok()))
        .unwrap_or(0.0)
}

/// Items of a list field (nothing when absent).
pub(crate) fn list<'a>(node: &'a Node, name: &str) -> &'a [Node] {
    field(node, name).and_then(Node::as_seq).unwrap_or(&[])
}

/// Entries of a map field (nothing when absent).
pub(crate) fn map_entries<'a>(node: &'a Node, name: &str) -> Vec<(&'a str, &'a Node, &'a Node)> {
    field(node, name)
        .map(|n| n.entries().collect())
        .unwrap_or_default()
}
