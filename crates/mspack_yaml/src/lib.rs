//! YAML with spans for mspack: every node keeps its line and column, multi-document files become a
//! list of [`Document`]s, and hostile input (alias bombs, deep nesting, huge files) is refused with a
//! positioned [`YamlError`] instead of exhausting memory or the stack.
//!
//! The parser is `saphyr-parser`'s event stream; the tree is built here, iteratively, so nesting
//! depth and alias expansion are under our control.

mod fast;
mod load;
mod node;
mod source;

pub use compact_str::CompactString;
pub use load::{
    Limits, ParsedFile, YamlError, YamlErrorKind, parse_file, parse_file_fast, parse_file_saphyr,
};
pub use node::{Document, Node, Scalar, Style, Tag, Value};
pub use source::{Pos, SourceFile, Span};
