//! Mirrors Istio's `conditions.ConditionAnalyzer`: negative status conditions that controllers
//! wrote on resources.
//!
//! Status is written by controllers in a live cluster; the rule reads it from manifests that
//! carry a `status` stanza (objects exported with `kubectl get -o yaml`). Ordinary manifests have
//! none, and the rule stays silent on them.

use std::collections::HashSet;

use mspack_yaml::Node;

use crate::declare_rule;
use crate::finding::Findings;
use crate::resource::{Kind, Resource};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// Conditions in the `status` of resources (`status.conditions`, and
    /// `status.parents[].conditions` for routes) that report a failure:
    /// - Service, ServiceEntry, WorkloadEntry: `istio.io/WaypointBound` is `"False"`;
    /// - AuthorizationPolicy: `ZtunnelAccepted` or `WaypointAccepted` is `"False"`, or
    ///   `WaypointAccepted` has the reason `PartiallyInvalid` (whatever its status);
    /// - Gateway API Gateway, HTTPRoute, GRPCRoute: `Accepted`, `Programmed` or `ResolvedRefs`
    ///   is `"False"`.
    ///
    /// Other condition types (from other controllers) are ignored. Identical conditions on one
    /// resource are reported once. Status comes from a cluster: the rule needs objects exported
    /// with their `status` and finds nothing on manifests without one.
    ///
    /// ## Why it matters
    /// The controller has told you that it did not (fully) apply the resource: a route not
    /// attached to its gateway, a gateway that is not programmed, a policy that ztunnel or the
    /// waypoint rejected, a service bound to a waypoint that is not ready. Traffic does not
    /// behave as the manifest says until the reason is fixed.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: gateway.networking.k8s.io/v1
    /// kind: HTTPRoute
    /// metadata: {name: menu, namespace: kitchen}
    /// spec:
    ///   parentRefs: [{name: storefront}]
    ///   rules: [{backendRefs: [{name: menu, port: 8080}]}]
    /// status:
    ///   parents:
    ///   - parentRef: {name: storefront}
    ///     controllerName: istio.io/gateway-controller
    ///     conditions:
    ///     - type: Accepted
    ///       status: "False"
    ///       reason: NoMatchingParent
    ///       message: gateway storefront not found
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: gateway.networking.k8s.io/v1
    /// kind: HTTPRoute
    /// metadata: {name: menu, namespace: kitchen}
    /// spec:
    ///   parentRefs: [{name: storefront}]
    ///   rules: [{backendRefs: [{name: menu, port: 8080}]}]
    /// status:
    ///   parents:
    ///   - parentRef: {name: storefront}
    ///     controllerName: istio.io/gateway-controller
    ///     conditions:
    ///     - type: Accepted
    ///       status: "True"
    ///       reason: Accepted
    /// ```
    /// Fix what the condition's reason and message describe (here: create the Gateway
    /// `storefront`), then export the object again to check its new status.
    pub static NEGATIVE_CONDITION_STATUS = Rule {
        code: "IST0171",
        name: "NegativeConditionStatus",
        severity: Warning,
        summary: "a resource's status carries a negative condition written by its controller",
        mirrors: Some("conditions.ConditionAnalyzer"),
        each: check on KINDS,
    };
}

/// Kinds whose status the rule reads, in Istio's order, with the condition types that are
/// negative when their status is `False`.
const NEGATIVE_WHEN_FALSE: &[(Kind, &[&str])] = &[
    (Kind::Service, &["istio.io/WaypointBound"]),
    (Kind::ServiceEntry, &["istio.io/WaypointBound"]),
    (Kind::WorkloadEntry, &["istio.io/WaypointBound"]),
    (
        Kind::AuthorizationPolicy,
        &["ZtunnelAccepted", "WaypointAccepted"],
    ),
    (
        Kind::K8sGateway,
        &["Accepted", "Programmed", "ResolvedRefs"],
    ),
    (Kind::HTTPRoute, &["Accepted", "Programmed", "ResolvedRefs"]),
    (Kind::GRPCRoute, &["Accepted", "Programmed", "ResolvedRefs"]),
];

