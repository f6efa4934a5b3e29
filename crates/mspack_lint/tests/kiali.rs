//! Kiali's validations (KIA codes) beyond their fixtures: selection by the `KIA` prefix,
//! suppression by a KIA code, the mesh-config gate of the auto-mTLS checks, and partial sets.

use std::sync::Arc;

use mspack_lint::rules::ALL;
use mspack_lint::{LintOptions, lint_sources};
use mspack_yaml::SourceFile;

/// `CODE resource` of every KIA finding of `yaml` linted with `select`.
fn lint(yaml: &str, select: &[&str]) -> Vec<String> {
    let options = LintOptions {
        select: select.iter().map(|s| s.to_string()).collect(),
        ..LintOptions::default()
    };
    let source = Arc::new(SourceFile::new("test.yaml", yaml));
    let report = lint_sources(vec![source], &options).unwrap_or_else(|e| panic!("{e}"));
    report
        .findings
        .iter()
        .filter(|f| f.rule.code.starts_with("KIA"))
        .map(|f| format!("{} {}", f.rule.code, f.resource.as_deref().unwrap_or("-")))
        .collect()
}

const CONFLICT: &str = "apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: no-mtls, namespace: shop}
spec:
  host: \"*.shop.svc.cluster.local\"
  trafficPolicy:
    tls: {mode: DISABLE}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: shop}
spec:
  mtls: {mode: STRICT}
";

#[test]
fn kia_codes_are_selected_by_prefix_code_and_name() {
    let kia: Vec<_> = ALL.iter().filter(|r| r.code.starts_with("KIA")).collect();
    assert!(kia.len() >= 20, "{}", kia.len());
    for rule in &kia {
        assert!(rule.matches_selector("KIA"), "{}", rule.id());
        assert!(rule.matches_selector(rule.code), "{}", rule.id());
        assert!(rule.matches_selector(rule.name), "{}", rule.id());
        assert_eq!(rule.origin(), "Kiali");
        assert!(
            rule.mirrors.is_some(),
            "{}: names the Kiali checker",
            rule.id()
        );
        assert!(
            rule.documentation()
                .contains(&format!("Kiali: {}", rule.code)),
            "{}: its docs name the Kiali code",
            rule.id()
        );
    }
    assert!(!kia.iter().any(|r| r.matches_selector("IST")));
    assert_eq!(
        lint(CONFLICT, &["KIA"]),
        ["KIA0207 DestinationRule shop/no-mtls"]
    );
    assert_eq!(
        lint(CONFLICT, &["KIA0207"]),
        ["KIA0207 DestinationRule shop/no-mtls"]
    );
    assert!(lint(CONFLICT, &["KIA05"]).is_empty());
    // Default selection runs the rules on by default.
    assert_eq!(
        lint(CONFLICT, &[]),
        ["KIA0207 DestinationRule shop/no-mtls"]
    );
}

#[test]
fn off_by_default_kia_rules_need_selecting() {
    let yaml = "apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: shop}
spec:
  host: reviews
  subsets:
  - name: v1
";
    assert!(lint(yaml, &[]).is_empty());
    assert_eq!(
        lint(yaml, &["KIA"]),
        ["KIA0209 DestinationRule shop/reviews"]
    );
}

#[test]
fn a_kia_code_in_mspack_io_ignore_suppresses_it() {
    let yaml = CONFLICT.replace(
        "metadata: {name: no-mtls, namespace: shop}",
        "metadata:\n  name: no-mtls\n  namespace: shop\n  annotations: {mspack.io/ignore: \"KIA0207\"}",
    );
    assert!(lint(&yaml, &["KIA"]).is_empty());
}

#[test]
fn auto_mtls_checks_stay_quiet_under_istios_default() {
    let yaml = "apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec:
  mtls: {mode: STRICT}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: shop}
spec:
  mtls: {mode: STRICT}
";
    // No mesh config: auto mTLS is on and clients upgrade by themselves.
    assert!(lint(yaml, &["KIA0401", "KIA0501"]).is_empty());
}

#[test]
fn trust_domains_are_not_guessed_without_a_mesh_config() {
    let yaml = "apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: from-frontend, namespace: shop}
spec:
  rules:
  - from:
    - source: {principals: [\"prod.example.com/ns/frontend/sa/web\"]}
";
    assert!(lint(yaml, &["KIA0108"]).is_empty());
}

#[test]
fn gateway_api_references_outside_the_set_are_not_reported() {
    let yaml = "apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: edge, namespace: shop}
spec:
  gatewayClassName: istio
  listeners:
  - {name: http, port: 80, protocol: HTTP}
---
apiVersion: v1
kind: Service
metadata: {name: shop, namespace: shop}
spec:
  ports:
  - {port: 80}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: shop, namespace: shop}
spec:
  parentRefs:
  - name: edge
  - {name: public, namespace: istio-ingress}
  rules:
  - backendRefs:
    - {name: shop, port: 80}
    - {name: payments, namespace: payments, port: 80}
";
    assert!(
        lint(yaml, &["KIA"]).is_empty(),
        "{:?}",
        lint(yaml, &["KIA"])
    );
    // The same references without namespaces: the route's own (unknown) namespace is modelled.
    let unnamespaced = yaml
        .replace(", namespace: shop}", "}")
        .replace("name: edge\n", "name: egde\n");
    assert_eq!(
        lint(&unnamespaced, &["KIA1401"]),
        ["KIA1401 HTTPRoute shop"]
    );
}

/// docs/kiali.md maps every Kiali code once, and every KIA rule is a bold code there.
#[test]
fn the_kiali_mapping_names_every_kia_rule() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/kiali.md");
    let doc = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let rows: Vec<&str> = doc.lines().filter(|l| l.starts_with("| KIA")).collect();
    let mut codes: Vec<&str> = rows
        .iter()
        .filter_map(|l| l.split('|').nth(1))
        .map(str::trim)
        .collect();
    let total = codes.len();
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), total, "a Kiali code is mapped twice");
    assert!(total >= 70, "{total} Kiali codes mapped");
    for rule in ALL.iter().filter(|r| r.code.starts_with("KIA")) {
        let bold = format!("**{}**", rule.code);
        assert!(
            rows.iter()
                .any(|l| l.starts_with(&format!("| {} |", rule.code)) && l.contains(&bold)),
            "{} is not mapped to itself in docs/kiali.md",
            rule.code
        );
    }
}
