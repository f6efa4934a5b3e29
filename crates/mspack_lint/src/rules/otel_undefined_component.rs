use std::collections::BTreeMap;

use mspack_yaml::Node;

use crate::declare_rule;
use crate::finding::Findings;
use crate::otel::{CollectorConfig, collector_configs, substituted};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// Every OpenTelemetry Collector configuration in the input: a standalone file (a mapping
    /// with `receivers`, `exporters` and `service.pipelines`), a string in a ConfigMap's `data`,
    /// or an `OpenTelemetryCollector`'s `spec.config`. It reports
    /// - a pipeline (`service.pipelines.<signal>[/<name>]`) whose `receivers` names a component
    ///   defined neither under `receivers` nor under `connectors`, whose `processors` names one
    ///   not under `processors`, or whose `exporters` names one defined neither under
    ///   `exporters` nor under `connectors` (a component id is `type` or `type/name`, and must
    ///   be written exactly as defined);
    /// - a connector used as an exporter in some pipeline but as a receiver in none, or the
    ///   other way round: a connector joins the end of one pipeline to the start of another;
    /// - an extension in `service.extensions` that is not defined under `extensions`.
    ///
    /// Ids written with a substitution (`${env:NAME}`) are not checked.
    ///
    /// ## Why it matters
    /// The Collector refuses such a configuration when it loads it: the pod crash-loops, and
    /// with it every pipeline of the Collector, not only the broken one.
    ///
    /// ## Example
    /// ```yaml
    /// receivers:
    ///   otlp:
    ///     protocols:
    ///       grpc:
    ///         endpoint: ${env:MY_POD_IP}:4317
    /// exporters:
    ///   otlp/backend:
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
    ///   otlp/backend:
    ///     endpoint: tempo.observability.svc:4317
    /// service:
    ///   pipelines:
    ///     traces:
    ///       receivers: [otlp]
    ///       exporters: [otlp/backend]
    /// ```
    pub static OTEL_UNDEFINED_COMPONENT = Rule {
        code: "MSP301",
        name: "otel-undefined-component",
        severity: Error,
        summary: "a Collector pipeline names a component that is not defined, or a connector that does not join two pipelines",
        mirrors: None,
        check: check,
    };
}

/// What a pipeline may list under each role, and where those are defined.
const ROLES: [(&str, &str, &[&str]); 3] = [
    ("receivers", "receiver", &["receivers", "connectors"]),
    ("processors", "processor", &["processors"]),
    ("exporters", "exporter", &["exporters", "connectors"]),
];

fn check(ws: &Workspace, out: &mut Findings) {
    for config in collector_configs(ws).iter() {
        check_config(ws, config, out);
    }
}

/// A pipeline id and the list item naming a component in it.
type Use<'a> = (&'a str, &'a Node);

fn check_config(ws: &Workspace, config: &CollectorConfig, out: &mut Findings) {
    // Connector id -> (first use as exporter, first use as receiver).
    let mut connectors: BTreeMap<&str, (Option<Use>, Option<Use>)> = BTreeMap::new();
    for (pipeline_id, pipeline) in config.pipelines() {
        for (role, singular, sections) in ROLES {
            for (id, node) in CollectorConfig::listed(pipeline, role) {
                if substituted(id) {
                    continue;
                }
                if sections.iter().any(|s| config.is_defined(s, id)) {
                    if config.is_defined("connectors", id) {
                        let uses = connectors.entry(id).or_default();
                        let first = if role == "exporters" {
                            &mut uses.0
                        } else {
                            &mut uses.1
                        };
                        first.get_or_insert((pipeline_id, node));
                    }
                    continue;
                }
                let under = match sections {
                    [one] => format!("not defined under `{one}`"),
                    _ => format!(
                        "defined neither under {}",
                        sections
                            .iter()
                            .map(|s| format!("`{s}`"))
                            .collect::<Vec<_>>()
                            .join(" nor under ")
                    ),
                };
                config
                    .report(
                        ws,
                        out,
                        node.span,
                        format!(
                            "pipeline `{pipeline_id}` lists {singular} `{id}`, which is {under}; the Collector refuses this configuration"
                        ),
                    )
                    .help(format!(
                        "define `{id}` under `{}`, or list a component defined there (ids are \
                         `type` or `type/name`)",
                        sections[0]
                    ));
            }
        }
    }
    for (id, uses) in connectors {
        match uses {
            (Some((pipeline_id, node)), None) => {
                config
                    .report(
                        ws,
                        out,
                        node.span,
                        format!(
                            "connector `{id}` is an exporter of pipeline `{pipeline_id}` but a \
                             receiver of no pipeline; the Collector refuses this configuration"
                        ),
                    )
                    .help(format!(
                        "list `{id}` under `receivers` of the pipeline it should feed"
                    ));
            }
            (None, Some((pipeline_id, node))) => {
                config
                    .report(
                        ws,
                        out,
                        node.span,
                        format!(
                            "connector `{id}` is a receiver of pipeline `{pipeline_id}` but an \
                             exporter of no pipeline; the Collector refuses this configuration"
                        ),
                    )
                    .help(format!(
                        "list `{id}` under `exporters` of the pipeline it should read from"
                    ));
            }
            _ => {}
        }
    }
    let enabled = config.root.path(&["service", "extensions"]);
    for node in enabled.into_iter().flat_map(Node::items) {
        let Some(id) = node.as_str() else { continue };
        if substituted(id) || config.is_defined("extensions", id) {
            continue;
        }
        config
            .report(
                ws,
                out,
                node.span,
                format!(
                    "`service.extensions` lists extension `{id}`, which is not defined under \
                     `extensions`; the Collector refuses this configuration"
                ),
            )
            .help(format!(
                "define `{id}` under `extensions`, or remove it from the list"
            ));
    }
}
