//! `mspack update`: regenerate a scaffolded service from its recorded inputs with this mspack and
//! merge three ways, file by file: the base is what the recorded mspack version generated
//! (`.mspack/base.toml`), yours is the service's tree, theirs is the new render.
//!
//! | base | yours | new render | result |
//! |---|---|---|---|
//! | = yours | present | present | replaced by the new render |
//! | = new | edited | present | kept |
//! | changed | edited | changed | merged, or conflict markers |
//! | present | deleted | = base | stays deleted |
//! | present | deleted | changed | conflict: the new render beside it as `.mspack-new` |
//! | none | none / = new | present | added / up to date |
//! | none | other | present | merged against an empty base: conflict markers |
//! | = yours | present | removed | removed |
//! | present | edited | removed | kept, listed |
//!
//! Files that are not UTF-8 text are never merged: yours stays, the new render goes beside it
//! as `<path>.mspack-new`. Without a recorded base (a service made before bases were recorded)
//! nothing of yours is overwritten: files equal to the new render are up to date, missing ones
//! are added, and every other file gets the new render beside it as `.mspack-new`.
//!
//! Planning ([`plan`]) is pure; [`apply`] writes each file atomically (a temporary file beside
//! it, renamed over it) and records the new base last, so an interrupted update can be run again.

mod answers;
mod apply;
mod base;
mod merge;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

pub use answers::{ANSWERS_PATH, Answers, Version, spec_from_answers};
pub use apply::{apply, beside_path, read_tree};
pub use base::{BASE_PATH, Base, parse as parse_base, record as record_base, with_base};
pub use merge::{Merged, merge};

use crate::scaffold::FileSet;

/// A file of the service's tree as `mspack update` found it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Yours {
    Missing,
    Text(String),
    /// Not UTF-8, or holding NUL bytes: never merged.
    NotText,
    /// A directory, a symlink or something else where a file is expected: never touched.
    NotAFile,
}

/// Why the new render goes beside your file instead of into it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BesideReason {
    /// Your file is not UTF-8 text, so it can't be merged.
    NotText,
    /// Something other than a regular file is at this path.
    NotAFile,
    /// You deleted the file and the template changed it.
    DeletedByYou,
    /// No recorded base, and your file differs from the new render.
    NoBase,
}

/// Why your file is left exactly as it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeepReason {
    /// You edited it and the template did not change it.
    EditedByYou,
    /// The template no longer has it, but you edited it.
    RemovedFromTemplate,
}

/// What `mspack update` does to one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Equal to the new render already.
    UpToDate,
    /// Deleted by you, unchanged by the template: stays deleted.
    StaysDeleted,
    /// New in the template: written.
    Add(String),
    /// Untouched by you: replaced by the new render.
    Replace(String),
    /// Your edits and the template's changes, merged cleanly.
    Merge(String),
    /// Merged with `conflicts` regions between conflict markers.
    Conflict { text: String, conflicts: usize },
    /// Yours kept; the new render written to `<path>.mspack-new`.
    Beside { text: String, reason: BesideReason },
    /// Yours kept as it is.
    Keep(KeepReason),
    /// Removed from the template and untouched by you: deleted.
    Remove,
}

impl Action {
    /// The word the plan prints for this action.
    pub fn verb(&self) -> &'static str {
        match self {
            Action::UpToDate => "up-to-date",
            Action::StaysDeleted => "deleted",
            Action::Add(_) => "add",
            Action::Replace(_) => "replace",
            Action::Merge(_) => "merge",
            Action::Conflict { .. } | Action::Beside { .. } => "conflict",
            Action::Keep(_) => "keep",
            Action::Remove => "remove",
        }
    }

    /// Whether the file needs the user's attention after the update.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Action::Conflict { .. } | Action::Beside { .. })
    }

    /// Whether the update leaves the file as it is.
    pub fn is_quiet(&self) -> bool {
        matches!(self, Action::UpToDate | Action::StaysDeleted)
    }
}

