//! Building the node tree from saphyr-parser's events, with limits on depth, alias expansion and size.

use std::collections::HashMap;
use std::sync::Arc;

use compact_str::CompactString;
use saphyr_parser::{Event, Marker, Parser, ScalarStyle};

use crate::node::{Document, Node, Scalar, Style, Tag, Value};
use crate::source::{Pos, SourceFile, Span};

/// Bounds on what one file may cost to load.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest file accepted, in bytes.
    pub max_bytes: usize,
    /// Deepest nesting of mappings and sequences.
    pub max_depth: usize,
    /// Most nodes that aliases may copy into one file's documents (stops "billion laughs").
    pub max_alias_nodes: usize,
    /// Most bytes read over all the files of one run; files past it are not loaded (and
    /// reported), so memory stays bounded however many files a run is given.
    pub max_total_bytes: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_bytes: 64 * 1024 * 1024,
            max_depth: 200,
            max_alias_nodes: 100_000,
            max_total_bytes: 1024 * 1024 * 1024,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum YamlErrorKind {
    /// The text is not well-formed YAML.
    Syntax,
    /// Nesting deeper than [`Limits::max_depth`].
    TooDeep,
    /// Aliases expand to more than [`Limits::max_alias_nodes`] nodes.
    AliasBudget,
    /// The file is larger than [`Limits::max_bytes`].
    TooLarge,
    /// The bytes are not UTF-8.
    Encoding,
    /// A mapping repeats a key (a warning: loading goes on, the first occurrence is read).
    DuplicateKey,
}

/// Why a file (from some document on) could not be loaded, and where.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct YamlError {
    pub kind: YamlErrorKind,
    pub message: String,
    pub pos: Pos,
}

/// A loaded file: the documents that loaded, and the error that stopped loading, if any.
/// Documents before an error are kept, so one bad document does not hide the others' findings.
#[derive(Debug)]
pub struct ParsedFile {
    pub source: Arc<SourceFile>,
    pub documents: Vec<Document>,
    pub error: Option<YamlError>,
    /// Problems that did not stop loading (duplicate mapping keys), in file order.
    pub warnings: Vec<YamlError>,
}

/// Parse every document of a file within `limits`.
pub fn parse_file(source: Arc<SourceFile>, limits: &Limits) -> ParsedFile {
    if source.text.len() > limits.max_bytes {
        let error = YamlError {
            kind: YamlErrorKind::TooLarge,
            message: format!(
                "file is {} bytes, larger than the limit of {} bytes",
                source.text.len(),
                limits.max_bytes
            ),
            pos: Pos { line: 1, col: 1 },
        };
        return ParsedFile {
            source,
            documents: Vec::new(),
            error: Some(error),
            warnings: Vec::new(),
        };
    }
    if let Some(pos) = source.invalid_utf8 {
        return ParsedFile {
            source,
            documents: Vec::new(),
            error: Some(YamlError {
                kind: YamlErrorKind::Encoding,
                message: "file is not valid UTF-8".into(),
                pos,
            }),
            warnings: Vec::new(),
        };
    }
    if let Some((documents, warnings)) = crate::fast::parse(&source, limits) {
        return ParsedFile {
            source,
            documents,
            error: None,
            warnings,
        };
    }
    saphyr(source, limits)
}

/// [`parse_file`] with saphyr-parser only (no fast path): what the fast path must agree with.
#[doc(hidden)]
pub fn parse_file_saphyr(source: Arc<SourceFile>, limits: &Limits) -> ParsedFile {
    if source.text.len() > limits.max_bytes || source.invalid_utf8.is_some() {
        return parse_file(source, limits);
    }
    saphyr(source, limits)
}

