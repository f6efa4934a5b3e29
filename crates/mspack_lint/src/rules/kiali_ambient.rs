//! Kiali's ambient policy checks that files decide (`AmbientPolicyChecker`): L7
//! AuthorizationPolicies, RequestAuthentications and WasmPlugins in ambient namespaces that no
//! waypoint applies. A namespace is ambient when its Namespace object in the
//! input says so (`istio.io/dataplane-mode: ambient`).

use mspack_yaml::Node;

use crate::declare_rule;
use crate::finding::Findings;
use crate::resource::{Kind, Resource};
use crate::workloads::{Selector, Values, namespace_in_ambient, namespace_labels};
use crate::workspace::Workspace;

/// Label enrolling a Namespace, Service or workload to a waypoint (`none` opts out).
pub(crate) const USE_WAYPOINT: &str = "istio.io/use-waypoint";

/// `when` keys that only a proxy terminating HTTP can evaluate (Kiali's list).
const L7_CONDITION_PREFIXES: [&str; 5] = [
    "request.headers",
    "request.auth.claims",
    "request.auth.principal",
    "request.auth.audiences",
    "request.auth.presenter",
];

/// The first L7 attribute an AuthorizationPolicy uses, as a phrase, if any.
fn l7_attribute(ap: &Resource) -> Option<String> {
    for rule in ap.spec_at(&["rules"]).into_iter().flat_map(Node::items) {
        for when in rule.get("when").into_iter().flat_map(Node::items) {
            if let Some(key) = when.get("key").and_then(Node::as_str)
                && L7_CONDITION_PREFIXES.iter().any(|p| key.starts_with(p))
            {
                return Some(format!("the condition `{key}`"));
            }
        }
        for op in rule
            .get("to")
            .into_iter()
            .flat_map(Node::items)
            .filter_map(|t| t.get("operation"))
        {
            for key in [
                "methods",
                "notMethods",
                "paths",
                "notPaths",
                "hosts",
                "notHosts",
            ] {
                if op.get(key).is_some_and(|v| v.items().next().is_some()) {
                    return Some(format!("`operation.{key}`"));
                }
            }
        }
        for source in rule
            .get("from")
            .into_iter()
            .flat_map(Node::items)
            .filter_map(|f| f.get("source"))
        {
            for key in ["requestPrincipals", "notRequestPrincipals"] {
                if source.get(key).is_some_and(|v| v.items().next().is_some()) {
                    return Some(format!("`source.{key}`"));
                }
            }
        }
    }
    None
}

/// `targetRef` and `targetRefs[]` of a policy.
fn target_refs(policy: &Resource) -> Vec<&Node> {
    let single = policy.spec_at(&["targetRef"]).filter(|n| !n.is_null());
    single
        .into_iter()
        .chain(
            policy
                .spec_at(&["targetRefs"])
                .into_iter()
                .flat_map(Node::items),
        )
        .collect()
}

/// The `kind` of a target reference.
fn kind_of(r: &Node) -> &str {
    r.get("kind").and_then(Node::as_str).unwrap_or("")
}

/// Whether labels enroll to a waypoint: set and not `none`.
pub(crate) fn enrolls(value: Option<&str>) -> Option<bool> {
    value.map(|v| !v.is_empty() && v != "none")
}

