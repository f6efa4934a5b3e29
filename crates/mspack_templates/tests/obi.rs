//! OBI at run time, rendered alone (`obi`) and inside `otel-config`: its configuration uses only
//! OBI's documented Config v2 keys, context propagation gets what it needs (NET_ADMIN, the host
//! network, a writable tracefs), the Collector admits OBI although OBI has no mesh identity, and
//! OBI never instruments the Collector, itself or the system namespaces.
//!
//! The key table below restates OBI's documented Config v2 structure (OBI's Config v2 reference
//! and migration guide on opentelemetry.io, and `devdocs/config/version-2.0/obi-extension.schema.json`
//! in open-telemetry/opentelemetry-ebpf-instrumentation, for OBI 0.14). The ignored test at the
//! end checks the same configurations against that schema file itself where one is at hand.

mod support;

use mspack_templates::{RawValues, render};
use serde_json::Value;

fn raw(values: &[&str]) -> RawValues {
    let mut raw = RawValues::new();
    for v in values {
        raw.set(v).unwrap_or_else(|e| panic!("{v}: {e}"));
    }
    raw
}

fn documents(template: &str, values: &[&str]) -> Vec<Value> {
    match render(template, &raw(values)) {
        Ok(r) => support::documents(&r.text),
        Err(e) => panic!("{template} {values:?}: {e}"),
    }
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

/// The YAML file `key` of ConfigMap `name`, parsed.
fn config_file(docs: &[Value], name: &str, key: &str) -> Value {
    let text = find(docs, "ConfigMap", name)["data"][key]
        .as_str()
        .unwrap_or_else(|| panic!("ConfigMap {name} has no {key}"));
    let mut parsed = support::documents(text);
    assert_eq!(parsed.len(), 1, "{name}/{key} is one YAML document");
    parsed.remove(0)
}

fn obi_config(docs: &[Value]) -> Value {
    config_file(docs, "obi-config", "obi-config.yaml")
}

/// Every rendering of OBI the tests look at: (label, template, values).
fn obi_cases() -> Vec<(&'static str, &'static str, Vec<&'static str>)> {
    vec![
        ("obi defaults", "obi", vec![]),
        (
            "obi headers, node-local endpoint",
            "obi",
            vec![
                "propagation=headers",
                "instrument_namespaces=food,shop",
                "otlp_endpoint=http://$(HOST_IP):4318",
            ],
        ),
        ("obi all", "obi", vec!["propagation=all", "sys_admin=true"]),
        ("otel-config defaults", "otel-config", vec![]),
        (
            "otel-config all",
            "otel-config",
            vec![
                "namespace=food",
                "obi_propagation=all",
                "obi_node_cidrs=10.0.0.0/16",
                "obi_namespaces=food,shop",
            ],
        ),
        (
            "otel-config headers",
            "otel-config",
            vec![
                "sender_namespaces=shop",
                "obi_propagation=headers",
                "obi_node_cidrs=10.1.0.0/16,fd00::/64",
            ],
        ),
    ]
}

// ---- the documented Config v2 structure ----------------------------------------------------

/// Keys an object at `path` may have (`[]` marks an array item); `None` for a path whose keys
/// are free (label maps) or that is not an object.
fn documented_keys(path: &str) -> Option<&'static [&'static str]> {
    const OTLP_EXPORTER: &[&str] = &[
        "endpoint",
        "encoding",
        "headers",
        "headers_list",
        "compression",
        "timeout",
        "tls",
    ];
    let keys: &[&str] = match path {
        "" => &[
            "file_format",
            "log_level",
            "resource",
            "tracer_provider",
            "meter_provider",
            "extensions",
        ],
        "tracer_provider" => &["processors", "sampler"],
        "tracer_provider.processors[]" => &["batch"],
        "tracer_provider.processors[].batch" => &[
            "exporter",
            "schedule_delay",
            "export_timeout",
            "max_queue_size",
            "max_export_batch_size",
        ],
        "tracer_provider.processors[].batch.exporter"
        | "meter_provider.readers[].periodic.exporter" => &["otlp_http", "otlp_grpc"],
        "tracer_provider.processors[].batch.exporter.otlp_http"
        | "tracer_provider.processors[].batch.exporter.otlp_grpc"
        | "meter_provider.readers[].periodic.exporter.otlp_http"
        | "meter_provider.readers[].periodic.exporter.otlp_grpc" => OTLP_EXPORTER,
        "meter_provider" => &["readers"],
        "meter_provider.readers[]" => &["periodic", "pull"],
        "meter_provider.readers[].periodic" => &["interval", "timeout", "exporter"],
        "extensions" => &["obi"],
        "extensions.obi" => &["version", "capture", "enrich", "correlation", "daemon"],
        "extensions.obi.capture" => &[
            "policy",
            "rules",
            "instrumentation",
            "runtimes",
            "network",
            "limits",
            "engine",
            "safety",
            "channels",
            "telemetry",
        ],
        "extensions.obi.capture.policy" => &[
            "default_action",
            "match_order",
            "poll_interval",
            "min_process_age",
        ],
        "extensions.obi.capture.rules[]" => &["action", "name", "description", "match", "refine"],
        "extensions.obi.capture.rules[].match" => &["process", "kubernetes"],
        "extensions.obi.capture.rules[].match.process" => &[
            "open_ports",
            "target_pids",
            "language_glob",
            "language_regex",
            "cmd_args_glob",
            "cmd_args_regex",
            "exe_path_glob",
            "exe_path_regex",
            "containers_only",
            "exports_otlp",
        ],
        "extensions.obi.capture.rules[].match.process.exports_otlp" => &["port", "protocol"],
        "extensions.obi.capture.rules[].match.kubernetes" => &[
            "namespace_glob",
            "namespace_regex",
            "metadata_glob",
            "metadata_regex",
            "pod_labels",
            "pod_labels_regex",
            "pod_annotations",
            "pod_annotations_regex",
        ],
        "extensions.obi.capture.engine" => &[
            "debug",
            "pid_filter",
            "batching",
            "propagation",
            "traffic",
            "transactions",
            "bpf_filesystem",
        ],
        "extensions.obi.capture.engine.propagation" => &[
            "context_propagation",
            "override_bpfloop_enabled",
            "disable_black_box_cp",
        ],
        "extensions.obi.capture.safety" => &["enforce_system_capabilities"],
        "extensions.obi.enrich" => &["enrichers", "service_name", "attributes"],
        "extensions.obi.enrich.enrichers" => &["kubernetes"],
        "extensions.obi.enrich.enrichers.kubernetes" => &["mode", "informers"],
        _ => return None,
    };
    Some(keys)
}

