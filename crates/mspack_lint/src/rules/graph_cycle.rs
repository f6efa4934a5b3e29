use crate::declare_rule;
use crate::finding::Findings;
use crate::graph::Graph;
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// Cycles in the synchronous calls of the dependency graph (`mspack graph`; calls are read
    /// from env values and args naming a Service, mesh VirtualService routes, HTTPRoutes of a
    /// Service parent and AuthorizationPolicy ALLOW principals). Each cycle is reported once,
    /// at the call that closes it, with the workloads it goes through.
    ///
    /// Off by default; `mspack graph --check` runs it, or enable it with `--extend-select MSP5`.
    ///
    /// ## Why it matters
    /// Services that call each other synchronously cannot be deployed, started or degraded one
    /// at a time: each needs the other up, a slow one holds the other's threads while it waits
    /// for itself, and a retry storm circulates. It is one service split across processes.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: v1
    /// kind: Pod
    /// metadata: {name: orders, namespace: shop, labels: {app: orders}}
    /// spec: {containers: [{name: orders, image: orders, env: [{name: BILLING_URL, value: "http://billing.shop:8080"}]}]}
    /// ---
    /// apiVersion: v1
    /// kind: Pod
    /// metadata: {name: billing, namespace: shop, labels: {app: billing}}
    /// spec: {containers: [{name: billing, image: billing, env: [{name: ORDERS_URL, value: "http://orders.shop:8080"}]}]}
    /// ---
    /// {apiVersion: v1, kind: Service, metadata: {name: orders, namespace: shop}, spec: {selector: {app: orders}, ports: [{port: 8080}]}}
    /// ---
    /// {apiVersion: v1, kind: Service, metadata: {name: billing, namespace: shop}, spec: {selector: {app: billing}, ports: [{port: 8080}]}}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: v1
    /// kind: Pod
    /// metadata: {name: orders, namespace: shop, labels: {app: orders}}
    /// spec: {containers: [{name: orders, image: orders, env: [{name: BILLING_URL, value: "http://billing.shop:8080"}]}]}
    /// ---
    /// apiVersion: v1
    /// kind: Pod
    /// metadata: {name: billing, namespace: shop, labels: {app: billing}}
    /// spec: {containers: [{name: billing, image: billing, env: [{name: NATS_URL, value: "nats://nats.messaging:4222"}]}]}
    /// ---
    /// {apiVersion: v1, kind: Service, metadata: {name: orders, namespace: shop}, spec: {selector: {app: orders}, ports: [{port: 8080}]}}
    /// ---
    /// {apiVersion: v1, kind: Service, metadata: {name: billing, namespace: shop}, spec: {selector: {app: billing}, ports: [{port: 8080}]}}
    /// ```
    /// Break one direction: billing learns about orders from the events orders publishes
    /// instead of calling back.
    pub static SYNC_CALL_CYCLE = Rule {
        code: "MSP502",
        name: "sync-call-cycle",
        severity: Warning,
        summary: "workloads call each other synchronously in a cycle",
        mirrors: None,
        enabled_by_default: false,
        check: check,
    };
}

fn check(ws: &Workspace, out: &mut Findings) {
    let graph = Graph::of(ws);
    for cycle in graph.sync_cycles() {
        let Some(&closing) = cycle.last() else {
            continue;
        };
        let Some((r, span)) = graph.edges[closing].anchor(ws) else {
            continue;
        };
        out.report_span(
            r,
            span,
            format!(
                "synchronous calls form a cycle: {}; none of these can be deployed, started or \
                 degraded without the others",
                graph.describe_chain(&cycle)
            ),
        )
        .help("break one direction of the cycle with events (publish what the caller needs) or merge the services");
    }
}
