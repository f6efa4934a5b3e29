//! A fast front end for the YAML that manifests are written in: block mappings and sequences,
//! single-line plain and quoted scalars, single-line flow collections, comments and `---`
//! separators, all in printable ASCII. It feeds the same [`TreeBuilder`] as saphyr-parser's events
//! (so limits, duplicate keys and merge keys behave the same) with the spans saphyr-parser gives.
//!
//! It declines, and [`crate::parse_file`] parses the whole file again with saphyr-parser, at
//! anything outside that subset: anchors, aliases, tags, block scalars, multi-line scalars,
//! escapes, empty values, complex keys, tabs, carriage returns, non-ASCII text, odd indentation,
//! and at any error (the error is then saphyr-parser's, with its message and position). The
//! differential tests (`tests/fast_path.rs`) hold it to saphyr-parser's trees, spans, warnings.

use crate::load::{Limits, TreeBuilder, YamlError};
use crate::node::{Document, Style};
use crate::source::{Pos, SourceFile, Span};

/// The input left the subset: parse it with saphyr-parser instead.
struct Decline;

type R<T = ()> = Result<T, Decline>;

/// Keys longer than this are left to saphyr-parser (YAML limits implicit keys to 1024 characters).
const MAX_KEY: usize = 1000;

/// Deeper nesting is left to saphyr-parser (and the builder's depth limit): the fast path recurses,
/// and this bounds its stack whatever [`Limits::max_depth`] says.
const MAX_NESTING: usize = 256;

/// The documents and warnings of `source`, or `None` where the fast path declines.
pub(crate) fn parse(
    source: &SourceFile,
    limits: &Limits,
) -> Option<(Vec<Document>, Vec<YamlError>)> {
    let text = source.text.as_str();
    if !text
        .bytes()
        .all(|c| (0x20..0x7f).contains(&c) || c == b'\n')
    {
        return None;
    }
    let mut builder = TreeBuilder::new(limits, source);
    let mut fast = Fast {
        text,
        b: text.as_bytes(),
        i: 0,
        line: 1,
        ls: 0,
        depth: 0,
        builder: &mut builder,
    };
    let taken = fast.stream().is_ok();
    let parts = builder.into_parts();
    taken.then_some(parts)
}

struct Fast<'a, 'b, 'l> {
    text: &'a str,
    b: &'a [u8],
    /// The byte being read.
    i: usize,
    /// The 1-based line of `i`, and the byte offset where that line starts.
    line: u32,
    ls: usize,
    /// Open collections, bounded by [`MAX_NESTING`].
    depth: usize,
    builder: &'b mut TreeBuilder<'l>,
}

fn u32_of(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A first character that makes a plain scalar (no indicator, nothing special).
fn plain_start(c: u8, next: u8) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(c, b'.' | b'/' | b'_' | b'~' | b'$' | b'(')
        || (matches!(c, b'-' | b'+') && (next.is_ascii_alphanumeric() || next == b'.'))
}

fn key_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'/' | b'-' | b'+' | b'@' | b'~')
}

/// Characters of a plain scalar inside a flow collection.
fn flow_char(c: u8) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            b'_' | b'.' | b'/' | b'-' | b'+' | b'@' | b'~' | b'$' | b'%' | b'=' | b'(' | b')'
        )
}

