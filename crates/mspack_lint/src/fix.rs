//! Machine-applicable edits: building them (replace a scalar keeping its quoting, insert a
//! mapping entry keeping the indentation) and applying them to files.
//!
//! Every edit carries its [`Intent`], the change to the document it is meant to make. Before a
//! file is rewritten, the edited text is parsed again and compared with the original, node by
//! node: a fix is applied only when the documents differ by exactly its intents (so a fix can
//! never merge two documents, swallow a comment into a value or move a key).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use mspack_yaml::{Limits, Node, ParsedFile, Pos, SourceFile, Span, Style, Value, parse_file};

use crate::finding::{Applicability, Edit, Finding, Fix};

/// The change an [`Edit`] means to make, as seen in the re-parsed document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Intent {
    /// The scalar that starts at `at` becomes the string `value`.
    SetScalar { at: Pos, value: String },
    /// The mapping that starts at `at` gains one entry with key `key`.
    InsertEntry { at: Pos, key: String },
}

/// Replace a scalar's text with the string `text`, keeping the quote style it was written in (a
/// plain scalar whose new text would not read back as that string is double-quoted).
pub fn replace_scalar(node: &Node, text: &str) -> Edit {
    let double = || format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""));
    let replacement = match node.scalar().map(|s| s.style) {
        Some(Style::DoubleQuoted) => double(),
        Some(Style::SingleQuoted) => format!("'{}'", text.replace('\'', "''")),
        _ if !reads_as_plain_string(text) => double(),
        _ => text.to_string(),
    };
    Edit {
        span: node.span,
        replacement,
        intent: Intent::SetScalar {
            at: node.span.start,
            value: text.to_string(),
        },
    }
}

/// Whether `text` written unquoted reads back as exactly that string.
fn reads_as_plain_string(text: &str) -> bool {
    let plain = mspack_yaml::Scalar {
        text: text.into(),
        style: Style::Plain,
        tag: mspack_yaml::Tag::None,
    };
    plain.is_string()
        && text.trim() == text
        && !text.starts_with([
            '-', '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%',
            '@', '`',
        ])
        && !text.contains(": ")
        && !text.contains(" #")
        && !text.contains(['\n', '\t'])
}

/// Insert `key: value` lines as the first entry of a mapping, in its style: a new line at the
/// indentation of the existing keys for block mappings, `key: value, ` after `{` for flow ones.
/// `lines` are the entry's lines relative to the mapping's indentation (first line `key: ...`).
pub fn insert_entry(file: &SourceFile, map: &Node, lines: &[String]) -> Option<Edit> {
    insert_entry_at(file, map, 0, lines)
}

/// [`insert_entry`] before the mapping's entry number `index` (block mappings; a flow mapping
/// always takes the entry first). `None` when the mapping has no such entry, or is a flow
/// mapping and the entry takes more than one line.
pub fn insert_entry_at(
    file: &SourceFile,
    map: &Node,
    index: usize,
    lines: &[String],
) -> Option<Edit> {
    let entries = map.as_map()?;
    let key = lines.first()?.split_once(':')?.0.trim().to_string();
    let intent = Intent::InsertEntry {
        at: map.span.start,
        key,
    };
    if is_flow(file, map) {
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
            intent,
        });
    }
    let (next_key, _) = entries.get(index)?;
    let at = above_comments(file, next_key.span.start);
    // The keys of a block mapping share a column: the one of its first key (the entry may
    // follow `- ` on the line of a sequence item).
    let (first_key, _) = entries.first()?;
    let indent = " ".repeat((first_key.span.start.col as usize).saturating_sub(1));
    // The line ending of the line the entry goes before (the file's own, in practice).
    let from = file.byte_range(Span::point(at)).start;
    let crlf = file
        .text
        .get(from..)
        .and_then(|rest| rest.find('\n').and_then(|i| rest.get(..i)))
        .is_some_and(|line| line.ends_with('\r'));
    let newline = if crlf { "\r\n" } else { "\n" };
    let mut text = String::new();
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            text.push_str(&indent);
        }
        text.push_str(line);
        text.push_str(newline);
    }
    text.push_str(&indent);
    Some(Edit {
        span: Span::point(at),
        replacement: text,
        intent,
    })
}

