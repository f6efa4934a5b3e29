//! Configurations written as a string inside a YAML file (a ConfigMap's `data` entry, an
//! `OpenTelemetryCollector`'s `spec.config`): parsed on their own, their spans mapped back into
//! the file, exactly for a literal block scalar (`|`, `|-`, `|+`) whose lines are found verbatim
//! at one indentation, else every span is the entry's key.

use std::sync::Arc;

use mspack_yaml::{Limits, Node, Pos, SourceFile, Span, Style, Value, parse_file};

/// The first document of the string `value` (the entry of `key` in `file`) if `may_hold` its text
/// and `accept` its root, with its spans in `file`.
pub fn parse_embedded(
    file: &SourceFile,
    key: &Node,
    value: &Node,
    may_hold: fn(&str) -> bool,
    accept: fn(&Node) -> bool,
) -> Option<Node> {
    let scalar = value.scalar()?;
    let text = scalar.text.as_str();
    if !may_hold(text) {
        return None;
    }
    let inner = Arc::new(SourceFile::new(file.path.clone(), text));
    let parsed = parse_file(inner, &Limits::default());
    if parsed.error.is_some() {
        return None;
    }
    let mut root = parsed.documents.into_iter().next()?.root;
    if !accept(&root) {
        return None;
    }
    match literal_offset(file, key, value, text) {
        Some((line, indent)) => shift(&mut root, line, indent),
        None => flatten(&mut root, key.span),
    }
    Some(root)
}

/// For a literal block scalar whose lines are in the file verbatim at one indentation: the line
/// before its content (its header's line, the key's) and that indentation.
fn literal_offset(file: &SourceFile, key: &Node, value: &Node, text: &str) -> Option<(u32, u32)> {
    if value.scalar()?.style != Style::Literal {
        return None;
    }
    let header_line = key.span.end.line;
    let after_key: String = file
        .line_text(header_line)?
        .chars()
        .skip(key.span.end.col.checked_sub(1)? as usize)
        .collect();
    let header = after_key.trim_start().strip_prefix(':')?.trim();
    // `|`, `|-`, `|+` only: an explicit indentation indicator is not worth the risk.
    let header = header.trim_end();
    let header = header.split(" #").next().unwrap_or(header).trim_end();
    if !matches!(header, "|" | "|-" | "|+") {
        return None;
    }
    let lines: Vec<&str> = text.split('\n').collect();
    let first = lines.iter().position(|l| !l.trim().is_empty())?;
    let first_file = file.line_text(
        header_line
            .saturating_add(1)
            .saturating_add(u32::try_from(first).ok()?),
    )?;
    let indent = first_file.len() - first_file.trim_start_matches(' ').len();
    for (i, line) in lines.iter().enumerate() {
        let line = line.trim_end_matches('\r');
        let n = header_line
            .saturating_add(1)
            .saturating_add(u32::try_from(i).ok()?);
        let Some(in_file) = file.line_text(n) else {
            // The scalar's trailing newline: no line of its own.
            if line.is_empty() && i + 1 == lines.len() {
                continue;
            }
            return None;
        };
        if line.trim().is_empty() {
            if !in_file.trim().is_empty() && i + 1 != lines.len() {
                return None;
            }
            continue;
        }
        let rest = in_file.get(indent..)?;
        if !in_file.get(..indent)?.bytes().all(|b| b == b' ') || rest != line {
            return None;
        }
    }
    Some((header_line, u32::try_from(indent).ok()?))
}

fn shift_pos(pos: &mut Pos, line: u32, indent: u32) {
    pos.line = pos.line.saturating_add(line);
    pos.col = pos.col.saturating_add(indent);
}

fn shift(node: &mut Node, line: u32, indent: u32) {
    shift_pos(&mut node.span.start, line, indent);
    shift_pos(&mut node.span.end, line, indent);
    match &mut node.value {
        Value::Scalar(_) => {}
        Value::Seq(items) => items.iter_mut().for_each(|n| shift(n, line, indent)),
        Value::Map(entries) => entries.iter_mut().for_each(|(k, v)| {
            shift(k, line, indent);
            shift(v, line, indent);
        }),
    }
}

fn flatten(node: &mut Node, span: Span) {
    node.span = span;
    match &mut node.value {
        Value::Scalar(_) => {}
        Value::Seq(items) => items.iter_mut().for_each(|n| flatten(n, span)),
        Value::Map(entries) => entries.iter_mut().for_each(|(k, v)| {
            flatten(k, span);
            flatten(v, span);
        }),
    }
}
