use mspack_yaml::Node;

use crate::declare_rule;
use crate::finding::Findings;
use crate::otel::components::{Signal, type_of};
use crate::otel::{CollectorConfig, Version, collector_configs, substituted};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// Every OpenTelemetry Collector configuration in the input (standalone, in a ConfigMap's
    /// `data`, or an `OpenTelemetryCollector`'s `spec.config`, as MSP301 finds them). It reports
    /// an OTLP or Zipkin exporter (`otlp`, `otlp_grpc`, `otlphttp`, `otlp_http`, `zipkin`) listed
    /// in a `traces`, `metrics` or `logs` pipeline that batches neither with a processor (`batch`, or `queuebatch` from
    /// v0.158.0) nor in the exporter (`sending_queue.batch`, with the queue and the batch not
    /// turned off), at the exporter's entry in the pipeline.
    ///
    /// Upstream is moving batching from the `batch` processor into the exporters' sending
    /// queue: `sending_queue.batch` replaced the exporters' own batcher in v0.123.0 and has the
    /// batch processor's defaults when left empty from v0.138.0. The help names the option the
    /// Collector's version takes (the image tag of the workload mounting the ConfigMap, or the
    /// `OpenTelemetryCollector`'s `spec.image`), or both when the version is unknown.
    ///
    /// ## Why it matters
    /// Without batching, every request a receiver takes becomes one export request: many small
    /// gRPC/HTTP calls, poor compression, and far more load on the Collector and the backend for
    /// the same data; under load the queue fills and data is dropped.
    ///
    /// ## Example
    /// ```yaml
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
    /// receivers:
    ///   otlp:
    ///     protocols:
    ///       grpc:
    ///         endpoint: ${env:MY_POD_IP}:4317
    /// exporters:
    ///   otlp:
    ///     endpoint: tempo.observability.svc:4317
    ///     sending_queue:
    ///       batch: {}
    /// service:
    ///   pipelines:
    ///     traces:
    ///       receivers: [otlp]
    ///       exporters: [otlp]
    /// ```
    pub static OTEL_NO_BATCHING = Rule {
        code: "MSP306",
        name: "otel-no-batching",
        severity: Warning,
        summary: "a Collector pipeline sends through an OTLP exporter without batching",
        mirrors: None,
        check: check,
    };
}

/// Exporters whose batching this rule checks: they batch only when told to.
const CHECKED: [&str; 5] = ["otlp", "otlp_grpc", "otlphttp", "otlp_http", "zipkin"];

/// `sending_queue.batch` takes the batch processor's defaults when empty from this version.
const EMPTY_BATCH: Version = Version(0, 138, 0);

fn is_batch_processor(id: &str) -> bool {
    matches!(type_of(id), "batch" | "queuebatch")
}

fn is_false(node: Option<&Node>) -> bool {
    node.and_then(Node::as_str)
        .is_some_and(|s| s.eq_ignore_ascii_case("false"))
}

/// Whether the exporter batches in its sending queue.
fn batches(exporter: &Node) -> bool {
    let Some(queue) = exporter.get("sending_queue") else {
        return false;
    };
    let Some((_, batch)) = queue.get_entry("batch") else {
        return false;
    };
    !is_false(queue.get("enabled")) && !is_false(batch.get("enabled"))
}

fn check(ws: &Workspace, out: &mut Findings) {
    for config in collector_configs(ws).iter() {
        check_config(ws, config, out);
    }
}

fn check_config(ws: &Workspace, config: &CollectorConfig, out: &mut Findings) {
    for (pipeline_id, pipeline) in config.pipelines() {
        // The batch processor takes traces, metrics and logs only (not profiles).
        if Signal::of_pipeline(pipeline_id).is_none() {
            continue;
        }
        if CollectorConfig::listed(pipeline, "processors").any(|(id, _)| is_batch_processor(id)) {
            continue;
        }
        for (id, node) in CollectorConfig::listed(pipeline, "exporters") {
            if substituted(id) || !CHECKED.contains(&type_of(id)) {
                continue;
            }
            let Some(exporter) = config.root.get("exporters").and_then(|e| e.get(id)) else {
                continue;
            };
            if batches(exporter) {
                continue;
            }
            let help = match config.version {
                Some(v) if v >= EMPTY_BATCH => format!(
                    "add `sending_queue: {{batch: {{}}}}` to exporter `{id}` (exporter-side \
                     batching, which replaces the `batch` processor upstream; {v} takes it), or \
                     list the `batch` processor last in the pipeline"
                ),
                Some(v) => format!(
                    "list the `batch` processor last in the pipeline's `processors` ({v} \
                     predates the exporters' default batching, from {EMPTY_BATCH})"
                ),
                None => format!(
                    "from {EMPTY_BATCH} on, add `sending_queue: {{batch: {{}}}}` to exporter \
                     `{id}` (exporter-side batching, which replaces the `batch` processor \
                     upstream); on older Collectors, list the `batch` processor last in the \
                     pipeline"
                ),
            };
            config
                .report(
                    ws,
                    out,
                    node.span,
                    format!(
                        "pipeline `{pipeline_id}` sends through exporter `{id}` without batching \
                         (no `batch` processor, no `sending_queue.batch`): every incoming \
                         request becomes its own export request"
                    ),
                )
                .help(help);
        }
    }
}
