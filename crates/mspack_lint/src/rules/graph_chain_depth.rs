use crate::declare_rule;
use crate::finding::Findings;
use crate::graph::Graph;
use crate::workspace::Workspace;

/// Synchronous hops allowed from an entry point before MSP501 reports the chain.
pub const MAX_CHAIN_DEPTH: usize = 3;

declare_rule! {
    /// ## What it checks
    /// The synchronous calls of the dependency graph (`mspack graph`): a workload's env values
    /// and args naming another Service (`host:port`, URLs), mesh VirtualService routes and
    /// mirrors, HTTPRoute backendRefs of a Service parent, AuthorizationPolicy ALLOW
    /// principals. From every entry point (a workload behind a Gateway, or one no workload
    /// calls synchronously) it follows the longest chain of synchronous calls and reports a
    /// chain of more than 3 hops, at the call that goes one hop too far.
    ///
    /// Off by default; `mspack graph --check` runs it, or enable it with `--extend-select MSP5`.
    ///
    /// ## Why it matters
    /// Every hop of a synchronous chain multiplies the caller's failure and latency: with five
    /// services at 99.9% each, a request succeeds 99.5% of the time, and its latency is the sum
    /// of the hops' tails. A deep chain is the distributed monolith: the services cannot be
    /// deployed, scaled or fail independently.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: v1
    /// kind: Pod
    /// metadata: {name: web, namespace: shop, labels: {app: web}}
    /// spec: {containers: [{name: web, image: web, env: [{name: A, value: "http://orders"}]}]}
    /// ---
    /// apiVersion: v1
    /// kind: Pod
    /// metadata: {name: orders, namespace: shop, labels: {app: orders}}
    /// spec: {containers: [{name: orders, image: orders, env: [{name: A, value: "http://pricing"}]}]}
    /// ---
    /// apiVersion: v1
    /// kind: Pod
    /// metadata: {name: pricing, namespace: shop, labels: {app: pricing}}
    /// spec: {containers: [{name: pricing, image: pricing, env: [{name: A, value: "http://tax"}]}]}
    /// ---
    /// apiVersion: v1
    /// kind: Pod
    /// metadata: {name: tax, namespace: shop, labels: {app: tax}}
    /// spec: {containers: [{name: tax, image: tax, env: [{name: A, value: "http://rates"}]}]}
    /// ---
    /// apiVersion: v1
    /// kind: Pod
    /// metadata: {name: rates, namespace: shop, labels: {app: rates}}
    /// spec: {containers: [{name: rates, image: rates}]}
    /// ---
    /// {apiVersion: v1, kind: Service, metadata: {name: orders, namespace: shop}, spec: {selector: {app: orders}, ports: [{port: 80}]}}
    /// ---
    /// {apiVersion: v1, kind: Service, metadata: {name: pricing, namespace: shop}, spec: {selector: {app: pricing}, ports: [{port: 80}]}}
    /// ---
    /// {apiVersion: v1, kind: Service, metadata: {name: tax, namespace: shop}, spec: {selector: {app: tax}, ports: [{port: 80}]}}
    /// ---
    /// {apiVersion: v1, kind: Service, metadata: {name: rates, namespace: shop}, spec: {selector: {app: rates}, ports: [{port: 80}]}}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: v1
    /// kind: Pod
    /// metadata: {name: web, namespace: shop, labels: {app: web}}
    /// spec: {containers: [{name: web, image: web, env: [{name: A, value: "http://orders"}]}]}
    /// ---
    /// apiVersion: v1
    /// kind: Pod
    /// metadata: {name: orders, namespace: shop, labels: {app: orders}}
    /// spec: {containers: [{name: orders, image: orders, env: [{name: A, value: "http://pricing"}]}]}
    /// ---
    /// apiVersion: v1
    /// kind: Pod
    /// metadata: {name: pricing, namespace: shop, labels: {app: pricing}}
    /// spec: {containers: [{name: pricing, image: pricing, env: [{name: A, value: "http://tax"}]}]}
    /// ---
    /// apiVersion: v1
    /// kind: Pod
    /// metadata: {name: tax, namespace: shop, labels: {app: tax}}
    /// spec: {containers: [{name: tax, image: tax, env: [{name: RATES_TOPIC, value: "nats://nats:4222"}]}]}
    /// ---
    /// {apiVersion: v1, kind: Service, metadata: {name: orders, namespace: shop}, spec: {selector: {app: orders}, ports: [{port: 80}]}}
    /// ---
    /// {apiVersion: v1, kind: Service, metadata: {name: pricing, namespace: shop}, spec: {selector: {app: pricing}, ports: [{port: 80}]}}
    /// ---
    /// {apiVersion: v1, kind: Service, metadata: {name: tax, namespace: shop}, spec: {selector: {app: tax}, ports: [{port: 80}]}}
    /// ```
    /// Cut the chain: let the deepest services receive what they need as events (tax rates
    /// published when they change, kept in a local read model) instead of asking on every
    /// request, or merge services that are always called together.
    pub static SYNC_CHAIN_TOO_DEEP = Rule {
        code: "MSP501",
        name: "sync-chain-too-deep",
        severity: Warning,
        summary: "a chain of synchronous calls is more than 3 hops deep",
        mirrors: None,
        enabled_by_default: false,
        check: check,
    };
}

fn check(ws: &Workspace, out: &mut Findings) {
    let graph = Graph::of(ws);
    let mut reported = std::collections::HashSet::new();
    for (entry, chain) in graph.longest_chains() {
        if chain.len() <= MAX_CHAIN_DEPTH {
            continue;
        }
        let too_far = chain[MAX_CHAIN_DEPTH];
        if !reported.insert(too_far) {
            continue;
        }
        let Some((r, span)) = graph.edges[too_far].anchor(ws) else {
            continue;
        };
        out.report_span(
            r,
            span,
            format!(
                "synchronous call chain of {} hops from entry point {} (more than {MAX_CHAIN_DEPTH}): {}; \
                 each hop adds its latency and failures to every caller before it",
                chain.len(),
                graph.nodes[entry].id,
                graph.describe_chain(&chain),
            ),
        )
        .help(
            "make a hop asynchronous (an event or a command over a broker, with a local read model), \
             or merge services that are always called together",
        );
    }
}
