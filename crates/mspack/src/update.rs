//! `mspack update`: re-render a service made by `mspack new` from its `.mspack/answers.toml`
//! with this mspack and merge three ways with the service's tree (see
//! `mspack_templates::update`). Exit 0: updated (or up to date); 1: conflicts left to resolve
//! (`--check`: an update is available); 2: no usable answers or base, or an I/O error.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;
use mspack_templates::MSPACK_VERSION;
use mspack_templates::scaffold;
use mspack_templates::update::{
    self, ANSWERS_PATH, Action, BASE_PATH, Base, BesideReason, KeepReason, Step, Version,
};

/// Exit code of an update that left conflicts, and of `--check` when an update is available.
pub const EXIT_ATTENTION: u8 = 1;

#[derive(Args)]
pub struct UpdateArgs {
    /// The service's directory, holding .mspack/answers.toml
    #[arg(default_value = ".", value_name = "DIR")]
    dir: PathBuf,
    /// Print what would happen to each file, write nothing (exit 1 if it would leave conflicts)
    #[arg(long, conflicts_with = "check")]
    dry_run: bool,
    /// Write nothing; exit 1 when this mspack renders the service differently from the recorded
    /// base (an update is available), 0 when not
    #[arg(long)]
    check: bool,
}

/// The recorded inputs, refused when a newer mspack wrote them.
fn read_answers(dir: &Path) -> Result<update::Answers> {
    let path = dir.join(ANSWERS_PATH);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "{} not found: `mspack update` works on a service made by `mspack new` (run it in \
             the service's directory or pass that directory)",
            path.display()
        ),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let answers =
        update::spec_from_answers(&text).with_context(|| format!("reading {}", path.display()))?;
    let current = Version::parse(MSPACK_VERSION)
        .with_context(|| format!("this mspack's version {MSPACK_VERSION:?}"))?;
    if answers.mspack_version.is_newer_than(&current) {
        bail!(
            "{} was written by mspack {}, newer than this mspack ({MSPACK_VERSION}); updating \
             would go back: install mspack {} or later",
            path.display(),
            answers.mspack_version.text,
            answers.mspack_version.text
        );
    }
    Ok(answers)
}

