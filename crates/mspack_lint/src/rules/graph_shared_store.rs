use std::collections::BTreeMap;

use crate::declare_rule;
use crate::finding::Findings;
use crate::graph::{EdgeKind, Graph};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// Data stores used by workloads of more than one bounded context, in the dependency graph
    /// (`mspack graph`). A store is a database named by an address in env (`postgres://`,
    /// `mysql://`, `redis://`, `mongodb://`, ..., or `host:port` in a var named after a database:
    /// `REDIS_ADDR`, `DATABASE_HOST`), a database var read from one Secret or ConfigMap key, or
    /// a PersistentVolumeClaim mounted as a volume. A workload's context is its
    /// `mspack.io/context` annotation, else its namespace; a store's own context is that of its
    /// workload or of the namespace in its address. Each use from a context other than the
    /// store's own (or, when that context does not use it, the first by name) is reported, at
    /// the env var or volume.
    ///
    /// Off by default; `mspack graph --check` runs it, or enable it with `--extend-select MSP5`.
    ///
    /// ## Why it matters
    /// A database shared by two contexts couples them through its schema: neither can change a
    /// table, migrate or scale its store without the other, and their data is consistent only
    /// by convention. Each context owns its data and shares it through its API or its events.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: v1
    /// kind: Pod
    /// metadata: {name: orders, namespace: orders, labels: {app: orders}}
    /// spec: {containers: [{name: orders, image: orders, env: [{name: DATABASE_URL, value: "postgres://app@pg.data:5432/shop"}]}]}
    /// ---
    /// apiVersion: v1
    /// kind: Pod
    /// metadata: {name: billing, namespace: billing, labels: {app: billing}}
    /// spec: {containers: [{name: billing, image: billing, env: [{name: DATABASE_URL, value: "postgres://app@pg.data:5432/shop"}]}]}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: v1
    /// kind: Pod
    /// metadata: {name: orders, namespace: orders, labels: {app: orders}}
    /// spec: {containers: [{name: orders, image: orders, env: [{name: DATABASE_URL, value: "postgres://app@orders-db.data:5432/orders"}]}]}
    /// ---
    /// apiVersion: v1
    /// kind: Pod
    /// metadata: {name: billing, namespace: billing, labels: {app: billing}}
    /// spec: {containers: [{name: billing, image: billing, env: [{name: DATABASE_URL, value: "postgres://app@billing-db.data:5432/billing"}]}]}
    /// ```
    /// Give each context its own database (or at least its own schema and credentials), and
    /// let the others read its data through its API or a projection of its events.
    pub static SHARED_DATA_STORE = Rule {
        code: "MSP504",
        name: "shared-data-store",
        severity: Warning,
        summary: "two bounded contexts share a database or a volume",
        mirrors: None,
        enabled_by_default: false,
        check: check,
    };
}

fn check(ws: &Workspace, out: &mut Findings) {
    let graph = Graph::of(ws);
    // store -> context -> its data edges
    let mut users: BTreeMap<usize, BTreeMap<&str, Vec<usize>>> = BTreeMap::new();
    for (i, e) in graph.edges.iter().enumerate() {
        if e.kind == EdgeKind::Data {
            users
                .entry(e.to)
                .or_default()
                .entry(graph.nodes[e.from].context.as_str())
                .or_default()
                .push(i);
        }
    }
    for (store, contexts) in users {
        if contexts.len() < 2 {
            continue;
        }
        let names: Vec<&str> = contexts.keys().copied().collect();
        // The context that owns the store: its own, if it uses it, else the first by name.
        let own = graph.nodes[store].context.as_str();
        let owner = if contexts.contains_key(own) {
            own
        } else {
            names[0]
        };
        for (context, edges) in contexts.iter().filter(|(c, _)| **c != owner) {
            for &e in edges {
                let edge = &graph.edges[e];
                let Some((r, span)) = edge.anchor(ws) else {
                    continue;
                };
                out.report_span(
                    r,
                    span,
                    format!(
                        "{} (context {context}) uses {} {}, which contexts {} share: they are \
                         coupled through what it stores and cannot change or migrate it alone",
                        graph.nodes[edge.from].id,
                        graph.nodes[store].kind.as_str(),
                        graph.nodes[store].id,
                        names.join(", ")
                    ),
                )
                .help(
                    "give each bounded context its own store; share data through an API or events",
                );
            }
        }
    }
}
