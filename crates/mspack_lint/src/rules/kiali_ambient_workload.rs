//! Kiali's ambient workload checks that files decide (`ambient.AmbientWorkloadChecker`):
//! `istio.io/use-waypoint` naming a waypoint that does not exist, and workloads asking for both
//! a sidecar and ambient mode.

use mspack_yaml::Node;

use crate::declare_rule;
use crate::finding::Findings;
use crate::resource::{Kind, Resource};
use crate::rules::kiali_ambient::{USE_WAYPOINT, enrolls};
use crate::workloads::{
    DATAPLANE_MODE_LABEL, INJECTION_LABEL, REVISION_LABEL, SIDECAR_INJECT, namespace_labels,
    workload_display,
};
use crate::workspace::Workspace;

/// Label naming the namespace of a waypoint, when it is not the object's own.
const USE_WAYPOINT_NAMESPACE: &str = "istio.io/use-waypoint-namespace";
/// The GatewayClass of Istio's waypoints.
const WAYPOINT_CLASS: &str = "istio-waypoint";

declare_rule! {
    /// ## What it checks
    /// Every `istio.io/use-waypoint` label (on a Namespace, a Service or a workload's pod
    /// template) naming a waypoint, other than `none`: a Gateway API Gateway of that name must
    /// be in the waypoint's namespace (the `istio.io/use-waypoint-namespace` label, else the
    /// object's own). It runs only when the input holds at least one waypoint (a Gateway of
    /// class `istio-waypoint`), so waypoints created by `istioctl waypoint apply` outside the
    /// files are not reported missing; waypoint namespaces the input does not touch are not
    /// looked in. Kiali: KIA1313 (`workload.ambient.waypointnotfound`).
    ///
    /// ## Why it matters
    /// Traffic to an object enrolled to a missing waypoint is not redirected through any L7
    /// proxy: its L7 policies, routes and telemetry silently stop applying.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: gateway.networking.k8s.io/v1
    /// kind: Gateway
    /// metadata: {name: waypoint, namespace: shop}
    /// spec:
    ///   gatewayClassName: istio-waypoint
    ///   listeners:
    ///   - {name: mesh, port: 15008, protocol: HBONE}
    /// ---
    /// apiVersion: v1
    /// kind: Service
    /// metadata:
    ///   name: catalog
    ///   namespace: shop
    ///   labels: {istio.io/use-waypoint: waypiont}
    /// spec:
    ///   selector: {app: catalog}
    ///   ports:
    ///   - {port: 8080}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: gateway.networking.k8s.io/v1
    /// kind: Gateway
    /// metadata: {name: waypoint, namespace: shop}
    /// spec:
    ///   gatewayClassName: istio-waypoint
    ///   listeners:
    ///   - {name: mesh, port: 15008, protocol: HBONE}
    /// ---
    /// apiVersion: v1
    /// kind: Service
    /// metadata:
    ///   name: catalog
    ///   namespace: shop
    ///   labels: {istio.io/use-waypoint: waypoint}
    /// spec:
    ///   selector: {app: catalog}
    ///   ports:
    ///   - {port: 8080}
    /// ```
    pub static WAYPOINT_NOT_FOUND = Rule {
        code: "KIA1313",
        name: "waypoint-not-found",
        severity: Error,
        summary: "an istio.io/use-waypoint label names a waypoint that does not exist",
        mirrors: Some("ambient.AmbientWorkloadChecker"),
        context: &[Kind::K8sGateway],
        check: check_waypoints,
    };
}

fn check_waypoints(ws: &Workspace, out: &mut Findings) {
    let is_waypoint = |gw: &Resource| {
        gw.spec_at(&["gatewayClassName"]).and_then(Node::as_str) == Some(WAYPOINT_CLASS)
    };
    if !ws.of_kind(Kind::K8sGateway).any(is_waypoint) {
        return;
    }
    let labelled = ws.resources.iter().filter(|r| !r.assumed).filter_map(|r| {
        let labels = match r.kind {
            Kind::Namespace | Kind::Service => r.labels(),
            _ if Kind::WORKLOADS.contains(&r.kind) => r
                .pod_template()
                .and_then(|t| t.path(&["metadata", "labels"])),
            _ => None,
        }?;
        Some((r, labels))
    });
    for (r, labels) in labelled {
        let Some(node) = labels.get(USE_WAYPOINT) else {
            continue;
        };
        let Some(name) = node.as_str() else { continue };
        if enrolls(Some(name)) != Some(true) {
            continue;
        }
        let own_ns = if r.kind == Kind::Namespace {
            &r.name
        } else {
            &r.ns
        };
        let ns = labels
            .get(USE_WAYPOINT_NAMESPACE)
            .and_then(Node::as_str)
            .unwrap_or(own_ns);
        if ns != own_ns.as_str() && !ws.namespaces().contains(ns) {
            continue;
        }
        if ws.find(Kind::K8sGateway, ns, name).is_none() {
            out.report(
                r,
                node,
                format!("`istio.io/use-waypoint` names waypoint {ns}/{name}, but there is no Gateway {ns}/{name}; traffic bypasses any waypoint"),
            )
            .help(format!(
                "name an existing waypoint, or deploy one (a Gateway {ns}/{name} of class `istio-waypoint`)"
            ));
        }
    }
}