/// The recorded base, `None` for a service made before bases were recorded.
fn read_base(dir: &Path) -> Result<Option<(Base, String)>> {
    let path = dir.join(BASE_PATH);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let base =
                update::parse_base(&text).with_context(|| format!("reading {}", path.display()))?;
            Ok(Some((base, text)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

pub fn run(args: UpdateArgs) -> Result<ExitCode> {
    let dir = &args.dir;
    let answers = read_answers(dir)?;
    let base = read_base(dir)?;
    let render = scaffold::plan(&answers.spec)?;
    let recorded = base
        .as_ref()
        .map_or(answers.mspack_version.text.as_str(), |(b, _)| {
            b.mspack_version.as_str()
        });
    if args.check {
        return Ok(check(dir, base.as_ref().map(|(b, _)| b), &render, recorded));
    }
    let yours = {
        let mut paths: Vec<&Path> = render.paths().collect();
        if let Some((b, _)) = &base {
            paths.extend(b.files.keys().map(PathBuf::as_path));
        }
        update::read_tree(dir, paths)?
    };
    let label = format!("mspack {MSPACK_VERSION}");
    let plan = update::plan(base.as_ref().map(|(b, _)| b), &render, &yours, &label)?;
    let base_unchanged = base
        .as_ref()
        .is_some_and(|(_, text)| *text == plan.new_base);
    if !args.dry_run && plan.writes_nothing() && base_unchanged {
        eprintln!(
            "{} is up to date with mspack {MSPACK_VERSION}",
            dir.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    print_plan(&plan.steps);
    if !plan.had_base {
        eprintln!(
            "note: no {BASE_PATH} (this service was made before mspack recorded what it \
             generated), so nothing of yours is overwritten: a file that differs from the new \
             render keeps your version and gets mspack {MSPACK_VERSION}'s beside it as \
             <file>.mspack-new. Merge those by hand and delete them; later updates merge three \
             ways."
        );
    }
    let conflicts = plan.conflicts().count();
    let code = if conflicts == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_ATTENTION)
    };
    if args.dry_run {
        eprintln!(
            "dry run: {} (mspack {recorded} -> {MSPACK_VERSION}); nothing written",
            summary(&plan.steps)
        );
        return Ok(code);
    }
    warn_uncommitted(dir);
    update::apply(&plan, dir)?;
    eprintln!(
        "updated {} from mspack {recorded} to {MSPACK_VERSION}: {}",
        dir.display(),
        summary(&plan.steps)
    );
    if conflicts > 0 {
        eprintln!(
            "{conflicts} file{} need{} you: resolve the conflict markers (<<<<<<< yours, =======, \
             >>>>>>> {label}), or compare with the .mspack-new file and delete it:",
            if conflicts == 1 { "" } else { "s" },
            if conflicts == 1 { "s" } else { "" },
        );
        for step in plan.conflicts() {
            eprintln!("  {}", dir.join(&step.path).display());
        }
    }
    Ok(code)
}

/// `--check`: exit 1 and list the files when the new render differs from the recorded base.
fn check(dir: &Path, base: Option<&Base>, render: &scaffold::FileSet, recorded: &str) -> ExitCode {
    if !update::update_available(base, render) {
        eprintln!(
            "{} is up to date with mspack {MSPACK_VERSION}",
            dir.display()
        );
        return ExitCode::SUCCESS;
    }
    let Some(base) = base else {
        eprintln!(
            "update available: {} has no {BASE_PATH}; `mspack update` records one (and writes \
             the new render beside every file that differs from it)",
            dir.display()
        );
        return ExitCode::from(EXIT_ATTENTION);
    };
    let mut stdout = std::io::stdout().lock();
    let mut paths: Vec<&Path> = render.paths().collect();
    paths.extend(base.files.keys().map(PathBuf::as_path));
    paths.sort();
    paths.dedup();
    let changed: Vec<&Path> = paths
        .into_iter()
        .filter(|p| *p != Path::new(BASE_PATH))
        .filter(|p| base.files.get(*p) != render.files.get(*p))
        .collect();
    for path in &changed {
        let _ = writeln!(stdout, "{}", path.display());
    }
    eprintln!(
        "update available: mspack {MSPACK_VERSION} generates {} file{} differently from mspack \
         {recorded} (run `mspack update`)",
        changed.len(),
        if changed.len() == 1 { "" } else { "s" }
    );
    ExitCode::from(EXIT_ATTENTION)
}

/// One line per file the update touches or lists: `<action> <path> (<why>)`.
fn print_plan(steps: &[Step]) {
    let mut stdout = std::io::stdout().lock();
    for step in steps.iter().filter(|s| !s.action.is_quiet()) {
        let path = step.path.display();
        let beside = update::beside_path(&step.path);
        let note = match &step.action {
            Action::Conflict { conflicts, .. } => format!(
                " ({conflicts} conflict{}: markers in the file)",
                if *conflicts == 1 { "" } else { "s" }
            ),
            Action::Beside { reason, .. } => {
                let why = match reason {
                    BesideReason::NotText => "not UTF-8 text, so not merged: yours kept",
                    BesideReason::NotAFile => "not a regular file: left alone",
                    BesideReason::DeletedByYou => "you deleted it and mspack changed it",
                    BesideReason::NoBase => "no recorded base: yours kept",
                };
                format!(" ({why}; mspack's is {})", beside.display())
            }
            Action::Keep(KeepReason::EditedByYou) => {
                " (edited by you; the template did not change it)".to_owned()
            }
            Action::Keep(KeepReason::RemovedFromTemplate) => {
                " (no longer generated; kept because you changed it)".to_owned()
            }
            _ => String::new(),
        };
        let _ = writeln!(stdout, "{:<9} {path}{note}", step.action.verb());
    }
}

/// `3 added, 1 merged, ...` for the actions that occur.
fn summary(steps: &[Step]) -> String {
    let count = |f: fn(&Action) -> bool| steps.iter().filter(|s| f(&s.action)).count();
    let parts: Vec<String> = [
        (count(|a| matches!(a, Action::Add(_))), "added"),
        (count(|a| matches!(a, Action::Replace(_))), "replaced"),
        (count(|a| matches!(a, Action::Merge(_))), "merged"),
        (count(Action::is_conflict), "in conflict"),
        (count(|a| matches!(a, Action::Keep(_))), "kept"),
        (count(|a| matches!(a, Action::Remove)), "removed"),
        (count(Action::is_quiet), "up to date"),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{n} {what}"))
    .collect();
    if parts.is_empty() {
        "no files".to_owned()
    } else {
        parts.join(", ")
    }
}

/// Say so when the service is a git work tree with uncommitted changes (the update is fine,
/// but its changes then mix with them). Without git, or outside a repository, say nothing.
fn warn_uncommitted(dir: &Path) {
    let output = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["status", "--porcelain", "--", "."])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output();
    if let Ok(output) = output
        && output.status.success()
        && !output.stdout.is_empty()
    {
        eprintln!(
            "note: {} has uncommitted changes (git status); the update merges into them like \
             into any edit. Commit or stash first to review the update as a diff of its own.",
            dir.display()
        );
    }
}
