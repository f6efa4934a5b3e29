//! Rules mirroring Istio's `virtualservice.DestinationHostAnalyzer`: every route and mirror
//! destination must name a host the mesh knows (a Service or a ServiceEntry host visible to the
//! VirtualService), on a port that host has; and ingress routes without a subset are flagged
//! when mesh routes for the same host split traffic by subset.

use std::collections::HashMap;

use mspack_yaml::Node;

use crate::declare_rule;
use crate::finding::Findings;
use crate::refs::{
    RouteDest, http_route_destinations, mirror_destinations, route_destinations, vs_hosts,
};
use crate::resource::{Kind, Resource};
use crate::rule::{Each, Pass, Scope};
use crate::workspace::{MeshService, Workspace};

const MIRRORS: Option<&str> = Some("virtualservice.DestinationHostAnalyzer");

declare_rule! {
    /// ## What it checks
    /// Every `destination.host` of the `http`, `tcp` and `tls` routes of a VirtualService, and
    /// every `mirror`/`mirrors` host, against the hosts the mesh knows: Kubernetes Services
    /// (`name`, `name.namespace.svc.cluster.local`) and ServiceEntry hosts, wildcards included,
    /// as far as they are visible from the VirtualService's namespace (the Service annotation
    /// `networking.istio.io/exportTo` and the ServiceEntry `exportTo`). A route entry without a
    /// destination is reported too. When the destination names a `port`, the host must expose
    /// that port number.
    /// Kiali: KIA1101 (`virtualservices.nohost.hostnotfound`).
    ///
    /// ## Why it matters
    /// Envoy gets a route to a cluster that does not exist, and every request matching it fails
    /// with a 503 (`NR`/`NC`): a typo or a service exported to other namespaces only turns into
    /// an outage that no admission check catches.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: v1
    /// kind: Service
    /// metadata: {name: orders, namespace: food}
    /// spec:
    ///   ports: [{name: http, port: 8080}]
    /// ---
    /// apiVersion: networking.istio.io/v1
    /// kind: VirtualService
    /// metadata: {name: orders, namespace: food}
    /// spec:
    ///   hosts: [orders]
    ///   http:
    ///   - route:
    ///     - destination: {host: order}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: v1
    /// kind: Service
    /// metadata: {name: orders, namespace: food}
    /// spec:
    ///   ports: [{name: http, port: 8080}]
    /// ---
    /// apiVersion: networking.istio.io/v1
    /// kind: VirtualService
    /// metadata: {name: orders, namespace: food}
    /// spec:
    ///   hosts: [orders]
    ///   http:
    ///   - route:
    ///     - destination: {host: orders}
    /// ```
    /// For a service outside the mesh, declare its host in a ServiceEntry exported to the
    /// VirtualService's namespace.
    pub static DESTINATION_HOST_NOT_FOUND = Rule {
        code: "IST0101",
        name: "ReferencedResourceNotFound",
        severity: Error,
        summary: "a VirtualService routes or mirrors to a host or port the mesh does not know",
        mirrors: MIRRORS,
        context: &[Kind::Service],
        pass: DESTINATION_HOSTS,
    };
}

