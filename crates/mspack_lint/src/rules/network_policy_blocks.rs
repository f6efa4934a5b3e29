use std::collections::HashSet;

use mspack_yaml::Node;

use crate::crossref::{Admits, display_names, network_admits, principal_namespace};
use crate::declare_rule;
use crate::finding::Findings;
use crate::resource::{Kind, Resource};
use crate::workloads::{Selector, Values};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// Every Istio AuthorizationPolicy with action ALLOW whose rules allow callers of a namespace
    /// (`from.source.namespaces`, or `principals` of the form `<trust domain>/ns/<ns>/sa/<sa>`)
    /// to reach workloads that the NetworkPolicies of their namespace isolate for ingress
    /// (`podSelector` selects them; `policyTypes` absent or listing `Ingress`) without admitting
    /// that namespace: no ingress rule without `from`, no peer with an empty
    /// `namespaceSelector`, none whose `namespaceSelector` matches the caller's namespace (by
    /// `kubernetes.io/metadata.name`, or by the labels of its Namespace object when that is in
    /// the input), and, for callers of the policy's own namespace, no peer with an empty
    /// `podSelector`. A namespace selector on other labels whose Namespace is not in the input,
    /// a peer narrowed by a `podSelector` and an `ipBlock` are undecidable and never reported.
    /// The finding points at the policy's source, and a second one at the NetworkPolicy.
    ///
    /// The same holds for traffic that enters through a gateway: a VirtualService bound to an
    /// Istio Gateway (its pods' namespace is where the traffic comes from) or an HTTPRoute or
    /// GRPCRoute attached to a Gateway API Gateway (its namespace), routing to a Service whose
    /// pods the NetworkPolicies close to that namespace (on the target port, when the route
    /// names the Service port) is reported at the route's destination.
    ///
    /// ## Why it matters
    /// NetworkPolicies are enforced below the mesh: the connection is dropped before the
    /// sidecar of the callee sees it, so the AuthorizationPolicy's intent ("orders may call
    /// payments") never happens and calls time out instead of being denied with a 403.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: security.istio.io/v1
    /// kind: AuthorizationPolicy
    /// metadata: {name: payments-allow, namespace: payments}
    /// spec:
    ///   selector: {matchLabels: {app: payments}}
    ///   action: ALLOW
    ///   rules:
    ///   - from:
    ///     - source: {principals: [cluster.local/ns/orders/sa/orders]}
    /// ---
    /// apiVersion: networking.k8s.io/v1
    /// kind: NetworkPolicy
    /// metadata: {name: payments, namespace: payments}
    /// spec:
    ///   podSelector: {matchLabels: {app: payments}}
    ///   policyTypes: [Ingress]
    ///   ingress:
    ///   - from: [{podSelector: {}}]
    /// ---
    /// apiVersion: apps/v1
    /// kind: Deployment
    /// metadata: {name: payments, namespace: payments}
    /// spec:
    ///   selector: {matchLabels: {app: payments}}
    ///   template:
    ///     metadata: {labels: {app: payments}}
    ///     spec:
    ///       containers: [{name: payments, image: food/payments:1.0}]
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: security.istio.io/v1
    /// kind: AuthorizationPolicy
    /// metadata: {name: payments-allow, namespace: payments}
    /// spec:
    ///   selector: {matchLabels: {app: payments}}
    ///   action: ALLOW
    ///   rules:
    ///   - from:
    ///     - source: {principals: [cluster.local/ns/orders/sa/orders]}
    /// ---
    /// apiVersion: networking.k8s.io/v1
    /// kind: NetworkPolicy
    /// metadata: {name: payments, namespace: payments}
    /// spec:
    ///   podSelector: {matchLabels: {app: payments}}
    ///   policyTypes: [Ingress]
    ///   ingress:
    ///   - from:
    ///     - podSelector: {}
    ///     - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: orders}}
    /// ---
    /// apiVersion: apps/v1
    /// kind: Deployment
    /// metadata: {name: payments, namespace: payments}
    /// spec:
    ///   selector: {matchLabels: {app: payments}}
    ///   template:
    ///     metadata: {labels: {app: payments}}
    ///     spec:
    ///       containers: [{name: payments, image: food/payments:1.0}]
    /// ```
    pub static NETWORK_POLICY_BLOCKS_ALLOWED_CALLER = Rule {
        code: "MSP404",
        name: "network-policy-blocks-allowed-caller",
        severity: Error,
        summary: "an authorization policy allows callers from a namespace that the network policies block",
        mirrors: None,
        check: check,
    };
}

