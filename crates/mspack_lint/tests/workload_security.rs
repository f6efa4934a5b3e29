//! Edge cases of the MSP2xx workload-hygiene rules beyond their fixtures: pod- versus
//! container-level securityContext precedence, Istio's own containers and pods, selection
//! (off by default, `--select MSP2`) and the generic suppressions.

use std::sync::Arc;

use mspack_lint::{LintOptions, lint_sources};
use mspack_yaml::SourceFile;

/// `line:col CODE message` of every finding of a code starting with `MSP2`.
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
        .filter(|f| f.rule.code.starts_with("MSP2"))
        .map(|f| {
            let pos = f.span.map(|s| format!("{}:{}", s.start.line, s.start.col));
            format!("{} {} {}", pos.unwrap_or_default(), f.rule.code, f.message)
        })
        .collect()
}

fn pod(spec: &str) -> String {
    format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: p, namespace: ns}}\nspec:\n{spec}")
}

#[test]
fn container_run_as_non_root_false_overrides_the_pod() {
    let yaml = pod("  securityContext: {runAsNonRoot: true}
  containers:
  - name: a
    image: x
    securityContext: {runAsNonRoot: false}
  - name: b
    image: x
");
    let found = lint(&yaml, &["MSP202"]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("9:") && found[0].contains("\"a\""),
        "{found:?}"
    );
}

#[test]
fn container_run_as_user_overrides_the_pods_root_user() {
    let yaml = pod("  securityContext: {runAsUser: 0}
  containers:
  - name: a
    image: x
    securityContext: {runAsUser: 1000}
  - name: b
    image: x
");
    let found = lint(&yaml, &["MSP202"]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].contains("\"b\" runs as root (runAsUser: 0)"),
        "{found:?}"
    );
    // The pod's runAsUser is where `b` gets its root user from.
    assert!(found[0].starts_with("5:"), "{found:?}");
}

#[test]
fn pod_level_non_root_or_user_covers_every_container() {
    for sc in ["{runAsNonRoot: true}", "{runAsUser: 1000}"] {
        let yaml = pod(&format!(
            "  securityContext: {sc}
  initContainers:
  - {{name: i, image: x}}
  containers:
  - {{name: a, image: x}}
"
        ));
        assert!(lint(&yaml, &["MSP202"]).is_empty(), "{sc}");
    }
}

#[test]
fn container_non_root_true_is_enough_and_a_zero_user_still_fires() {
    let yaml = pod("  containers:
  - name: a
    image: x
    securityContext: {runAsNonRoot: true}
  - name: b
    image: x
    securityContext: {runAsNonRoot: true, runAsUser: 0}
");
    let found = lint(&yaml, &["MSP202"]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("\"b\" runs as root"), "{found:?}");
}

/// A hardened container, so that only the field under test differs.
const HARDENED: &str = "    securityContext:
      runAsNonRoot: true
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      capabilities: {drop: [ALL]}
";

#[test]
fn a_hardened_pod_is_clean_under_every_msp2_rule() {
    let yaml = pod(&format!(
        "  securityContext:\n    seccompProfile: {{type: RuntimeDefault}}\n  containers:\n  \
         - name: a\n    image: x:1.0\n    resources:\n      requests: {{cpu: 10m, memory: 8Mi}}\n      \
         limits: {{memory: 16Mi}}\n    readinessProbe: {{tcpSocket: {{port: 80}}}}\n    \
         livenessProbe: {{tcpSocket: {{port: 80}}}}\n{HARDENED}"
    ));
    let found = lint(&yaml, &["MSP2"]);
    assert!(found.is_empty(), "{found:?}");
}

#[test]
fn the_rules_are_off_by_default_and_msp2_selects_them_all() {
    let yaml = pod("  hostNetwork: true\n  containers:\n  - name: a\n    image: x\n");
    assert!(lint(&yaml, &[]).is_empty(), "off by default");
    let found = lint(&yaml, &["MSP2"]);
    for code in ["MSP201", "MSP202", "MSP203", "MSP204", "MSP205"] {
        assert!(
            found.iter().any(|f| f.contains(code)),
            "{code} missing: {found:?}"
        );
    }
}

#[test]
fn extend_select_adds_msp2_to_the_default_rules_instead_of_replacing_them() {
    let rules = |select: &[&str], extend: &[&str]| {
        let options = LintOptions {
            select: select.iter().map(|s| s.to_string()).collect(),
            extend_select: extend.iter().map(|s| s.to_string()).collect(),
            ..LintOptions::default()
        };
        let selected = mspack_lint::selected_rules(&options).unwrap_or_else(|e| panic!("{e}"));
        selected.iter().map(|r| r.code).collect::<Vec<_>>()
    };
    let default = rules(&[], &[]);
    let extended = rules(&[], &["MSP2"]);
    assert!(default.contains(&"MSP101") && !default.contains(&"MSP201"));
    assert!(extended.contains(&"MSP101") && extended.contains(&"MSP201"));
    // MSP201-213 and MSP215-217 (MSP214, an API error, is on by default).
    assert_eq!(extended.len(), default.len() + 16);
    // With --select, extend-select adds to the selection.
    let both = rules(&["MSP101"], &["MSP205"]);
    assert!(both.contains(&"MSP101") && both.contains(&"MSP205") && !both.contains(&"MSP102"));
    // An unknown selector is an error there too.
    let options = LintOptions {
        extend_select: vec!["MSP299".into()],
        ..LintOptions::default()
    };
    assert!(mspack_lint::selected_rules(&options).is_err());
}

#[test]
fn istio_injected_containers_are_not_reported() {
    let yaml = pod("  initContainers:
  - name: istio-init
    image: docker.io/istio/proxyv2:1.24.0
    securityContext:
      runAsUser: 0
      runAsNonRoot: false
      capabilities: {add: [NET_ADMIN, NET_RAW], drop: [ALL]}
  - name: istio-validation
    image: docker.io/istio/proxyv2:1.24.0
  containers:
  - name: istio-proxy
    image: docker.io/istio/proxyv2:1.24.0
");
    assert!(lint(&yaml, &["MSP2"]).is_empty());
}

#[test]
fn a_user_container_adding_net_admin_is_reported_even_beside_istio_init() {
    let yaml = pod("  initContainers:
  - name: istio-init
    image: docker.io/istio/proxyv2:1.24.0
    securityContext:
      capabilities: {add: [NET_ADMIN, NET_RAW], drop: [ALL]}
  containers:
  - name: app
    image: x
    securityContext:
      runAsNonRoot: true
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      capabilities: {drop: [ALL], add: [NET_ADMIN]}
");
    let found = lint(&yaml, &["MSP201", "MSP202", "MSP203", "MSP204", "MSP205"]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("MSP204") && found[0].contains("NET_ADMIN"));
}

#[test]
fn istio_charts_pods_are_not_reported() {
    let yaml = "apiVersion: apps/v1
kind: DaemonSet
metadata: {name: istio-cni-node, namespace: kube-system}
spec:
  selector: {matchLabels: {k8s-app: istio-cni-node}}
  template:
    metadata: {labels: {k8s-app: istio-cni-node}}
    spec:
      hostNetwork: true
      containers:
      - name: install-cni
        image: docker.io/istio/install-cni:1.24.0
        securityContext: {privileged: true, runAsUser: 0}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: istio-ingressgateway, namespace: istio-system}
spec:
  selector: {matchLabels: {app: istio-ingressgateway}}
  template:
    metadata:
      labels: {app: istio-ingressgateway, app.kubernetes.io/part-of: istio}
    spec:
      containers:
      - name: istio-proxy
        image: auto
      - name: sidecar-helper
        image: x
";
    assert!(lint(yaml, &["MSP2"]).is_empty());
}

#[test]
fn suppressions_apply() {
    let annotated = "apiVersion: v1
kind: Pod
metadata:
  name: p
  namespace: ns
  annotations: {mspack.io/ignore: MSP205}
spec:
  hostPID: true
  containers:
  - name: a
    image: x
";
    assert!(lint(annotated, &["MSP205"]).is_empty());
    let plain = annotated.replace("  annotations: {mspack.io/ignore: MSP205}\n", "");
    assert_eq!(lint(&plain, &["MSP205"]).len(), 1, "the control fires");
    let commented = "apiVersion: v1
kind: Pod
metadata: {name: p, namespace: ns}
spec:
  # mspack: ignore[MSP205] reason=\"node agent\"
  hostPID: true
  containers:
  - name: a
    image: x
";
    assert!(lint(commented, &["MSP205"]).is_empty());
    let plain = commented.replace("  # mspack: ignore[MSP205] reason=\"node agent\"\n", "");
    assert_eq!(lint(&plain, &["MSP205"]).len(), 1, "the control fires");
}

#[test]
fn capability_names_are_read_without_case_or_cap_prefix() {
    let yaml = pod("  containers:
  - name: a
    image: x
    securityContext:
      capabilities: {drop: [all], add: [cap_net_bind_service, CAP_SYS_PTRACE]}
");
    let found = lint(&yaml, &["MSP204"]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("SYS_PTRACE"), "{found:?}");
}

#[test]
fn a_pod_without_containers_or_with_odd_shapes_does_not_panic() {
    for spec in [
        "  containers: ~\n",
        "  containers: [1, [], {}]\n",
        "  securityContext: [1]\n  containers:\n  - name: a\n    securityContext: x\n",
        "  containers:\n  - name: a\n    securityContext:\n      capabilities: {drop: x, add: {a: b}}\n",
        "  hostNetwork: \"true\"\n",
    ] {
        let _ = lint(&pod(spec), &["MSP2"]);
    }
}
