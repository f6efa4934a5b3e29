//! MSP508 and MSP509: the dependency graph against the calls seen in traces (`--traces`, an
//! OTLP JSON export): calls the manifests do not declare, and declared calls never seen.

use std::collections::{HashMap, HashSet};

use crate::declare_rule;
use crate::finding::Findings;
use crate::graph::traces::{Observed, service_nodes};
use crate::graph::{EdgeKind, Graph, NodeKind};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// Calls seen in the traces given with `--traces` (an OTLP JSON export of spans, as the
    /// Collector's `file` exporter writes it): a span whose parent span belongs to another
    /// service is a call from the parent's service to the child's. A call between two workloads
    /// of the input that the manifests declare nowhere (no env value, arg, route, policy, event
    /// subject or store links the caller to the callee) is reported at the caller, with the
    /// number of calls seen. Spans are matched to workloads by their `service.name` resource
    /// attribute: a container's `OTEL_SERVICE_NAME` (or `service.name` in
    /// `OTEL_RESOURCE_ATTRIBUTES`), else the workload's `app.kubernetes.io/name` or `app` label,
    /// its name, or `namespace/name`. Services of the traces that no workload stands for are
    /// left alone (the input may be part of the system).
    ///
    /// Off by default, and silent without `--traces`; `mspack graph --check --traces FILE`
    /// runs it. The examples below are checked against traces in which `orders` calls
    /// `payments` and `audit`.
    ///
    /// ## Why it matters
    /// The graph the other MSP5xx rules judge is the graph the manifests declare. A dependency
    /// that only runtime shows (an address built in code, a hard-coded host, a client library
    /// that discovers its peer) escapes every check: the chain depth, the cycles and the fan-out
    /// are worse than they look, and nobody sees the coupling in review.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: v1
    /// kind: Pod
    /// metadata: {name: orders, namespace: shop, labels: {app: orders}}
    /// spec: {containers: [{name: orders, image: orders, env: [{name: PAYMENTS_URL, value: "http://payments.shop:8080"}]}]}
    /// ---
    /// {apiVersion: v1, kind: Pod, metadata: {name: payments, namespace: shop, labels: {app: payments}}, spec: {containers: [{name: payments, image: payments}]}}
    /// ---
    /// {apiVersion: v1, kind: Pod, metadata: {name: audit, namespace: shop, labels: {app: audit}}, spec: {containers: [{name: audit, image: audit}]}}
    /// ---
    /// {apiVersion: v1, kind: Service, metadata: {name: payments, namespace: shop}, spec: {selector: {app: payments}, ports: [{port: 8080}]}}
    /// ---
    /// {apiVersion: v1, kind: Service, metadata: {name: audit, namespace: shop}, spec: {selector: {app: audit}, ports: [{port: 8080}]}}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: v1
    /// kind: Pod
    /// metadata: {name: orders, namespace: shop, labels: {app: orders}}
    /// spec:
    ///   containers:
    ///   - name: orders
    ///     image: orders
    ///     env:
    ///     - {name: PAYMENTS_URL, value: "http://payments.shop:8080"}
    ///     - {name: AUDIT_URL, value: "http://audit.shop:8080"}
    /// ---
    /// {apiVersion: v1, kind: Pod, metadata: {name: payments, namespace: shop, labels: {app: payments}}, spec: {containers: [{name: payments, image: payments}]}}
    /// ---
    /// {apiVersion: v1, kind: Pod, metadata: {name: audit, namespace: shop, labels: {app: audit}}, spec: {containers: [{name: audit, image: audit}]}}
    /// ---
    /// {apiVersion: v1, kind: Service, metadata: {name: payments, namespace: shop}, spec: {selector: {app: payments}, ports: [{port: 8080}]}}
    /// ---
    /// {apiVersion: v1, kind: Service, metadata: {name: audit, namespace: shop}, spec: {selector: {app: audit}, ports: [{port: 8080}]}}
    /// ```
    /// Declare the dependency where the caller is configured (the callee's Service in an env
    /// var, or the event subject in the `events.mspack.io/*` annotations), or remove the call.
    pub static UNDECLARED_DEPENDENCY = Rule {
        code: "MSP508",
        name: "undeclared-dependency",
        severity: Warning,
        summary: "traces show a call between workloads that no manifest declares",
        mirrors: None,
        enabled_by_default: false,
        check: check_undeclared,
    };
}

