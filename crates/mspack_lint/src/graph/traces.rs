//! Observed calls: parent → child spans across services in an OTLP JSON export of spans (the
//! Collector's `file` exporter: one `TracesData` object per line, or one object per file), with
//! call counts and the child spans' p50/p99 durations.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

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

/// Read an OTLP JSON export. Lines that are not JSON objects with `resourceSpans` are an error.
pub fn read_otlp_json(text: &str) -> Result<Vec<Observed>, String> {
    let documents: Vec<Value> = match serde_json::from_str::<Value>(text) {
        Ok(v) => vec![v],
        Err(_) => text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                serde_json::from_str(l).map_err(|e| format!("line {}: not JSON: {e}", i + 1))
            })
            .collect::<Result<_, _>>()?,
    };
    // (traceId, spanId) -> span
    let mut spans: HashMap<(String, String), SpanInfo> = HashMap::new();
    for doc in &documents {
        let Some(resource_spans) = doc.get("resourceSpans").and_then(Value::as_array) else {
            return Err("not an OTLP JSON export: no `resourceSpans`".into());
        };
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
    Ok(calls
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
        .collect())
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
    }
}
