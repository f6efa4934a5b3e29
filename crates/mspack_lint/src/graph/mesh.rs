//! Edges read from the mesh and Gateway API: VirtualService routes and mirrors, HTTPRoute
//! backendRefs, AuthorizationPolicy ALLOW principals; entry points behind a Gateway; external
//! hosts of ServiceEntries.

use std::collections::HashMap;

use mspack_yaml::Node;

use super::{EdgeKind, Graph, NodeKind, Target, evidence, resolve};
use crate::crossref::pod_spec;
use crate::crossref::principal_namespace;
use crate::resource::{Kind, Resource};
use crate::workloads::{Selector, Values};
use crate::workspace::Workspace;

pub(super) fn add_mesh_edges(graph: &mut Graph, ws: &Workspace) {
    for vs in ws.of_kind(Kind::VirtualService).filter(|r| !r.assumed) {
        add_virtual_service(graph, ws, vs);
    }
    for route in ws.of_kind(Kind::HTTPRoute).filter(|r| !r.assumed) {
        add_http_route(graph, ws, route);
    }
    let accounts = accounts(graph, ws);
    for policy in ws.of_kind(Kind::AuthorizationPolicy).filter(|r| !r.assumed) {
        add_authorization(graph, ws, &accounts, policy);
    }
    for se in ws.of_kind(Kind::ServiceEntry).filter(|r| !r.assumed) {
        let external = se.spec_at(&["location"]).and_then(Node::as_str) != Some("MESH_INTERNAL");
        for host in se.spec_at(&["hosts"]).into_iter().flat_map(Node::items) {
            if let Some(h) = host.as_str().filter(|h| external && !h.starts_with('*')) {
                graph.ensure_node(
                    format!("external:{h}"),
                    h.to_string(),
                    "external".into(),
                    String::new(),
                    NodeKind::External,
                );
            }
        }
    }
}

/// Whether a VirtualService applies to sidecars (no `gateways`, or `mesh` among them).
pub fn applies_to_mesh(vs: &Resource) -> bool {
    let gateways: Vec<&str> = vs
        .spec_at(&["gateways"])
        .into_iter()
        .flat_map(Node::items)
        .filter_map(Node::as_str)
        .collect();
    gateways.is_empty() || gateways.contains(&"mesh")
}

/// Whether a VirtualService is bound to a Gateway.
fn applies_to_gateway(vs: &Resource) -> bool {
    vs.spec_at(&["gateways"])
        .into_iter()
        .flat_map(Node::items)
        .filter_map(Node::as_str)
        .any(|g| g != "mesh")
}

/// The destination hosts of an http route: `route[].destination.host`, `mirror.host`,
/// `mirrors[].destination.host`, with their nodes.
pub fn route_destinations(route: &Node) -> Vec<&Node> {
    let mut out: Vec<&Node> = route
        .get("route")
        .into_iter()
        .flat_map(Node::items)
        .filter_map(|d| d.path(&["destination", "host"]))
        .collect();
    out.extend(route.path(&["mirror", "host"]));
    out.extend(
        route
            .get("mirrors")
            .into_iter()
            .flat_map(Node::items)
            .filter_map(|m| m.path(&["destination", "host"])),
    );
    out
}

fn add_virtual_service(graph: &mut Graph, ws: &Workspace, vs: &Resource) {
    let mesh = applies_to_mesh(vs);
    let gateway = applies_to_gateway(vs);
    let mut hosts = Vec::new();
    if mesh {
        for host in vs
            .spec_at(&["hosts"])
            .into_iter()
            .flat_map(Node::items)
            .filter_map(Node::as_str)
        {
            if let Target::Services(_, nodes) = resolve(graph, ws, &vs.ns, host) {
                hosts.extend(nodes);
            }
        }
    }
    for route in vs.spec_at(&["http"]).into_iter().flat_map(Node::items) {
        for dest in route_destinations(route) {
            let Some(host) = dest.as_str() else { continue };
            let Target::Services(_, targets) = resolve(graph, ws, &vs.ns, host) else {
                continue;
            };
            for &to in &targets {
                if gateway && let Some(n) = graph.nodes.get_mut(to) {
                    n.entry = true;
                }
                for &from in &hosts {
                    graph.add_edge(
                        from,
                        to,
                        EdgeKind::Sync,
                        evidence(vs, dest, "VirtualService route"),
                    );
                }
            }
        }
    }
}

