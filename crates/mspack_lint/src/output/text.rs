//! Human output: each finding as a rustc-style diagnostic with the source line underlined
//! (rendered by annotate-snippets), then a summary line.

use annotate_snippets::{AnnotationKind, Level, Renderer, Snippet};

use crate::Report;
use crate::finding::{Finding, Severity};

/// Most source lines shown for one finding.
const MAX_LINES: u32 = 6;

pub fn render_text(report: &Report, color: bool) -> String {
    let renderer = if color {
        Renderer::styled()
    } else {
        Renderer::plain()
    };
    let mut out = String::new();
    for f in &report.findings {
        out.push_str(&render_finding(&renderer, f));
        out.push_str("\n\n");
    }
    out.push_str(&summary(report));
    out.push('\n');
    out
}

fn render_finding(renderer: &Renderer, f: &Finding) -> String {
    let level = match f.severity {
        Severity::Error => Level::ERROR,
        Severity::Warning => Level::WARNING,
        Severity::Info => Level::INFO,
    };
    let title = level.primary_title(f.message.as_str()).id(f.rule.code);
    let label = f.resource.clone().unwrap_or_default();
    let mut group = match (f.file.as_deref(), f.span) {
        (Some(file), Some(span)) => {
            let first = span.start.line.max(1);
            let last = span.end.line.clamp(first, first + MAX_LINES - 1);
            let start = file.line_start(first).unwrap_or(file.text.len());
            let end = file
                .line_start(last)
                .map(|s| s + file.line_text(last).map_or(0, str::len))
                .unwrap_or(file.text.len());
            let source = file.text.get(start..end.max(start)).unwrap_or("");
            let range = file.byte_range(span);
            let mut lo = floor_char_boundary(source, range.start.saturating_sub(start));
            let mut hi = floor_char_boundary(source, range.end.saturating_sub(start));
            if hi <= lo {
                // An empty span underlines one character (or the line end).
                hi = source[lo..]
                    .chars()
                    .next()
                    .map_or(lo, |c| lo + c.len_utf8());
                if hi <= lo {
                    lo = source.len();
                    hi = lo;
                }
            }
            title.element(
                Snippet::source(source)
                    .line_start(first as usize)
                    .path(file.path.as_str())
                    .annotation(AnnotationKind::Primary.span(lo..hi).label(label)),
            )
        }
        (Some(file), None) if label.is_empty() => {
            title.element(Level::NOTE.message(format!("in {}", file.path)))
        }
        _ => title.element(Level::NOTE.message(label)),
    };
    if let Some(help) = &f.help {
        group = group.element(Level::HELP.message(help.as_str()));
    }
    if let Some(analyzer) = f.rule.mirrors {
        group =
            group.element(Level::NOTE.message(format!("mirrors {}'s {analyzer}", f.rule.origin())));
    }
    renderer.render(&[group])
}

/// The largest char boundary of `text` at or below `at` (clamped to the text).
fn floor_char_boundary(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn summary(report: &Report) -> String {
    let (e, w, i) = (
        report.count(Severity::Error),
        report.count(Severity::Warning),
        report.count(Severity::Info),
    );
    let scope = format!(
        "{} file{}, {} resource{}",
        report.files,
        plural(report.files),
        report.resources,
        plural(report.resources)
    );
    if report.findings.is_empty() {
        return format!("no findings ({scope})");
    }
    format!(
        "{} finding{}: {e} error{}, {w} warning{}, {i} info ({scope})",
        report.findings.len(),
        plural(report.findings.len()),
        plural(e),
        plural(w)
    )
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
