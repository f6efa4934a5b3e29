//! Kiali's generic multi-match checks for PeerAuthentications (`common.GenericMultiMatchChecker`;
//! for Sidecars they are IST0110/IST0111): several selector-less PeerAuthentications in one
//! namespace, and several PeerAuthentications selecting one workload.

use crate::declare_rule;
use crate::finding::{Findings, quoted_names, report_issues};
use crate::resource::{Kind, Resource};
use crate::selector_findings::conflicting_policies;
use crate::workloads::{Selections, Selector, Values, by_namespace, namespace_phrase};
use crate::workspace::Workspace;

fn selector_of(pa: &Resource) -> Selector {
    Selector::read(
        pa.spec_at(&["selector", "matchLabels"]),
        Values::OtherAsEmpty,
    )
}

declare_rule! {
    /// ## What it checks
    /// Namespaces with more than one PeerAuthentication without a selector (or with an empty
    /// one); in the mesh root namespace these are the mesh-wide policy. Each of them is
    /// reported. Kiali: KIA0002 (`generic.multimatch.selectorless`); for Sidecars the same
    /// check is IST0111.
    ///
    /// ## Why it matters
    /// Istio applies one namespace-wide (or mesh-wide) PeerAuthentication, the oldest, and
    /// ignores the others. Which mTLS mode the namespace gets then depends on creation order,
    /// and a STRICT policy added beside a PERMISSIVE one may change nothing.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: security.istio.io/v1
    /// kind: PeerAuthentication
    /// metadata: {name: default, namespace: shop}
    /// spec:
    ///   mtls: {mode: PERMISSIVE}
    /// ---
    /// apiVersion: security.istio.io/v1
    /// kind: PeerAuthentication
    /// metadata: {name: strict, namespace: shop}
    /// spec:
    ///   mtls: {mode: STRICT}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: security.istio.io/v1
    /// kind: PeerAuthentication
    /// metadata: {name: default, namespace: shop}
    /// spec:
    ///   mtls: {mode: STRICT}
    /// ```
    pub static MULTIPLE_NAMESPACE_PEER_AUTHENTICATIONS = Rule {
        code: "KIA0002",
        name: "multiple-namespace-wide-peer-authentications",
        severity: Error,
        summary: "a namespace has several PeerAuthentications without a selector",
        mirrors: Some("common.GenericMultiMatchChecker.selectorless"),
        check: check_selectorless,
    };
}

declare_rule! {
    /// ## What it checks
    /// Workloads of the input selected by more than one PeerAuthentication of their namespace
    /// (by `selector.matchLabels`). Each of those PeerAuthentications is reported.
    /// Kiali: KIA0003 (`generic.multimatch.selector`); for Sidecars the same check is IST0110.
    ///
    /// ## Why it matters
    /// Istio applies one workload-level PeerAuthentication per workload, the oldest, with its
    /// `portLevelMtls`; the others are ignored. The mTLS mode of the workload's ports then
    /// depends on creation order.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: v1
    /// kind: Pod
    /// metadata:
    ///   name: ledger
    ///   namespace: shop
    ///   labels: {app: ledger, tier: backend}
    /// spec:
    ///   containers:
    ///   - {name: ledger, image: ledger:1.0}
    /// ---
    /// apiVersion: security.istio.io/v1
    /// kind: PeerAuthentication
    /// metadata: {name: ledger, namespace: shop}
    /// spec:
    ///   selector:
    ///     matchLabels: {app: ledger}
    ///   mtls: {mode: STRICT}
    /// ---
    /// apiVersion: security.istio.io/v1
    /// kind: PeerAuthentication
    /// metadata: {name: backend, namespace: shop}
    /// spec:
    ///   selector:
    ///     matchLabels: {tier: backend}
    ///   portLevelMtls:
    ///     "9090": {mode: DISABLE}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: v1
    /// kind: Pod
    /// metadata:
    ///   name: ledger
    ///   namespace: shop
    ///   labels: {app: ledger, tier: backend}
    /// spec:
    ///   containers:
    ///   - {name: ledger, image: ledger:1.0}
    /// ---
    /// apiVersion: security.istio.io/v1
    /// kind: PeerAuthentication
    /// metadata: {name: ledger, namespace: shop}
    /// spec:
    ///   selector:
    ///     matchLabels: {app: ledger}
    ///   mtls: {mode: STRICT}
    ///   portLevelMtls:
    ///     "9090": {mode: DISABLE}
    /// ```
    pub static MULTIPLE_WORKLOAD_PEER_AUTHENTICATIONS = Rule {
        code: "KIA0003",
        name: "multiple-workload-peer-authentications",
        severity: Error,
        summary: "several PeerAuthentications select the same workload",
        mirrors: Some("common.GenericMultiMatchChecker.selector"),
        context: Kind::WORKLOADS,
        check: check_selector,
    };
}

fn check_selectorless(ws: &Workspace, out: &mut Findings) {
    let selectorless = ws
        .of_kind(Kind::PeerAuthentication)
        .filter(|pa| selector_of(pa).is_empty());
    for (ns, policies) in by_namespace(selectorless) {
        if policies.len() < 2 {
            continue;
        }
        let names = quoted_names(policies.iter().copied());
        let scope = if ns == ws.root_namespace() {
            "mesh-wide".to_string()
        } else {
            format!("for {}", namespace_phrase(ns))
        };
        for pa in policies {
            out.report(
                pa,
                pa.anchor(),
                format!(
                    "PeerAuthentications {names} have no selector: Istio applies only the oldest {scope} and ignores the others"
                ),
            )
            .help("keep one PeerAuthentication without a selector per namespace and merge the others into it");
        }
    }
}

fn check_selector(ws: &Workspace, out: &mut Findings) {
    let mut selections = Selections::default();
    for pa in ws.of_kind(Kind::PeerAuthentication) {
        let selector = selector_of(pa);
        if !selector.is_empty() {
            selections.add(ws, pa, &selector);
        }
    }
    let mut reported = std::collections::HashSet::new();
    for (w, policies) in selections.iter() {
        if policies.len() > 1 {
            let mut issues = conflicting_policies(
                ws,
                &MULTIPLE_WORKLOAD_PEER_AUTHENTICATIONS,
                "PeerAuthentications",
                w,
                policies,
                "select each workload with one PeerAuthentication (merge their `mtls` and `portLevelMtls`)",
            );
            issues.retain(|i| reported.insert(i.resource.id));
            report_issues(out, issues);
        }
    }
}
