//! Observed calls: parent → child spans across services in an OTLP JSON export of spans (the
//! Collector's `file` exporter: one `TracesData` object per line, or one object per file), with
//! call counts and the child spans' p50/p99 durations.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use mspack_yaml::Node;
use serde_json::Value;

use super::{Graph, NodeKind};
use crate::crossref::containers;
use crate::resource::Resource;
use crate::workspace::Workspace;

/// Calls from one service to another seen in traces.
#[derive(Clone, Debug, PartialEq)]
pub struct Observed {
    pub from: String,
    pub to: String,
    pub count: usize,
    /// Duration of the callee's spans, in milliseconds.
    pub p50_ms: f64,
    pub p99_ms: f64,
}

struct SpanInfo {
    service: String,
    parent: String,
    duration_ms: f64,
}

/// What an OTLP JSON export holds for the graph: the calls between services, and every service
/// that has at least one span in it (whose calls the export can be said to cover).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Traces {
    pub calls: Vec<Observed>,
    pub services: BTreeSet<String>,
}

/// Read an OTLP JSON export (calls only); see [`read_traces`].
pub fn read_otlp_json(text: &str) -> Result<Vec<Observed>, String> {
    read_traces(text).map(|t| t.calls)
}

/// Read an OTLP JSON export: one `TracesData` object (possibly pretty-printed), or several one
/// after another (JSON lines, as the file exporter writes them). Text that is not JSON, or a
/// value that is not an object with `resourceSpans`, is an error naming its line.
pub fn read_traces(text: &str) -> Result<Traces, String> {
    let mut documents: Vec<Value> = Vec::new();
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    loop {
        let start = stream.byte_offset();
        match stream.next() {
            None => break,
            Some(Ok(v)) => {
                if v.get("resourceSpans").and_then(Value::as_array).is_none() {
                    let at = start + text[start..].len() - text[start..].trim_start().len();
                    return Err(format!(
                        "line {}: not an OTLP JSON export (a JSON object with `resourceSpans` expected)",
                        line_of(text, at)
                    ));
                }
                documents.push(v);
            }
            Some(Err(e)) if e.is_eof() => {
                let at = start + text[start..].len() - text[start..].trim_start().len();
                return Err(format!(
                    "line {}: not JSON: the value that starts here is not closed before the end of the file",
                    line_of(text, at)
                ));
            }
            Some(Err(e)) => {
                let message = e.to_string();
                let suffix = format!(" at line {} column {}", e.line(), e.column());
                let message = message.strip_suffix(&suffix).unwrap_or(&message);
                return Err(format!(
                    "line {}, column {}: not JSON: {message}",
                    e.line(),
                    e.column()
                ));
            }
        }
    }
    let mut services = BTreeSet::new();
    // (traceId, spanId) -> span
    let mut spans: HashMap<(String, String), SpanInfo> = HashMap::new();
    for doc in &documents {
        let resource_spans = doc
            .get("resourceSpans")
            .and_then(Value::as_array)
            .into_iter()
            .flatten();
        for rs in resource_spans {
            let service = rs
                .pointer("/resource/attributes")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|a| a.get("key").and_then(Value::as_str) == Some("service.name"))
                .and_then(|a| a.pointer("/value/stringValue"))
                .and_then(Value::as_str)
                .unwrap_or("unknown_service")
                .to_string();
            let mut has_spans = false;
            let scopes = rs
                .get("scopeSpans")
                .or_else(|| rs.get("instrumentationLibrarySpans"));
            for scope in scopes.and_then(Value::as_array).into_iter().flatten() {
                for span in scope
                    .get("spans")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let text = |k: &str| {
                        span.get(k)
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string()
                    };
                    let nanos = |k: &str| {
                        span.get(k)
                            .and_then(|v| {
                                v.as_str()
                                    .and_then(|s| s.parse::<u64>().ok())
                                    .or_else(|| v.as_u64())
                            })
                            .unwrap_or(0)
                    };
                    let duration_ms =
                        nanos("endTimeUnixNano").saturating_sub(nanos("startTimeUnixNano")) as f64
                            / 1e6;
                    has_spans = true;
                    spans.insert(
                        (text("traceId"), text("spanId")),
                        SpanInfo {
                            service: service.clone(),
                            parent: text("parentSpanId"),
                            duration_ms,
                        },
                    );
                }
            }
            if has_spans {
                services.insert(service);
            }
        }
    }
    let mut calls: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
    for ((trace, _), span) in &spans {
        if span.parent.is_empty() {
            continue;
        }
        let Some(parent) = spans.get(&(trace.clone(), span.parent.clone())) else {
            continue;
        };
        if parent.service != span.service {
            calls
                .entry((parent.service.clone(), span.service.clone()))
                .or_default()
                .push(span.duration_ms);
        }
    }
    let calls = calls
        .into_iter()
        .map(|((from, to), mut durations)| {
            durations.sort_by(f64::total_cmp);
            Observed {
                from,
                to,
                count: durations.len(),
                p50_ms: percentile(&durations, 0.50),
                p99_ms: percentile(&durations, 0.99),
            }
        })
        .collect();
    Ok(Traces { calls, services })
}

