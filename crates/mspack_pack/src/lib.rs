//! The microservices pack that an AI coding agent reads, embedded in the binary, and its
//! installer.
//!
//! Layout of the installed skill folder (`<agent skills dir>/microservices-pack/`), built from
//! everything under the repository's `pack/` plus the two wrapper scripts:
//!
//! ```text
//! SKILL.md                                  entry point: front matter, persona, procedure
//! references/architectural-patterns.md      DDD, sagas, outbox, event sourcing, CQRS, ...
//! references/service-mesh-patterns.md       Istio and Gateway API, pitfalls -> lint codes
//! references/observability-patterns.md      OpenTelemetry, Collector, OBI
//! examples/worked-example.yaml              the food-delivery system, lint-clean
//! templates/*.yaml                          `mspack render` output with default values
//! scripts/scaffold-microservice.sh          wrapper over `mspack new`
//! scripts/find-mspack.sh                    sourced by the wrappers: which `mspack` to run
//! validators/mesh-validator.sh              wrapper over `mspack lint`
//! bin/VERSION                               the mspack version the skill was written for
//! bin/mspack                                that mspack (the binary that installed the skill)
//! ```
//!
//! The wrappers find the skill folder from their own path, so they work from every agent's
//! folder, and run `bin/mspack` after checking that its `--version` is `bin/VERSION`: the agent
//! runs the version the skill was written for, not whatever `mspack` is on `PATH`.
//!
//! Installing never loses a user's work: every file mspack writes is recorded with its SHA-256 in
//! `.mspack-manifest.json` inside the skill folder. A later install or uninstall touches a file
//! only if it is still exactly what mspack wrote; a file the user changed, or one mspack did not
//! write, is a conflict (reported, left alone) unless `force` is set. Files are written to a
//! temporary name and renamed, so an interrupted install leaves whole files.
//!
//! [`fences`] reads the code blocks of the pack's Markdown for the tests that keep it true
//! (`tests/truth.rs` lints the YAML blocks; the `mspack` crate runs the `sh` blocks).

pub mod fences;

/// The Rust blocks of the pack's Markdown, compiled (and run, unless marked `no_run`) by
/// `cargo test --doc`, so the code the pack teaches keeps building against the crates it
/// teaches. `tests/truth.rs` checks that every Markdown file with a Rust block is listed here.
#[cfg(doctest)]
pub mod pack_code {
    #[doc = include_str!("../../../pack/SKILL.md")]
    pub struct Skill;
    #[doc = include_str!("../../../pack/references/architectural-patterns.md")]
    pub struct ArchitecturalPatterns;
    #[doc = include_str!("../../../pack/references/service-mesh-patterns.md")]
    pub struct ServiceMeshPatterns;
    #[doc = include_str!("../../../pack/references/observability-patterns.md")]
    pub struct ObservabilityPatterns;
}

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

include!(concat!(env!("OUT_DIR"), "/embedded.rs"));

/// The skill's folder name in every agent's skills directory.
pub const SKILL_NAME: &str = "microservices-pack";
/// The manifest of what mspack installed, inside the skill folder.
pub const MANIFEST: &str = ".mspack-manifest.json";

/// One embedded file.
#[derive(Clone, Copy, Debug)]
pub struct PackFile {
    /// Path inside the installed skill folder, `/`-separated.
    pub path: &'static str,
    pub contents: &'static [u8],
}

impl PackFile {
    /// Shell scripts are installed executable.
    pub fn executable(&self) -> bool {
        self.path.ends_with(".sh")
    }
}

/// Where an installed skill keeps the binary that installed it.
pub const BINARY: &str = "bin/mspack";

/// The version the pack was written for, as `mspack --version` prints it after `mspack `.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Every file of the pack, sorted by path (the binary is not among them: see
/// [`plan_install_with_binary`]).
pub fn files() -> Vec<PackFile> {
    let mut files: Vec<PackFile> = EMBEDDED
        .iter()
        .map(|(path, contents)| PackFile { path, contents })
        .chain([PackFile {
            path: "bin/VERSION",
            contents: concat!(env!("CARGO_PKG_VERSION"), "\n").as_bytes(),
        }])
        .collect();
    files.sort_by_key(|f| f.path);
    files
}

/// One embedded file by path.
pub fn file(path: &str) -> Option<PackFile> {
    files().into_iter().find(|f| f.path == path)
}

/// Coding agents whose skills folder mspack knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Agent {
    /// The shared `.agents/skills` folder of the Agent Skills convention, read by Gemini CLI,
    /// Copilot, Warp and others besides their own folders.
    Shared,
    Claude,
    Cursor,
    Copilot,
    Gemini,
    Windsurf,
}