/// Paths whose object value is a free map of labels (or annotations) to patterns.
fn is_free_map(path: &str) -> bool {
    path.ends_with(".pod_labels")
        || path.ends_with(".pod_annotations")
        || path.ends_with(".metadata_glob")
        || path.ends_with(".headers")
}

fn check_shape(value: &Value, path: &str, errors: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if is_free_map(path) {
                for (k, v) in map {
                    if !v.is_string() {
                        errors.push(format!("{path}.{k}: a pattern must be a string, not {v}"));
                    }
                }
                return;
            }
            let Some(keys) = documented_keys(path) else {
                errors.push(format!("{path}: an object where OBI documents none"));
                return;
            };
            for (k, v) in map {
                let child = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                if keys.contains(&k.as_str()) {
                    check_shape(v, &child, errors);
                } else {
                    errors.push(format!(
                        "{child}: not a documented Config v2 key (documented here: {})",
                        keys.join(", ")
                    ));
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                check_shape(item, &format!("{path}[]"), errors);
            }
        }
        _ => {}
    }
}

fn one_of(value: &Value, allowed: &[&str]) -> bool {
    value.as_str().is_some_and(|s| allowed.contains(&s))
}

/// The documented keys, and the documented values of the ones mspack sets.
fn config_v2_errors(config: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    check_shape(config, "", &mut errors);
    let obi = &config["extensions"]["obi"];
    let capture = &obi["capture"];
    let mut expect = |ok: bool, what: &str| {
        if !ok {
            errors.push(what.to_owned());
        }
    };
    expect(
        config["file_format"] == "1.0",
        "file_format must be the string \"1.0\"",
    );
    expect(
        obi["version"] == "2.0",
        "extensions.obi.version must be \"2.0\"",
    );
    expect(
        one_of(
            &capture["policy"]["default_action"],
            &["include", "exclude"],
        ),
        "capture.policy.default_action is include or exclude",
    );
    if !capture["policy"]["match_order"].is_null() {
        expect(
            one_of(
                &capture["policy"]["match_order"],
                &["first_match_wins", "last_match_wins"],
            ),
            "capture.policy.match_order is first_match_wins or last_match_wins",
        );
    }
    // `http` was an alias that newer releases removed; `ip` does nothing.
    expect(
        one_of(
            &capture["engine"]["propagation"]["context_propagation"],
            &["disabled", "headers", "tcp", "all"],
        ),
        "capture.engine.propagation.context_propagation is disabled, headers, tcp or all",
    );
    expect(
        capture["safety"]["enforce_system_capabilities"].is_boolean(),
        "capture.safety.enforce_system_capabilities is a boolean",
    );
    expect(
        one_of(
            &obi["enrich"]["enrichers"]["kubernetes"]["mode"],
            &["autodetect", "enabled", "disabled"],
        ),
        "enrich.enrichers.kubernetes.mode is autodetect, enabled or disabled",
    );
    let rules = capture["rules"].as_array().cloned().unwrap_or_default();
    expect(!rules.is_empty(), "capture.rules lists at least one rule");
    for (i, rule) in rules.iter().enumerate() {
        expect(
            one_of(&rule["action"], &["include", "exclude"]),
            &format!("rules[{i}].action is include or exclude"),
        );
        expect(
            rule["match"].as_object().is_some_and(|m| !m.is_empty()),
            &format!("rules[{i}].match names at least one predicate"),
        );
        for scope in ["process", "kubernetes"] {
            let Some(predicates) = rule["match"][scope].as_object() else {
                continue;
            };
            for (key, v) in predicates {
                if key.ends_with("_glob") && !key.starts_with("metadata") {
                    let globs = v.as_array().cloned().unwrap_or_default();
                    expect(
                        !globs.is_empty() && globs.iter().all(Value::is_string),
                        &format!("rules[{i}].match.{scope}.{key} is a list of glob strings"),
                    );
                }
            }
        }
        let exports = &rule["match"]["process"]["exports_otlp"];
        if !exports.is_null() {
            expect(
                exports["port"]
                    .as_u64()
                    .is_some_and(|p| (1..=65535).contains(&p))
                    && exports["protocol"].is_string(),
                &format!("rules[{i}].match.process.exports_otlp has a port and a protocol"),
            );
        }
    }
    for (signal, exporter) in [
        (
            "traces",
            &config["tracer_provider"]["processors"][0]["batch"]["exporter"],
        ),
        (
            "metrics",
            &config["meter_provider"]["readers"][0]["periodic"]["exporter"],
        ),
    ] {
        let endpoint = exporter["otlp_http"]["endpoint"].as_str().unwrap_or("");
        expect(
            endpoint.starts_with("http") && endpoint.ends_with(&format!("/v1/{signal}")),
            &format!("the {signal} exporter is OTLP/HTTP to .../v1/{signal}"),
        );
    }
    errors
}