/// The workload node that each `service.name` of the traces stands for: the service name a
/// container sets (`OTEL_SERVICE_NAME`, or `service.name=` in `OTEL_RESOURCE_ATTRIBUTES`), else
/// the node's name (its `app.kubernetes.io/name` or `app` label, else the resource name), a
/// workload resource's name, or the node id (`namespace/name`). The first node wins a name.
pub fn service_nodes(graph: &Graph, ws: &Workspace) -> HashMap<String, usize> {
    let workloads = || {
        graph
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.kind == NodeKind::Workload)
    };
    let mut out: HashMap<String, usize> = HashMap::new();
    for (i, node) in workloads() {
        for s in &node.service_names {
            out.entry(s.clone()).or_insert(i);
        }
    }
    for (i, node) in workloads() {
        out.entry(node.name.clone()).or_insert(i);
    }
    for (i, node) in workloads() {
        for r in node.resources.iter().filter_map(|&r| ws.resources.get(r)) {
            out.entry(r.name.to_string()).or_insert(i);
        }
    }
    for (i, node) in workloads() {
        out.entry(node.id.clone()).or_insert(i);
    }
    out
}

/// The `service.name` values the containers of workload `r` set: `OTEL_SERVICE_NAME`, or
/// `service.name=` in `OTEL_RESOURCE_ATTRIBUTES` (values with `$(VAR)` references, which the
/// kubelet expands, are left out).
pub fn declared_service_names(r: &Resource) -> Vec<String> {
    let mut out = Vec::new();
    for c in containers(r) {
        for var in c.node.get("env").into_iter().flat_map(Node::items) {
            let name = var.get("name").and_then(Node::as_str).unwrap_or("");
            let value = var.get("value").and_then(Node::as_str).unwrap_or("");
            let service = match name {
                "OTEL_SERVICE_NAME" => Some(value.trim()),
                "OTEL_RESOURCE_ATTRIBUTES" => value
                    .split(',')
                    .filter_map(|kv| kv.split_once('='))
                    .find(|(k, _)| k.trim() == "service.name")
                    .map(|(_, v)| v.trim()),
                _ => None,
            };
            if let Some(s) = service.filter(|s| !s.is_empty() && !s.contains("$(")) {
                out.push(s.to_string());
            }
        }
    }
    out
}

/// 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cross_service_children_are_calls() {
        let line = |svc: &str, spans: &str| {
            format!(
                r#"{{"resourceSpans":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"{svc}"}}}}]}},"scopeSpans":[{{"spans":[{spans}]}}]}}]}}"#
            )
        };
        let span = |id: &str, parent: &str, ms: u64| {
            format!(
                r#"{{"traceId":"t","spanId":"{id}","parentSpanId":"{parent}","startTimeUnixNano":"0","endTimeUnixNano":"{}"}}"#,
                ms * 1_000_000
            )
        };
        let text = [
            line(
                "frontend",
                &format!("{},{}", span("a", "", 50), span("b", "a", 40)),
            ),
            line(
                "cart",
                &format!("{},{}", span("c", "b", 30), span("d", "c", 5)),
            ),
        ]
        .join("\n");
        let observed = read_otlp_json(&text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            observed,
            [Observed {
                from: "frontend".into(),
                to: "cart".into(),
                count: 1,
                p50_ms: 30.0,
                p99_ms: 30.0
            }]
        );
        assert!(read_otlp_json("{}").is_err());
        assert!(read_otlp_json("not json").is_err());
        // JSON lines and one pretty-printed object read the same.
        let one = format!(
            "{{\n  \"resourceSpans\": [\n{}\n]}}",
            text.lines()
                .filter_map(|l| l.strip_prefix(r#"{"resourceSpans":["#))
                .filter_map(|l| l.strip_suffix("]}"))
                .collect::<Vec<_>>()
                .join(",\n")
        );
        assert_eq!(read_otlp_json(&one), read_otlp_json(&text));
    }

    #[test]
    fn malformed_input_names_its_line() {
        let good = r#"{"resourceSpans":[]}"#;
        let err = |text: &str| read_traces(text).err().unwrap_or_default();
        assert!(err(&format!("{good}\n{good}\n{{\"resourceSpans\": [")).starts_with("line 3"));
        assert!(err(&format!("{good}\n\n[1, 2]")).starts_with("line 3: not an OTLP JSON export"));
        assert!(err("{\n  \"resourceSpans\": [}\n").starts_with("line 2, column"));
        assert_eq!(read_traces(""), Ok(Traces::default()));
    }
}