declare_rule! {
    /// ## What it checks
    /// An AuthorizationPolicy in an ambient namespace (its Namespace object labelled
    /// `istio.io/dataplane-mode: ambient`) that uses L7 attributes (`operation.methods`,
    /// `paths`, `hosts` or their `not` forms, `source.requestPrincipals`, or a `when` on
    /// `request.headers` or `request.auth.*`) and is bound by `selector` (or to the whole
    /// namespace) instead of `targetRefs`. Kiali: KIA0110 (`authorizationpolicy.ambient.l7notargetrefs`).
    ///
    /// ## Why it matters
    /// In ambient mode the pods have no sidecar: ztunnel enforces selector-bound policies and
    /// can only read L4 attributes, so the L7 rules never match (an ALLOW policy denies the
    /// traffic, a DENY policy lets it through), and waypoints apply only policies attached to a
    /// Service or Gateway by `targetRefs`.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: v1
    /// kind: Namespace
    /// metadata:
    ///   name: shop
    ///   labels: {istio.io/dataplane-mode: ambient, istio.io/use-waypoint: waypoint}
    /// ---
    /// apiVersion: security.istio.io/v1
    /// kind: AuthorizationPolicy
    /// metadata: {name: readers, namespace: shop}
    /// spec:
    ///   selector:
    ///     matchLabels: {app: catalog}
    ///   rules:
    ///   - to:
    ///     - operation: {methods: ["GET"]}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: v1
    /// kind: Namespace
    /// metadata:
    ///   name: shop
    ///   labels: {istio.io/dataplane-mode: ambient, istio.io/use-waypoint: waypoint}
    /// ---
    /// apiVersion: security.istio.io/v1
    /// kind: AuthorizationPolicy
    /// metadata: {name: readers, namespace: shop}
    /// spec:
    ///   targetRefs:
    ///   - {kind: Service, group: "", name: catalog}
    ///   rules:
    ///   - to:
    ///     - operation: {methods: ["GET"]}
    /// ```
    pub static L7_POLICY_WITHOUT_TARGET_REFS = Rule {
        code: "KIA0110",
        name: "ambient-l7-policy-without-target-refs",
        severity: Warning,
        summary: "an L7 AuthorizationPolicy in an ambient namespace is bound by selector, which waypoints ignore",
        mirrors: Some("AmbientPolicyChecker.AuthorizationPolicy"),
        check: check_target_refs,
    };
}

declare_rule! {
    /// ## What it checks
    /// An AuthorizationPolicy in an ambient namespace (its Namespace object labelled
    /// `istio.io/dataplane-mode: ambient`) that uses L7 attributes (as KIA0110 reads them),
    /// where nothing it applies to is enrolled to a waypoint with `istio.io/use-waypoint`: the
    /// Services its `targetRefs` name (when they are in the input), or else the namespace and
    /// the workloads its selector picks in the input. A policy attached to a Gateway (the
    /// waypoint itself) is fine. Kiali: KIA0109 (`authorizationpolicy.ambient.l7nowaypoint`).
    /// Kiali's KIA1317 (`workload.ambient.authpolicybutnowaypoint`) reports the same from the
    /// workload's side.
    ///
    /// ## Why it matters
    /// Only a waypoint proxy terminates HTTP in ambient mode. Without one on the path, the L7
    /// rules are never evaluated: the policy either blocks everything it covers or protects
    /// nothing, depending on its action.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: v1
    /// kind: Namespace
    /// metadata:
    ///   name: shop
    ///   labels: {istio.io/dataplane-mode: ambient}
    /// ---
    /// apiVersion: v1
    /// kind: Service
    /// metadata: {name: catalog, namespace: shop}
    /// spec:
    ///   selector: {app: catalog}
    ///   ports:
    ///   - {port: 8080}
    /// ---
    /// apiVersion: security.istio.io/v1
    /// kind: AuthorizationPolicy
    /// metadata: {name: readers, namespace: shop}
    /// spec:
    ///   targetRefs:
    ///   - {kind: Service, group: "", name: catalog}
    ///   rules:
    ///   - to:
    ///     - operation: {methods: ["GET"]}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: v1
    /// kind: Namespace
    /// metadata:
    ///   name: shop
    ///   labels: {istio.io/dataplane-mode: ambient, istio.io/use-waypoint: waypoint}
    /// ---
    /// apiVersion: v1
    /// kind: Service
    /// metadata: {name: catalog, namespace: shop}
    /// spec:
    ///   selector: {app: catalog}
    ///   ports:
    ///   - {port: 8080}
    /// ---
    /// apiVersion: security.istio.io/v1
    /// kind: AuthorizationPolicy
    /// metadata: {name: readers, namespace: shop}
    /// spec:
    ///   targetRefs:
    ///   - {kind: Service, group: "", name: catalog}
    ///   rules:
    ///   - to:
    ///     - operation: {methods: ["GET"]}
    /// ```
    pub static L7_POLICY_WITHOUT_WAYPOINT = Rule {
        code: "KIA0109",
        name: "ambient-l7-policy-without-waypoint",
        severity: Warning,
        summary: "an L7 AuthorizationPolicy in an ambient namespace applies to nothing enrolled to a waypoint",
        mirrors: Some("AmbientPolicyChecker.AuthorizationPolicy"),
        check: check_enrollment,
    };
}

