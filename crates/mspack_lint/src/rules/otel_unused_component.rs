use std::collections::HashSet;

use mspack_yaml::Node;

use crate::declare_rule;
use crate::finding::Findings;
use crate::otel::{CollectorConfig, collector_configs};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// Every OpenTelemetry Collector configuration in the input (standalone, in a ConfigMap's
    /// `data`, or an `OpenTelemetryCollector`'s `spec.config`, as MSP301 finds them). It reports
    /// a receiver, processor, exporter or connector that no pipeline of `service.pipelines`
    /// lists, and an extension that `service.extensions` does not list.
    ///
    /// ## Why it matters
    /// The Collector builds only what the service section uses: a component defined and not
    /// listed is silently not started. A receiver nobody listens on, an exporter that never
    /// sends: the configuration reads as if it did. An unlisted `health_check` extension is the
    /// common case: its endpoint is never served, so the pod's HTTP probes against it fail and
    /// the Collector is restarted or never becomes ready.
    ///
    /// ## Example
    /// ```yaml
    /// extensions:
    ///   health_check:
    ///     endpoint: ${env:MY_POD_IP}:13133
    /// receivers:
    ///   otlp:
    ///     protocols:
    ///       grpc:
    ///         endpoint: ${env:MY_POD_IP}:4317
    /// exporters:
    ///   otlp:
    ///     endpoint: tempo.observability.svc:4317
    /// service:
    ///   pipelines:
    ///     traces:
    ///       receivers: [otlp]
    ///       exporters: [otlp]
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// extensions:
    ///   health_check:
    ///     endpoint: ${env:MY_POD_IP}:13133
    /// receivers:
    ///   otlp:
    ///     protocols:
    ///       grpc:
    ///         endpoint: ${env:MY_POD_IP}:4317
    /// exporters:
    ///   otlp:
    ///     endpoint: tempo.observability.svc:4317
    /// service:
    ///   extensions: [health_check]
    ///   pipelines:
    ///     traces:
    ///       receivers: [otlp]
    ///       exporters: [otlp]
    /// ```
    pub static OTEL_UNUSED_COMPONENT = Rule {
        code: "MSP302",
        name: "otel-unused-component",
        severity: Warning,
        summary: "a Collector component is defined but used by no pipeline (an extension: not enabled in `service.extensions`)",
        mirrors: None,
        check: check,
    };
}

const SECTIONS: [(&str, &str); 4] = [
    ("receivers", "receiver"),
    ("processors", "processor"),
    ("exporters", "exporter"),
    ("connectors", "connector"),
];

fn check(ws: &Workspace, out: &mut Findings) {
    for config in collector_configs(ws).iter() {
        check_config(ws, config, out);
    }
}

fn check_config(ws: &Workspace, config: &CollectorConfig, out: &mut Findings) {
    let mut used: HashSet<&str> = HashSet::new();
    for (_, pipeline) in config.pipelines() {
        for role in ["receivers", "processors", "exporters"] {
            used.extend(CollectorConfig::listed(pipeline, role).map(|(id, _)| id));
        }
    }
    for (section, singular) in SECTIONS {
        for (id, key) in config.defined(section) {
            if used.contains(id) {
                continue;
            }
            config
                .report(
                    ws,
                    out,
                    key.span,
                    format!(
                        "{singular} `{id}` is defined but no pipeline lists it; the Collector \
                         does not start it"
                    ),
                )
                .help(format!(
                    "list `{id}` under `{section}` of the pipelines that should use it, or remove it"
                ));
        }
    }
    let enabled: HashSet<&str> = config
        .root
        .path(&["service", "extensions"])
        .into_iter()
        .flat_map(Node::items)
        .filter_map(Node::as_str)
        .collect();
    for (id, key) in config.defined("extensions") {
        if enabled.contains(id) {
            continue;
        }
        let consequence = if id == "health_check" || id.starts_with("health_check/") {
            "the Collector does not start it, so its health endpoint is never served and \
             probes against it fail"
        } else {
            "the Collector does not start it"
        };
        config
            .report(
                ws,
                out,
                key.span,
                format!(
                    "extension `{id}` is defined but not listed in `service.extensions`; \
                     {consequence}"
                ),
            )
            .help(format!("add `{id}` to `service.extensions`, or remove it"));
    }
}
