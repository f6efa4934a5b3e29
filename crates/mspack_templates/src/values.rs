//! Template values: each template declares its keys (kind, default, documentation); user input
//! from `--set key=value` and `--values file.yaml` is checked against them and turned into the
//! typed context the template renders with. Every error names the key.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use minijinja::Value;
use mspack_yaml::{Node, SourceFile, parse_file};

use crate::TemplateError;

/// What a value may hold. Each kind has one validator.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    /// A Kubernetes object name usable as a Service name: DNS-1035 label, at most 63 characters.
    Name,
    /// A namespace: DNS-1123 label.
    Namespace,
    /// A TCP port 1-65535 outside Istio's reserved 15000-15090.
    Port,
    /// An OCI image reference with a tag or digest (never `latest`).
    Image,
    /// A duration such as `500ms`, `10s`, `5m`, `1h`; `0s` only where `allow_zero`.
    Duration {
        allow_zero: bool,
    },
    /// A Kubernetes quantity such as `100m`, `128Mi`, `1`; empty when `optional`.
    Quantity {
        optional: bool,
    },
    /// An integer within bounds.
    Int {
        min: i64,
        max: i64,
    },
    /// A number within bounds (e.g. a sampling ratio).
    Float {
        min: f64,
        max: f64,
    },
    Bool,
    /// A user or group id: not 0 (root) and not 1337 (the Istio proxy's uid).
    Uid,
    /// A label value: at most 63 characters, alphanumerics with `-_.` inside; empty when `optional`.
    LabelValue {
        optional: bool,
    },
    /// An HTTP path starting with `/`.
    Path,
    /// An absolute `http(s)://` URL.
    Url,
    /// A connection URL for an environment variable (`nats://host:4222`, `postgres://...`,
    /// `sqlite:/path`): a scheme, then no whitespace, quotes or backslashes; empty: unset.
    ConnectionUrl,
    /// `host:port` without a scheme (gRPC endpoints).
    HostPort,
    /// A DNS domain such as `cluster.local`.
    Domain,
    /// An HTTP header name (lowercase token).
    HeaderName,
    /// An IPv4 or IPv6 CIDR block such as `10.0.0.0/16` (a NetworkPolicy `ipBlock`).
    Cidr,
    /// One of a fixed set of words.
    Enum(&'static [&'static str]),
    /// A list; each item checked as the inner kind.
    List(&'static Kind),
    /// An `exportTo` target: `.` (this namespace), `*` (all) or a namespace.
    ExportTarget,
    /// A `namespace/serviceaccount` pair (an Istio caller identity).
    Caller,
    /// `name:value` for a request header to add.
    HeaderPair,
    /// An HTTP method (upper case).
    Method,
    /// A comma-separated list of Envoy retry conditions.
    RetryOn,
}

/// One key a template accepts.
#[derive(Debug)]
pub struct ValueDef {
    pub key: &'static str,
    pub kind: Kind,
    /// The default, as text in the same syntax as `--set`; `{key}` refers to another value
    /// (resolved after the user's values). `None`: the value is required.
    pub default: Option<&'static str>,
    pub doc: &'static str,
}

/// Values given by the user, before validation: from `--values` files then `--set` (later wins).
#[derive(Clone, Debug, Default)]
pub struct RawValues {
    entries: BTreeMap<String, RawValue>,
}

#[derive(Clone, Debug, PartialEq)]
enum RawValue {
    Text(String),
    List(Vec<String>),
}

impl RawValues {
    pub fn new() -> RawValues {
        RawValues::default()
    }

    /// `key=value` as given to `--set`; a list is written `a,b,c` (or `[]` for an empty list).
    pub fn set(&mut self, assignment: &str) -> Result<(), TemplateError> {
        let (key, value) =
            assignment
                .split_once('=')
                .ok_or_else(|| TemplateError::InvalidAssignment {
                    assignment: assignment.to_owned(),
                })?;
        let key = key.trim();
        if key.is_empty() {
            return Err(TemplateError::InvalidAssignment {
                assignment: assignment.to_owned(),
            });
        }
        self.entries
            .insert(key.to_owned(), RawValue::Text(value.to_owned()));
        Ok(())
    }