declare_rule! {
    /// ## What it checks
    /// A RequestAuthentication in an ambient namespace (its Namespace object labelled
    /// `istio.io/dataplane-mode: ambient`) bound by `selector` (or to the whole namespace)
    /// instead of `targetRefs`. Kiali: KIA1115 (`requestauthentication.ambient.l7notargetrefs`).
    ///
    /// ## Why it matters
    /// JWT validation needs a proxy that terminates HTTP. In ambient mode that is a waypoint,
    /// and waypoints apply only RequestAuthentications attached by `targetRefs`; ztunnel
    /// ignores them. Tokens go unchecked, and AuthorizationPolicies on `requestPrincipals`
    /// never see a principal.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: v1
    /// kind: Namespace
    /// metadata:
    ///   name: shop
    ///   labels: {istio.io/dataplane-mode: ambient, istio.io/use-waypoint: waypoint}
    /// ---
    /// apiVersion: security.istio.io/v1
    /// kind: RequestAuthentication
    /// metadata: {name: jwt, namespace: shop}
    /// spec:
    ///   selector:
    ///     matchLabels: {app: catalog}
    ///   jwtRules:
    ///   - {issuer: "https://auth.example.com"}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: v1
    /// kind: Namespace
    /// metadata:
    ///   name: shop
    ///   labels: {istio.io/dataplane-mode: ambient, istio.io/use-waypoint: waypoint}
    /// ---
    /// apiVersion: security.istio.io/v1
    /// kind: RequestAuthentication
    /// metadata: {name: jwt, namespace: shop}
    /// spec:
    ///   targetRefs:
    ///   - {kind: Service, group: "", name: catalog}
    ///   jwtRules:
    ///   - {issuer: "https://auth.example.com"}
    /// ```
    pub static JWT_WITHOUT_TARGET_REFS = Rule {
        code: "KIA1115",
        name: "ambient-request-authentication-without-target-refs",
        severity: Warning,
        summary: "a RequestAuthentication in an ambient namespace is bound by selector, which waypoints ignore",
        mirrors: Some("AmbientPolicyChecker.RequestAuthentication"),
        check: check_ra_target_refs,
    };
}

declare_rule! {
    /// ## What it checks
    /// A RequestAuthentication in an ambient namespace where nothing it applies to is enrolled
    /// to a waypoint (read as for KIA0109: the Services of its `targetRefs` when the input has
    /// them, else the namespace and the workloads its selector picks). Kiali: KIA1110
    /// (`requestauthentication.ambient.l7nowaypoint`).
    ///
    /// ## Why it matters
    /// Without a waypoint no proxy on the path validates JWTs: requests with bad or no tokens
    /// are not rejected, and policies on `requestPrincipals` never match.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: v1
    /// kind: Namespace
    /// metadata:
    ///   name: shop
    ///   labels: {istio.io/dataplane-mode: ambient}
    /// ---
    /// apiVersion: security.istio.io/v1
    /// kind: RequestAuthentication
    /// metadata: {name: jwt, namespace: shop}
    /// spec:
    ///   jwtRules:
    ///   - {issuer: "https://auth.example.com"}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: v1
    /// kind: Namespace
    /// metadata:
    ///   name: shop
    ///   labels: {istio.io/dataplane-mode: ambient, istio.io/use-waypoint: waypoint}
    /// ---
    /// apiVersion: security.istio.io/v1
    /// kind: RequestAuthentication
    /// metadata: {name: jwt, namespace: shop}
    /// spec:
    ///   jwtRules:
    ///   - {issuer: "https://auth.example.com"}
    /// ```
    pub static JWT_WITHOUT_WAYPOINT = Rule {
        code: "KIA1110",
        name: "ambient-request-authentication-without-waypoint",
        severity: Warning,
        summary: "a RequestAuthentication in an ambient namespace applies to nothing enrolled to a waypoint",
        mirrors: Some("AmbientPolicyChecker.RequestAuthentication"),
        check: check_ra_enrollment,
    };
}