/// A caller namespace an AuthorizationPolicy names, with the node that names it.
fn caller_namespaces(policy: &Resource) -> Vec<(&str, &Node)> {
    let mut out = Vec::new();
    let rules = policy.spec_at(&["rules"]).into_iter().flat_map(Node::items);
    for from in rules.flat_map(|r| r.get("from").into_iter().flat_map(Node::items)) {
        let Some(source) = from.get("source") else {
            continue;
        };
        for item in source.get("namespaces").into_iter().flat_map(Node::items) {
            if let Some(ns) = item
                .as_str()
                .filter(|ns| !ns.is_empty() && !ns.contains('*'))
            {
                out.push((ns, item));
            }
        }
        for item in source.get("principals").into_iter().flat_map(Node::items) {
            if let Some((ns, _)) = item.as_str().and_then(principal_namespace) {
                out.push((ns, item));
            }
        }
    }
    out
}

fn check(ws: &Workspace, out: &mut Findings) {
    check_policies(ws, out);
    super::network_policy_routes::check_routes(ws, out);
}

fn check_policies(ws: &Workspace, out: &mut Findings) {
    // (NetworkPolicy, caller namespace) already reported on the NetworkPolicy.
    let mut reported: HashSet<(usize, String)> = HashSet::new();
    for policy in ws.of_kind(Kind::AuthorizationPolicy) {
        let action = policy.spec_at(&["action"]).and_then(Node::as_str);
        if action.is_some_and(|a| a != "ALLOW") {
            continue;
        }
        let callers = caller_namespaces(policy);
        if callers.is_empty() {
            continue;
        }
        let selector = Selector::read(
            policy.spec_at(&["selector", "matchLabels"]),
            Values::OtherAsEmpty,
        );
        let workloads: Vec<_> = ws.select_workloads(Some(&policy.ns), &selector).collect();
        for (caller_ns, node) in callers {
            let mut blocked_workloads: Vec<&Resource> = Vec::new();
            let mut blocking: Vec<&Resource> = Vec::new();
            for w in &workloads {
                let (admits, policies) = network_admits(ws, w, caller_ns, None);
                if admits != Admits::No {
                    continue;
                }
                if let Some(r) = ws.resources.get(w.resource) {
                    blocked_workloads.push(r);
                }
                for np in policies {
                    if !blocking.iter().any(|b| b.id == np.id) {
                        blocking.push(np);
                    }
                }
            }
            let Some(first) = blocked_workloads.first() else {
                continue;
            };
            out.report(
                policy,
                node,
                format!(
                    "allows callers from namespace {caller_ns:?}, but {} admit{} no ingress from \
                     it to {}; the connections are dropped before the sidecar sees them",
                    display_names(&blocking),
                    if blocking.len() == 1 { "s" } else { "" },
                    display_names(&blocked_workloads),
                ),
            )
            .help(format!(
                "add an ingress rule with `namespaceSelector: {{matchLabels: \
                 {{kubernetes.io/metadata.name: {caller_ns}}}}}` to the NetworkPolicy, or drop \
                 the caller from the AuthorizationPolicy"
            ));
            for np in blocking {
                if !reported.insert((np.id, caller_ns.to_string())) {
                    continue;
                }
                let at = np
                    .spec_at(&["ingress"])
                    .or_else(|| np.spec_at(&["podSelector"]))
                    .unwrap_or_else(|| np.anchor());
                out.report(
                    np,
                    at,
                    format!(
                        "admits no ingress from namespace {caller_ns:?} to {}, which {} allows to \
                         call it",
                        first.display_name(),
                        policy.display_name()
                    ),
                )
                .help(format!(
                    "admit namespace {caller_ns:?} (`namespaceSelector: {{matchLabels: \
                     {{kubernetes.io/metadata.name: {caller_ns}}}}}`)"
                ));
            }
        }
    }
}
