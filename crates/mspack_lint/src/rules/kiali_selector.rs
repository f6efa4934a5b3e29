//! Kiali's `common.SelectorNoWorkloadFoundChecker` for the kinds no Istio analyzer covers:
//! PeerAuthentication and RequestAuthentication selectors that match no workload of their
//! namespace (Sidecars, Telemetries and AuthorizationPolicies are IST0101/IST0127's).

use crate::declare_rule;
use crate::finding::{Findings, report_issues};
use crate::resource::Kind;
use crate::selector_findings::selector_not_found;
use crate::workloads::{Selector, Values};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// A PeerAuthentication or RequestAuthentication whose `selector.matchLabels` match no
    /// workload (Pod or pod template) of its namespace. It runs only for namespaces whose
    /// workloads are in the input (at least one), so policies written for workloads deployed
    /// from elsewhere are not reported. Kiali: KIA0004 (`generic.selector.workloadnotfound`);
    /// for Sidecars, Telemetries and AuthorizationPolicies the same check is IST0101 or IST0127.
    ///
    /// ## Why it matters
    /// A policy whose selector matches nothing applies to nothing: the STRICT mTLS or JWT
    /// validation it was written for is not enforced, usually because of a label typo or a
    /// label changed on the Deployment.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: apps/v1
    /// kind: Deployment
    /// metadata: {name: ledger, namespace: billing}
    /// spec:
    ///   selector:
    ///     matchLabels: {app: ledger}
    ///   template:
    ///     metadata:
    ///       labels: {app: ledger}
    ///     spec:
    ///       containers:
    ///       - {name: ledger, image: ledger:1.0}
    /// ---
    /// apiVersion: security.istio.io/v1
    /// kind: PeerAuthentication
    /// metadata: {name: ledger, namespace: billing}
    /// spec:
    ///   selector:
    ///     matchLabels: {app: legder}
    ///   mtls: {mode: STRICT}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: apps/v1
    /// kind: Deployment
    /// metadata: {name: ledger, namespace: billing}
    /// spec:
    ///   selector:
    ///     matchLabels: {app: ledger}
    ///   template:
    ///     metadata:
    ///       labels: {app: ledger}
    ///     spec:
    ///       containers:
    ///       - {name: ledger, image: ledger:1.0}
    /// ---
    /// apiVersion: security.istio.io/v1
    /// kind: PeerAuthentication
    /// metadata: {name: ledger, namespace: billing}
    /// spec:
    ///   selector:
    ///     matchLabels: {app: ledger}
    ///   mtls: {mode: STRICT}
    /// ```
    pub static SELECTOR_NO_WORKLOAD = Rule {
        code: "KIA0004",
        name: "selector-matches-no-workload",
        severity: Warning,
        summary: "a PeerAuthentication or RequestAuthentication selector matches no workload of its namespace",
        mirrors: Some("common.SelectorNoWorkloadFoundChecker"),
        context: Kind::WORKLOADS,
        check: check,
    };
}

fn check(ws: &Workspace, out: &mut Findings) {
    let mut issues = Vec::new();
    for kind in [Kind::PeerAuthentication, Kind::RequestAuthentication] {
        for policy in ws.of_kind(kind) {
            let labels_node = policy.spec_at(&["selector", "matchLabels"]);
            let selector = Selector::read(labels_node, Values::OtherAsEmpty);
            if selector.is_empty() {
                continue;
            }
            let any = Selector::default();
            let modelled = ws
                .select_workloads(Some(&policy.ns), &any)
                .any(|w| ws.resources.get(w.resource).is_some_and(|r| !r.assumed));
            if !modelled {
                continue;
            }
            if ws
                .select_workloads(Some(&policy.ns), &selector)
                .next()
                .is_none()
            {
                issues.push(selector_not_found(
                    &SELECTOR_NO_WORKLOAD,
                    policy,
                    labels_node,
                    &selector,
                    "selector",
                    "fix the labels to those of the workloads' pod template, or remove the policy",
                ));
            }
        }
    }
    report_issues(out, issues);
}
