//! Kiali's `authorization.NamespaceMethodChecker`, its method half: `to.operation.methods` must
//! be HTTP methods (the namespace half is IST0101's `authz.AuthorizationPoliciesAnalyzer`).

use mspack_yaml::Node;

use crate::declare_rule;
use crate::finding::Findings;
use crate::resource::Kind;
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
        check: check,
    };
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

fn check(ws: &Workspace, out: &mut Findings) {
    for ap in ws.of_kind(Kind::AuthorizationPolicy) {
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
                        .help(
                            "use HTTP methods (GET, POST, ...) or `*`; match gRPC calls by `paths`",
                        );
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