impl Agent {
    pub const ALL: [Agent; 6] = [
        Agent::Shared,
        Agent::Claude,
        Agent::Cursor,
        Agent::Copilot,
        Agent::Gemini,
        Agent::Windsurf,
    ];

    pub fn parse(name: &str) -> Option<Agent> {
        Agent::ALL.into_iter().find(|a| a.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Agent::Shared => "agents",
            Agent::Claude => "claude",
            Agent::Cursor => "cursor",
            Agent::Copilot => "copilot",
            Agent::Gemini => "gemini",
            Agent::Windsurf => "windsurf",
        }
    }

    /// The agent's skills folder: per user (under `home`) or per project (under `project`).
    pub fn skills_dir(self, project_scope: bool, home: &Path, project: &Path) -> PathBuf {
        let (base, rel) = match (self, project_scope) {
            (Agent::Shared, false) => (home, ".agents/skills"),
            (Agent::Shared, true) => (project, ".agents/skills"),
            (Agent::Claude, false) => (home, ".claude/skills"),
            (Agent::Claude, true) => (project, ".claude/skills"),
            (Agent::Cursor, false) => (home, ".cursor/skills"),
            (Agent::Cursor, true) => (project, ".cursor/skills"),
            (Agent::Copilot, false) => (home, ".copilot/skills"),
            (Agent::Copilot, true) => (project, ".github/skills"),
            (Agent::Gemini, false) => (home, ".gemini/skills"),
            (Agent::Gemini, true) => (project, ".gemini/skills"),
            (Agent::Windsurf, false) => (home, ".codeium/windsurf/skills"),
            (Agent::Windsurf, true) => (project, ".windsurf/skills"),
        };
        base.join(rel)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PackError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: unreadable manifest ({message}); remove it or use --force")]
    Manifest { path: PathBuf, message: String },
    #[error(
        "{} file(s) in {} were changed by you or not written by mspack; nothing was written (use --force to overwrite):\n  {}",
        paths.len(),
        dir.display(),
        paths.join("\n  ")
    )]
    Conflicts { dir: PathBuf, paths: Vec<String> },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PackError + '_ {
    move |source| PackError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Manifest {
    version: String,
    /// path -> sha256 hex of what mspack wrote.
    files: BTreeMap<String, String>,
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn read_manifest(dir: &Path) -> Result<Manifest, PackError> {
    let path = dir.join(MANIFEST);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| PackError::Manifest {
            path,
            message: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Manifest::default()),
        Err(source) => Err(PackError::Io { path, source }),
    }
}

/// The mspack version that installed the skill in `dir` (from its manifest), if any did.
pub fn installed_version(dir: &Path) -> Result<Option<String>, PackError> {
    if !dir.join(MANIFEST).is_file() {
        return Ok(None);
    }
    Ok(Some(read_manifest(dir)?.version))
}

/// What an install does to one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Not there yet.
    Create,
    /// Written by an earlier install, untouched since, different now.
    Update,
    /// Already identical.
    Unchanged,
    /// Changed by the user (or not written by mspack): left alone unless forced.
    Conflict,
}

/// The planned install into one skill folder.
#[derive(Debug)]
pub struct InstallPlan {
    pub dir: PathBuf,
    pub steps: Vec<(PackFile, Action)>,
    /// The binary to install as [`BINARY`] (the one running the install), and what that does.
    /// Shared, not copied, between the plans of several agents' folders.
    pub binary: Option<(Arc<[u8]>, Action)>,
}

impl InstallPlan {
    pub fn conflicts(&self) -> Vec<&'static str> {
        self.steps
            .iter()
            .map(|(f, a)| (f.path, *a))
            .chain(self.binary.as_ref().map(|(_, a)| (BINARY, *a)))
            .filter(|(_, a)| *a == Action::Conflict)
            .map(|(path, _)| path)
            .collect()
    }

    pub fn count(&self, action: Action) -> usize {
        self.steps.iter().filter(|(_, a)| *a == action).count()
            + usize::from(self.binary.as_ref().is_some_and(|(_, a)| *a == action))
    }

    /// The conflicts as an error (nothing is written by whoever checks first), unless `force`.
    pub fn refuse_conflicts(&self, force: bool) -> Result<(), PackError> {
        let conflicts = self.conflicts();
        if conflicts.is_empty() || force {
            return Ok(());
        }
        Err(PackError::Conflicts {
            dir: self.dir.clone(),
            paths: conflicts.iter().map(|p| p.to_string()).collect(),
        })
    }

    /// Every step as (path inside the skill folder, action), the binary last.
    pub fn actions(&self) -> Vec<(&'static str, Action)> {
        self.steps
            .iter()
            .map(|(f, a)| (f.path, *a))
            .chain(self.binary.as_ref().map(|(_, a)| (BINARY, *a)))
            .collect()
    }
}

