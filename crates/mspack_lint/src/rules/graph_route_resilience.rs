//! MSP505 and MSP506: the VirtualService routes that carry synchronous calls of the dependency
//! graph, without a timeout or retrying writes.

use std::collections::HashMap;

use mspack_yaml::Node;

use crate::declare_rule;
use crate::finding::Findings;
use crate::graph::mesh::applies_to_mesh;
use crate::graph::{EdgeKind, Graph, Target, resolve};
use crate::resource::{Kind, Resource};
use crate::workspace::Workspace;

/// Workload annotation saying its writes are idempotent (an idempotency key, an inbox): MSP506
/// lets its routes be retried.
pub const IDEMPOTENCY_ANNOTATION: &str = "events.mspack.io/idempotency";

declare_rule! {
    /// ## What it checks
    /// The http routes of mesh VirtualServices (no `gateways`, or `mesh` among them) for a
    /// Service that a workload calls synchronously, per the dependency graph (`mspack graph`:
    /// env values and args naming the Service). A route without `timeout` is reported, at the
    /// route, with the callers.
    ///
    /// Off by default; `mspack graph --check` runs it, or enable it with `--extend-select MSP5`.
    ///
    /// ## Why it matters
    /// Istio sets no timeout on an HTTP route by default: a callee that hangs holds its caller's
    /// request, connection and thread until the caller's own client gives up, if it ever does,
    /// and the slowness spreads up the call chain. A route timeout below the caller's deadline
    /// fails fast and lets the caller degrade.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: v1
    /// kind: Pod
    /// metadata: {name: orders, namespace: shop, labels: {app: orders}}
    /// spec: {containers: [{name: orders, image: orders, env: [{name: PRICING_URL, value: "http://pricing:8080"}]}]}
    /// ---
    /// {apiVersion: v1, kind: Pod, metadata: {name: pricing, namespace: shop, labels: {app: pricing}}, spec: {containers: [{name: pricing, image: pricing}]}}
    /// ---
    /// {apiVersion: v1, kind: Service, metadata: {name: pricing, namespace: shop}, spec: {selector: {app: pricing}, ports: [{port: 8080}]}}
    /// ---
    /// apiVersion: networking.istio.io/v1
    /// kind: VirtualService
    /// metadata: {name: pricing, namespace: shop}
    /// spec:
    ///   hosts: [pricing]
    ///   http:
    ///   - route: [{destination: {host: pricing}}]
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: v1
    /// kind: Pod
    /// metadata: {name: orders, namespace: shop, labels: {app: orders}}
    /// spec: {containers: [{name: orders, image: orders, env: [{name: PRICING_URL, value: "http://pricing:8080"}]}]}
    /// ---
    /// {apiVersion: v1, kind: Pod, metadata: {name: pricing, namespace: shop, labels: {app: pricing}}, spec: {containers: [{name: pricing, image: pricing}]}}
    /// ---
    /// {apiVersion: v1, kind: Service, metadata: {name: pricing, namespace: shop}, spec: {selector: {app: pricing}, ports: [{port: 8080}]}}
    /// ---
    /// apiVersion: networking.istio.io/v1
    /// kind: VirtualService
    /// metadata: {name: pricing, namespace: shop}
    /// spec:
    ///   hosts: [pricing]
    ///   http:
    ///   - route: [{destination: {host: pricing}}]
    ///     timeout: 2s
    /// ```
    /// Set `timeout` on every route that carries synchronous calls, below the callers' own
    /// deadline.
    pub static ROUTE_WITHOUT_TIMEOUT = Rule {
        code: "MSP505",
        name: "sync-route-without-timeout",
        severity: Warning,
        summary: "a VirtualService route carrying synchronous calls has no timeout",
        mirrors: None,
        enabled_by_default: false,
        check: check_timeouts,
    };
}

