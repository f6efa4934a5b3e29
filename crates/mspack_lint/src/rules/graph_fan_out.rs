use crate::declare_rule;
use crate::finding::Findings;
use crate::graph::{Graph, NodeKind};
use crate::workspace::Workspace;

/// Distinct workloads one workload may call synchronously before MSP503 reports it.
pub const MAX_FAN_OUT: usize = 5;

declare_rule! {
    /// ## What it checks
    /// Workloads that call more than 5 other workloads synchronously, counted in the dependency
    /// graph (`mspack graph`: env values and args naming a Service, mesh VirtualService routes,
    /// HTTPRoutes of a Service parent, AuthorizationPolicy ALLOW principals). The versions of an
    /// application (`orders-v1`, `orders-v2` with one `app.kubernetes.io/name`) count once.
    /// Reported at the name of the workload whose env names the callees.
    ///
    /// Off by default; `mspack graph --check` runs it, or enable it with `--extend-select MSP5`.
    ///
    /// ## Why it matters
    /// A request that fans out to many services is as available as the product of their
    /// availabilities and as slow as the slowest of them; the caller knows every callee's API,
    /// so it changes whenever they do. It is usually a missing aggregate or a composition that
    /// belongs in a read model.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: v1
    /// kind: Pod
    /// metadata: {name: web, namespace: shop, labels: {app: web}}
    /// spec:
    ///   containers:
    ///   - name: web
    ///     image: web
    ///     env:
    ///     - {name: A_ADDR, value: "a:80"}
    ///     - {name: B_ADDR, value: "b:80"}
    ///     - {name: C_ADDR, value: "c:80"}
    ///     - {name: D_ADDR, value: "d:80"}
    ///     - {name: E_ADDR, value: "e:80"}
    ///     - {name: F_ADDR, value: "f:80"}
    /// ---
    /// {apiVersion: v1, kind: Pod, metadata: {name: a, namespace: shop, labels: {app: a}}, spec: {containers: [{name: a, image: a}]}}
    /// ---
    /// {apiVersion: v1, kind: Pod, metadata: {name: b, namespace: shop, labels: {app: b}}, spec: {containers: [{name: b, image: b}]}}
    /// ---
    /// {apiVersion: v1, kind: Pod, metadata: {name: c, namespace: shop, labels: {app: c}}, spec: {containers: [{name: c, image: c}]}}
    /// ---
    /// {apiVersion: v1, kind: Pod, metadata: {name: d, namespace: shop, labels: {app: d}}, spec: {containers: [{name: d, image: d}]}}
    /// ---
    /// {apiVersion: v1, kind: Pod, metadata: {name: e, namespace: shop, labels: {app: e}}, spec: {containers: [{name: e, image: e}]}}
    /// ---
    /// {apiVersion: v1, kind: Pod, metadata: {name: f, namespace: shop, labels: {app: f}}, spec: {containers: [{name: f, image: f}]}}
    /// ---
    /// {apiVersion: v1, kind: Service, metadata: {name: a, namespace: shop}, spec: {selector: {app: a}, ports: [{port: 80}]}}
    /// ---
    /// {apiVersion: v1, kind: Service, metadata: {name: b, namespace: shop}, spec: {selector: {app: b}, ports: [{port: 80}]}}
    /// ---
    /// {apiVersion: v1, kind: Service, metadata: {name: c, namespace: shop}, spec: {selector: {app: c}, ports: [{port: 80}]}}
    /// ---
    /// {apiVersion: v1, kind: Service, metadata: {name: d, namespace: shop}, spec: {selector: {app: d}, ports: [{port: 80}]}}
    /// ---
    /// {apiVersion: v1, kind: Service, metadata: {name: e, namespace: shop}, spec: {selector: {app: e}, ports: [{port: 80}]}}
    /// ---
    /// {apiVersion: v1, kind: Service, metadata: {name: f, namespace: shop}, spec: {selector: {app: f}, ports: [{port: 80}]}}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: v1
    /// kind: Pod
    /// metadata: {name: web, namespace: shop, labels: {app: web}}
    /// spec:
    ///   containers:
    ///   - name: web
    ///     image: web
    ///     env:
    ///     - {name: A_ADDR, value: "a:80"}
    ///     - {name: CATALOG_VIEW_ADDR, value: "b:80"}
    /// ---
    /// {apiVersion: v1, kind: Pod, metadata: {name: a, namespace: shop, labels: {app: a}}, spec: {containers: [{name: a, image: a}]}}
    /// ---
    /// {apiVersion: v1, kind: Pod, metadata: {name: b, namespace: shop, labels: {app: b}}, spec: {containers: [{name: b, image: b}]}}
    /// ---
    /// {apiVersion: v1, kind: Service, metadata: {name: a, namespace: shop}, spec: {selector: {app: a}, ports: [{port: 80}]}}
    /// ---
    /// {apiVersion: v1, kind: Service, metadata: {name: b, namespace: shop}, spec: {selector: {app: b}, ports: [{port: 80}]}}
    /// ```
    /// Compose what the caller needs ahead of time (a read model fed by the others' events), or
    /// move the composition behind one service that owns it.
    pub static SYNC_FAN_OUT = Rule {
        code: "MSP503",
        name: "sync-fan-out",
        severity: Warning,
        summary: "a workload calls more than 5 workloads synchronously",
        mirrors: None,
        enabled_by_default: false,
        check: check,
    };
}

fn check(ws: &Workspace, out: &mut Findings) {
    let graph = Graph::of(ws);
    let adjacency = graph.sync_adjacency();
    for (n, node) in graph.nodes.iter().enumerate() {
        let targets = &adjacency[n];
        if node.kind != NodeKind::Workload || targets.len() <= MAX_FAN_OUT {
            continue;
        }
        // The workload whose env or routes name the callees (a node's first resource may be
        // another version that calls nothing).
        let caller = targets
            .iter()
            .filter_map(|&e| graph.edges[e].evidence.first())
            .find(|ev| node.resources.contains(&ev.resource))
            .map(|ev| ev.resource)
            .or_else(|| node.resources.first().copied());
        let Some(r) = caller.and_then(|r| ws.resources.get(r)) else {
            continue;
        };
        let names: Vec<&str> = targets
            .iter()
            .map(|&e| graph.nodes[graph.edges[e].to].id.as_str())
            .collect();
        out.report(
            r,
            r.anchor(),
            format!(
                "{} calls {} workloads synchronously (more than {MAX_FAN_OUT}): {}; a request is as \
                 available as all of them together and as slow as the slowest",
                node.id,
                targets.len(),
                names.join(", ")
            ),
        )
        .help("compose ahead of time (a read model fed by events) or move the composition behind the service that owns it");
    }
}
