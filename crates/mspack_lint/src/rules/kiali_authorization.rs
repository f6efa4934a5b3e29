//! Kiali's AuthorizationPolicy checks that files decide: `to.operation.methods` must be HTTP
//! methods (`authorization.NamespaceMethodChecker`; its namespace half is IST0101's
//! `authz.AuthorizationPoliciesAnalyzer`), and peer-identity fields need mTLS
//! (`authorization.MtlsEnabledChecker`).

use mspack_yaml::Node;

use crate::crossref::mtls_mode;
use crate::declare_rule;
use crate::finding::Findings;
use crate::resource::{Kind, Resource};
use crate::rules::kiali_mtls::{Scope, scoped_drs};
use crate::workloads::{Selector, Values, Workload};
use crate::workspace::Workspace;

/// The methods Go's `net/http` names, which Kiali accepts.
const HTTP_METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE",
];

declare_rule! {
    /// ## What it checks
    /// Every entry of `rules[].to[].operation.methods` and `notMethods` of an
    /// AuthorizationPolicy: it must be `*`, an HTTP method (`GET`, `HEAD`, `POST`, `PUT`, `PATCH`,
    /// `DELETE`, `CONNECT`, `OPTIONS`, `TRACE`), or a prefix (`PO*`) or suffix (`*CH`) pattern
    /// matching one. Kiali: KIA0102 (`authorizationpolicy.to.wrongmethod`); Kiali compares
    /// ignoring case, but Istio matches the `:method` header exactly, so a lower-case method is
    /// reported too.
    ///
    /// ## Why it matters
    /// A method no request carries never matches: an ALLOW rule listing only such methods admits
    /// nobody, and a DENY rule blocks nothing. gRPC method names do not belong here either
    /// (every gRPC call is a `POST`; match them with `paths`).
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: security.istio.io/v1
    /// kind: AuthorizationPolicy
    /// metadata: {name: readers, namespace: shop}
    /// spec:
    ///   rules:
    ///   - to:
    ///     - operation: {methods: ["get", "READ"]}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: security.istio.io/v1
    /// kind: AuthorizationPolicy
    /// metadata: {name: readers, namespace: shop}
    /// spec:
    ///   rules:
    ///   - to:
    ///     - operation: {methods: ["GET", "HEAD"]}
    /// ```
    pub static WRONG_METHOD = Rule {
        code: "KIA0102",
        name: "authorization-policy-wrong-method",
        severity: Warning,
        summary: "an AuthorizationPolicy operation lists a method that is not an HTTP method",
        mirrors: Some("authorization.NamespaceMethodChecker"),
        each: check on &[Kind::AuthorizationPolicy],
    };
}

declare_rule! {
    /// ## What it checks
    /// An AuthorizationPolicy that matches on the peer's identity (`source.principals`,
    /// `notPrincipals`, `namespaces`, `notNamespaces`, or a `when` on `source.principal`,
    /// `source.namespace` or `connection.sni`) where the PeerAuthentications of the input turn
    /// mTLS off (`DISABLE`) for what it applies to: a workload of the input it selects (its
    /// workload-level policy, else its namespace's, else the mesh root namespace's), or, with
    /// no such workload in the input, a workload carrying the labels its selector asks for. Where no PeerAuthentication of the input
    /// decides, nothing is reported. Kiali: KIA0105 (`authorizationpolicy.mtls.needstobeenabled`).
    ///
    /// ## Why it matters
    /// Peer identities come from the mTLS certificate. Without mTLS a request has no principal
    /// and no source namespace: an ALLOW rule on them never matches, so the workload refuses
    /// every request the rule was meant to admit, a DENY rule on them never fires, and one on
    /// `notPrincipals` or `notNamespaces` matches every request.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: security.istio.io/v1
    /// kind: PeerAuthentication
    /// metadata: {name: default, namespace: shop}
    /// spec:
    ///   mtls: {mode: DISABLE}
    /// ---
    /// apiVersion: security.istio.io/v1
    /// kind: AuthorizationPolicy
    /// metadata: {name: from-frontend, namespace: shop}
    /// spec:
    ///   rules:
    ///   - from:
    ///     - source: {namespaces: [frontend]}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: security.istio.io/v1
    /// kind: PeerAuthentication
    /// metadata: {name: default, namespace: shop}
    /// spec:
    ///   mtls: {mode: STRICT}
    /// ---
    /// apiVersion: security.istio.io/v1
    /// kind: AuthorizationPolicy
    /// metadata: {name: from-frontend, namespace: shop}
    /// spec:
    ///   rules:
    ///   - from:
    ///     - source: {namespaces: [frontend]}
    /// ```
    pub static NEEDS_MTLS = Rule {
        code: "KIA0105",
        name: "authorization-policy-needs-mtls",
        severity: Error,
        summary: "an AuthorizationPolicy matches peer identities where mTLS is disabled",
        mirrors: Some("authorization.MtlsEnabledChecker"),
        each: check_mtls on &[Kind::AuthorizationPolicy],
    };
}

