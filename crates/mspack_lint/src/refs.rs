//! Where Istio resources name service hosts: VirtualService hosts and route/mirror destinations,
//! DestinationRule hosts, Sidecar egress hosts, EnvoyFilter cluster matches.

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

/// A VirtualService route destination, with the kind of route it belongs to.
#[derive(Clone, Copy, Debug)]
pub struct Destination<'a> {
    pub destination: &'a Node,
    pub host: Option<&'a Node>,
    /// `http`, `tcp` or `tls`.
    pub route_kind: &'static str,
    pub mirror: bool,
}

/// Every route destination and mirror of a VirtualService, in document order.
pub fn vs_destinations(vs: &Resource) -> Vec<Destination<'_>> {
    let mut out = Vec::new();
    let Some(spec) = vs.spec() else { return out };
    for route_kind in ["http", "tcp", "tls"] {
        for rule in spec.get(route_kind).into_iter().flat_map(Node::items) {
            for route in rule.get("route").into_iter().flat_map(Node::items) {
                if let Some(d) = route.get("destination") {
                    out.push(Destination {
                        destination: d,
                        host: d.get("host"),
                        route_kind,
                        mirror: false,
                    });
                }
            }
            if route_kind == "http" {
                if let Some(m) = rule.get("mirror") {
                    out.push(Destination {
                        destination: m,
                        host: m.get("host"),
                        route_kind,
                        mirror: true,
                    });
                }
                for m in rule.get("mirrors").into_iter().flat_map(Node::items) {
                    if let Some(d) = m.get("destination") {
                        out.push(Destination {
                            destination: d,
                            host: d.get("host"),
                            route_kind,
                            mirror: true,
                        });
                    }
                }
            }
        }
    }
    out
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
            for d in vs_destinations(resource) {
                if let Some((node, host)) = d.host.and_then(|n| n.as_str().map(|h| (n, h))) {
                    out.push(HostRef {
                        node,
                        host,
                        role: if d.mirror {
                            HostRole::Mirror
                        } else {
                            HostRole::RouteDestination
                        },
                        destination: Some(d.destination),
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
