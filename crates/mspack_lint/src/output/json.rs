//! The JSON output. Its shape is a public API (documented in README.md, "JSON output"):
//!
//! ```json
//! {"findings": [{"code": "MSP101", "name": "short-host-name", "severity": "warning",
//!   "message": "...", "resource": "VirtualService food/orders", "file": "deploy/vs.yaml",
//!   "line": 12, "column": 7, "end_line": 12, "end_column": 13, "help": "...",
//!   "fix": {"message": "...", "applicability": "machine-applicable",
//!           "edits": [{"line": 12, "column": 7, "end_line": 12, "end_column": 13,
//!                      "replacement": "orders.food.svc.cluster.local"}]},
//!   "mirrors": null}],
//!  "summary": {"files": 1, "resources": 3, "errors": 0, "warnings": 1, "infos": 0}}
//! ```
//! Fields are never removed or renamed; new fields may be added.

use serde_json::{Value, json};

use crate::Report;
use crate::finding::{Finding, Severity};

/// One finding as a JSON value.
pub fn finding_json(f: &Finding) -> Value {
    let span = f.span;
    json!({
        "code": f.rule.code,
        "name": f.rule.name,
        "severity": f.severity.as_str(),
        "message": f.message,
        "resource": f.resource,
        "file": f.path(),
        "line": span.map(|s| s.start.line),
        "column": span.map(|s| s.start.col),
        "end_line": span.map(|s| s.end.line),
        "end_column": span.map(|s| s.end.col),
        "help": f.help,
        "fix": f.fix.as_ref().map(|fix| json!({
            "message": fix.message,
            "applicability": fix.applicability,
            "edits": fix.edits.iter().map(|e| json!({
                "line": e.span.start.line,
                "column": e.span.start.col,
                "end_line": e.span.end.line,
                "end_column": e.span.end.col,
                "replacement": e.replacement,
            })).collect::<Vec<_>>(),
        })),
        "mirrors": f.rule.mirrors,
    })
}

/// The whole report as a JSON value.
pub fn report_json(report: &Report) -> Value {
    json!({
        "findings": report.findings.iter().map(finding_json).collect::<Vec<_>>(),
        "summary": summary_json(report),
    })
}

fn summary_json(report: &Report) -> Value {
    json!({
        "files": report.files,
        "resources": report.resources,
        "errors": report.count(Severity::Error),
        "warnings": report.count(Severity::Warning),
        "infos": report.count(Severity::Info),
    })
}

/// The findings as a JSON array, each built when it is written (a report of many findings is
/// never held as one JSON tree).
struct FindingsArray<'r>(&'r [Finding]);

impl serde::Serialize for FindingsArray<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for f in self.0 {
            seq.serialize_element(&finding_json(f))?;
        }
        seq.end()
    }
}

#[derive(serde::Serialize)]
struct ReportOut<'r> {
    findings: FindingsArray<'r>,
    summary: Value,
}

/// The report as pretty-printed JSON, the same text as `report_json` would print.
pub fn render_json(report: &Report) -> String {
    let mut out = Vec::new();
    // Writing to memory fails only if serialising does, which these values cannot.
    let _ = write_json(report, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// [`render_json`] written to `out` as it is produced (no copy of the whole text in memory).
pub fn write_json(report: &Report, out: &mut impl std::io::Write) -> std::io::Result<()> {
    let value = ReportOut {
        findings: FindingsArray(&report.findings),
        summary: summary_json(report),
    };
    serde_json::to_writer_pretty(&mut *out, &value)?;
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use mspack_yaml::SourceFile;

    use super::*;
    use crate::{LintOptions, lint_sources};

    #[test]
    fn streamed_json_is_the_documented_value() {
        let yaml = "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n\
                    metadata: {name: orders, namespace: food}\nspec: {host: orders}\n";
        let report = lint_sources(
            vec![Arc::new(SourceFile::new("dr.yaml", yaml))],
            &LintOptions::default(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let mut expected = serde_json::to_string_pretty(&report_json(&report)).unwrap_or_default();
        expected.push('\n');
        assert!(!report.findings.is_empty());
        assert_eq!(render_json(&report), expected);
    }
}
