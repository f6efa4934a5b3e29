//! Istio's validation of names and hosts: DNS-1123 labels, wildcard domains, FQDNs, IPs, ports,
//! gateway names and labels.

use super::*;

// ---------------------------------------------------------------------------------------------
// Names and hosts.

/// RFC 1123 label as Istio checks it (letters of both cases, digits, inner dashes, ≤ 63).
pub(crate) fn is_dns1123_label(s: &str) -> bool {
    mspack_model::names::is_host_label(s)
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

pub(crate) fn dns1123_labels(domain: &str) -> Result<(), String> {
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
pub(crate) fn gateway_names<'a>(nodes: &'a [Node], gateway_semantics: bool, p: &mut Problems<'a>) {
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
