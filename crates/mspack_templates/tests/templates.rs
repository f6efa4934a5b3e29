//! Every template, with default and with edge values: lint-clean (the render gate), every
//! document valid against its strict schema (unknown fields are errors) and the API server's
//! naming rules, and checkov's Kubernetes checks passing (or skipped with a stated reason).

mod support;

use mspack_templates::{RawValues, TEMPLATES, render};
use serde_json::Value;

/// (template, case name, values): defaults first, then edges.
fn cases() -> Vec<(&'static str, &'static str, Vec<String>)> {
    let long_name = format!("a{}", "b".repeat(62));
    let digest = format!("ghcr.io/acme/orders@sha256:{}", "0".repeat(64));
    let mut cases: Vec<(&str, &str, Vec<String>)> = vec![
        (
            "deployment-strategy",
            "defaults",
            vec!["name=orders".into()],
        ),
        ("mesh-istio", "defaults", vec!["name=orders".into()]),
        ("otel-config", "defaults", vec![]),
        ("obi", "defaults", vec![]),
    ];
    let edge_service = vec![
        format!("name={long_name}"),
        format!("namespace={}", "n".repeat(63)),
        "port=1".into(),
        format!("image={digest}"),
        "version=2024.11.25-rc_1".into(),
        "canary_version=v2".into(),
        "ext_authz=true".into(),
        "ext_authz_port=65535".into(),
        "callers=shop/web,billing/api".into(),
        "multicluster=ambient".into(),
        "cluster_domain=corp.example".into(),
    ];
    cases.push((
        "deployment-strategy",
        "edges",
        [
            edge_service.clone(),
            vec![
                // A port at the edge of the range needs an authorizer that listens there (the
                // default image serves 9000 only).
                format!("ext_authz_image={digest}"),
                "min_replicas=1".into(),
                "max_replicas=1".into(),
                "cpu_limit=2".into(),
                "prestop_sleep=0s".into(),
                "termination_grace_period=1h".into(),
                "run_as_user=2147483647".into(),
                "trace_sample_ratio=0".into(),
                "liveness_path=/health/live".into(),
                // `mspack new --store` sets both; here they are checked by every gate.
                "nats_url=nats://nats.messaging.svc.corp.example:4222".into(),
                "database_url=postgres://orders@postgres.n.svc:5432/orders?sslmode=require".into(),
            ],
        ]
        .concat(),
    ));
    cases.push((
        "mesh-istio",
        "edges",
        [
            edge_service,
            vec![
                "trust_domain=corp.example".into(),
                "retry_attempts=0".into(),
                "timeout=1h".into(),
                "per_try_timeout=500ms".into(),
                "export_to=.,istio-system,shop".into(),
                "request_headers_add=x-tenant:acme co,x-empty:".into(),
                "request_headers_remove=x-debug,x-internal".into(),
                "non_idempotent_methods=[]".into(),
                "allowed_paths=/v1/*,/livez".into(),
                "retry_on=5xx,reset,429".into(),
            ],
        ]
        .concat(),
    ));
    cases.push((
        "mesh-istio",
        "httproute",
        vec![
            "name=orders".into(),
            "namespace=food".into(),
            "routing=httproute".into(),
            "port=65535".into(),
            "export_to=*".into(),
            "request_headers_add=x-a:b".into(),
            "request_headers_remove=x-b".into(),
        ],
    ));
    // A canary routed by a GAMMA HTTPRoute: one Service per version, header and weighted rules.
    let httproute_canary = vec![
        "name=orders".into(),
        "namespace=food".into(),
        "routing=httproute".into(),
        "version=1.4.0".into(),
        "canary_version=1.5.0-rc_1".into(),
        "multicluster=ambient".into(),
    ];
    cases.push((
        "deployment-strategy",
        "httproute-canary",
        httproute_canary.clone(),
    ));
    cases.push((
        "mesh-istio",
        "httproute-canary",
        [
            httproute_canary.clone(),
            vec![
                "canary_weight=10".into(),
                "request_headers_add=x-a:b".into(),
            ],
        ]
        .concat(),
    ));
    cases.push((
        "mesh-istio",
        "httproute-canary-by-header-only",
        [httproute_canary, vec!["ab_header=x-track".into()]].concat(),
    ));
    cases.push((
        "mesh-istio",
        "virtualservice-canary-weight",
        vec![
            "name=orders".into(),
            "canary_version=v2".into(),
            "canary_weight=25".into(),
            "request_headers_remove=x-debug".into(),
        ],
    ));
    cases.push((
        "deployment-strategy",
        "port-next-to-istio-range",
        vec!["name=orders".into(), "port=15091".into()],
    ));
    cases.push((
        "mesh-istio",
        "port-below-istio-range",
        vec!["name=orders".into(), "port=14999".into()],
    ));
    cases.push((
        "otel-config",
        "edges",
        vec![
            "name=collector".into(),
            "namespace=food".into(),
            "obi=true".into(),
            "obi_propagation=all".into(),
            "obi_node_cidrs=10.0.0.0/16,fd00::/64".into(),
            "obi_port=65534".into(),
            "obi_sys_admin=true".into(),
            "obi_namespaces=food,shop".into(),
            "sender_namespaces=food,shop,billing".into(),
            "exporter_insecure=true".into(),
            "exporter_endpoint=tempo.tracing:4317".into(),
            "memory_limit=4Gi".into(),
            "port=65535".into(),
            "replicas=1".into(),
            format!(
                "image=otel/opentelemetry-collector-contrib@sha256:{}",
                "a".repeat(64)
            ),
        ],
    ));
    cases.push((
        "otel-config",
        "without-obi",
        vec!["obi=false".into(), "sender_namespaces=food".into()],
    ));
    cases.push((
        "obi",
        "edges",
        vec![
            "propagation=headers".into(),
            "instrument_namespaces=food,shop,billing".into(),
            "otlp_endpoint=http://$(HOST_IP):4318".into(),
            "namespace=ebpf".into(),
        ],
    ));
    cases
}

