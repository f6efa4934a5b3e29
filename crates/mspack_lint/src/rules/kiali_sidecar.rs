//! Kiali's `sidecars.GlobalChecker`: the mesh-wide default Sidecar is the root namespace's Sidecar
//! without a workload selector; one there with a selector is not a default for anything else.

use crate::declare_rule;
use crate::finding::Findings;
use crate::resource::Kind;
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// A Sidecar in the mesh root namespace (`istio-system`, or the mesh config's
    /// `rootNamespace`) with a `workloadSelector`. Kiali: KIA1006 (`sidecar.global.selector`).
    /// Off by default: a selector for a workload that does live in the root namespace is
    /// intended, and files rarely hold that namespace's workloads to tell.
    ///
    /// ## Why it matters
    /// A Sidecar in the root namespace is the mesh-wide default only without a selector. With
    /// one, it selects workloads of the root namespace alone: the egress and ingress limits
    /// meant for the whole mesh apply to (usually) none of the application workloads, which
    /// keep receiving the full service registry.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: Sidecar
    /// metadata: {name: default, namespace: istio-system}
    /// spec:
    ///   workloadSelector:
    ///     labels: {app: shop}
    ///   egress:
    ///   - hosts: ["./*", "istio-system/*"]
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: Sidecar
    /// metadata: {name: default, namespace: istio-system}
    /// spec:
    ///   egress:
    ///   - hosts: ["./*", "istio-system/*"]
    /// ```
    pub static GLOBAL_SIDECAR_SELECTOR = Rule {
        code: "KIA1006",
        name: "global-sidecar-with-selector",
        severity: Warning,
        summary: "a Sidecar in the mesh root namespace has a workload selector, so it is no mesh-wide default",
        mirrors: Some("sidecars.GlobalChecker"),
        enabled_by_default: false,
        check: check,
    };
}

fn check(ws: &Workspace, out: &mut Findings) {
    let root = ws.root_namespace();
    for sidecar in ws.of_kind(Kind::Sidecar).filter(|s| s.ns == root) {
        let Some(selector) = sidecar
            .spec_at(&["workloadSelector"])
            .filter(|s| !s.is_null())
        else {
            continue;
        };
        out.report(
            sidecar,
            selector,
            format!(
                "this Sidecar is in the root namespace {root:?} but has a workloadSelector: it applies to matching workloads of {root:?} only, not as the mesh-wide default"
            ),
        )
        .help("remove `workloadSelector` to make it the mesh-wide default, or move it to the namespace of the workloads it selects");
    }
}
