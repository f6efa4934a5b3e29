//! Reading VirtualService routes as Istio's `virtualservice` analyzers do (destinations with their
//! position, gateway references, JWT claim headers), and where Istio resources name service
//! hosts: VirtualService hosts and route/mirror destinations, DestinationRule hosts, Sidecar
//! egress hosts, EnvoyFilter cluster matches.

use mspack_yaml::Node;

use crate::resource::{Kind, Resource};

/// What a host reference is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostRole {
    /// `VirtualService.spec.hosts[]`.
    VirtualServiceHost,
    /// `destination.host` of an http/tcp/tls route.
    RouteDestination,
    /// `http[].mirror.host` or `http[].mirrors[].destination.host`.
    Mirror,
    /// `DestinationRule.spec.host`.
    DestinationRuleHost,
    /// The `dnsName` of a `Sidecar.spec.egress[].hosts[]` entry (`namespace/dnsName`).
    SidecarEgress,
    /// `EnvoyFilter.spec.configPatches[].match.cluster.service`.
    EnvoyFilterCluster,
}

/// One host written in a resource.
#[derive(Clone, Copy, Debug)]
pub struct HostRef<'a> {
    /// The scalar node holding the host (for Sidecar egress, the whole `ns/dnsName` string).
    pub node: &'a Node,
    /// The host itself (for Sidecar egress, the part after `/`).
    pub host: &'a str,
    pub role: HostRole,
    /// The `destination` mapping for route destinations and mirrors (holds `subset`, `port`).
    pub destination: Option<&'a Node>,
}

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
    route_rules(vs).into_iter().flatten().collect()
}

/// The `route` lists of a VirtualService's rules, one list per rule, in Istio's order: tcp,
/// tls, then http.
pub fn route_rules(vs: &Resource) -> Vec<Vec<RouteDest<'_>>> {
    let mut out = Vec::new();
    let Some(spec) = vs.spec() else { return out };
    for (key, kind) in [
        ("tcp", DestKind::Tcp),
        ("tls", DestKind::Tls),
        ("http", DestKind::Http),
    ] {
        for rule in spec.get(key).into_iter().flat_map(Node::items) {
            let route = rule.get("route").into_iter().flat_map(Node::items);
            out.push(
                route
                    .map(|item| RouteDest {
                        kind,
                        item,
                        destination: present(item.get("destination")),
                    })
                    .collect(),
            );
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

/// Istio's `jwt.ToRoutingClaim(..).Match`: `@request.auth.claims.a.b` or
/// `@request.auth.claims[a][b]` (prefix compared case-insensitively).
pub fn is_claim_header(name: &str) -> bool {
    const CLAIM_PREFIX: &str = "@request.auth.claims";
    let Some(head) = name.get(..CLAIM_PREFIX.len()) else {
        return false;
    };
    if !head.eq_ignore_ascii_case(CLAIM_PREFIX) {
        return false;
    }
    let rest = &name[CLAIM_PREFIX.len()..];
    (rest.starts_with('.') && rest.len() > 1)
        || (rest.starts_with('[') && rest.ends_with(']') && rest.len() > 2)
}

/// Every service host a resource names, for the kinds that name them.
pub fn service_hosts(resource: &Resource) -> Vec<HostRef<'_>> {
    let mut out = Vec::new();
    match resource.kind {
        Kind::VirtualService => {
            for h in resource
                .spec_at(&["hosts"])
                .into_iter()
                .flat_map(Node::items)
            {
                if let Some(host) = h.as_str() {
                    out.push(HostRef {
                        node: h,
                        host,
                        role: HostRole::VirtualServiceHost,
                        destination: None,
                    });
                }
            }
            let destinations = route_destinations(resource)
                .into_iter()
                .chain(mirror_destinations(resource));
            for d in destinations {
                if let Some((node, host)) = d.host_node().and_then(|n| n.as_str().map(|h| (n, h))) {
                    out.push(HostRef {
                        node,
                        host,
                        role: if d.kind.is_mirror() {
                            HostRole::Mirror
                        } else {
                            HostRole::RouteDestination
                        },
                        destination: d.destination,
                    });
                }
            }
        }
        Kind::DestinationRule => {
            if let Some(node) = resource.spec_at(&["host"])
                && let Some(host) = node.as_str()
            {
                out.push(HostRef {
                    node,
                    host,
                    role: HostRole::DestinationRuleHost,
                    destination: None,
                });
            }
        }
        Kind::Sidecar => {
            let egress = resource
                .spec_at(&["egress"])
                .into_iter()
                .flat_map(Node::items);
            for h in egress.flat_map(|e| e.get("hosts").into_iter().flat_map(Node::items)) {
                if let Some((_, host)) = h.as_str().and_then(|s| s.split_once('/')) {
                    out.push(HostRef {
                        node: h,
                        host,
                        role: HostRole::SidecarEgress,
                        destination: None,
                    });
                }
            }
        }
        Kind::EnvoyFilter => {
            let patches = resource
                .spec_at(&["configPatches"])
                .into_iter()
                .flat_map(Node::items);
            for node in patches.filter_map(|p| p.path(&["match", "cluster", "service"])) {
                if let Some(host) = node.as_str() {
                    out.push(HostRef {
                        node,
                        host,
                        role: HostRole::EnvoyFilterCluster,
                        destination: None,
                    });
                }
            }
        }
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::is_claim_header;

    #[test]
    fn claim_header_forms() {
        assert!(is_claim_header("@request.auth.claims.plan"));
        assert!(is_claim_header("@Request.Auth.Claims[plan][tier]"));
        assert!(!is_claim_header("@request.auth.claims."));
        assert!(!is_claim_header("@request.auth.claims[]"));
        assert!(!is_claim_header("@request.auth.claim"));
        assert!(!is_claim_header("x-plan"));
    }
}
