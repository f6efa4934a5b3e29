//! Field checks of a VirtualService as Istio's validation webhook makes them (the errors that
//! reject the resource), for the IST0106 rule in `vs_schema`. Each check reports the node it is
//! about; one finding per problem.

use std::collections::BTreeSet;

use mspack_yaml::{Node, Value};

use crate::refs::is_claim_header;
use crate::resource::Resource;

/// Problems found, each with the node it is about: errors (IST0106) and warnings (IST0133).
#[derive(Default)]
pub(crate) struct Problems<'a> {
    pub items: Vec<(&'a Node, String)>,
    pub warnings: Vec<(&'a Node, String)>,
    /// Istio drops the warnings of some nested checks (it joins their results as plain errors);
    /// while set, warnings are not recorded.
    quiet: bool,
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
fn is_snake_of(key: &str, name: &str) -> bool {
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
pub(crate) fn field<'a>(node: &'a Node, name: &str) -> Option<&'a Node> {
    node.get(name)
        .or_else(|| {
            if name.bytes().any(|c| c.is_ascii_uppercase()) {
                node.entries()
                    .find(|(k, _, _)| is_snake_of(k, name))
                    .map(|(_, _, v)| v)
            } else {
                None
            }
        })
        .filter(|n| !n.is_null())
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

// ---------------------------------------------------------------------------------------------
// Names and hosts.

/// RFC 1123 label as Istio checks it (letters of both cases, digits, inner dashes, ≤ 63).
pub(crate) fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
}

/// A label that may start with `*` or `*-` (or be `*` alone).
pub(crate) fn is_wildcard_dns1123_label(s: &str) -> bool {
    if s.len() > 63 {
        return false;
    }
    if s == "*" {
        return true;
    }
    let rest = s
        .strip_prefix("*-")
        .or_else(|| s.strip_prefix('*'))
        .unwrap_or(s);
    is_dns1123_label(rest)
}

pub(crate) fn dns_preconditions(name: &str) -> Result<(), String> {
    if name.len() > 255 {
        return Err(format!("domain name \"{name}\" is too long (max 255)"));
    }
    if name.is_empty() {
        return Err("empty domain name not allowed".into());
    }
    Ok(())
}

pub(crate) fn is_go_int(s: &str) -> bool {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

fn dns1123_labels(domain: &str) -> Result<(), String> {
    let parts: Vec<&str> = domain.split('.').collect();
    let tld = parts.last().copied().unwrap_or("");
    if is_go_int(tld) {
        return Err(format!(
            "domain name \"{domain}\" invalid (top level domain \"{tld}\" cannot be all-numeric)"
        ));
    }
    for (i, label) in parts.iter().enumerate() {
        if i == parts.len() - 1 && label.is_empty() {
            return Ok(());
        }
        if !is_dns1123_label(label) {
            return Err(format!(
                "domain name \"{domain}\" invalid (label \"{label}\" invalid)"
            ));
        }
    }
    Ok(())
}

/// A host that may start with a wildcard label.
pub(crate) fn wildcard_domain(domain: &str) -> Result<(), String> {
    dns_preconditions(domain)?;
    let (first, rest) = match domain.split_once('.') {
        Some((f, r)) => (f, Some(r)),
        None => (domain, None),
    };
    if !is_wildcard_dns1123_label(first) {
        return Err(format!(
            "domain name \"{domain}\" invalid (label \"{first}\" invalid)"
        ));
    }
    match rest {
        Some(rest) => dns1123_labels(rest),
        None => Ok(()),
    }
}

pub(crate) fn fqdn(name: &str) -> Result<(), String> {
    dns_preconditions(name)?;
    dns1123_labels(name)
}

pub(crate) fn is_ip(s: &str) -> bool {
    s.parse::<std::net::IpAddr>().is_ok()
}

pub(crate) fn port(number: i64) -> Result<(), String> {
    if (1..=65535).contains(&number) {
        Ok(())
    } else {
        Err(format!(
            "port number {number} must be in the range 1..65535"
        ))
    }
}

/// Gateway names: `name` (an FQDN-like name, checked for the first such entry only, as Istio
/// does) or `namespace/name`.
fn gateway_names<'a>(nodes: &'a [Node], gateway_semantics: bool, p: &mut Problems<'a>) {
    for node in nodes {
        let name = node.as_str().unwrap_or("");
        match name.split_once('/') {
            None => {
                if let Some((gw, rest)) = name.split_once('.') {
                    let ns = rest.split('.').next().unwrap_or("");
                    p.warn(
                        node,
                        format!(
                            "gateway reference \"{name}\" uses the legacy name.namespace form; write \"{ns}/{gw}\""
                        ),
                    );
                }
                p.add_err(node, fqdn(name));
                return;
            }
            Some((ns, gw)) => {
                if ns.is_empty() || gw.is_empty() {
                    p.add(node, "gateway namespace and name cannot be empty");
                }
                if !is_dns1123_label(ns) {
                    p.add(node, format!("invalid value for namespace: \"{ns}\""));
                }
                if !is_dns1123_label(gw) && !gateway_semantics {
                    p.add(node, format!("invalid value for gateway name: \"{gw}\""));
                }
            }
        }
    }
}

pub(crate) fn qualified_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// Kubernetes-style label keys and values (`sourceLabels`).
pub(crate) fn labels<'a>(node: Option<&'a Node>, p: &mut Problems<'a>) {
    let Some(node) = node else { return };
    for (key, key_node, value) in node.entries() {
        let (prefix, name) = match key.split_once('/') {
            Some((prefix, name)) => (Some(prefix), name),
            None => (None, key),
        };
        let prefix_ok = prefix.is_none_or(|pre| {
            pre.len() <= 253
                && pre.split('.').all(|l| {
                    let b = l.as_bytes();
                    !b.is_empty()
                        && b[0].is_ascii_alphanumeric()
                        && b[b.len() - 1].is_ascii_alphanumeric()
                        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
                })
        });
        if !prefix_ok || !qualified_name(name) || name.len() > 63 {
            p.add(key_node, format!("invalid label key: \"{key}\""));
        }
        let v = value.as_str().unwrap_or("");
        if !v.is_empty() && !qualified_name(v) {
            p.add(value, format!("invalid label value: \"{v}\""));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Durations: Go's duration syntax (`1.5s`, `300ms`, `1m30s`), at least 1ms, whole milliseconds.

/// Nanoseconds of a Go duration string, `None` when it does not parse.
pub(crate) fn parse_go_duration(s: &str) -> Option<i128> {
    let (negative, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let int_end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (int_part, after) = rest.split_at(int_end);
        let (frac_part, after) = match after.strip_prefix('.') {
            Some(a) => {
                let end = a.find(|c: char| !c.is_ascii_digit()).unwrap_or(a.len());
                a.split_at(end)
            }
            None => ("", after),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return None;
        }
        let unit_end = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_end);
        let scale: i128 = match unit {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return None,
        };
        let whole: i128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().ok()?
        };
        let mut value = whole.checked_mul(scale)?;
        let mut div: i128 = 1;
        let mut frac: i128 = 0;
        for d in frac_part.bytes().take(30) {
            frac = frac * 10 + i128::from(d - b'0');
            div *= 10;
        }
        value = value.checked_add(frac * scale / div)?;
        total = total.checked_add(value)?;
        if total > i128::from(i64::MAX) {
            return None;
        }
        rest = next;
    }
    Some(if negative { -total } else { total })
}

pub(crate) fn duration<'a>(node: &'a Node, p: &mut Problems<'a>) {
    let written = node.as_string_value().unwrap_or("");
    let Some(nanos) = parse_go_duration(written) else {
        p.add(
            node,
            format!(
                "invalid duration \"{}\": write a string such as \"1.5s\" or \"300ms\"",
                node.as_str().unwrap_or("")
            ),
        );
        return;
    };
    if nanos < 1_000_000 {
        p.add(node, "duration must be at least 1ms");
    } else if nanos % 1_000_000 != 0 {
        p.add(node, "only durations to ms precision are supported");
    }
}