#[test]
fn obi_config_uses_only_documented_config_v2_keys() {
    for (label, template, values) in obi_cases() {
        let config = obi_config(&documents(template, &values));
        let errors = config_v2_errors(&config);
        assert!(errors.is_empty(), "{label}: {errors:#?}");
    }
}

#[test]
fn the_key_table_refuses_what_obi_does_not_document() {
    // What the obi template rendered before Config v2 was checked: keys OBI never had there.
    let config = serde_json::json!({
        "file_format": "1.0",
        "extensions": {"obi": {
            "version": "2.0",
            "capture": {"rules": [{"action": "include", "match": {"kubernetes": {"namespace": "*"}}}]},
            "routes": {"unmatched": "heuristic"},
            "context_propagation": "headers",
            "kubernetes": {"enable": true}
        }}
    });
    let errors = config_v2_errors(&config).join("\n");
    for key in [
        "extensions.obi.routes",
        "extensions.obi.context_propagation",
        "extensions.obi.kubernetes",
        "match.kubernetes.namespace:",
    ] {
        assert!(errors.contains(key), "{key} not reported:\n{errors}");
    }
}

// ---- context propagation --------------------------------------------------------------------

fn daemonset(docs: &[Value]) -> &Value {
    find(docs, "DaemonSet", "obi")
}

fn added_capabilities(ds: &Value) -> Vec<String> {
    ds["spec"]["template"]["spec"]["containers"][0]["securityContext"]["capabilities"]["add"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c.as_str().map(str::to_owned))
        .collect()
}