/// [`parse_file`]'s fast path alone: `None` where it declines (and saphyr-parser would be used).
#[doc(hidden)]
pub fn parse_file_fast(source: Arc<SourceFile>, limits: &Limits) -> Option<ParsedFile> {
    if source.text.len() > limits.max_bytes || source.invalid_utf8.is_some() {
        return None;
    }
    let (documents, warnings) = crate::fast::parse(&source, limits)?;
    Some(ParsedFile {
        source,
        documents,
        error: None,
        warnings,
    })
}

fn saphyr(source: Arc<SourceFile>, limits: &Limits) -> ParsedFile {
    let mut builder = TreeBuilder::new(limits, &source);
    let text = source.text.strip_prefix('\u{feff}').unwrap_or(&source.text);
    let mut parser = Parser::new_from_str(text);
    let error = loop {
        match parser.next_event() {
            None => break None,
            Some(Ok((event, span))) => {
                if let Err(e) = builder.event(event, span) {
                    break Some(e);
                }
            }
            Some(Err(e)) => {
                break Some(YamlError {
                    kind: YamlErrorKind::Syntax,
                    message: e.info().to_string(),
                    pos: pos(*e.marker()),
                });
            }
        }
    };
    let (documents, warnings) = builder.into_parts();
    ParsedFile {
        source,
        documents,
        error,
        warnings,
    }
}

fn pos(m: Marker) -> Pos {
    Pos {
        line: u32::try_from(m.line()).unwrap_or(u32::MAX),
        col: u32::try_from(m.col() + 1).unwrap_or(u32::MAX),
    }
}

fn span(s: saphyr_parser::Span) -> Span {
    Span::new(pos(s.start), pos(s.end))
}

/// An open sequence or mapping. Its children wait on the builder's shared stacks from `first`
/// on, and move into a vector of the exact size when it closes (no growth, no spare capacity).
enum Frame {
    Seq {
        start: Pos,
        anchor: usize,
        first: usize,
    },
    Map {
        start: Pos,
        anchor: usize,
        first: usize,
        key: Option<Node>,
    },
}

/// A builder's working stacks, kept between the files a thread parses.
#[derive(Default)]
struct Scratch {
    stack: Vec<Frame>,
    items: Vec<Node>,
    entries: Vec<(Node, Node)>,
    documents: Vec<Document>,
}

/// Most elements of a stack kept in [`Scratch`].
const SCRATCH_KEEP: usize = 4096;

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

pub(crate) struct TreeBuilder<'l> {
    limits: &'l Limits,
    source: &'l SourceFile,
    stack: Vec<Frame>,
    /// Finished items of the open sequences.
    items: Vec<Node>,
    /// Finished entries of the open mappings.
    entries: Vec<(Node, Node)>,
    anchors: HashMap<usize, (Node, usize)>,
    alias_nodes: usize,
    root: Option<Node>,
    documents: Vec<Document>,
    warnings: Vec<YamlError>,
}

impl<'l> TreeBuilder<'l> {
    /// A builder whose working stacks are this thread's [`Scratch`]: a run of many small files
    /// allocates nothing per file but its tree, which keeps the trees dense in memory (the rules
    /// read them many times over).
    pub(crate) fn new(limits: &'l Limits, source: &'l SourceFile) -> Self {
        let scratch = SCRATCH.with(|s| std::mem::take(&mut *s.borrow_mut()));
        TreeBuilder {
            limits,
            source,
            stack: scratch.stack,
            items: scratch.items,
            entries: scratch.entries,
            anchors: HashMap::new(),
            alias_nodes: 0,
            root: None,
            documents: scratch.documents,
            warnings: Vec::new(),
        }
    }