declare_rule! {
    /// ## What it checks
    /// Workloads (Pods and pod templates) that ask for both a sidecar and ambient mode. Ambient:
    /// the pod label `istio.io/dataplane-mode: ambient`, or that label on its Namespace object
    /// and not `none` on the pod. Sidecar: the Namespace labelled `istio-injection: enabled` or
    /// with an `istio.io/rev`, or the pod labelled `sidecar.istio.io/inject: "true"`, and
    /// neither `istio-injection: disabled` on the Namespace nor `sidecar.istio.io/inject:
    /// "false"` on the pod. Namespace labels count when the Namespace object is in the input.
    /// Kiali: KIA1311 (`workload.ambient.sidecarandlabel`); Kiali reads the pod's injection
    /// label as `enabled`/`none`, Istio as `true`/`false`, which is what is read here.
    ///
    /// ## Why it matters
    /// Injection wins: the pods get a sidecar and ztunnel leaves pods with sidecars alone, so
    /// the ambient label does nothing. Waypoint enrollment, ambient policies and the expected
    /// resource savings silently do not apply to these pods.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: v1
    /// kind: Namespace
    /// metadata:
    ///   name: shop
    ///   labels: {istio-injection: enabled}
    /// ---
    /// apiVersion: apps/v1
    /// kind: Deployment
    /// metadata: {name: catalog, namespace: shop}
    /// spec:
    ///   selector:
    ///     matchLabels: {app: catalog}
    ///   template:
    ///     metadata:
    ///       labels: {app: catalog, istio.io/dataplane-mode: ambient}
    ///     spec:
    ///       containers:
    ///       - {name: catalog, image: catalog:1.0}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: v1
    /// kind: Namespace
    /// metadata:
    ///   name: shop
    ///   labels: {istio-injection: enabled}
    /// ---
    /// apiVersion: apps/v1
    /// kind: Deployment
    /// metadata: {name: catalog, namespace: shop}
    /// spec:
    ///   selector:
    ///     matchLabels: {app: catalog}
    ///   template:
    ///     metadata:
    ///       labels: {app: catalog, istio.io/dataplane-mode: ambient, sidecar.istio.io/inject: "false"}
    ///     spec:
    ///       containers:
    ///       - {name: catalog, image: catalog:1.0}
    /// ```
    pub static SIDECAR_AND_AMBIENT = Rule {
        code: "KIA1311",
        name: "sidecar-and-ambient-labels",
        severity: Error,
        summary: "a workload asks for both sidecar injection and ambient mode",
        mirrors: Some("ambient.AmbientWorkloadChecker.sidecarandlabel"),
        check: check_sidecar_and_ambient,
    };
}

fn check_sidecar_and_ambient(ws: &Workspace, out: &mut Findings) {
    for w in ws.workloads() {
        let Some(r) = ws.resources.get(w.resource) else {
            continue;
        };
        if r.assumed {
            continue;
        }
        let ns = namespace_labels(ws, &w.ns).unwrap_or_default();
        let pod = |k: &str| w.labels.get(k).map(String::as_str);
        let nsl = |k: &str| ns.get(k).map(String::as_str);
        let ambient = pod(DATAPLANE_MODE_LABEL) == Some("ambient")
            || (nsl(DATAPLANE_MODE_LABEL) == Some("ambient")
                && pod(DATAPLANE_MODE_LABEL) != Some("none"));
        let sidecar_on = nsl(INJECTION_LABEL) == Some("enabled")
            || nsl(REVISION_LABEL).is_some_and(|v| !v.is_empty())
            || pod(SIDECAR_INJECT) == Some("true");
        let sidecar_off =
            nsl(INJECTION_LABEL) == Some("disabled") || pod(SIDECAR_INJECT) == Some("false");
        if !(ambient && sidecar_on && !sidecar_off) {
            continue;
        }
        let anchor = r
            .pod_template()
            .and_then(|t| t.path(&["metadata", "labels"]))
            .and_then(|l| l.get_entry(DATAPLANE_MODE_LABEL).map(|(k, _)| k))
            .unwrap_or_else(|| r.anchor());
        out.report(
            r,
            anchor,
            format!(
                "{} asks for ambient mode and for a sidecar in namespace {:?}: the sidecar is injected and ztunnel skips the pods, so the ambient label has no effect",
                workload_display(ws, w),
                w.ns
            ),
        )
        .help("choose one data plane: label the pods `sidecar.istio.io/inject: \"false\"` for ambient, or drop the ambient label");
    }
}
