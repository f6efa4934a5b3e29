//! Field checks that several Istio kinds share in Istio's validation (IST0106 errors, IST0133
//! warnings): enum fields, port protocols and names, addresses, `namespace/host` forms, workload
//! selectors and policy target references.

use mspack_yaml::Node;

use crate::istio::validation::{
    Problems, field, is_dns1123_label, is_ip, list, text, wildcard_domain,
};

/// An enum field read as protobuf JSON reads it: a value name or its number; absent or null is
/// the zero value. `None` for a value the enum does not have (Istio could not even decode the
/// resource then, so checks that depend on it stay silent).
pub(crate) fn enum_field(node: &Node, name: &str, values: &[&str]) -> Option<usize> {
    let Some(v) = field(node, name) else {
        return Some(0);
    };
    if let Some(i) = v.as_i64() {
        return usize::try_from(i).ok().filter(|i| *i < values.len());
    }
    let s = v.as_str()?;
    values.iter().position(|n| *n == s)
}

/// A boolean field (`false` when absent); protobuf JSON also takes `"true"`.
pub(crate) fn bool_field(node: &Node, name: &str) -> bool {
    field(node, name).is_some_and(|v| v.as_bool() == Some(true) || v.as_str() == Some("true"))
}

/// A wrapper (`google.protobuf.*Value`) field's value: written plainly or as `{value: x}`.
pub(crate) fn wrapped<'a>(node: &'a Node, name: &str) -> Option<&'a Node> {
    let v = field(node, name)?;
    if v.as_map().is_some() {
        field(v, "value")
    } else {
        Some(v)
    }
}

/// A non-empty list field (Istio reads an empty list as an absent one).
pub(crate) fn has_items(node: &Node, name: &str) -> bool {
    !list(node, name).is_empty()
}

/// The string items of a list field with their nodes; items that are not strings (which Istio
/// could not even decode) are left out.
pub(crate) fn string_items<'a>(node: &'a Node, name: &str) -> Vec<(&'a str, &'a Node)> {
    list(node, name)
        .iter()
        .filter_map(|n| n.as_str().map(|s| (s, n)))
        .collect()
}

/// A non-empty string field.
pub(crate) fn has_text(node: &Node, name: &str) -> bool {
    !text(node, name).is_empty()
}

/// The node a finding about `name` of `parent` points at: the field, else the parent.
pub(crate) fn at<'a>(parent: &'a Node, name: &str) -> &'a Node {
    field(parent, name).unwrap_or(parent)
}

/// The key node of a mapping entry, for findings about a whole field.
pub(crate) fn key_of<'a>(parent: &'a Node, name: &str) -> &'a Node {
    parent
        .get_entry(name)
        .map(|(k, _)| k)
        .unwrap_or_else(|| at(parent, name))
}

// ---------------------------------------------------------------------------------------------
// Protocols, ports and addresses.

/// A port protocol as Istio parses it (case-insensitive).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Protocol {
    Tcp,
    Udp,
    Grpc,
    GrpcWeb,
    Http,
    HttpProxy,
    Http2,
    Https,
    Tls,
    Mongo,
    Redis,
    MySql,
    Unsupported,
}

impl Protocol {
    pub(crate) fn parse(s: &str) -> Protocol {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Protocol::Tcp,
            "udp" => Protocol::Udp,
            "grpc" => Protocol::Grpc,
            "grpc-web" => Protocol::GrpcWeb,
            "http" => Protocol::Http,
            "http_proxy" => Protocol::HttpProxy,
            "http2" => Protocol::Http2,
            "https" => Protocol::Https,
            "tls" => Protocol::Tls,
            "mongo" => Protocol::Mongo,
            "redis" => Protocol::Redis,
            "mysql" => Protocol::MySql,
            _ => Protocol::Unsupported,
        }
    }

    pub(crate) fn is_http(self) -> bool {
        matches!(
            self,
            Protocol::Http
                | Protocol::Http2
                | Protocol::HttpProxy
                | Protocol::Grpc
                | Protocol::GrpcWeb
        )
    }

    pub(crate) fn is_tcp(self) -> bool {
        matches!(
            self,
            Protocol::Tcp
                | Protocol::Https
                | Protocol::Tls
                | Protocol::Mongo
                | Protocol::Redis
                | Protocol::MySql
        )
    }

    pub(crate) fn is_tls(self) -> bool {
        matches!(self, Protocol::Https | Protocol::Tls)
    }
}

