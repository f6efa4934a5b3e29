//! `istioctl x precheck`'s Gateway API check, decided from CRD manifests in the files: a Gateway
//! API CRD that does not serve the API version Istio reads (IST0156 today, IST0172 in a future
//! release).

use crate::declare_rule;
use crate::finding::Findings;
use crate::resource::{Kind, Resource};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// CustomResourceDefinitions of group `gateway.networking.k8s.io` for `Gateway`,
    /// `GatewayClass`, `HTTPRoute` or `ReferenceGrant` whose `spec.versions` serve no
    /// `v1beta1` (a version listed with `served: false` does not count). This is the check
    /// `istioctl x precheck` runs against a cluster before an install or upgrade; here it reads
    /// the CRD manifests in the files (the Gateway API release a repository vendors).
    ///
    /// ## Why it matters
    /// Istio reads these kinds at `v1beta1` or later. With older CRDs installed, istiod cannot
    /// watch them: Gateways are never programmed and routes never attach, with no error on the
    /// resources themselves.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: apiextensions.k8s.io/v1
    /// kind: CustomResourceDefinition
    /// metadata: {name: httproutes.gateway.networking.k8s.io}
    /// spec:
    ///   group: gateway.networking.k8s.io
    ///   names: {kind: HTTPRoute, plural: httproutes}
    ///   scope: Namespaced
    ///   versions: [{name: v1alpha2, served: true, storage: true}]
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: apiextensions.k8s.io/v1
    /// kind: CustomResourceDefinition
    /// metadata: {name: httproutes.gateway.networking.k8s.io}
    /// spec:
    ///   group: gateway.networking.k8s.io
    ///   names: {kind: HTTPRoute, plural: httproutes}
    ///   scope: Namespaced
    ///   versions:
    ///   - {name: v1, served: true, storage: true}
    ///   - {name: v1beta1, served: true, storage: false}
    /// ```
    /// Install a current Gateway API release (its standard channel serves `v1` and `v1beta1`).
    pub static UNSUPPORTED_GATEWAY_API_VERSION = Rule {
        code: "IST0156",
        name: "UnsupportedGatewayAPIVersion",
        severity: Error,
        summary: "a gateway api crd does not serve the version istio requires",
        mirrors: Some("istioctl.precheck"),
        check: check_supported,
    };
}

declare_rule! {
    /// ## What it checks
    /// CustomResourceDefinitions of group `gateway.networking.k8s.io` for `Gateway`,
    /// `GatewayClass`, `HTTPRoute` or `GRPCRoute` whose `spec.versions` serve no `v1` (a
    /// version listed with `served: false` does not count). `istioctl x precheck` warns about
    /// these before an upgrade; here it reads the CRD manifests in the files.
    ///
    /// ## Why it matters
    /// Istio announces that it will read these kinds only at `v1`. CRDs that serve `v1beta1`
    /// alone (Gateway API before 1.0, or `GRPCRoute` before 1.1) work today and stop working
    /// after an Istio upgrade: the Gateways and routes are then silently ignored.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: apiextensions.k8s.io/v1
    /// kind: CustomResourceDefinition
    /// metadata: {name: grpcroutes.gateway.networking.k8s.io}
    /// spec:
    ///   group: gateway.networking.k8s.io
    ///   names: {kind: GRPCRoute, plural: grpcroutes}
    ///   scope: Namespaced
    ///   versions: [{name: v1alpha2, served: true, storage: true}]
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: apiextensions.k8s.io/v1
    /// kind: CustomResourceDefinition
    /// metadata: {name: grpcroutes.gateway.networking.k8s.io}
    /// spec:
    ///   group: gateway.networking.k8s.io
    ///   names: {kind: GRPCRoute, plural: grpcroutes}
    ///   scope: Namespaced
    ///   versions:
    ///   - {name: v1, served: true, storage: true}
    ///   - {name: v1alpha2, served: true, storage: false}
    /// ```
    /// Install Gateway API 1.1 or later (standard channel).
    pub static FUTURE_UNSUPPORTED_GATEWAY_API_VERSION = Rule {
        code: "IST0172",
        name: "FutureUnsupportedGatewayAPIVersion",
        severity: Warning,
        summary: "a gateway api crd does not serve the version future istio releases require",
        mirrors: Some("istioctl.precheck"),
        check: check_future,
    };
}

const GROUP: &str = "gateway.networking.k8s.io";

fn check_supported(ws: &Workspace, out: &mut Findings) {
    check_served(
        ws,
        out,
        &["Gateway", "GatewayClass", "HTTPRoute", "ReferenceGrant"],
        "v1beta1",
        "istiod cannot watch it, so its resources are ignored",
    );
}

fn check_future(ws: &Workspace, out: &mut Findings) {
    check_served(
        ws,
        out,
        &["Gateway", "GatewayClass", "HTTPRoute", "GRPCRoute"],
        "v1",
        "future Istio releases read only v1 and will ignore its resources",
    );
}

/// Reports each Gateway API CRD of one of `kinds` that does not serve `required`.
fn check_served(
    ws: &Workspace,
    out: &mut Findings,
    kinds: &[&str],
    required: &str,
    consequence: &str,
) {
    for crd in ws.of_kind(Kind::CustomResourceDefinition) {
        let Some(kind) = gateway_api_kind(crd).filter(|k| kinds.contains(k)) else {
            continue;
        };
        let served = served_versions(crd);
        if served.contains(&required) {
            continue;
        }
        let has = if served.is_empty() {
            "none".to_string()
        } else {
            served.join(",")
        };
        out.report(
            crd,
            crd.spec_anchor(&["versions"]),
            format!(
                "The Gateway API CRD version {has} is lower than the minimum version: {required} \
                 ({kind} CRD \"{}\": {consequence})",
                crd.name
            ),
        )
        .help(format!(
            "install a Gateway API release whose {kind} CRD serves {required} (standard channel \
             1.1 or later serves v1 for every kind Istio reads)"
        ));
    }
}

/// The kind a CRD defines, when it belongs to the Gateway API group.
fn gateway_api_kind(crd: &Resource) -> Option<&str> {
    let spec = crd.spec()?;
    if spec.str_at(&["group"]) != Some(GROUP) {
        return None;
    }
    spec.str_at(&["names", "kind"])
}

/// The names of the versions the CRD serves, sorted.
fn served_versions(crd: &Resource) -> Vec<&str> {
    let mut served: Vec<&str> = crd
        .spec_at(&["versions"])
        .into_iter()
        .flat_map(|v| v.items())
        .filter(|v| v.get("served").and_then(|s| s.as_bool()) == Some(true))
        .filter_map(|v| v.get("name").and_then(|n| n.as_str()))
        .collect();
    served.sort_unstable();
    served.dedup();
    served
}
