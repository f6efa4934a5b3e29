//! MSP404's second half: routes through a gateway (an Istio VirtualService bound to a Gateway, a
//! Gateway API HTTPRoute/GRPCRoute attached to a Gateway) to a Service whose pods the
//! NetworkPolicies of its namespace close to the gateway's namespace.

use std::collections::HashSet;

use mspack_yaml::Node;

use crate::crossref::{Admits, display_names, network_admits, target_container_port};
use crate::finding::Findings;
use crate::gateway_api::{backend_refs, parent_refs};
use crate::hosts::{split_fqdn, to_fqdn};
use crate::refs::{gateway_refs, route_destinations};
use crate::resource::{Kind, Resource, port_number, short_or_full_name};
use crate::workloads::{Selector, Values, gateway_selector};
use crate::workspace::Workspace;

/// Namespaces of the gateway pods a VirtualService is bound to (`mesh` and gateways not in the
/// input skipped).
fn istio_gateway_namespaces<'w>(ws: &'w Workspace, vs: &Resource) -> Vec<&'w str> {
    let mut out: Vec<&str> = Vec::new();
    for (_, reference) in gateway_refs(vs) {
        if reference == "mesh" {
            continue;
        }
        let (ns, name) = short_or_full_name(&vs.ns, reference);
        let Some(gw) = ws.find(Kind::Gateway, ns, name) else {
            continue;
        };
        let selector = gateway_selector(gw);
        if selector.is_empty() {
            continue;
        }
        for w in ws.select_workloads(None, &selector) {
            if !out.contains(&w.ns.as_str()) {
                out.push(&w.ns);
            }
        }
    }
    out
}

/// Namespaces of the Gateway API Gateways in the input a route is attached to (their
/// deployments run beside them).
fn k8s_gateway_namespaces<'w>(ws: &'w Workspace, route: &Resource) -> Vec<&'w str> {
    let mut out: Vec<&str> = Vec::new();
    for parent in parent_refs(route).into_iter().filter(|p| p.is_gateway()) {
        if let Some(gw) = ws.find(Kind::K8sGateway, parent.namespace, parent.name)
            && !out.contains(&gw.ns.as_str())
        {
            out.push(&gw.ns);
        }
    }
    out
}

/// A Service a route sends to, the port it names (if any) and the node to report at.
struct Backend<'a> {
    service: &'a Resource,
    port: Option<i64>,
    at: &'a Node,
}

fn vs_backends<'w>(ws: &'w Workspace, vs: &'w Resource) -> Vec<Backend<'w>> {
    route_destinations(vs)
        .into_iter()
        .filter_map(|dest| {
            let fqdn = to_fqdn(&vs.ns, dest.host(), ws.cluster_domain());
            let (name, ns) = split_fqdn(&fqdn, ws.cluster_domain())?;
            Some(Backend {
                service: ws.find(Kind::Service, ns, name)?,
                port: dest
                    .port()
                    .and_then(|p| p.get("number"))
                    .and_then(port_number),
                at: dest.anchor(),
            })
        })
        .collect()
}

fn route_backends<'w>(ws: &'w Workspace, route: &'w Resource) -> Vec<Backend<'w>> {
    backend_refs(route)
        .into_iter()
        .filter(|b| b.is_service())
        .filter_map(|b| {
            Some(Backend {
                service: ws.find(Kind::Service, b.namespace, b.name)?,
                port: b.port.and_then(port_number),
                at: b.name_node,
            })
        })
        .collect()
}

/// The Service port a backend reaches: the one of its number, or the only one.
fn service_port(service: &Resource, port: Option<i64>) -> Option<&Node> {
    let ports: Vec<&Node> = service
        .spec_at(&["ports"])
        .into_iter()
        .flat_map(Node::items)
        .collect();
    match port {
        Some(n) => ports
            .into_iter()
            .find(|p| p.get("port").and_then(port_number) == Some(n)),
        None if ports.len() == 1 => ports.first().copied(),
        None => None,
    }
}

/// Report each backend of `route` whose pods' NetworkPolicies admit none of the traffic from a
/// gateway namespace.
fn check_backends(
    ws: &Workspace,
    route: &Resource,
    origins: &[&str],
    backends: Vec<Backend<'_>>,
    out: &mut Findings,
) {
    let mut seen: HashSet<(u32, u32, &str)> = HashSet::new();
    for backend in backends {
        let selector = Selector::read(backend.service.spec_at(&["selector"]), Values::AsWritten);
        if selector.is_empty() {
            continue;
        }
        let svc_port = service_port(backend.service, backend.port);
        for origin in origins {
            let start = backend.at.span.start;
            if !seen.insert((start.line, start.col, origin)) {
                continue;
            }
            let blocked = ws
                .select_workloads(Some(&backend.service.ns), &selector)
                .find_map(|w| {
                    let workload = ws.resources.get(w.resource)?;
                    let port = svc_port.and_then(|p| target_container_port(p, workload));
                    let (admits, policies) = network_admits(ws, w, origin, port);
                    (admits == Admits::No).then_some((workload, policies))
                });
            let Some((workload, policies)) = blocked else {
                continue;
            };
            out.report(
                route,
                backend.at,
                format!(
                    "routes traffic from the gateway in namespace {origin:?} to {}, but {} \
                     admit{} no ingress from {origin:?} to {}; the connections are dropped",
                    backend.service.display_name(),
                    display_names(&policies),
                    if policies.len() == 1 { "s" } else { "" },
                    workload.display_name()
                ),
            )
            .help(format!(
                "admit namespace {origin:?} in the NetworkPolicy (`namespaceSelector: \
                 {{matchLabels: {{kubernetes.io/metadata.name: {origin}}}}}`)"
            ));
        }
    }
}

/// Check every gateway-bound VirtualService and every attached HTTPRoute/GRPCRoute.
pub fn check_routes(ws: &Workspace, out: &mut Findings) {
    for vs in ws.of_kind(Kind::VirtualService) {
        let origins = istio_gateway_namespaces(ws, vs);
        if !origins.is_empty() {
            check_backends(ws, vs, &origins, vs_backends(ws, vs), out);
        }
    }
    for kind in [Kind::HTTPRoute, Kind::GRPCRoute] {
        for route in ws.of_kind(kind) {
            let origins = k8s_gateway_namespaces(ws, route);
            if !origins.is_empty() {
                check_backends(ws, route, &origins, route_backends(ws, route), out);
            }
        }
    }
}
