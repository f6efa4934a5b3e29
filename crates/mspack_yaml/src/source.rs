//! Source text of one input file and conversions between line/column positions and byte offsets.

/// A position in a source file: 1-based line, 1-based column counted in characters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
}

/// A half-open range `[start, end)` of positions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Span {
    pub start: Pos,
    pub end: Pos,
}

impl Span {
    pub fn new(start: Pos, end: Pos) -> Span {
        Span { start, end }
    }

    /// An empty span at one position.
    pub fn point(pos: Pos) -> Span {
        Span {
            start: pos,
            end: pos,
        }
    }
}

/// One input file: its path as the user gave it and its text.
#[derive(Debug)]
pub struct SourceFile {
    /// The path as given on the command line (or `-` / `<stdin>`), used verbatim in diagnostics.
    pub path: String,
    pub text: String,
    /// Where the bytes stopped being UTF-8, for files read with [`SourceFile::from_bytes`].
    pub invalid_utf8: Option<Pos>,
    /// Byte offset of each line's start (`u32`: a file is far below 4 GiB once past the size
    /// limit; lines past 4 GiB of a larger text are not addressed).
    line_starts: Vec<u32>,
    /// `None` when the text is ASCII; else, per line, the byte index in the line of its first
    /// non-ASCII byte (`u32::MAX`: none). Columns before it are bytes, so [`SourceFile::offset`]
    /// is O(1) there instead of a scan from the line's start (a one-line minified JSON bundle
    /// with thousands of quoted strings made every scalar span a scan: quadratic).
    wide_from: Option<Vec<u32>>,
}

impl SourceFile {
    pub fn new(path: impl Into<String>, text: impl Into<String>) -> SourceFile {
        let text = text.into();
        let mut line_starts = vec![0];
        line_starts.extend(memchr_newlines(&text).map_while(|i| u32::try_from(i).ok()));
        let wide_from = (!text.is_ascii()).then(|| {
            let bytes = text.as_bytes();
            let ends = line_starts.iter().skip(1).map(|&s| s as usize);
            line_starts
                .iter()
                .map(|&s| s as usize)
                .zip(ends.chain(std::iter::once(bytes.len())))
                .map(|(start, end)| {
                    bytes
                        .get(start..end)
                        .and_then(|line| line.iter().position(|b| !b.is_ascii()))
                        .map_or(u32::MAX, |i| u32::try_from(i).unwrap_or(u32::MAX))
                })
                .collect()
        });
        SourceFile {
            path: path.into(),
            text,
            invalid_utf8: None,
            line_starts,
            wide_from,
        }
    }

    /// Text from raw bytes. Invalid UTF-8 is replaced with U+FFFD and its position recorded, so
    /// the loader can report it instead of guessing.
    pub fn from_bytes(path: impl Into<String>, bytes: Vec<u8>) -> SourceFile {
        match String::from_utf8(bytes) {
            Ok(text) => SourceFile::new(path, text),
            Err(e) => {
                let valid = e.utf8_error().valid_up_to();
                let bytes = e.into_bytes();
                let prefix = String::from_utf8_lossy(&bytes[..valid]);
                let line = prefix.matches('\n').count() + 1;
                let col = prefix.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                let mut file = SourceFile::new(path, String::from_utf8_lossy(&bytes).into_owned());
                file.invalid_utf8 = Some(Pos {
                    line: u32::try_from(line).unwrap_or(u32::MAX),
                    col: u32::try_from(col).unwrap_or(u32::MAX),
                });
                file
            }
        }
    }

    /// Number of lines (a trailing newline does not start a new line of its own).
    pub fn line_count(&self) -> usize {
        let n = self.line_starts.len();
        if n > 1 && self.line_starts[n - 1] as usize == self.text.len() {
            n - 1
        } else {
            n
        }
    }

    /// The text of a 1-based line, without its line terminator; `None` past the end.
    pub fn line_text(&self, line: u32) -> Option<&str> {
        let idx = (line as usize).checked_sub(1)?;
        if idx >= self.line_count() {
            return None;
        }
        let start = *self.line_starts.get(idx)? as usize;
        let end = self
            .line_starts
            .get(idx + 1)
            .map_or(self.text.len(), |&s| s as usize);
        let raw = self.text.get(start..end)?;
        Some(raw.trim_end_matches(['\n', '\r']))
    }

    /// Byte offset of the first byte of a 1-based line.
    pub fn line_start(&self, line: u32) -> Option<usize> {
        let idx = (line as usize).checked_sub(1)?;
        self.line_starts.get(idx).map(|&s| s as usize)
    }

    /// Byte offset of a position (columns count characters); clamps to the end of the line.
    pub fn offset(&self, pos: Pos) -> usize {
        let Some(start) = self.line_start(pos.line) else {
            return self.text.len();
        };
        let line = self.line_text(pos.line).unwrap_or("");
        let col = (pos.col as usize).saturating_sub(1);
        let narrow = match &self.wide_from {
            None => usize::MAX,
            Some(wide) => wide.get(pos.line as usize - 1).map_or(0, |&w| w as usize),
        };
        if col <= narrow {
            // Every character before `col` is one byte.
            return start + col.min(line.len());
        }
        let tail = line.get(narrow..).unwrap_or("");
        match tail.char_indices().nth(col - narrow) {
            Some((i, _)) => start + narrow + i,
            None => start + line.len(),
        }
    }

    /// Byte range of a span.
    pub fn byte_range(&self, span: Span) -> std::ops::Range<usize> {
        let start = self.offset(span.start);
        let end = self.offset(span.end).max(start);
        start..end
    }

    /// The text a span covers.
    pub fn snippet(&self, span: Span) -> &str {
        self.text.get(self.byte_range(span)).unwrap_or("")
    }
}

/// Offsets just past each `\n` (SIMD memchr: every input byte passes here once).
fn memchr_newlines(text: &str) -> impl Iterator<Item = usize> + '_ {
    memchr::memchr_iter(b'\n', text.as_bytes()).map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_count_characters_not_bytes() {
        let src = SourceFile::new("x.yaml", "a: é\nb: x\n");
        assert_eq!(src.line_count(), 2);
        assert_eq!(src.line_text(2), Some("b: x"));
        assert_eq!(src.offset(Pos { line: 1, col: 4 }), 3);
        assert_eq!(src.offset(Pos { line: 2, col: 4 }), 9);
        assert_eq!(src.line_text(3), None);
    }

    #[test]
    fn offsets_after_wide_characters_and_past_the_end_of_a_line() {
        let src = SourceFile::new("x.yaml", "abc\nxé€y: z\n");
        // Line 2 is `xé€y: z`: x (1 byte), é (2), € (3), y (1).
        assert_eq!(src.offset(Pos { line: 2, col: 1 }), 4);
        assert_eq!(src.offset(Pos { line: 2, col: 2 }), 5);
        assert_eq!(src.offset(Pos { line: 2, col: 3 }), 7);
        assert_eq!(src.offset(Pos { line: 2, col: 4 }), 10);
        assert_eq!(src.offset(Pos { line: 2, col: 99 }), 14);
        assert_eq!(src.offset(Pos { line: 1, col: 99 }), 3);
        let ascii = SourceFile::new("y.yaml", "ab\ncd");
        assert_eq!(ascii.offset(Pos { line: 2, col: 2 }), 4);
        assert_eq!(ascii.offset(Pos { line: 2, col: 9 }), 5);
        assert_eq!(ascii.offset(Pos { line: 9, col: 1 }), 5);
    }
}
