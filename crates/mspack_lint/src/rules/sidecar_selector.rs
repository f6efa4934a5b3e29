//! Mirrors Istio's `sidecar.SelectorAnalyzer`: Sidecar workload selectors that select nothing,
//! Sidecars that select the same workload, several namespace-wide Sidecars in one namespace, and
//! Sidecars that cannot take effect because their workloads run in ambient mode.

use std::collections::HashSet;

use crate::declare_rule;
use crate::finding::{Findings, Issue, quoted_names, report_issues};
use crate::resource::{Kind, Resource};
use crate::rule::{Pass, Scope};
use crate::selector_findings::{conflicting_policies, selector_not_found};
use crate::workloads::{
    Selections, Selector, Values, by_namespace, namespace_in_ambient, workload_display,
    workload_in_ambient,
};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// A Sidecar whose `workloadSelector.labels` select no Pod (or pod template of a Deployment,
    /// StatefulSet, ...) in the Sidecar's own namespace.
    /// Kiali: KIA0004 (`generic.selector.workloadnotfound`) for Sidecars.
    ///
    /// ## Why it matters
    /// A Sidecar applies only to workloads of its namespace. A selector with a typo, or one
    /// written for workloads of another namespace, leaves the intended proxies on the
    /// namespace-wide (or mesh-wide) default, with the egress limits you wrote silently unused.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: Sidecar
    /// metadata: {name: kitchen, namespace: kitchen}
    /// spec:
    ///   workloadSelector:
    ///     labels: {app: kitchen-display}
    ///   egress:
    ///   - hosts: ["./*"]
    /// ---
    /// apiVersion: v1
    /// kind: Pod
    /// metadata:
    ///   name: kitchen-display
    ///   namespace: kitchen
    ///   labels: {app: kitchen-screen}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: Sidecar
    /// metadata: {name: kitchen, namespace: kitchen}
    /// spec:
    ///   workloadSelector:
    ///     labels: {app: kitchen-screen}
    ///   egress:
    ///   - hosts: ["./*"]
    /// ---
    /// apiVersion: v1
    /// kind: Pod
    /// metadata:
    ///   name: kitchen-display
    ///   namespace: kitchen
    ///   labels: {app: kitchen-screen}
    /// ```
    pub static SIDECAR_SELECTOR_NOT_FOUND = Rule {
        code: "IST0101",
        name: "ReferencedResourceNotFound",
        severity: Error,
        summary: "a Sidecar workload selector matches no workload in its namespace",
        mirrors: Some("sidecar.SelectorAnalyzer"),
        context: Kind::WORKLOADS,
        pass: SIDECAR_SELECTORS,
    };
}

declare_rule! {
    /// ## What it checks
    /// Two or more Sidecars with workload selectors that select the same workload. Each Sidecar
    /// is reported once per workload it shares.
    /// Kiali: KIA0003 (`generic.multimatch.selector`) for Sidecars.
    ///
    /// ## Why it matters
    /// A proxy takes exactly one Sidecar. When several select it, which one wins is not defined
    /// and may change between istiod restarts, so the workload's egress and ingress settings can
    /// flip without any change to the configuration.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: Sidecar
    /// metadata: {name: payments-api, namespace: payments}
    /// spec:
    ///   workloadSelector:
    ///     labels: {app: payments}
    /// ---
    /// apiVersion: networking.istio.io/v1
    /// kind: Sidecar
    /// metadata: {name: payments-v2, namespace: payments}
    /// spec:
    ///   workloadSelector:
    ///     labels: {version: v2}
    /// ---
    /// apiVersion: v1
    /// kind: Pod
    /// metadata:
    ///   name: payments-v2
    ///   namespace: payments
    ///   labels: {app: payments, version: v2}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: Sidecar
    /// metadata: {name: payments-v2, namespace: payments}
    /// spec:
    ///   workloadSelector:
    ///     labels: {version: v2}
    /// ---
    /// apiVersion: v1
    /// kind: Pod
    /// metadata:
    ///   name: payments-v2
    ///   namespace: payments
    ///   labels: {app: payments, version: v2}
    /// ```
    pub static CONFLICTING_SIDECAR_SELECTORS = Rule {
        code: "IST0110",
        name: "ConflictingSidecarWorkloadSelectors",
        severity: Error,
        summary: "several Sidecars select the same workload",
        mirrors: Some("sidecar.SelectorAnalyzer"),
        pass: SIDECAR_SELECTORS,
    };
}

declare_rule! {
    /// ## What it checks
    /// Two or more Sidecars without a workload selector (or with an empty one) in the same
    /// namespace.
    /// Kiali: KIA0002 (`generic.multimatch.selectorless`) for Sidecars.
    ///
    /// ## Why it matters
    /// A Sidecar without a selector is the default for every proxy of its namespace, and a
    /// namespace can have only one default. With several, istiod picks one in an unspecified
    /// order, so the namespace's effective egress scope is a matter of chance.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: Sidecar
    /// metadata: {name: default, namespace: delivery}
    /// spec:
    ///   egress:
    ///   - hosts: ["./*", "istio-system/*"]
    /// ---
    /// apiVersion: networking.istio.io/v1
    /// kind: Sidecar
    /// metadata: {name: delivery-egress, namespace: delivery}
    /// spec:
    ///   egress:
    ///   - hosts: ["./*", "orders/*"]
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: Sidecar
    /// metadata: {name: default, namespace: delivery}
    /// spec:
    ///   egress:
    ///   - hosts: ["./*", "istio-system/*", "orders/*"]
    /// ```
    pub static MULTIPLE_DEFAULT_SIDECARS = Rule {
        code: "IST0111",
        name: "MultipleSidecarsWithoutWorkloadSelectors",
        severity: Error,
        summary: "a namespace has several Sidecars without a workload selector",
        mirrors: Some("sidecar.SelectorAnalyzer"),
        pass: SIDECAR_SELECTORS,
    };
}