// ---------------------------------------------------------------------------------------------
// Strings, regexes and headers.

pub(crate) fn regex(re: &str) -> Result<(), String> {
    if re.len() > 1024 {
        return Err("regex is too large, max length allowed is 1024".into());
    }
    // Rust's regex syntax is close to RE2's; where they differ, stay on the side of RE2:
    // `\Q...\E` quoting and a literal `{,n}` are RE2, repeat counts above 1000 are not.
    if re.contains(r"\Q") || re.contains("{,") {
        return Ok(());
    }
    if let Some(op) = stacked_repetition(re) {
        return Err(format!(
            "invalid regex \"{re}\": invalid nested repetition operator `{op}`; Istio uses RE2 syntax"
        ));
    }
    let counts_too_large = re.split('{').skip(1).any(|tail| {
        tail.split_once('}').is_some_and(|(inner, _)| {
            inner
                .split(',')
                .all(|n| n.is_empty() || n.bytes().all(|b| b.is_ascii_digit()))
                && inner
                    .split(',')
                    .any(|n| n.parse::<u64>().is_ok_and(|v| v > 1000))
        })
    });
    if counts_too_large {
        return Err(format!(
            "invalid regex \"{re}\": repeat count above 1000; Istio uses RE2 syntax"
        ));
    }
    regex::RegexBuilder::new(re)
        .size_limit(64 << 20)
        .build()
        .map(|_| ())
        .map_err(|e| {
            let first = e.to_string();
            let last = first.lines().last().unwrap_or("").trim();
            let first = last
                .strip_prefix("error:")
                .unwrap_or(last)
                .trim()
                .to_string();
            format!("invalid regex \"{re}\": {first}; Istio uses RE2 syntax")
        })
}

/// A repetition operator right after another (`a**`, `a++`, `a{2}*`): RE2 refuses to stack them
/// (a trailing `?` only makes the first lazy), where Rust's regex reads them as nested repeats.
fn stacked_repetition(re: &str) -> Option<String> {
    let b = re.as_bytes();
    let mut i = 0;
    // Where the last repetition operator started, when the previous token was one.
    let mut last: Option<usize> = None;
    while i < b.len() {
        let start = i;
        let repeat_end = match b[i] {
            b'*' | b'+' | b'?' => Some(i + 1),
            b'{' => {
                let close = re[i..].find('}').map(|j| i + j);
                close
                    .filter(|&c| {
                        let inner = &re[i + 1..c];
                        let mut parts = inner.splitn(2, ',');
                        let lo = parts.next().unwrap_or("");
                        !lo.is_empty()
                            && lo.bytes().all(|d| d.is_ascii_digit())
                            && parts
                                .next()
                                .is_none_or(|hi| hi.bytes().all(|d| d.is_ascii_digit()))
                    })
                    .map(|c| c + 1)
            }
            _ => None,
        };
        if let Some(mut end) = repeat_end {
            if let Some(prev) = last {
                return Some(re[prev..end].to_string());
            }
            if b.get(end) == Some(&b'?') {
                end += 1;
            }
            last = Some(start);
            i = end;
            continue;
        }
        last = None;
        match b[i] {
            b'\\' => {
                // The escaped character may be several bytes long.
                i += 1 + re[i + 1..].chars().next().map_or(0, char::len_utf8);
            }
            b'(' if b.get(i + 1) == Some(&b'?') => i += 2,
            b'[' => {
                // Skip the class; a `]` right after `[` or `[^` is a literal.
                let mut j = i + 1;
                if b.get(j) == Some(&b'^') {
                    j += 1;
                }
                if b.get(j) == Some(&b']') {
                    j += 1;
                }
                while j < b.len() && b[j] != b']' {
                    if b[j] == b'\\' {
                        j += 1;
                    } else if b[j] == b'[' && b.get(j + 1) == Some(&b':') {
                        j = re[j..].find(":]").map_or(j + 1, |k| j + k + 1);
                    }
                    j += 1;
                }
                i = j + 1;
            }
            _ => i += re[i..].chars().next().map_or(1, char::len_utf8),
        }
    }
    None
}

