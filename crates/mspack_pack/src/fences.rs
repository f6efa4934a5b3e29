//! The fenced code blocks of the pack's Markdown, for the tests that keep the pack true: every
//! ```` ```yaml ```` block is linted, every ```` ```sh ```` block is run, every ```` ```rust ````
//! block is compiled.
//!
//! A block may carry directives for the linter in an HTML comment on the line right before its
//! opening fence (invisible when the Markdown is rendered):
//!
//! ```text
//! <!-- mspack-lint: expect MSP101 -->        a deliberate bad example: exactly these codes fire
//! <!-- mspack-lint: expect MSP103; multicluster -->   lint with --multicluster
//! ```

/// One fenced code block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fence {
    /// 1-based line of the opening fence.
    pub line: usize,
    /// First word of the info string (`yaml`, `sh`, `rust`, `text`; empty when none).
    pub lang: String,
    /// The rest of the info string (`no_run`, ...).
    pub attributes: String,
    /// The `mspack-lint:` directives of the comment before the fence, if any.
    pub directives: Option<String>,
    /// The block's lines, without the fences and without the fence's indentation.
    pub body: String,
}

impl Fence {
    /// The rule codes a deliberate bad example must produce (empty: none may fire).
    pub fn expected_codes(&self) -> Vec<String> {
        self.directive_values("expect")
            .flat_map(|v| {
                v.split(',')
                    .map(|c| c.trim().to_string())
                    .collect::<Vec<_>>()
            })
            .filter(|c| !c.is_empty())
            .collect()
    }

    /// Whether a directive without a value (e.g. `multicluster`) is present.
    pub fn has_flag(&self, flag: &str) -> bool {
        self.directives
            .iter()
            .flat_map(|d| d.split(';'))
            .any(|d| d.trim() == flag)
    }

    fn directive_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.directives
            .iter()
            .flat_map(|d| d.split(';'))
            .filter_map(move |d| d.trim().strip_prefix(name))
            .filter(|rest| rest.starts_with(char::is_whitespace))
            .map(str::trim)
    }
}

const DIRECTIVE: &str = "<!-- mspack-lint:";

/// Every fenced block (```` ``` ```` or `~~~`, indented or not) of a Markdown text, in order.
/// An unclosed fence runs to the end of the text, as CommonMark reads it.
pub fn fences(markdown: &str) -> Vec<Fence> {
    let mut out = Vec::new();
    let mut previous: Option<&str> = None;
    let mut lines = markdown.lines().enumerate();
    while let Some((index, line)) = lines.next() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        let Some(marker) = fence_marker(trimmed) else {
            if !line.trim().is_empty() {
                previous = Some(line.trim());
            }
            continue;
        };
        let info = trimmed[marker.len()..].trim();
        let (lang, attributes) = info.split_once(char::is_whitespace).unwrap_or((info, ""));
        let directives = previous
            .and_then(|p| p.strip_prefix(DIRECTIVE))
            .and_then(|p| p.strip_suffix("-->"))
            .map(|d| d.trim().to_string());
        let mut body = String::new();
        for (_, inner) in lines.by_ref() {
            let inner_trimmed = inner.trim_start();
            if inner_trimmed.starts_with(marker) && inner_trimmed.trim() == marker {
                break;
            }
            let strip = inner.len() - inner_trimmed.len();
            body.push_str(&inner[strip.min(indent)..]);
            body.push('\n');
        }
        out.push(Fence {
            line: index + 1,
            lang: lang.trim_matches(|c| c == '{' || c == '}').to_string(),
            attributes: attributes.trim().to_string(),
            directives,
            body,
        });
        previous = None;
    }
    out
}

fn fence_marker(trimmed: &str) -> Option<&'static str> {
    if trimmed.starts_with("```") {
        Some("```")
    } else if trimmed.starts_with("~~~") {
        Some("~~~")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_keep_language_attributes_directives_and_line() {
        let md = "# t\n\n<!-- mspack-lint: expect MSP101, MSP102; multicluster -->\n```yaml\na: 1\n```\n\ntext\n```rust no_run\nfn main() {}\n```\n";
        let blocks = fences(md);
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].line, 4);
        assert_eq!(blocks[0].lang, "yaml");
        assert_eq!(blocks[0].body, "a: 1\n");
        assert_eq!(blocks[0].expected_codes(), ["MSP101", "MSP102"]);
        assert!(blocks[0].has_flag("multicluster"));
        assert_eq!(blocks[1].lang, "rust");
        assert_eq!(blocks[1].attributes, "no_run");
        assert_eq!(blocks[1].directives, None);
        assert!(blocks[1].expected_codes().is_empty());
    }

    #[test]
    fn indented_fences_in_list_items_lose_their_indentation() {
        let md = "1. step\n\n   ```sh\n   mspack rules\n     continued\n   ```\n";
        let blocks = fences(md);
        assert_eq!(blocks[0].body, "mspack rules\n  continued\n");
    }

    #[test]
    fn a_comment_that_is_not_right_before_the_fence_is_not_a_directive() {
        let md = "<!-- mspack-lint: expect MSP101 -->\n\nsome text\n```yaml\na: 1\n```\n";
        assert_eq!(fences(md)[0].directives, None);
    }
}