    /// Insert one value programmatically (the scaffolder uses this).
    pub fn insert(&mut self, key: &str, value: impl Into<String>) {
        self.entries
            .insert(key.to_owned(), RawValue::Text(value.into()));
    }

    /// Insert a list value.
    pub fn insert_list(&mut self, key: &str, items: Vec<String>) {
        self.entries.insert(key.to_owned(), RawValue::List(items));
    }

    /// The text of a value as given, if any (lists joined by commas).
    pub fn get(&self, key: &str) -> Option<String> {
        self.entries.get(key).map(|v| match v {
            RawValue::Text(t) => t.clone(),
            RawValue::List(items) => items.join(","),
        })
    }

    /// Copy the entry `key` of `other` (a text or a list) into these values.
    pub fn copy_from(&mut self, other: &RawValues, key: &str) {
        if let Some(value) = other.entries.get(key) {
            self.entries.insert(key.to_owned(), value.clone());
        }
    }

    /// Keys given.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// Merge a YAML values file: a mapping of keys to scalars or sequences of scalars.
    pub fn merge_yaml(&mut self, path: &str, text: &str) -> Result<(), TemplateError> {
        let parsed = parse_file(
            Arc::new(SourceFile::new(path, text)),
            &mspack_yaml::Limits::default(),
        );
        let bad = |line: u32, message: String| TemplateError::ValuesFile {
            path: path.to_owned(),
            line,
            message,
        };
        if let Some(error) = parsed.error {
            return Err(bad(error.pos.line, error.message));
        }
        let Some(document) = parsed.documents.first() else {
            return Ok(());
        };
        if document.root.is_null() {
            return Ok(());
        }
        let Some(map) = document.root.as_map() else {
            return Err(bad(
                document.root.span.start.line,
                "a values file is a mapping of keys to values".to_owned(),
            ));
        };
        for (key, value) in map {
            let Some(key_text) = key.as_str() else {
                return Err(bad(key.span.start.line, "keys must be strings".to_owned()));
            };
            let raw = match value.as_seq() {
                Some(items) => {
                    let mut list = Vec::new();
                    for item in items {
                        list.push(scalar_text(item).ok_or_else(|| {
                            bad(
                                item.span.start.line,
                                format!("`{key_text}`: list items must be scalars"),
                            )
                        })?);
                    }
                    RawValue::List(list)
                }
                None => RawValue::Text(scalar_text(value).ok_or_else(|| {
                    bad(
                        value.span.start.line,
                        format!("`{key_text}` must be a scalar or a list of scalars"),
                    )
                })?),
            };
            self.entries.insert(key_text.to_owned(), raw);
        }
        Ok(())
    }
}

fn scalar_text(node: &Node) -> Option<String> {
    node.scalar().map(|s| s.text.to_string())
}

/// Validated values, ready to render: typed values by key.
#[derive(Clone, Debug)]
pub struct Values {
    pub(crate) map: BTreeMap<String, Value>,
    /// The effective text of every value (user input or default), for `.mspack/answers.toml`.
    pub(crate) texts: BTreeMap<String, String>,
}

impl Values {
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.map.get(key)
    }

    /// The effective value of `key` as text (lists comma-separated).
    pub fn text(&self, key: &str) -> Option<&str> {
        self.texts.get(key).map(String::as_str)
    }

    /// Every key with its effective text.
    pub fn texts(&self) -> &BTreeMap<String, String> {
        &self.texts
    }

    pub(crate) fn insert(&mut self, key: &str, value: Value) {
        self.map.insert(key.to_owned(), value);
    }
}

