//! `mspack_graph`: draws the dependency graph that `mspack_lint::graph` builds. Rendering only:
//! [`View::new`] narrows the graph (`--focus`, `--collapse`) and marks what findings point at;
//! [`render`] writes Mermaid, Graphviz DOT, JSON or one self-contained HTML page (inline SVG,
//! no script, no network).

mod html;
mod layout;
mod text;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use mspack_lint::Finding;
use mspack_lint::graph::Graph;
use mspack_lint::graph::traces::Observed;

/// An output format of `mspack graph`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Mermaid,
    Dot,
    Json,
    Html,
}

/// A node as drawn.
#[derive(Clone, Debug)]
pub struct ViewNode {
    pub id: String,
    pub label: String,
    pub context: String,
    /// `workload`, `database`, `volume`, `external`, `observed` (a service seen only in
    /// traces), or `context` when collapsed.
    pub kind: &'static str,
    pub entry: bool,
    pub location: Option<String>,
    /// Messages of the findings on this node.
    pub findings: Vec<String>,
    /// The `service.name` its telemetry carries (`OTEL_SERVICE_NAME`), for `--traces`.
    pub service_names: Vec<String>,
}

/// An edge as drawn.
#[derive(Clone, Debug)]
pub struct ViewEdge {
    pub from: usize,
    pub to: usize,
    /// `sync`, `async`, `data`, `external`, or `observed` (from `--traces`).
    pub kind: &'static str,
    /// Subjects of an async edge, or the number of edges a collapsed edge stands for.
    pub label: String,
    /// `file:line: what` of each piece of evidence.
    pub evidence: Vec<String>,
    /// Messages of the findings at its evidence.
    pub findings: Vec<String>,
}

/// The graph as drawn.
#[derive(Clone, Debug, Default)]
pub struct View {
    pub nodes: Vec<ViewNode>,
    pub edges: Vec<ViewEdge>,
}

/// Hops around the `--focus` service that stay in view.
pub const FOCUS_HOPS: usize = 2;

impl View {
    /// The view of `graph`: findings attached to the nodes (by resource) and edges (by
    /// evidence position) they point at; with `focus`, only the nodes within [`FOCUS_HOPS`]
    /// of the nodes whose id or name is `focus`; with `collapse`, one node per context.
    pub fn new(
        graph: &Graph,
        findings: &[Finding],
        observed: &[Observed],
        focus: Option<&str>,
        collapse: bool,
    ) -> Result<View, String> {
        let mut view = View::full(graph, findings);
        view.add_observed(observed);
        if let Some(focus) = focus {
            view = view.focus(focus)?;
        }
        if collapse {
            view = view.collapse();
        }
        Ok(view)
    }

    fn full(graph: &Graph, findings: &[Finding]) -> View {
        let findings: Vec<&Finding> = findings
            .iter()
            .filter(|f| f.code().starts_with("MSP5"))
            .collect();
        // Each finding's `file:line`, and the findings at each position.
        let mut at_position: HashMap<String, Vec<String>> = HashMap::new();
        for f in &findings {
            if let Some(p) = f
                .path()
                .zip(f.span)
                .map(|(p, s)| format!("{p}:{}", s.start.line))
            {
                at_position.entry(p).or_default().push(message(f));
            }
        }
        let evidence: HashSet<&str> = graph
            .edges
            .iter()
            .flat_map(|e| e.evidence.iter().map(|ev| ev.location.as_str()))
            .collect();
        // Findings on a resource, unless they point at an edge's evidence (drawn on the edge).
        let mut on_resource: HashMap<&str, Vec<String>> = HashMap::new();
        for f in &findings {
            let position = f
                .path()
                .zip(f.span)
                .map(|(p, s)| format!("{p}:{}", s.start.line));
            if position.is_some_and(|p| evidence.contains(p.as_str())) {
                continue;
            }
            if let Some(r) = &f.resource {
                on_resource.entry(r.as_str()).or_default().push(message(f));
            }
        }
        let nodes = graph
            .nodes
            .iter()
            .map(|n| ViewNode {
                id: n.id.clone(),
                label: n.name.clone(),
                context: n.context.clone(),
                kind: n.kind.as_str(),
                entry: n.entry,
                location: n.location.clone(),
                service_names: n.service_names.clone(),
                findings: n
                    .names
                    .iter()
                    .filter_map(|name| on_resource.get(name.as_str()))
                    .flatten()
                    .cloned()
                    .collect(),
            })
            .collect();
        let edges = graph
            .edges
            .iter()
            .map(|e| ViewEdge {
                from: e.from,
                to: e.to,
                kind: e.kind.as_str(),
                label: e.subjects.join(", "),
                evidence: e
                    .evidence
                    .iter()
                    .map(|ev| format!("{}: {}", ev.location, ev.what))
                    .collect(),
                findings: e
                    .evidence
                    .iter()
                    .filter_map(|ev| at_position.get(ev.location.as_str()))
                    .flatten()
                    .cloned()
                    .collect(),
            })
            .collect();
        View { nodes, edges }
    }

