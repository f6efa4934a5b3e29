//! Istio's validation of an AuthorizationPolicy (for IST0106/IST0133): selector or target
//! references, action and provider, and the `from` sources, `to` operations and `when`
//! conditions of each rule (principals, namespaces, service accounts, IP blocks, ports, paths,
//! condition keys and values).

use mspack_yaml::Node;

use crate::istio::validation::common::{
    at, enum_field, has_items, policy_targets, string_items as strings,
};
use crate::istio::validation::{Problems, field, list, text};
use crate::resource::Resource;

const ACTIONS: &[&str] = &["ALLOW", "DENY", "AUDIT", "CUSTOM"];
const DENY: usize = 1;
const CUSTOM: usize = 3;

/// Source fields, as `(field, name in messages)`.
const SOURCE_FIELDS: &[(&str, &str)] = &[
    ("principals", "Principals"),
    ("notPrincipals", "NotPrincipals"),
    ("requestPrincipals", "RequestPrincipals"),
    ("notRequestPrincipals", "NotRequestPrincipals"),
    ("namespaces", "Namespaces"),
    ("notNamespaces", "NotNamespaces"),
    ("ipBlocks", "IpBlocks"),
    ("notIpBlocks", "NotIpBlocks"),
    ("remoteIpBlocks", "RemoteIpBlocks"),
    ("notRemoteIpBlocks", "NotRemoteIpBlocks"),
    ("serviceAccounts", "ServiceAccounts"),
    ("notServiceAccounts", "NotServiceAccounts"),
    ("trustDomains", "TrustDomains"),
    ("notTrustDomains", "NotTrustDomains"),
];

/// Source fields a CUSTOM action cannot use.
const CUSTOM_UNSUPPORTED: &[(&str, &str)] = &[
    ("namespaces", "From.Namespaces"),
    ("notNamespaces", "From.NotNamespaces"),
    ("serviceAccounts", "From.ServiceAccounts"),
    ("notServiceAccounts", "From.NotServiceAccounts"),
    ("trustDomains", "From.TrustDomains"),
    ("notTrustDomains", "From.NotTrustDomains"),
    ("principals", "From.Principals"),
    ("notPrincipals", "From.NotPrincipals"),
    ("requestPrincipals", "From.RequestPrincipals"),
    ("notRequestPrincipals", "From.NotRequestPrincipals"),
];

/// Source fields that also apply to TCP traffic.
const TCP_SOURCE_FIELDS: &[&str] = &[
    "principals",
    "notPrincipals",
    "ipBlocks",
    "notIpBlocks",
    "namespaces",
    "notNamespaces",
    "remoteIpBlocks",
    "notRemoteIpBlocks",
    "serviceAccounts",
    "notServiceAccounts",
];

const OPERATION_FIELDS: &[(&str, &str)] = &[
    ("ports", "Ports"),
    ("methods", "Methods"),
    ("paths", "Paths"),
    ("hosts", "Hosts"),
    ("notPorts", "NotPorts"),
    ("notMethods", "NotMethods"),
    ("notPaths", "NotPaths"),
    ("notHosts", "NotHosts"),
];

/// Every problem Istio's validation finds in an AuthorizationPolicy.
pub(crate) fn validate(ap: &Resource) -> Problems<'_> {
    let mut p = Problems::new();
    let Some(spec) = ap.spec() else {
        return p;
    };
    policy_targets(spec, &mut p);
    let Some(action) = enum_field(spec, "action", ACTIONS) else {
        return p;
    };
    let rules = list(spec, "rules");
    let provider = field(spec, "provider");
    let action_node = at(spec, "action");
    if action == CUSTOM {
        if rules.is_empty() {
            p.add(
                action_node,
                "a CUSTOM action without rules never triggers: add an empty rule `{}` to apply it to every request",
            );
        } else if provider.is_none_or(|pr| text(pr, "name").is_empty()) {
            p.add(
                provider.unwrap_or(action_node),
                "`provider.name` must not be empty",
            );
        }
        for rule in rules {
            custom_rule(rule, &mut p);
        }
    }
    if let Some(pr) = provider
        && action != CUSTOM
    {
        p.add(
            pr,
            format!(
                "`provider` can only be used with the CUSTOM action, found {}",
                ACTIONS[action]
            ),
        );
    }
    if action == DENY && rules.is_empty() {
        p.add(
            action_node,
            "a DENY action without rules never triggers: add an empty rule `{}` to apply it to every request",
        );
    }
    for (i, rule) in rules.iter().enumerate() {
        if rule.is_null() {
            p.add(rule, format!("`rule` must not be nil, found at rule {i}"));
            continue;
        }
        self::rule(i, rule, action == DENY, &mut p);
    }
    p
}