/// Check `raw` against `defs`: unknown keys, missing required keys and invalid values are errors
/// that name the key.
pub fn resolve(
    template: &str,
    defs: &[ValueDef],
    raw: &RawValues,
) -> Result<Values, TemplateError> {
    for key in raw.keys() {
        if !defs.iter().any(|d| d.key == key) {
            let known: Vec<&str> = defs.iter().map(|d| d.key).collect();
            return Err(TemplateError::UnknownKey {
                template: template.to_owned(),
                key: key.to_owned(),
                suggestion: closest(key, &known),
            });
        }
    }
    let mut texts: BTreeMap<String, RawValue> = BTreeMap::new();
    for def in defs {
        if let Some(v) = raw.entries.get(def.key) {
            texts.insert(def.key.to_owned(), v.clone());
        }
    }
    // Defaults may refer to other values; resolve them after the user's, in declaration order.
    for def in defs {
        if texts.contains_key(def.key) {
            continue;
        }
        let Some(default) = def.default else {
            return Err(TemplateError::MissingValue {
                template: template.to_owned(),
                key: def.key.to_owned(),
            });
        };
        let text = interpolate(default, &texts);
        let value = match def.kind {
            Kind::List(_) => RawValue::List(split_list(&text)),
            _ => RawValue::Text(text),
        };
        texts.insert(def.key.to_owned(), value);
    }
    let mut values = Values {
        map: BTreeMap::new(),
        texts: BTreeMap::new(),
    };
    for def in defs {
        let raw = texts
            .get(def.key)
            .cloned()
            .unwrap_or(RawValue::Text(String::new()));
        let value = check(def.key, def.kind, &raw)?;
        let text = match (&raw, def.kind) {
            (RawValue::Text(t), Kind::List(_)) => split_list(t).join(","),
            (RawValue::Text(t), _) => t.trim().to_owned(),
            (RawValue::List(items), _) => items.join(","),
        };
        values.map.insert(def.key.to_owned(), value);
        values.texts.insert(def.key.to_owned(), text);
    }
    Ok(values)
}

