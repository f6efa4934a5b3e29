//! Istio's validation of strings: RE2 regexes, string matches, header names and values, header
//! operations.

use super::*;

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
pub(crate) fn stacked_repetition(re: &str) -> Option<String> {
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
pub(crate) fn string_match_kind(node: &Node) -> Option<(&'static str, &Node)> {
    ["exact", "prefix", "regex"]
        .into_iter()
        .find_map(|k| node.get(k).filter(|v| !v.is_null()).map(|v| (k, v)))
}

pub(crate) fn string_match<'a>(
    node: &'a Node,
    where_: &str,
    allow_empty_prefix: bool,
    p: &mut Problems<'a>,
) {
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

pub(crate) fn header_name_for_match(name: &str) -> Result<(), String> {
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

pub(crate) fn is_internal_header(name: &str) -> bool {
    name.starts_with(':') || name.eq_ignore_ascii_case("host")
}

pub(crate) fn is_authority_header(name: &str) -> bool {
    name.eq_ignore_ascii_case(":authority") || name.eq_ignore_ascii_case("host")
}

/// Header names that requests may add or set (`:authority`/`host` allowed).
pub(crate) fn header_set_name(name: &str) -> Result<(), String> {
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
pub(crate) fn header_op_name(name: &str) -> Result<(), String> {
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
pub(crate) fn header_value(value: &str) -> Result<(), String> {
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
pub(crate) fn header_operations<'a>(headers: Option<&'a Node>, p: &mut Problems<'a>) {
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
