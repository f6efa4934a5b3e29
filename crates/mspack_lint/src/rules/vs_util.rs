//! Shared reading of VirtualService routes for the rules that mirror Istio's `virtualservice`
//! analyzers: destinations with their position, gateway references, host matching.

use mspack_yaml::Node;

use crate::resource::Resource;

/// Where a destination sits in a VirtualService.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DestKind {
    Http,
    Tcp,
    Tls,
    /// `http[].mirror`
    Mirror,
    /// `http[].mirrors[].destination`
    Mirrors,
}

impl DestKind {
    pub fn is_mirror(self) -> bool {
        matches!(self, DestKind::Mirror | DestKind::Mirrors)
    }
}

/// One route or mirror destination. Routes without a `destination` still count (Istio reads them
/// as a destination with an empty host).
#[derive(Clone, Copy, Debug)]
pub struct RouteDest<'a> {
    pub kind: DestKind,
    /// The route entry (`route[]` item, the `mirror` mapping, or the `mirrors[]` item).
    pub item: &'a Node,
    /// The `destination` mapping, when present and not null.
    pub destination: Option<&'a Node>,
}

impl<'a> RouteDest<'a> {
    /// The destination host as written; empty when absent.
    pub fn host(&self) -> &'a str {
        self.host_node().and_then(Node::as_str).unwrap_or("")
    }

    pub fn host_node(&self) -> Option<&'a Node> {
        self.destination.and_then(|d| d.get("host"))
    }

    /// The subset as written; empty when absent.
    pub fn subset(&self) -> &'a str {
        self.destination
            .and_then(|d| d.get("subset"))
            .and_then(Node::as_str)
            .unwrap_or("")
    }

    /// The `port` selector, when set (a null `port` counts as absent).
    pub fn port(&self) -> Option<&'a Node> {
        self.destination
            .and_then(|d| d.get("port"))
            .filter(|p| !p.is_null())
    }

    /// The node a finding about this destination points at: its host, else the destination,
    /// else the route entry.
    pub fn anchor(&self) -> &'a Node {
        self.host_node().or(self.destination).unwrap_or(self.item)
    }
}

fn present(node: Option<&Node>) -> Option<&Node> {
    node.filter(|n| !n.is_null())
}

/// Route destinations in Istio's order: tcp, tls, then http.
pub fn route_destinations(vs: &Resource) -> Vec<RouteDest<'_>> {
    let mut out = Vec::new();
    let Some(spec) = vs.spec() else { return out };
    for (key, kind) in [
        ("tcp", DestKind::Tcp),
        ("tls", DestKind::Tls),
        ("http", DestKind::Http),
    ] {
        for rule in spec.get(key).into_iter().flat_map(Node::items) {
            for item in rule.get("route").into_iter().flat_map(Node::items) {
                out.push(RouteDest {
                    kind,
                    item,
                    destination: present(item.get("destination")),
                });
            }
        }
    }
    out
}

/// HTTP `route` destinations only (with the index of their http rule).
pub fn http_route_destinations(vs: &Resource) -> Vec<RouteDest<'_>> {
    route_destinations(vs)
        .into_iter()
        .filter(|d| d.kind == DestKind::Http)
        .collect()
}

/// `http[].mirror` and `http[].mirrors[].destination`, rule by rule.
pub fn mirror_destinations(vs: &Resource) -> Vec<RouteDest<'_>> {
    let mut out = Vec::new();
    for rule in vs.spec_at(&["http"]).into_iter().flat_map(Node::items) {
        if let Some(mirror) = present(rule.get("mirror")) {
            out.push(RouteDest {
                kind: DestKind::Mirror,
                item: mirror,
                destination: Some(mirror),
            });
        }
        for item in rule.get("mirrors").into_iter().flat_map(Node::items) {
            out.push(RouteDest {
                kind: DestKind::Mirrors,
                item,
                destination: present(item.get("destination")),
            });
        }
    }
    out
}

/// `spec.gateways` entries with their nodes (non-string entries skipped).
pub fn gateway_refs(vs: &Resource) -> Vec<(&Node, &str)> {
    vs.spec_at(&["gateways"])
        .into_iter()
        .flat_map(Node::items)
        .filter_map(|n| n.as_str().map(|s| (n, s)))
        .collect()
}

/// `spec.hosts` as strings.
pub fn vs_hosts(vs: &Resource) -> Vec<&str> {
    vs.spec_at(&["hosts"])
        .into_iter()
        .flat_map(Node::items)
        .filter_map(Node::as_str)
        .collect()
}

/// Istio's `resource.NewShortOrFullName`: `ns/name`, or `name` in `default_ns`.
pub fn short_or_full_name<'a>(default_ns: &'a str, name: &'a str) -> (&'a str, &'a str) {
    name.split_once('/').unwrap_or((default_ns, name))
}

/// Istio's `FullName.String()`: `ns/name`, or `name` when the namespace is empty.
pub fn full_name(ns: &str, name: &str) -> String {
    if ns.is_empty() {
        name.to_string()
    } else {
        format!("{ns}/{name}")
    }
}

/// Istio's `host.Name.Matches`: do two hosts (either may start with `*`) overlap?
pub fn host_names_match(a: &str, b: &str) -> bool {
    match (a.strip_prefix('*'), b.strip_prefix('*')) {
        (Some(sa), Some(sb)) => {
            if a.len() < b.len() {
                sb.ends_with(sa)
            } else {
                sa.ends_with(sb)
            }
        }
        (Some(sa), None) => b.ends_with(sa),
        (None, Some(sb)) => a.ends_with(sb),
        (None, None) => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_matching_follows_istio() {
        assert!(host_names_match("*.foo.com", "a.foo.com"));
        assert!(host_names_match("a.foo.com", "*.foo.com"));
        assert!(host_names_match("*.foo.com", "*.com"));
        assert!(host_names_match("*", "anything"));
        assert!(!host_names_match("*.bar.com", "a.foo.com"));
        assert!(!host_names_match("a.com", "b.com"));
        assert_eq!(short_or_full_name("food", "gw"), ("food", "gw"));
        assert_eq!(short_or_full_name("food", "edge/gw"), ("edge", "gw"));
        assert_eq!(full_name("", "gw"), "gw");
    }
}