fn interpolate(default: &str, texts: &BTreeMap<String, RawValue>) -> String {
    let mut out = String::new();
    let mut rest = default;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        match after.find('}') {
            Some(end) => {
                let key = &after[..end];
                match texts.get(key) {
                    Some(RawValue::Text(t)) => out.push_str(t),
                    Some(RawValue::List(items)) => out.push_str(&items.join(",")),
                    None => {
                        out.push('{');
                        out.push_str(key);
                        out.push('}');
                    }
                }
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

fn split_list(text: &str) -> Vec<String> {
    let text = text.trim();
    if text.is_empty() || text == "[]" {
        return Vec::new();
    }
    text.split(',').map(|s| s.trim().to_owned()).collect()
}

fn invalid(key: &str, value: &str, reason: impl Into<String>) -> TemplateError {
    TemplateError::InvalidValue {
        key: key.to_owned(),
        value: value.to_owned(),
        reason: reason.into(),
    }
}

/// Validate one value and convert it to its template type.
fn check(key: &str, kind: Kind, raw: &RawValue) -> Result<Value, TemplateError> {
    let text = match raw {
        RawValue::Text(t) => t.trim().to_owned(),
        RawValue::List(items) => {
            let Kind::List(inner) = kind else {
                return Err(invalid(
                    key,
                    &items.join(","),
                    "expected a single value, not a list",
                ));
            };
            return check_list(key, *inner, items);
        }
    };
    let text = text.as_str();
    match kind {
        Kind::List(inner) => check_list(key, *inner, &split_list(text)),
        Kind::Name => {
            dns_label(text, true).map_err(|r| invalid(key, text, r))?;
            Ok(Value::from(text))
        }
        Kind::Namespace => {
            dns_label(text, false).map_err(|r| invalid(key, text, r))?;
            Ok(Value::from(text))
        }
        Kind::Port => Ok(Value::from(port(text).map_err(|r| invalid(key, text, r))?)),
        Kind::Image => {
            image(text).map_err(|r| invalid(key, text, r))?;
            Ok(Value::from(text))
        }
        Kind::Duration { allow_zero } => {
            let ms = duration_ms(text).map_err(|r| invalid(key, text, r))?;
            if ms == 0 && !allow_zero {
                return Err(invalid(key, text, "must be longer than zero"));
            }
            Ok(Value::from(text))
        }
        Kind::Quantity { optional } => {
            if text.is_empty() && optional {
                return Ok(Value::from(""));
            }
            quantity(text).map_err(|r| invalid(key, text, r))?;
            Ok(Value::from(text))
        }
        Kind::Int { min, max } => {
            let n: i64 = text
                .parse()
                .map_err(|_| invalid(key, text, "expected a whole number"))?;
            if n < min || n > max {
                return Err(invalid(
                    key,
                    text,
                    format!("must be between {min} and {max}"),
                ));
            }
            Ok(Value::from(n))
        }
        Kind::Float { min, max } => {
            let n: f64 = text
                .parse()
                .map_err(|_| invalid(key, text, "expected a number"))?;
            if !(min..=max).contains(&n) {
                return Err(invalid(
                    key,
                    text,
                    format!("must be between {min} and {max}"),
                ));
            }
            Ok(Value::from(n))
        }
        Kind::Bool => match text {
            "true" => Ok(Value::from(true)),
            "false" => Ok(Value::from(false)),
            _ => Err(invalid(key, text, "expected true or false")),
        },
        Kind::Uid => {
            let n: i64 = text
                .parse()
                .map_err(|_| invalid(key, text, "expected a numeric user id"))?;
            match n {
                0 => Err(invalid(
                    key,
                    text,
                    "0 is root; run as a non-root user such as 65532",
                )),
                1337 => Err(invalid(
                    key,
                    text,
                    "1337 is the Istio sidecar's uid: its traffic would bypass the proxy",
                )),
                n if !(1..=2_147_483_647).contains(&n) => {
                    Err(invalid(key, text, "must be between 1 and 2147483647"))
                }
                n => Ok(Value::from(n)),
            }
        }
        Kind::LabelValue { optional } => {
            if text.is_empty() {
                return if optional {
                    Ok(Value::from(""))
                } else {
                    Err(invalid(key, text, "must not be empty"))
                };
            }
            label_value(text).map_err(|r| invalid(key, text, r))?;
            Ok(Value::from(text))
        }
        Kind::Path => {
            if !text.starts_with('/')
                || text
                    .bytes()
                    .any(|b| b.is_ascii_whitespace() || b == b'"' || b == b'\'' || b == b'#')
            {
                return Err(invalid(key, text, "expected an HTTP path such as /livez"));
            }
            Ok(Value::from(text))
        }
        Kind::Url => {
            let rest = text
                .strip_prefix("http://")
                .or_else(|| text.strip_prefix("https://"))
                .ok_or_else(|| invalid(key, text, "expected an http:// or https:// URL"))?;
            if rest.is_empty() || rest.bytes().any(|b| b.is_ascii_whitespace() || b == b'"') {
                return Err(invalid(key, text, "expected an http:// or https:// URL"));
            }
            Ok(Value::from(text))
        }
        Kind::ConnectionUrl => {
            if text.is_empty() {
                return Ok(Value::from(""));
            }
            let scheme_ok = text.split_once(':').is_some_and(|(scheme, rest)| {
                !rest.is_empty()
                    && scheme.starts_with(|c: char| c.is_ascii_lowercase())
                    && scheme
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+.-".contains(c))
            });
            if !scheme_ok
                || text
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || "\"'\\".contains(c))
            {
                return Err(invalid(
                    key,
                    text,
                    "expected a connection URL such as nats://nats:4222 (no spaces or quotes)",
                ));
            }
            Ok(Value::from(text))
        }
        Kind::HostPort => {
            if text.contains("://") {
                return Err(invalid(key, text, "write host:port without a scheme"));
            }
            let (host, p) = text
                .rsplit_once(':')
                .ok_or_else(|| invalid(key, text, "expected host:port"))?;
            dns_domain(host).map_err(|r| invalid(key, text, r))?;
            port_number(p).map_err(|r| invalid(key, text, r))?;
            Ok(Value::from(text))
        }
        Kind::Domain => {
            dns_domain(text).map_err(|r| invalid(key, text, r))?;
            Ok(Value::from(text))
        }
        Kind::HeaderName => {
            header_name(text).map_err(|r| invalid(key, text, r))?;
            Ok(Value::from(text))
        }
        Kind::Cidr => {
            cidr(text).map_err(|r| invalid(key, text, r))?;
            Ok(Value::from(text))
        }
        Kind::Enum(words) => {
            if words.contains(&text) {
                Ok(Value::from(text))
            } else {
                Err(invalid(
                    key,
                    text,
                    format!("expected one of: {}", words.join(", ")),
                ))
            }
        }
        Kind::ExportTarget => {
            if text != "." && text != "*" {
                dns_label(text, false).map_err(|r| {
                    invalid(key, text, format!("expected ., * or a namespace: {r}"))
                })?;
            }
            Ok(Value::from(text))
        }
        Kind::Caller => {
            let (ns, sa) = text
                .split_once('/')
                .ok_or_else(|| invalid(key, text, "expected namespace/serviceaccount"))?;
            dns_label(ns, false).map_err(|r| invalid(key, text, format!("namespace: {r}")))?;
            dns_subdomain(sa).map_err(|r| invalid(key, text, format!("service account: {r}")))?;
            Ok(Value::from(text))
        }
        Kind::HeaderPair => {
            let (name, value) = text
                .split_once(':')
                .ok_or_else(|| invalid(key, text, "expected header-name:value"))?;
            header_name(name.trim()).map_err(|r| invalid(key, text, r))?;
            if value.bytes().any(|b| b.is_ascii_control()) {
                return Err(invalid(
                    key,
                    text,
                    "header values cannot hold control characters",
                ));
            }
            Ok(Value::from(vec![
                Value::from(name.trim()),
                Value::from(value.trim()),
            ]))
        }
        Kind::Method => {
            const METHODS: &[&str] = &[
                "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE",
            ];
            if METHODS.contains(&text) {
                Ok(Value::from(text))
            } else {
                Err(invalid(
                    key,
                    text,
                    format!("expected one of: {}", METHODS.join(", ")),
                ))
            }
        }
        Kind::RetryOn => {
            for part in text.split(',') {
                // The same test as the linter's (Istio's validation), so a value accepted here
                // never renders a VirtualService that IST0106 rejects.
                if !mspack_lint::retry_on_policy_is_valid(part) {
                    return Err(invalid(
                        key,
                        text,
                        format!("`{part}` is not an Envoy retry condition or HTTP status code"),
                    ));
                }
            }
            Ok(Value::from(text))
        }
    }
}

fn check_list(key: &str, inner: Kind, items: &[String]) -> Result<Value, TemplateError> {
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let item_key = format!("{key}[{i}]");
        out.push(check(&item_key, inner, &RawValue::Text(item.clone()))?);
    }
    Ok(Value::from(out))
}

/// A DNS-1123 label (`service = true`: DNS-1035, which Service names need: starts with a letter).
pub fn dns_label(text: &str, service: bool) -> Result<(), String> {
    if service {
        mspack_model::names::dns1035_label(text)
    } else {
        mspack_model::names::dns1123_label(text)
    }
}

fn dns_subdomain(text: &str) -> Result<(), String> {
    mspack_model::names::dns1123_subdomain(text)
}

/// `address/prefix` with an IPv4 (prefix 0-32) or IPv6 (0-128) address.
fn cidr(text: &str) -> Result<(), String> {
    let expected = || "expected a CIDR block such as 10.0.0.0/16".to_owned();
    let (address, prefix) = text.split_once('/').ok_or_else(expected)?;
    let address: std::net::IpAddr = address.parse().map_err(|_| expected())?;
    let prefix: u8 = prefix.parse().map_err(|_| expected())?;
    let max = if address.is_ipv4() { 32 } else { 128 };
    if prefix > max {
        return Err(format!("the prefix of {address} is at most {max}"));
    }
    Ok(())
}

fn dns_domain(text: &str) -> Result<(), String> {
    if text.is_empty() || text.starts_with('.') || text.ends_with('.') {
        return Err("expected a DNS name such as cluster.local".into());
    }
    dns_subdomain(text)
}

fn port_number(text: &str) -> Result<u16, String> {
    let n: u32 = text
        .parse()
        .map_err(|_| "expected a port number 1-65535".to_owned())?;
    if !(1..=65535).contains(&n) {
        return Err("must be between 1 and 65535".into());
    }
    Ok(n as u16)
}

/// A port the workload may listen on: 1-65535 and not Istio's reserved 15000-15090.
pub fn port(text: &str) -> Result<u16, String> {
    let n = port_number(text)?;
    if (15000..=15090).contains(&n) {
        return Err("15000-15090 are reserved for the Istio sidecar".into());
    }
    Ok(n)
}

fn label_value(text: &str) -> Result<(), String> {
    if text.len() > 63 {
        return Err(format!(
            "is {} characters; a label value holds at most 63",
            text.len()
        ));
    }
    let ok_inner = text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    let bytes = text.as_bytes();
    let ends_ok = bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric);
    if !ok_inner || !ends_ok {
        return Err("a label value holds letters, digits, '-', '_' and '.', and starts and ends with a letter or digit".into());
    }
    Ok(())
}