/// Decide, file by file, what installing the pack alone into `dir` would do. Reads, never
/// writes.
pub fn plan_install(dir: &Path) -> Result<InstallPlan, PackError> {
    plan_install_with_binary(dir, None)
}

/// [`plan_install`], plus `binary` (the bytes of the running `mspack`) as [`BINARY`].
pub fn plan_install_with_binary(
    dir: &Path,
    binary: Option<Arc<[u8]>>,
) -> Result<InstallPlan, PackError> {
    let manifest = read_manifest(dir)?;
    let mut steps = Vec::new();
    for file in files() {
        steps.push((file, plan_file(dir, &manifest, file.path, file.contents)?));
    }
    let binary = match binary {
        Some(bytes) => {
            let action = plan_file(dir, &manifest, BINARY, &bytes)?;
            Some((bytes, action))
        }
        None => None,
    };
    Ok(InstallPlan {
        dir: dir.to_path_buf(),
        steps,
        binary,
    })
}

/// What writing `contents` to `rel` inside `dir` does, given what mspack wrote before.
fn plan_file(
    dir: &Path,
    manifest: &Manifest,
    rel: &str,
    contents: &[u8],
) -> Result<Action, PackError> {
    let path = dir.join(rel);
    Ok(match std::fs::read(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Action::Create,
        Err(source) => return Err(PackError::Io { path, source }),
        Ok(existing) if existing == contents => Action::Unchanged,
        Ok(existing) => {
            let ours = manifest.files.get(rel);
            if ours.is_some_and(|hash| *hash == sha256(&existing)) {
                Action::Update
            } else {
                Action::Conflict
            }
        }
    })
}

/// Carry out a plan. Refuses (and writes nothing) when it has conflicts, unless `force`.
pub fn install(plan: &InstallPlan, force: bool) -> Result<(), PackError> {
    plan.refuse_conflicts(force)?;
    let mut manifest = read_manifest(&plan.dir).unwrap_or_default();
    manifest.version = env!("CARGO_PKG_VERSION").to_string();
    for (file, action) in &plan.steps {
        if *action != Action::Unchanged {
            write_file(&plan.dir.join(file.path), file.contents, file.executable())?;
        }
        manifest
            .files
            .insert(file.path.to_string(), sha256(file.contents));
    }
    if let Some((bytes, action)) = &plan.binary {
        if *action != Action::Unchanged {
            write_file(&plan.dir.join(BINARY), bytes, true)?;
        }
        manifest.files.insert(BINARY.to_string(), sha256(bytes));
    }
    let text = serde_json::to_vec_pretty(&manifest).unwrap_or_default();
    write_file(&plan.dir.join(MANIFEST), &text, false)
}

fn write_file(path: &Path, contents: &[u8], executable: bool) -> Result<(), PackError> {
    let parent = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io(parent))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = parent.join(format!(".{name}.mspack-tmp.{}", std::process::id()));
    std::fs::write(&tmp, contents).map_err(io(&tmp))?;
    #[cfg(unix)]
    if executable {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).map_err(io(&tmp))?;
    }
    #[cfg(not(unix))]
    let _ = executable;
    std::fs::rename(&tmp, path).map_err(|source| {
        let _ = std::fs::remove_file(&tmp);
        PackError::Io {
            path: path.to_path_buf(),
            source,
        }
    })
}

/// What an uninstall did (or, in a dry run, would do).
#[derive(Debug, Default)]
pub struct UninstallReport {
    pub removed: Vec<String>,
    /// Changed since mspack wrote them: kept.
    pub kept: Vec<String>,
}

/// Remove the files mspack installed in `dir` that are unchanged since; keep changed ones
/// (remove them too with `force`). Then remove the manifest and folders left empty.
pub fn uninstall(dir: &Path, force: bool, dry_run: bool) -> Result<UninstallReport, PackError> {
    let manifest = read_manifest(dir)?;
    let mut report = UninstallReport::default();
    for (path, hash) in &manifest.files {
        let full = dir.join(path);
        match std::fs::read(&full) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => return Err(PackError::Io { path: full, source }),
            Ok(existing) if force || sha256(&existing) == *hash => {
                if !dry_run {
                    std::fs::remove_file(&full).map_err(io(&full))?;
                }
                report.removed.push(path.clone());
            }
            Ok(_) => report.kept.push(path.clone()),
        }
    }
    if !dry_run {
        let manifest_path = dir.join(MANIFEST);
        if manifest_path.exists() && report.kept.is_empty() {
            std::fs::remove_file(&manifest_path).map_err(io(&manifest_path))?;
        }
        remove_empty_dirs(dir);
    }
    Ok(report)
}