declare_rule! {
    /// ## What it checks
    /// A route or mirror destination without `port` whose host (a Service or ServiceEntry) exposes
    /// more than one port.
    ///
    /// ## Why it matters
    /// Istio cannot tell which of the service's ports the route means; the destination is
    /// ambiguous and the traffic may reach the wrong port or none.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: v1
    /// kind: Service
    /// metadata: {name: kitchen, namespace: food}
    /// spec:
    ///   ports: [{name: http, port: 80}, {name: grpc, port: 9090}]
    /// ---
    /// apiVersion: networking.istio.io/v1
    /// kind: VirtualService
    /// metadata: {name: kitchen, namespace: food}
    /// spec:
    ///   hosts: [kitchen]
    ///   http:
    ///   - route:
    ///     - destination: {host: kitchen}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: v1
    /// kind: Service
    /// metadata: {name: kitchen, namespace: food}
    /// spec:
    ///   ports: [{name: http, port: 80}, {name: grpc, port: 9090}]
    /// ---
    /// apiVersion: networking.istio.io/v1
    /// kind: VirtualService
    /// metadata: {name: kitchen, namespace: food}
    /// spec:
    ///   hosts: [kitchen]
    ///   http:
    ///   - route:
    ///     - destination: {host: kitchen, port: {number: 80}}
    /// ```
    pub static DESTINATION_PORT_REQUIRED = Rule {
        code: "IST0112",
        name: "VirtualServiceDestinationPortSelectorRequired",
        severity: Error,
        summary: "a VirtualService destination names no port but its service exposes several",
        mirrors: MIRRORS,
        pass: DESTINATION_HOSTS,
    };
}

declare_rule! {
    /// ## What it checks
    /// A VirtualService bound to gateways whose HTTP route sends traffic to a host without a
    /// `subset`, while a VirtualService for that host (one whose `hosts` lists it) splits its
    /// HTTP routes by subset. Hosts are compared as written.
    ///
    /// ## Why it matters
    /// Requests entering through the gateway are routed by the gateway's VirtualService only: the
    /// subset routing (canary weights, version pinning) of the host's own VirtualService does not
    /// apply to them, so ingress traffic silently reaches every version.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: VirtualService
    /// metadata: {name: menu-edge, namespace: food}
    /// spec:
    ///   hosts: [menu.example.com]
    ///   gateways: [edge/public]
    ///   http:
    ///   - route:
    ///     - destination: {host: menu}
    /// ---
    /// apiVersion: networking.istio.io/v1
    /// kind: VirtualService
    /// metadata: {name: menu, namespace: food}
    /// spec:
    ///   hosts: [menu]
    ///   http:
    ///   - route:
    ///     - destination: {host: menu, subset: v2}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: VirtualService
    /// metadata: {name: menu-edge, namespace: food}
    /// spec:
    ///   hosts: [menu.example.com]
    ///   gateways: [edge/public]
    ///   http:
    ///   - route:
    ///     - destination: {host: menu, subset: v2}
    /// ---
    /// apiVersion: networking.istio.io/v1
    /// kind: VirtualService
    /// metadata: {name: menu, namespace: food}
    /// spec:
    ///   hosts: [menu]
    ///   http:
    ///   - route:
    ///     - destination: {host: menu, subset: v2}
    /// ```
    pub static INGRESS_ROUTE_RULES_NOT_AFFECTED = Rule {
        code: "IST0140",
        name: "IngressRouteRulesNotAffected",
        severity: Warning,
        summary: "a gateway route without subset bypasses the subset routing of its host",
        mirrors: MIRRORS,
        each: check_ingress_subsets on &[Kind::VirtualService],
    };
}

/// One run of the analyzer for both host rules, a VirtualService at a time.
static DESTINATION_HOSTS: Pass = Pass {
    name: "virtualservice.DestinationHostAnalyzer",
    check: Scope::Each(Each {
        kinds: &[Kind::VirtualService],
        check: check_hosts,
    }),
};

/// A VirtualService's destinations: routes, then mirrors.
fn destinations(vs: &Resource) -> impl Iterator<Item = RouteDest<'_>> {
    route_destinations(vs)
        .into_iter()
        .chain(mirror_destinations(vs))
}