/// The match kind and value of a `StringMatch`, if it has one.
fn string_match_kind(node: &Node) -> Option<(&'static str, &Node)> {
    ["exact", "prefix", "regex"]
        .into_iter()
        .find_map(|k| node.get(k).filter(|v| !v.is_null()).map(|v| (k, v)))
}

fn string_match<'a>(node: &'a Node, where_: &str, allow_empty_prefix: bool, p: &mut Problems<'a>) {
    match string_match_kind(node) {
        Some(("prefix", v)) if !allow_empty_prefix && v.as_str().unwrap_or("").is_empty() => {
            p.add(
                v,
                format!("\"{where_}\": prefix string match should not be empty"),
            );
        }
        Some(("regex", v)) => {
            let re = v.as_str().unwrap_or("");
            if re.is_empty() {
                p.add(
                    v,
                    format!("\"{where_}\": regex string match should not be empty"),
                );
            } else {
                p.add_err(v, regex(re).map_err(|e| format!("\"{where_}\": {e}")));
            }
        }
        _ => {}
    }
}

pub(crate) fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

fn header_name_for_match(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("header name cannot be empty".into());
    }
    if is_claim_header(name)
        || matches!(
            name,
            ":method" | ":scheme" | ":authority" | ":path" | ":status"
        )
    {
        return Ok(());
    }
    if !name.bytes().all(is_tchar) {
        return Err(format!("header name {name} is not a valid header name"));
    }
    Ok(())
}

fn is_internal_header(name: &str) -> bool {
    name.starts_with(':') || name.eq_ignore_ascii_case("host")
}

fn is_authority_header(name: &str) -> bool {
    name.eq_ignore_ascii_case(":authority") || name.eq_ignore_ascii_case("host")
}

/// Header names that requests may add or set (`:authority`/`host` allowed).
fn header_set_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("header name cannot be empty".into());
    }
    if is_internal_header(name) && !is_authority_header(name) {
        return Err(format!(
            "invalid header \"{name}\": header cannot have \":\" prefix"
        ));
    }
    Ok(())
}

/// Header names for removal and for responses.
fn header_op_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("header name cannot be empty".into());
    }
    if name.eq_ignore_ascii_case("host") {
        return Err(format!("invalid header \"{name}\": cannot set Host header"));
    }
    if is_internal_header(name) {
        return Err(format!(
            "invalid header \"{name}\": header cannot have \":\" prefix"
        ));
    }
    Ok(())
}

/// Envoy's header value syntax: control characters are refused, `%` starts a `%VAR%` or
/// `%VAR(args)%` expression and `%%` is a literal percent sign.
fn header_value(value: &str) -> Result<(), String> {
    if value
        .bytes()
        .any(|b| (b <= 0x08) || (0x0a..=0x1f).contains(&b) || b == 0x7f)
    {
        return Err(format!(
            "header value {value:?} contains control characters"
        ));
    }
    #[derive(PartialEq)]
    enum S {
        Literal,
        Name,
        ArrayStart,
        StringStart,
        InString,
        AfterString,
        ArgsEnd,
        VarEnd,
    }
    let b = value.as_bytes();
    let mut state = S::Literal;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match state {
            S::Literal => {
                if c == b'%' {
                    match b.get(i + 1) {
                        None => return Err(format!("header value {value:?} has an unescaped %")),
                        Some(b'%') => i += 1,
                        Some(_) => state = S::Name,
                    }
                }
            }
            S::Name => {
                if c == b'%' {
                    state = S::Literal;
                } else if c == b'(' {
                    state = S::ArrayStart;
                }
            }
            S::ArrayStart => {
                if c == b'[' {
                    state = S::StringStart;
                } else if c != b' ' {
                    state = S::InString;
                }
            }
            S::AfterString => match c {
                b',' => state = S::StringStart,
                b']' => state = S::ArgsEnd,
                b' ' => {}
                _ => return Err(format!("header value {value:?}: expected ',' or ']'")),
            },
            S::StringStart => {
                if c == b'"' {
                    state = S::InString;
                } else if c != b' ' {
                    return Err(format!("header value {value:?}: expected '\"'"));
                }
            }
            S::InString => {
                if c == b'\\' {
                    if i + 1 >= b.len() {
                        return Err(format!("header value {value:?}: unterminated backslash"));
                    }
                    i += 1;
                } else if c == b')' {
                    state = S::VarEnd;
                } else if c == b'"' {
                    state = S::AfterString;
                }
            }
            S::ArgsEnd => {
                if c == b')' {
                    state = S::VarEnd;
                } else if c != b' ' {
                    return Err(format!("header value {value:?}: expected ')'"));
                }
            }
            S::VarEnd => {
                if c == b'%' {
                    state = S::Literal;
                } else if c != b' ' {
                    return Err(format!("header value {value:?}: expected '%'"));
                }
            }
        }
        i += 1;
    }
    if state != S::Literal {
        return Err(format!(
            "header value {value:?} has an unterminated %VARIABLE% expression"
        ));
    }
    Ok(())
}

