//! Event subjects: NATS matching (`*` one token, `>` one or more) and an index of consumers'
//! patterns by token, so that a published subject finds its consumers without trying every
//! pattern (10k services publishing and consuming would be 10^7 matches).

use std::collections::HashMap;

/// The subjects an annotation lists (comma- or whitespace-separated).
pub fn subjects(value: &str) -> impl Iterator<Item = &str> {
    value
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
}

/// NATS subject matching: `*` matches one token, `>` the rest (one or more tokens).
pub fn subject_matches(pattern: &str, subject: &str) -> bool {
    let mut p = pattern.split('.');
    let mut s = subject.split('.');
    loop {
        match (p.next(), s.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[derive(Default)]
struct Level<'a> {
    tokens: HashMap<&'a str, usize>,
    star: Option<usize>,
    /// Patterns that end here.
    end: Vec<usize>,
    /// Patterns with `>` here: any one or more tokens more.
    rest: Vec<usize>,
}

/// Patterns (each with the id it was added under) as a token tree; [`SubjectIndex::matches`]
/// gives what [`subject_matches`] would, pattern by pattern.
#[derive(Default)]
pub struct SubjectIndex<'a> {
    levels: Vec<Level<'a>>,
}

impl<'a> SubjectIndex<'a> {
    pub fn add(&mut self, pattern: &'a str, id: usize) {
        if self.levels.is_empty() {
            self.levels.push(Level::default());
        }
        let mut at = 0;
        for token in pattern.split('.') {
            if token == ">" {
                self.levels[at].rest.push(id);
                return;
            }
            let next = if token == "*" {
                self.levels[at].star
            } else {
                self.levels[at].tokens.get(token).copied()
            };
            at = match next {
                Some(n) => n,
                None => {
                    let n = self.levels.len();
                    self.levels.push(Level::default());
                    if token == "*" {
                        self.levels[at].star = Some(n);
                    } else {
                        self.levels[at].tokens.insert(token, n);
                    }
                    n
                }
            };
        }
        self.levels[at].end.push(id);
    }

    /// Ids of the patterns `subject` matches (unsorted, possibly repeated).
    pub fn matches(&self, subject: &str, out: &mut Vec<usize>) {
        if self.levels.is_empty() {
            return;
        }
        let tokens: Vec<&str> = subject.split('.').collect();
        let mut stack = vec![(0usize, 0usize)];
        while let Some((at, i)) = stack.pop() {
            let level = &self.levels[at];
            let Some(token) = tokens.get(i) else {
                out.extend(&level.end);
                continue;
            };
            out.extend(&level.rest);
            if let Some(&n) = level.tokens.get(token) {
                stack.push((n, i + 1));
            }
            if let Some(n) = level.star {
                stack.push((n, i + 1));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nats_wildcards() {
        assert!(subject_matches(
            "fd.orders.>",
            "fd.orders.events.OrderPlaced"
        ));
        assert!(subject_matches("fd.*.cmd", "fd.kitchen.cmd"));
        assert!(!subject_matches("fd.*.cmd", "fd.kitchen.cmd.x"));
        assert!(!subject_matches("fd.orders.>", "fd.orders"));
        assert!(subject_matches("a.b", "a.b"));
        assert_eq!(subjects("a, b\n c").count(), 3);
    }

    #[test]
    fn the_index_agrees_with_matching_pattern_by_pattern() {
        let patterns = [
            "a", "a.b", "a.*", "a.>", "*", ">", "*.b", "*.*.c", "a.>.x", "a..b", "", "b.*.>",
            "a.b.c",
        ];
        let subjects = [
            "a", "a.b", "a.c", "a.b.c", "b", "b.x.y", "b.x", "x.b", "q.r.c", "a..b", "", "a.b.c.d",
        ];
        let mut index = SubjectIndex::default();
        for (i, p) in patterns.iter().enumerate() {
            index.add(p, i);
        }
        for s in subjects {
            let mut got = Vec::new();
            index.matches(s, &mut got);
            got.sort_unstable();
            got.dedup();
            let want: Vec<usize> = (0..patterns.len())
                .filter(|&i| subject_matches(patterns[i], s))
                .collect();
            assert_eq!(got, want, "subject {s:?}");
        }
    }
}
