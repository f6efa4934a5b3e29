//! Mirrors Istio's `telemetry.SelectorAnalyzer`: Telemetry selectors that select nothing, and
//! Telemetries that select the same workload.

use crate::declare_rule;
use crate::finding::{Findings, Issue, report_issues};
use crate::resource::Kind;
use crate::rule::{Pass, Scope};
use crate::selector_findings::{conflicting_policies, selector_not_found};
use crate::workloads::{Selections, Selector, Values};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// A Telemetry whose `selector.matchLabels` select no Pod (or pod template of a Deployment,
    /// StatefulSet, ...) in the Telemetry's own namespace. Telemetries without a selector, or
    /// with empty `matchLabels`, are not checked here.
    /// Kiali: KIA0004 (`generic.selector.workloadnotfound`) for Telemetries.
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
        pass: TELEMETRY_SELECTORS,
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
        pass: TELEMETRY_SELECTORS,
    };
}

/// One run of Istio's `telemetry.SelectorAnalyzer` for all of its rules.
static TELEMETRY_SELECTORS: Pass = Pass {
    name: "telemetry.SelectorAnalyzer",
    check: Scope::Workspace(check),
};

fn check(ws: &Workspace, out: &mut Findings) {
    report_issues(out, analyze(ws));
}

fn analyze(ws: &Workspace) -> Vec<Issue<'_>> {
    let mut issues = Vec::new();
    let mut selections = Selections::default();
    for telemetry in ws.of_kind(Kind::Telemetry) {
        let labels_node = telemetry.spec_at(&["selector", "matchLabels"]);
        let selector = Selector::read(labels_node, Values::OtherAsEmpty);
        if selector.is_empty() || selections.add(ws, telemetry, &selector) {
            continue;
        }
        issues.push(selector_not_found(
            &TELEMETRY_SELECTOR_NOT_FOUND,
            telemetry,
            labels_node,
            &selector,
            "selector",
            "a Telemetry selects workloads of its own namespace only: fix the labels, or move it \
             to the namespace of the workloads it is meant for",
        ));
    }
    for (w, telemetries) in selections.iter() {
        if telemetries.len() > 1 {
            issues.extend(conflicting_policies(
                ws,
                &CONFLICTING_TELEMETRY_SELECTORS,
                "Telemetries",
                w,
                telemetries,
                "make the selectors disjoint, or merge the Telemetries into one",
            ));
        }
    }
    issues
}
