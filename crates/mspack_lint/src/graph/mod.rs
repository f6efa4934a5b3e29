//! The dependency graph of a run: workloads grouped by bounded context, and the edges between
//! them that the manifests declare (synchronous calls, events, data stores, external hosts),
//! each with the node that is its evidence. An index over the [`Workspace`], built once per run
//! ([`Graph::of`]); it knows no rules (MSP5xx read it, `mspack graph` draws it).
//!
//! Where edges come from:
//! - sync: env values and args naming a Service (`host:port`, URLs; short, `name.ns`,
//!   `name.ns.svc[.<domain>]`), mesh VirtualService routes and mirrors, HTTPRoute backendRefs of
//!   a Service parent, AuthorizationPolicy ALLOW principals (see [`mesh`]); NetworkPolicy
//!   egress to specific pods (confirming an edge, or a new one to an HTTP/gRPC port);
//! - async: the `events.mspack.io/publishes` and `events.mspack.io/consumes` annotations (subjects
//!   matched with NATS wildcards) and broker URLs in env (`nats://`, `kafka://`, `NATS_URL`);
//! - data: database URLs (`postgres://`, `redis://`, ..., or `host:port` in a var named after a
//!   database), database vars read from a Secret or ConfigMap, PersistentVolumeClaim volumes;
//! - external: URLs to hosts outside the cluster (a ServiceEntry host or any public name).

mod address;
mod edges;
pub mod mesh;
mod netpol;
mod paths;
pub mod subjects;
pub mod traces;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use mspack_yaml::{Node, Span};

use crate::hosts::{HostForm, classify_host, expand_host};
use crate::resource::Resource;
use crate::workloads::{Selector, Values};
use crate::workspace::Workspace;

pub use address::{Address, addresses, parse as parse_address};

/// Workload annotation naming the bounded context (default: the namespace).
pub const CONTEXT_ANNOTATION: &str = "mspack.io/context";
/// Workload annotation: the subjects (topics) it publishes, comma- or space-separated.
pub const PUBLISHES_ANNOTATION: &str = "events.mspack.io/publishes";
/// Workload annotation: the subjects it consumes; NATS wildcards `*` and `>` allowed.
pub const CONSUMES_ANNOTATION: &str = "events.mspack.io/consumes";
/// Workload annotation declaring an outbox relay for what it publishes (`"true"`, or the relay's
/// name); a container arg `relay-<name>` (as `serve orders,relay-orders`) declares one too.
pub const OUTBOX_ANNOTATION: &str = "events.mspack.io/outbox";

/// What an edge stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EdgeKind {
    Sync,
    Async,
    Data,
    External,
}

impl EdgeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EdgeKind::Sync => "sync",
            EdgeKind::Async => "async",
            EdgeKind::Data => "data",
            EdgeKind::External => "external",
        }
    }
}

/// What a node stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NodeKind {
    /// The workloads of one application (`app.kubernetes.io/name` or `app`, else the resource
    /// name) in one namespace: `orders-v1` and `orders-v2` are one node.
    Workload,
    /// A database known only by its address or by the Secret/ConfigMap its URL comes from.
    Database,
    /// A PersistentVolumeClaim.
    Volume,
    /// A host outside the cluster.
    External,
}

impl NodeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeKind::Workload => "workload",
            NodeKind::Database => "database",
            NodeKind::Volume => "volume",
            NodeKind::External => "external",
        }
    }
}

/// A node of the graph.
#[derive(Clone, Debug)]
pub struct GraphNode {
    /// Unique: `ns/name` for workloads, `db:...`, `pvc:ns/claim`, `external:host`.
    pub id: String,
    pub name: String,
    /// Bounded context: the `mspack.io/context` annotation, else the namespace; `external`
    /// for external hosts.
    pub context: String,
    pub namespace: String,
    pub kind: NodeKind,
    /// Workload resources (indexes in [`Workspace::resources`]), in input order.
    pub resources: Vec<usize>,
    /// Behind a Gateway (a gateway-bound VirtualService or HTTPRoute routes to it, or an
    /// AuthorizationPolicy admits the ingress gateway).
    pub entry: bool,
    /// `file:line` of the first workload resource.
    pub location: Option<String>,
    /// `Kind ns/name` of each workload resource (as findings name their resource).
    pub names: Vec<String>,
    /// The `service.name` its containers give their telemetry (`OTEL_SERVICE_NAME`, or
    /// `service.name=` in `OTEL_RESOURCE_ATTRIBUTES`), as spans of `--traces` carry it.
    pub service_names: Vec<String>,
}

/// Where an edge was read: the node of a resource.
#[derive(Clone, Debug)]
pub struct Evidence {
    pub resource: usize,
    pub span: Span,
    /// `file:line`.
    pub location: String,
    /// What was read there (`env CART_SERVICE_ADDR`, `VirtualService route`, ...).
    pub what: String,
}