/// `headers: {request: {add, set, remove}, response: {...}}` of a route or destination.
fn header_operations<'a>(headers: Option<&'a Node>, p: &mut Problems<'a>) {
    let Some(headers) = headers else { return };
    if let Some(request) = field(headers, "request") {
        for op in ["add", "set"] {
            for (name, key, value) in map_entries(request, op) {
                p.add_err(key, header_set_name(name));
                p.add_err(value, header_value(value.as_str().unwrap_or("")));
            }
        }
        for name in list(request, "remove") {
            p.add_err(name, header_op_name(name.as_str().unwrap_or("")));
        }
    }
    if let Some(response) = field(headers, "response") {
        for op in ["add", "set"] {
            for (name, key, value) in map_entries(response, op) {
                p.add_err(key, header_op_name(name));
                p.add_err(value, header_value(value.as_str().unwrap_or("")));
            }
        }
        for name in list(response, "remove") {
            p.add_err(name, header_op_name(name.as_str().unwrap_or("")));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Destinations.

pub(crate) fn destination<'a>(dest: &'a Node, p: &mut Problems<'a>) {
    let host_node = field(dest, "host").unwrap_or(dest);
    let host = text(dest, "host");
    if host == "*" {
        p.add(host_node, "invalid destination host *");
    } else {
        p.add_err(host_node, wildcard_domain(host));
    }
    if let Some(subset) = field(dest, "subset") {
        let name = subset.as_str().unwrap_or("");
        if !name.is_empty() && !is_dns1123_label(name) {
            p.add(subset, format!("subset name is invalid: {name}"));
        }
    }
    if let Some(port_node) = field(dest, "port") {
        let number = field(port_node, "number").unwrap_or(port_node);
        p.add_err(number, port(int(port_node, "number")));
    }
}

/// `route` of an http, tcp or tls rule.
fn route_destinations<'a>(
    rule: &'a Node,
    http: bool,
    gateway_semantics: bool,
    p: &mut Problems<'a>,
) {
    let items = list(rule, "route");
    let mut total: i64 = 0;
    for item in items {
        if item.is_null() {
            p.add(item, "route destination may not be null");
            continue;
        }
        let dest = field(item, "destination");
        if dest.is_none() {
            p.add(item, "destination is required");
        }
        if http {
            header_operations(field(item, "headers"), p);
        }
        if let (Some(dest), false) = (dest, gateway_semantics) {
            destination(dest, p);
        }
        let weight = int(item, "weight");
        if weight < 0 {
            let node = field(item, "weight").unwrap_or(item);
            p.add(node, format!("weight {weight} < 0"));
        }
        total = total.saturating_add(weight);
    }
    if items.len() > 1 && total == 0 {
        let node = rule.get_entry("route").map_or(rule, |(key, _)| key);
        p.add(
            node,
            "total destination weight = 0: give the destinations weights that add up to 100",
        );
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP routes.

fn percentage<'a>(node: Option<&'a Node>, p: &mut Problems<'a>) {
    let Some(node) = node else { return };
    let value = field(node, "value").map(float_value).unwrap_or(0.0);
    if !(0.0..=100.0).contains(&value) || (value > 0.0 && value < 0.0001) {
        p.add(
            node,
            format!("percentage {value} is neither 0.0, nor in range [0.0001, 100.0]"),
        );
    }
}

const GRPC_STATUSES: &[&str] = &[
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

fn http_status(status: i64) -> Result<(), String> {
    if (200..=600).contains(&status) {
        Ok(())
    } else {
        Err(format!("HTTP status {status} is not in range 200-599"))
    }
}

fn fault<'a>(fault: Option<&'a Node>, p: &mut Problems<'a>) {
    let Some(fault) = fault else { return };
    let abort = field(fault, "abort");
    let delay = field(fault, "delay");
    if abort.is_none() && delay.is_none() {
        p.add(
            fault,
            "HTTP fault injection must have an abort and/or a delay",
        );
    }
    if let Some(abort) = abort {
        percentage(field(abort, "percentage"), p);
        if let Some(status) = field(abort, "grpcStatus") {
            let s = status.as_str().unwrap_or("");
            if !GRPC_STATUSES.contains(&s) {
                p.add(
                    status,
                    format!("gRPC status \"{s}\" is not supported; use a name such as NOT_FOUND"),
                );
            }
        } else if let Some(h2) = field(abort, "http2Error") {
            p.add(h2, "HTTP/2 abort fault injection is not supported yet");
        } else if let Some(status) = field(abort, "httpStatus") {
            p.add_err(status, http_status(int_value(status)));
        }
    }
    if let Some(delay) = delay {
        percentage(field(delay, "percentage"), p);
        if let Some(fixed) = field(delay, "fixedDelay") {
            duration(fixed, p);
        } else if let Some(exp) = field(delay, "exponentialDelay") {
            duration(exp, p);
            p.add(exp, "exponentialDelay is not supported yet");
        }
    }
}

const CORS_METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE", "*",
];

fn cors<'a>(policy: Option<&'a Node>, p: &mut Problems<'a>) {
    let Some(policy) = policy else { return };
    for origin in list(policy, "allowOrigins") {
        match string_match_kind(origin) {
            Some((_, v)) if !v.as_str().unwrap_or("").is_empty() => {
                string_match(origin, "corsPolicy.allowOrigins", true, p);
            }
            _ => p.add(
                origin,
                "a CORS allowOrigins entry needs a non-empty exact, prefix or regex",
            ),
        }
    }
    for method in list(policy, "allowMethods") {
        let m = method.as_str().unwrap_or("");
        if !CORS_METHODS.contains(&m) {
            p.add(method, format!("\"{m}\" is not a supported HTTP method"));
        }
    }
    for key in ["allowHeaders", "exposeHeaders"] {
        for name in list(policy, key) {
            let n = name.as_str().unwrap_or("");
            if n.is_empty() {
                p.add(name, "header name cannot be empty");
            } else if n != "*" && !n.bytes().all(is_tchar) {
                p.add(name, format!("header name {n} is not a valid header name"));
            }
        }
    }
    if let Some(max_age) = field(policy, "maxAge") {
        duration(max_age, p);
        if let Some(nanos) = parse_go_duration(max_age.as_str().unwrap_or(""))
            && nanos % 1_000_000_000 != 0
        {
            p.add(max_age, "maxAge is accurate only to seconds precision");
        }
    }
}

fn is_http_status_text(code: i64) -> bool {
    matches!(code,
        100..=103 | 200..=208 | 226 | 300..=305 | 307 | 308 | 400..=418 | 421..=426 | 428 | 429
        | 431 | 451 | 500..=508 | 510 | 511)
}

const RETRY_ON: &[&str] = &[
    "5xx",
    "gateway-error",
    "reset",
    "reset-before-request",
    "connect-failure",
    "retriable-4xx",
    "refused-stream",
    "retriable-status-codes",
    "retriable-headers",
    "envoy-ratelimited",
    "http3-post-connect-failure",
    "cancelled",
    "deadline-exceeded",
    "internal",
    "resource-exhausted",
    "unavailable",
];

/// Whether one comma-separated part of a VirtualService `retries.retryOn` is accepted by Istio:
/// an Envoy retry condition or an HTTP status code Go's `net/http` knows.
pub fn retry_on_policy_is_valid(policy: &str) -> bool {
    let code = if is_go_int(policy) {
        policy.parse::<i64>().unwrap_or(0)
    } else {
        0
    };
    is_http_status_text(code) || RETRY_ON.contains(&policy)
}