declare_rule! {
    /// ## What it checks
    /// Every `source.principals` and `notPrincipals` entry of an AuthorizationPolicy of the form
    /// `<trust domain>/ns/<namespace>/sa/<account>` (without wildcards), against the trust
    /// domains of the mesh config: its `trustDomain` (`cluster.local` when unset) and
    /// `trustDomainAliases`; `cluster.local` itself always stands for the local trust domain.
    /// It runs only when a mesh config is given (`--mesh-config`), since the trust domain is
    /// set at install time. Kiali: KIA0108 (`authorizationpolicy.source.principalforeign`).
    ///
    /// ## Why it matters
    /// A principal of a trust domain the mesh does not know never matches a peer: an ALLOW
    /// rule on it admits nobody and a DENY rule blocks nothing. A typo in the trust domain, or
    /// a mesh installed with a custom trust domain, silently turns such rules off.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: security.istio.io/v1
    /// kind: AuthorizationPolicy
    /// metadata: {name: from-frontend, namespace: shop}
    /// spec:
    ///   rules:
    ///   - from:
    ///     - source: {principals: ["prod.example.com/ns/frontend/sa/web"]}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: security.istio.io/v1
    /// kind: AuthorizationPolicy
    /// metadata: {name: from-frontend, namespace: shop}
    /// spec:
    ///   rules:
    ///   - from:
    ///     - source: {principals: ["example.com/ns/frontend/sa/web"]}
    /// ```
    pub static FOREIGN_TRUST_DOMAIN = Rule {
        code: "KIA0108",
        name: "authorization-policy-foreign-trust-domain",
        severity: Warning,
        summary: "an AuthorizationPolicy principal names a trust domain the mesh does not know",
        mirrors: Some("authorization.PrincipalsChecker"),
        check: check_trust_domains,
    };
}

fn check_trust_domains(ws: &Workspace, out: &mut Findings) {
    if ws.mesh.file.is_none() {
        return;
    }
    let own = ws
        .mesh
        .get("trustDomain")
        .and_then(Node::as_str)
        .filter(|t| !t.is_empty())
        .unwrap_or("cluster.local");
    let mut known = vec![own, "cluster.local"];
    known.extend(
        ws.mesh
            .get("trustDomainAliases")
            .into_iter()
            .flat_map(Node::items)
            .filter_map(Node::as_str),
    );
    for ap in ws.of_kind(Kind::AuthorizationPolicy) {
        let sources = ap
            .spec_at(&["rules"])
            .into_iter()
            .flat_map(Node::items)
            .flat_map(|r| r.get("from").into_iter().flat_map(Node::items))
            .filter_map(|f| f.get("source"));
        for source in sources {
            for key in ["principals", "notPrincipals"] {
                for node in source.get(key).into_iter().flat_map(Node::items) {
                    let Some(principal) = node.as_str() else {
                        continue;
                    };
                    if principal.contains('*') {
                        continue;
                    }
                    let Some((domain, _)) = principal.split_once("/ns/") else {
                        continue;
                    };
                    if domain.is_empty() || known.contains(&domain) {
                        continue;
                    }
                    out.report(
                        ap,
                        node,
                        format!(
                            "principal {principal:?} is of trust domain {domain:?}, which the mesh config does not know (trust domain {own:?}): no peer carries it"
                        ),
                    )
                    .help(format!(
                        "write the mesh's trust domain ({own:?}), or add {domain:?} to `trustDomainAliases` if it is a former or federated trust domain"
                    ));
                }
            }
        }
    }
}

/// `when` keys whose values come from the peer certificate.
const MTLS_KEYS: [&str; 3] = ["source.namespace", "source.principal", "connection.sni"];

/// The first field of `ap` that needs the peer's mTLS identity, with a phrase for it.
fn identity_field(ap: &Resource) -> Option<(&Node, String)> {
    for rule in ap.spec_at(&["rules"]).into_iter().flat_map(Node::items) {
        for source in rule
            .get("from")
            .into_iter()
            .flat_map(Node::items)
            .filter_map(|f| f.get("source"))
        {
            for key in ["principals", "notPrincipals", "namespaces", "notNamespaces"] {
                if let Some(node) = source.get(key).filter(|v| v.items().next().is_some()) {
                    return Some((node, format!("`source.{key}`")));
                }
            }
        }
        for when in rule.get("when").into_iter().flat_map(Node::items) {
            if let Some(key) = when.get("key").and_then(Node::as_str)
                && MTLS_KEYS.contains(&key)
            {
                return Some((when, format!("the condition `{key}`")));
            }
        }
    }
    None
}

