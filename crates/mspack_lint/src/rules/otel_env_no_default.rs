use std::collections::HashSet;

use mspack_yaml::{Node, Pos, SourceFile, Span, Value};

use crate::crossref::containers;
use crate::declare_rule;
use crate::finding::Findings;
use crate::otel::{CollectorConfig, collector_configs};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// Every OpenTelemetry Collector configuration in the input (standalone, in a ConfigMap's
    /// `data`, or an `OpenTelemetryCollector`'s `spec.config`, as MSP301 finds them). It reports,
    /// at its exact position inside the string:
    /// - an environment reference without a default, `${env:NAME}` or `${NAME}` (a default is
    ///   written `${env:NAME:-value}`), that the workloads running the configuration do not set
    ///   in every container's `env` (the Deployments, DaemonSets... mounting the ConfigMap, or
    ///   the `OpenTelemetryCollector`'s `spec.env`). A workload with `envFrom` may set anything:
    ///   its configuration is not checked; nor is one nobody in the input runs (a standalone
    ///   file, an unmounted ConfigMap), whose environment comes from elsewhere (Compose, a
    ///   systemd unit).
    /// - the bare `$NAME` form, which Collectors no longer expand (refused by default from
    ///   v0.104.0, unsupported from v0.107.0). Only upper-case names are read as such, so that
    ///   regular expressions (`^/api$`) and replacement groups (`$1`) are not.
    ///
    /// `$${...}` is an escaped literal and other providers (`${file:...}`, `${http:...}`) are
    /// not environment references.
    ///
    /// Off by default: which variables a pod gets is often decided outside the manifests a run
    /// sees (`envFrom`, admission webhooks, Helm values), and a name shared by several
    /// ConfigMaps in a set of unrelated examples makes the running workload ambiguous.
    ///
    /// ## Why it matters
    /// An unset variable expands to the empty string: an exporter endpoint, a header token or a
    /// listen address silently becomes empty, and the Collector either refuses the configuration
    /// or, worse, starts and sends nowhere.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: v1
    /// kind: ConfigMap
    /// metadata: {name: otel-collector, namespace: observability}
    /// data:
    ///   config.yaml: |
    ///     receivers:
    ///       otlp:
    ///         protocols:
    ///           grpc: {endpoint: "${env:MY_POD_IP}:4317"}
    ///     exporters:
    ///       otlp:
    ///         endpoint: ${env:BACKEND_ENDPOINT}
    ///     service:
    ///       pipelines:
    ///         traces: {receivers: [otlp], exporters: [otlp]}
    /// ---
    /// apiVersion: apps/v1
    /// kind: Deployment
    /// metadata: {name: otel-collector, namespace: observability}
    /// spec:
    ///   selector: {matchLabels: {app: otel-collector}}
    ///   template:
    ///     metadata: {labels: {app: otel-collector}}
    ///     spec:
    ///       containers:
    ///       - name: otelcol
    ///         image: otel/opentelemetry-collector-contrib:0.140.1
    ///         env:
    ///         - name: MY_POD_IP
    ///           valueFrom: {fieldRef: {fieldPath: status.podIP}}
    ///       volumes:
    ///       - name: config
    ///         configMap: {name: otel-collector}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: v1
    /// kind: ConfigMap
    /// metadata: {name: otel-collector, namespace: observability}
    /// data:
    ///   config.yaml: |
    ///     receivers:
    ///       otlp:
    ///         protocols:
    ///           grpc: {endpoint: "${env:MY_POD_IP}:4317"}
    ///     exporters:
    ///       otlp:
    ///         endpoint: ${env:BACKEND_ENDPOINT:-tempo.observability.svc:4317}
    ///     service:
    ///       pipelines:
    ///         traces: {receivers: [otlp], exporters: [otlp]}
    /// ---
    /// apiVersion: apps/v1
    /// kind: Deployment
    /// metadata: {name: otel-collector, namespace: observability}
    /// spec:
    ///   selector: {matchLabels: {app: otel-collector}}
    ///   template:
    ///     metadata: {labels: {app: otel-collector}}
    ///     spec:
    ///       containers:
    ///       - name: otelcol
    ///         image: otel/opentelemetry-collector-contrib:0.140.1
    ///         env:
    ///         - name: MY_POD_IP
    ///           valueFrom: {fieldRef: {fieldPath: status.podIP}}
    ///       volumes:
    ///       - name: config
    ///         configMap: {name: otel-collector}
    /// ```
    pub static OTEL_ENV_NO_DEFAULT = Rule {
        code: "MSP308",
        name: "otel-env-no-default",
        severity: Warning,
        summary: "a Collector configuration reads an environment variable that has no default and that nothing sets",
        mirrors: None,
        enabled_by_default: false,
        check: check,
    };
}

/// One environment reference in a string: its text, the variable, and its form.
#[derive(Debug, PartialEq, Eq)]
struct Reference<'a> {
    text: &'a str,
    name: &'a str,
    bare: bool,
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The environment references without a default in `text`.
fn references(text: &str) -> Vec<Reference<'_>> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'$' {
            i += 1;
            continue;
        }
        // `$$` escapes a literal `$`.
        if bytes.get(i + 1) == Some(&b'$') {
            i += 2;
            continue;
        }
        if bytes.get(i + 1) == Some(&b'{') {
            let Some(len) = text[i..].find('}') else {
                break;
            };
            if len < 2 {
                i += len + 1;
                continue;
            }
            let inner = &text[i + 2..i + len];
            let whole = &text[i..=i + len];
            let (name, default) = match inner.split_once(":-") {
                Some((n, _)) => (n, true),
                None => (inner, false),
            };
            let name = name.strip_prefix("env:").unwrap_or(name);
            if !default && is_name(name) {
                out.push(Reference {
                    text: whole,
                    name,
                    bare: false,
                });
            }
            i += len + 1;
            continue;
        }
        let rest = &text[i + 1..];
        let len = rest
            .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(rest.len());
        let name = &rest[..len];
        if len > 0 && is_name(name) && name.chars().any(|c| c.is_ascii_uppercase()) {
            out.push(Reference {
                text: &text[i..=i + len],
                name,
                bare: true,
            });
        }
        i += len + 1;
    }
    out
}