/// One file of the plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub path: PathBuf,
    pub action: Action,
}

/// Everything `mspack update` does, file by file in path order, and the base it records after.
#[derive(Clone, Debug)]
pub struct UpdatePlan {
    pub steps: Vec<Step>,
    /// The text of `.mspack/base.toml` after the update.
    pub new_base: String,
    /// Whether a base was recorded (false: the conservative fallback was used).
    pub had_base: bool,
}

impl UpdatePlan {
    pub fn conflicts(&self) -> impl Iterator<Item = &Step> {
        self.steps.iter().filter(|s| s.action.is_conflict())
    }

    /// Whether applying the plan writes or removes no file (the base may still be rewritten).
    pub fn writes_nothing(&self) -> bool {
        self.steps
            .iter()
            .all(|s| s.action.is_quiet() || matches!(s.action, Action::Keep(_)))
    }
}

/// Whether the new render differs from what the recorded version generated (`--check`). With
/// no recorded base, an update is always available: it records one.
pub fn update_available(base: Option<&Base>, render: &FileSet) -> bool {
    base.is_none_or(|b| {
        let rendered = render
            .files
            .iter()
            .filter(|(p, _)| p.as_path() != Path::new(BASE_PATH));
        !b.files.iter().eq(rendered)
    })
}

/// Plan the update of a tree (`yours`, read for every path of `base` and `render`) from the
/// recorded `base` to `render`, the new render without its own base. `label` names the new
/// render in conflict markers (`mspack 0.2.0`).
pub fn plan(
    base: Option<&Base>,
    render: &FileSet,
    yours: &BTreeMap<PathBuf, Yours>,
    label: &str,
) -> Result<UpdatePlan, crate::TemplateError> {
    let mut paths: BTreeSet<&Path> = render.paths().collect();
    if let Some(base) = base {
        paths.extend(base.files.keys().map(PathBuf::as_path));
    }
    paths.remove(Path::new(BASE_PATH));
    let steps = paths
        .into_iter()
        .map(|path| {
            let mine = yours.get(path).unwrap_or(&Yours::Missing);
            // A checkout with CRLF line endings (git's autocrlf) is not an edit of every line:
            // the generated files are compared and merged with your line endings.
            let crlf = matches!(mine, Yours::Text(y) if y.contains("\r\n"));
            let ending = |text: &String| {
                if crlf && !text.contains('\r') {
                    text.replace('\n', "\r\n")
                } else {
                    text.clone()
                }
            };
            let theirs = render.files.get(path).map(ending);
            let action = match base {
                Some(base) => {
                    let old = base.files.get(path).map(ending);
                    decide(old.as_deref(), mine, theirs.as_deref(), label)
                }
                None => decide_without_base(mine, theirs.as_deref()),
            };
            Step {
                path: path.to_path_buf(),
                action,
            }
        })
        .collect();
    let mut recorded = render.clone();
    recorded.files.remove(Path::new(BASE_PATH));
    Ok(UpdatePlan {
        steps,
        new_base: record_base(&recorded, crate::MSPACK_VERSION)?,
        had_base: base.is_some(),
    })
}

