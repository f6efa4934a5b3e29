//! How Collector configurations are found and where their findings point (MSP3xx): spans of an
//! embedded configuration map into the ConfigMap's file, exactly or at the data entry's key.

use std::sync::Arc;

use mspack_lint::{LintOptions, lint_sources};
use mspack_yaml::SourceFile;

/// `line:col CODE` of every MSP3xx finding but batching (MSP306) and environment references
/// (MSP308), which the configurations below leave on purpose; every rule runs.
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
        .filter(|f| f.rule.code.starts_with("MSP3") && !["MSP306", "MSP308"].contains(&f.rule.code))
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

/// `line:col CODE` and the help of every MSP3xx finding (all of them selected).
fn findings_with_help(yaml: &str) -> Vec<(String, String)> {
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
            (
                format!("{} {}", pos.unwrap_or_default(), f.rule.code),
                f.help.clone().unwrap_or_default(),
            )
        })
        .collect()
}

/// A configuration using `jaeger` in a metrics pipeline (MSP305, line 8 col 27), an OTLP
/// exporter without batching (MSP306, line 8 col 48), an env reference without default inside a
/// string (MSP308, line 5 col 28) and the removed `logging` exporter (MSP309, line 4 col 3).
const SEVERAL: &str = "receivers:\n  jaeger: {protocols: {grpc: {}}}\nexporters:\n  logging: {}\n  otlp: {endpoint: \"http://${env:BACKEND}\"}\nservice:\n  pipelines:\n    metrics: {receivers: [jaeger], exporters: [otlp, logging]}\n";

#[test]
fn new_rules_point_into_the_embedding_file() {
    let sorted = |text: &str| -> Vec<String> {
        let mut found: Vec<String> = findings_with_help(text)
            .into_iter()
            .map(|(f, _)| f)
            .collect();
        found.sort();
        found
    };
    // Standalone: nothing runs it, so its environment is not judged.
    assert_eq!(
        sorted(SEVERAL),
        ["4:3 MSP309", "8:27 MSP305", "8:48 MSP306"]
    );
    let run = deployment("otel/opentelemetry-collector-contrib:0.140.1", &[]);
    // In a ConfigMap's literal block: 5 lines down, 4 columns right.
    assert_eq!(
        sorted(&(configmap("|", SEVERAL) + &run)),
        ["10:32 MSP308", "13:31 MSP305", "13:52 MSP306", "9:7 MSP309"]
    );
    // A quoted configuration: everything at the data key, but the env reference is still found
    // in the file's line.
    let quoted = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c, namespace: o}}\ndata:\n  config.yaml: {:?}\n",
        SEVERAL
    ) + &run;
    let codes = sorted(&quoted);
    assert_eq!(codes.len(), 4, "{codes:?}");
    assert!(codes.iter().all(|f| f.starts_with("5:")), "{codes:?}");
    assert!(
        codes
            .iter()
            .any(|f| f.ends_with("MSP308") && f != "5:3 MSP308"),
        "{codes:?}"
    );
}

fn deployment(image: &str, env: &[&str]) -> String {
    let mut env_yaml = String::new();
    for name in env {
        env_yaml.push_str(&format!("        - {{name: {name}, value: x}}\n"));
    }
    format!(
        "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: otel, namespace: o}}\nspec:\n  selector: {{matchLabels: {{app: otel}}}}\n  template:\n    metadata: {{labels: {{app: otel}}}}\n    spec:\n      containers:\n      - name: otelcol\n        image: {image}\n        env:\n{env_yaml}      volumes:\n      - name: conf\n        configMap: {{name: c}}\n"
    )
}

#[test]
fn the_collector_version_of_the_mounting_workload_decides() {
    let help_of = |image: &str, code: &str| -> Vec<String> {
        let text = configmap("|", SEVERAL) + &deployment(image, &["BACKEND"]);
        findings_with_help(&text)
            .into_iter()
            .filter(|(f, _)| f.ends_with(code))
            .map(|(_, h)| h)
            .collect()
    };
    // Exporter-side batching from v0.138.0, the batch processor before, both when unknown.
    let new = help_of("otel/opentelemetry-collector-contrib:0.140.1", "MSP306");
    assert!(
        new[0].starts_with("add `sending_queue: {batch: {}}`"),
        "{new:?}"
    );
    let old = help_of("otel/opentelemetry-collector-contrib:0.120.0", "MSP306");
    assert!(old[0].starts_with("list the `batch` processor"), "{old:?}");
    let unknown = help_of("otel/opentelemetry-collector-contrib:latest", "MSP306");
    assert!(unknown[0].starts_with("from v0.138.0 on"), "{unknown:?}");
    // `logging` was removed in v0.111.0: reported on a v0.120.0 Collector.
    let removed =
        configmap("|", SEVERAL) + &deployment("otel/opentelemetry-collector:0.120.0", &[]);
    let findings = findings_with_help(&removed);
    assert!(
        findings.iter().any(|(f, _)| f == "9:7 MSP309"),
        "{findings:?}"
    );
    // The env variable the Deployment sets is not reported; an unset one is.
    let set =
        configmap("|", SEVERAL) + &deployment("otel/opentelemetry-collector:0.120.0", &["BACKEND"]);
    assert!(
        !findings_with_help(&set)
            .iter()
            .any(|(f, _)| f.ends_with("MSP308"))
    );
    assert!(
        findings.iter().any(|(f, _)| f == "10:32 MSP308"),
        "{findings:?}"
    );
}