fn check_mtls(ws: &Workspace, ap: &Resource, out: &mut Findings) {
    if ap.spec_at(&["targetRef"]).is_some() || ap.spec_at(&["targetRefs"]).is_some() {
        return;
    }
    let Some((node, what)) = identity_field(ap) else {
        return;
    };
    let selector = Selector::read(
        ap.spec_at(&["selector", "matchLabels"]),
        Values::OtherAsEmpty,
    );
    let selected: Vec<&Workload> = ws.select_workloads(Some(&ap.ns), &selector).collect();
    // No selected workload in the input: a workload carrying exactly the selector's labels.
    let namespace_only = Workload {
        resource: usize::MAX,
        ns: ap.ns.to_string(),
        labels: selector.labels().clone(),
        is_pod: false,
    };
    let targets: Vec<&Workload> = if selected.is_empty() {
        vec![&namespace_only]
    } else {
        selected
    };
    let modes: Vec<Option<(String, &Resource)>> =
        targets.iter().map(|w| mtls_mode(ws, w, None)).collect();
    let server_off = modes
        .iter()
        .flatten()
        .find(|(mode, _)| mode == "DISABLE")
        .map(|(_, pa)| *pa);
    // Clients of the namespace told to send plain text, where servers do not insist on mTLS.
    let client_off = || {
        let wide = scoped_drs(ws, Scope::Namespace, &ap.ns)
            .next()
            .or_else(|| scoped_drs(ws, Scope::Mesh, "").next());
        wide.filter(|(_, mode, _)| mode == "DISABLE")
            .filter(|_| !modes.iter().flatten().any(|(m, _)| m == "STRICT"))
            .map(|(dr, _, _)| dr)
    };
    if let Some(pa) = server_off.or_else(client_off) {
        let outcome = if what.contains("`source.not") {
            "it matches every request"
        } else {
            "it never matches"
        };
        out.report(
            ap,
            node,
            format!(
                "this policy matches on {what}, but {} turns mTLS off for what it applies to: requests carry no peer identity, so {outcome}",
                pa.display_name()
            ),
        )
        .help(if pa.kind == Kind::DestinationRule {
            format!(
                "set `tls.mode: ISTIO_MUTUAL` in {} (or drop its TLS settings so auto mTLS applies)",
                pa.display_name()
            )
        } else {
            format!(
                "enable mTLS (PERMISSIVE or STRICT) in {}, or match on something other than the peer's identity",
                pa.display_name()
            )
        });
    }
}

/// Whether Kiali accepts `method` (case aside).
fn known_method(method: &str) -> bool {
    let m = method.trim().to_ascii_uppercase();
    if m == "*" {
        return true;
    }
    if let Some(prefix) = m.strip_suffix('*').filter(|p| !p.starts_with('*')) {
        return !prefix.is_empty() && HTTP_METHODS.iter().any(|h| h.starts_with(prefix));
    }
    if let Some(suffix) = m.strip_prefix('*').filter(|s| !s.ends_with('*')) {
        return !suffix.is_empty() && HTTP_METHODS.iter().any(|h| h.ends_with(suffix));
    }
    HTTP_METHODS.contains(&m.as_str())
}

fn check(_: &Workspace, ap: &Resource, out: &mut Findings) {
    let operations = ap
        .spec_at(&["rules"])
        .into_iter()
        .flat_map(Node::items)
        .flat_map(|r| r.get("to").into_iter().flat_map(Node::items))
        .filter_map(|t| t.get("operation"));
    for op in operations {
        for key in ["methods", "notMethods"] {
            for node in op.get(key).into_iter().flat_map(Node::items) {
                let Some(method) = node.as_str() else {
                    continue;
                };
                if !known_method(method) {
                    out.report(
                        ap,
                        node,
                        format!(
                            "{method:?} in `{key}` is not an HTTP method: no request matches it"
                        ),
                    )
                    .help("use HTTP methods (GET, POST, ...) or `*`; match gRPC calls by `paths`");
                } else if method.trim() != method.trim().to_ascii_uppercase() {
                    out.report(
                        ap,
                        node,
                        format!(
                            "{method:?} in `{key}` is lower case, but Istio matches the method exactly and requests carry {:?}",
                            method.trim().to_ascii_uppercase()
                        ),
                    )
                    .help("write HTTP methods in upper case");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::known_method;

    #[test]
    fn methods_follow_kiali() {
        for ok in ["GET", "get", "*", "PO*", "*CH", " DELETE "] {
            assert!(known_method(ok), "{ok}");
        }
        for bad in [
            "",
            "READ",
            "*X",
            "Z*",
            "**",
            "GET*POST",
            "grpc.Health/Check",
        ] {
            assert!(!known_method(bad), "{bad}");
        }
    }
}