/// A dependency of `from` on `to`.
#[derive(Clone, Debug)]
pub struct Edge {
    pub from: usize,
    pub to: usize,
    pub kind: EdgeKind,
    /// Every place it was read, first first.
    pub evidence: Vec<Evidence>,
    /// Services it goes through (resource indexes), for sync edges read from addresses.
    pub services: Vec<usize>,
    /// Subjects, for async edges from annotations.
    pub subjects: Vec<String>,
}

impl Edge {
    /// Where a finding about this edge points: its first evidence, as the resource and the span
    /// in it. `None` when the evidence names a resource the workspace no longer has.
    pub fn anchor<'w>(&self, ws: &'w Workspace) -> Option<(&'w crate::resource::Resource, Span)> {
        let ev = self.evidence.first()?;
        Some((ws.resources.get(ev.resource)?, ev.span))
    }
}

/// The graph of one run.
#[derive(Debug, Default)]
pub struct Graph {
    pub nodes: Vec<GraphNode>,
    pub edges: Vec<Edge>,
    by_id: HashMap<String, usize>,
    by_resource: HashMap<usize, usize>,
    by_pair: HashMap<(usize, usize, EdgeKind), usize>,
}

impl Graph {
    /// The graph of `ws`, built once per run and shared by every rule that asks.
    pub fn of(ws: &Workspace) -> Arc<Graph> {
        ws.shared(|| Graph::build(ws))
    }

    /// Build the graph of `ws`.
    pub fn build(ws: &Workspace) -> Graph {
        let mut graph = Graph::default();
        for r in crate::pod_security::workloads(ws).filter(|r| !r.assumed) {
            graph.add_workload(r);
        }
        edges::add_workload_edges(&mut graph, ws);
        mesh::add_mesh_edges(&mut graph, ws);
        netpol::add_network_policy_edges(&mut graph, ws);
        graph
    }

    /// Parse `inputs` and build their graph (what `mspack graph` draws), with the number of
    /// files that could not be read or parsed (those contribute what loaded before the error).
    pub fn from_inputs(
        inputs: &crate::Inputs,
        options: &crate::LintOptions,
    ) -> Result<(Graph, usize), crate::LintError> {
        use rayon::prelude::*;
        let (mesh, networks) = crate::load_mesh_inputs(options)?;
        let parsed: Vec<_> = inputs
            .sources
            .par_iter()
            .map(|s| mspack_yaml::parse_file(s.clone(), &options.limits))
            .collect();
        let ws = Workspace::build(parsed, options.clone(), mesh, networks);
        let unloadable = ws.unloadable() + inputs.unreadable.len();
        Ok((Graph::build(&ws), unloadable))
    }

    /// The node of a workload resource.
    pub fn node_of_resource(&self, resource: usize) -> Option<usize> {
        self.by_resource.get(&resource).copied()
    }

    /// The node with this id.
    pub fn node(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    /// Edges of `kind` leaving `node`.
    pub fn outgoing(&self, node: usize, kind: EdgeKind) -> impl Iterator<Item = &Edge> {
        self.edges
            .iter()
            .filter(move |e| e.from == node && e.kind == kind)
    }

    /// Node ids by context, contexts and nodes sorted.
    pub fn contexts(&self) -> BTreeMap<&str, Vec<usize>> {
        let mut out: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, n) in self.nodes.iter().enumerate() {
            out.entry(n.context.as_str()).or_default().push(i);
        }
        for list in out.values_mut() {
            list.sort_by(|a, b| self.nodes[*a].id.cmp(&self.nodes[*b].id));
        }
        out
    }

    fn add_workload(&mut self, r: &Resource) {
        let template_labels = r
            .pod_template()
            .and_then(|t| t.path(&["metadata", "labels"]));
        let label = |key: &str| {
            template_labels
                .and_then(|l| l.get(key))
                .and_then(Node::as_str)
                .or_else(|| r.label(key))
                .filter(|v| !v.is_empty())
        };
        let name = label("app.kubernetes.io/name")
            .or_else(|| label("app"))
            .unwrap_or(r.name.as_str())
            .to_string();
        let template_annotation = r
            .pod_template()
            .and_then(|t| t.path(&["metadata", "annotations", CONTEXT_ANNOTATION]))
            .and_then(Node::as_str);
        let context = r
            .annotation(CONTEXT_ANNOTATION)
            .or(template_annotation)
            .filter(|c| !c.trim().is_empty())
            .map_or_else(|| display_ns(r).to_string(), |c| c.trim().to_string());
        let id = format!("{}/{}", display_ns(r), name);
        let node = self.ensure_node(
            id,
            name,
            context,
            display_ns(r).to_string(),
            NodeKind::Workload,
        );
        let location = format!("{}:{}", r.file.path, r.anchor().span.start.line);
        let n = &mut self.nodes[node];
        n.resources.push(r.id);
        n.names.push(r.display_name());
        for service in traces::declared_service_names(r) {
            if !n.service_names.contains(&service) {
                n.service_names.push(service);
            }
        }
        n.location.get_or_insert(location);
        self.by_resource.insert(r.id, node);
    }

