//! GitHub Actions workflow commands (`::error file=...,line=...::message`).

use crate::Report;
use crate::finding::Severity;

fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

pub fn render_github(report: &Report) -> String {
    let mut out = String::new();
    for f in &report.findings {
        let command = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "notice",
        };
        let mut props = Vec::new();
        if let Some(path) = f.path() {
            props.push(format!("file={}", escape_property(path)));
        }
        if let Some(span) = f.span {
            props.push(format!("line={}", span.start.line));
            props.push(format!("col={}", span.start.col));
            if span.end.line >= span.start.line {
                props.push(format!("endLine={}", span.end.line));
                if span.end.line == span.start.line && span.end.col > span.start.col {
                    props.push(format!("endColumn={}", span.end.col));
                }
            }
        }
        props.push(format!(
            "title={}",
            escape_property(&format!("{} {}", f.rule.code, f.rule.name))
        ));
        let mut message = f.message.clone();
        if let Some(resource) = &f.resource {
            message.push_str(&format!(" ({resource})"));
        }
        if let Some(help) = &f.help {
            message.push_str(&format!("\nhelp: {help}"));
        }
        out.push_str(&format!(
            "::{command} {}::{}\n",
            props.join(","),
            escape_data(&message)
        ));
    }
    out
}