    fn event(&mut self, event: Event<'_>, at: saphyr_parser::Span) -> Result<(), YamlError> {
        let at = span(at);
        match event {
            Event::Nothing | Event::StreamStart | Event::StreamEnd => {}
            Event::DocumentStart(_) => self.document_start(),
            Event::DocumentEnd => self.document_end(at),
            Event::Scalar(text, style, anchor, tag) => {
                let style = match style {
                    ScalarStyle::Plain => Style::Plain,
                    ScalarStyle::SingleQuoted => Style::SingleQuoted,
                    ScalarStyle::DoubleQuoted => Style::DoubleQuoted,
                    ScalarStyle::Literal => Style::Literal,
                    ScalarStyle::Folded => Style::Folded,
                };
                let node = Node {
                    span: scalar_span(self.source, at, style),
                    value: Value::Scalar(Scalar {
                        text: CompactString::from(text.as_ref()),
                        style,
                        tag: tag.map_or(Tag::None, |t| {
                            Tag::from_full(&format!("{}{}", t.handle, t.suffix))
                        }),
                    }),
                };
                self.finish(node, anchor, 1);
            }
            Event::Alias(id) => {
                let Some((node, count)) = self.anchors.get(&id) else {
                    return Err(YamlError {
                        kind: YamlErrorKind::Syntax,
                        message: "alias refers to an unknown anchor".into(),
                        pos: at.start,
                    });
                };
                self.alias_nodes = self.alias_nodes.saturating_add(*count);
                if self.alias_nodes > self.limits.max_alias_nodes {
                    return Err(YamlError {
                        kind: YamlErrorKind::AliasBudget,
                        message: format!(
                            "aliases expand to more than {} nodes (an alias bomb?)",
                            self.limits.max_alias_nodes
                        ),
                        pos: at.start,
                    });
                }
                let mut copy = node.clone();
                copy.span = at;
                let count = *count;
                self.finish(copy, 0, count);
            }
            Event::SequenceStart(anchor, _) => self.sequence_start(at.start, anchor)?,
            Event::MappingStart(anchor, _) => self.mapping_start(at.start, anchor)?,
            Event::SequenceEnd | Event::MappingEnd => self.collection_end(at.end),
        }
        Ok(())
    }

    /// The documents (in a vector of their exact size) and warnings; the working stacks go back
    /// to this thread's [`Scratch`].
    pub(crate) fn into_parts(self) -> (Vec<Document>, Vec<YamlError>) {
        let TreeBuilder {
            mut stack,
            mut items,
            mut entries,
            mut documents,
            warnings,
            ..
        } = self;
        let mut exact = Vec::with_capacity(documents.len());
        exact.append(&mut documents);
        stack.clear();
        items.clear();
        entries.clear();
        // A huge file's stacks are not kept for the next one.
        if documents.capacity() <= SCRATCH_KEEP
            && items.capacity() <= SCRATCH_KEEP
            && entries.capacity() <= SCRATCH_KEEP
        {
            SCRATCH.with(|s| {
                *s.borrow_mut() = Scratch {
                    stack,
                    items,
                    entries,
                    documents,
                }
            });
        }
        (exact, warnings)
    }

    pub(crate) fn document_start(&mut self) {
        self.root = None;
        self.stack.clear();
        self.items.clear();
        self.entries.clear();
    }

    /// `at`: where the document ended (the root of an empty document is a null there).
    pub(crate) fn document_end(&mut self, at: Span) {
        let root = self.root.take().unwrap_or_else(|| Node::null(at));
        // An empty document still takes a place, so indices match `---` separators.
        let index = self.documents.len();
        self.documents.push(Document { index, root });
    }

    /// A scalar without anchor or tag whose span is already the scalar's own text.
    pub(crate) fn plain_scalar(&mut self, text: &str, style: Style, span: Span) {
        let node = Node {
            span,
            value: Value::Scalar(Scalar {
                text: CompactString::from(text),
                style,
                tag: Tag::None,
            }),
        };
        self.finish(node, 0, 1);
    }

    pub(crate) fn sequence_start(&mut self, start: Pos, anchor: usize) -> Result<(), YamlError> {
        self.check_depth(start)?;
        self.stack.push(Frame::Seq {
            start,
            anchor,
            first: self.items.len(),
        });
        Ok(())
    }

