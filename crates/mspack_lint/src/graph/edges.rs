//! Edges read from the workloads themselves: addresses in env values and args, database vars
//! read from Secrets and ConfigMaps, PersistentVolumeClaim volumes, and the subjects of the
//! `events.mspack.io/*` annotations.

use mspack_yaml::Node;

use super::address::{addresses, is_telemetry_var, kind_of};
use super::{
    CONSUMES_ANNOTATION, EdgeKind, Graph, NodeKind, PUBLISHES_ANNOTATION, Target, evidence, resolve,
};
use crate::crossref::{containers, pod_spec};
use crate::pod_security::ISTIO_CONTAINERS;
use crate::resource::Resource;
use crate::workspace::Workspace;

pub(super) fn add_workload_edges(graph: &mut Graph, ws: &Workspace) {
    let workloads: Vec<(usize, usize)> = graph
        .nodes
        .iter()
        .enumerate()
        .flat_map(|(n, node)| node.resources.iter().map(move |&r| (n, r)))
        .collect();
    for &(node, rid) in &workloads {
        let Some(r) = ws.resources.get(rid) else {
            continue;
        };
        // Istio's proxy and init containers talk to istiod, not to the application's services.
        for c in containers(r).filter(|c| !ISTIO_CONTAINERS.contains(&c.name)) {
            for var in c.node.get("env").into_iter().flat_map(Node::items) {
                let name = var.get("name").and_then(Node::as_str).unwrap_or("");
                if is_telemetry_var(name) {
                    continue;
                }
                if let Some(value) = var.get("value").filter(|v| v.as_str().is_some()) {
                    add_addresses(
                        graph,
                        ws,
                        node,
                        r,
                        value,
                        Some(name),
                        &format!("env {name}"),
                    );
                } else if let Some(from) = var.get("valueFrom") {
                    add_referenced_store(graph, r, node, name, from);
                }
            }
            for list in ["args", "command"] {
                for arg in c.node.get(list).into_iter().flat_map(Node::items) {
                    add_addresses(graph, ws, node, r, arg, None, list);
                }
            }
        }
        add_volumes(graph, r, node);
    }
    add_subject_edges(graph, ws, &workloads);
}

/// Edges to every address written in `value`.
fn add_addresses(
    graph: &mut Graph,
    ws: &Workspace,
    node: usize,
    r: &Resource,
    value: &Node,
    var: Option<&str>,
    what: &str,
) {
    let Some(text) = value.as_str() else { return };
    for address in addresses(text) {
        let kind = kind_of(&address, var);
        match resolve(graph, ws, &r.ns, address.host) {
            Target::Services(services, targets) => {
                for to in targets {
                    if let Some(e) = graph.add_edge(node, to, kind, evidence(r, value, what)) {
                        for s in &services {
                            if !graph.edges[e].services.contains(s) {
                                graph.edges[e].services.push(*s);
                            }
                        }
                    }
                }
            }
            Target::External(host) => {
                let (id, node_kind, edge_kind) = match kind {
                    EdgeKind::Data => (format!("db:{host}"), NodeKind::Database, EdgeKind::Data),
                    _ => (
                        format!("external:{host}"),
                        NodeKind::External,
                        EdgeKind::External,
                    ),
                };
                let to = graph.ensure_node(
                    id,
                    host.clone(),
                    "external".into(),
                    String::new(),
                    node_kind,
                );
                graph.add_edge(node, to, edge_kind, evidence(r, value, what));
            }
            Target::Unknown => {
                // A database named by a cluster host that no input Service matches (a managed
                // database behind an ExternalName, a Helm dependency not rendered): still a
                // store, known by its address.
                if kind == EdgeKind::Data {
                    let ns = super::host_namespace(ws, &r.ns, address.host)
                        .unwrap_or_else(|| super::display_ns(r).to_string());
                    let to = graph.ensure_node(
                        format!("db:{}", address.host),
                        address.host.to_string(),
                        ns.clone(),
                        ns,
                        NodeKind::Database,
                    );
                    graph.add_edge(node, to, EdgeKind::Data, evidence(r, value, what));
                }
            }
        }
    }
}