/// The conditions of a resource's status: `status.conditions`, or for routes the conditions of
/// every parent in `status.parents`.
fn conditions(resource: &Resource) -> Vec<&Node> {
    let Some(status) = resource.root.get("status") else {
        return Vec::new();
    };
    match resource.kind {
        Kind::HTTPRoute | Kind::GRPCRoute => status
            .get("parents")
            .into_iter()
            .flat_map(Node::items)
            .filter_map(|p| p.get("conditions"))
            .flat_map(Node::items)
            .collect(),
        _ => status
            .get("conditions")
            .into_iter()
            .flat_map(Node::items)
            .collect(),
    }
}

/// A string field of a condition; absent or not a string reads as empty.
fn field<'a>(condition: &'a Node, key: &str) -> &'a str {
    condition
        .get(key)
        .and_then(Node::as_string_value)
        .unwrap_or("")
}

/// The kinds of [`NEGATIVE_WHEN_FALSE`], in its order.
const KINDS: &[Kind] = &[
    Kind::Service,
    Kind::ServiceEntry,
    Kind::WorkloadEntry,
    Kind::AuthorizationPolicy,
    Kind::K8sGateway,
    Kind::HTTPRoute,
    Kind::GRPCRoute,
];

fn check(_: &Workspace, resource: &Resource, out: &mut Findings) {
    let kind = resource.kind;
    let Some(&(_, negative)) = NEGATIVE_WHEN_FALSE.iter().find(|(k, _)| *k == kind) else {
        return;
    };
    let mut seen = HashSet::new();
    for condition in conditions(resource) {
        let kind_of = field(condition, "type");
        let status = field(condition, "status");
        let reason = field(condition, "reason");
        let partially_invalid = kind == Kind::AuthorizationPolicy
            && kind_of == "WaypointAccepted"
            && reason == "PartiallyInvalid";
        let negative = status == "False" && negative.contains(&kind_of);
        if !(negative || partially_invalid) {
            continue;
        }
        let message = field(condition, "message");
        if !seen.insert((kind_of, reason, message)) {
            continue;
        }
        let node = condition
            .get(if negative { "status" } else { "reason" })
            .unwrap_or(condition);
        let mut text = format!(
            "{} \"{}\" {} {kind_of}={status}",
            resource.kind_name,
            resource.name,
            if negative {
                "has the negative condition"
            } else {
                "is applied only in part, condition"
            }
        );
        if !reason.is_empty() {
            text.push_str(&format!(" ({reason})"));
        }
        if !message.is_empty() {
            text.push_str(&format!(": {message}"));
        }
        out.report(resource, node, text).help(
            "the controller did not fully apply this resource: fix what the reason and \
             message describe, then check the status again",
        );
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use mspack_yaml::SourceFile;

    use super::{KINDS, NEGATIVE_WHEN_FALSE};
    use crate::resource::Kind;
    use crate::{LintOptions, lint_sources};

    #[test]
    fn the_rule_reads_every_kind_of_the_table() {
        let table: Vec<Kind> = NEGATIVE_WHEN_FALSE.iter().map(|(k, _)| *k).collect();
        assert_eq!(KINDS, table.as_slice());
    }

    fn messages(yaml: &str) -> Vec<String> {
        let options = LintOptions {
            select: vec!["IST0171".into()],
            ..LintOptions::default()
        };
        lint_sources(vec![Arc::new(SourceFile::new("t.yaml", yaml))], &options)
            .map(|r| r.findings.into_iter().map(|f| f.message).collect())
            .unwrap_or_default()
    }

    #[test]
    fn odd_status_shapes_are_ignored() {
        for status in [
            "status: ~",
            "status: []",
            "status: {conditions: {type: Accepted}}",
            "status: {conditions: [~, 3, [], {type: [], status: {}}]}",
            "status: {parents: {conditions: []}}",
            "status: {parents: [~, {conditions: ~}, {conditions: [{type: Accepted, status: False}]}]}",
        ] {
            let yaml = format!(
                "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {{name: r, namespace: a}}\n{status}\n"
            );
            assert!(messages(&yaml).is_empty(), "{status}");
        }
    }

    #[test]
    fn repeated_conditions_are_reported_once_and_partial_acceptance_once() {
        let yaml = r#"
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: p, namespace: a}
status:
  conditions:
  - {type: WaypointAccepted, status: "False", reason: PartiallyInvalid, message: m}
  - {type: WaypointAccepted, status: "False", reason: PartiallyInvalid, message: m}
  - {type: ZtunnelAccepted, status: "True"}
  - {status: ""}
  - {type: WaypointAccepted, status: False, reason: NotReady}
"#;
        assert_eq!(messages(yaml).len(), 1);
    }
}