fn custom_rule<'a>(rule: &'a Node, p: &mut Problems<'a>) {
    if rule.is_null() {
        return;
    }
    for from in list(rule, "from") {
        let Some(src) = field(from, "source").filter(|_| !from.is_null()) else {
            continue;
        };
        for &(name, what) in CUSTOM_UNSUPPORTED {
            if has_items(src, name) {
                p.add(
                    at(src, name),
                    format!("{what} is currently not supported with CUSTOM action"),
                );
            }
        }
    }
    for when in list(rule, "when") {
        if when.is_null() {
            p.add(when, "when field cannot be nil");
            continue;
        }
        let key = text(when, "key");
        if matches!(
            key,
            "source.namespace"
                | "source.serviceAccount"
                | "source.trustDomain"
                | "source.principal"
        ) || key.starts_with("request.auth.")
        {
            p.add(
                at(when, "key"),
                format!("{key} is currently not supported with CUSTOM action"),
            );
        }
    }
}

fn rule<'a>(i: usize, rule: &'a Node, deny: bool, p: &mut Problems<'a>) {
    let mut from_exists = false;
    let mut to_exists = false;
    let mut tcp_from = false;
    let mut tcp_to = false;
    for from in list(rule, "from") {
        if from.is_null() {
            p.add(from, format!("`from` must not be nil, found at rule {i}"));
            continue;
        }
        let Some(src) = field(from, "source") else {
            p.add(
                from,
                format!("`from.source` must not be nil, found at rule {i}"),
            );
            continue;
        };
        from_exists = true;
        let count = |names: &[&str]| names.iter().filter(|n| has_items(src, n)).count();
        if count(&["principals", "notPrincipals", "namespaces", "notNamespaces"]) > 0
            && count(&["serviceAccounts", "notServiceAccounts"]) > 0
        {
            p.add(
                src,
                format!(
                    "cannot set serviceAccounts with namespaces or principals, found at rule {i}"
                ),
            );
        }
        if SOURCE_FIELDS.iter().all(|(n, _)| !has_items(src, n)) {
            p.add(
                src,
                format!("`from.source` must not be empty, found at rule {i}"),
            );
        }
        for name in [
            "ipBlocks",
            "notIpBlocks",
            "remoteIpBlocks",
            "notRemoteIpBlocks",
        ] {
            for (v, node) in strings(src, name) {
                p.add_err(node, ip_or_cidr(v));
            }
        }
        for &(name, what) in SOURCE_FIELDS {
            let values = strings(src, name);
            let result = match name {
                "serviceAccounts" | "notServiceAccounts" => service_accounts(what, &values),
                "trustDomains" | "notTrustDomains" => trust_domains(what, &values),
                _ => empty_values(what, &values),
            };
            if let Err((node, e)) = result {
                p.add(node.unwrap_or_else(|| at(src, name)), e);
            }
        }
        tcp_from |= TCP_SOURCE_FIELDS.iter().any(|n| has_items(src, n));
    }
    for to in list(rule, "to") {
        if to.is_null() {
            p.add(to, format!("`to` must not be nil, found at rule {i}"));
            continue;
        }
        let Some(op) = field(to, "operation") else {
            p.add(
                to,
                format!("`to.operation` must not be nil, found at rule {i}"),
            );
            continue;
        };
        to_exists = true;
        if OPERATION_FIELDS.iter().all(|(n, _)| !has_items(op, n)) {
            p.add(
                op,
                format!("`to.operation` must not be empty, found at rule {i}"),
            );
        }
        for name in ["ports", "notPorts"] {
            for (v, node) in strings(op, name) {
                p.add_err(node, port_value(v));
            }
        }
        for &(name, what) in OPERATION_FIELDS {
            if let Err((node, e)) = empty_values(what, &strings(op, name)) {
                p.add(node.unwrap_or_else(|| at(op, name)), e);
            }
        }
        for (name, what) in [("paths", "Paths"), ("notPaths", "NotPaths")] {
            if let Err((node, e)) = path_templates(what, &strings(op, name)) {
                p.add(node, e);
            }
        }
        tcp_to |= has_items(op, "ports") || has_items(op, "notPorts");
    }
    for condition in list(rule, "when") {
        let key = if condition.is_null() {
            ""
        } else {
            text(condition, "key")
        };
        let key_node = if condition.is_null() {
            condition
        } else {
            at(condition, "key")
        };
        if key.is_empty() {
            p.add(key_node, "`key` must not be empty");
            continue;
        }
        let values = strings(condition, "values");
        let not_values = strings(condition, "notValues");
        if values.is_empty() && not_values.is_empty() {
            p.add(
                condition,
                format!("at least one of `values` or `notValues` must be set for key {key}"),
            );
            continue;
        }
        if let Err((node, e)) = attribute(key, &values) {
            p.add(
                node.unwrap_or(key_node),
                format!("invalid `value` for `key` {key}: {e}"),
            );
        }
        if let Err((node, e)) = attribute(key, &not_values) {
            p.add(
                node.unwrap_or(key_node),
                format!("invalid `notValue` for `key` {key}: {e}"),
            );
        }
    }
    if deny && ((from_exists && !to_exists && !tcp_from) || (to_exists && !tcp_to)) {
        p.warn(
            rule,
            "this DENY rule uses only HTTP attributes, so it denies all traffic to TCP ports under its scope: name the ports explicitly",
        );
    }
}