declare_rule! {
    /// ## What it checks
    /// Synchronous calls the manifests declare (env values and args naming a Service, mesh
    /// routes, HTTPRoutes, AuthorizationPolicy principals) that the traces given with
    /// `--traces` never show, reported at the declaration. Only when the traces hold spans of
    /// both the caller and the callee (matched by `service.name` as MSP508 does): a service
    /// the traces do not cover says nothing about its calls, and a call to an uninstrumented
    /// service leaves no child span to see.
    ///
    /// Off by default, and silent without `--traces`; `mspack graph --check --traces FILE`
    /// runs it. The examples below are checked against traces in which `orders` calls
    /// `payments`, and `stock` serves requests of its own.
    ///
    /// ## Why it matters
    /// A declared call that never happens is either dead configuration (an address left behind
    /// when the call was removed, which keeps the graph, and every rule on it, wrong) or a path
    /// the traffic behind the traces never took (a fallback, a rare branch) that no one has
    /// seen work. Either is worth a look; traces sample, so it is information, not a defect.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: v1
    /// kind: Pod
    /// metadata: {name: orders, namespace: shop, labels: {app: orders}}
    /// spec:
    ///   containers:
    ///   - name: orders
    ///     image: orders
    ///     env:
    ///     - {name: PAYMENTS_URL, value: "http://payments.shop:8080"}
    ///     - {name: STOCK_URL, value: "http://stock.shop:8080"}
    /// ---
    /// {apiVersion: v1, kind: Pod, metadata: {name: payments, namespace: shop, labels: {app: payments}}, spec: {containers: [{name: payments, image: payments}]}}
    /// ---
    /// {apiVersion: v1, kind: Pod, metadata: {name: stock, namespace: shop, labels: {app: stock}}, spec: {containers: [{name: stock, image: stock}]}}
    /// ---
    /// {apiVersion: v1, kind: Service, metadata: {name: payments, namespace: shop}, spec: {selector: {app: payments}, ports: [{port: 8080}]}}
    /// ---
    /// {apiVersion: v1, kind: Service, metadata: {name: stock, namespace: shop}, spec: {selector: {app: stock}, ports: [{port: 8080}]}}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: v1
    /// kind: Pod
    /// metadata: {name: orders, namespace: shop, labels: {app: orders}}
    /// spec: {containers: [{name: orders, image: orders, env: [{name: PAYMENTS_URL, value: "http://payments.shop:8080"}]}]}
    /// ---
    /// {apiVersion: v1, kind: Pod, metadata: {name: payments, namespace: shop, labels: {app: payments}}, spec: {containers: [{name: payments, image: payments}]}}
    /// ---
    /// {apiVersion: v1, kind: Pod, metadata: {name: stock, namespace: shop, labels: {app: stock}}, spec: {containers: [{name: stock, image: stock}]}}
    /// ---
    /// {apiVersion: v1, kind: Service, metadata: {name: payments, namespace: shop}, spec: {selector: {app: payments}, ports: [{port: 8080}]}}
    /// ---
    /// {apiVersion: v1, kind: Service, metadata: {name: stock, namespace: shop}, spec: {selector: {app: stock}, ports: [{port: 8080}]}}
    /// ```
    /// Remove the address if the call is gone; if it is a rare path, exercise it in the traffic
    /// the traces come from (a test that takes the branch) so that the check sees it.
    pub static DECLARED_CALL_NOT_OBSERVED = Rule {
        code: "MSP509",
        name: "declared-call-not-observed",
        severity: Info,
        summary: "a declared synchronous call never appears in the traces",
        mirrors: None,
        enabled_by_default: false,
        check: check_unobserved,
    };
}