    /// Calls seen in traces (`--traces`), as `observed` edges between the nodes whose
    /// `OTEL_SERVICE_NAME`, else name or id, is the span's `service.name`; a service no node stands for gets a node of its own in
    /// the context `traces`. The label says whether the manifests declare the dependency.
    fn add_observed(&mut self, observed: &[Observed]) {
        for o in observed {
            let from = self.service_node(&o.from);
            let to = self.service_node(&o.to);
            let declared = self
                .edges
                .iter()
                .any(|e| e.from == from && e.to == to && e.kind != "observed");
            self.edges.push(ViewEdge {
                from,
                to,
                kind: "observed",
                label: format!(
                    "{} call{}, p50 {:.1} ms, p99 {:.1} ms{}",
                    o.count,
                    if o.count == 1 { "" } else { "s" },
                    o.p50_ms,
                    o.p99_ms,
                    if declared { "" } else { " (undeclared)" }
                ),
                evidence: vec![format!("traces: {} -> {}", o.from, o.to)],
                findings: Vec::new(),
            });
        }
    }

    fn service_node(&mut self, service: &str) -> usize {
        let known = self
            .nodes
            .iter()
            .position(|n| n.kind == "workload" && n.service_names.iter().any(|s| s == service))
            .or_else(|| {
                self.nodes
                    .iter()
                    .position(|n| n.kind == "workload" && (n.label == service || n.id == service))
            });
        if let Some(i) = known {
            return i;
        }
        let id = format!("service:{service}");
        if let Some(i) = self.nodes.iter().position(|n| n.id == id) {
            return i;
        }
        self.nodes.push(ViewNode {
            id,
            label: service.to_string(),
            context: "traces".into(),
            kind: "observed",
            entry: false,
            location: None,
            findings: Vec::new(),
            service_names: Vec::new(),
        });
        self.nodes.len() - 1
    }

    /// The nodes within [`FOCUS_HOPS`] (either direction) of the focused ones.
    fn focus(self, focus: &str) -> Result<View, String> {
        let starts: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.nodes[i].id == focus || self.nodes[i].label == focus)
            .collect();
        if starts.is_empty() {
            return Err(format!(
                "--focus {focus:?}: no workload of that name or id in the graph"
            ));
        }
        let mut distance: BTreeMap<usize, usize> = starts.iter().map(|&s| (s, 0)).collect();
        let mut queue: VecDeque<usize> = starts.into_iter().collect();
        while let Some(n) = queue.pop_front() {
            let d = distance[&n];
            if d == FOCUS_HOPS {
                continue;
            }
            for e in &self.edges {
                let other = if e.from == n {
                    e.to
                } else if e.to == n {
                    e.from
                } else {
                    continue;
                };
                if let std::collections::btree_map::Entry::Vacant(slot) = distance.entry(other) {
                    slot.insert(d + 1);
                    queue.push_back(other);
                }
            }
        }
        let keep: BTreeSet<usize> = distance.into_keys().collect();
        Ok(self.subset(&keep))
    }

    fn subset(self, keep: &BTreeSet<usize>) -> View {
        let mut index = BTreeMap::new();
        let mut nodes = Vec::new();
        for (i, n) in self.nodes.into_iter().enumerate() {
            if keep.contains(&i) {
                index.insert(i, nodes.len());
                nodes.push(n);
            }
        }
        let edges = self
            .edges
            .into_iter()
            .filter_map(|mut e| {
                e.from = *index.get(&e.from)?;
                e.to = *index.get(&e.to)?;
                Some(e)
            })
            .collect();
        View { nodes, edges }
    }

    /// One node per context; edges between contexts by kind, labelled with their count.
    fn collapse(self) -> View {
        let contexts: BTreeSet<&str> = self.nodes.iter().map(|n| n.context.as_str()).collect();
        let position: BTreeMap<&str, usize> =
            contexts.iter().enumerate().map(|(i, c)| (*c, i)).collect();
        let mut nodes: Vec<ViewNode> = contexts
            .iter()
            .map(|c| ViewNode {
                id: (*c).to_string(),
                label: (*c).to_string(),
                context: (*c).to_string(),
                kind: "context",
                entry: false,
                location: None,
                findings: Vec::new(),
                service_names: Vec::new(),
            })
            .collect();
        for n in &self.nodes {
            let c = position[n.context.as_str()];
            nodes[c].entry |= n.entry;
            nodes[c].findings.extend(n.findings.iter().cloned());
        }
        let mut merged: BTreeMap<(usize, usize, &'static str), ViewEdge> = BTreeMap::new();
        for e in &self.edges {
            let from = position[self.nodes[e.from].context.as_str()];
            let to = position[self.nodes[e.to].context.as_str()];
            if from == to {
                continue;
            }
            let slot = merged
                .entry((from, to, e.kind))
                .or_insert_with(|| ViewEdge {
                    from,
                    to,
                    kind: e.kind,
                    label: String::new(),
                    evidence: Vec::new(),
                    findings: Vec::new(),
                });
            slot.evidence.extend(e.evidence.iter().cloned());
            slot.findings.extend(e.findings.iter().cloned());
        }
        let edges = merged
            .into_values()
            .map(|mut e| {
                e.label = format!(
                    "{} edge{}",
                    e.evidence.len(),
                    if e.evidence.len() == 1 { "" } else { "s" }
                );
                e
            })
            .collect();
        View { nodes, edges }
    }

    /// Contexts with their nodes, both in name order.
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
}

fn message(f: &Finding) -> String {
    format!("{}: {}", f.code(), f.message)
}

/// Render `view` in `format`.
pub fn render(view: &View, format: Format) -> String {
    match format {
        Format::Mermaid => text::mermaid(view),
        Format::Dot => text::dot(view),
        Format::Json => text::json(view),
        Format::Html => html::page(view),
    }
}