type Checked<'a> = Result<(), (Option<&'a Node>, String)>;

fn empty_values<'a>(what: &str, values: &[(&str, &'a Node)]) -> Checked<'a> {
    match values.iter().find(|(v, _)| v.is_empty()) {
        Some((_, node)) => Err((
            Some(*node),
            format!("empty value not allowed, found in {what}"),
        )),
        None => Ok(()),
    }
}

fn wildcard_values<'a>(what: &str, values: &[(&str, &'a Node)]) -> Checked<'a> {
    empty_values(what, values)?;
    for &(v, node) in values {
        let stars = v.matches('*').count();
        if stars > 1 {
            return Err((
                Some(node),
                format!("at most one wildcard is allowed, found in {what}: \"{v}\""),
            ));
        }
        if stars == 1 && v != "*" && !v.starts_with('*') && !v.ends_with('*') {
            return Err((
                Some(node),
                format!("wildcard is only allowed at the start or end, found in {what}: \"{v}\""),
            ));
        }
    }
    Ok(())
}

fn trust_domains<'a>(what: &str, values: &[(&str, &'a Node)]) -> Checked<'a> {
    wildcard_values(what, values)?;
    match values.iter().find(|(v, _)| v.contains('/')) {
        Some(&(v, node)) => Err((
            Some(node),
            format!("trust domain must not contain '/', found in {what}: \"{v}\""),
        )),
        None => Ok(()),
    }
}

fn service_accounts<'a>(what: &str, values: &[(&str, &'a Node)]) -> Checked<'a> {
    if values.len() > 16 {
        return Err((None, format!("{what} may not have more than 16 values")));
    }
    for &(v, node) in values {
        let bad = |m: String| Err((Some(node), m));
        if v.is_empty() {
            return bad(format!("empty value not allowed, found in {what}"));
        }
        if v.contains('*') {
            return bad(format!("wildcard not allowed, found in {what}"));
        }
        if v.matches('/').count() > 1 {
            return bad(format!(
                "expected format 'serviceAccount' or 'namespace/serviceAccount', found \"{v}\" in {what}"
            ));
        }
        if v.len() > 320 {
            return bad(format!(
                "value cannot exceed 320 characters, found \"{v}\" in {what}"
            ));
        }
        if let Some((ns, sa)) = v.split_once('/') {
            if ns.is_empty() {
                return bad(format!(
                    "expected format 'serviceAccount' or 'namespace/serviceAccount', found empty namespace \"{v}\" in {what}"
                ));
            }
            if sa.is_empty() {
                return bad(format!(
                    "expected format 'serviceAccount' or 'namespace/serviceAccount', found empty serviceAccount \"{v}\" in {what}"
                ));
            }
        }
    }
    Ok(())
}

/// An IP address or a CIDR range (`ipBlocks`, `source.ip` ...).
fn ip_or_cidr(v: &str) -> Result<(), String> {
    let ok = match v.split_once('/') {
        Some((addr, bits)) => {
            let max = match addr.parse::<std::net::IpAddr>() {
                Ok(std::net::IpAddr::V4(_)) => 32,
                Ok(std::net::IpAddr::V6(_)) => 128,
                Err(_) => 0,
            };
            max > 0
                && !bits.is_empty()
                && bits.bytes().all(|b| b.is_ascii_digit())
                && (bits == "0" || !bits.starts_with('0'))
                && bits.parse::<u32>().is_ok_and(|b| b <= max)
        }
        None => v.parse::<std::net::IpAddr>().is_ok(),
    };
    if ok {
        Ok(())
    } else if v.contains('/') {
        Err(format!("bad CIDR range ({v})"))
    } else {
        Err(format!("bad IP address ({v})"))
    }
}