/// Where to insert before the key at `at`: above the comment lines right over it at its
/// indentation (they describe that key), when the key starts its line.
fn above_comments(file: &SourceFile, at: Pos) -> Pos {
    let text = file.text.as_str();
    let offset = file.byte_range(Span::point(at)).start;
    let Some(before) = text.get(..offset) else {
        return at;
    };
    let mut start = before.rfind('\n').map_or(0, |i| i + 1);
    let indent = offset - start;
    if !before
        .get(start..)
        .is_some_and(|lead| lead.bytes().all(|b| b == b' '))
    {
        return at;
    }
    let mut line = at.line;
    while start > 0 && line > 1 {
        let end = start - 1;
        let prev_start = text
            .get(..end)
            .and_then(|t| t.rfind('\n'))
            .map_or(0, |i| i + 1);
        let prev = text.get(prev_start..end).unwrap_or("").as_bytes();
        let is_comment = prev.len() > indent
            && prev[..indent].iter().all(|b| *b == b' ')
            && prev[indent] == b'#';
        if !is_comment {
            break;
        }
        line -= 1;
        start = prev_start;
    }
    Pos { line, col: at.col }
}

/// Whether a mapping or sequence is written in flow style (`{...}`, `[...]`).
pub fn is_flow(file: &SourceFile, node: &Node) -> bool {
    file.snippet(Span::new(node.span.start, node.span.end))
        .starts_with(['{', '['])
}

/// What applying fixes did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FixOutcome {
    /// Files rewritten.
    pub files: usize,
    /// Edits applied.
    pub edits: usize,
    /// Fixes left unapplied because the edited file would not re-parse to the same documents
    /// with only the intended change.
    pub refused: usize,
}

/// Apply every machine-applicable fix of `findings` to its file. Overlapping edits are skipped
/// (a second `--fix` run picks them up); a fix whose result does not re-parse to the intended
/// documents is refused. Files are replaced atomically (write + rename).
pub fn apply_fixes(findings: &[Finding]) -> std::io::Result<FixOutcome> {
    let mut outcome = FixOutcome::default();
    for (path, (file, fixes)) in fixes_by_file(findings) {
        let (text, applied, refused) = fixed_text(file, &fixes);
        outcome.refused += refused;
        if applied == 0 {
            continue;
        }
        write_atomically(Path::new(path), &text)?;
        outcome.files += 1;
        outcome.edits += applied;
    }
    Ok(outcome)
}

fn fixes_by_file(findings: &[Finding]) -> BTreeMap<&str, (&SourceFile, Vec<&Fix>)> {
    let mut by_file: BTreeMap<&str, (&SourceFile, Vec<&Fix>)> = BTreeMap::new();
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
            .push(fix);
    }
    by_file
}

/// The text of `file` with the fixes that keep its documents intact applied: all together when
/// they are, else each fix is checked alone, then the accepted ones together. Returns the text,
/// the number of edits applied and the number of fixes refused.
pub fn fixed_text(file: &SourceFile, fixes: &[&Fix]) -> (String, usize, usize) {
    let before = reparse(&file.path, file.text.clone());
    // Usually every fix is sound: one check of them all together, instead of one re-parse of
    // the file per fix (quadratic for a file with many findings).
    let all: Vec<&Edit> = fixes.iter().flat_map(|f| f.edits.iter()).collect();
    let (text, applied) = apply_edits(file, &all);
    if !applied.is_empty() && keeps_documents(&before, &text, &applied) {
        return (text, applied.len(), 0);
    }
    let accepted: Vec<&Fix> = fixes
        .iter()
        .copied()
        .filter(|fix| {
            let edits: Vec<&Edit> = fix.edits.iter().collect();
            let (text, applied) = apply_edits(file, &edits);
            applied.len() == edits.len() && keeps_documents(&before, &text, &applied)
        })
        .collect();
    let refused = fixes.len() - accepted.len();
    let edits: Vec<&Edit> = accepted.iter().flat_map(|f| f.edits.iter()).collect();
    let (text, applied) = apply_edits(file, &edits);
    if applied.is_empty() || !keeps_documents(&before, &text, &applied) {
        return (file.text.clone(), 0, fixes.len());
    }
    (text, applied.len(), refused)
}

/// The file's text with `edits` applied (non-overlapping ones, in order), and the edits applied.
pub fn apply_edits<'e>(file: &SourceFile, edits: &[&'e Edit]) -> (String, Vec<&'e Edit>) {
    let mut ranges: Vec<(std::ops::Range<usize>, &Edit)> = edits
        .iter()
        .map(|e| (file.byte_range(e.span), *e))
        .collect();
    ranges.sort_by_key(|(r, _)| (r.start, r.end));
    ranges.dedup_by(|a, b| a.0 == b.0 && a.1.replacement == b.1.replacement);
    let mut out = String::with_capacity(file.text.len());
    let mut cursor = 0;
    let mut applied = Vec::new();
    let mut last_insert: Option<usize> = None;
    for (range, edit) in ranges {
        // Two insertions at one point would both land there, in an order no fix chose (two
        // entries added to one mapping): the second waits for the next round.
        if range.is_empty() && last_insert == Some(range.start) {
            continue;
        }
        let Some(kept) = file.text.get(cursor..range.start) else {
            continue;
        };
        if range.is_empty() {
            last_insert = Some(range.start);
        }
        out.push_str(kept);
        out.push_str(&edit.replacement);
        cursor = range.end;
        applied.push(edit);
    }
    out.push_str(file.text.get(cursor..).unwrap_or(""));
    (out, applied)
}

