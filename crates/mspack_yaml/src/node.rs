//! The YAML tree: nodes with spans, scalar styles kept, and typed accessors with Kubernetes'
//! (YAML 1.1) reading of plain scalars.

use compact_str::CompactString;

use crate::source::Span;

/// How a scalar was written. Kubernetes reads plain `yes`/`on` as booleans (YAML 1.1), so rules
/// that care about such traps need to know whether a value was quoted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    Literal,
    Folded,
}

/// A scalar's text (after unescaping) and how it was written.
#[derive(Clone, Debug, PartialEq)]
pub struct Scalar {
    /// Inline up to 24 bytes (most scalars of a manifest), so a scalar costs no allocation.
    pub text: CompactString,
    pub style: Style,
    /// An explicit tag of YAML's core schema (`!!str`, `!!int`, ...), as far as it changes how
    /// the scalar reads. A byte, not the tag's text: a node stays at 48 bytes.
    pub tag: Tag,
}

/// What an explicit tag says about a scalar. Tags outside YAML's core schema (`!Ref`, `!custom`)
/// do not change how a scalar reads, so they are [`Tag::None`], as no tag is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tag {
    None,
    Null,
    Bool,
    Int,
    Float,
    Str,
    /// Another tag of the core schema's namespace (`!!binary`, `!!timestamp`, `!!seq`...).
    OtherCore,
}

impl Tag {
    /// The tag written as handle + suffix (`tag:yaml.org,2002:str` for `!!str`).
    pub fn from_full(full: &str) -> Tag {
        match full.strip_prefix(TAG_PREFIX) {
            None => Tag::None,
            Some("null") => Tag::Null,
            Some("bool") => Tag::Bool,
            Some("int") => Tag::Int,
            Some("float") => Tag::Float,
            Some("str") => Tag::Str,
            Some(_) => Tag::OtherCore,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Scalar(Scalar),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

/// One YAML node and the source range it was read from.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub span: Span,
    pub value: Value,
}

/// One document of a (possibly multi-document) file.
#[derive(Clone, Debug)]
pub struct Document {
    /// 0-based index of the document in its file.
    pub index: usize,
    pub root: Node,
}

impl Node {
    /// A plain null scalar at `span` (used for empty values).
    pub fn null(span: Span) -> Node {
        Node {
            span,
            value: Value::Scalar(Scalar {
                text: CompactString::default(),
                style: Style::Plain,
                tag: Tag::None,
            }),
        }
    }

    pub fn scalar(&self) -> Option<&Scalar> {
        match &self.value {
            Value::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// `true` for an explicit or implicit null (`~`, `null`, an empty value).
    pub fn is_null(&self) -> bool {
        match &self.value {
            Value::Scalar(s) => s.is_null(),
            _ => false,
        }
    }

    /// The text of a non-null scalar, whatever its style; numbers and booleans come back as written.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar(s) if !s.is_null() => Some(&s.text),
            _ => None,
        }
    }

    /// The text of a scalar that Kubernetes would read as a string (quoted, block, or a plain scalar
    /// that is not a boolean, number or null).
    pub fn as_string_value(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar(s) if s.is_string() => Some(&s.text),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        self.scalar().and_then(Scalar::as_bool)
    }

    pub fn as_i64(&self) -> Option<i64> {
        self.scalar().and_then(Scalar::as_i64)
    }

    pub fn as_f64(&self) -> Option<f64> {
        self.scalar().and_then(Scalar::as_f64)
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.value {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// Items of a sequence; nothing for any other node (so absent lists iterate as empty).
    pub fn items(&self) -> std::slice::Iter<'_, Node> {
        self.as_seq().unwrap_or(&[]).iter()
    }

    /// Entries of a mapping whose keys are scalars, as `(key text, key node, value node)`.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &Node, &Node)> {
        self.as_map()
            .unwrap_or(&[])
            .iter()
            .filter_map(|(k, v)| k.scalar().map(|s| (s.text.as_str(), k, v)))
    }

    /// The value under a mapping key (the first occurrence).
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.get_entry(key).map(|(_, v)| v)
    }

    /// The key node and value node under a mapping key.
    pub fn get_entry(&self, key: &str) -> Option<(&Node, &Node)> {
        match &self.value {
            Value::Map(entries) => entries
                .iter()
                .find(|(k, _)| matches!(&k.value, Value::Scalar(s) if same_key(&s.text, key)))
                .map(|(k, v)| (k, v)),
            _ => None,
        }
    }

    /// Follow a path of mapping keys.
    pub fn path(&self, keys: &[&str]) -> Option<&Node> {
        keys.iter().try_fold(self, |node, key| node.get(key))
    }

    /// A non-null string under a path of keys.
    pub fn str_at(&self, keys: &[&str]) -> Option<&str> {
        self.path(keys).and_then(Node::as_str)
    }

    /// A short description of the node's type for messages (`string`, `mapping`, ...).
    pub fn type_name(&self) -> &'static str {
        match &self.value {
            Value::Scalar(s) if s.is_null() => "null",
            Value::Scalar(s) if s.as_bool().is_some() && s.style == Style::Plain => "boolean",
            Value::Scalar(s) if s.style == Style::Plain && s.as_f64().is_some() => "number",
            Value::Scalar(_) => "string",
            Value::Seq(_) => "sequence",
            Value::Map(_) => "mapping",
        }
    }