    pub(crate) fn mapping_start(&mut self, start: Pos, anchor: usize) -> Result<(), YamlError> {
        self.check_depth(start)?;
        self.stack.push(Frame::Map {
            start,
            anchor,
            first: self.entries.len(),
            key: None,
        });
        Ok(())
    }

    /// Close the innermost open sequence or mapping; its span ends at `end`.
    pub(crate) fn collection_end(&mut self, end: Pos) {
        let Some(frame) = self.stack.pop() else {
            return;
        };
        let (node, anchor) = match frame {
            Frame::Seq {
                start,
                anchor,
                first,
            } => {
                let items: Vec<Node> = self.items.drain(first..).collect();
                (
                    Node {
                        span: Span::new(start, end),
                        value: Value::Seq(items),
                    },
                    anchor,
                )
            }
            Frame::Map {
                start,
                anchor,
                first,
                ..
            } => {
                let entries: Vec<(Node, Node)> = self.entries.drain(first..).collect();
                (
                    Node {
                        span: Span::new(start, end),
                        value: Value::Map(apply_merge_keys(self.check_keys(entries))),
                    },
                    anchor,
                )
            }
        };
        let count = if anchor > 0 { node.count_nodes() } else { 0 };
        self.finish(node, anchor, count);
    }

    /// Record a warning for each key a mapping repeats (Kubernetes refuses such a document).
    fn check_keys(&mut self, entries: Vec<(Node, Node)>) -> Vec<(Node, Node)> {
        fn key(n: &Node) -> Option<&str> {
            n.scalar().map(|s| s.text.as_str()).filter(|k| *k != "<<")
        }
        let repeated: Vec<(usize, usize)> = if entries.len() <= 16 {
            (1..entries.len())
                .filter_map(|i| {
                    let k = key(&entries[i].0)?;
                    (0..i)
                        .find(|&j| key(&entries[j].0) == Some(k))
                        .map(|j| (j, i))
                })
                .collect()
        } else {
            let mut first: HashMap<&str, usize> = HashMap::with_capacity(entries.len());
            (0..entries.len())
                .filter_map(|i| {
                    let k = key(&entries[i].0)?;
                    match first.get(k) {
                        Some(&j) => Some((j, i)),
                        None => {
                            first.insert(k, i);
                            None
                        }
                    }
                })
                .collect()
        };
        for (j, i) in repeated {
            let (first, again) = (&entries[j].0, &entries[i].0);
            self.warnings.push(YamlError {
                kind: YamlErrorKind::DuplicateKey,
                message: format!(
                    "duplicate key {:?} (first at line {}); Kubernetes refuses the document",
                    again.scalar().map_or("", |s| s.text.as_str()),
                    first.span.start.line
                ),
                pos: again.span.start,
            });
        }
        entries
    }

    fn check_depth(&self, at: Pos) -> Result<(), YamlError> {
        if self.stack.len() >= self.limits.max_depth {
            return Err(YamlError {
                kind: YamlErrorKind::TooDeep,
                message: format!(
                    "nesting is deeper than the limit of {} levels",
                    self.limits.max_depth
                ),
                pos: at,
            });
        }
        Ok(())
    }

    /// Attach a finished node to its parent (or make it the document root) and record its anchor.
    fn finish(&mut self, node: Node, anchor: usize, count: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, (node.clone(), count.max(1)));
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq { .. }) => self.items.push(node),
            Some(Frame::Map { key, .. }) => match key.take() {
                None => *key = Some(node),
                Some(k) => self.entries.push((k, node)),
            },
        }
    }
}

/// The span of a scalar's own text. The parser's span of a quoted scalar runs on over a comment
/// after it, and a block scalar's over the blank lines up to the next token (a following `---`
/// included): edits and underlines must cover the scalar and nothing else.
fn scalar_span(source: &SourceFile, at: Span, style: Style) -> Span {
    let end = match style {
        Style::Plain => return at,
        Style::SingleQuoted => quoted_end(source, at.start, b'\''),
        Style::DoubleQuoted => quoted_end(source, at.start, b'"'),
        Style::Literal | Style::Folded => {
            let from = source.offset(at.start);
            let content = source.snippet(at).trim_end();
            Some(pos_after(source, at.start, from, from + content.len()))
        }
    };
    match end {
        Some(end) if end <= at.end || at.end < at.start => Span::new(at.start, end),
        _ => at,
    }
}

