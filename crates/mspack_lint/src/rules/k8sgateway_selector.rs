//! Mirrors Istio's `k8sgateway.SelectorAnalyzer`: policies that pick the pods of a Gateway API
//! Gateway with a workload selector, which has no effect on them.
//!
//! Istio looks at running Pods labelled `gateway.networking.k8s.io/gateway-name`. On manifests
//! the rule also takes the pods Istio would deploy for each Gateway API Gateway of an Istio class
//! in the inputs (with the labels of Istio's deployment templates), and the pod templates that
//! carry that label.

use std::collections::HashSet;

use mspack_yaml::Node;

use crate::declare_rule;
use crate::finding::Findings;
use crate::resource::{Kind, Resource};
use crate::workloads::{Labels, Selector, Values, Workload, WorkloadIndex, read_labels_as};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// AuthorizationPolicy, RequestAuthentication, Telemetry and WasmPlugin resources with a
    /// `selector` and no `targetRef`/`targetRefs` whose `matchLabels` pick, in their own
    /// namespace, the pods of a Gateway API Gateway: Pods and pod templates labelled
    /// `gateway.networking.k8s.io/gateway-name`, and the pods Istio deploys for a Gateway of an
    /// Istio class (`istio`, `istio-waypoint`, or a GatewayClass of Istio's controllers) that it
    /// manages (no `addresses`, or a single IP address). Those pods carry
    /// `gateway.networking.k8s.io/gateway-name: <gateway>`,
    /// `gateway.networking.k8s.io/gateway-class-name`, `gateway.istio.io/managed`,
    /// `service.istio.io/canonical-name: <deployment>`, `sidecar.istio.io/inject: "false"` and
    /// the Gateway's `spec.infrastructure.labels` (else its own labels). One finding per policy
    /// and Gateway.
    ///
    /// ## Why it matters
    /// Istio attaches policies to Gateway API gateways and waypoints through `targetRefs`; a
    /// workload selector that happens to match their pods is ignored there. The policy looks
    /// applied but nothing is enforced, collected or loaded on the gateway.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: gateway.networking.k8s.io/v1
    /// kind: Gateway
    /// metadata: {name: storefront, namespace: delivery}
    /// spec:
    ///   gatewayClassName: istio
    ///   listeners: [{name: http, port: 80, protocol: HTTP}]
    /// ---
    /// apiVersion: security.istio.io/v1
    /// kind: AuthorizationPolicy
    /// metadata: {name: storefront-deny-admin, namespace: delivery}
    /// spec:
    ///   selector:
    ///     matchLabels:
    ///       gateway.networking.k8s.io/gateway-name: storefront
    ///   action: DENY
    ///   rules: [{to: [{operation: {paths: ["/admin/*"]}}]}]
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: gateway.networking.k8s.io/v1
    /// kind: Gateway
    /// metadata: {name: storefront, namespace: delivery}
    /// spec:
    ///   gatewayClassName: istio
    ///   listeners: [{name: http, port: 80, protocol: HTTP}]
    /// ---
    /// apiVersion: security.istio.io/v1
    /// kind: AuthorizationPolicy
    /// metadata: {name: storefront-deny-admin, namespace: delivery}
    /// spec:
    ///   targetRefs:
    ///   - {group: gateway.networking.k8s.io, kind: Gateway, name: storefront}
    ///   action: DENY
    ///   rules: [{to: [{operation: {paths: ["/admin/*"]}}]}]
    /// ```
    pub static INEFFECTIVE_SELECTOR = Rule {
        code: "IST0166",
        name: "IneffectiveSelector",
        severity: Warning,
        summary: "a policy selects the pods of a Kubernetes Gateway, where selectors have no effect",
        mirrors: Some("k8sgateway.SelectorAnalyzer"),
        check: check,
    };
}

/// Label Gateway API implementations put on a Gateway's pods, naming the Gateway.
const GATEWAY_NAME_LABEL: &str = "gateway.networking.k8s.io/gateway-name";
const GATEWAY_CLASS_LABEL: &str = "gateway.networking.k8s.io/gateway-class-name";
const MANAGED_LABEL: &str = "gateway.istio.io/managed";
const DATAPLANE_MODE_LABEL: &str = "istio.io/dataplane-mode";
/// Gateway annotation that names the generated Deployment.
const NAME_OVERRIDE: &str = "gateway.istio.io/name-override";

/// Istio's controllers that deploy pods for a Gateway, with the `gateway.istio.io/managed` value
/// and whether the deployment is named after the Gateway alone (waypoints) or `<name>-<class>`.
fn deploying_controller(controller: &str) -> Option<(&'static str, bool)> {
    match controller {
        "istio.io/gateway-controller" => Some(("istio.io-gateway-controller", false)),
        "istio.io/mesh-controller" => Some(("istio.io-mesh-controller", true)),
        _ => None,
    }
}

