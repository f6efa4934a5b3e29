//! Suppression comments: `# mspack: ignore[MSP101] reason="..." until=2027-03-01` next to a
//! finding. A comment alone on its line covers the next line; a comment after YAML on a line
//! covers that line. `reason` is required; `until` (a date, `YYYY-MM-DD`) is optional, and past
//! it the comment no longer suppresses. Comments are found by a small scanner (the YAML parser
//! keeps no comments): a `#` at the start of a line or after whitespace, then `mspack:`.

use std::sync::Arc;

use mspack_yaml::{Pos, SourceFile, Span};

/// One suppression comment.
#[derive(Clone, Debug)]
pub struct Suppression {
    pub file: Arc<SourceFile>,
    /// The comment, from `#` to the end of the line.
    pub span: Span,
    /// The line whose findings it covers.
    pub covers: u32,
    /// Rule selectors in the brackets (codes, names, prefixes).
    pub selectors: Vec<String>,
    pub reason: Option<String>,
    /// `YYYY-MM-DD`.
    pub until: Option<String>,
    /// Why the comment cannot be read, if it cannot.
    pub malformed: Option<String>,
}

const MARKER: &str = "mspack:";

/// Every suppression comment of `file`.
pub fn find(file: &Arc<SourceFile>) -> Vec<Suppression> {
    let text = file.text.as_str();
    let mut out = Vec::new();
    for at in memchr::memmem::find_iter(text.as_bytes(), MARKER) {
        let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
        let before = &text[line_start..at];
        let Some(hash) = before.trim_end().strip_suffix('#').map(str::len) else {
            continue;
        };
        let hash_at = line_start + hash;
        let own_line = text[line_start..hash_at].trim().is_empty();
        let preceded = hash == 0 || text[..hash_at].ends_with([' ', '\t']);
        if !preceded {
            continue;
        }
        let line_end = text[at..].find('\n').map_or(text.len(), |i| at + i);
        let rest = text[at + MARKER.len()..line_end].trim_start();
        let Some(rest) = rest.strip_prefix("ignore") else {
            continue;
        };
        let line = u32::try_from(text[..at].matches('\n').count() + 1).unwrap_or(u32::MAX);
        let col = |offset: usize| {
            u32::try_from(text[line_start..offset].chars().count() + 1).unwrap_or(u32::MAX)
        };
        let mut s = parse(rest.trim_end_matches('\r'));
        s.file = file.clone();
        s.span = Span::new(
            Pos {
                line,
                col: col(hash_at),
            },
            Pos {
                line,
                col: col(line_end),
            },
        );
        s.covers = if own_line {
            line.saturating_add(1)
        } else {
            line
        };
        out.push(s);
    }
    out
}

/// Read `[CODES] reason="..." until=DATE` (what follows `mspack: ignore`).
fn parse(rest: &str) -> Suppression {
    let mut s = Suppression {
        file: Arc::new(SourceFile::new("", "")),
        span: Span::default(),
        covers: 0,
        selectors: Vec::new(),
        reason: None,
        until: None,
        malformed: None,
    };
    let Some((codes, mut tail)) = rest.strip_prefix('[').and_then(|r| r.split_once(']')) else {
        s.malformed =
            Some("write the rules in brackets: `# mspack: ignore[MSP101] reason=\"...\"`".into());
        return s;
    };
    s.selectors = codes
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect();
    if s.selectors.is_empty() {
        s.malformed = Some("name at least one rule in the brackets".into());
    }
    loop {
        tail = tail.trim_start();
        if tail.is_empty() || tail.starts_with('#') {
            break;
        }
        if let Some(r) = tail.strip_prefix("reason=\"") {
            let Some((reason, r)) = r.split_once('"') else {
                s.malformed = Some("the reason needs a closing quote".into());
                break;
            };
            s.reason = Some(reason.to_string());
            tail = r;
        } else if let Some(r) = tail.strip_prefix("until=") {
            let end = r.find(char::is_whitespace).unwrap_or(r.len());
            let date = &r[..end];
            if !is_date(date) {
                s.malformed = Some(format!("until={date} is not a date written YYYY-MM-DD"));
            }
            s.until = Some(date.to_string());
            tail = &r[end..];
        } else {
            let word = tail.split_whitespace().next().unwrap_or(tail);
            s.malformed = Some(format!(
                "unexpected `{word}` (only reason=\"...\" and until=YYYY-MM-DD follow the brackets)"
            ));
            break;
        }
    }
    if s.malformed.is_none() && s.reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
        s.malformed = Some("say why: add reason=\"...\"".into());
    }
    s
}

/// `YYYY-MM-DD` with a month 1-12 and a day 1-31.
fn is_date(text: &str) -> bool {
    let b = text.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let number = |r: std::ops::Range<usize>| text.get(r).and_then(|t| t.parse::<u32>().ok());
    b.len() == 10
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && number(5..7).is_some_and(|m| (1..=12).contains(&m))
        && number(8..10).is_some_and(|d| (1..=31).contains(&d))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<Suppression> {
        find(&Arc::new(SourceFile::new("t.yaml", text)))
    }

    #[test]
    fn comments_are_read_with_the_line_they_cover() {
        let s = found(
            "a: 1 # mspack: ignore[MSP101, IST0101] reason=\"legacy\" until=2027-03-01\n\
             # mspack: ignore[MSP102] reason=\"shared gateway\"\nb: 2\n",
        );
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].selectors, ["MSP101", "IST0101"]);
        assert_eq!(
            (s[0].covers, s[0].reason.as_deref(), s[0].until.as_deref()),
            (1, Some("legacy"), Some("2027-03-01"))
        );
        assert_eq!((s[1].covers, s[1].span.start.col), (3, 1));
        assert!(s.iter().all(|s| s.malformed.is_none()));
    }

    #[test]
    fn malformed_comments_say_why_and_text_in_values_is_not_a_comment() {
        let s = found(
            "a: 1 # mspack: ignore[MSP101]\nb: 2 # mspack: ignore[MSP101] reason=\"x\" until=2027-13-01\n",
        );
        assert!(
            s[0].malformed
                .as_deref()
                .is_some_and(|m| m.contains("reason"))
        );
        assert!(
            s[1].malformed
                .as_deref()
                .is_some_and(|m| m.contains("2027-13-01"))
        );
        assert!(found("a: \"x#mspack: ignore[MSP101]\"\n").is_empty());
    }
}