fn raw(values: &[String]) -> RawValues {
    let mut raw = RawValues::new();
    for v in values {
        raw.set(v).unwrap_or_else(|e| panic!("{v}: {e}"));
    }
    raw
}

/// Render every case through the lint gate; panics with the findings when one is not clean.
fn rendered() -> Vec<(String, String)> {
    cases()
        .into_iter()
        .map(|(template, case, values)| {
            let label = format!("{template}/{case}");
            match render(template, &raw(&values)) {
                Ok(r) => (label, r.text),
                Err(e) => panic!("{label}: {e}"),
            }
        })
        .collect()
}

#[test]
fn every_template_is_covered_by_defaults_and_edges() {
    let cases = cases();
    for template in TEMPLATES {
        let names: Vec<_> = cases
            .iter()
            .filter(|(t, _, _)| *t == template.name)
            .map(|(_, c, _)| *c)
            .collect();
        assert!(
            names.contains(&"defaults"),
            "{} has no defaults case",
            template.name
        );
        assert!(names.len() >= 2, "{} has no edge case", template.name);
    }
}

#[test]
fn every_case_renders_with_zero_lint_findings() {
    assert_eq!(rendered().len(), cases().len());
}

#[test]
fn every_document_passes_the_api_server_naming_rules() {
    for (label, text) in rendered() {
        for doc in support::documents(&text) {
            let errors = support::api_server_rules(&doc);
            assert!(errors.is_empty(), "{label}: {errors:#?}");
        }
    }
}

#[test]
fn istio_and_gateway_api_documents_match_the_crd_schemas() {
    let schemas = support::Schemas::load();
    if !schemas.has_crds() {
        return;
    }
    let mut checked = 0;
    for (label, text) in rendered() {
        for doc in support::documents(&text) {
            let api = doc["apiVersion"].as_str().unwrap_or_default();
            if !(api.contains("istio.io") || api.contains("gateway.networking.k8s.io")) {
                continue;
            }
            match schemas.validate(&doc) {
                Ok(true) => checked += 1,
                Ok(false) => panic!("{label}: no CRD schema for {}", support::describe(&doc)),
                Err(errors) => panic!("{label}: {}: {errors:#?}", support::describe(&doc)),
            }
        }
    }
    println!("checked {checked} Istio/Gateway API documents against the CRD schemas");
    assert!(checked > 10);
}

