//! `mspack graph` end to end: every drawing format, `--check` in lint's output formats and exit
//! codes, on the food-delivery example and Online Boutique (read from the shared corpus).

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;

fn mspack() -> Command {
    let mut cmd = Command::cargo_bin("mspack").unwrap_or_else(|e| panic!("binary: {e}"));
    cmd.arg("graph").arg("--no-config");
    cmd
}

fn food_delivery() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/food-delivery/deploy")
}

fn boutique() -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(
        "../../../shared/corpus/realworld/microservices-demo/release/kubernetes-manifests.yaml",
    );
    path.is_file().then_some(path)
}

#[test]
fn food_delivery_draws_its_contexts_and_checks_clean() {
    let out = mspack()
        .arg(food_delivery())
        .arg("--format=json")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(out.status.success());
    let graph: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}"));
    let edge = |from: &str, to: &str, kind: &str| {
        graph["edges"].as_array().is_some_and(|edges| {
            edges
                .iter()
                .any(|e| e["from"] == from && e["to"] == to && e["kind"] == kind)
        })
    };
    assert!(edge("orders/orders", "payments/payments", "async"));
    assert!(edge("orders/orders", "kitchen/kitchen", "async"));
    assert!(edge(
        "payments/payments",
        "payments/payment-provider",
        "sync"
    ));
    assert!(edge(
        "orders/orders",
        "db:orders/Secret/orders-db/url",
        "data"
    ));
    mspack()
        .arg(food_delivery())
        .arg("--check")
        .assert()
        .code(0)
        .stdout(predicate::str::contains("no findings"));
    for format in ["mermaid", "dot", "html"] {
        mspack()
            .arg(food_delivery())
            .arg(format!("--format={format}"))
            .assert()
            .code(0)
            .stdout(predicate::str::contains("payment-provider"));
    }
}

#[test]
fn online_boutique_check_reports_fan_out_in_every_lint_format() {
    let Some(file) = boutique() else {
        eprintln!("corpus not present; skipped");
        return;
    };
    let out = mspack()
        .arg(&file)
        .args(["--check", "--output-format=json"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}"));
    let mut codes: Vec<String> = report["findings"]
        .as_array()
        .map(|f| {
            f.iter()
                .filter_map(|f| f["code"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    codes.sort();
    // frontend calls 7 services, checkoutservice 6; the deepest chain is
    // loadgenerator -> frontend -> checkoutservice -> ..., three hops: no MSP501.
    assert_eq!(codes, ["MSP503", "MSP503"]);
    for (format, marker) in [
        ("sarif", "\"runs\""),
        ("github", "::warning"),
        ("text", "MSP503"),
    ] {
        mspack()
            .arg(&file)
            .args([
                "--check",
                "--color=never",
                &format!("--output-format={format}"),
            ])
            .assert()
            .code(1)
            .stdout(predicate::str::contains(marker));
    }
    mspack()
        .arg(&file)
        .args(["--format=mermaid", "--focus=checkoutservice", "--collapse"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("default"));
}

#[test]
fn unreadable_input_and_unknown_focus_exit_two() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "a: [unclosed\n").unwrap_or_else(|e| panic!("{e}"));
    mspack().arg(&bad).arg("--check").assert().code(2);
    mspack().arg(&bad).assert().code(2);
    mspack()
        .arg(dir.path().join("missing.yaml"))
        .assert()
        .code(2);
    mspack()
        .arg(food_delivery())
        .arg("--focus=nothing-here")
        .assert()
        .code(2);
}

#[test]
fn traces_add_observed_calls() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let resource = |svc: &str, spans: &str| {
        format!(
            r#"{{"resourceSpans":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"{svc}"}}}}]}},"scopeSpans":[{{"spans":[{spans}]}}]}}]}}"#
        )
    };
    let span = |id: &str, parent: &str, ms: u64| {
        format!(
            r#"{{"traceId":"t1","spanId":"{id}","parentSpanId":"{parent}","startTimeUnixNano":"1000","endTimeUnixNano":"{}"}}"#,
            1000 + ms * 1_000_000
        )
    };
    let traces = dir.path().join("traces.jsonl");
    let text = [
        resource(
            "payments",
            &format!("{},{}", span("a", "", 90), span("b", "a", 80)),
        ),
        resource("payment-provider", &span("c", "b", 70)),
        resource("kitchen", &span("d", "b", 5)),
    ]
    .join("\n");
    std::fs::write(&traces, text).unwrap_or_else(|e| panic!("{e}"));
    let out = mspack()
        .arg(food_delivery())
        .arg("--format=json")
        .arg("--traces")
        .arg(&traces)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let graph: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}"));
    let observed: Vec<(String, String, String)> = graph["edges"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["kind"] == "observed")
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or("").to_string();
            (s("from"), s("to"), s("label"))
        })
        .collect();
    assert_eq!(
        observed,
        [
            (
                "payments/payments".to_string(),
                "kitchen/kitchen".to_string(),
                "1 call, p50 5.0 ms, p99 5.0 ms (undeclared)".to_string()
            ),
            (
                "payments/payments".to_string(),
                "payments/payment-provider".to_string(),
                "1 call, p50 70.0 ms, p99 70.0 ms".to_string()
            ),
        ]
    );
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"resourceLogs\": []}").unwrap_or_else(|e| panic!("{e}"));
    mspack()
        .arg(food_delivery())
        .arg("--traces")
        .arg(&bad)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("resourceSpans"));
}

