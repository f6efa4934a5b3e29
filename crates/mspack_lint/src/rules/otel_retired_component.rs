use crate::declare_rule;
use crate::finding::Findings;
use crate::otel::collector_configs;
use crate::otel::components::{retirement, type_of};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// Every OpenTelemetry Collector configuration in the input (standalone, in a ConfigMap's
    /// `data`, or an `OpenTelemetryCollector`'s `spec.config`, as MSP301 finds them). It reports
    /// a component whose type upstream removed or deprecated, at its definition:
    /// - the `logging` exporter (deprecated in v0.86.0, removed in v0.111.0: use `debug`);
    /// - the `memory_ballast` extension (deprecated in v0.92.0, removed in v0.109.0: set
    ///   `GOMEMLIMIT`);
    /// - the `jaeger` and `jaeger_thrift` exporters (removed in v0.85.0: Jaeger takes OTLP);
    /// - the `spanmetrics` processor (removed in v0.96.0: use the `spanmetrics` connector);
    /// - the `loki` exporter (deprecated in v0.105.0, removed in v0.131.0: Loki 3 takes OTLP);
    /// - the `opencensus` receiver and exporter (deprecated in v0.120.0, removed in v0.134.0);
    /// - the `otlp` and `otlphttp` exporter names, deprecated aliases of `otlp_grpc` and
    ///   `otlp_http` since v0.144.0: reported only when the Collector's version is known (the
    ///   image tag of the workload mounting the ConfigMap, or the `OpenTelemetryCollector`'s
    ///   `spec.image`) and is v0.144.0 or later.
    ///
    /// When the version is known, a type is reported only if that version deprecated or removed
    /// it; when it is not, every type of the list but the two aliases is.
    ///
    /// ## Why it matters
    /// A Collector that no longer has the type refuses the whole configuration ("unknown type")
    /// and crash-loops; a deprecated type works until an upgrade removes it.
    ///
    /// ## Example
    /// ```yaml
    /// receivers:
    ///   otlp:
    ///     protocols:
    ///       grpc:
    ///         endpoint: ${env:MY_POD_IP}:4317
    /// exporters:
    ///   logging:
    ///     verbosity: detailed
    /// service:
    ///   pipelines:
    ///     traces:
    ///       receivers: [otlp]
    ///       exporters: [logging]
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// receivers:
    ///   otlp:
    ///     protocols:
    ///       grpc:
    ///         endpoint: ${env:MY_POD_IP}:4317
    /// exporters:
    ///   debug:
    ///     verbosity: detailed
    /// service:
    ///   pipelines:
    ///     traces:
    ///       receivers: [otlp]
    ///       exporters: [debug]
    /// ```
    pub static OTEL_RETIRED_COMPONENT = Rule {
        code: "MSP309",
        name: "otel-retired-component",
        severity: Warning,
        summary: "a Collector configuration uses a component type that upstream removed or deprecated",
        mirrors: None,
        check: check,
    };
}

const SECTIONS: [&str; 5] = [
    "receivers",
    "processors",
    "exporters",
    "connectors",
    "extensions",
];

fn check(ws: &Workspace, out: &mut Findings) {
    for config in collector_configs(ws).iter() {
        for section in SECTIONS {
            for (id, key) in config.defined(section) {
                let Some(r) = retirement(section, type_of(id)) else {
                    continue;
                };
                let singular = section.trim_end_matches('s');
                let ty = r.ty;
                let message = match (config.version, r.removed, r.deprecated) {
                    (Some(v), Some(removed), _) if v >= removed => format!(
                        "the {singular} type `{ty}` was removed in {removed}; this {v} Collector \
                         refuses the configuration"
                    ),
                    (Some(v), _, Some(deprecated)) if v >= deprecated => format!(
                        "the {singular} type `{ty}` is deprecated since {deprecated} (this \
                         Collector is {v}){}",
                        r.removed
                            .map(|removed| format!(" and removed in {removed}"))
                            .unwrap_or_default()
                    ),
                    (Some(_), _, _) => continue,
                    (None, Some(removed), _) => format!(
                        "the {singular} type `{ty}` was removed in {removed}{}; Collectors from \
                         {removed} on refuse the configuration",
                        r.deprecated
                            .map(|d| format!(" (deprecated since {d})"))
                            .unwrap_or_default()
                    ),
                    (None, None, _) => continue,
                };
                config
                    .report(ws, out, key.span, message)
                    .help(format!("use {} instead", r.instead));
            }
        }
    }
}