#[test]
fn strict_schemas_reject_unknown_fields() {
    let schemas = support::Schemas::load();
    if !schemas.has_crds() {
        return;
    }
    let doc: Value = serde_json::json!({
        "apiVersion": "networking.istio.io/v1",
        "kind": "DestinationRule",
        "metadata": {"name": "x", "namespace": "y"},
        "spec": {"host": "x.y.svc.cluster.local", "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}, "retries": 3}}
    });
    let errors = schemas.validate(&doc).err().unwrap_or_default();
    assert!(
        errors
            .iter()
            .any(|e| e.contains("spec.trafficPolicy.retries: unknown field")),
        "{errors:?}"
    );
}

/// Needs `scripts/manifest-tools.sh` (kubernetes-validate in a venv under target/); .ci/run
/// runs it with `--ignored`.
#[test]
#[ignore = "needs kubernetes-validate: bash scripts/manifest-tools.sh"]
fn kubernetes_documents_match_the_strict_1_34_schemas() {
    let schemas = support::Schemas::load();
    assert!(
        schemas.has_kubernetes(),
        "kubernetes-validate is not installed: run scripts/manifest-tools.sh"
    );
    let mut checked = 0;
    for (label, text) in rendered() {
        for doc in support::documents(&text) {
            let api = doc["apiVersion"].as_str().unwrap_or_default();
            if api.contains("istio.io") || api.contains("gateway.networking.k8s.io") {
                continue;
            }
            match schemas.validate(&doc) {
                Ok(true) => checked += 1,
                Ok(false) => panic!("{label}: no schema for {}", support::describe(&doc)),
                Err(errors) => panic!("{label}: {}: {errors:#?}", support::describe(&doc)),
            }
        }
    }
    println!("checked {checked} Kubernetes documents against v1.34.0-local-strict");
    let unknown = serde_json::json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": {"selector": {}, "template": {}, "replica": 2}
    });
    assert!(
        schemas.validate(&unknown).is_err(),
        "an unknown Deployment field must be an error"
    );
}

/// Needs checkov in the manifest-tools venv; .ci/run runs it with `--ignored`.
#[test]
#[ignore = "needs checkov: bash scripts/manifest-tools.sh"]
fn checkov_kubernetes_checks_pass() {
    // checkov skips hidden directories, and tempfile's default names start with a dot.
    let dir = tempfile::Builder::new()
        .prefix("checkov-")
        .tempdir()
        .expect("a temp dir");
    for (label, text) in rendered() {
        let file = dir.path().join(format!("{}.yaml", label.replace('/', "-")));
        std::fs::write(&file, text).expect("write a rendered file");
    }
    let report = mspack_testkit::checkov(dir.path());
    println!(
        "checkov: {} passed, {} failed",
        report.passed,
        report.failed.len()
    );
    assert!(
        report.failed.is_empty(),
        "checkov failures:\n{}",
        report.failed.join("\n")
    );
    assert!(report.passed > 0, "checkov ran no checks");
}

/// The `set` value of `header` in a RequestHeaderModifier among `filters`.
fn header_set(filters: &Value, header: &str) -> Option<String> {
    filters
        .as_array()?
        .iter()
        .filter(|f| f["type"] == "RequestHeaderModifier")
        .flat_map(|f| f["requestHeaderModifier"]["set"].as_array().cloned())
        .flatten()
        .find(|s| s["name"] == header)
        .and_then(|s| s["value"].as_str().map(str::to_owned))
}

/// Whether every label of `selector` is on `labels`.
fn selects(selector: &Value, labels: &Value) -> bool {
    selector
        .as_object()
        .is_some_and(|m| !m.is_empty() && m.iter().all(|(k, v)| labels.get(k) == Some(v)))
}