/// A port protocol, where empty (protocol sniffing) is allowed.
pub(crate) fn protocol_name(s: &str) -> Result<(), String> {
    if !s.is_empty() && Protocol::parse(s) == Protocol::Unsupported {
        Err(format!("unsupported protocol: {s}"))
    } else {
        Ok(())
    }
}

/// A port name: a DNS-1123 label.
pub(crate) fn port_name(name: &str) -> Result<(), String> {
    if is_dns1123_label(name) {
        Ok(())
    } else {
        Err(format!("invalid port name: {name}"))
    }
}

/// The path of a `unix://` address.
pub(crate) fn unix_address(addr: &str) -> Result<(), String> {
    if addr.is_empty() {
        return Err("unix address must not be empty".into());
    }
    if addr.starts_with('@') {
        return Ok(());
    }
    if !addr.starts_with('/') || addr.ends_with('/') {
        return Err(format!("{addr} is not an absolute path to a file"));
    }
    Ok(())
}

/// An IP address (no CIDR).
pub(crate) fn ip_address(addr: &str) -> Result<(), String> {
    if is_ip(addr) {
        Ok(())
    } else {
        Err(format!("{addr} is not a valid IP"))
    }
}

/// Istio's partial-wildcard rule: `*` alone or a leading `*.` only.
pub(crate) fn partial_wildcard(host: &str) -> Result<(), String> {
    if host.contains('*') && host.len() != 1 && !host.starts_with("*.") {
        Err(format!("partial wildcard \"{host}\" not allowed"))
    } else {
        Ok(())
    }
}

/// The host part of a Gateway server or Sidecar egress `namespace/host` entry.
fn host_part(host: &str, gateway: bool, errors: &mut Vec<String>) {
    if host != "*" && !host.contains('.') {
        errors.push(
            "short host names are not allowed here: use a fully qualified name or a wildcard"
                .to_string(),
        );
    }
    if let Err(e) = wildcard_domain(host) {
        // A Gateway also takes an IP address; a Sidecar does not.
        if !gateway || !is_ip(host) {
            errors.push(e);
        }
    }
    if let Err(e) = partial_wildcard(host) {
        errors.push(e);
    }
}

/// A Gateway server host (`ns/host`, or a bare host) or a Sidecar egress host (`ns/host` only):
/// every error Istio finds in it.
pub(crate) fn namespaced_host(entry: &str, gateway: bool) -> Vec<String> {
    let mut errors = Vec::new();
    let Some((ns, host)) = entry.split_once('/') else {
        if gateway {
            host_part(entry, true, &mut errors);
        } else {
            errors.push("a sidecar egress host must be of the form namespace/dnsName".to_string());
        }
        return errors;
    };
    if ns.is_empty() || host.is_empty() {
        errors.push("the namespace and the dnsName of a host cannot be empty".to_string());
    }
    if gateway {
        if ns != "*" && ns != "." && !is_dns1123_label(ns) {
            errors.push(format!("invalid namespace \"{ns}\" in a gateway host"));
        }
    } else {
        let bare = ns.strip_prefix('~').unwrap_or(ns);
        if !bare.is_empty() && bare != "*" && bare != "." && !is_dns1123_label(bare) {
            errors.push(format!("invalid namespace \"{ns}\" in a sidecar host"));
        }
    }
    host_part(host, gateway, &mut errors);
    errors
}

// ---------------------------------------------------------------------------------------------
// URLs, as Go's `net/url` parses them.