fn check_hosts(ws: &Workspace, vs: &Resource, out: &mut Findings) {
    let registry = ws.hosts();
    let domain = ws.cluster_domain();
    let export_to = vs.export_to().unwrap_or_default();
    for d in destinations(vs) {
        let host = d.host();
        let service = registry
            .lookup_index(&vs.ns, &export_to, host, domain)
            .and_then(|i| registry.services.get(i));
        let Some(service) = service else {
            let what = if d.kind.is_mirror() {
                "mirror host"
            } else {
                "host"
            };
            let f = out.report_as(
                &DESTINATION_HOST_NOT_FOUND,
                vs,
                d.anchor(),
                if host.is_empty() {
                    format!("referenced {what} not found: \"\" (no destination host given)")
                } else {
                    format!("referenced {what} not found: \"{host}\"")
                },
            );
            f.help(if d.destination.is_none() || host.is_empty() {
                "give the route a `destination` with the `host` of a Service or ServiceEntry"
                    .to_string()
            } else {
                format!(
                    "no Service or ServiceEntry host `{host}` is visible from namespace `{}`; \
                     check the name, its namespace and its exportTo",
                    vs.ns
                )
            });
            continue;
        };
        check_port(vs, &d, service, out);
    }
}

fn check_port(vs: &Resource, d: &RouteDest<'_>, service: &MeshService, out: &mut Findings) {
    let host = d.host();
    let numbers: Vec<i64> = service
        .ports
        .iter()
        .map(|p| p.number.unwrap_or(0))
        .collect();
    let list = || {
        numbers
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    match d.port() {
        None => {
            if numbers.len() > 1 {
                let list = list();
                out.report_as(
                    &DESTINATION_PORT_REQUIRED,
                    vs,
                    d.anchor(),
                    format!("destination \"{host}\" names no port but the service exposes ports [{list}]"),
                )
                .help("add `port: {number: N}` to the destination to say which port it means");
            }
        }
        Some(port) => {
            let number_node = port.get("number");
            let number = number_node.and_then(Node::as_i64).unwrap_or(0);
            if !numbers.contains(&number) {
                let list = list();
                out.report_as(
                    &DESTINATION_HOST_NOT_FOUND,
                    vs,
                    number_node.unwrap_or(port),
                    format!("referenced host:port not found: \"{host}:{number}\""),
                )
                .help(if numbers.is_empty() {
                    format!("`{host}` declares no ports")
                } else {
                    format!("`{host}` exposes ports [{list}]")
                });
            }
        }
    }
}

/// Host as written -> the VirtualServices that route it to a subset and the subset, once per
/// such destination (Istio reports once per destination).
struct SubsetRoutes(HashMap<String, Vec<(String, String)>>);

impl SubsetRoutes {
    fn read(ws: &Workspace) -> SubsetRoutes {
        let mut routes: HashMap<String, Vec<(String, String)>> = HashMap::new();
        for vs in ws.of_kind(Kind::VirtualService) {
            let hosts = vs_hosts(vs);
            for d in http_route_destinations(vs) {
                if d.subset().is_empty() {
                    continue;
                }
                let host = d.host();
                for h in &hosts {
                    if *h == host {
                        routes
                            .entry(host.to_string())
                            .or_default()
                            .push((vs.full_name(), d.subset().to_string()));
                    }
                }
            }
        }
        SubsetRoutes(routes)
    }
}

fn check_ingress_subsets(ws: &Workspace, vs: &Resource, out: &mut Findings) {
    let has_gateways = vs
        .spec_at(&["gateways"])
        .and_then(Node::as_seq)
        .is_some_and(|g| !g.is_empty());
    if !has_gateways {
        return;
    }
    for d in http_route_destinations(vs) {
        if !d.subset().is_empty() {
            continue;
        }
        let routes = ws.shared(|| SubsetRoutes::read(ws));
        let Some(owners) = routes.0.get(d.host()) else {
            continue;
        };
        for (owner, subset) in owners {
            out.report(
                vs,
                d.anchor(),
                format!(
                    "destination \"{}\" has no subset, so the route of VirtualService {owner} to subset {subset} does not apply to requests through this gateway",
                    d.host()
                ),
            )
            .help("route gateway traffic to the same subsets here (or bind the host's VirtualService to the gateway too)");
        }
    }
}