fn reparse(path: &str, text: String) -> ParsedFile {
    parse_file(Arc::new(SourceFile::new(path, text)), &Limits::default())
}

/// Whether `text` parses to the documents of `before` changed by exactly the intents of `edits`.
fn keeps_documents(before: &ParsedFile, text: &str, edits: &[&Edit]) -> bool {
    let after = reparse(&before.source.path, text.to_string());
    let intents: Vec<&Intent> = edits.iter().map(|e| &e.intent).collect();
    before.error.is_some() == after.error.is_some()
        && before.documents.len() == after.documents.len()
        && before
            .documents
            .iter()
            .zip(&after.documents)
            .all(|(b, a)| same_except(&b.root, &a.root, &intents))
}

/// `after` equals `before` but for the intents (matched by their position in `before`).
fn same_except(before: &Node, after: &Node, intents: &[&Intent]) -> bool {
    match (&before.value, &after.value) {
        (Value::Scalar(b), Value::Scalar(a)) => {
            let target = intents.iter().find_map(|i| match i {
                Intent::SetScalar { at, value } if *at == before.span.start => Some(value),
                _ => None,
            });
            match target {
                Some(value) => a.text == *value && a.is_string(),
                None => {
                    a.text == b.text && a.is_string() == b.is_string() && a.is_null() == b.is_null()
                }
            }
        }
        (Value::Seq(b), Value::Seq(a)) => {
            b.len() == a.len() && b.iter().zip(a).all(|(b, a)| same_except(b, a, intents))
        }
        (Value::Map(b), Value::Map(a)) => {
            let inserted = intents.iter().find_map(|i| match i {
                Intent::InsertEntry { at, key } if *at == before.span.start => Some(key),
                _ => None,
            });
            let mut a: Vec<&(Node, Node)> = a.iter().collect();
            if let Some(key) = inserted {
                let is_new = |(k, _): &&(Node, Node)| k.as_str() == Some(key.as_str());
                if b.iter().any(|e| is_new(&e)) {
                    return false;
                }
                let Some(i) = a.iter().position(is_new) else {
                    return false;
                };
                a.remove(i);
            }
            b.len() == a.len()
                && b.iter().zip(a).all(|((bk, bv), (ak, av))| {
                    same_except(bk, ak, intents) && same_except(bv, av, intents)
                })
        }
        _ => false,
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> SourceFile {
        SourceFile::new("t.yaml", text)
    }

    fn fix(edits: Vec<Edit>) -> Fix {
        Fix {
            message: String::new(),
            applicability: Applicability::MachineApplicable,
            edits,
        }
    }

    fn node_at<'n>(root: &'n Node, key: &str) -> &'n Node {
        root.get(key)
            .unwrap_or_else(|| panic!("no key {key} in the test document"))
    }

    #[test]
    fn an_edit_that_would_change_another_node_is_refused() {
        let src = file("a: x\nb: y\n");
        let parsed = reparse("t.yaml", src.text.clone());
        let a = node_at(&parsed.documents[0].root, "a");
        // Says it sets `a` to "x\nb: z" but would change `b`: refused.
        let bad = replace_scalar(a, "x\nb: z");
        let (text, applied, refused) = fixed_text(&src, &[&fix(vec![bad])]);
        assert_eq!((text.as_str(), applied, refused), ("a: x\nb: y\n", 0, 1));
        let good = replace_scalar(a, "z");
        let (text, applied, refused) = fixed_text(&src, &[&fix(vec![good])]);
        assert_eq!((text.as_str(), applied, refused), ("a: z\nb: y\n", 1, 0));
    }

    #[test]
    fn an_inserted_entry_must_be_the_only_change() {
        let src = file("m:\n  a: 1\n");
        let parsed = reparse("t.yaml", src.text.clone());
        let m = node_at(&parsed.documents[0].root, "m");
        let edit = insert_entry(&src, m, &["k: v".into()]);
        let edit = edit.unwrap_or_else(|| panic!("a block mapping takes an entry"));
        let (text, applied, _) = fixed_text(&src, &[&fix(vec![edit.clone()])]);
        assert_eq!((text.as_str(), applied), ("m:\n  k: v\n  a: 1\n", 1));
        let wrong_key = Edit {
            intent: Intent::InsertEntry {
                at: m.span.start,
                key: "other".into(),
            },
            ..edit
        };
        let (_, applied, refused) = fixed_text(&src, &[&fix(vec![wrong_key])]);
        assert_eq!((applied, refused), (0, 1));
    }
}