/// What Istio looks at in a parsed URL.
pub(crate) struct GoUrl<'a> {
    /// Lower-cased; empty when there is none.
    pub scheme: String,
    /// What follows the scheme (or the whole URL without one).
    pub rest: &'a str,
}

/// A URL as Go's `url.Parse` (or, with `request`, `url.ParseRequestURI`, which keeps `#` in the
/// path) reads it, far enough to find what it rejects: control characters, bad `%` escapes, a
/// leading `:`, a colon in a scheme-less first segment, bad user info or host characters and
/// non-numeric ports.
pub(crate) fn parse_go_url(uri: &str, request: bool) -> Result<GoUrl<'_>, String> {
    if uri.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err("invalid control character in URL".into());
    }
    let (scheme, rest) = split_scheme(uri)?;
    let body = if request {
        rest
    } else {
        rest.split_once('#').map_or(rest, |(r, _)| r)
    };
    let body = body.split_once('?').map_or(body, |(r, _)| r);
    let bytes = body.as_bytes();
    for (i, _) in body.match_indices('%') {
        let hex = |j: usize| bytes.get(j).is_some_and(u8::is_ascii_hexdigit);
        if !hex(i + 1) || !hex(i + 2) {
            return Err(format!("invalid URL escape in \"{uri}\""));
        }
    }
    if scheme.is_empty() && body.split('/').next().unwrap_or("").contains(':') {
        return Err("first path segment in URL cannot contain colon".into());
    }
    if let Some(after) = body.strip_prefix("//") {
        let authority = after.split('/').next().unwrap_or("");
        let (user, host_port) = authority.rsplit_once('@').unwrap_or(("", authority));
        if let Some(c) = user.chars().find(|c| {
            c.is_ascii() && !c.is_ascii_alphanumeric() && !"-._:~!$&'()*+,;=%@".contains(*c)
        }) {
            return Err(format!("invalid character {c:?} in user info"));
        }
        let port = if let Some(v6) = host_port.strip_prefix('[') {
            let (_, after) = v6
                .split_once(']')
                .ok_or_else(|| "missing ']' in host".to_string())?;
            after.strip_prefix(':')
        } else {
            let (host, port) = match host_port.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (host_port, None),
            };
            if let Some(c) = host.chars().find(|c| {
                c.is_ascii()
                    && !c.is_ascii_alphanumeric()
                    && !"-._~!$&'()*+,;=:[]<>\"%".contains(*c)
            }) {
                return Err(format!("invalid character {c:?} in host name"));
            }
            port
        };
        if let Some(port) = port
            && !port.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(format!("invalid port \":{port}\" after host"));
        }
    }
    Ok(GoUrl { scheme, rest })
}

/// Go's scheme split: a letter, then letters, digits, `+`, `-`, `.` up to a `:`.
fn split_scheme(uri: &str) -> Result<(String, &str), String> {
    for (i, c) in uri.char_indices() {
        match c {
            'a'..='z' | 'A'..='Z' => {}
            '0'..='9' | '+' | '-' | '.' if i > 0 => {}
            ':' if i == 0 => return Err("missing protocol scheme".into()),
            ':' => return Ok((uri[..i].to_ascii_lowercase(), &uri[i + 1..])),
            _ => break,
        }
    }
    Ok((String::new(), uri))
}

// ---------------------------------------------------------------------------------------------
// Workload selectors and policy target references.

/// `selector`/`workloadSelector` with `matchLabels` (security, telemetry, extension kinds and
/// DestinationRule): no empty keys, no wildcards; without labels only a warning.
pub(crate) fn workload_selector<'a>(selector: Option<&'a Node>, p: &mut Problems<'a>) {
    let Some(selector) = selector else { return };
    match_labels(selector, "matchLabels", p);
}