declare_rule! {
    /// ## What it checks
    /// The http routes of mesh VirtualServices for a Service that a workload calls
    /// synchronously (per `mspack graph`) that match a non-idempotent method (`POST` or `PATCH`
    /// in a `method` match: exact, a prefix of either, or a regex naming either) and are retried:
    /// `retries.attempts` above 0, or no `retries` at all (Istio then retries twice on
    /// `connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes`). Retries
    /// only on conditions where the request never reached the callee (`retryOn` within
    /// `connect-failure`, `refused-stream`, `reset-before-request`) are safe and not reported,
    /// and so are routes to workloads annotated `events.mspack.io/idempotency` (an idempotency
    /// key or inbox makes a repeated write harmless).
    ///
    /// Off by default; `mspack graph --check` runs it, or enable it with `--extend-select MSP5`.
    ///
    /// ## Why it matters
    /// A retried POST whose first attempt was processed but whose response was lost (a reset, a
    /// 503 from an overloaded callee mid-request) runs twice: two orders, two charges.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: v1
    /// kind: Pod
    /// metadata: {name: orders, namespace: shop, labels: {app: orders}}
    /// spec: {containers: [{name: orders, image: orders, env: [{name: PAYMENTS_URL, value: "http://payments:8080"}]}]}
    /// ---
    /// {apiVersion: v1, kind: Pod, metadata: {name: payments, namespace: shop, labels: {app: payments}}, spec: {containers: [{name: payments, image: payments}]}}
    /// ---
    /// {apiVersion: v1, kind: Service, metadata: {name: payments, namespace: shop}, spec: {selector: {app: payments}, ports: [{port: 8080}]}}
    /// ---
    /// apiVersion: networking.istio.io/v1
    /// kind: VirtualService
    /// metadata: {name: payments, namespace: shop}
    /// spec:
    ///   hosts: [payments]
    ///   http:
    ///   - match: [{method: {exact: POST}}]
    ///     route: [{destination: {host: payments}}]
    ///     timeout: 5s
    ///     retries: {attempts: 3, retryOn: "5xx"}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: v1
    /// kind: Pod
    /// metadata: {name: orders, namespace: shop, labels: {app: orders}}
    /// spec: {containers: [{name: orders, image: orders, env: [{name: PAYMENTS_URL, value: "http://payments:8080"}]}]}
    /// ---
    /// {apiVersion: v1, kind: Pod, metadata: {name: payments, namespace: shop, labels: {app: payments}}, spec: {containers: [{name: payments, image: payments}]}}
    /// ---
    /// {apiVersion: v1, kind: Service, metadata: {name: payments, namespace: shop}, spec: {selector: {app: payments}, ports: [{port: 8080}]}}
    /// ---
    /// apiVersion: networking.istio.io/v1
    /// kind: VirtualService
    /// metadata: {name: payments, namespace: shop}
    /// spec:
    ///   hosts: [payments]
    ///   http:
    ///   - match: [{method: {exact: POST}}]
    ///     route: [{destination: {host: payments}}]
    ///     timeout: 5s
    ///     retries: {attempts: 0}
    /// ```
    /// Set `retries: {attempts: 0}` on write routes (or retry only `connect-failure,refused-stream`),
    /// or make the callee idempotent (an Idempotency-Key, an inbox) and annotate it.
    pub static RETRIED_WRITE_ROUTE = Rule {
        code: "MSP506",
        name: "sync-write-route-retried",
        severity: Warning,
        summary: "a VirtualService retries non-idempotent synchronous calls",
        mirrors: None,
        enabled_by_default: false,
        check: check_retries,
    };
}

/// An http route of a mesh VirtualService whose hosts name Services called synchronously.
struct CalledRoute<'a> {
    vs: &'a Resource,
    route: &'a Node,
    /// `ns/name` of the callers.
    callers: Vec<String>,
    /// Whether every workload behind the VirtualService's hosts declares idempotent writes.
    idempotent: bool,
}