/// The container's mount of host path `path`, if any.
fn host_mount<'a>(ds: &'a Value, path: &str) -> Option<&'a Value> {
    let pod = &ds["spec"]["template"]["spec"];
    let volume = pod["volumes"]
        .as_array()?
        .iter()
        .find(|v| v["hostPath"]["path"] == path)?;
    pod["containers"][0]["volumeMounts"]
        .as_array()?
        .iter()
        .find(|m| m["name"] == volume["name"])
}

#[test]
fn context_propagation_gets_net_admin_the_host_network_and_a_writable_tracefs() {
    for (label, template, values) in obi_cases() {
        let docs = documents(template, &values);
        let config = obi_config(&docs);
        let mode =
            config["extensions"]["obi"]["capture"]["engine"]["propagation"]["context_propagation"]
                .as_str()
                .unwrap_or_else(|| panic!("{label}: no context_propagation"))
                .to_owned();
        let ds = daemonset(&docs);
        let pod = &ds["spec"]["template"]["spec"];
        let caps = added_capabilities(ds);
        let propagates = mode != "disabled";
        assert_eq!(
            caps.iter().any(|c| c == "NET_ADMIN"),
            propagates,
            "{label}: context_propagation={mode}, capabilities {caps:?}"
        );
        assert_eq!(
            pod["hostNetwork"] == true,
            propagates,
            "{label}: context_propagation={mode} and hostNetwork"
        );
        if propagates {
            assert_eq!(
                pod["dnsPolicy"], "ClusterFirstWithHostNet",
                "{label}: on the host network OBI still resolves Services"
            );
        }
        // Uprobes fall back to tracefs where perf events are denied (no SYS_ADMIN); OBI writes
        // uprobe_events there, so the mount must not be read-only.
        let tracefs = host_mount(ds, "/sys/kernel/tracing")
            .unwrap_or_else(|| panic!("{label}: /sys/kernel/tracing is not mounted"));
        assert_eq!(tracefs["mountPath"], "/sys/kernel/tracing", "{label}");
        assert_ne!(
            tracefs["readOnly"], true,
            "{label}: tracefs must be writable"
        );
        assert!(
            host_mount(ds, "/sys/fs/cgroup").is_some(),
            "{label}: the cgroup mount (new sockets) is missing"
        );
        // Config v2 maps no v1 environment variable: the capability check is in the file.
        assert_eq!(
            config["extensions"]["obi"]["capture"]["safety"]["enforce_system_capabilities"], true,
            "{label}"
        );
    }
}

// ---- the Collector admits OBI ---------------------------------------------------------------