#[test]
fn the_otlp_alias_is_reported_only_on_a_collector_that_deprecates_it() {
    let text = |image: &str| configmap("|", BROKEN) + &deployment(image, &[]);
    let retired = |image: &str| -> Vec<String> {
        findings_with_help(&text(image))
            .into_iter()
            .map(|(f, _)| f)
            .filter(|f| f.ends_with("MSP309"))
            .collect()
    };
    assert!(retired("otel/opentelemetry-collector-contrib:0.143.0").is_empty());
    assert!(
        findings_with_help(BROKEN)
            .iter()
            .all(|(f, _)| !f.ends_with("MSP309"))
    );
    let broken_otlp = BROKEN.replace("debug", "otlp");
    let text = configmap("|", &broken_otlp)
        + &deployment("otel/opentelemetry-collector-contrib:v0.144.0", &[]);
    let found: Vec<String> = findings_with_help(&text)
        .into_iter()
        .map(|(f, _)| f)
        .filter(|f| f.ends_with("MSP309"))
        .collect();
    assert_eq!(found, ["9:7 MSP309"]);
}

#[test]
fn obi_findings_point_into_the_configmap() {
    let obi = "file_format: '1.0'\nextensions:\n  obi:\n    version: '2.0'\n    capture:\n      safty: {}\n";
    assert_eq!(findings(obi), ["6:7 MSP310"]);
    let text = configmap("|", obi);
    assert_eq!(findings(&text), ["11:11 MSP310"]);
}

/// A Collector ConfigMap with its Deployment, and an OBI ConfigMap with its DaemonSet: every
/// MSP3xx rule has something to read.
fn everything() -> String {
    let obi = "file_format: '1.0'\nextensions:\n  obi:\n    version: '2.0'\n    capture:\n      policy: {default_action: exclude}\n      rules:\n      - action: include\n        match: {kubernetes: {namespace_glob: ['*']}}\n      engine:\n        propagation: {context_propagation: all}\n      network:\n        capture: {enabled: true, source: tc}\n";
    let daemonset = "---\napiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: obi, namespace: o}\nspec:\n  template:\n    spec:\n      hostNetwork: true\n      containers:\n      - name: obi\n        securityContext: {capabilities: {drop: [ALL], add: [BPF]}}\n        volumeMounts: [{name: conf, mountPath: /c}]\n      volumes:\n      - name: conf\n        projected: {sources: [{configMap: {name: obi}}]}\n";
    configmap("|", FULL)
        + &deployment(
            "otel/opentelemetry-collector-contrib:0.140.1",
            &["MY_POD_IP"],
        )
        + "---\n"
        + &configmap("|", obi).replace("name: c,", "name: obi,")
        + daemonset
}

#[test]
fn everything_is_read() {
    let found: Vec<String> = findings_with_help(&everything())
        .into_iter()
        .map(|(f, _)| f)
        .collect();
    assert!(found.iter().any(|f| f.ends_with("MSP311")), "{found:?}");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]

    /// Mangling a file with Collector and OBI configurations and their workloads never panics.
    #[test]
    fn mangled_workloads_and_obi_never_panic(
        cut in 0usize..2000,
        len in 0usize..40,
        insert in "[\\[\\]{}:|>\\-\n #$'\"é\t]{0,6}",
    ) {
        let base = everything();
        let cut = cut.min(base.len());
        let start = (0..=cut).rev().find(|&i| base.is_char_boundary(i)).unwrap_or(0);
        let end = (start + len).min(base.len());
        let end = (end..=base.len()).find(|&i| base.is_char_boundary(i)).unwrap_or(base.len());
        let text = format!("{}{}{}", &base[..start], insert, &base[end..]);
        findings_with_help(&text);
    }
}