fn called_routes<'a>(ws: &'a Workspace, graph: &Graph) -> Vec<CalledRoute<'a>> {
    // Service resource -> the workloads that call it synchronously.
    let mut callers_of: HashMap<usize, Vec<&str>> = HashMap::new();
    for e in graph.edges.iter().filter(|e| e.kind == EdgeKind::Sync) {
        for s in &e.services {
            callers_of
                .entry(*s)
                .or_default()
                .push(&graph.nodes[e.from].id);
        }
    }
    let mut out = Vec::new();
    for vs in ws
        .of_kind(Kind::VirtualService)
        .filter(|r| !r.assumed && applies_to_mesh(r))
    {
        let mut callers: Vec<String> = Vec::new();
        let mut callees: Vec<usize> = Vec::new();
        for host in vs
            .spec_at(&["hosts"])
            .into_iter()
            .flat_map(Node::items)
            .filter_map(Node::as_str)
        {
            let Target::Services(services, nodes) = resolve(graph, ws, &vs.ns, host) else {
                continue;
            };
            callees.extend(nodes);
            for id in services.iter().filter_map(|s| callers_of.get(s)).flatten() {
                if !callers.iter().any(|c| c == id) {
                    callers.push((*id).to_string());
                }
            }
        }
        if callers.is_empty() {
            continue;
        }
        callers.sort();
        let idempotent = !callees.is_empty()
            && callees.iter().all(|&n| {
                graph.nodes[n]
                    .resources
                    .iter()
                    .filter_map(|&r| ws.resources.get(r))
                    .all(|r| {
                        r.annotation(IDEMPOTENCY_ANNOTATION)
                            .is_some_and(|v| !v.trim().is_empty())
                    })
            });
        for route in vs.spec_at(&["http"]).into_iter().flat_map(Node::items) {
            out.push(CalledRoute {
                vs,
                route,
                callers: callers.clone(),
                idempotent,
            });
        }
    }
    out
}

fn route_name(route: &Node) -> String {
    route
        .get("name")
        .and_then(Node::as_str)
        .map_or_else(String::new, |n| format!(" {n:?}"))
}

fn check_timeouts(ws: &Workspace, out: &mut Findings) {
    let graph = Graph::of(ws);
    for called in called_routes(ws, &graph) {
        if called.route.get("timeout").is_some_and(|t| !t.is_null()) {
            continue;
        }
        out.report(
            called.vs,
            called.route,
            format!(
                "route{} of VirtualService {} carries synchronous calls from {} but sets no timeout: \
                 a hanging callee holds every caller's request until its client gives up",
                route_name(called.route),
                called.vs.full_name(),
                called.callers.join(", ")
            ),
        )
        .help("set `timeout:` on the route (e.g. `timeout: 2s`), below the callers' own deadline");
    }
}

/// Whether a `method` match can match POST or PATCH.
fn matches_write(method: &Node) -> Option<&'static str> {
    for verb in ["POST", "PATCH"] {
        if let Some(exact) = method.get("exact").and_then(Node::as_str)
            && exact == verb
        {
            return Some(verb);
        }
        if let Some(prefix) = method.get("prefix").and_then(Node::as_str)
            && verb.starts_with(prefix)
        {
            return Some(verb);
        }
        if let Some(regex) = method.get("regex").and_then(Node::as_str)
            && regex.contains(verb)
        {
            return Some(verb);
        }
    }
    None
}

/// `retryOn` conditions under which the request never reached the callee.
const SAFE_RETRY_ON: &[&str] = &["connect-failure", "refused-stream", "reset-before-request"];

fn check_retries(ws: &Workspace, out: &mut Findings) {
    let graph = Graph::of(ws);
    for called in called_routes(ws, &graph) {
        if called.idempotent {
            continue;
        }
        let write = called
            .route
            .get("match")
            .into_iter()
            .flat_map(Node::items)
            .filter_map(|m| m.get("method"))
            .find_map(matches_write);
        let Some(verb) = write else { continue };
        let retries = called.route.get("retries").filter(|r| !r.is_null());
        let (node, how) = match retries {
            None => (
                called.route,
                "Istio's default retry policy (2 attempts) applies".to_string(),
            ),
            Some(retries) => {
                let attempts = retries.get("attempts").and_then(Node::as_i64).unwrap_or(0);
                if attempts <= 0 {
                    continue;
                }
                let retry_on = retries.get("retryOn").and_then(Node::as_str).unwrap_or("");
                let safe = !retry_on.trim().is_empty()
                    && retry_on
                        .split(',')
                        .all(|c| SAFE_RETRY_ON.contains(&c.trim()));
                if safe {
                    continue;
                }
                (retries, format!("it retries up to {attempts} times"))
            }
        };
        out.report(
            called.vs,
            node,
            format!(
                "route{} of VirtualService {} matches {verb} and {how}: a write from {} that \
                 reached the callee but lost its response runs twice",
                route_name(called.route),
                called.vs.full_name(),
                called.callers.join(", ")
            ),
        )
        .help("set `retries: {attempts: 0}` on write routes (or retryOn only connect-failure,refused-stream), or make the callee idempotent and annotate it `events.mspack.io/idempotency`");
    }
}
