//! Mirrors Istio's `deprecation.FieldAnalyzer`: deprecated VirtualService and Sidecar fields,
//! and definitions of custom resource types Istio removed.

use mspack_yaml::Node;

use crate::declare_rule;
use crate::finding::Findings;
use crate::resource::{Kind, Resource};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// - A VirtualService HTTP route whose `fault.delay.percent` is above 0 (replaced by
    ///   `fault.delay.percentage.value`); reported once per VirtualService.
    /// - A Sidecar with `outboundTrafficPolicy.egressProxy` (ignored by Istio).
    /// - A CustomResourceDefinition of a removed `rbac.istio.io` type: `ClusterRbacConfig`,
    ///   `RbacConfig`, `ServiceRole` or `ServiceRoleBinding`.
    ///
    /// ## Why it matters
    /// Deprecated fields are removed in later releases or already ignored: a fault injected
    /// with `percent` or an egress proxy set on a Sidecar may do nothing, and the old RBAC types
    /// have no effect at all (AuthorizationPolicy replaced them).
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: VirtualService
    /// metadata: {name: kitchen, namespace: kitchen}
    /// spec:
    ///   hosts: [kitchen.kitchen.svc.cluster.local]
    ///   http:
    ///   - fault:
    ///       delay: {percent: 10, fixedDelay: 2s}
    ///     route:
    ///     - destination: {host: kitchen.kitchen.svc.cluster.local}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: VirtualService
    /// metadata: {name: kitchen, namespace: kitchen}
    /// spec:
    ///   hosts: [kitchen.kitchen.svc.cluster.local]
    ///   http:
    ///   - fault:
    ///       delay:
    ///         percentage: {value: 10}
    ///         fixedDelay: 2s
    ///     route:
    ///     - destination: {host: kitchen.kitchen.svc.cluster.local}
    /// ```
    pub static DEPRECATED_FIELD = Rule {
        code: "IST0002",
        name: "Deprecated",
        severity: Warning,
        summary: "a deprecated Istio field or a removed Istio resource type is used",
        mirrors: Some("deprecation.FieldAnalyzer"),
        each: check on &[Kind::VirtualService, Kind::Sidecar, Kind::CustomResourceDefinition],
    };
}

const REMOVED_RBAC_KINDS: &[&str] = &[
    "ClusterRbacConfig",
    "RbacConfig",
    "ServiceRole",
    "ServiceRoleBinding",
];

fn check(_: &Workspace, resource: &Resource, out: &mut Findings) {
    if resource.kind == Kind::VirtualService {
        let vs = resource;
        let percent = vs
            .spec_at(&["http"])
            .into_iter()
            .flat_map(Node::items)
            .filter_map(|route| route.path(&["fault", "delay", "percent"]))
            .find(|p| int_value(p).is_some_and(|v| v > 0));
        if let Some(node) = percent {
            out.report(
                vs,
                node,
                "`fault.delay.percent` is deprecated; use `fault.delay.percentage.value`",
            )
            .help("write `percentage: {value: <percent>}` instead (it also takes fractions)");
        }
    }
    if resource.kind == Kind::Sidecar {
        let sidecar = resource;
        if let Some(node) = sidecar
            .spec_at(&["outboundTrafficPolicy", "egressProxy"])
            .filter(|n| !n.is_null())
        {
            out.report(
                sidecar,
                node,
                "`outboundTrafficPolicy.egressProxy` is ignored by Istio",
            )
            .help("route egress traffic through an egress gateway with a VirtualService instead");
        }
    }
    if resource.kind == Kind::CustomResourceDefinition {
        let crd = resource;
        let group = crd.spec_at(&["group"]).and_then(Node::as_str);
        let kind_node = crd.spec_at(&["names", "kind"]);
        let kind = kind_node.and_then(Node::as_str);
        if group == Some("rbac.istio.io")
            && let Some(kind) = kind.filter(|k| REMOVED_RBAC_KINDS.contains(k))
        {
            out.report(
                crd,
                kind_node.unwrap_or_else(|| crd.anchor()),
                format!("custom resource type rbac.istio.io {kind} was removed from Istio"),
            )
            .help("delete this definition and express the policy as an AuthorizationPolicy");
        }
    }
}

/// An int32 field as protobuf JSON reads it: a number, or a number in a string.
fn int_value(node: &Node) -> Option<i64> {
    node.as_i64()
        .or_else(|| node.as_str().and_then(|s| s.trim().parse().ok()))
}