impl Fast<'_, '_, '_> {
    /// The byte at `j`; 0 past the end (0 is not in the accepted text).
    #[inline]
    fn at(&self, j: usize) -> u8 {
        self.b.get(j).copied().unwrap_or(0)
    }

    #[inline]
    fn eof(&self) -> bool {
        self.i >= self.b.len()
    }

    #[inline]
    fn col(&self) -> usize {
        self.i - self.ls
    }

    #[inline]
    fn pos_of(&self, j: usize) -> Pos {
        Pos {
            line: self.line,
            col: u32_of(j - self.ls + 1),
        }
    }

    #[inline]
    fn pos(&self) -> Pos {
        self.pos_of(self.i)
    }

    /// Where saphyr-parser puts the end of the stream: the start of the line after the last one
    /// (as if the text ended with a line break).
    fn here_or_eof(&self) -> Pos {
        if !self.eof() {
            return self.pos();
        }
        let line = if self.ls >= self.b.len() {
            self.line
        } else {
            self.line.saturating_add(1)
        };
        Pos { line, col: 1 }
    }

    fn newline(&mut self) {
        self.i += 1;
        self.line = self.line.saturating_add(1);
        self.ls = self.i;
    }

    fn skip_spaces(&mut self) -> usize {
        let from = self.i;
        while self.at(self.i) == b' ' {
            self.i += 1;
        }
        self.i - from
    }

    fn skip_to_line_end(&mut self) {
        self.i = match self
            .b
            .get(self.i..)
            .and_then(|r| r.iter().position(|&c| c == b'\n'))
        {
            Some(n) => self.i + n,
            None => self.b.len(),
        };
    }

    /// After a value: spaces, an optional comment, then the line break (or the end).
    fn end_of_line(&mut self) -> R {
        let spaces = self.skip_spaces();
        match self.at(self.i) {
            0 => Ok(()),
            b'\n' => {
                self.newline();
                Ok(())
            }
            b'#' if spaces > 0 => {
                self.skip_to_line_end();
                if self.at(self.i) == b'\n' {
                    self.newline();
                }
                Ok(())
            }
            _ => Err(Decline),
        }
    }

    /// From a line start: skip blank and comment lines, stopping at the next content (its
    /// indentation is then [`Fast::col`]) or the end.
    fn skip_blank_lines(&mut self) {
        loop {
            self.skip_spaces();
            match self.at(self.i) {
                b'\n' => self.newline(),
                b'#' => {
                    self.skip_to_line_end();
                    if self.at(self.i) == b'\n' {
                        self.newline();
                    } else {
                        return;
                    }
                }
                _ => return,
            }
        }
    }

    /// `---` or `...` (`c`) at the start of a line, followed by a space, a line break or the end.
    fn doc_marker(&self, c: u8) -> bool {
        self.col() == 0
            && self.at(self.i) == c
            && self.at(self.i + 1) == c
            && self.at(self.i + 2) == c
            && matches!(self.at(self.i + 3), b' ' | b'\n' | 0)
    }

    fn stream(&mut self) -> R {
        loop {
            self.skip_blank_lines();
            if self.eof() {
                return Ok(());
            }
            let explicit = self.doc_marker(b'-');
            if explicit {
                self.i += 3;
                match self.at(self.i) {
                    0 => {}
                    b'\n' => self.newline(),
                    _ => return Err(Decline),
                }
                self.skip_blank_lines();
            }
            if self.col() != 0 || self.doc_marker(b'.') {
                return Err(Decline);
            }
            self.builder.document_start();
            if self.eof() || self.doc_marker(b'-') {
                if !explicit {
                    return Err(Decline);
                }
                // saphyr-parser spans the null with the next `---`, or the end.
                let at = if self.eof() {
                    Span::point(self.here_or_eof())
                } else {
                    Span::new(self.pos(), self.pos_of(self.i + 3))
                };
                self.builder.plain_scalar("", Style::Plain, at);
                self.builder.document_end(at);
                continue;
            }
            self.block_mapping(0)?;
            if !(self.eof() || self.doc_marker(b'-')) {
                return Err(Decline);
            }
            self.builder.document_end(Span::point(self.here_or_eof()));
        }
    }

    fn scalar(&mut self, from: usize, to: usize, style: Style, span: Span) -> R {
        let text = self.text.get(from..to).ok_or(Decline)?;
        self.builder.plain_scalar(text, style, span);
        Ok(())
    }

    /// A block mapping whose keys are at column `n`; `i` is at its first key. Returns at the
    /// next content after it (or the end), having closed it there.
    fn block_mapping(&mut self, n: usize) -> R {
        self.nest(|p| p.block_mapping_in(n))
    }

    /// Run `f` one collection deeper, declining past [`MAX_NESTING`].
    fn nest(&mut self, f: impl FnOnce(&mut Self) -> R) -> R {
        if self.depth >= MAX_NESTING {
            return Err(Decline);
        }
        self.depth += 1;
        let result = f(self);
        self.depth -= 1;
        result
    }

    fn block_mapping_in(&mut self, n: usize) -> R {
        self.builder
            .mapping_start(self.pos(), 0)
            .map_err(|_| Decline)?;
        loop {
            self.key()?;
            let spaces = self.skip_spaces();
            let c = self.at(self.i);
            if c == b'\n' || c == 0 || (c == b'#' && spaces > 0) {
                // The value is on the next lines.
                self.end_of_line()?;
                self.skip_blank_lines();
                let m = self.col();
                if self.eof() || m < n || self.doc_marker(b'-') || self.doc_marker(b'.') {
                    return Err(Decline);
                }
                if self.at(self.i) == b'-' && self.at(self.i + 1) == b' ' {
                    self.block_sequence(m, m == n)?;
                } else if m > n {
                    self.block_mapping(m)?;
                } else {
                    return Err(Decline);
                }
            } else {
                self.inline_value()?;
                if !self.eof() && self.col() > n {
                    return Err(Decline);
                }
            }
            if self.eof() {
                self.builder.collection_end(self.here_or_eof());
                return Ok(());
            }
            let m = self.col();
            if m < n || (m == 0 && (self.doc_marker(b'-') || self.doc_marker(b'.'))) {
                self.builder.collection_end(self.pos());
                return Ok(());
            }
            if m > n {
                return Err(Decline);
            }
        }
    }

    /// A plain key and its `:` (followed by a space or a line break).
    fn key(&mut self) -> R {
        let start = self.i;
        let c = self.at(start);
        if !(c.is_ascii_alphanumeric() || c == b'_' || c == b'/') {
            return Err(Decline);
        }
        let mut j = start + 1;
        while key_char(self.at(j)) {
            j += 1;
        }
        if self.at(j) != b':' || !matches!(self.at(j + 1), b' ' | b'\n' | 0) || j - start > MAX_KEY
        {
            return Err(Decline);
        }
        let span = Span::new(self.pos_of(start), self.pos_of(j));
        self.scalar(start, j, Style::Plain, span)?;
        self.i = j + 1;
        Ok(())
    }

    /// A value on the rest of the line (scalar or flow collection), the end of the line, and the
    /// blank lines after it.
    fn inline_value(&mut self) -> R {
        match self.at(self.i) {
            b'"' | b'\'' => self.quoted()?,
            b'{' | b'[' => self.flow()?,
            _ => self.block_plain()?,
        }
        self.end_of_line()?;
        self.skip_blank_lines();
        Ok(())
    }

    fn block_plain(&mut self) -> R {
        let start = self.i;
        if !plain_start(self.at(start), self.at(start + 1)) {
            return Err(Decline);
        }
        let mut j = start + 1;
        loop {
            match self.at(j) {
                0 | b'\n' => break,
                b' ' if self.at(j + 1) == b'#' => break,
                b':' if matches!(self.at(j + 1), b' ' | b'\n' | 0) => return Err(Decline),
                b'#' | b'[' | b']' | b'{' | b'}' => return Err(Decline),
                _ => j += 1,
            }
        }
        while j > start && self.at(j - 1) == b' ' {
            j -= 1;
        }
        let span = Span::new(self.pos_of(start), self.pos_of(j));
        self.scalar(start, j, Style::Plain, span)?;
        self.i = j;
        Ok(())
    }

    /// A quoted scalar on one line, without escapes.
    fn quoted(&mut self) -> R {
        let start = self.i;
        let q = self.at(start);
        let mut j = start + 1;
        loop {
            match self.at(j) {
                0 | b'\n' | b'\\' => return Err(Decline),
                c if c == q => break,
                _ => j += 1,
            }
        }
        if self.at(j + 1) == q {
            return Err(Decline);
        }
        let style = if q == b'"' {
            Style::DoubleQuoted
        } else {
            Style::SingleQuoted
        };
        let span = Span::new(self.pos_of(start), self.pos_of(j + 1));
        self.scalar(start + 1, j, style, span)?;
        self.i = j + 1;
        Ok(())
    }

    /// A block sequence whose `-` are at column `m`; `i` is at the first `-`. `indentless`: at
    /// the column of the key it is the value of (saphyr-parser then starts it at its first item).
    fn block_sequence(&mut self, m: usize, indentless: bool) -> R {
        self.nest(|p| p.block_sequence_in(m, indentless))
    }

    fn block_sequence_in(&mut self, m: usize, indentless: bool) -> R {
        let start = if indentless {
            let mut j = self.i + 1;
            while self.at(j) == b' ' {
                j += 1;
            }
            self.pos_of(j)
        } else {
            self.pos()
        };
        self.builder.sequence_start(start, 0).map_err(|_| Decline)?;
        loop {
            self.i += 1;
            self.skip_spaces();
            let c = self.at(self.i);
            match c {
                0 | b'\n' | b'#' => return Err(Decline),
                b'-' if self.at(self.i + 1) == b' ' => return Err(Decline),
                b'"' | b'\'' | b'{' | b'[' => self.inline_value()?,
                _ if self.line_has_key() => self.block_mapping(self.col())?,
                _ => self.inline_value()?,
            }
            if self.eof() {
                self.builder.collection_end(self.here_or_eof());
                return Ok(());
            }
            let m2 = self.col();
            if m2 == 0 && (self.doc_marker(b'-') || self.doc_marker(b'.')) {
                self.builder.collection_end(self.pos());
                return Ok(());
            }
            if m2 == m && self.at(self.i) == b'-' && self.at(self.i + 1) == b' ' {
                continue;
            }
            if m2 < m || (m2 == m && indentless) {
                self.builder.collection_end(self.pos());
                return Ok(());
            }
            return Err(Decline);
        }
    }

    /// Whether the rest of the line holds `key: ...` (a `:` followed by a space or line break
    /// before any comment).
    fn line_has_key(&self) -> bool {
        let mut j = self.i;
        loop {
            match self.at(j) {
                0 | b'\n' => return false,
                b':' if matches!(self.at(j + 1), b' ' | b'\n' | 0) => return true,
                b' ' if self.at(j + 1) == b'#' => return false,
                _ => j += 1,
            }
        }
    }

    /// Spaces inside a flow collection; it must go on on the same line, without comments.
    fn flow_spaces(&mut self) -> R {
        self.skip_spaces();
        match self.at(self.i) {
            0 | b'\n' | b'#' => Err(Decline),
            _ => Ok(()),
        }
    }

    /// A flow mapping or sequence on one line; `i` is at its `{` or `[`.
    fn flow(&mut self) -> R {
        self.nest(Self::flow_in)
    }

    fn flow_in(&mut self) -> R {
        let open = self.at(self.i);
        let map = open == b'{';
        let close = if map { b'}' } else { b']' };
        let started = if map {
            self.builder.mapping_start(self.pos(), 0)
        } else {
            self.builder.sequence_start(self.pos(), 0)
        };
        started.map_err(|_| Decline)?;
        self.i += 1;
        self.flow_spaces()?;
        if self.at(self.i) == close {
            self.i += 1;
            self.builder.collection_end(self.after_close());
            return Ok(());
        }
        loop {
            if map {
                let key_start = self.i;
                self.flow_scalar()?;
                if self.i - key_start > MAX_KEY
                    || self.at(self.i) != b':'
                    || self.at(self.i + 1) != b' '
                {
                    return Err(Decline);
                }
                self.i += 1;
                self.flow_spaces()?;
            }
            match self.at(self.i) {
                b'{' | b'[' => self.flow()?,
                _ => self.flow_scalar()?,
            }
            self.flow_spaces()?;
            match self.at(self.i) {
                b',' => {
                    self.i += 1;
                    self.flow_spaces()?;
                    if self.at(self.i) == close {
                        return Err(Decline);
                    }
                }
                c if c == close => {
                    self.i += 1;
                    self.builder.collection_end(self.after_close());
                    return Ok(());
                }
                _ => return Err(Decline),
            }
        }
    }

    /// Where saphyr-parser ends a closing bracket's token: after the spaces that follow it, and
    /// after a comment there (up to the line break).
    fn after_close(&self) -> Pos {
        let mut j = self.i;
        while self.at(j) == b' ' {
            j += 1;
        }
        if j > self.i && self.at(j) == b'#' {
            j = match self
                .b
                .get(j..)
                .and_then(|r| r.iter().position(|&c| c == b'\n'))
            {
                Some(n) => j + n,
                None => self.b.len(),
            };
        }
        self.pos_of(j)
    }

    /// A scalar inside a flow collection: quoted, or plain of [`flow_char`]s and inner spaces
    /// (before a letter or digit only: saphyr-parser reads ` -` there as an error).
    fn flow_scalar(&mut self) -> R {
        let start = self.i;
        let c = self.at(start);
        if c == b'"' || c == b'\'' {
            return self.quoted();
        }
        if !plain_start(c, self.at(start + 1)) {
            return Err(Decline);
        }
        let mut j = start + 1;
        loop {
            let c = self.at(j);
            if flow_char(c) || (c == b' ' && self.at(j + 1).is_ascii_alphanumeric()) {
                j += 1;
            } else {
                break;
            }
        }
        let span = Span::new(self.pos_of(start), self.pos_of(j));
        self.scalar(start, j, Style::Plain, span)?;
        self.i = j;
        Ok(())
    }
}