fn remove_empty_dirs(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.path().is_dir() {
                remove_empty_dirs(&entry.path());
            }
        }
    }
    // Fails (and keeps the folder) when it is not empty.
    let _ = std::fs::remove_dir(dir);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir() -> tempfile::TempDir {
        tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_pack_embeds_the_skill_and_both_wrapper_scripts() {
        assert!(file("SKILL.md").is_some());
        assert!(file("scripts/scaffold-microservice.sh").is_some_and(|f| f.executable()));
        assert!(file("validators/mesh-validator.sh").is_some());
    }

    #[test]
    fn install_writes_every_file_then_is_idempotent() {
        let dir = tempdir();
        let target = dir.path().join(SKILL_NAME);
        let plan = plan_install(&target).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(plan.count(Action::Create), files().len());
        install(&plan, false).unwrap_or_else(|e| panic!("{e}"));
        for f in files() {
            assert_eq!(
                std::fs::read(target.join(f.path)).ok().as_deref(),
                Some(f.contents)
            );
        }
        let again = plan_install(&target).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again.count(Action::Unchanged), files().len());
    }

    #[test]
    fn a_file_the_user_changed_is_a_conflict_and_nothing_is_written() {
        let dir = tempdir();
        let target = dir.path().join(SKILL_NAME);
        let plan = plan_install(&target).unwrap_or_else(|e| panic!("{e}"));
        install(&plan, false).unwrap_or_else(|e| panic!("{e}"));
        let skill = target.join("SKILL.md");
        std::fs::write(&skill, "my notes\n").unwrap_or_else(|e| panic!("{e}"));
        let script = target.join("validators/mesh-validator.sh");
        std::fs::remove_file(&script).unwrap_or_else(|e| panic!("{e}"));
        let plan = plan_install(&target).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(plan.conflicts(), vec!["SKILL.md"]);
        assert!(matches!(
            install(&plan, false),
            Err(PackError::Conflicts { .. })
        ));
        assert_eq!(
            std::fs::read_to_string(&skill).ok().as_deref(),
            Some("my notes\n")
        );
        assert!(!script.exists(), "a refused install writes nothing");
        install(&plan, true).unwrap_or_else(|e| panic!("{e}"));
        assert!(script.exists());
        assert_ne!(
            std::fs::read_to_string(&skill).ok().as_deref(),
            Some("my notes\n")
        );
    }

    #[test]
    fn a_foreign_file_in_the_way_is_a_conflict() {
        let dir = tempdir();
        let target = dir.path().join(SKILL_NAME);
        std::fs::create_dir_all(&target).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(target.join("SKILL.md"), "someone else's skill")
            .unwrap_or_else(|e| panic!("{e}"));
        let plan = plan_install(&target).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(plan.conflicts(), vec!["SKILL.md"]);
    }

    #[test]
    fn uninstall_removes_only_unchanged_files() {
        let dir = tempdir();
        let target = dir.path().join(SKILL_NAME);
        let plan = plan_install(&target).unwrap_or_else(|e| panic!("{e}"));
        install(&plan, false).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(target.join("SKILL.md"), "edited").unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(target.join("mine.txt"), "not ours").unwrap_or_else(|e| panic!("{e}"));
        let dry = uninstall(&target, false, true).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            target.join("validators/mesh-validator.sh").exists(),
            "dry run removes nothing"
        );
        let report = uninstall(&target, false, false).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(dry.removed, report.removed);
        assert_eq!(report.kept, vec!["SKILL.md"]);
        assert!(target.join("SKILL.md").exists() && target.join("mine.txt").exists());
        assert!(!target.join("validators").exists());
    }

    #[test]
    fn agents_have_distinct_user_and_project_folders() {
        let (home, project) = (Path::new("/h"), Path::new("/p"));
        let mut seen = std::collections::HashSet::new();
        for agent in Agent::ALL {
            assert_eq!(Agent::parse(agent.name()), Some(agent));
            assert!(seen.insert(agent.skills_dir(false, home, project)));
            assert!(agent.skills_dir(true, home, project).starts_with(project));
        }
        assert_eq!(
            Agent::Claude.skills_dir(false, home, project),
            Path::new("/h/.claude/skills")
        );
    }
}