/// The traces' calls between workload nodes: (caller, callee) → the calls, and the nodes the
/// traces hold spans of.
struct NodeCalls<'t> {
    calls: HashMap<(usize, usize), Vec<&'t Observed>>,
    covered: HashSet<usize>,
}

fn node_calls<'t>(
    ws: &Workspace,
    graph: &Graph,
    traces: &'t crate::graph::traces::Traces,
) -> NodeCalls<'t> {
    let by_service = service_nodes(graph, ws);
    let mut calls: HashMap<(usize, usize), Vec<&Observed>> = HashMap::new();
    for o in &traces.calls {
        if let (Some(&from), Some(&to)) = (by_service.get(&o.from), by_service.get(&o.to))
            && from != to
        {
            calls.entry((from, to)).or_default().push(o);
        }
    }
    let covered = traces
        .services
        .iter()
        .filter_map(|s| by_service.get(s).copied())
        .collect();
    NodeCalls { calls, covered }
}

fn check_undeclared(ws: &Workspace, out: &mut Findings) {
    let Some(traces) = ws.traces.as_deref() else {
        return;
    };
    let graph = Graph::of(ws);
    let seen = node_calls(ws, &graph, traces);
    let mut pairs: Vec<_> = seen.calls.iter().collect();
    pairs.sort_by_key(|((from, to), _)| (*from, *to));
    for (&(from, to), observed) in pairs {
        if graph.linked(from, to).is_some() {
            continue;
        }
        let caller = &graph.nodes[from];
        let Some(r) = caller.resources.first().and_then(|&r| ws.resources.get(r)) else {
            continue;
        };
        let count: usize = observed.iter().map(|o| o.count).sum();
        let p99 = observed.iter().map(|o| o.p99_ms).fold(0.0, f64::max);
        out.report(
            r,
            r.anchor(),
            format!(
                "traces show {} calling {} ({count} call{}, p99 {p99:.1} ms), but no manifest \
                 declares the dependency (no env value, route, policy, event subject or store \
                 links them): the graph the other checks judge misses it",
                caller.id,
                graph.nodes[to].id,
                if count == 1 { "" } else { "s" },
            ),
        )
        .help(format!(
            "declare it where {} is configured (the callee's Service in an env var, or the event \
             subject in events.mspack.io/*), or remove the call",
            caller.name
        ));
    }
}

fn check_unobserved(ws: &Workspace, out: &mut Findings) {
    let Some(traces) = ws.traces.as_deref() else {
        return;
    };
    let graph = Graph::of(ws);
    let seen = node_calls(ws, &graph, traces);
    for e in graph.edges.iter().filter(|e| e.kind == EdgeKind::Sync) {
        let callee = &graph.nodes[e.to];
        if callee.kind != NodeKind::Workload
            || !seen.covered.contains(&e.from)
            || !seen.covered.contains(&e.to)
            || seen.calls.contains_key(&(e.from, e.to))
        {
            continue;
        }
        let Some(ev) = e.evidence.first() else {
            continue;
        };
        let Some(r) = ws.resources.get(ev.resource) else {
            continue;
        };
        let caller = &graph.nodes[e.from];
        let outgoing: usize = seen
            .calls
            .iter()
            .filter(|((from, _), _)| *from == e.from)
            .flat_map(|(_, o)| o.iter().map(|o| o.count))
            .sum();
        let seen_calls = if outgoing == 0 {
            format!("{} calls no other service in them", caller.name)
        } else {
            format!(
                "{outgoing} call{} from {} to other services",
                if outgoing == 1 { "" } else { "s" },
                caller.name
            )
        };
        out.report_span(
            r,
            ev.span,
            format!(
                "{} declares a call to {} ({}), but the traces never show one, though they hold \
                 spans of both ({seen_calls}): dead configuration, or a path the traced traffic \
                 never took",
                caller.id, callee.id, ev.what,
            ),
        )
        .help("remove the address if the call is gone, or exercise the path in the traffic the traces come from");
    }
}
