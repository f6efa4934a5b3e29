use mspack_yaml::Node;

use crate::declare_rule;
use crate::finding::Findings;
use crate::resource::{Kind, Resource};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// When the analysed set has RequestAuthentication resources, every istiod Deployment
    /// (label `app: istiod`) none of whose containers sets the environment variable
    /// `BLOCKED_CIDRS_IN_JWKS_URIS` to a non-empty `value` (a `valueFrom` does not count).
    ///
    /// ## Why it matters
    /// istiod fetches the JWKS of every `jwksUri` in RequestAuthentication resources. Anyone who
    /// can write a RequestAuthentication can make istiod send requests to internal addresses
    /// (cloud metadata endpoints, admin APIs). `BLOCKED_CIDRS_IN_JWKS_URIS` lists the networks
    /// istiod refuses to fetch from.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: security.istio.io/v1
    /// kind: RequestAuthentication
    /// metadata: {name: customer-jwt, namespace: orders}
    /// spec:
    ///   jwtRules:
    ///   - issuer: https://auth.food.example
    ///     jwksUri: https://auth.food.example/.well-known/jwks.json
    /// ---
    /// apiVersion: apps/v1
    /// kind: Deployment
    /// metadata: {name: istiod, namespace: istio-system, labels: {app: istiod}}
    /// spec:
    ///   selector: {matchLabels: {app: istiod}}
    ///   template:
    ///     metadata: {labels: {app: istiod}}
    ///     spec:
    ///       containers:
    ///       - name: discovery
    ///         image: docker.io/istio/pilot:1.24.0
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: security.istio.io/v1
    /// kind: RequestAuthentication
    /// metadata: {name: customer-jwt, namespace: orders}
    /// spec:
    ///   jwtRules:
    ///   - issuer: https://auth.food.example
    ///     jwksUri: https://auth.food.example/.well-known/jwks.json
    /// ---
    /// apiVersion: apps/v1
    /// kind: Deployment
    /// metadata: {name: istiod, namespace: istio-system, labels: {app: istiod}}
    /// spec:
    ///   selector: {matchLabels: {app: istiod}}
    ///   template:
    ///     metadata: {labels: {app: istiod}}
    ///     spec:
    ///       containers:
    ///       - name: discovery
    ///         image: docker.io/istio/pilot:1.24.0
    ///         env:
    ///         - name: BLOCKED_CIDRS_IN_JWKS_URIS
    ///           value: "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,169.254.169.254/32"
    /// ```
    pub static JWKS_URI_FETCH_UNRESTRICTED = Rule {
        code: "IST0175",
        name: "JwksUriFetchUnrestricted",
        severity: Warning,
        summary: "requestauthentications exist but istiod does not restrict jwks fetches by cidr",
        mirrors: Some("authn.BlockedCIDRsAnalyzer"),
        check: check,
    };
}

const BLOCKED_CIDRS_ENV: &str = "BLOCKED_CIDRS_IN_JWKS_URIS";
/// How many RequestAuthentication names a message lists.
const SHOWN: usize = 5;

fn check(ws: &Workspace, out: &mut Findings) {
    let mut names: Vec<String> = ws
        .of_kind(Kind::RequestAuthentication)
        .map(Resource::full_name)
        .collect();
    if names.is_empty() {
        return;
    }
    names.sort();
    let listed = if names.len() <= SHOWN {
        names.join(", ")
    } else {
        format!(
            "{}, and {} more",
            names[..SHOWN].join(", "),
            names.len() - SHOWN
        )
    };
    for istiod in ws.of_kind(Kind::Deployment) {
        if istiod.label("app") != Some("istiod") {
            continue;
        }
        let containers = istiod.spec_at(&["template", "spec", "containers"]);
        let restricted = containers
            .into_iter()
            .flat_map(Node::items)
            .flat_map(|c| c.get("env").into_iter().flat_map(Node::items))
            .any(|e| {
                e.get("name").and_then(Node::as_str) == Some(BLOCKED_CIDRS_ENV)
                    && e.get("value")
                        .and_then(Node::as_str)
                        .is_some_and(|v| !v.is_empty())
            });
        if restricted {
            continue;
        }
        out.report(
            istiod,
            containers.unwrap_or(istiod.anchor()),
            format!(
                "istiod does not set {BLOCKED_CIDRS_ENV}, but {} RequestAuthentication resource(s) make it fetch JWKS URIs: {listed}",
                names.len()
            ),
        )
        .help(format!(
            "set the env var {BLOCKED_CIDRS_ENV} on the discovery container to the private and metadata networks istiod must not fetch from"
        ));
    }
}