/// One file with a recorded base (`None`: the recorded version did not generate it).
fn decide(base: Option<&str>, yours: &Yours, theirs: Option<&str>, label: &str) -> Action {
    let beside = |text: &str, reason| Action::Beside {
        text: text.to_owned(),
        reason,
    };
    match (base, yours, theirs) {
        (_, Yours::Text(y), Some(t)) if y == t => Action::UpToDate,
        (_, Yours::Missing, None) => Action::UpToDate,
        // New in the template.
        (None, Yours::Missing, Some(t)) => Action::Add(t.to_owned()),
        // Deleted by you.
        (Some(b), Yours::Missing, Some(t)) if b == t => Action::StaysDeleted,
        (Some(_), Yours::Missing, Some(t)) => beside(t, BesideReason::DeletedByYou),
        (Some(b), Yours::Text(y), Some(t)) if y == b => Action::Replace(t.to_owned()),
        // Changed by you (whatever the file now is), not by the template.
        (Some(b), _, Some(t)) if t == b => Action::Keep(KeepReason::EditedByYou),
        (_, Yours::NotAFile, Some(t)) => beside(t, BesideReason::NotAFile),
        (_, Yours::NotText, Some(t)) => beside(t, BesideReason::NotText),
        (None, Yours::Text(y), Some(t)) => merged("", y, t, label),
        (Some(b), Yours::Text(y), Some(t)) => merged(b, y, t, label),
        // Removed from the template.
        (Some(b), Yours::Text(y), None) if y == b => Action::Remove,
        (_, Yours::Text(_) | Yours::NotText | Yours::NotAFile, None) => {
            Action::Keep(KeepReason::RemovedFromTemplate)
        }
    }
}

fn merged(base: &str, yours: &str, theirs: &str, label: &str) -> Action {
    let Merged { text, conflicts } = merge(base, yours, theirs, "yours", label);
    if conflicts == 0 {
        Action::Merge(text)
    } else {
        Action::Conflict { text, conflicts }
    }
}