declare_rule! {
    /// ## What it checks
    /// A WasmPlugin in an ambient namespace (its Namespace object labelled
    /// `istio.io/dataplane-mode: ambient`) bound by `selector` (or to the whole namespace)
    /// instead of `targetRefs`. Kiali: KIA1116 (`wasmplugin.ambient.l7notargetrefs`).
    ///
    /// ## Why it matters
    /// A Wasm filter runs in an Envoy proxy. Ambient pods have none; waypoints load only the
    /// WasmPlugins attached to them or their Services by `targetRefs`. The filter (often
    /// authentication or header rewriting) silently never runs.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: v1
    /// kind: Namespace
    /// metadata:
    ///   name: shop
    ///   labels: {istio.io/dataplane-mode: ambient, istio.io/use-waypoint: waypoint}
    /// ---
    /// apiVersion: extensions.istio.io/v1alpha1
    /// kind: WasmPlugin
    /// metadata: {name: basic-auth, namespace: shop}
    /// spec:
    ///   selector:
    ///     matchLabels: {app: catalog}
    ///   url: oci://ghcr.io/example/basic-auth:1.0
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: v1
    /// kind: Namespace
    /// metadata:
    ///   name: shop
    ///   labels: {istio.io/dataplane-mode: ambient, istio.io/use-waypoint: waypoint}
    /// ---
    /// apiVersion: extensions.istio.io/v1alpha1
    /// kind: WasmPlugin
    /// metadata: {name: basic-auth, namespace: shop}
    /// spec:
    ///   targetRefs:
    ///   - {kind: Gateway, group: gateway.networking.k8s.io, name: waypoint}
    ///   url: oci://ghcr.io/example/basic-auth:1.0
    /// ```
    pub static WASM_WITHOUT_TARGET_REFS = Rule {
        code: "KIA1116",
        name: "ambient-wasm-plugin-without-target-refs",
        severity: Warning,
        summary: "a WasmPlugin in an ambient namespace is bound by selector, which waypoints ignore",
        mirrors: Some("AmbientPolicyChecker.WasmPlugin"),
        check: check_wasm_target_refs,
    };
}

declare_rule! {
    /// ## What it checks
    /// A WasmPlugin in an ambient namespace where nothing it applies to is enrolled to a
    /// waypoint (read as for KIA0109). A WasmPlugin attached to a Gateway is fine.
    /// Kiali: KIA1111 (`wasmplugin.ambient.l7nowaypoint`).
    ///
    /// ## Why it matters
    /// Without a waypoint there is no Envoy on the path to load the filter: it never runs.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: v1
    /// kind: Namespace
    /// metadata:
    ///   name: shop
    ///   labels: {istio.io/dataplane-mode: ambient}
    /// ---
    /// apiVersion: extensions.istio.io/v1alpha1
    /// kind: WasmPlugin
    /// metadata: {name: basic-auth, namespace: shop}
    /// spec:
    ///   url: oci://ghcr.io/example/basic-auth:1.0
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: v1
    /// kind: Namespace
    /// metadata:
    ///   name: shop
    ///   labels: {istio.io/dataplane-mode: ambient, istio.io/use-waypoint: waypoint}
    /// ---
    /// apiVersion: extensions.istio.io/v1alpha1
    /// kind: WasmPlugin
    /// metadata: {name: basic-auth, namespace: shop}
    /// spec:
    ///   url: oci://ghcr.io/example/basic-auth:1.0
    /// ```
    pub static WASM_WITHOUT_WAYPOINT = Rule {
        code: "KIA1111",
        name: "ambient-wasm-plugin-without-waypoint",
        severity: Warning,
        summary: "a WasmPlugin in an ambient namespace applies to nothing enrolled to a waypoint",
        mirrors: Some("AmbientPolicyChecker.WasmPlugin"),
        check: check_wasm_enrollment,
    };
}

/// Resources of `kind` in ambient namespaces that need an L7 proxy, with what makes them L7:
/// AuthorizationPolicies using L7 attributes, every RequestAuthentication and WasmPlugin.
fn ambient_l7_policies(ws: &Workspace, kind: Kind) -> impl Iterator<Item = (&Resource, String)> {
    ws.of_kind(kind)
        .filter(|r| namespace_in_ambient(ws, &r.ns))
        .filter_map(move |r| {
            match kind {
                Kind::AuthorizationPolicy => l7_attribute(r).map(|what| format!("uses {what}")),
                Kind::RequestAuthentication => Some("validates JWTs".to_string()),
                _ => Some("runs a Wasm filter".to_string()),
            }
            .map(|what| (r, what))
        })
}