declare_rule! {
    /// ## What it checks
    /// A Sidecar that can have no effect because what it applies to runs in ambient mode: a
    /// selected Pod carries `ambient.istio.io/redirection: enabled`, or a namespace-wide Sidecar
    /// lives in a namespace labelled `istio.io/dataplane-mode: ambient` (and not also labelled
    /// for sidecar injection with `istio-injection: enabled` or `istio.io/rev`).
    ///
    /// ## Why it matters
    /// Ambient workloads have no sidecar proxy, so a Sidecar resource configures nothing for
    /// them. Egress restrictions written there are not enforced; they need a waypoint or other
    /// ambient policy instead.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: v1
    /// kind: Namespace
    /// metadata:
    ///   name: delivery
    ///   labels: {istio.io/dataplane-mode: ambient}
    /// ---
    /// apiVersion: networking.istio.io/v1
    /// kind: Sidecar
    /// metadata: {name: default, namespace: delivery}
    /// spec:
    ///   egress:
    ///   - hosts: ["./*"]
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: v1
    /// kind: Namespace
    /// metadata:
    ///   name: delivery
    ///   labels: {istio-injection: enabled}
    /// ---
    /// apiVersion: networking.istio.io/v1
    /// kind: Sidecar
    /// metadata: {name: default, namespace: delivery}
    /// spec:
    ///   egress:
    ///   - hosts: ["./*"]
    /// ```
    pub static SIDECAR_INEFFECTIVE_IN_AMBIENT = Rule {
        code: "IST0167",
        name: "IneffectivePolicy",
        severity: Warning,
        summary: "a Sidecar applies to ambient-mode workloads only and has no effect",
        mirrors: Some("sidecar.SelectorAnalyzer"),
        pass: SIDECAR_SELECTORS,
    };
}

/// One run of Istio's `sidecar.SelectorAnalyzer` for all of its rules.
static SIDECAR_SELECTORS: Pass = Pass {
    name: "sidecar.SelectorAnalyzer",
    check: Scope::Workspace(check),
};

fn check(ws: &Workspace, out: &mut Findings) {
    report_issues(out, analyze(ws));
}

fn analyze(ws: &Workspace) -> Vec<Issue<'_>> {
    let mut issues = Vec::new();
    let mut selections = Selections::default();
    let mut namespace_wide = Vec::new();
    for sidecar in ws.of_kind(Kind::Sidecar) {
        let labels_node = sidecar.spec_at(&["workloadSelector", "labels"]);
        let selector = Selector::read(labels_node, Values::OtherAsEmpty);
        if selector.is_empty() {
            namespace_wide.push(sidecar);
        } else if !selections.add(ws, sidecar, &selector) {
            issues.push(selector_not_found(
                &SIDECAR_SELECTOR_NOT_FOUND,
                sidecar,
                labels_node,
                &selector,
                "workload selector",
                "a Sidecar selects workloads of its own namespace only: fix the labels, or move \
                 the Sidecar to the namespace of the workloads it is meant for",
            ));
        }
    }
    // IST0167 is reported once per Sidecar, for the first reason found.
    let mut reported: HashSet<usize> = HashSet::new();
    for (w, sidecars) in selections.iter() {
        if workload_in_ambient(ws, w) {
            let why = format!(
                "selected {} runs in ambient mode, without a sidecar proxy",
                workload_display(ws, w)
            );
            ineffective(&mut issues, &mut reported, sidecars, &why);
        } else if sidecars.len() > 1 {
            issues.extend(conflicting_policies(
                ws,
                &CONFLICTING_SIDECAR_SELECTORS,
                "Sidecars",
                w,
                sidecars,
                "make the workload selectors disjoint, or merge the Sidecars into one",
            ));
        }
    }
    for (ns, sidecars) in by_namespace(namespace_wide) {
        if namespace_in_ambient(ws, ns) {
            let why = format!("namespace {ns:?} runs in ambient mode, without sidecar proxies");
            ineffective(&mut issues, &mut reported, &sidecars, &why);
        } else if sidecars.len() > 1 {
            let names = quoted_names(sidecars.iter().copied());
            for &sidecar in &sidecars {
                issues.push(
                    Issue::new(
                        &MULTIPLE_DEFAULT_SIDECARS,
                        sidecar,
                        sidecar.anchor(),
                        format!(
                            "Sidecars {names} in namespace {ns:?} have no workload selector; \
                             only one of them applies, and which is undefined"
                        ),
                    )
                    .help(
                        "keep a single namespace-wide Sidecar and give the others a \
                         `workloadSelector`",
                    ),
                );
            }
        }
    }
    issues
}

/// IST0167 on each of `sidecars` not `reported` yet: `why` the Sidecar has no effect.
fn ineffective<'a>(
    issues: &mut Vec<Issue<'a>>,
    reported: &mut HashSet<usize>,
    sidecars: &[&'a Resource],
    why: &str,
) {
    for &sidecar in sidecars {
        if reported.insert(sidecar.id) {
            issues.push(
                Issue::new(
                    &SIDECAR_INEFFECTIVE_IN_AMBIENT,
                    sidecar,
                    sidecar.anchor(),
                    format!("the Sidecar has no effect: {why}"),
                )
                .help(
                    "ambient workloads take no Sidecar; configure their egress with a waypoint, \
                     or remove this Sidecar",
                ),
            );
        }
    }
}