/// One file without a recorded base: nothing of yours is overwritten or removed.
fn decide_without_base(yours: &Yours, theirs: Option<&str>) -> Action {
    match (yours, theirs) {
        (_, None) => Action::UpToDate,
        (Yours::Missing, Some(t)) => Action::Add(t.to_owned()),
        (Yours::Text(y), Some(t)) if y == t => Action::UpToDate,
        (Yours::Text(_), Some(t)) => Action::Beside {
            text: t.to_owned(),
            reason: BesideReason::NoBase,
        },
        (Yours::NotText, Some(t)) => Action::Beside {
            text: t.to_owned(),
            reason: BesideReason::NotText,
        },
        (Yours::NotAFile, Some(t)) => Action::Beside {
            text: t.to_owned(),
            reason: BesideReason::NotAFile,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(t: &str) -> Yours {
        Yours::Text(t.to_owned())
    }

    #[test]
    fn every_case_of_the_table() {
        let l = "mspack 9.9.9";
        let edited = "a\nmine\nc\n";
        for (base, yours, theirs, want) in [
            (
                Some("a\n"),
                text("a\n"),
                Some("b\n"),
                Action::Replace("b\n".into()),
            ),
            (
                Some("a\n"),
                text("x\n"),
                Some("a\n"),
                Action::Keep(KeepReason::EditedByYou),
            ),
            (
                Some("a\nb\nc\n"),
                text(edited),
                Some("a\nb\nc\nd\n"),
                Action::Merge("a\nmine\nc\nd\n".into()),
            ),
            (
                Some("a\n"),
                Yours::Missing,
                Some("a\n"),
                Action::StaysDeleted,
            ),
            (
                Some("a\n"),
                Yours::Missing,
                Some("b\n"),
                Action::Beside {
                    text: "b\n".into(),
                    reason: BesideReason::DeletedByYou,
                },
            ),
            (None, Yours::Missing, Some("n\n"), Action::Add("n\n".into())),
            (None, text("n\n"), Some("n\n"), Action::UpToDate),
            (Some("a\n"), text("a\n"), None, Action::Remove),
            (
                Some("a\n"),
                text("x\n"),
                None,
                Action::Keep(KeepReason::RemovedFromTemplate),
            ),
            (Some("a\n"), Yours::Missing, None, Action::UpToDate),
            (
                Some("a\n"),
                Yours::NotText,
                Some("b\n"),
                Action::Beside {
                    text: "b\n".into(),
                    reason: BesideReason::NotText,
                },
            ),
            (
                Some("a\n"),
                Yours::NotAFile,
                Some("b\n"),
                Action::Beside {
                    text: "b\n".into(),
                    reason: BesideReason::NotAFile,
                },
            ),
            (
                Some("a\n"),
                Yours::NotText,
                Some("a\n"),
                Action::Keep(KeepReason::EditedByYou),
            ),
        ] {
            assert_eq!(
                decide(base, &yours, theirs, l),
                want,
                "{base:?} {yours:?} {theirs:?}"
            );
        }
        let Action::Conflict { text, conflicts } = decide(None, &text("x\n"), Some("y\n"), l)
        else {
            panic!("a different file where the template adds one conflicts");
        };
        assert_eq!(conflicts, 1);
        assert!(
            text.contains("x\n=======\ny\n>>>>>>> mspack 9.9.9\n"),
            "{text}"
        );
    }

    #[test]
    fn without_a_base_nothing_of_yours_is_overwritten() {
        assert_eq!(
            decide_without_base(&text("a\n"), Some("a\n")),
            Action::UpToDate
        );
        assert_eq!(
            decide_without_base(&Yours::Missing, Some("a\n")),
            Action::Add("a\n".into())
        );
        assert_eq!(
            decide_without_base(&text("x\n"), Some("a\n")),
            Action::Beside {
                text: "a\n".into(),
                reason: BesideReason::NoBase
            }
        );
        assert_eq!(decide_without_base(&text("x\n"), None), Action::UpToDate);
    }

    #[test]
    fn a_crlf_checkout_is_compared_and_merged_with_its_line_endings() {
        let files = |pairs: &[(&str, &str)]| FileSet {
            files: pairs
                .iter()
                .map(|(p, t)| (PathBuf::from(p), (*t).to_owned()))
                .collect(),
        };
        let base = Base {
            mspack_version: "0.0.1".into(),
            files: files(&[("same", "a\nb\n"), ("merged", "a\nb\nc\n")]).files,
        };
        let render = files(&[("same", "a\nb\n"), ("merged", "a\nb\nc\nd\n")]);
        let yours = BTreeMap::from([
            (PathBuf::from("same"), text("a\r\nb\r\n")),
            (PathBuf::from("merged"), text("A\r\nb\r\nc\r\n")),
        ]);
        let plan =
            plan(Some(&base), &render, &yours, "mspack 9.9.9").unwrap_or_else(|e| panic!("{e}"));
        let actions: Vec<&Action> = plan.steps.iter().map(|s| &s.action).collect();
        assert_eq!(
            actions,
            [
                &Action::Merge("A\r\nb\r\nc\r\nd\r\n".into()),
                &Action::UpToDate
            ]
        );
    }

    proptest::proptest! {
        /// A side equal to the base takes the other side whole; equal sides are the result.
        #[test]
        fn one_sided_merges_are_exact(
            base in proptest::collection::vec("[abc]{0,2}\n?", 0..12),
            other in proptest::collection::vec("[abc]{0,2}\n?", 0..12),
        ) {
            let (base, other) = (base.concat(), other.concat());
            let label = "mspack 9.9.9";
            proptest::prop_assert_eq!(merge(&base, &base, &other, "yours", label), Merged { text: other.clone(), conflicts: 0 });
            proptest::prop_assert_eq!(merge(&base, &other, &base, "yours", label), Merged { text: other.clone(), conflicts: 0 });
            proptest::prop_assert_eq!(merge(&base, &other, &other, "yours", label), Merged { text: other.clone(), conflicts: 0 });
        }
    }

    #[test]
    fn an_update_is_available_when_the_render_differs_from_the_base() {
        let mut render = FileSet::default();
        render.files.insert("a".into(), "1\n".into());
        let mut base = Base {
            mspack_version: "0.0.1".into(),
            files: render.files.clone(),
        };
        assert!(update_available(None, &render));
        assert!(!update_available(Some(&base), &render));
        render.files.insert(BASE_PATH.into(), "ignored".into());
        assert!(!update_available(Some(&base), &render));
        base.files.insert("a".into(), "0\n".into());
        assert!(update_available(Some(&base), &render));
    }
}
