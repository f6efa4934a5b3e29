//! A line-based three-way merge (diff3): the changes from `base` to `yours` and from `base` to
//! `theirs` are combined; where both changed the same lines differently, the result holds
//! git-style conflict markers. Lines keep their terminators, so CRLF files and a missing final
//! newline survive the merge.

use similar::{Algorithm, DiffOp, capture_diff_slices};

/// The result of a merge: the text, and how many conflicting regions it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Merged {
    pub text: String,
    pub conflicts: usize,
}

/// Lines of `text`, each with its terminator (the last one may have none).
fn lines(text: &str) -> Vec<&str> {
    text.split_inclusive('\n').collect()
}

/// For each line of `base`, the line of `other` it is matched with by a diff, if any.
fn matches(base: &[&str], other: &[&str]) -> Vec<Option<usize>> {
    let mut map = vec![None; base.len()];
    for op in capture_diff_slices(Algorithm::Myers, base, other) {
        if let DiffOp::Equal {
            old_index,
            new_index,
            len,
        } = op
        {
            for k in 0..len {
                map[old_index + k] = Some(new_index + k);
            }
        }
    }
    map
}

/// Merge `yours` and `theirs`, both derived from `base`. Conflicts are written as
/// `<<<<<<< {yours_label}` / `=======` / `>>>>>>> {theirs_label}` around the two versions.
pub fn merge(
    base: &str,
    yours: &str,
    theirs: &str,
    yours_label: &str,
    theirs_label: &str,
) -> Merged {
    let (o, a, b) = (lines(base), lines(yours), lines(theirs));
    let (map_a, map_b) = (matches(&o, &a), matches(&o, &b));
    let mut out = String::with_capacity(yours.len().max(theirs.len()));
    let mut conflicts = 0;
    let (mut io, mut ia, mut ib) = (0, 0, 0);
    while io < o.len() || ia < a.len() || ib < b.len() {
        // A line unchanged on both sides at the current position.
        if io < o.len() && map_a[io] == Some(ia) && map_b[io] == Some(ib) {
            out.push_str(o[io]);
            (io, ia, ib) = (io + 1, ia + 1, ib + 1);
            continue;
        }
        // The next base line both sides kept ends this unstable chunk.
        let next = (io..o.len()).find_map(|k| Some((k, map_a[k]?, map_b[k]?)));
        let (eo, ea, eb) = next.unwrap_or((o.len(), a.len(), b.len()));
        let (chunk_o, chunk_a, chunk_b) = (&o[io..eo], &a[ia..ea], &b[ib..eb]);
        if chunk_a == chunk_o || chunk_a == chunk_b {
            chunk_b.iter().for_each(|l| out.push_str(l));
        } else if chunk_b == chunk_o {
            chunk_a.iter().for_each(|l| out.push_str(l));
        } else {
            conflicts += 1;
            marker(&mut out, &format!("<<<<<<< {yours_label}"));
            side(&mut out, chunk_a);
            marker(&mut out, "=======");
            side(&mut out, chunk_b);
            marker(&mut out, &format!(">>>>>>> {theirs_label}"));
        }
        (io, ia, ib) = (eo, ea, eb);
    }
    Merged {
        text: out,
        conflicts,
    }
}

/// A marker line (always `\n`-terminated).
fn marker(out: &mut String, text: &str) {
    out.push_str(text);
    out.push('\n');
}

/// One side of a conflict, ending with a newline so the next marker starts a line.
fn side(out: &mut String, chunk: &[&str]) {
    chunk.iter().for_each(|l| out.push_str(l));
    if chunk.last().is_some_and(|l| !l.ends_with('\n')) {
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(base: &str, yours: &str, theirs: &str) -> Merged {
        merge(base, yours, theirs, "yours", "mspack 9.9.9")
    }

    #[test]
    fn edits_in_different_places_are_both_kept() {
        let base = "a\nb\nc\nd\ne\n";
        let yours = "a\nB (yours)\nc\nd\ne\n";
        let theirs = "a\nb\nc\nd\nE (theirs)\nf\n";
        assert_eq!(
            m(base, yours, theirs),
            Merged {
                text: "a\nB (yours)\nc\nd\nE (theirs)\nf\n".into(),
                conflicts: 0
            }
        );
    }

    #[test]
    fn one_sided_changes_and_identical_changes_merge_cleanly() {
        assert_eq!(m("a\n", "a\n", "b\n").text, "b\n");
        assert_eq!(m("a\n", "b\n", "a\n").text, "b\n");
        let both = m("a\nb\n", "a\nc\n", "a\nc\n");
        assert_eq!((both.text.as_str(), both.conflicts), ("a\nc\n", 0));
        // Insertions at both ends, deletion in the middle.
        let merged = m("1\n2\n3\n4\n5\n", "0\n1\n2\n3\n4\n5\n", "1\n2\n4\n5\n6\n");
        assert_eq!(
            (merged.text.as_str(), merged.conflicts),
            ("0\n1\n2\n4\n5\n6\n", 0)
        );
    }

    #[test]
    fn overlapping_changes_conflict_with_both_versions() {
        let merged = m("a\nb\nc\n", "a\nmine\nc\n", "a\nnew\nc\n");
        assert_eq!(merged.conflicts, 1);
        assert_eq!(
            merged.text,
            "a\n<<<<<<< yours\nmine\n=======\nnew\n>>>>>>> mspack 9.9.9\nc\n"
        );
    }

    #[test]
    fn an_empty_base_conflicts_unless_both_are_equal() {
        assert_eq!(m("", "x\n", "x\n").conflicts, 0);
        let merged = m("", "x\n", "y\n");
        assert_eq!(merged.conflicts, 1);
        assert!(merged.text.contains("x\n=======\ny\n"), "{}", merged.text);
    }

    #[test]
    fn line_endings_and_a_missing_final_newline_are_kept() {
        let merged = m("a\r\nb\r\nc", "A\r\nb\r\nc", "a\r\nb\r\nC");
        assert_eq!((merged.text.as_str(), merged.conflicts), ("A\r\nb\r\nC", 0));
        let merged = m("a", "b", "c");
        assert_eq!(
            merged.text,
            "<<<<<<< yours\nb\n=======\nc\n>>>>>>> mspack 9.9.9\n"
        );
    }

    #[test]
    fn nothing_of_either_side_is_lost_in_a_conflict() {
        let base = "fn main() {\n    run();\n}\n";
        let yours = "fn main() {\n    setup();\n    run();\n}\n";
        let theirs = "fn main() {\n    init();\n    run();\n}\n";
        let merged = m(base, yours, theirs);
        assert_eq!(merged.conflicts, 1);
        assert!(merged.text.contains("setup();") && merged.text.contains("init();"));
        assert!(merged.text.ends_with("    run();\n}\n"), "{}", merged.text);
    }
}
