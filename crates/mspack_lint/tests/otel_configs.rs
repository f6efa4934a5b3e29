//! How Collector configurations are found and where their findings point (MSP3xx): spans of an
//! embedded configuration map into the ConfigMap's file, exactly or at the data entry's key.

use std::sync::Arc;

use mspack_lint::{LintOptions, lint_sources};
use mspack_yaml::SourceFile;

/// `line:col CODE` of every MSP3xx finding.
fn findings(yaml: &str) -> Vec<String> {
    let options = LintOptions {
        select: vec!["MSP3".into()],
        ..LintOptions::default()
    };
    let report = lint_sources(vec![Arc::new(SourceFile::new("in.yaml", yaml))], &options)
        .unwrap_or_else(|e| panic!("{e}"));
    report
        .findings
        .iter()
        .filter(|f| f.rule.code.starts_with("MSP3"))
        .map(|f| {
            let pos = f.span.map(|s| format!("{}:{}", s.start.line, s.start.col));
            format!("{} {}", pos.unwrap_or_default(), f.rule.code)
        })
        .collect()
}

fn configmap(header: &str, body: &str) -> String {
    let mut text = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c, namespace: o}}\ndata:\n  config.yaml: {header}\n"
    );
    for line in body.lines() {
        text.push_str(&format!("    {line}\n"));
    }
    text
}

/// One undefined exporter (`nope`), on line 7 of the configuration, column 52.
const BROKEN: &str = "receivers:\n  otlp: {}\nexporters:\n  debug: {}\nservice:\n  pipelines:\n    traces: {receivers: [otlp], exporters: [debug, nope]}\n";

#[test]
fn literal_block_spans_map_exactly() {
    for header in ["|", "|-", "|+", "| # the Collector's"] {
        // Configuration line 7 is file line 5 + 7; column 4 + 52.
        assert_eq!(
            findings(&configmap(header, BROKEN)),
            ["12:56 MSP301"],
            "{header}"
        );
    }
}

#[test]
fn unmappable_styles_point_at_the_key() {
    for header in ["|2", ">", "!!str |"] {
        let text = configmap(header, BROKEN);
        assert_eq!(findings(&text), ["5:3 MSP301"], "{header}");
    }
    let quoted = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c, namespace: o}}\ndata:\n  config.yaml: {:?}\n",
        BROKEN
    );
    assert_eq!(findings(&quoted), ["5:3 MSP301"]);
}

#[test]
fn a_standalone_config_and_crlf_lines() {
    assert_eq!(findings(BROKEN), ["7:52 MSP301"]);
    let crlf = configmap("|", BROKEN).replace('\n', "\r\n");
    assert_eq!(findings(&crlf), ["12:56 MSP301"]);
}

#[test]
fn what_is_no_collector_config_is_never_read_as_one() {
    // No `service.pipelines`, `exporters` not a mapping, pipelines a list: nothing.
    let not = [
        "receivers: {otlp: {}}\nexporters: {debug: {}}\nservice: {}\n",
        "receivers: {otlp: {}}\nexporters: [debug]\nservice: {pipelines: {traces: {receivers: [x]}}}\n",
        "receivers: {otlp: {}}\nexporters: {debug: {}}\nservice: {pipelines: [traces]}\n",
    ];
    for text in not {
        assert!(findings(text).is_empty(), "{text}");
        assert!(findings(&configmap("|", text)).is_empty(), "{text}");
    }
    // An embedded configuration that does not parse reports nothing (and does not panic).
    let unparsable =
        "receivers: {otlp: {}\nexporters: {debug: {}}\nservice:\n  pipelines:\n   - : [\n";
    assert!(findings(&configmap("|", unparsable)).is_empty());
    // A Secret's data is base64, never read; a ConfigMap of another group neither.
    let other = configmap("|", BROKEN).replace("apiVersion: v1", "apiVersion: example.com/v1");
    assert!(findings(&other).is_empty());
}

#[test]
fn substitutions_do_not_confuse_the_reading() {
    let text = "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: ${env:MY_POD_IP}:4317\nexporters:\n  otlp:\n    endpoint: ${OTEL_BACKEND}\n    headers: {authorization: \"Bearer ${env:TOKEN}\"}\nservice:\n  pipelines:\n    traces: {receivers: [otlp], exporters: [otlp, \"${env:EXTRA}\"]}\n";
    assert!(findings(text).is_empty(), "{:?}", findings(text));
    assert!(findings(&configmap("|", text)).is_empty());
}

/// A Collector configuration with every component kind, connectors and substitutions.
const FULL: &str = "extensions:\n  health_check: {endpoint: \"${env:MY_POD_IP}:13133\"}\nreceivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: ${env:MY_POD_IP}:4317\nprocessors:\n  memory_limiter: {check_interval: 1s}\n  batch: {}\nexporters:\n  otlp:\n    endpoint: otlp.vendor.example.com:4317\n    tls: {insecure: true}\nconnectors:\n  spanmetrics: {}\nservice:\n  extensions: [health_check]\n  pipelines:\n    traces:\n      receivers: [otlp]\n      processors: [batch, memory_limiter]\n      exporters: [otlp, spanmetrics]\n    metrics:\n      receivers: [spanmetrics]\n      exporters: [otlp]\n";

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]

    /// Cutting the configuration anywhere and splicing YAML punctuation in never panics, standalone
    /// or embedded in any block style.
    #[test]
    fn mangled_configs_never_panic(
        cut in 0usize..FULL.len(),
        len in 0usize..40,
        insert in "[\\[\\]{}:|>\\-\n #$'\"é\t]{0,6}",
        header in proptest::sample::select(vec!["|", "|-", ">", "|2", "\"x\""]),
    ) {
        let start = (0..=cut).rev().find(|&i| FULL.is_char_boundary(i)).unwrap_or(0);
        let end = (start + len).min(FULL.len());
        let end = (end..=FULL.len()).find(|&i| FULL.is_char_boundary(i)).unwrap_or(FULL.len());
        let text = format!("{}{}{}", &FULL[..start], insert, &FULL[end..]);
        findings(&text);
        findings(&configmap(header, &text));
    }
}

#[test]
fn the_mangled_base_is_read_as_a_config() {
    assert_eq!(findings(FULL), ["14:21 MSP304", "22:27 MSP303"]);
    assert_eq!(
        findings(&configmap("|", FULL)),
        ["19:25 MSP304", "27:31 MSP303"]
    );
}
