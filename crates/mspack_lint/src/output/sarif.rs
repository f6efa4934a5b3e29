//! SARIF 2.1.0, as GitHub code scanning accepts it: one run, the rule catalogue in
//! `tool.driver.rules` (ids unique: a shared Istio code carries its analyzer), one result per finding.

use serde_json::{Value, json};

use crate::Report;
use crate::finding::{Applicability, Severity};
use crate::rules::ALL;

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

/// A relative URI for a path as given (forward slashes, spaces and `%` escaped).
fn uri(path: &str) -> String {
    let path = path.replace('\\', "/");
    let path = path.strip_prefix("./").unwrap_or(&path);
    path.replace('%', "%25").replace(' ', "%20")
}

pub fn render_sarif(report: &Report) -> String {
    let rules: Vec<Value> = ALL
        .iter()
        .map(|r| {
            json!({
                "id": r.id(),
                "name": r.name,
                "shortDescription": {"text": r.summary},
                "fullDescription": {"text": r.summary},
                "help": {"text": r.documentation(), "markdown": r.documentation()},
                "helpUri": r.help_uri(),
                "defaultConfiguration": {"level": level(r.severity)},
                "properties": {"code": r.code, "mirrors": r.mirrors, "tags": [r.origin().to_ascii_lowercase()]},
            })
        })
        .collect();
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let index = ALL.iter().position(|r| std::ptr::eq(*r, f.rule));
            let mut message = f.message.clone();
            if let Some(resource) = &f.resource {
                message.push_str(&format!(" ({resource})"));
            }
            let region = f.span.map(|s| {
                json!({
                    "startLine": s.start.line,
                    "startColumn": s.start.col,
                    "endLine": s.end.line.max(s.start.line),
                    "endColumn": if s.end.line > s.start.line || s.end.col > s.start.col { s.end.col } else { s.start.col + 1 },
                })
            });
            let location = f.path().map(|p| {
                let mut physical = json!({"artifactLocation": {"uri": uri(p)}});
                if let Some(region) = &region {
                    physical["region"] = region.clone();
                }
                json!({"physicalLocation": physical})
            });
            let mut result = json!({
                "ruleId": f.rule.id(),
                "level": level(f.severity),
                "message": {"text": message},
                "locations": location.into_iter().collect::<Vec<_>>(),
            });
            if let Some(i) = index {
                result["ruleIndex"] = json!(i);
            }
            if let (Some(fix), Some(path)) = (&f.fix, f.path())
                && fix.applicability == Applicability::MachineApplicable {
                    result["fixes"] = json!([{
                        "description": {"text": fix.message},
                        "artifactChanges": [{
                            "artifactLocation": {"uri": uri(path)},
                            "replacements": fix.edits.iter().map(|e| json!({
                                "deletedRegion": {
                                    "startLine": e.span.start.line,
                                    "startColumn": e.span.start.col,
                                    "endLine": e.span.end.line,
                                    "endColumn": e.span.end.col,
                                },
                                "insertedContent": {"text": e.replacement},
                            })).collect::<Vec<_>>(),
                        }],
                    }]);
                }
            result
        })
        .collect();
    let sarif = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "mspack",
                "version": env!("CARGO_PKG_VERSION"),
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "informationUri": env!("CARGO_PKG_REPOSITORY"),
                "rules": rules,
            }},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    });
    let mut text = serde_json::to_string_pretty(&sarif).unwrap_or_default();
    text.push('\n');
    text
}