fn header_name(text: &str) -> Result<(), String> {
    if text.is_empty()
        || !text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err("expected a lowercase HTTP header name such as x-variant".into());
    }
    Ok(())
}

/// `10s`, `500ms`, `1m30s`, `1h`: Go's duration syntax (as Istio reads it) restricted to whole
/// numbers of `h`, `m`, `s` and `ms`, which every consumer of the rendered files reads alike.
pub fn duration_ms(text: &str) -> Result<u64, String> {
    let simple = text
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'h' | b'm' | b's'))
        && text.bytes().last().is_some_and(|b| !b.is_ascii_digit());
    simple
        .then(|| mspack_model::duration::whole_millis(text))
        .flatten()
        .ok_or_else(|| format!("expected a duration such as 500ms, 10s or 5m, not {text:?}"))
}

/// A Kubernetes resource quantity: a decimal number with an optional suffix.
pub fn quantity(text: &str) -> Result<f64, String> {
    const SUFFIXES: &[(&str, f64)] = &[
        ("Ki", 1024.0),
        ("Mi", 1_048_576.0),
        ("Gi", 1_073_741_824.0),
        ("Ti", 1_099_511_627_776.0),
        ("m", 0.001),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
    ];
    let (number, scale) = SUFFIXES
        .iter()
        .find_map(|(s, scale)| text.strip_suffix(s).map(|n| (n, *scale)))
        .unwrap_or((text, 1.0));
    let valid = !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && number.bytes().filter(|b| *b == b'.').count() <= 1;
    let n: f64 = number
        .parse()
        .ok()
        .filter(|_| valid)
        .ok_or_else(|| format!("expected a quantity such as 100m, 128Mi or 1, not {text:?}"))?;
    if n <= 0.0 {
        return Err("must be greater than zero".into());
    }
    Ok(n * scale)
}