fn retries<'a>(retries: Option<&'a Node>, p: &mut Problems<'a>) {
    let Some(retries) = retries else { return };
    let attempts = int(retries, "attempts");
    let attempts_node = field(retries, "attempts").unwrap_or(retries);
    if attempts < 0 {
        p.add(attempts_node, "attempts cannot be negative");
    }
    let retry_on = text(retries, "retryOn");
    if attempts == 0
        && (field(retries, "perTryTimeout").is_some()
            || !retry_on.is_empty()
            || field(retries, "retryRemoteLocalities").is_some())
    {
        p.add(
            attempts_node,
            "http retry policy configured when attempts are set to 0 (disabled)",
        );
    }
    if let Some(t) = field(retries, "perTryTimeout") {
        duration(t, p);
    }
    if !retry_on.is_empty() {
        let node = field(retries, "retryOn").unwrap_or(retries);
        for policy in retry_on.split(',') {
            if !retry_on_policy_is_valid(policy) {
                p.add(node, format!("\"{policy}\" is not a valid retryOn policy"));
            }
        }
    }
    if let Some(b) = field(retries, "backoff") {
        duration(b, p);
    }
}

fn redirect<'a>(redirect: Option<&'a Node>, matches: &'a [Node], p: &mut Problems<'a>) {
    let Some(redirect) = redirect else { return };
    let uri = text(redirect, "uri");
    let prefix_rewrite = text(redirect, "prefixRewrite");
    if !uri.is_empty() && !prefix_rewrite.is_empty() {
        p.add(
            redirect,
            "redirect may only specify one of uri or prefixRewrite",
        );
        return;
    }
    if !prefix_rewrite.is_empty() {
        let non_prefix = matches.iter().any(|m| {
            field(m, "uri").is_some_and(|u| !matches!(string_match_kind(u), Some(("prefix", _))))
        });
        if non_prefix {
            p.add(
                redirect,
                "redirect prefixRewrite requires all URI matches to use prefix match type",
            );
            return;
        }
    }
    let port_set = field(redirect, "port").is_some() || field(redirect, "derivePort").is_some();
    let scheme = text(redirect, "scheme");
    if uri.is_empty()
        && prefix_rewrite.is_empty()
        && text(redirect, "authority").is_empty()
        && !port_set
        && scheme.is_empty()
    {
        p.add(
            redirect,
            "redirect must specify URI, authority, scheme, or port",
        );
        return;
    }
    let code = int(redirect, "redirectCode");
    if code != 0 && !(300..=399).contains(&code) {
        let node = field(redirect, "redirectCode").unwrap_or(redirect);
        p.add(
            node,
            format!("{code} is not a valid redirect code, must be 3xx"),
        );
        return;
    }
    if !scheme.is_empty() && scheme != "http" && scheme != "https" {
        let node = field(redirect, "scheme").unwrap_or(redirect);
        p.add(
            node,
            "invalid redirect scheme, must be \"http\" or \"https\"",
        );
        return;
    }
    let redirect_port = int(redirect, "port");
    if redirect_port > 0 {
        let node = field(redirect, "port").unwrap_or(redirect);
        p.add_err(node, port(redirect_port));
    }
}

fn direct_response<'a>(response: Option<&'a Node>, p: &mut Problems<'a>) {
    let Some(response) = response else { return };
    if let Some(body) = field(response, "body") {
        let size = text(body, "string").len();
        if size > 1 << 20 {
            p.add(
                body,
                "large directResponse bodies may impact control plane performance, must be less than 1MB",
            );
        } else if size > 100 << 10 {
            p.warn(
                body,
                "a directResponse body over 100KB may impact control plane performance",
            );
        }
    }
    let status_node = field(response, "status").unwrap_or(response);
    p.add_err(status_node, http_status(int(response, "status")));
}

fn rewrite<'a>(rewrite: Option<&'a Node>, p: &mut Problems<'a>) {
    let Some(rewrite) = rewrite else { return };
    let uri = text(rewrite, "uri");
    let regex_rewrite = field(rewrite, "uriRegexRewrite");
    if !uri.is_empty() && regex_rewrite.is_some() {
        p.add(
            rewrite,
            "rewrite may only contain one of uri or uriRegexRewrite",
        );
        return;
    }
    if uri.is_empty() && regex_rewrite.is_none() && text(rewrite, "authority").is_empty() {
        p.add(
            rewrite,
            "rewrite must specify at least one of uri, uriRegexRewrite or authority",
        );
        return;
    }
    if let Some(rr) = regex_rewrite {
        let m = text(rr, "match");
        if m.is_empty() || text(rr, "rewrite").is_empty() {
            p.add(rr, "uriRegexRewrite requires both rewrite and match fields");
        } else if let Err(e) = regex(m) {
            p.add(
                field(rr, "match").unwrap_or(rr),
                format!("uriRegexRewrite has errors: {e}"),
            );
        }
    }
}

fn authority_rewrite<'a>(route: &'a Node, p: &mut Problems<'a>) {
    let mut current = field(route, "rewrite")
        .map(|r| text(r, "authority"))
        .unwrap_or("");
    let request = field(route, "headers").and_then(|h| field(h, "request"));
    let Some(request) = request else { return };
    for op in ["set", "add"] {
        for (name, key, value) in map_entries(request, op) {
            if !is_authority_header(name) {
                continue;
            }
            let v = value.as_str().unwrap_or("");
            if !current.is_empty() {
                p.add(
                    key,
                    format!(
                        "authority header cannot be set multiple times: have \"{current}\", attempting to set \"{v}\""
                    ),
                );
                return;
            }
            current = v;
        }
    }
}