/// Where `needle` is in the file, searching from `cursor` up to the end of `span`.
fn locate(file: &SourceFile, span: Span, cursor: &mut Pos, needle: &str) -> Option<Span> {
    let mut line = cursor.line.max(span.start.line);
    while line <= span.end.line {
        let text = file.line_text(line)?;
        let skip = if line == cursor.line {
            cursor.col.saturating_sub(1) as usize
        } else {
            0
        };
        let from: usize = text.char_indices().nth(skip).map_or(text.len(), |(b, _)| b);
        if let Some(at) = text.get(from..).and_then(|t| t.find(needle)) {
            let col = text.get(..from + at)?.chars().count() as u32 + 1;
            let len = needle.chars().count() as u32;
            let start = Pos { line, col };
            *cursor = Pos {
                line,
                col: col + len,
            };
            return Some(Span {
                start,
                end: Pos {
                    line,
                    col: col + len,
                },
            });
        }
        line += 1;
    }
    None
}

/// The variables every container of the runners sets, or `None` when one may set any
/// (`envFrom`), or when nothing runs the configuration (an empty set then).
fn set_variables(ws: &Workspace, config: &CollectorConfig) -> Option<HashSet<String>> {
    let mut common: Option<HashSet<String>> = None;
    for r in config.runners.iter().filter_map(|id| ws.resources.get(*id)) {
        let mut per_container: Vec<(Option<&Node>, Option<&Node>)> = Vec::new();
        if r.kind_name == "OpenTelemetryCollector" {
            let spec = r.spec();
            per_container.push((
                spec.and_then(|s| s.get("env")),
                spec.and_then(|s| s.get("envFrom")),
            ));
        } else {
            for c in containers(r).filter(|c| c.list == "containers") {
                per_container.push((c.node.get("env"), c.node.get("envFrom")));
            }
        }
        for (env, env_from) in per_container {
            if env_from.is_some_and(|e| !e.is_null()) {
                return None;
            }
            let mut names: HashSet<String> = env
                .into_iter()
                .flat_map(Node::items)
                .filter_map(|e| e.get("name").and_then(Node::as_str))
                .map(str::to_owned)
                .collect();
            if r.kind_name == "OpenTelemetryCollector" {
                // The operator gives the Collector container its pod's name.
                names.insert("POD_NAME".into());
            }
            common = Some(match common {
                None => names,
                Some(c) => c.intersection(&names).cloned().collect(),
            });
        }
    }
    Some(common.unwrap_or_default())
}

fn scalars<'a>(node: &'a Node, out: &mut Vec<&'a Node>) {
    match &node.value {
        Value::Scalar(_) => out.push(node),
        Value::Seq(items) => items.iter().for_each(|n| scalars(n, out)),
        Value::Map(entries) => entries.iter().for_each(|(_, v)| scalars(v, out)),
    }
}

fn check(ws: &Workspace, out: &mut Findings) {
    for config in collector_configs(ws).iter() {
        let Some(set) = set_variables(ws, config) else {
            continue;
        };
        let mut nodes = Vec::new();
        scalars(&config.root, &mut nodes);
        for node in nodes {
            let Some(text) = node.as_str() else { continue };
            if !text.contains('$') {
                continue;
            }
            let mut cursor = node.span.start;
            for reference in references(text) {
                if !reference.bare && (config.runners.is_empty() || set.contains(reference.name)) {
                    continue;
                }
                let span = locate(&config.file, node.span, &mut cursor, reference.text)
                    .unwrap_or(node.span);
                let name = reference.name;
                let (message, help) = if reference.bare {
                    (
                        format!(
                            "`{}` is the bare `$NAME` form, which Collectors no longer expand \
                             (refused by default from v0.104.0, unsupported from v0.107.0)",
                            reference.text
                        ),
                        format!("write `${{env:{name}}}`, with a default if it may be unset"),
                    )
                } else {
                    (
                        format!(
                            "`{}` has no default and not every container running this \
                             configuration sets `{name}`: unset, it expands to an empty string",
                            reference.text
                        ),
                        format!(
                            "write `${{env:{name}:-<default>}}`, or set `{name}` in the \
                             container's `env`"
                        ),
                    )
                };
                config.report(ws, out, span, message).help(help);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::references;

    fn names(text: &str) -> Vec<(&str, bool)> {
        references(text)
            .into_iter()
            .map(|r| (r.name, r.bare))
            .collect()
    }

    #[test]
    fn references_without_default() {
        assert_eq!(names("${env:A}:4317"), [("A", false)]);
        assert_eq!(names("${B} and ${env:C:-x} ${D:-}"), [("B", false)]);
        assert_eq!(names("Bearer $TOKEN"), [("TOKEN", true)]);
        assert!(names("$${env:A} ${file:/x} ^/api$ $1 $lower").is_empty());
        assert!(names("${env:A").is_empty());
        assert!(names("${}$").is_empty());
        assert_eq!(names("é${env:É}${env:X}"), [("X", false)]);
    }
}
