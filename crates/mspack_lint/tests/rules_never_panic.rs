//! Property test: every rule survives resources of every known kind with fields of arbitrary shape
//! (a map where a list is expected, numbers for strings, nulls, empty lists, deep nesting).

use std::sync::Arc;

use mspack_lint::{LintOptions, lint_sources};
use mspack_yaml::SourceFile;
use proptest::prelude::*;

const KINDS: &[(&str, &str)] = &[
    ("networking.istio.io/v1", "VirtualService"),
    ("networking.istio.io/v1", "DestinationRule"),
    ("networking.istio.io/v1", "Gateway"),
    ("networking.istio.io/v1", "ServiceEntry"),
    ("networking.istio.io/v1", "Sidecar"),
    ("networking.istio.io/v1alpha3", "EnvoyFilter"),
    ("networking.istio.io/v1", "WorkloadEntry"),
    ("security.istio.io/v1", "AuthorizationPolicy"),
    ("security.istio.io/v1", "PeerAuthentication"),
    ("security.istio.io/v1", "RequestAuthentication"),
    ("telemetry.istio.io/v1", "Telemetry"),
    ("gateway.networking.k8s.io/v1", "Gateway"),
    ("gateway.networking.k8s.io/v1", "HTTPRoute"),
    ("v1", "Service"),
    ("v1", "Pod"),
    ("v1", "Namespace"),
    ("v1", "Secret"),
    ("v1", "ConfigMap"),
    ("apps/v1", "Deployment"),
    ("apps/v1", "StatefulSet"),
    ("batch/v1", "CronJob"),
    ("argoproj.io/v1alpha1", "Rollout"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
    (
        "admissionregistration.k8s.io/v1",
        "MutatingWebhookConfiguration",
    ),
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
];

const KEYS: &[&str] = &[
    "hosts",
    "http",
    "tcp",
    "tls",
    "route",
    "destination",
    "host",
    "subset",
    "subsets",
    "port",
    "number",
    "name",
    "protocol",
    "targetPort",
    "selector",
    "matchLabels",
    "labels",
    "servers",
    "gateways",
    "exportTo",
    "match",
    "uri",
    "prefix",
    "exact",
    "headers",
    "mirror",
    "mirrors",
    "trafficPolicy",
    "portLevelSettings",
    "tls",
    "mode",
    "credentialName",
    "caCertificates",
    "egress",
    "ingress",
    "workloadSelector",
    "rules",
    "from",
    "source",
    "namespaces",
    "to",
    "operation",
    "action",
    "provider",
    "providers",
    "tracing",
    "accessLogging",
    "metrics",
    "configPatches",
    "applyTo",
    "patch",
    "operation",
    "value",
    "ports",
    "addresses",
    "resolution",
    "endpoints",
    "containers",
    "securityContext",
    "runAsUser",
    "template",
    "spec",
    "metadata",
    "annotations",
    "webhooks",
    "clientConfig",
    "service",
    "namespace",
    "listeners",
    "parentRefs",
    "backendRefs",
    "jwtRules",
    "issuer",
    "weight",
    "timeout",
    "retries",
    "type",
    "resources",
    "requests",
    "limits",
    "cpu",
    "memory",
    "initContainers",
    "ephemeralContainers",
    "containerPort",
    "env",
    "jobTemplate",
    "podSelector",
    "namespaceSelector",
    "policyTypes",
    "principals",
    "ipBlock",
    "endPort",
    "restartPolicy",
    "serviceAccountName",
    "sidecar.istio.io/proxyCPU",
    "sidecar.istio.io/proxyCPULimit",
];

fn scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("~".to_string()),
        Just("true".to_string()),
        Just("\"\"".to_string()),
        Just("[]".to_string()),
        Just("{}".to_string()),
        Just("\"*\"".to_string()),
        Just("reviews".to_string()),
        Just("reviews.default.svc.cluster.local".to_string()),
        Just("istio-system/gw".to_string()),
        Just("80".to_string()),
        Just("-1".to_string()),
        Just("1337".to_string()),
        Just("99999999999999999999".to_string()),
        Just("1.5Ki".to_string()),
        Just("100m".to_string()),
        Just("1e999".to_string()),
        Just("OTEL_EXPORTER_OTLP_ENDPOINT".to_string()),
        Just("\"http://reviews.food:80\"".to_string()),
        Just("cluster.local/ns/food/sa/*".to_string()),
        "[a-z]{1,8}",
    ]
}

fn value() -> impl Strategy<Value = String> {
    scalar().prop_recursive(5, 40, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..5).prop_map(|kv| {
                let body: Vec<String> = kv.iter().map(|(k, v)| format!("{k}: {v}")).collect();
                format!("{{{}}}", body.join(", "))
            }),
        ]
    })
}

fn document() -> impl Strategy<Value = String> {
    (
        prop::sample::select(KINDS),
        prop::sample::select(&["a", "b", "reviews", "istio-ingressgateway"][..]),
        prop::option::of(prop::sample::select(&["default", "istio-system", "food"][..])),
        value(),
        value(),
        value(),
    )
        .prop_map(|((api, kind), name, ns, labels, spec, extra)| {
            let ns = ns.map(|n| format!(", namespace: {n}")).unwrap_or_default();
            format!(
                "apiVersion: {api}\nkind: {kind}\nmetadata: {{name: {name}{ns}, labels: {labels}, annotations: {extra}}}\nspec: {spec}\n"
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn rules_never_panic_on_oddly_shaped_resources(docs in prop::collection::vec(document(), 1..8)) {
        let text = docs.join("---\n");
        let options = LintOptions { select: vec!["ALL".into()], multicluster: mspack_lint::Multicluster::Ambient, ..LintOptions::default() };
        let report = lint_sources(vec![Arc::new(SourceFile::new("fuzz.yaml", text))], &options);
        prop_assert!(report.is_ok());
    }
}
