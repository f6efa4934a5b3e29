//! Machine-applicable edits: building them (replace a scalar keeping its quoting, insert a
//! mapping entry keeping the indentation) and applying them to files.

use std::collections::BTreeMap;
use std::path::Path;

use mspack_yaml::{Node, Pos, SourceFile, Span, Style};

use crate::finding::{Applicability, Edit, Finding};

/// Replace a scalar's text, keeping the quote style it was written in.
pub fn replace_scalar(node: &Node, text: &str) -> Edit {
    let replacement = match node.scalar().map(|s| s.style) {
        Some(Style::DoubleQuoted) => format!("\"{text}\""),
        Some(Style::SingleQuoted) => format!("'{text}'"),
        _ => text.to_string(),
    };
    Edit {
        span: node.span,
        replacement,
    }
}

/// Insert `key: value` lines as the first entry of a mapping, in its style: a new line at the
/// indentation of the existing keys for block mappings, `key: value, ` after `{` for flow ones.
/// `lines` are the entry's lines relative to the mapping's indentation (first line `key: ...`).
pub fn insert_entry(file: &SourceFile, map: &Node, lines: &[String]) -> Option<Edit> {
    let entries = map.as_map()?;
    let opening = file.snippet(Span::new(map.span.start, map.span.end));
    if opening.starts_with('{') {
        if lines.len() != 1 {
            return None;
        }
        let at = Pos {
            line: map.span.start.line,
            col: map.span.start.col + 1,
        };
        let sep = if entries.is_empty() { "" } else { ", " };
        return Some(Edit {
            span: Span::point(at),
            replacement: format!("{}{sep}", lines[0]),
        });
    }
    let (first_key, _) = entries.first()?;
    let at = first_key.span.start;
    let indent = " ".repeat((at.col as usize).saturating_sub(1));
    let mut text = String::new();
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            text.push_str(&indent);
        }
        text.push_str(line);
        text.push('\n');
    }
    text.push_str(&indent);
    Some(Edit {
        span: Span::point(at),
        replacement: text,
    })
}

/// What applying fixes did to one file.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FixOutcome {
    pub files: usize,
    pub edits: usize,
}

/// Apply every machine-applicable fix of `findings` to its file. Overlapping edits are skipped
/// (a second `--fix` run picks them up). Files are replaced atomically (write + rename).
pub fn apply_fixes(findings: &[Finding]) -> std::io::Result<FixOutcome> {
    let mut by_file: BTreeMap<&str, (&SourceFile, Vec<&Edit>)> = BTreeMap::new();
    for f in findings {
        let (Some(file), Some(fix)) = (f.file.as_deref(), f.fix.as_ref()) else {
            continue;
        };
        if fix.applicability != Applicability::MachineApplicable || file.path == "<stdin>" {
            continue;
        }
        by_file
            .entry(file.path.as_str())
            .or_insert_with(|| (file, Vec::new()))
            .1
            .extend(fix.edits.iter());
    }
    let mut outcome = FixOutcome::default();
    for (path, (file, edits)) in by_file {
        let (text, applied) = apply_edits(file, &edits);
        if applied == 0 {
            continue;
        }
        write_atomically(Path::new(path), &text)?;
        outcome.files += 1;
        outcome.edits += applied;
    }
    Ok(outcome)
}

/// The file's text with `edits` applied (non-overlapping ones, in order), and how many applied.
pub fn apply_edits(file: &SourceFile, edits: &[&Edit]) -> (String, usize) {
    let mut ranges: Vec<(std::ops::Range<usize>, &str)> = edits
        .iter()
        .map(|e| (file.byte_range(e.span), e.replacement.as_str()))
        .collect();
    ranges.sort_by_key(|(r, _)| (r.start, r.end));
    ranges.dedup();
    let mut out = String::with_capacity(file.text.len());
    let mut cursor = 0;
    let mut applied = 0;
    for (range, replacement) in ranges {
        if range.start < cursor {
            continue;
        }
        out.push_str(&file.text[cursor..range.start]);
        out.push_str(replacement);
        cursor = range.end;
        applied += 1;
    }
    out.push_str(&file.text[cursor..]);
    (out, applied)
}

fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.mspack-fix.{}", std::process::id()));
    std::fs::write(&tmp, text)?;
    if let Ok(meta) = std::fs::metadata(path) {
        std::fs::set_permissions(&tmp, meta.permissions())?;
    }
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}
