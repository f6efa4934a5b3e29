use mspack_yaml::Node;

use crate::declare_rule;
use crate::finding::Findings;
use crate::resource::{Kind, Resource};
use crate::workloads::{PROXY_CONTAINER, is_istio_control_plane};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// Pods and Deployment pod templates that run as user ID 1337: `securityContext.runAsUser:
    /// 1337` on the pod, or on any container other than `istio-proxy` and `istio-operator`.
    /// Objects of the control plane (an `istio` label or `release: istio`) are skipped.
    ///
    /// ## Why it matters
    /// UID 1337 is the sidecar proxy's. Istio's iptables rules let traffic from that UID bypass
    /// the proxy, so an application running as 1337 sends its outbound traffic around the mesh:
    /// no mTLS, no policy, no telemetry.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: apps/v1
    /// kind: Deployment
    /// metadata: {name: payments, namespace: payments}
    /// spec:
    ///   selector: {matchLabels: {app: payments}}
    ///   template:
    ///     metadata: {labels: {app: payments}}
    ///     spec:
    ///       securityContext: {runAsUser: 1337}
    ///       containers: [{name: payments, image: food/payments:3.1}]
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: apps/v1
    /// kind: Deployment
    /// metadata: {name: payments, namespace: payments}
    /// spec:
    ///   selector: {matchLabels: {app: payments}}
    ///   template:
    ///     metadata: {labels: {app: payments}}
    ///     spec:
    ///       securityContext: {runAsUser: 1000}
    ///       containers: [{name: payments, image: food/payments:3.1}]
    /// ```
    pub static INVALID_APPLICATION_UID = Rule {
        code: "IST0144",
        name: "InvalidApplicationUID",
        severity: Warning,
        summary: "an application pod or container runs as uid 1337, reserved for the sidecar",
        mirrors: Some("deployment.ApplicationUIDAnalyzer"),
        each: check on &[Kind::Pod, Kind::Deployment],
    };
}

/// The proxy's user ID.
const PROXY_UID: i64 = 1337;

fn check(_: &Workspace, resource: &Resource, out: &mut Findings) {
    if is_istio_control_plane(resource) {
        return;
    }
    let spec = match resource.kind {
        Kind::Pod => resource.spec(),
        _ => resource.spec_at(&["template", "spec"]),
    };
    let Some(spec) = spec else { return };
    let mut offending: Vec<(&Node, String)> = Vec::new();
    if let Some(uid) = run_as_proxy_uid(spec) {
        offending.push((uid, "the pod".to_string()));
    }
    for container in spec.get("containers").into_iter().flat_map(Node::items) {
        let name = container.get("name").and_then(Node::as_str).unwrap_or("");
        if name == PROXY_CONTAINER || name == "istio-operator" {
            continue;
        }
        if let Some(uid) = run_as_proxy_uid(container) {
            offending.push((uid, format!("container \"{name}\"")));
        }
    }
    // Istio reports the same message once per object, however many places set the UID.
    let Some((node, _)) = offending.first() else {
        return;
    };
    let places: Vec<&str> = offending.iter().map(|(_, p)| p.as_str()).collect();
    out.report(
        resource,
        node,
        format!(
            "runAsUser 1337 (set on {}) is the UID reserved for the Istio sidecar proxy",
            places.join(", ")
        ),
    )
    .help("run the application as another user; traffic from UID 1337 bypasses the sidecar");
}

fn run_as_proxy_uid(holder: &Node) -> Option<&Node> {
    holder
        .path(&["securityContext", "runAsUser"])
        .filter(|n| n.as_i64() == Some(PROXY_UID))
}