fn http_matches<'a>(route: &'a Node, p: &mut Problems<'a>) {
    for m in list(route, "match") {
        if m.is_null() {
            continue;
        }
        for (name, key, value) in map_entries(m, "headers") {
            if value.is_null() {
                p.add(key, format!("header match {name} cannot be null"));
            }
            p.add_err(key, header_name_for_match(name));
            string_match(value, "headers", false, p);
        }
        for (name, key, value) in map_entries(m, "withoutHeaders") {
            p.add_err(key, header_name_for_match(name));
            let star_regex = value.get("regex").and_then(Node::as_str) == Some("*");
            if !star_regex {
                string_match(value, "withoutHeaders", false, p);
            }
        }
        if let Some(uri) = field(m, "uri") {
            string_match(uri, "uri", true, p);
        }
        for key in ["scheme", "method", "authority"] {
            if let Some(sm) = field(m, key) {
                string_match(sm, key, false, p);
            }
        }
        for (_, _, value) in map_entries(m, "queryParams") {
            string_match(value, "queryParams", false, p);
        }
        if let Some(port_node) = field(m, "port") {
            let n = int_value(port_node);
            if n != 0 {
                p.add_err(port_node, port(n));
            }
        }
        labels(field(m, "sourceLabels"), p);
        gateway_names(list(m, "gateways"), false, p);
        if let Some(ns) = field(m, "sourceNamespace") {
            let s = ns.as_str().unwrap_or("");
            if !s.is_empty() && !is_dns1123_label(s) {
                p.add(ns, format!("sourceNamespace match {s} is invalid"));
            }
        }
    }
}

fn http_route<'a>(
    route: &'a Node,
    delegate_vs: bool,
    gateway_semantics: bool,
    p: &mut Problems<'a>,
) {
    let has = |name: &str| field(route, name).is_some();
    let route_list = field(route, "route");
    let route_len = route_list.and_then(Node::as_seq).map_or(0, <[Node]>::len);
    let name = text(route, "name");
    if !delegate_vs && has("delegate") {
        // A root route only delegates.
        if has("redirect") {
            p.add(
                route,
                format!("root HTTP route {name} must not specify redirect"),
            );
        }
        if route_list.is_some() {
            p.add(
                route,
                format!("root HTTP route {name} must not specify route"),
            );
        }
    } else {
        if delegate_vs && has("delegate") {
            p.add(route, "delegate HTTP route cannot contain delegate");
        }
        if has("redirect") {
            for (other, what) in [
                ("fault", "fault"),
                ("rewrite", "rewrite"),
                ("directResponse", "directResponse"),
            ] {
                if has(other) {
                    p.add(
                        route,
                        format!("HTTP route cannot contain both {what} and redirect"),
                    );
                }
            }
            if route_len > 0 {
                p.add(route, "HTTP route cannot contain both route and redirect");
            }
        } else if has("directResponse") {
            if route_len > 0 {
                p.add(
                    route,
                    "HTTP route cannot contain both route and directResponse",
                );
            }
            for other in ["fault", "rewrite"] {
                if has(other) {
                    p.add(
                        route,
                        format!("HTTP route cannot contain both {other} and directResponse"),
                    );
                }
            }
        } else if route_len == 0 {
            p.add(
                route,
                "HTTP route needs a route, a redirect or a directResponse",
            );
        }
        if has("mirror") && !list(route, "mirrors").is_empty() {
            p.add(route, "HTTP route cannot contain both mirror and mirrors");
        }
    }

    p.errors_only(|p| http_matches(route, p));
    header_operations(field(route, "headers"), p);
    cors(field(route, "corsPolicy"), p);
    fault(field(route, "fault"), p);

    if let Some(mp) = field(route, "mirrorPercent") {
        let v = int_value(field(mp, "value").unwrap_or(mp));
        if v > 100 {
            p.add(
                mp,
                format!("mirrorPercent must have a max value of 100 (it has {v})"),
            );
        }
        p.warn(
            mp,
            "mirrorPercent is deprecated: use mirrorPercentage instead",
        );
    }
    if let Some(mp) = field(route, "mirrorPercentage") {
        let v = field(mp, "value").map(float_value).unwrap_or(0.0);
        if v > 100.0 {
            p.add(
                mp,
                format!("mirrorPercentage must have a max value of 100 (it has {v})"),
            );
        }
        if v < 0.0 {
            p.add(
                mp,
                format!("mirrorPercentage must have a min value of 0 (it has {v})"),
            );
        }
    }
    if let Some(mirror) = field(route, "mirror") {
        destination(mirror, p);
    }
    for m in list(route, "mirrors") {
        if m.is_null() {
            p.add(m, "mirror cannot be null");
            continue;
        }
        let Some(dest) = field(m, "destination") else {
            p.add(m, "destination is required for mirrors");
            continue;
        };
        destination(dest, p);
        if let Some(pct) = field(m, "percentage") {
            let v = field(pct, "value").map(float_value).unwrap_or(0.0);
            if v > 100.0 {
                p.add(
                    pct,
                    format!("mirror percentage must have a max value of 100 (it has {v})"),
                );
            }
            if v < 0.0 {
                p.add(
                    pct,
                    format!("mirror percentage must have a min value of 0 (it has {v})"),
                );
            }
        }
    }
    redirect(field(route, "redirect"), list(route, "match"), p);
    direct_response(field(route, "directResponse"), p);
    retries(field(route, "retries"), p);
    rewrite(field(route, "rewrite"), p);
    authority_rewrite(route, p);
    route_destinations(route, true, gateway_semantics, p);
    if let Some(timeout) = field(route, "timeout") {
        duration(timeout, p);
    }
}

// ---------------------------------------------------------------------------------------------
// TLS and TCP routes.

/// Istio's `host.Name.SubsetOf`: is `n` covered by `o`?
fn host_subset_of(n: &str, o: &str) -> bool {
    match (n.strip_prefix('*'), o.strip_prefix('*')) {
        (Some(ns), Some(os)) => n.len() >= o.len() && ns.ends_with(os),
        (Some(_), None) => false,
        (None, Some(os)) => n.ends_with(os),
        (None, None) => n == o,
    }
}