fn check_target_refs(ws: &Workspace, out: &mut Findings) {
    check_target_refs_of(ws, Kind::AuthorizationPolicy, out);
}

fn check_ra_target_refs(ws: &Workspace, out: &mut Findings) {
    check_target_refs_of(ws, Kind::RequestAuthentication, out);
}

fn check_wasm_target_refs(ws: &Workspace, out: &mut Findings) {
    check_target_refs_of(ws, Kind::WasmPlugin, out);
}

fn check_enrollment(ws: &Workspace, out: &mut Findings) {
    check_enrollment_of(ws, Kind::AuthorizationPolicy, out);
}

fn check_ra_enrollment(ws: &Workspace, out: &mut Findings) {
    check_enrollment_of(ws, Kind::RequestAuthentication, out);
}

fn check_wasm_enrollment(ws: &Workspace, out: &mut Findings) {
    check_enrollment_of(ws, Kind::WasmPlugin, out);
}

fn check_target_refs_of(ws: &Workspace, kind: Kind, out: &mut Findings) {
    for (ap, what) in ambient_l7_policies(ws, kind) {
        if !target_refs(ap).is_empty() {
            continue;
        }
        let anchor = ap.spec_at(&["selector"]).unwrap_or_else(|| ap.anchor());
        out.report(
            ap,
            anchor,
            format!(
                "namespace {:?} is ambient and this {} {what}, but it is not attached with `targetRefs`: ztunnel works at L4 only and waypoints ignore resources bound by selector or namespace",
                ap.ns.as_str(),
                ap.kind_name
            ),
        )
        .help(format!(
            "attach the {} with `targetRefs` to the Service (or the waypoint Gateway) whose waypoint should apply it",
            ap.kind_name
        ));
    }
}

fn check_enrollment_of(ws: &Workspace, kind: Kind, out: &mut Findings) {
    for (ap, what) in ambient_l7_policies(ws, kind) {
        let ns_enrolled = enrolls(
            namespace_labels(ws, &ap.ns)
                .as_ref()
                .and_then(|l| l.get(USE_WAYPOINT))
                .map(String::as_str),
        );
        let refs = target_refs(ap);
        if refs.iter().any(|r| kind_of(r) == "Gateway") {
            continue;
        }
        let services: Vec<&Resource> = refs
            .iter()
            .filter(|r| kind_of(r) == "Service")
            .filter_map(|r| r.get("name").and_then(Node::as_str))
            .filter_map(|name| ws.find(Kind::Service, &ap.ns, name))
            .collect();
        let unenrolled: Option<String> = if !services.is_empty() {
            services
                .iter()
                .find(|svc| enrolls(svc.label(USE_WAYPOINT)).or(ns_enrolled) != Some(true))
                .map(|svc| svc.display_name())
        } else if !refs.is_empty() {
            // Targets the input does not hold: nothing to decide.
            None
        } else if ns_enrolled == Some(true) {
            None
        } else {
            let selector = Selector::read(
                ap.spec_at(&["selector", "matchLabels"]),
                Values::OtherAsEmpty,
            );
            let selected: Vec<_> = ws.select_workloads(Some(&ap.ns), &selector).collect();
            if selected
                .iter()
                .any(|w| enrolls(w.labels.get(USE_WAYPOINT).map(String::as_str)) == Some(true))
            {
                None
            } else {
                Some(format!("namespace {:?}", ap.ns.as_str()))
            }
        };
        let Some(target) = unenrolled else { continue };
        let anchor = ap
            .spec_at(&["targetRefs"])
            .or_else(|| ap.spec_at(&["selector"]))
            .unwrap_or_else(|| ap.anchor());
        out.report(
            ap,
            anchor,
            format!(
                "this {} {what} in ambient namespace {:?}, but {target} is not enrolled to a waypoint (`istio.io/use-waypoint`): no proxy applies it",
                ap.kind_name,
                ap.ns.as_str()
            ),
        )
        .help(format!(
            "deploy a waypoint and label {target} with `istio.io/use-waypoint: <waypoint name>`"
        ));
    }
}