/// `[registry[:port]/]path[:tag][@sha256:<64 hex>]`, lowercase path, a tag or a digest, no `latest`.
pub fn image(text: &str) -> Result<(), String> {
    if text.is_empty() || text.bytes().any(|b| b.is_ascii_whitespace()) {
        return Err("expected an image reference such as ghcr.io/acme/orders:1.4.2".into());
    }
    let (name_tag, digest) = match text.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (text, None),
    };
    if let Some(digest) = digest {
        let hex = digest
            .strip_prefix("sha256:")
            .ok_or("a digest is written @sha256:<64 hex digits>")?;
        if hex.len() != 64
            || !hex
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        {
            return Err("a digest is written @sha256:<64 lowercase hex digits>".into());
        }
    }
    let last_slash = name_tag.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match name_tag[last_slash..].rfind(':') {
        Some(i) => (
            &name_tag[..last_slash + i],
            Some(&name_tag[last_slash + i + 1..]),
        ),
        None => (name_tag, None),
    };
    let mut components = name.split('/').collect::<Vec<_>>();
    if components.len() > 1
        && (components[0].contains('.')
            || components[0].contains(':')
            || components[0] == "localhost")
    {
        components.remove(0);
    }
    for component in components {
        let ok = !component.is_empty()
            && component.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
            })
            && component.as_bytes()[0].is_ascii_alphanumeric();
        if !ok {
            return Err(format!(
                "image path component {component:?} must be lowercase letters, digits and . _ -"
            ));
        }
    }
    match (tag, digest) {
        (Some("latest"), _) => {
            Err("`latest` is not a version; pin a tag such as 1.4.2 or a digest".into())
        }
        (None, None) => Err("pin a tag (name:1.4.2) or a digest (name@sha256:...)".into()),
        (Some(tag), _)
            if tag.is_empty()
                || tag.len() > 128
                || !tag
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')) =>
        {
            Err(format!(
                "tag {tag:?} may hold letters, digits, '.', '_' and '-' (at most 128)"
            ))
        }
        _ => Ok(()),
    }
}