fn port_numbers(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|p| match &p["port"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect()
}

#[test]
fn the_collector_admits_obi_without_a_mesh_identity() {
    let cases: [(&[&str], Option<&[&str]>); 3] = [
        (&[], None),
        (
            &[
                "obi_propagation=all",
                "obi_node_cidrs=10.0.0.0/16,fd00::/64",
                "obi_port=4400",
            ],
            Some(&["10.0.0.0/16", "fd00::/64"]),
        ),
        (&["sender_namespaces=shop,food"], None),
    ];
    for (values, node_cidrs) in cases {
        let docs = documents("otel-config", values);
        let obi_port = values
            .iter()
            .find_map(|v| v.strip_prefix("obi_port="))
            .unwrap_or("4319");
        let label = format!("otel-config {values:?}");

        // OBI sends to the Collector's OBI port...
        let config = obi_config(&docs);
        let endpoint = config["tracer_provider"]["processors"][0]["batch"]["exporter"]["otlp_http"]
            ["endpoint"]
            .as_str()
            .unwrap_or_default();
        assert_eq!(
            endpoint,
            format!("http://otel-collector.observability.svc.cluster.local:{obi_port}/v1/traces"),
            "{label}"
        );
        // ...which the Service, the container and a receiver in the trace and metric pipelines
        // open.
        let svc = find(&docs, "Service", "otel-collector");
        assert!(
            port_numbers(&svc["spec"]["ports"]).contains(&obi_port.to_owned()),
            "{label}: the Service has no port {obi_port}"
        );
        let deployment = find(&docs, "Deployment", "otel-collector");
        let container_ports: Vec<String> = deployment["spec"]["template"]["spec"]["containers"][0]
            ["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| p["containerPort"].to_string())
            .collect();
        assert!(container_ports.contains(&obi_port.to_owned()), "{label}");
        let collector = config_file(&docs, "otel-collector-config", "config.yaml");
        let receivers = collector["receivers"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let obi_receiver = receivers
            .iter()
            .find(|(_, r)| {
                r["protocols"]["http"]["endpoint"]
                    .as_str()
                    .is_some_and(|e| e.ends_with(&format!(":{obi_port}")))
            })
            .map(|(name, _)| name.clone())
            .unwrap_or_else(|| panic!("{label}: no receiver on {obi_port}"));
        for pipeline in ["traces", "metrics"] {
            let pipeline_receivers = &collector["service"]["pipelines"][pipeline]["receivers"];
            assert!(
                pipeline_receivers
                    .as_array()
                    .is_some_and(|r| r.iter().any(|n| n == obi_receiver.as_str())),
                "{label}: {obi_receiver} is not in the {pipeline} pipeline"
            );
        }

        // OBI runs without a sidecar: no principal can name it, and its plaintext must be
        // accepted on its port even under STRICT mutual TLS.
        let authz = find(&docs, "AuthorizationPolicy", "otel-collector-allow");
        let rules = authz["spec"]["rules"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for rule in &rules {
            let text = rule.to_string();
            assert!(
                !text.contains("/sa/obi"),
                "{label}: a principal OBI cannot present: {text}"
            );
        }
        assert!(
            rules.iter().any(|r| r["from"].is_null()
                && r["to"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|t| t["operation"]["ports"]
                        .as_array()
                        .is_some_and(|p| p.iter().any(|p| p == obi_port)))),
            "{label}: no identity-free ALLOW rule for port {obi_port}: {rules:#?}"
        );
        let pa = docs
            .iter()
            .find(|d| {
                d["kind"] == "PeerAuthentication"
                    && d["metadata"]["namespace"] == "observability"
                    && d["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"]
                        == "otel-collector"
            })
            .unwrap_or_else(|| panic!("{label}: no PeerAuthentication for the Collector"));
        assert_eq!(
            pa["spec"]["portLevelMtls"][obi_port]["mode"], "PERMISSIVE",
            "{label}: port {obi_port} must take plaintext"
        );
        assert!(
            pa["spec"]["mtls"]["mode"].is_null() || pa["spec"]["mtls"]["mode"] == "STRICT",
            "{label}: the other ports keep mutual TLS"
        );

        // The NetworkPolicy is what fences that port: OBI's pods, or the nodes when OBI is on
        // the host network.
        let np = find(&docs, "NetworkPolicy", "otel-collector");
        let ingress = np["spec"]["ingress"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let obi_rules: Vec<&Value> = ingress
            .iter()
            .filter(|r| port_numbers(&r["ports"]).contains(&obi_port.to_owned()))
            .collect();
        assert_eq!(obi_rules.len(), 1, "{label}: {ingress:#?}");
        let from = obi_rules[0]["from"].as_array().cloned().unwrap_or_default();
        assert_eq!(
            port_numbers(&obi_rules[0]["ports"]),
            vec![obi_port.to_owned()],
            "{label}: OBI's rule opens its port only"
        );
        match node_cidrs {
            None => {
                assert_eq!(from.len(), 1, "{label}: {from:#?}");
                assert_eq!(
                    from[0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
                    "obi-system",
                    "{label}"
                );
                assert_eq!(
                    from[0]["podSelector"]["matchLabels"]["app.kubernetes.io/name"], "obi",
                    "{label}"
                );
            }
            Some(cidrs) => {
                let blocks: Vec<&str> = from
                    .iter()
                    .filter_map(|f| f["ipBlock"]["cidr"].as_str())
                    .collect();
                assert_eq!(blocks, cidrs, "{label}");
                assert_eq!(blocks.len(), from.len(), "{label}: only the nodes");
            }
        }
    }
}

#[test]
fn propagation_without_node_addresses_is_refused() {
    let err = render(
        "otel-config",
        &raw(&["obi_propagation=headers", "obi_node_cidrs=[]"]),
    )
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(
        err.contains("obi_node_cidrs") && err.contains("host network"),
        "{err}"
    );
    assert!(
        render("otel-config", &raw(&["obi_node_cidrs=10.0.0.0/33"])).is_err(),
        "an invalid CIDR is refused"
    );
    // Without OBI the CIDRs do not matter.
    assert!(render("otel-config", &raw(&["obi=false", "obi_propagation=all"])).is_ok());
}

// ---- what OBI instruments -------------------------------------------------------------------

/// Shell-style glob as OBI documents it: `*` any run, `?` one character, `[...]` a class
/// (`[!...]` negated).
fn glob(pattern: &str, text: &str) -> bool {
    fn go(p: &[char], t: &[char]) -> bool {
        match p.first() {
            None => t.is_empty(),
            Some('*') => (0..=t.len()).any(|i| go(&p[1..], &t[i..])),
            Some('?') => !t.is_empty() && go(&p[1..], &t[1..]),
            Some('[') => {
                let Some(end) = p.iter().position(|c| *c == ']') else {
                    return t.first() == Some(&'[') && go(&p[1..], &t[1..]);
                };
                let (negated, class) = match p.get(1) {
                    Some('!') => (true, &p[2..end]),
                    _ => (false, &p[1..end]),
                };
                t.first()
                    .is_some_and(|c| class.contains(c) != negated && go(&p[end + 1..], &t[1..]))
            }
            Some(c) => t.first() == Some(c) && go(&p[1..], &t[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    go(&p, &t)
}

/// A process OBI may see: a pod's namespace and labels, its executable, and whether it exports
/// OTLP itself.
struct Workload<'a> {
    namespace: &'a str,
    labels: &'a [(&'a str, &'a str)],
    exe: &'a str,
}

fn rule_matches(rule: &Value, w: &Workload) -> bool {
    let Some(scopes) = rule["match"].as_object() else {
        panic!("a rule without match: {rule}");
    };
    scopes.iter().all(|(scope, predicates)| {
        let predicates = predicates.as_object().cloned().unwrap_or_default();
        predicates.iter().all(|(key, v)| {
            let globs = || {
                v.as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
            };
            match (scope.as_str(), key.as_str()) {
                ("kubernetes", "namespace_glob") => globs().iter().any(|g| glob(g, w.namespace)),
                ("kubernetes", "pod_labels") => v.as_object().is_some_and(|m| {
                    m.iter().all(|(k, pattern)| {
                        w.labels.iter().any(|(lk, lv)| {
                            lk == k && pattern.as_str().is_some_and(|p| glob(p, lv))
                        })
                    })
                }),
                ("process", "exe_path_glob") => globs().iter().any(|g| glob(g, w.exe)),
                // None of these workloads exports OTLP on its own.
                ("process", "exports_otlp") => false,
                _ => panic!("a predicate this test does not model: {scope}.{key}"),
            }
        })
    })
}

/// OBI's decision for `w` under `config` (ordered rules, first match wins, else the default).
fn instrumented(config: &Value, w: &Workload) -> bool {
    let capture = &config["extensions"]["obi"]["capture"];
    assert_eq!(
        capture["policy"]["match_order"], "first_match_wins",
        "the rules are written for first_match_wins"
    );
    let rules = capture["rules"].as_array().cloned().unwrap_or_default();
    match rules.iter().find(|r| rule_matches(r, w)) {
        Some(rule) => rule["action"] == "include",
        None => capture["policy"]["default_action"] == "include",
    }
}

#[test]
fn obi_never_instruments_the_collector_itself_or_system_namespaces() {
    let app = |namespace| Workload {
        namespace,
        labels: &[("app.kubernetes.io/name", "orders")],
        exe: "/app/orders",
    };
    let collector = |namespace| Workload {
        namespace,
        labels: &[("app.kubernetes.io/name", "otel-collector")],
        exe: "/collector",
    };
    let sdk = Workload {
        namespace: "shop",
        labels: &[("telemetry.mspack.io/sdk", "true")],
        exe: "/app/cart",
    };
    let obi = Workload {
        namespace: "obi-system",
        labels: &[("app.kubernetes.io/name", "obi")],
        exe: "/ebpf-instrument",
    };
    let system = [
        "kube-system",
        "kube-public",
        "kube-node-lease",
        "istio-system",
        "gke-managed-system",
    ];

    // Every namespace by default (otel-config's `obi_namespaces=[]`, standalone with its
    // default endpoint): all but the Collector's, OBI's and the system ones.
    for (label, template, values) in [
        ("otel-config defaults", "otel-config", vec![]),
        ("obi defaults", "obi", vec!["instrument_namespaces=[]"]),
    ] {
        let config = obi_config(&documents(template, &values));
        assert!(instrumented(&config, &app("shop")), "{label}: shop");
        assert!(
            !instrumented(&config, &app("observability")),
            "{label}: the Collector's namespace"
        );
        assert!(
            !instrumented(&config, &collector("observability")),
            "{label}: the Collector"
        );
        assert!(!instrumented(&config, &obi), "{label}: OBI itself");
        assert!(
            !instrumented(&config, &app("obi-system")),
            "{label}: OBI's namespace"
        );
        assert!(
            !instrumented(&config, &sdk),
            "{label}: a service with its own SDK"
        );
        for ns in system {
            assert!(!instrumented(&config, &app(ns)), "{label}: {ns}");
        }
        assert!(
            !instrumented(
                &config,
                &Workload {
                    namespace: "shop",
                    labels: &[],
                    exe: "/usr/local/bin/otelcol-contrib"
                }
            ),
            "{label}: a Collector binary anywhere"
        );
    }

    // Named namespaces, one of them the Collector's: its services are instrumented, the
    // Collector's pods still are not.
    let config = obi_config(&documents(
        "otel-config",
        &["namespace=food", "obi_namespaces=food,shop"],
    ));
    assert!(instrumented(&config, &app("food")));
    assert!(instrumented(&config, &app("shop")));
    assert!(!instrumented(&config, &app("billing")), "not named");
    assert!(!instrumented(&config, &collector("food")), "the Collector");

    // A node-local endpoint names no Collector namespace; the rest holds.
    let config = obi_config(&documents(
        "obi",
        &[
            "instrument_namespaces=[]",
            "otlp_endpoint=http://$(HOST_IP):4318",
        ],
    ));
    assert!(instrumented(&config, &app("observability")));
    assert!(!instrumented(&config, &app("kube-system")));
}

#[test]
fn the_glob_model_follows_obis_syntax() {
    assert!(glob("*", "anything"));
    assert!(glob("gke-*", "gke-system"));
    assert!(!glob("gke-*", "gk-system"));
    assert!(glob("?bi", "obi"));
    assert!(glob("*otelcol-contrib[!/]*", "/bin/otelcol-contrib2"));
    assert!(!glob("*otelcol-contrib[!/]*", "/bin/otelcol-contrib/x"));
}

// ---- OBI's own schema -------------------------------------------------------------------------

/// The OBI extension schema OBI publishes (`devdocs/config/version-2.0/obi-extension.schema.json`
/// in open-telemetry/opentelemetry-ebpf-instrumentation, JSON Schema 2020-12), validated with
/// the `jsonschema` package of the manifest-tools venv. No registry this project reaches carries
/// the file, so it is not fetched: point MSPACK_OBI_SCHEMA at a copy of the OBI release you
/// deploy (never commit it).
#[test]
#[ignore = "needs MSPACK_OBI_SCHEMA=<obi-extension.schema.json> and scripts/manifest-tools.sh"]
fn obi_extension_matches_obis_published_schema() {
    let schema = std::env::var_os("MSPACK_OBI_SCHEMA")
        .map(std::path::PathBuf::from)
        .filter(|p| p.is_file())
        .unwrap_or_else(|| panic!("MSPACK_OBI_SCHEMA does not name OBI's schema file"));
    let venv = std::env::var_os("MSPACK_TOOLS_VENV")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| support::project_root().join("target/manifest-tools"));
    let python = venv.join("bin/python");
    assert!(
        python.is_file(),
        "{} missing: run scripts/manifest-tools.sh",
        python.display()
    );
    let dir = tempfile::Builder::new()
        .prefix("obi-schema-")
        .tempdir()
        .expect("a temp dir");
    let mut files = Vec::new();
    for (i, (label, template, values)) in obi_cases().into_iter().enumerate() {
        let config = obi_config(&documents(template, &values));
        let file = dir.path().join(format!("{i}.json"));
        std::fs::write(&file, config.to_string()).expect("write a rendered config");
        files.push((label, file));
    }
    const CHECK: &str = "
import json, sys
from jsonschema import Draft202012Validator
validator = Draft202012Validator(json.load(open(sys.argv[1])))
failed = 0
for path in sys.argv[2:]:
    doc = json.load(open(path))['extensions']['obi']
    for e in validator.iter_errors(doc):
        failed += 1
        print(path, '/'.join(str(p) for p in e.absolute_path), e.message)
sys.exit(1 if failed else 0)
";
    let output = std::process::Command::new(&python)
        .arg("-c")
        .arg(CHECK)
        .arg(&schema)
        .args(files.iter().map(|(_, f)| f))
        .output()
        .expect("run python");
    let report = String::from_utf8_lossy(&output.stdout)
        .replace(&format!("{}/", dir.path().display()), "case ");
    let labels: Vec<String> = files
        .iter()
        .enumerate()
        .map(|(i, (label, _))| format!("case {i}.json = {label}"))
        .collect();
    assert!(
        output.status.success(),
        "{report}{}\n{}",
        String::from_utf8_lossy(&output.stderr),
        labels.join("\n")
    );
    println!(
        "{} OBI configurations valid against {}",
        files.len(),
        schema.display()
    );
}

/// MSP405 of the Collector's render with OBI given its exporter endpoint as an env variable
/// (MSP405 reads env variables; OBI reads it from its configuration file), after `edit`.
fn msp405_with_obi_as_sender(values: &[&str], edit: impl Fn(String) -> String) -> Vec<String> {
    let rendered = render("otel-config", &raw(values)).unwrap_or_else(|e| panic!("{e}"));
    // The endpoint OBI's configuration names (see the_collector_admits_obi_without_a_mesh_identity).
    let port = values
        .iter()
        .find_map(|v| v.strip_prefix("obi_port="))
        .unwrap_or("4319");
    let endpoint = format!("http://otel-collector.observability.svc.cluster.local:{port}");
    assert!(rendered.text.contains(&endpoint), "OBI's endpoint moved");
    let anchor = "        env:\n        # For a node-local endpoint";
    assert!(rendered.text.contains(anchor), "OBI's env moved");
    let text = rendered.text.replace(
        anchor,
        &format!(
            "        env:\n        - name: OTEL_EXPORTER_OTLP_ENDPOINT\n          value: {endpoint}\n        # For a node-local endpoint"
        ),
    );
    let text = edit(text);
    let options = mspack_templates::lint_options(&rendered.values);
    let report = mspack_templates::lint_text("otel-config.yaml", &text, Vec::new(), &options)
        .unwrap_or_else(|e| panic!("{e}"));
    report
        .findings
        .iter()
        .filter(|f| f.rule.code == "MSP405")
        .map(|f| f.message.clone())
        .collect()
}

/// OBI has no sidecar (its namespace turns injection off, its pods too, and with context
/// propagation it is on the host network): MSP405 admits it only through the plaintext port
/// the Collector opens for it, and reports it when that port is STRICT or admits principals
/// only.
#[test]
fn msp405_admits_obi_through_its_plaintext_port_only() {
    for values in [
        &["obi=true"][..],
        &["obi=true", "obi_propagation=disabled"],
        &[
            "obi=true",
            "obi_propagation=all",
            "obi_node_cidrs=10.0.0.0/16",
            "obi_port=4400",
        ],
    ] {
        let port = values
            .iter()
            .find_map(|v| v.strip_prefix("obi_port="))
            .unwrap_or("4319");
        let clean = msp405_with_obi_as_sender(values, |t| t);
        assert!(clean.is_empty(), "{values:?}: {clean:#?}");

        let strict = msp405_with_obi_as_sender(values, |t| {
            assert!(t.contains("mode: PERMISSIVE"));
            t.replace("mode: PERMISSIVE", "mode: STRICT")
        });
        assert!(
            strict.len() == 1 && strict[0].contains("plaintext") && strict[0].contains("STRICT"),
            "{values:?}: {strict:#?}"
        );

        // OBI's service account as a principal: right by name, but OBI presents no certificate.
        let identity_free =
            format!("  - to:\n    - operation:\n        ports:\n        - \"{port}\"\n");
        let by_principal = format!(
            "  - from:\n    - source:\n        principals:\n        - cluster.local/ns/obi-system/sa/obi\n    to:\n    - operation:\n        ports:\n        - \"{port}\"\n"
        );
        let principal_only = msp405_with_obi_as_sender(values, |t| {
            assert!(
                t.contains(&identity_free),
                "{values:?}: the identity-free rule moved"
            );
            t.replace(&identity_free, &by_principal)
        });
        assert!(
            principal_only.len() == 1 && principal_only[0].contains("no mesh identity"),
            "{values:?}: {principal_only:#?}"
        );
    }
}
