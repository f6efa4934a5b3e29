use crate::declare_rule;
use crate::finding::Findings;
use crate::otel::{CollectorConfig, collector_configs};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// Every OpenTelemetry Collector configuration in the input (standalone, in a ConfigMap's
    /// `data`, or an `OpenTelemetryCollector`'s `spec.config`, as MSP301 finds them). It reports
    /// a pipeline whose `processors` list a `memory_limiter` (or `memory_limiter/<name>`) that is
    /// not the first of them.
    ///
    /// ## Why it matters
    /// The memory limiter protects the Collector by refusing data at the pipeline's entrance
    /// when memory runs short, so that receivers can signal the senders to back off. Placed after
    /// other processors, it refuses data only after they have already spent memory on it (a
    /// batch or a tail sampler holds whole batches), and the Collector can still be OOM-killed.
    /// The Collector documentation recommends it as the first processor of every pipeline.
    ///
    /// ## Example
    /// ```yaml
    /// receivers:
    ///   otlp:
    ///     protocols:
    ///       grpc:
    ///         endpoint: ${env:MY_POD_IP}:4317
    /// processors:
    ///   k8sattributes: {}
    ///   memory_limiter:
    ///     check_interval: 1s
    ///     limit_percentage: 80
    /// exporters:
    ///   otlp:
    ///     endpoint: tempo.observability.svc:4317
    /// service:
    ///   pipelines:
    ///     traces:
    ///       receivers: [otlp]
    ///       processors: [k8sattributes, memory_limiter]
    ///       exporters: [otlp]
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// receivers:
    ///   otlp:
    ///     protocols:
    ///       grpc:
    ///         endpoint: ${env:MY_POD_IP}:4317
    /// processors:
    ///   k8sattributes: {}
    ///   memory_limiter:
    ///     check_interval: 1s
    ///     limit_percentage: 80
    /// exporters:
    ///   otlp:
    ///     endpoint: tempo.observability.svc:4317
    /// service:
    ///   pipelines:
    ///     traces:
    ///       receivers: [otlp]
    ///       processors: [memory_limiter, k8sattributes]
    ///       exporters: [otlp]
    /// ```
    pub static OTEL_MEMORY_LIMITER_NOT_FIRST = Rule {
        code: "MSP303",
        name: "otel-memory-limiter-not-first",
        severity: Warning,
        summary: "a Collector pipeline runs `memory_limiter` after other processors",
        mirrors: None,
        check: check,
    };
}

fn is_memory_limiter(id: &str) -> bool {
    id == "memory_limiter" || id.starts_with("memory_limiter/")
}

fn check(ws: &Workspace, out: &mut Findings) {
    for config in collector_configs(ws).iter() {
        for (pipeline_id, pipeline) in config.pipelines() {
            let processors: Vec<(&str, _)> =
                CollectorConfig::listed(pipeline, "processors").collect();
            let Some((first, _)) = processors.first() else {
                continue;
            };
            for (id, node) in processors.iter().skip(1) {
                if !is_memory_limiter(id) {
                    continue;
                }
                config
                    .report(
                        ws,
                        out,
                        node.span,
                        format!(
                            "pipeline `{pipeline_id}` runs `{id}` after `{first}`; data the \
                             memory limiter should refuse has already been processed and held \
                             in memory"
                        ),
                    )
                    .help(format!("list `{id}` first in the pipeline's `processors`"));
            }
        }
    }
}