    fn ensure_node(
        &mut self,
        id: String,
        name: String,
        context: String,
        namespace: String,
        kind: NodeKind,
    ) -> usize {
        if let Some(&i) = self.by_id.get(&id) {
            return i;
        }
        let i = self.nodes.len();
        self.by_id.insert(id.clone(), i);
        self.nodes.push(GraphNode {
            id,
            name,
            context,
            namespace,
            kind,
            resources: Vec::new(),
            entry: false,
            location: None,
            names: Vec::new(),
            service_names: Vec::new(),
        });
        i
    }

    /// Add an edge, or another piece of evidence to the edge already there. Self-edges are
    /// dropped (a workload calling its own Service is no dependency between services).
    fn add_edge(
        &mut self,
        from: usize,
        to: usize,
        kind: EdgeKind,
        evidence: Evidence,
    ) -> Option<usize> {
        if from == to {
            return None;
        }
        if let Some(&i) = self.by_pair.get(&(from, to, kind)) {
            let known = &mut self.edges[i].evidence;
            if !known
                .iter()
                .any(|e| e.location == evidence.location && e.what == evidence.what)
            {
                known.push(evidence);
            }
            return Some(i);
        }
        let i = self.edges.len();
        self.by_pair.insert((from, to, kind), i);
        self.edges.push(Edge {
            from,
            to,
            kind,
            evidence: vec![evidence],
            services: Vec::new(),
            subjects: Vec::new(),
        });
        Some(i)
    }

    /// Whether any edge links `from` to `to`.
    pub fn linked(&self, from: usize, to: usize) -> Option<usize> {
        [
            EdgeKind::Sync,
            EdgeKind::Async,
            EdgeKind::Data,
            EdgeKind::External,
        ]
        .iter()
        .find_map(|k| self.by_pair.get(&(from, to, *k)).copied())
    }
}

/// The namespace of a resource as shown: `default` for one written without.
pub fn display_ns(r: &Resource) -> &str {
    if r.ns.is_empty() { "default" } else { &r.ns }
}

/// Evidence at `node` of `r`.
fn evidence(r: &Resource, node: &Node, what: impl Into<String>) -> Evidence {
    Evidence {
        resource: r.id,
        span: node.span,
        location: format!("{}:{}", r.file.path, node.span.start.line),
        what: what.into(),
    }
}

/// What a host written in namespace `ns` names.
pub enum Target {
    /// Kubernetes Services (resource indexes) and the graph nodes of the workloads they select.
    Services(Vec<usize>, Vec<usize>),
    /// A host outside the cluster.
    External(String),
    /// A cluster name that names no Service of the input (or a Service selecting nothing).
    Unknown,
}

/// Resolve a host, as written in namespace `ns`, to the Services it names and their workloads.
pub fn resolve(graph: &Graph, ws: &Workspace, ns: &str, host: &str) -> Target {
    let domain = ws.cluster_domain();
    let form = classify_host(host, domain, |n| ws.namespaces().contains(n));
    let fqdn = match form {
        HostForm::Fqdn => host.trim_end_matches('.').to_string(),
        HostForm::Short | HostForm::PartialCluster => match expand_host(host, ns, domain, &form) {
            Some(f) => f,
            None => return Target::Unknown,
        },
        HostForm::External => return Target::External(host.to_string()),
        HostForm::Wildcard => return Target::Unknown,
    };
    let Some(services) = ws.services_by_fqdn().get(&fqdn) else {
        return Target::Unknown;
    };
    let mut nodes = Vec::new();
    for &s in services {
        let Some(svc) = ws.resources.get(s) else {
            continue;
        };
        let selector_node = svc.spec_at(&["selector"]).filter(|n| !n.is_null());
        let Some(selector_node) = selector_node else {
            continue;
        };
        let selector = Selector::read(Some(selector_node), Values::AsWritten);
        if selector.is_empty() {
            continue;
        }
        for w in ws.select_workloads(Some(svc.ns.as_str()), &selector) {
            if let Some(n) = graph.node_of_resource(w.resource)
                && !nodes.contains(&n)
            {
                nodes.push(n);
            }
        }
    }
    if nodes.is_empty() {
        Target::Unknown
    } else {
        Target::Services(services.clone(), nodes)
    }
}

/// The namespace a cluster host written in namespace `ns` names (`pg.data` -> `data`).
pub fn host_namespace(ws: &Workspace, ns: &str, host: &str) -> Option<String> {
    let domain = ws.cluster_domain();
    let form = classify_host(host, domain, |n| ws.namespaces().contains(n));
    let fqdn = match form {
        HostForm::Fqdn => host.trim_end_matches('.').to_string(),
        HostForm::Short | HostForm::PartialCluster => expand_host(host, ns, domain, &form)?,
        _ => return None,
    };
    crate::hosts::split_fqdn(&fqdn, domain)
        .map(|(_, ns)| ns)
        .filter(|ns| !ns.is_empty())
        .map(str::to_string)
}