pub(crate) fn ip_subnet(s: &str) -> Result<(), String> {
    let ok = match s.split_once('/') {
        None => is_ip(s),
        Some((addr, bits)) => match (addr.parse::<std::net::IpAddr>(), bits.parse::<u8>()) {
            (Ok(std::net::IpAddr::V4(_)), Ok(b)) => b <= 32 && is_go_int(bits),
            (Ok(std::net::IpAddr::V6(_)), Ok(b)) => b <= 128 && is_go_int(bits),
            _ => false,
        },
    };
    if ok {
        Ok(())
    } else {
        Err(format!("\"{s}\" is not a valid IP address or CIDR subnet"))
    }
}

fn l4_match_common<'a>(m: &'a Node, p: &mut Problems<'a>) {
    for subnet in list(m, "destinationSubnets") {
        p.add_err(subnet, ip_subnet(subnet.as_str().unwrap_or("")));
    }
    if let Some(port_node) = field(m, "port") {
        let n = int_value(port_node);
        if n != 0 {
            p.add_err(port_node, port(n));
        }
    }
    labels(field(m, "sourceLabels"), p);
    gateway_names(list(m, "gateways"), false, p);
}

fn tls_route<'a>(
    route: &'a Node,
    vs_hosts: &[&str],
    vs_bound_to_gateway: bool,
    gateway_semantics: bool,
    p: &mut Problems<'a>,
) {
    let matches = list(route, "match");
    if matches.is_empty() {
        p.add(route, "TLS route must have at least one match condition");
    }
    for m in matches {
        if m.is_null() {
            p.add(m, "TLS match may not be null");
            continue;
        }
        let sni_hosts = list(m, "sniHosts");
        if sni_hosts.is_empty() {
            p.add(m, "TLS match must have at least one SNI host");
        }
        for sni_node in sni_hosts {
            let sni = sni_node.as_str().unwrap_or("");
            let skip_generated = vs_bound_to_gateway && sni.starts_with("outbound_");
            if !skip_generated && let Err(e) = wildcard_domain(sni) {
                // An IP is only a warning (against the SNI spec), not an error.
                if is_ip(sni) {
                    p.warn(
                        sni_node,
                        format!("SNI host \"{sni}\" is an IP address, which the SNI standard does not allow and most clients do not send"),
                    );
                } else {
                    p.add(sni_node, e);
                }
                continue;
            }
            if !vs_hosts.iter().any(|h| host_subset_of(sni, h)) {
                p.add(
                    sni_node,
                    format!(
                        "SNI host \"{sni}\" is not a compatible subset of any of the virtual service hosts: [{}]",
                        vs_hosts.join(", ")
                    ),
                );
            }
        }
        l4_match_common(m, p);
    }
    if list(route, "route").is_empty() {
        p.add(route, "TLS route is required");
    }
    route_destinations(route, false, gateway_semantics, p);
}

fn tcp_route<'a>(route: &'a Node, gateway_semantics: bool, p: &mut Problems<'a>) {
    for m in list(route, "match") {
        if m.is_null() {
            p.add(m, "tcp match may not be null");
            continue;
        }
        p.errors_only(|p| l4_match_common(m, p));
    }
    if list(route, "route").is_empty() {
        p.add(route, "TCP route is required");
    }
    route_destinations(route, false, gateway_semantics, p);
}

// ---------------------------------------------------------------------------------------------
// exportTo.

/// `exportTo` of a VirtualService, DestinationRule or ServiceEntry (`~` allowed for the latter),
/// with the extra limits of a DestinationRule that has a workload selector.
pub(crate) fn export_to<'a>(
    ns: &str,
    spec: &'a Node,
    service_entry: bool,
    dr_with_selector: bool,
    p: &mut Problems<'a>,
) {
    let items = list(spec, "exportTo");
    if items.is_empty() {
        return;
    }
    let node = field(spec, "exportTo").unwrap_or(spec);
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    for item in items {
        let e = item.as_str().unwrap_or("");
        let key = if e == "." { ns } else { e };
        if seen.contains(key) {
            if key != e {
                p.add(
                    item,
                    format!("duplicate entries in exportTo: . and current namespace {ns}"),
                );
            } else {
                p.add(item, format!("duplicate entries in exportTo for entry {e}"));
            }
            continue;
        }
        match key {
            "~" if service_entry => {
                seen.insert(key);
            }
            "*" | "." => {
                seen.insert(key);
            }
            "~" => p.add(
                item,
                "exportTo ~ (none) is not allowed for Istio configuration objects",
            ),
            _ if is_dns1123_label(key) => {
                seen.insert(key);
            }
            _ => p.add(
                item,
                "only ., *, or a valid DNS 1123 label is allowed as exportTo entry",
            ),
        }
    }
    if dr_with_selector && !seen.is_empty() {
        if !seen.contains(ns) {
            p.add(
                node,
                "a DestinationRule with a workloadSelector cannot be exported beyond its own namespace",
            );
        } else if seen.len() > 1 {
            p.add(
                node,
                "a DestinationRule with a workloadSelector cannot have several exportTo entries",
            );
        }
    }
    if seen.contains("*") && items.len() > 1 {
        p.add(
            node,
            "cannot have both public (*) and non-public exportTo values for a resource",
        );
    }
    if seen.contains("~") && items.len() > 1 {
        p.add(
            node,
            "a ServiceEntry cannot be exported to no one (~) and to someone at once",
        );
    }
}

// ---------------------------------------------------------------------------------------------