    /// Number of nodes in this subtree (this node included).
    pub fn count_nodes(&self) -> usize {
        let mut count = 0;
        let mut stack = vec![self];
        while let Some(node) = stack.pop() {
            count += 1;
            match &node.value {
                Value::Scalar(_) => {}
                Value::Seq(items) => stack.extend(items.iter()),
                Value::Map(entries) => {
                    for (k, v) in entries {
                        stack.push(k);
                        stack.push(v);
                    }
                }
            }
        }
        count
    }
}

/// Key comparison for the hot lookup path: mapping keys are short, and an inlined byte loop
/// beats a call into `memcmp` for them.
#[inline]
fn same_key(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

const TAG_PREFIX: &str = "tag:yaml.org,2002:";

impl Scalar {
    fn core_tag(&self) -> Option<&'static str> {
        match self.tag {
            Tag::None => None,
            Tag::Null => Some("null"),
            Tag::Bool => Some("bool"),
            Tag::Int => Some("int"),
            Tag::Float => Some("float"),
            Tag::Str => Some("str"),
            Tag::OtherCore => Some(""),
        }
    }

    pub fn is_null(&self) -> bool {
        if let Some(tag) = self.core_tag() {
            return tag == "null";
        }
        self.style == Style::Plain
            && matches!(self.text.as_str(), "" | "~" | "null" | "Null" | "NULL")
    }

    /// `true` when Kubernetes reads the scalar as a string.
    pub fn is_string(&self) -> bool {
        if let Some(tag) = self.core_tag() {
            return tag == "str";
        }
        self.style != Style::Plain
            || !(self.is_null() || self.as_bool().is_some() || self.as_f64().is_some())
    }

    /// Booleans as YAML 1.1 (which Kubernetes' YAML reader follows) reads plain scalars:
    /// `true/false`, `yes/no`, `on/off`, `y/n` in their usual capitalisations.
    pub fn as_bool(&self) -> Option<bool> {
        if self.style != Style::Plain && self.core_tag() != Some("bool") {
            return None;
        }
        match self.text.as_str() {
            "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "y" | "Y" => {
                Some(true)
            }
            "false" | "False" | "FALSE" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "n"
            | "N" => Some(false),
            _ => None,
        }
    }

    /// Integers: decimal with optional sign and `_` separators, `0x` hex, `0o` octal.
    pub fn as_i64(&self) -> Option<i64> {
        if self.style != Style::Plain && self.core_tag() != Some("int") {
            return None;
        }
        parse_int(&self.text)
    }

    pub fn as_f64(&self) -> Option<f64> {
        if self.style != Style::Plain && !matches!(self.core_tag(), Some("int" | "float")) {
            return None;
        }
        if let Some(i) = parse_int(&self.text) {
            return Some(i as f64);
        }
        let t = self.text.as_str();
        match t {
            ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Some(f64::INFINITY),
            "-.inf" | "-.Inf" | "-.INF" => return Some(f64::NEG_INFINITY),
            ".nan" | ".NaN" | ".NAN" => return Some(f64::NAN),
            _ => {}
        }
        let looks_numeric = t
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-' | b'_'))
            && t.bytes().any(|b| b.is_ascii_digit());
        if !looks_numeric {
            return None;
        }
        t.replace('_', "").parse().ok()
    }
}

fn parse_int(text: &str) -> Option<i64> {
    let (neg, rest) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if rest.is_empty() {
        return None;
    }
    let value = if let Some(hex) = rest.strip_prefix("0x") {
        i64::from_str_radix(hex, 16).ok()?
    } else if let Some(oct) = rest.strip_prefix("0o") {
        i64::from_str_radix(oct, 8).ok()?
    } else {
        if !rest.bytes().all(|b| b.is_ascii_digit() || b == b'_') || rest.starts_with('_') {
            return None;
        }
        rest.replace('_', "").parse::<i64>().ok()?
    };
    Some(if neg { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(text: &str) -> Scalar {
        Scalar {
            text: text.into(),
            style: Style::Plain,
            tag: Tag::None,
        }
    }

    /// The tree is most of a run's memory (about 70 nodes per resource): a node stays at 48 bytes.
    #[test]
    fn a_node_stays_small() {
        assert!(
            std::mem::size_of::<Node>() <= 48,
            "{}",
            std::mem::size_of::<Node>()
        );
    }

    #[test]
    fn plain_yes_is_a_boolean_but_quoted_yes_is_a_string() {
        assert_eq!(plain("yes").as_bool(), Some(true));
        assert!(!plain("on").is_string());
        let quoted = Scalar {
            style: Style::DoubleQuoted,
            ..plain("yes")
        };
        assert_eq!(quoted.as_bool(), None);
        assert!(quoted.is_string());
    }

    #[test]
    fn numbers_and_nulls_are_read_like_kubernetes() {
        assert_eq!(plain("8080").as_i64(), Some(8080));
        assert_eq!(plain("0x1F").as_i64(), Some(31));
        assert_eq!(plain("-3").as_i64(), Some(-3));
        assert_eq!(plain("1.5").as_f64(), Some(1.5));
        assert_eq!(plain("1.2.3").as_f64(), None);
        assert_eq!(plain("v1").as_i64(), None);
        assert!(plain("~").is_null());
        assert!(plain("").is_null());
        assert!(plain("reviews").is_string());
    }
}