fn match_labels<'a>(selector: &'a Node, key: &str, p: &mut Problems<'a>) -> bool {
    let mut errors = false;
    let labels = field(selector, key);
    let mut any = false;
    for (k, key_node, v) in labels.into_iter().flat_map(Node::entries) {
        any = true;
        let value = v.as_str().unwrap_or("");
        if k.is_empty() {
            p.add(
                key_node,
                format!("empty key is not supported in selector: \"={value}\""),
            );
            errors = true;
        }
        if k.contains('*') || value.contains('*') {
            p.add(
                key_node,
                format!("wildcard is not supported in selector: \"{k}={value}\""),
            );
            errors = true;
        }
    }
    if !any {
        p.warn(
            selector,
            "workload selector has no labels, so it selects every workload of the namespace",
        );
    }
    errors
}

/// `workloadSelector: {labels}` of networking kinds (Sidecar, ServiceEntry, EnvoyFilter): the
/// same rules; `true` when it has errors (Istio then reports those alone).
pub(crate) fn alpha_workload_selector<'a>(
    selector: Option<&'a Node>,
    p: &mut Problems<'a>,
) -> bool {
    let Some(selector) = selector else {
        return false;
    };
    match_labels(selector, "labels", p)
}

const TARGET_KINDS: &[(&str, &str)] = &[
    ("core", "Service"),
    ("networking.istio.io", "ServiceEntry"),
    ("gateway.networking.k8s.io", "Gateway"),
    ("gateway.networking.k8s.io", "GatewayClass"),
];

fn target_ref<'a>(r: &'a Node, p: &mut Problems<'a>) {
    if r.is_null() {
        return;
    }
    if text(r, "name").is_empty() {
        p.add(r, "targetRef name must be set");
    }
    if has_text(r, "namespace") {
        p.add(
            at(r, "namespace"),
            "targetRef namespace must not be set: a policy can only target resources of its own namespace",
        );
    }
    let group = text(r, "group");
    let kind = text(r, "kind");
    let canonical = if group.is_empty() { "core" } else { group };
    if !TARGET_KINDS.contains(&(canonical, kind)) {
        p.add(
            r,
            format!(
                "targetRef to {group}/{kind} is not supported: target a Service, ServiceEntry, Gateway or GatewayClass"
            ),
        );
    }
}

/// `selector`, `targetRef` and `targetRefs` of a policy: at most one of them, each well formed.
pub(crate) fn policy_targets<'a>(spec: &'a Node, p: &mut Problems<'a>) {
    let selector = field(spec, "selector");
    let single = field(spec, "targetRef");
    let refs = list(spec, "targetRefs");
    let set = usize::from(selector.is_some())
        + usize::from(single.is_some())
        + usize::from(!refs.is_empty());
    if set > 1 {
        p.add(
            selector.or(single).unwrap_or(spec),
            "only one of selector, targetRef or targetRefs can be set",
        );
    }
    workload_selector(selector, p);
    if let Some(r) = single {
        target_ref(r, p);
    }
    for r in refs {
        target_ref(r, p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_and_sidecar_hosts() {
        assert!(namespaced_host("*/orders.example.com", true).is_empty());
        assert!(namespaced_host("food/*", true).is_empty());
        assert!(namespaced_host("orders.example.com", true).is_empty());
        assert!(namespaced_host("10.1.2.3", true).is_empty());
        assert!(!namespaced_host("orders", true).is_empty());
        assert!(!namespaced_host("food/orders*.example.com", true).is_empty());
        assert!(!namespaced_host("Food_NS/orders.example.com", true).is_empty());
        assert!(namespaced_host("./*", false).is_empty());
        assert!(namespaced_host("~food/*", false).is_empty());
        assert!(!namespaced_host("orders.example.com", false).is_empty());
        assert!(!namespaced_host("food/10.1.2.3", false).is_empty());
    }

    #[test]
    fn protocols() {
        assert!(Protocol::parse("grpc-web").is_http());
        assert!(Protocol::parse("HTTPS").is_tls());
        assert!(Protocol::parse("").eq(&Protocol::Unsupported));
        assert!(protocol_name("").is_ok() && protocol_name("HTTP3").is_err());
    }
}