/// A port in `ports`/`notPorts` or `destination.port`: a number up to 65535.
fn port_value(v: &str) -> Result<(), String> {
    if !v.is_empty()
        && v.bytes().all(|b| b.is_ascii_digit())
        && v.parse::<u64>().is_ok_and(|n| n <= 65535)
    {
        Ok(())
    } else {
        Err(format!("bad port ({v})"))
    }
}

/// Envoy's path templates in `paths`: `{*}` and a final `{**}`, no other braces, and with a
/// template every segment a valid path literal.
fn path_templates<'a>(what: &str, values: &[(&str, &'a Node)]) -> Result<(), (&'a Node, String)> {
    for &(path, node) in values {
        let templated = path.contains("{*}") || path.contains("{**}");
        let trimmed = path.trim_matches('/');
        let mut any_seen = false;
        for glob in trimmed.split('/') {
            if (glob == "{*}" || glob == "{**}") && !any_seen {
                any_seen = glob == "{**}";
                continue;
            }
            if glob == "{*}" || glob == "{**}" {
                return Err((
                    node,
                    format!(
                        "invalid or unsupported path {trimmed}, found in {what}: {{**}} is not the last operator"
                    ),
                ));
            }
            if glob.contains(['{', '}']) {
                return Err((
                    node,
                    format!(
                        "invalid or unsupported path {trimmed}, found in {what}: '{{' or '}}' outside a supported path template"
                    ),
                ));
            }
            let literal = !glob.is_empty()
                && glob
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~%!$&'()+,;:@=".contains(&b));
            if templated && !literal {
                return Err((
                    node,
                    format!(
                        "invalid or unsupported path {trimmed}, found in {what}: segment {glob} is not a valid literal"
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// A `key[name]` attribute key.
fn map_key(key: &str) -> Result<(), String> {
    match key.find('[') {
        Some(open) if key.ends_with(']') && open > 0 && open < key.len() - 2 => Ok(()),
        _ => Err(format!("bad key ({key}): should have format a[b]")),
    }
}

/// A `when` condition's key and its values.
fn attribute<'a>(key: &str, values: &[(&str, &'a Node)]) -> Checked<'a> {
    empty_values(key, values)?;
    let plain = |r: Result<(), String>| r.map_err(|e| (None, e));
    let each = |check: fn(&str) -> Result<(), String>| -> Checked<'a> {
        for &(v, node) in values {
            check(v).map_err(|e| (Some(node), e))?;
        }
        Ok(())
    };
    match key {
        k if k.starts_with("request.headers") => plain(map_key(k)),
        "source.ip" | "remote.ip" | "destination.ip" => each(ip_or_cidr),
        "source.serviceAccount" => service_accounts(key, values),
        "source.trustDomain" => wildcard_values(key, values),
        "source.namespace"
        | "source.principal"
        | "request.auth.principal"
        | "request.auth.audiences"
        | "request.auth.presenter"
        | "connection.sni" => Ok(()),
        k if k.starts_with("request.auth.claims") => plain(map_key(k)),
        "destination.port" => each(port_value),
        k if k.starts_with("experimental.envoy.filters.") => plain(map_key(k)),
        "destination.namespace" => plain(Err(format!(
            "attribute {key} is replaced by the metadata.namespace"
        ))),
        k if k.starts_with("destination.labels") => plain(Err(format!(
            "attribute {key} is replaced by the workload selector"
        ))),
        "destination.name" | "destination.user" => plain(Err(format!(
            "deprecated attribute {key}: only supported in v1alpha1"
        ))),
        _ => plain(Err(format!("unknown attribute: {key}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_blocks_and_ports() {
        assert!(ip_or_cidr("10.0.0.0/16").is_ok() && ip_or_cidr("2001:db8::/32").is_ok());
        assert!(ip_or_cidr("10.0.0.1").is_ok());
        assert!(ip_or_cidr("10.0.0.0/33").is_err() && ip_or_cidr("10.0.0/8").is_err());
        assert!(port_value("8080").is_ok() && port_value("0").is_ok());
        assert!(port_value("70000").is_err() && port_value("http").is_err());
        assert!(port_value("-1").is_err());
    }

    #[test]
    fn attribute_keys() {
        assert!(map_key("request.headers[x-user]").is_ok());
        assert!(map_key("request.headers[]").is_err() && map_key("request.headers").is_err());
    }
}