/// Where a quoted scalar starting at `start` ends: just after its closing quote.
fn quoted_end(source: &SourceFile, start: Pos, quote: u8) -> Option<Pos> {
    let from = source.offset(start);
    let bytes = source.text.as_bytes().get(from..)?;
    if bytes.first() != Some(&quote) {
        return None;
    }
    let mut i = 1;
    while let Some(&b) = bytes.get(i) {
        if quote == b'"' && b == b'\\' {
            i += 2;
            continue;
        }
        if b == quote {
            if quote == b'\'' && bytes.get(i + 1) == Some(&b'\'') {
                i += 2;
                continue;
            }
            return Some(pos_after(source, start, from, from + i + 1));
        }
        i += 1;
    }
    None
}

/// The position of byte offset `to`, counting from `start` at byte offset `from`.
fn pos_after(source: &SourceFile, start: Pos, from: usize, to: usize) -> Pos {
    let Some(text) = source.text.get(from..to) else {
        return start;
    };
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    match text.rfind('\n') {
        None => Pos {
            line: start.line,
            col: start.col.saturating_add(count(text.chars().count())),
        },
        Some(last) => Pos {
            line: start.line.saturating_add(count(text.matches('\n').count())),
            col: count(text[last + 1..].chars().count()).saturating_add(1),
        },
    }
}

