use mspack_yaml::Node;

use crate::declare_rule;
use crate::finding::Findings;
use crate::otel::collector_configs;
use crate::otel::components::{is_queued_exporter, type_of};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// Every OpenTelemetry Collector configuration in the input (standalone, in a ConfigMap's
    /// `data`, or an `OpenTelemetryCollector`'s `spec.config`, as MSP301 finds them). It reports
    /// a network exporter (`otlp`, `otlphttp`, `zipkin`, `loki`, `elasticsearch`, `kafka` and
    /// the other exporters built on the Collector's exporter helper) with
    /// `retry_on_failure.enabled: false` or `sending_queue.enabled: false`, at that `false`.
    ///
    /// ## Why it matters
    /// Both are on by default for a reason: without retries, every refused or timed-out request
    /// (a backend restart, a rolling update, a throttling response) drops the data it carried;
    /// without the queue, exports run in the pipeline's path, so a slow backend blocks the
    /// receivers and the senders' SDKs drop data instead.
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
    ///     retry_on_failure:
    ///       enabled: false
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
    ///     retry_on_failure:
    ///       enabled: true
    ///       max_elapsed_time: 300s
    /// service:
    ///   pipelines:
    ///     traces:
    ///       receivers: [otlp]
    ///       exporters: [otlp]
    /// ```
    pub static OTEL_EXPORTER_NO_RETRY = Rule {
        code: "MSP307",
        name: "otel-exporter-no-retry",
        severity: Warning,
        summary: "a Collector network exporter turns off its retries or its sending queue",
        mirrors: None,
        check: check,
    };
}

fn is_false(node: &Node) -> bool {
    node.as_str()
        .is_some_and(|s| s.eq_ignore_ascii_case("false"))
}

fn check(ws: &Workspace, out: &mut Findings) {
    for config in collector_configs(ws).iter() {
        for (id, _, exporter) in config
            .root
            .get("exporters")
            .into_iter()
            .flat_map(Node::entries)
        {
            if !is_queued_exporter(type_of(id)) {
                continue;
            }
            for (setting, consequence, help) in [
                (
                    "retry_on_failure",
                    "a request the backend refuses or that times out is dropped with its data",
                    "remove `retry_on_failure.enabled: false` (retries are on by default), and \
                     bound them with `max_elapsed_time`",
                ),
                (
                    "sending_queue",
                    "exports run in the pipeline's path, so a slow or unreachable backend blocks \
                     the receivers and makes senders drop data",
                    "remove `sending_queue.enabled: false` (the queue is on by default), and size \
                     it with `queue_size`",
                ),
            ] {
                let Some(enabled) = exporter.path(&[setting, "enabled"]).filter(|n| is_false(n))
                else {
                    continue;
                };
                config
                    .report(
                        ws,
                        out,
                        enabled.span,
                        format!("exporter `{id}` sets `{setting}.enabled: false`: {consequence}"),
                    )
                    .help(help);
            }
        }
    }
}
