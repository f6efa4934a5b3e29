use crate::declare_rule;
use crate::finding::Findings;
use crate::otel::components::{Signal, connector_pairs, signals, type_of};
use crate::otel::{CollectorConfig, collector_configs, substituted};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// Every OpenTelemetry Collector configuration in the input (standalone, in a ConfigMap's
    /// `data`, or an `OpenTelemetryCollector`'s `spec.config`, as MSP301 finds them). It reports
    /// a component listed in a `traces`, `metrics` or `logs` pipeline (the signal is the part of
    /// the pipeline id before `/`) whose type does not support that signal: a `prometheus`
    /// receiver in a traces pipeline, a `zipkin` exporter in a metrics pipeline, a
    /// `tail_sampling` processor in a logs pipeline. A connector joins two signals: it is
    /// reported as an exporter of a pipeline whose signal it does not read (`spanmetrics` reads
    /// traces) or as a receiver of one whose signal it does not emit (`spanmetrics` emits
    /// metrics).
    ///
    /// The supported signals come from each component's upstream `metadata.yaml` for about a
    /// hundred well-known types of the core and contrib distributions; a type not in that table
    /// is not checked.
    ///
    /// ## Why it matters
    /// The Collector refuses such a configuration at start-up ("telemetry type is not
    /// supported"): the pod crash-loops, and every pipeline of the Collector stops with it.
    ///
    /// ## Example
    /// ```yaml
    /// receivers:
    ///   prometheus:
    ///     config:
    ///       scrape_configs: []
    /// exporters:
    ///   otlp:
    ///     endpoint: tempo.observability.svc:4317
    /// service:
    ///   pipelines:
    ///     traces:
    ///       receivers: [prometheus]
    ///       exporters: [otlp]
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// receivers:
    ///   prometheus:
    ///     config:
    ///       scrape_configs: []
    /// exporters:
    ///   otlp:
    ///     endpoint: tempo.observability.svc:4317
    /// service:
    ///   pipelines:
    ///     metrics:
    ///       receivers: [prometheus]
    ///       exporters: [otlp]
    /// ```
    pub static OTEL_SIGNAL_MISMATCH = Rule {
        code: "MSP305",
        name: "otel-signal-mismatch",
        severity: Error,
        summary: "a Collector pipeline lists a component that does not support the pipeline's signal",
        mirrors: None,
        check: check,
    };
}

fn check(ws: &Workspace, out: &mut Findings) {
    for config in collector_configs(ws).iter() {
        check_config(ws, config, out);
    }
}

fn names(signals: &[Signal]) -> String {
    let names: Vec<&str> = signals.iter().map(|s| s.name()).collect();
    match names.as_slice() {
        [one] => format!("{one} only"),
        _ => names.join(" and "),
    }
}

fn check_config(ws: &Workspace, config: &CollectorConfig, out: &mut Findings) {
    for (pipeline_id, pipeline) in config.pipelines() {
        let Some(signal) = Signal::of_pipeline(pipeline_id) else {
            continue;
        };
        for role in ["receivers", "processors", "exporters"] {
            for (id, node) in CollectorConfig::listed(pipeline, role) {
                if substituted(id) {
                    continue;
                }
                let ty = type_of(id);
                let problem = if role != "processors" && config.is_defined("connectors", id) {
                    let Some(pairs) = connector_pairs(ty) else {
                        continue;
                    };
                    if role == "exporters" {
                        let reads: Vec<Signal> = dedup(pairs.iter().map(|p| p.0));
                        (!reads.contains(&signal)).then(|| {
                            format!(
                                "connector `{id}` is an exporter of {} pipeline `{pipeline_id}`, \
                                 but it reads {}",
                                signal.name(),
                                names(&reads)
                            )
                        })
                    } else {
                        let emits: Vec<Signal> = dedup(pairs.iter().map(|p| p.1));
                        (!emits.contains(&signal)).then(|| {
                            format!(
                                "connector `{id}` is a receiver of {} pipeline `{pipeline_id}`, \
                                 but it emits {}",
                                signal.name(),
                                names(&emits)
                            )
                        })
                    }
                } else {
                    if !config.is_defined(role, id) {
                        continue;
                    }
                    let Some(supported) = signals(role, ty) else {
                        continue;
                    };
                    let singular = role.trim_end_matches('s');
                    (!supported.contains(&signal)).then(|| {
                        format!(
                            "{} pipeline `{pipeline_id}` lists {singular} `{id}`, but the \
                             `{ty}` {singular} supports {}",
                            signal.name(),
                            names(supported)
                        )
                    })
                };
                let Some(problem) = problem else { continue };
                config
                    .report(
                        ws,
                        out,
                        node.span,
                        format!("{problem}; the Collector refuses this configuration"),
                    )
                    .help(format!(
                        "move `{id}` to a pipeline of a signal it supports, or use a component \
                         made for {}",
                        signal.name()
                    ));
            }
        }
    }
}

fn dedup(signals: impl Iterator<Item = Signal>) -> Vec<Signal> {
    let mut out = Vec::new();
    for s in signals {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}