/// Istio's built-in classes and their controllers.
fn builtin_controller(class: &str) -> Option<&'static str> {
    match class {
        "istio" => Some("istio.io/gateway-controller"),
        "istio-waypoint" => Some("istio.io/mesh-controller"),
        "istio-remote" => Some("istio.io/unmanaged-gateway"),
        _ => None,
    }
}

/// Whether Istio deploys the Gateway itself: no `addresses`, or one address of type
/// `IPAddress` (or without type). A hostname points at an existing deployment.
fn is_managed(gw: &Resource) -> bool {
    let addresses: Vec<&Node> = gw
        .spec_at(&["addresses"])
        .into_iter()
        .flat_map(Node::items)
        .collect();
    match addresses.as_slice() {
        [] => true,
        [one] => one
            .get("type")
            .filter(|t| !t.is_null())
            .is_none_or(|t| t.as_str() == Some("IPAddress")),
        _ => false,
    }
}

/// Labels of the pods Istio deploys for a Gateway API Gateway, or `None` when Istio deploys
/// none for it.
fn generated_pod_labels(ws: &Workspace, gw: &Resource) -> Option<Labels> {
    let class = gw.spec_at(&["gatewayClassName"]).and_then(Node::as_str)?;
    let controller = match ws.find(Kind::GatewayClass, "", class) {
        Some(gc) => gc.spec_at(&["controllerName"]).and_then(Node::as_str)?,
        None => builtin_controller(class)?,
    };
    let (managed, no_suffix) = deploying_controller(controller)?;
    if !is_managed(gw) {
        return None;
    }
    let deployment = gw
        .annotation(NAME_OVERRIDE)
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| {
            if no_suffix {
                gw.name.to_string()
            } else {
                format!("{}-{class}", gw.name)
            }
        });
    let own_labels = read_labels_as(gw.labels(), Values::AsWritten);
    let mut infrastructure = match gw
        .spec_at(&["infrastructure", "labels"])
        .filter(|l| !l.is_null())
    {
        Some(labels) => read_labels_as(Some(labels), Values::AsWritten)
            .into_iter()
            .filter(|(k, _)| !k.starts_with("gateway.networking.k8s.io/"))
            .collect(),
        None => own_labels.clone(),
    };
    let waypoint = class.contains("waypoint");
    if !waypoint
        && !class.contains("east-west")
        && !own_labels.contains_key(DATAPLANE_MODE_LABEL)
        && !infrastructure.contains_key(DATAPLANE_MODE_LABEL)
    {
        infrastructure.insert(DATAPLANE_MODE_LABEL.into(), "none".into());
    }
    let mut labels = Labels::new();
    labels.insert("sidecar.istio.io/inject".into(), "false".into());
    if waypoint {
        labels.insert(DATAPLANE_MODE_LABEL.into(), "none".into());
    }
    labels.insert("service.istio.io/canonical-name".into(), deployment);
    labels.insert(
        "service.istio.io/canonical-revision".into(),
        "latest".into(),
    );
    labels.extend(infrastructure);
    labels.insert(GATEWAY_NAME_LABEL.into(), gw.name.to_string());
    labels.insert(GATEWAY_CLASS_LABEL.into(), class.to_string());
    labels.insert(MANAGED_LABEL.into(), managed.into());
    Some(labels)
}

/// Gateway pods: workloads labelled with a Gateway's name, and the pods Istio would deploy for
/// the Gateway API Gateways of the inputs.
fn gateway_pods(ws: &Workspace) -> WorkloadIndex {
    let labelled = ws
        .workloads()
        .iter()
        .filter(|w| w.labels.contains_key(GATEWAY_NAME_LABEL))
        .cloned();
    let generated = ws.of_kind(Kind::K8sGateway).filter_map(|gw| {
        Some(Workload {
            resource: gw.id,
            ns: gw.ns.to_string(),
            labels: generated_pod_labels(ws, gw)?,
            is_pod: true,
        })
    });
    WorkloadIndex::from_workloads(labelled.chain(generated))
}

/// Whether the policy attaches through `targetRef` or `targetRefs` instead of its selector.
fn has_target(policy: &Resource) -> bool {
    policy.spec_at(&["targetRef"]).is_some_and(|t| !t.is_null())
        || policy
            .spec_at(&["targetRefs"])
            .is_some_and(|t| t.items().next().is_some())
}