/// A database var whose name says it holds where the database is (`DATABASE_URL`,
/// `REDIS_HOST`; not `MYSQL_PASSWORD`) and whose value comes from a Secret or ConfigMap: the
/// store is known by that source.
fn add_referenced_store(graph: &mut Graph, r: &Resource, node: usize, name: &str, from: &Node) {
    let probe = super::Address {
        scheme: None,
        host: "",
        port: None,
    };
    if kind_of(&probe, Some(name)) != EdgeKind::Data || !super::address::names_a_location(name) {
        return;
    }
    for (key, source) in [("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")] {
        let Some(reference) = from.get(key) else {
            continue;
        };
        let Some(object) = reference.get("name").and_then(Node::as_str) else {
            continue;
        };
        let field = reference.get("key").and_then(Node::as_str).unwrap_or("");
        let id = format!("db:{}/{source}/{object}/{field}", super::display_ns(r));
        let label = format!("{object}/{field}");
        let to = graph.ensure_node(
            id,
            label,
            context_of(graph, node),
            super::display_ns(r).to_string(),
            NodeKind::Database,
        );
        graph.add_edge(
            node,
            to,
            EdgeKind::Data,
            evidence(r, reference, format!("env {name} from {source} {object}")),
        );
    }
}

fn context_of(graph: &Graph, node: usize) -> String {
    graph
        .nodes
        .get(node)
        .map(|n| n.context.clone())
        .unwrap_or_default()
}

/// PersistentVolumeClaim volumes of the pod.
fn add_volumes(graph: &mut Graph, r: &Resource, node: usize) {
    let volumes = pod_spec(r).and_then(|s| s.get("volumes"));
    for volume in volumes.into_iter().flat_map(Node::items) {
        let Some(claim) = volume.path(&["persistentVolumeClaim", "claimName"]) else {
            continue;
        };
        let Some(name) = claim.as_str().filter(|n| !n.is_empty()) else {
            continue;
        };
        let to = graph.ensure_node(
            format!("pvc:{}/{name}", super::display_ns(r)),
            name.to_string(),
            super::display_ns(r).to_string(),
            super::display_ns(r).to_string(),
            NodeKind::Volume,
        );
        graph.add_edge(
            node,
            to,
            EdgeKind::Data,
            evidence(r, claim, "PersistentVolumeClaim volume"),
        );
    }
}

/// The subjects an annotation lists (comma- or whitespace-separated).
pub fn subjects(value: &str) -> impl Iterator<Item = &str> {
    value
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
}

/// NATS subject matching: `*` matches one token, `>` the rest (one or more tokens).
pub fn subject_matches(pattern: &str, subject: &str) -> bool {
    let mut p = pattern.split('.');
    let mut s = subject.split('.');
    loop {
        match (p.next(), s.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Async edges publisher → consumer for every subject one publishes and the other consumes.
fn add_subject_edges(graph: &mut Graph, ws: &Workspace, workloads: &[(usize, usize)]) {
    let mut publishers = Vec::new();
    let mut consumers = Vec::new();
    for &(node, rid) in workloads {
        let Some(r) = ws.resources.get(rid) else {
            continue;
        };
        let annotations = r.annotations();
        if let Some(value) = annotations.and_then(|a| a.get(PUBLISHES_ANNOTATION)) {
            publishers.push((node, r, value));
        }
        if let Some(value) = annotations.and_then(|a| a.get(CONSUMES_ANNOTATION)) {
            consumers.push((node, value));
        }
    }
    for &(from, r, published) in &publishers {
        let Some(published_text) = published.as_str() else {
            continue;
        };
        for &(to, consumed) in &consumers {
            let Some(consumed_text) = consumed.as_str() else {
                continue;
            };
            let matched: Vec<String> = subjects(published_text)
                .filter(|s| subjects(consumed_text).any(|p| subject_matches(p, s)))
                .map(str::to_string)
                .collect();
            if matched.is_empty() {
                continue;
            }
            if let Some(e) = graph.add_edge(
                from,
                to,
                EdgeKind::Async,
                evidence(r, published, PUBLISHES_ANNOTATION),
            ) {
                for s in matched {
                    if !graph.edges[e].subjects.contains(&s) {
                        graph.edges[e].subjects.push(s);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nats_wildcards() {
        assert!(subject_matches(
            "fd.orders.>",
            "fd.orders.events.OrderPlaced"
        ));
        assert!(subject_matches("fd.*.cmd", "fd.kitchen.cmd"));
        assert!(!subject_matches("fd.*.cmd", "fd.kitchen.cmd.x"));
        assert!(!subject_matches("fd.orders.>", "fd.orders"));
        assert!(subject_matches("a.b", "a.b"));
        assert_eq!(subjects("a, b\n c").count(), 3);
    }
}