/// Every validation error of a VirtualService, as Istio's webhook would reject it.
pub(crate) fn validate(vs: &Resource) -> Problems<'_> {
    let mut p = Problems::new();
    let Some(spec) = vs.spec() else {
        p.add(
            vs.anchor(),
            "http, tcp or tls must be provided in virtual service",
        );
        return p;
    };
    if !matches!(spec.value, Value::Map(_)) {
        return p;
    }
    let hosts_nodes = list(spec, "hosts");
    let hosts: Vec<&str> = hosts_nodes
        .iter()
        .map(|h| h.as_str().unwrap_or(""))
        .collect();
    let gateways = list(spec, "gateways");
    let http = list(spec, "http");
    let tcp = list(spec, "tcp");
    let tls = list(spec, "tls");
    let anchor = vs.anchor();
    if hosts.is_empty() {
        let spec_node = vs.spec().unwrap_or(anchor);
        if !gateways.is_empty() {
            p.add(
                spec_node,
                "a delegate VirtualService (no hosts) must not specify gateways",
            );
        }
        if !tls.is_empty() {
            p.add(
                spec_node,
                "a delegate VirtualService (no hosts) must not specify tls routes",
            );
        }
        if !tcp.is_empty() {
            p.add(
                spec_node,
                "a delegate VirtualService (no hosts) must not specify tcp routes",
            );
        }
    }
    let gateway_semantics = vs.annotation("internal.istio.io/route-semantics") == Some("gateway");
    let has_mesh = gateways.iter().any(|g| g.as_str() == Some("mesh"));
    let applies_to_gateway = !gateways.is_empty() && !has_mesh;
    let applies_to_mesh = !applies_to_gateway;
    gateway_names(gateways, gateway_semantics, &mut p);

    if !applies_to_gateway {
        for route in http {
            for m in list(route, "match") {
                for field_name in ["headers", "withoutHeaders"] {
                    for (key, key_node, _) in map_entries(m, field_name) {
                        if is_claim_header(key) {
                            p.add(
                                key_node,
                                format!(
                                    "JWT claim based routing (key: {key}) is only supported for gateways, and this VirtualService applies to sidecars"
                                ),
                            );
                        }
                    }
                }
            }
        }
    }

    let sni = tls.iter().any(|t| {
        list(t, "match")
            .iter()
            .any(|m| !list(m, "sniHosts").is_empty())
    });
    let mut all_hosts_valid = true;
    for (node, host) in hosts_nodes.iter().zip(&hosts) {
        let generated_sni = applies_to_gateway && sni && host.starts_with("outbound_");
        let result = if generated_sni {
            dns_preconditions(host)
        } else {
            wildcard_domain(host)
        };
        match result {
            Err(e) => {
                if !is_ip(host) {
                    p.add(node, e);
                    all_hosts_valid = false;
                }
            }
            Ok(()) if applies_to_mesh && *host == "*" => {
                p.add(
                    node,
                    "wildcard host * is not allowed for virtual services bound to the mesh gateway",
                );
                all_hosts_valid = false;
            }
            Ok(()) => {}
        }
    }
    if all_hosts_valid && hosts.len() > 1 {
        // Pairwise within one resource; hosts lists are short.
        for i in 0..hosts.len() {
            for j in i + 1..hosts.len() {
                if crate::hosts::hosts_intersect(hosts[i], hosts[j]) {
                    p.add(
                        &hosts_nodes[j],
                        format!(
                            "duplicate hosts in virtual service: {} & {}",
                            hosts[i], hosts[j]
                        ),
                    );
                }
            }
        }
    }

    if http.is_empty() && tcp.is_empty() && tls.is_empty() {
        p.add(
            vs.spec().unwrap_or(anchor),
            "http, tcp or tls must be provided in virtual service",
        );
    }
    for route in http {
        if route.is_null() {
            p.add(route, "http route may not be null");
            continue;
        }
        http_route(route, hosts.is_empty(), gateway_semantics, &mut p);
    }
    let bound_to_gateway = !has_mesh;
    for route in tls {
        if route.is_null() {
            continue;
        }
        tls_route(route, &hosts, bound_to_gateway, gateway_semantics, &mut p);
    }
    for route in tcp {
        if route.is_null() {
            continue;
        }
        tcp_route(route, gateway_semantics, &mut p);
    }
    export_to(&vs.ns, spec, false, false, &mut p);
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("1.5s"), Some(1_500_000_000));
        assert_eq!(parse_go_duration("300ms"), Some(300_000_000));
        assert_eq!(parse_go_duration("1m30s"), Some(90_000_000_000));
        assert_eq!(parse_go_duration("0"), Some(0));
        assert_eq!(parse_go_duration("-2s"), Some(-2_000_000_000));
        assert_eq!(parse_go_duration(".5h"), Some(1_800_000_000_000));
        assert_eq!(parse_go_duration("5"), None);
        assert_eq!(parse_go_duration("5 s"), None);
        assert_eq!(parse_go_duration("s"), None);
        assert_eq!(parse_go_duration(""), None);
    }

    #[test]
    fn domains_and_labels() {
        assert!(wildcard_domain("*.fooddelivery.example").is_ok());
        assert!(wildcard_domain("*").is_ok());
        assert!(wildcard_domain("orders").is_ok());
        assert!(wildcard_domain("Orders.food").is_ok());
        assert!(wildcard_domain("").is_err());
        assert!(wildcard_domain("orders..food").is_err());
        assert!(wildcard_domain("a.*.com").is_err());
        assert!(wildcard_domain("10.0.0.1").is_err());
        assert!(wildcard_domain("orders.food.").is_ok());
        assert!(is_dns1123_label("v1") && !is_dns1123_label("v1.0") && !is_dns1123_label("-a"));
    }

    #[test]
    fn stacked_repetitions_are_re2_errors() {
        assert!(regex("a++").is_err() && regex("a**").is_err() && regex("a{2}*").is_err());
        assert!(regex("%#@~++==`24c234`").is_err());
        assert!(regex("a+?b*?c??").is_ok() && regex("(a+)+").is_ok() && regex("[+*]+").is_ok());
        assert!(regex(r"\++").is_ok() && regex("(?i)orders").is_ok() && regex("a{2}b{3,}").is_ok());
        assert!(regex("caf\\é+").is_err() && regex("é**").is_err());
    }

    #[test]
    fn header_values() {
        assert!(header_value("100%%").is_ok());
        assert!(header_value("%HOSTNAME%").is_ok());
        assert!(header_value("x %REQ(:path)% y").is_ok());
        assert!(header_value("100%").is_err());
        assert!(header_value("%START_TIME").is_err());
        assert!(header_value("a\u{1}b").is_err());
    }

    #[test]
    fn sni_subsets() {
        assert!(host_subset_of("a.foo.com", "*.foo.com"));
        assert!(host_subset_of("*.a.foo.com", "*.foo.com"));
        assert!(!host_subset_of("*.foo.com", "a.foo.com"));
        assert!(!host_subset_of("*.com", "*.foo.com"));
    }
}