fn check(ws: &Workspace, out: &mut Findings) {
    const POLICIES: [Kind; 4] = [
        Kind::AuthorizationPolicy,
        Kind::RequestAuthentication,
        Kind::Telemetry,
        Kind::WasmPlugin,
    ];
    if !POLICIES.iter().any(|&k| ws.of_kind(k).next().is_some()) {
        return;
    }
    let pods = gateway_pods(ws);
    if pods.all().is_empty() {
        return;
    }
    for policy in POLICIES.iter().flat_map(|&k| ws.of_kind(k)) {
        let Some(selector_node) = policy.spec_at(&["selector"]).filter(|s| !s.is_null()) else {
            continue;
        };
        if has_target(policy) {
            continue;
        }
        let selector = Selector::read(selector_node.get("matchLabels"), Values::AsWritten);
        let mut seen = HashSet::new();
        for pod in pods.select(Some(&policy.ns), &selector) {
            let Some(gateway) = pod.labels.get(GATEWAY_NAME_LABEL) else {
                continue;
            };
            if !seen.insert(gateway.as_str()) {
                continue;
            }
            out.report(
                policy,
                selector_node,
                format!(
                    "the selector of {} \"{}\" picks the pods of Kubernetes Gateway \"{gateway}\", where selectors have no effect",
                    policy.kind_name, policy.name
                ),
            )
            .help(format!(
                "attach the policy with `targetRefs: [{{group: gateway.networking.k8s.io, kind: Gateway, name: {gateway}}}]` instead of `selector`"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use mspack_yaml::SourceFile;

    use crate::{LintOptions, lint_sources};

    /// Resources of the findings for a Gateway (given as the spec and metadata extras) and
    /// AuthorizationPolicies selecting `labels`.
    fn flagged(gateway: &str, selectors: &[&str]) -> Vec<String> {
        let mut yaml = format!(
            "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {{name: edge, namespace: a{gateway}\n"
        );
        for (i, s) in selectors.iter().enumerate() {
            yaml.push_str(&format!(
                "---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {{name: p{i}, namespace: a}}\nspec: {{selector: {{matchLabels: {s}}}}}\n"
            ));
        }
        let options = LintOptions {
            select: vec!["IST0166".into()],
            ..LintOptions::default()
        };
        lint_sources(vec![Arc::new(SourceFile::new("t.yaml", yaml))], &options)
            .map(|r| r.findings.into_iter().filter_map(|f| f.resource).collect())
            .unwrap_or_default()
    }

    #[test]
    fn generated_pods_carry_the_template_labels() {
        let istio = "}\nspec: {gatewayClassName: istio}";
        assert_eq!(
            flagged(
                istio,
                &[
                    "{service.istio.io/canonical-name: edge-istio}",
                    "{istio.io/dataplane-mode: none, sidecar.istio.io/inject: 'false'}",
                    "{gateway.istio.io/managed: istio.io-gateway-controller}",
                    "{gateway.networking.k8s.io/gateway-name: other}",
                    "{}",
                ]
            ),
            [
                "AuthorizationPolicy a/p0",
                "AuthorizationPolicy a/p1",
                "AuthorizationPolicy a/p2",
                "AuthorizationPolicy a/p4"
            ]
        );
        let renamed = ", annotations: {gateway.istio.io/name-override: front}}\nspec: {gatewayClassName: istio-waypoint}";
        assert_eq!(
            flagged(
                renamed,
                &[
                    "{service.istio.io/canonical-name: front}",
                    "{service.istio.io/canonical-name: edge}"
                ]
            ),
            ["AuthorizationPolicy a/p0"]
        );
    }

    #[test]
    fn infrastructure_labels_replace_the_gateway_labels() {
        let gw = ", labels: {team: food}}\nspec: {gatewayClassName: istio, infrastructure: {labels: {tier: edge, gateway.networking.k8s.io/gateway-name: x}}}";
        assert_eq!(
            flagged(
                gw,
                &[
                    "{team: food}",
                    "{tier: edge}",
                    "{gateway.networking.k8s.io/gateway-name: x}"
                ]
            ),
            ["AuthorizationPolicy a/p1"]
        );
        let gw = ", labels: {team: food}}\nspec: {gatewayClassName: istio}";
        assert_eq!(flagged(gw, &["{team: food}"]), ["AuthorizationPolicy a/p0"]);
    }

    #[test]
    fn unmanaged_and_foreign_gateways_have_no_generated_pods() {
        let selector = ["{gateway.networking.k8s.io/gateway-name: edge}"];
        for gw in [
            "}\nspec: {gatewayClassName: istio, addresses: [{type: Hostname, value: edge.example}]}",
            "}\nspec: {gatewayClassName: istio, addresses: [{value: 10.0.0.1}, {value: 10.0.0.2}]}",
            "}\nspec: {gatewayClassName: istio-remote}",
            "}\nspec: {gatewayClassName: other}",
            "}\nspec: {gatewayClassName: [istio]}",
            "}\nspec: ~",
        ] {
            assert!(flagged(gw, &selector).is_empty(), "{gw}");
        }
        let ip =
            "}\nspec: {gatewayClassName: istio, addresses: [{type: IPAddress, value: 10.0.0.1}]}";
        assert_eq!(flagged(ip, &selector).len(), 1);
    }
}