/// Resolve YAML merge keys (`<<: *base` or `<<: [*a, *b]`), which Kubernetes' YAML reader honours:
/// keys written in the mapping win over merged ones, earlier merged mappings over later ones.
fn apply_merge_keys(entries: Vec<(Node, Node)>) -> Vec<(Node, Node)> {
    let is_merge = |k: &Node| matches!(&k.value, Value::Scalar(s) if s.style == Style::Plain && s.text == "<<");
    if !entries.iter().any(|(k, _)| is_merge(k)) {
        return entries;
    }
    let mut own = Vec::with_capacity(entries.len());
    let mut merged: Vec<(Node, Node)> = Vec::new();
    for (k, v) in entries {
        if !is_merge(&k) {
            own.push((k, v));
            continue;
        }
        let sources: Vec<Node> = match v.value {
            Value::Map(_) => vec![v],
            Value::Seq(items) => items,
            Value::Scalar(_) => vec![],
        };
        for source in sources {
            if let Value::Map(src_entries) = source.value {
                merged.extend(src_entries);
            }
        }
    }
    let key_text = |k: &Node| k.scalar().map(|s| s.text.clone());
    let mut seen: std::collections::HashSet<CompactString> =
        own.iter().filter_map(|(k, _)| key_text(k)).collect();
    for (k, v) in merged {
        if let Some(text) = key_text(&k)
            && seen.insert(text)
        {
            own.push((k, v));
        }
    }
    own
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> ParsedFile {
        parse_file(
            Arc::new(SourceFile::new("t.yaml", text)),
            &Limits::default(),
        )
    }

    #[test]
    fn every_document_of_a_stream_is_kept_with_positions() {
        let f = parse("a: 1\n---\nkind: Service\nmetadata:\n  name: x\n");
        assert!(f.error.is_none());
        assert_eq!(f.documents.len(), 2);
        let name = f.documents[1].root.path(&["metadata", "name"]);
        let name = name.map(|n| (n.as_str(), n.span.start));
        assert_eq!(name, Some((Some("x"), Pos { line: 5, col: 9 })));
    }

    #[test]
    fn syntax_error_keeps_earlier_documents_and_reports_the_position() {
        let f = parse("a: 1\n---\nb: [1, 2\n");
        assert_eq!(f.documents.len(), 1);
        let err = f.error.as_ref().map(|e| (e.kind, e.pos.line));
        assert_eq!(err.map(|e| e.0), Some(YamlErrorKind::Syntax));
        assert!(err.is_some_and(|e| e.1 >= 3));
    }

    #[test]
    fn alias_bomb_is_stopped_by_the_budget() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let f = parse(&text);
        assert_eq!(f.error.map(|e| e.kind), Some(YamlErrorKind::AliasBudget));
    }

    #[test]
    fn deep_nesting_is_refused_without_overflowing_the_stack() {
        let flow = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse(&flow).error.is_some());
        let mut block = String::new();
        for depth in 0..300 {
            block.push_str(&" ".repeat(depth));
            block.push_str("k:\n");
        }
        let f = parse(&block);
        assert_eq!(f.error.map(|e| e.kind), Some(YamlErrorKind::TooDeep));
        let shallow = "a:\n  b:\n    c: 1\n";
        assert!(parse(shallow).error.is_none());
    }

    #[test]
    fn merge_keys_are_resolved_with_own_keys_winning() {
        let f = parse("base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\n");
        let m = f.documents[0].root.get("m");
        assert_eq!(m.and_then(|m| m.get("x")).and_then(Node::as_i64), Some(1));
        assert_eq!(m.and_then(|m| m.get("y")).and_then(Node::as_i64), Some(3));
    }

    #[test]
    fn scalar_spans_end_with_the_scalar_not_at_the_next_token() {
        let f = parse("a: \"q\" # c\nb: 'it''s'  # d\nc: >-\n  orders\n\n---\nd: plain # e\n");
        let at = |doc: usize, key: &str| {
            let node = f.documents[doc].root.get(key);
            node.map(|n| (n.span.start, n.span.end))
        };
        let p = |line, col| Pos { line, col };
        assert_eq!(at(0, "a"), Some((p(1, 4), p(1, 7))));
        assert_eq!(at(0, "b"), Some((p(2, 4), p(2, 11))));
        assert_eq!(at(0, "c"), Some((p(4, 3), p(4, 9))));
        assert_eq!(at(1, "d"), Some((p(7, 4), p(7, 9))));
    }

    #[test]
    fn duplicate_keys_are_warnings_and_the_first_value_is_read() {
        let f = parse("a: 1\nb: 2\na: 3\n");
        assert!(f.error.is_none());
        let w: Vec<_> = f.warnings.iter().map(|w| (w.kind, w.pos.line)).collect();
        assert_eq!(w, vec![(YamlErrorKind::DuplicateKey, 3)]);
        assert_eq!(f.documents[0].root.get("a").and_then(Node::as_i64), Some(1));
        let big: String = (0..40).map(|i| format!("k{i}: 1\n")).collect::<String>() + "k7: 2\n";
        assert_eq!(parse(&big).warnings.len(), 1);
        assert!(parse("<<: {a: 1}\n<<: {b: 1}\nc: 1\n").warnings.is_empty());
    }

    #[test]
    fn invalid_utf8_is_reported_at_its_position() {
        let src = SourceFile::from_bytes("t", b"a: 1\nb: \xff\n".to_vec());
        let f = parse_file(Arc::new(src), &Limits::default());
        let err = f.error.map(|e| (e.kind, e.pos));
        assert_eq!(
            err,
            Some((YamlErrorKind::Encoding, Pos { line: 2, col: 4 }))
        );
    }

    #[test]
    fn oversized_file_is_refused_before_parsing() {
        let limits = Limits {
            max_bytes: 4,
            ..Limits::default()
        };
        let f = parse_file(Arc::new(SourceFile::new("t", "a: 12345")), &limits);
        assert_eq!(f.error.map(|e| e.kind), Some(YamlErrorKind::TooLarge));
    }
}
