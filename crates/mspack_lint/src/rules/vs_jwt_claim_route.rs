//! The rule mirroring Istio's `virtualservice.JWTClaimRouteAnalyzer`: routing on JWT claims at a
//! gateway needs a RequestAuthentication on the gateway's pods.

use std::collections::HashMap;

use mspack_yaml::Node;

use crate::declare_rule;
use crate::finding::Findings;
use crate::refs::{gateway_refs, is_claim_header};
use crate::resource::{Kind, Resource};
use crate::resource::{full_name, short_or_full_name};
use crate::workloads::{Selector, Values, Workload};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// A VirtualService that matches on a JWT claim (a `headers` or `withoutHeaders` key
    /// `@request.auth.claims.<name>` or `@request.auth.claims[<name>]`) and is bound to Istio
    /// Gateways: every Pod a bound Gateway's `selector` picks must be selected by a
    /// RequestAuthentication in the Pod's namespace or in the mesh root namespace (a
    /// RequestAuthentication without selector applies to every Pod of its namespace). Gateways
    /// that do not exist and `mesh` are skipped.
    ///
    /// ## Why it matters
    /// Claims are only available for routing after a RequestAuthentication has validated the
    /// token on that proxy. Without one the claim match never succeeds, so the route is dead and
    /// requests fall through to the next route, often one meant for unauthenticated users.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: v1
    /// kind: Pod
    /// metadata: {name: ingress-7d9f, namespace: edge, labels: {app: edge-ingress}}
    /// spec:
    ///   containers: [{name: istio-proxy, image: istio/proxyv2}]
    /// ---
    /// apiVersion: networking.istio.io/v1
    /// kind: Gateway
    /// metadata: {name: public-gateway, namespace: edge}
    /// spec:
    ///   selector: {app: edge-ingress}
    ///   servers:
    ///   - port: {number: 80, name: http, protocol: HTTP}
    ///     hosts: ["*/shop.fooddelivery.example"]
    /// ---
    /// apiVersion: networking.istio.io/v1
    /// kind: VirtualService
    /// metadata: {name: storefront, namespace: food}
    /// spec:
    ///   hosts: [shop.fooddelivery.example]
    ///   gateways: [edge/public-gateway]
    ///   http:
    ///   - match:
    ///     - headers:
    ///         "@request.auth.claims.plan": {exact: premium}
    ///     route:
    ///     - destination: {host: storefront-premium}
    ///   - route:
    ///     - destination: {host: storefront}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: v1
    /// kind: Pod
    /// metadata: {name: ingress-7d9f, namespace: edge, labels: {app: edge-ingress}}
    /// spec:
    ///   containers: [{name: istio-proxy, image: istio/proxyv2}]
    /// ---
    /// apiVersion: security.istio.io/v1
    /// kind: RequestAuthentication
    /// metadata: {name: shop-jwt, namespace: edge}
    /// spec:
    ///   selector:
    ///     matchLabels: {app: edge-ingress}
    ///   jwtRules:
    ///   - issuer: https://auth.fooddelivery.example
    ///     jwksUri: https://auth.fooddelivery.example/.well-known/jwks.json
    /// ---
    /// apiVersion: networking.istio.io/v1
    /// kind: Gateway
    /// metadata: {name: public-gateway, namespace: edge}
    /// spec:
    ///   selector: {app: edge-ingress}
    ///   servers:
    ///   - port: {number: 80, name: http, protocol: HTTP}
    ///     hosts: ["*/shop.fooddelivery.example"]
    /// ---
    /// apiVersion: networking.istio.io/v1
    /// kind: VirtualService
    /// metadata: {name: storefront, namespace: food}
    /// spec:
    ///   hosts: [shop.fooddelivery.example]
    ///   gateways: [edge/public-gateway]
    ///   http:
    ///   - match:
    ///     - headers:
    ///         "@request.auth.claims.plan": {exact: premium}
    ///     route:
    ///     - destination: {host: storefront-premium}
    ///   - route:
    ///     - destination: {host: storefront}
    /// ```
    pub static JWT_CLAIM_ROUTE_WITHOUT_AUTHN = Rule {
        code: "IST0149",
        name: "JwtClaimBasedRoutingWithoutRequestAuthN",
        severity: Error,
        summary: "a gateway VirtualService routes on JWT claims but no RequestAuthentication covers the gateway pods",
        mirrors: Some("virtualservice.JWTClaimRouteAnalyzer"),
        each: check on &[Kind::VirtualService],
    };
}

/// The first header key of an HTTP match that routes on a JWT claim.
fn claim_key(vs: &Resource) -> Option<(&Node, &str)> {
    for rule in vs.spec_at(&["http"]).into_iter().flat_map(Node::items) {
        for m in rule.get("match").into_iter().flat_map(Node::items) {
            for field in ["headers", "withoutHeaders"] {
                if let Some(hit) = m
                    .get(field)
                    .into_iter()
                    .flat_map(Node::entries)
                    .find(|(k, _, _)| is_claim_header(k))
                {
                    return Some((hit.1, hit.0));
                }
            }
        }
    }
    None
}

/// The selectors of the RequestAuthentications of each namespace.
struct AuthnByNamespace(HashMap<String, Vec<Selector>>);

impl AuthnByNamespace {
    fn read(ws: &Workspace) -> AuthnByNamespace {
        let mut by_ns: HashMap<String, Vec<Selector>> = HashMap::new();
        for ra in ws.of_kind(Kind::RequestAuthentication) {
            by_ns
                .entry(ra.ns.to_string())
                .or_default()
                .push(Selector::read(
                    ra.spec_at(&["selector", "matchLabels"]),
                    Values::AsWritten,
                ));
        }
        AuthnByNamespace(by_ns)
    }
}

fn check(ws: &Workspace, vs: &Resource, out: &mut Findings) {
    let Some((key_node, key)) = claim_key(vs) else {
        return;
    };
    let authn_by_ns = ws.shared(|| AuthnByNamespace::read(ws));
    let root = ws.root_namespace();
    let covered = |pod: &Workload| {
        [root, pod.ns.as_str()]
            .iter()
            .enumerate()
            .filter(|(i, ns)| *i == 0 || **ns != root)
            .flat_map(|(_, ns)| authn_by_ns.0.get(*ns).into_iter().flatten())
            .any(|selector| selector.matches(&pod.labels))
    };
    for (_, gateway) in gateway_refs(vs) {
        if gateway == "mesh" {
            continue;
        }
        let (ns, name) = short_or_full_name(&vs.ns, gateway);
        let Some(gw) = ws.find(Kind::Gateway, ns, name) else {
            continue;
        };
        let selector = Selector::read(gw.spec_at(&["selector"]), Values::AsWritten);
        let pods_without = ws
            .select_workloads(None, &selector)
            .filter(|p| p.is_pod && !covered(p));
        for pod in pods_without {
            let pod = &ws.resources[pod.resource];
            out.report(
                vs,
                key_node,
                format!(
                    "routes on JWT claim \"{key}\" but no RequestAuthentication applies to pod {} of Gateway {}",
                    pod.full_name(),
                    full_name(ns, name)
                ),
            )
            .help(format!(
                "add a RequestAuthentication selecting the gateway pods in namespace `{}` or `{root}`",
                pod.ns
            ));
        }
    }
}