/// Issue 11: `routing=httproute` with a canary split round-robin over the pods of both versions
/// and labelled every request `x-variant: v1`. Now the header sends a request to the canary's
/// Service, the rest is split by weight between the versions' Services, each request carries
/// the version that serves it, and each Service selects exactly the pods of its Deployment.
#[test]
fn httproute_canary_routes_by_header_and_weight_to_the_version_it_labels() {
    let values = raw(&[
        "name=orders".into(),
        "namespace=food".into(),
        "routing=httproute".into(),
        "version=1.4.0".into(),
        "canary_version=1.5.0-rc_1".into(),
        "canary_weight=10".into(),
        "ab_header=x-track".into(),
    ]);
    let workload = match render("deployment-strategy", &values) {
        Ok(r) => support::documents(&r.text),
        Err(e) => panic!("deployment-strategy: {e}"),
    };
    let mesh = match render("mesh-istio", &values) {
        Ok(r) => support::documents(&r.text),
        Err(e) => panic!("mesh-istio: {e}"),
    };
    let of_kind = |docs: &[Value], kind: &str| -> Vec<Value> {
        docs.iter().filter(|d| d["kind"] == kind).cloned().collect()
    };
    let routes = of_kind(&mesh, "HTTPRoute");
    assert_eq!(routes.len(), 1, "one HTTPRoute");
    assert!(of_kind(&mesh, "VirtualService").is_empty());
    let route = &routes[0];
    assert_eq!(
        route["spec"]["parentRefs"],
        serde_json::json!([{"group": "", "kind": "Service", "name": "orders", "port": 8080}])
    );
    let services = of_kind(&workload, "Service");
    let deployments = of_kind(&workload, "Deployment");
    // The version a backend reaches: the `version` label of the one Deployment whose pods its
    // Service selects (by the Deployment's own selector and its pods' labels).
    let version_of = |backend: &Value| -> String {
        let name = backend["name"].as_str().unwrap_or_default();
        let service = services
            .iter()
            .find(|s| s["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("backend {name} is no Service of the workload"));
        assert_eq!(service["spec"]["ports"][0]["port"], backend["port"]);
        let selector = &service["spec"]["selector"];
        let selected: Vec<&Value> = deployments
            .iter()
            .filter(|d| selects(selector, &d["spec"]["template"]["metadata"]["labels"]))
            .collect();
        assert_eq!(
            selected.len(),
            1,
            "Service {name} selects the pods of {} Deployments",
            selected.len()
        );
        let deployment = selected[0];
        assert!(selects(
            &deployment["spec"]["selector"]["matchLabels"],
            &deployment["spec"]["template"]["metadata"]["labels"]
        ));
        deployment["spec"]["template"]["metadata"]["labels"]["version"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let rules = route["spec"]["rules"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(rules.len(), 2, "{rules:#?}");
    let (by_header, rest): (Vec<&Value>, Vec<&Value>) = rules
        .iter()
        .partition(|r| r["matches"][0].get("headers").is_some());
    // The A/B header selects the canary, and the request says so.
    let [by_header] = by_header.as_slice() else {
        panic!("one rule matches the A/B header: {rules:#?}");
    };
    assert_eq!(
        by_header["matches"][0]["headers"],
        serde_json::json!([{"type": "Exact", "name": "x-track", "value": "1.5.0-rc_1"}])
    );
    let backends = by_header["backendRefs"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(backends.len(), 1);
    assert_eq!(version_of(&backends[0]), "1.5.0-rc_1");
    assert_eq!(
        header_set(&by_header["filters"], "x-track").as_deref(),
        Some("1.5.0-rc_1")
    );
    // The rest: 90/10 between the versions, each labelled with the version that serves it.
    let [rest] = rest.as_slice() else {
        panic!("one default rule: {rules:#?}");
    };
    assert!(header_set(&rest["filters"], "x-track").is_none());
    let mut split: Vec<(String, i64, String)> = rest["backendRefs"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|b| {
            let served = version_of(b);
            let labelled = header_set(&b["filters"], "x-track").unwrap_or_default();
            (served, b["weight"].as_i64().unwrap_or(1), labelled)
        })
        .collect();
    split.sort();
    assert_eq!(
        split,
        vec![
            ("1.4.0".into(), 90, "1.4.0".into()),
            ("1.5.0-rc_1".into(), 10, "1.5.0-rc_1".into()),
        ]
    );
    // Every host routed to has the Service's traffic policy.
    let hosts: Vec<String> = of_kind(&mesh, "DestinationRule")
        .iter()
        .map(|d| d["spec"]["host"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        hosts,
        [
            "orders.food.svc.cluster.local",
            "orders-1-4-0.food.svc.cluster.local",
            "orders-1-5-0-rc-1.food.svc.cluster.local"
        ]
    );
}

/// With `canary_weight=0` (the default) the default rule sends everything to the stable
/// version, like the VirtualService; without a canary the route is the Service's own.
#[test]
fn httproute_without_weight_sends_the_rest_to_stable_and_canary_weight_needs_a_canary() {
    let mesh = |extra: &[&str]| -> Vec<Value> {
        let mut values: Vec<String> = vec!["name=orders".into(), "routing=httproute".into()];
        values.extend(extra.iter().map(|s| (*s).to_owned()));
        match render("mesh-istio", &raw(&values)) {
            Ok(r) => support::documents(&r.text),
            Err(e) => panic!("{values:?}: {e}"),
        }
    };
    let rules = |docs: &[Value]| -> Vec<Value> {
        docs.iter()
            .find(|d| d["kind"] == "HTTPRoute")
            .and_then(|r| r["spec"]["rules"].as_array().cloned())
            .unwrap_or_default()
    };
    let canary = rules(&mesh(&["canary_version=v2"]));
    assert_eq!(canary.len(), 2);
    assert_eq!(
        canary[1]["backendRefs"],
        serde_json::json!([{"name": "orders-v1", "port": 8080}])
    );
    assert_eq!(
        header_set(&canary[1]["filters"], "x-variant").as_deref(),
        Some("v1")
    );
    let plain = rules(&mesh(&[]));
    assert_eq!(plain.len(), 1);
    assert_eq!(
        plain[0]["backendRefs"],
        serde_json::json!([{"name": "orders", "port": 8080}])
    );
    let refused = render(
        "mesh-istio",
        &raw(&["name=orders".into(), "canary_weight=5".into()]),
    );
    assert!(
        refused.is_err_and(|e| e.to_string().contains("canary_weight")),
        "a weight without a canary is refused with its key"
    );
}
