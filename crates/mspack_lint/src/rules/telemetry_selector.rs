//! Mirrors Istio's `telemetry.SelectorAnalyzer`: Telemetry selectors that select nothing, and
//! Telemetries that select the same workload.

use std::collections::HashMap;

use crate::declare_rule;
use crate::finding::{Findings, Issue, quoted_names, report_issues};
use crate::resource::{Kind, Resource};
use crate::workloads::{Selector, Values, Workload, workload_display};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// A Telemetry whose `selector.matchLabels` select no Pod (or pod template of a Deployment,
    /// StatefulSet, ...) in the Telemetry's own namespace. Telemetries without a selector, or
    /// with empty `matchLabels`, are not checked here.
    ///
    /// ## Why it matters
    /// The Telemetry then configures nothing: the metrics overrides, access logs or trace
    /// sampling you wrote for a workload are not applied, and the workload keeps the namespace
    /// or mesh defaults.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: telemetry.istio.io/v1
    /// kind: Telemetry
    /// metadata: {name: courier-tracing, namespace: delivery}
    /// spec:
    ///   selector:
    ///     matchLabels: {app: courier}
    ///   tracing:
    ///   - randomSamplingPercentage: 50
    /// ---
    /// apiVersion: apps/v1
    /// kind: Deployment
    /// metadata: {name: courier-api, namespace: delivery}
    /// spec:
    ///   selector:
    ///     matchLabels: {app: courier-api}
    ///   template:
    ///     metadata:
    ///       labels: {app: courier-api}
    ///     spec:
    ///       containers: [{name: api, image: courier:1.4}]
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: telemetry.istio.io/v1
    /// kind: Telemetry
    /// metadata: {name: courier-tracing, namespace: delivery}
    /// spec:
    ///   selector:
    ///     matchLabels: {app: courier-api}
    ///   tracing:
    ///   - randomSamplingPercentage: 50
    /// ---
    /// apiVersion: apps/v1
    /// kind: Deployment
    /// metadata: {name: courier-api, namespace: delivery}
    /// spec:
    ///   selector:
    ///     matchLabels: {app: courier-api}
    ///   template:
    ///     metadata:
    ///       labels: {app: courier-api}
    ///     spec:
    ///       containers: [{name: api, image: courier:1.4}]
    /// ```
    pub static TELEMETRY_SELECTOR_NOT_FOUND = Rule {
        code: "IST0101",
        name: "ReferencedResourceNotFound",
        severity: Error,
        summary: "a Telemetry selector matches no workload in its namespace",
        mirrors: Some("telemetry.SelectorAnalyzer"),
        context: Kind::WORKLOADS,
        check: check_not_found,
    };
}

declare_rule! {
    /// ## What it checks
    /// Two or more Telemetries with selectors that select the same workload. Each Telemetry is
    /// reported once per workload it shares.
    ///
    /// ## Why it matters
    /// A workload takes one workload-level Telemetry. When several select it, the one that
    /// applies is not defined, so its telemetry settings can change without a configuration
    /// change.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: telemetry.istio.io/v1
    /// kind: Telemetry
    /// metadata: {name: checkout-logs, namespace: orders}
    /// spec:
    ///   selector:
    ///     matchLabels: {app: checkout}
    ///   accessLogging:
    ///   - providers: [{name: envoy}]
    /// ---
    /// apiVersion: telemetry.istio.io/v1
    /// kind: Telemetry
    /// metadata: {name: canary-tracing, namespace: orders}
    /// spec:
    ///   selector:
    ///     matchLabels: {track: canary}
    ///   tracing:
    ///   - randomSamplingPercentage: 100
    /// ---
    /// apiVersion: v1
    /// kind: Pod
    /// metadata:
    ///   name: checkout-canary
    ///   namespace: orders
    ///   labels: {app: checkout, track: canary}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: telemetry.istio.io/v1
    /// kind: Telemetry
    /// metadata: {name: checkout-canary, namespace: orders}
    /// spec:
    ///   selector:
    ///     matchLabels: {app: checkout, track: canary}
    ///   accessLogging:
    ///   - providers: [{name: envoy}]
    ///   tracing:
    ///   - randomSamplingPercentage: 100
    /// ---
    /// apiVersion: v1
    /// kind: Pod
    /// metadata:
    ///   name: checkout-canary
    ///   namespace: orders
    ///   labels: {app: checkout, track: canary}
    /// ```
    pub static CONFLICTING_TELEMETRY_SELECTORS = Rule {
        code: "IST0159",
        name: "ConflictingTelemetryWorkloadSelectors",
        severity: Error,
        summary: "several Telemetries select the same workload",
        mirrors: Some("telemetry.SelectorAnalyzer"),
        check: check_conflicting,
    };
}

fn check_not_found(ws: &Workspace, out: &mut Findings) {
    report_issues(out, "IST0101", analyze(ws));
}

fn check_conflicting(ws: &Workspace, out: &mut Findings) {
    report_issues(out, "IST0159", analyze(ws));
}

fn analyze(ws: &Workspace) -> Vec<Issue<'_>> {
    let mut issues = Vec::new();
    let mut selecting: HashMap<usize, Vec<&Resource>> = HashMap::new();
    let mut order = Vec::new();
    for telemetry in ws.of_kind(Kind::Telemetry) {
        let labels_node = telemetry.spec_at(&["selector", "matchLabels"]);
        let selector = Selector::read(labels_node, Values::OtherAsEmpty);
        if selector.is_empty() {
            continue;
        }
        let matched: Vec<&Workload> = ws
            .select_workloads(Some(&telemetry.ns), &selector)
            .collect();
        if matched.is_empty() {
            let text = selector.set_text();
            let first_key = text.split('=').next().unwrap_or("");
            let node = labels_node
                .and_then(|l| l.get_entry(first_key).map(|(k, _)| k))
                .or(labels_node)
                .unwrap_or_else(|| telemetry.anchor());
            let ns = if telemetry.ns.is_empty() {
                "its namespace".to_string()
            } else {
                format!("namespace {:?}", telemetry.ns)
            };
            issues.push(
                Issue::new(
                    "IST0101",
                    telemetry,
                    node,
                    format!("selector {text:?} matches no workload in {ns}"),
                )
                .help(
                    "a Telemetry selects workloads of its own namespace only: fix the labels, or \
                     move it to the namespace of the workloads it is meant for",
                ),
            );
        }
        for w in matched {
            let list = selecting.entry(w.resource).or_default();
            if list.is_empty() {
                order.push(w);
            }
            list.push(telemetry);
        }
    }
    for w in order {
        let Some(list) = selecting.get(&w.resource).filter(|l| l.len() > 1) else {
            continue;
        };
        let names = quoted_names(list.iter().copied());
        let workload = workload_display(ws, w);
        for &telemetry in list {
            issues.push(
                Issue::new(
                    "IST0159",
                    telemetry,
                    telemetry.anchor(),
                    format!(
                        "Telemetries {names} in namespace {:?} all select {workload}; which one \
                         applies is undefined",
                        w.ns
                    ),
                )
                .help("make the selectors disjoint, or merge the Telemetries into one"),
            );
        }
    }
    issues
}