fn add_http_route(graph: &mut Graph, ws: &Workspace, route: &Resource) {
    let mut parents = Vec::new();
    let mut behind_gateway = false;
    for parent in route
        .spec_at(&["parentRefs"])
        .into_iter()
        .flat_map(Node::items)
    {
        let kind = parent
            .get("kind")
            .and_then(Node::as_str)
            .unwrap_or("Gateway");
        let name = parent.get("name").and_then(Node::as_str).unwrap_or("");
        let ns = parent
            .get("namespace")
            .and_then(Node::as_str)
            .unwrap_or(&route.ns);
        if kind == "Service" {
            if let Target::Services(_, nodes) = resolve(graph, ws, ns, &format!("{name}.{ns}")) {
                parents.extend(nodes);
            }
        } else if kind == "Gateway" {
            behind_gateway = true;
        }
    }
    for rule in route.spec_at(&["rules"]).into_iter().flat_map(Node::items) {
        for backend in rule.get("backendRefs").into_iter().flat_map(Node::items) {
            let kind = backend
                .get("kind")
                .and_then(Node::as_str)
                .unwrap_or("Service");
            let Some(name_node) = backend.get("name") else {
                continue;
            };
            let (Some(name), "Service") = (name_node.as_str(), kind) else {
                continue;
            };
            let ns = backend
                .get("namespace")
                .and_then(Node::as_str)
                .unwrap_or(&route.ns);
            let Target::Services(_, targets) = resolve(graph, ws, ns, &format!("{name}.{ns}"))
            else {
                continue;
            };
            for &to in &targets {
                if behind_gateway && let Some(n) = graph.nodes.get_mut(to) {
                    n.entry = true;
                }
                for &from in &parents {
                    graph.add_edge(
                        from,
                        to,
                        EdgeKind::Sync,
                        evidence(route, name_node, "HTTPRoute backendRef"),
                    );
                }
            }
        }
    }
}

/// Workload nodes by (namespace, service account).
type Accounts = HashMap<(String, String), Vec<usize>>;

fn accounts(graph: &Graph, ws: &Workspace) -> Accounts {
    let mut out: Accounts = HashMap::new();
    for (i, n) in graph.nodes.iter().enumerate() {
        for r in n.resources.iter().filter_map(|&r| ws.resources.get(r)) {
            let list = out
                .entry((n.namespace.clone(), service_account(r).to_string()))
                .or_default();
            if !list.contains(&i) {
                list.push(i);
            }
        }
    }
    out
}

/// The service account a workload runs as.
fn service_account(r: &Resource) -> &str {
    pod_spec(r)
        .and_then(|s| {
            s.get("serviceAccountName")
                .or_else(|| s.get("serviceAccount"))
        })
        .and_then(Node::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or("default")
}

/// ALLOW rules naming `cluster.local/ns/NS/sa/SA`: the workloads running as that account call
/// the policy's workloads. Only policies with a selector (one naming every workload of a
/// namespace says who may call, not whom they call). A principal of the root namespace's
/// ingress gateway account marks the callees as entry points.
fn add_authorization(graph: &mut Graph, ws: &Workspace, accounts: &Accounts, policy: &Resource) {
    if policy
        .spec_at(&["action"])
        .and_then(Node::as_str)
        .is_some_and(|a| a != "ALLOW")
    {
        return;
    }
    let Some(labels) = policy
        .spec_at(&["selector", "matchLabels"])
        .filter(|n| !n.is_null())
    else {
        return;
    };
    let selector = Selector::read(Some(labels), Values::OtherAsEmpty);
    if selector.is_empty() || policy.ns == ws.root_namespace() {
        return;
    }
    let mut callees: Vec<usize> = ws
        .select_workloads(Some(policy.ns.as_str()), &selector)
        .filter_map(|w| graph.node_of_resource(w.resource))
        .collect();
    callees.dedup();
    if callees.is_empty() {
        return;
    }
    let principals = policy
        .spec_at(&["rules"])
        .into_iter()
        .flat_map(Node::items)
        .flat_map(|rule| rule.get("from").into_iter().flat_map(Node::items))
        .filter_map(|from| from.path(&["source", "principals"]))
        .flat_map(Node::items);
    for principal in principals {
        let Some((ns, sa)) = principal.as_str().and_then(principal_namespace) else {
            continue;
        };
        if sa.contains('*') {
            continue;
        }
        let callers: Vec<usize> = accounts
            .get(&(ns.to_string(), sa.to_string()))
            .cloned()
            .unwrap_or_default();
        if callers.is_empty() && ns == ws.root_namespace() && sa.contains("gateway") {
            for &c in &callees {
                graph.nodes[c].entry = true;
            }
        }
        for from in callers {
            for &to in &callees {
                let ev = evidence(policy, principal, "AuthorizationPolicy principal");
                match graph.linked(from, to) {
                    Some(e) => graph.edges[e].evidence.push(ev),
                    None => {
                        graph.add_edge(from, to, EdgeKind::Sync, ev);
                    }
                }
            }
        }
    }
}
