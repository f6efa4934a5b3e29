//! Edges read from NetworkPolicy egress rules. A rule that lets the pods it selects reach
//! specific pods (a `podSelector` peer, in the policy's namespace or one named by
//! `kubernetes.io/metadata.name`) is evidence of a call. It confirms an edge already read
//! elsewhere; on its own it adds a synchronous edge only when the port it opens is an HTTP or
//! gRPC port of the callee (by Istio's port naming or `appProtocol`): an open broker or
//! database port says nothing about the kind of traffic.

use mspack_yaml::Node;

use super::{EdgeKind, Graph, evidence};
use crate::crossref::containers;
use crate::resource::{Kind, Resource};
use crate::workloads::Selector;
use crate::workspace::Workspace;

const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

pub(super) fn add_network_policy_edges(graph: &mut Graph, ws: &Workspace) {
    for policy in ws.of_kind(Kind::NetworkPolicy).filter(|r| !r.assumed) {
        add_policy(graph, ws, policy);
    }
}

fn add_policy(graph: &mut Graph, ws: &Workspace, policy: &Resource) {
    let Some(spec) = policy.spec() else {
        return;
    };
    let egress_type = spec
        .get("policyTypes")
        .into_iter()
        .flat_map(Node::items)
        .any(|t| t.as_str() == Some("Egress"));
    let Some(rules) = spec.get("egress").filter(|_| egress_type) else {
        return;
    };
    let selector = Selector::parse(spec.get("podSelector"));
    let mut callers: Vec<usize> = ws
        .select_workloads(Some(policy.ns.as_str()), &selector)
        .filter_map(|w| graph.node_of_resource(w.resource))
        .collect();
    callers.dedup();
    for rule in rules.items() {
        let ports: Vec<&Node> = rule
            .get("ports")
            .into_iter()
            .flat_map(Node::items)
            .filter_map(|p| p.get("port"))
            .collect();
        for peer in rule.get("to").into_iter().flat_map(Node::items) {
            let Some(pods) = peer.get("podSelector").filter(|p| !p.is_null()) else {
                continue;
            };
            let pod_selector = Selector::parse(Some(pods));
            if pod_selector.is_empty() {
                continue;
            }
            let ns = match peer.get("namespaceSelector") {
                None => Some(policy.ns.as_str()),
                Some(n) => n
                    .path(&["matchLabels", NAMESPACE_NAME_LABEL])
                    .and_then(Node::as_str),
            };
            let Some(ns) = ns else { continue };
            let callees: Vec<(usize, bool)> = ws
                .select_workloads(Some(ns), &pod_selector)
                .filter_map(|w| {
                    let node = graph.node_of_resource(w.resource)?;
                    let r = ws.resources.get(w.resource)?;
                    Some((node, opens_request_port(r, &ports)))
                })
                .collect();
            for &from in &callers {
                for &(to, request_port) in &callees {
                    let ev = evidence(policy, peer, "NetworkPolicy egress");
                    match graph.linked(from, to) {
                        Some(e) => graph.edges[e].evidence.push(ev),
                        None if request_port => {
                            graph.add_edge(from, to, EdgeKind::Sync, ev);
                        }
                        None => {}
                    }
                }
            }
        }
    }
}

/// Whether one of `ports` (numbers or names) is an HTTP or gRPC container port of `workload`.
fn opens_request_port(workload: &Resource, ports: &[&Node]) -> bool {
    containers(workload)
        .flat_map(|c| c.node.get("ports").into_iter().flat_map(Node::items))
        .filter(|p| {
            let name = p.get("name").and_then(Node::as_str).unwrap_or("");
            let app = p.get("appProtocol").and_then(Node::as_str).unwrap_or("");
            is_request_protocol(name) || is_request_protocol(app)
        })
        .any(|p| {
            let number = p.get("containerPort").and_then(Node::as_i64);
            let name = p.get("name").and_then(Node::as_str);
            ports.iter().any(|want| match want.as_i64() {
                Some(n) => Some(n) == number,
                None => want.as_str().is_some_and(|w| Some(w) == name),
            })
        })
}

/// Istio's protocol selection: `http`, `http2`, `grpc`, `grpc-web` or a `<protocol>-<suffix>`.
fn is_request_protocol(name: &str) -> bool {
    let protocol = name.split('-').next().unwrap_or("");
    matches!(
        protocol.to_ascii_lowercase().as_str(),
        "http" | "http2" | "grpc" | "https" | "kubernetes.io/h2c"
    ) || name.eq_ignore_ascii_case("grpc-web")
}