#[test]
fn check_with_traces_reports_undeclared_and_unobserved_calls() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../mspack_lint/tests/fixtures");
    // MSP509 is information: reported, but the exit code stays 0 (as lint's --fail-on default).
    for (code, count, exit) in [("MSP508", 2, 1), ("MSP509", 2, 0)] {
        let dir = fixtures.join(code);
        let out = mspack()
            .arg(dir.join("bad.yaml"))
            .arg("--check")
            .arg("--output-format=json")
            .arg("--traces")
            .arg(dir.join("traces.json"))
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            out.status.code(),
            Some(exit),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let needle = format!("\"code\": \"{code}\"");
        assert_eq!(text.matches(&needle).count(), count, "{text}");
        // Every call of the traces is declared, and every declared call seen.
        mspack()
            .arg(dir.join("good.yaml"))
            .arg("--check")
            .arg("--traces")
            .arg(dir.join("traces.json"))
            .assert()
            .code(0);
    }
    // Without traces, neither rule has anything to compare.
    mspack()
        .arg(fixtures.join("MSP508/bad.yaml"))
        .arg("--check")
        .assert()
        .code(0);
}

#[test]
fn malformed_traces_are_an_error_with_the_line() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let bad = dir.path().join("traces.jsonl");
    std::fs::write(&bad, "{\"resourceSpans\": []}\n{\"resourceSpans\": [\n")
        .unwrap_or_else(|e| panic!("{e}"));
    for check in [true, false] {
        let mut cmd = mspack();
        cmd.arg(food_delivery()).arg("--traces").arg(&bad);
        if check {
            cmd.arg("--check");
        }
        cmd.assert()
            .code(2)
            .stdout(predicate::str::is_empty())
            .stderr(predicate::str::contains("traces.jsonl: line 2"));
    }
}

#[test]
fn traces_find_workloads_by_their_otel_service_name() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../mspack_lint/tests/fixtures/MSP508");
    let out = mspack()
        .arg(dir.join("bad.yaml"))
        .arg("--format=json")
        .arg("--traces")
        .arg(dir.join("traces.json"))
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(out.status.success());
    let graph: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}"));
    let observed: Vec<(&str, &str)> = graph["edges"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["kind"] == "observed")
        .map(|e| {
            (
                e["from"].as_str().unwrap_or(""),
                e["to"].as_str().unwrap_or(""),
            )
        })
        .collect();
    // checkout's spans say `checkout-api` (its OTEL_SERVICE_NAME); loadgen is in no manifest.
    assert!(
        observed.contains(&("shop/checkout", "shop/audit")),
        "{observed:?}"
    );
    assert!(
        observed.contains(&("service:loadgen", "shop/orders")),
        "{observed:?}"
    );
    assert!(
        !observed
            .iter()
            .any(|(from, _)| from.contains("checkout-api"))
    );
}