/// `true` when the image is pinned by digest.
pub fn has_digest(image: &str) -> bool {
    image.contains("@sha256:")
}

/// The closest known key, for "did you mean".
fn closest(key: &str, known: &[&str]) -> Option<String> {
    known
        .iter()
        .map(|k| (edit_distance(key, k), *k))
        .filter(|(d, _)| *d <= 2.max(key.len() / 4))
        .min()
        .map(|(_, k)| k.to_owned())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// Documentation of a template's values, as `--help-values` prints it.
pub fn describe(template: &str, summary: &str, defs: &[ValueDef]) -> String {
    let mut out =
        format!("{template}: {summary}\n\nvalues (--set key=value, or --values file.yaml):\n");
    let width = defs.iter().map(|d| d.key.len()).max().unwrap_or(0);
    for def in defs {
        let default = match def.default {
            Some("") => "(empty)".to_owned(),
            Some(d) => d.to_owned(),
            None => "required".to_owned(),
        };
        let _ = writeln!(out, "  {:width$}  {}", def.key, def.doc);
        let _ = writeln!(
            out,
            "  {:width$}  [{}; default: {default}]",
            "",
            kind_name(def.kind)
        );
    }
    out
}

fn kind_name(kind: Kind) -> String {
    match kind {
        Kind::Name => "DNS-1035 name".into(),
        Kind::Namespace => "DNS-1123 label".into(),
        Kind::Port => "port 1-65535, not 15000-15090".into(),
        Kind::Image => "image reference with tag or digest".into(),
        Kind::Duration { .. } => "duration".into(),
        Kind::Quantity { .. } => "quantity".into(),
        Kind::Int { min, max } => format!("integer {min}-{max}"),
        Kind::Float { min, max } => format!("number {min}-{max}"),
        Kind::Bool => "true|false".into(),
        Kind::Uid => "uid, not 0 or 1337".into(),
        Kind::LabelValue { .. } => "label value".into(),
        Kind::Path => "HTTP path".into(),
        Kind::Url => "http(s) URL".into(),
        Kind::ConnectionUrl => "connection URL (scheme:...), or empty".into(),
        Kind::HostPort => "host:port".into(),
        Kind::Domain => "DNS domain".into(),
        Kind::HeaderName => "header name".into(),
        Kind::Cidr => "CIDR block".into(),
        Kind::Enum(words) => words.join("|"),
        Kind::List(inner) => format!("comma-separated list of {}", kind_name(*inner)),
        Kind::ExportTarget => "., * or a namespace".into(),
        Kind::Caller => "namespace/serviceaccount".into(),
        Kind::HeaderPair => "name:value".into(),
        Kind::Method => "HTTP method".into(),
        Kind::RetryOn => "Envoy retry conditions".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_dns_rules() {
        assert!(dns_label("orders", true).is_ok());
        assert!(dns_label("Orders", true).is_err());
        assert!(dns_label("1orders", true).is_err());
        assert!(dns_label("1orders", false).is_ok());
        assert!(dns_label("orders-", true).is_err());
        assert!(dns_label(&"a".repeat(64), true).is_err());
        assert!(dns_label("a_b", true).is_err());
    }

    #[test]
    fn cidr_blocks_parse() {
        assert!(cidr("10.0.0.0/16").is_ok());
        assert!(cidr("192.168.1.7/32").is_ok());
        assert!(cidr("fd00::/64").is_ok());
        assert!(cidr("10.0.0.0").is_err());
        assert!(cidr("10.0.0.0/33").is_err());
        assert!(cidr("fd00::/129").is_err());
        assert!(cidr("nodes/8").is_err());
    }

    #[test]
    fn istio_reserved_ports_are_refused() {
        assert!(port("8080").is_ok());
        assert!(port("15000").is_err());
        assert!(port("15090").is_err());
        assert!(port("15091").is_ok());
        assert!(port("0").is_err());
        assert!(port("65536").is_err());
    }

    #[test]
    fn connection_urls_are_checked_and_empty_means_unset() {
        let check_url = |text: &str| {
            check(
                "database_url",
                Kind::ConnectionUrl,
                &RawValue::Text(text.into()),
            )
        };
        for good in [
            "",
            "nats://nats.messaging.svc.cluster.local:4222",
            "sqlite:/tmp/orders.db",
            "postgres://orders@postgres.food.svc:5432/orders?sslmode=require",
        ] {
            assert!(check_url(good).is_ok(), "{good} refused");
        }
        for bad in [
            "nats",
            ":4222",
            "NATS://x:4222",
            "nats://a b:4222",
            "postgres://h/d\"",
            "postgres://h/d'",
            "sqlite:",
            "nats://x\ty:4222",
        ] {
            let err = check_url(bad).err().map(|e| e.to_string());
            assert!(
                err.as_ref().is_some_and(|e| e.contains("`database_url`")),
                "{bad:?}: {err:?}"
            );
        }
    }

    #[test]
    fn durations_parse() {
        assert_eq!(duration_ms("500ms"), Ok(500));
        assert_eq!(duration_ms("1m30s"), Ok(90_000));
        assert!(duration_ms("10").is_err());
        assert!(duration_ms("1.5s").is_err());
        assert!(duration_ms("").is_err());
    }

    #[test]
    fn images_need_a_tag_or_digest() {
        assert!(image("ghcr.io/acme/orders:1.4.2").is_ok());
        assert!(image("localhost:5000/orders:1").is_ok());
        assert!(image(&format!("orders@sha256:{}", "a".repeat(64))).is_ok());
        assert!(image("orders").is_err());
        assert!(image("orders:latest").is_err());
        assert!(image("Orders:1").is_err());
        assert!(image("orders@sha256:abc").is_err());
    }

    #[test]
    fn uid_1337_and_root_are_refused() {
        let raw = RawValue::Text("1337".into());
        let err = check("run_as_user", Kind::Uid, &raw)
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("run_as_user") && e.contains("sidecar")));
        assert!(check("run_as_user", Kind::Uid, &RawValue::Text("0".into())).is_err());
    }

    #[test]
    fn quantities_parse() {
        assert_eq!(quantity("128Mi"), Ok(134_217_728.0));
        assert_eq!(quantity("100m"), Ok(0.1));
        assert!(quantity("lots").is_err());
        assert!(quantity("0").is_err());
    }

    #[test]
    fn unknown_keys_suggest_the_closest() {
        let defs = [ValueDef {
            key: "namespace",
            kind: Kind::Namespace,
            default: Some("food"),
            doc: "",
        }];
        let mut raw = RawValues::new();
        raw.insert("namespce", "x");
        let err = resolve("t", &defs, &raw).err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("namespce") && e.contains("namespace")));
    }

    #[test]
    fn defaults_refer_to_other_values() {
        let defs = [
            ValueDef {
                key: "name",
                kind: Kind::Name,
                default: None,
                doc: "",
            },
            ValueDef {
                key: "image",
                kind: Kind::Image,
                default: Some("{name}:0.1.0"),
                doc: "",
            },
        ];
        let mut raw = RawValues::new();
        raw.insert("name", "orders");
        let values = resolve("t", &defs, &raw).ok();
        assert_eq!(
            values.as_ref().and_then(|v| v.text("image")),
            Some("orders:0.1.0")
        );
    }

    #[test]
    fn values_files_give_lists_and_scalars() {
        let mut raw = RawValues::new();
        let ok = raw.merge_yaml("v.yaml", "name: orders\ncallers: [shop/web, shop/api]\n");
        assert!(ok.is_ok());
        assert_eq!(raw.get("callers").as_deref(), Some("shop/web,shop/api"));
        let err = raw
            .merge_yaml("v.yaml", "name: {a: 1}\n")
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("v.yaml:1")));
    }
}
