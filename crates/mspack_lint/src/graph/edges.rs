//! Edges read from the workloads themselves: addresses in env values and args, database vars
//! read from Secrets and ConfigMaps, PersistentVolumeClaim volumes, and the subjects of the
//! `events.mspack.io/*` annotations.

use std::collections::BTreeMap;

use mspack_yaml::Node;

use super::address::{addresses, is_telemetry_var, kind_of};
use super::subjects::{SubjectIndex, subjects};
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
    let mut index = SubjectIndex::default();
    for (i, &(_, consumed)) in consumers.iter().enumerate() {
        for pattern in consumed.as_str().into_iter().flat_map(subjects) {
            index.add(pattern, i);
        }
    }
    let mut hits = Vec::new();
    for &(from, r, published) in &publishers {
        let Some(published_text) = published.as_str() else {
            continue;
        };
        // Consumer (in input order) -> the subjects it takes, in the order published.
        let mut matched: BTreeMap<usize, Vec<&str>> = BTreeMap::new();
        for subject in subjects(published_text) {
            hits.clear();
            index.matches(subject, &mut hits);
            hits.sort_unstable();
            hits.dedup();
            for &c in &hits {
                matched.entry(c).or_default().push(subject);
            }
        }
        for (c, matched) in matched {
            let to = consumers[c].0;
            if let Some(e) = graph.add_edge(
                from,
                to,
                EdgeKind::Async,
                evidence(r, published, PUBLISHES_ANNOTATION),
            ) {
                for s in matched {
                    if !graph.edges[e].subjects.iter().any(|known| known == s) {
                        graph.edges[e].subjects.push(s.to_string());
                    }
                }
            }
        }
    }
}
