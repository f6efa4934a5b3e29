//! `mspack skill install|uninstall` and the pack's wrapper scripts, end to end.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;

fn mspack() -> Command {
    Command::cargo_bin("mspack").unwrap_or_else(|e| panic!("binary: {e}"))
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn install_into_the_agent_folder_refuses_to_overwrite_changes_and_uninstalls() {
    let home = tempdir();
    let skill = home.path().join(".claude/skills/microservices-pack");
    mspack()
        .env("HOME", home.path())
        .args(["skill", "install", "--dry-run"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("dry run: nothing written"));
    assert!(!skill.exists(), "--dry-run writes nothing");
    mspack()
        .env("HOME", home.path())
        .args(["skill", "install"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("installed"));
    assert!(skill.join("SKILL.md").is_file());
    assert!(skill.join("validators/mesh-validator.sh").is_file());

    std::fs::write(skill.join("SKILL.md"), "my edits\n").unwrap_or_else(|e| panic!("{e}"));
    mspack()
        .env("HOME", home.path())
        .args(["skill", "install"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("SKILL.md"))
        .stderr(predicate::str::contains("--force"));
    assert_eq!(
        std::fs::read_to_string(skill.join("SKILL.md"))
            .ok()
            .as_deref(),
        Some("my edits\n")
    );

    mspack()
        .env("HOME", home.path())
        .args(["skill", "uninstall"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("keep"));
    assert!(skill.join("SKILL.md").is_file(), "changed files are kept");
    assert!(!skill.join("validators").exists());
}

#[test]
fn project_scope_uses_the_agents_project_folder() {
    let project = tempdir();
    mspack()
        .current_dir(project.path())
        .env_remove("HOME")
        .args(["skill", "install", "--agent", "copilot", "--project"])
        .assert()
        .code(0);
    assert!(
        project
            .path()
            .join(".github/skills/microservices-pack/SKILL.md")
            .is_file()
    );
}

fn path_with_mspack() -> String {
    let bin = assert_cmd::cargo::cargo_bin("mspack");
    let dir = bin.parent().map(Path::to_path_buf).unwrap_or_default();
    format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

#[test]
fn mesh_validator_wrapper_runs_mspack_lint_with_its_exit_codes() {
    let dir = tempdir();
    let clean = dir.path().join("clean.yaml");
    std::fs::write(
        &clean,
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: orders, namespace: food}\nspec: {host: orders.food.svc.cluster.local, exportTo: [\".\"]}\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let short = dir.path().join("short.yaml");
    std::fs::write(
        &short,
        std::fs::read_to_string(&clean)
            .unwrap_or_default()
            .replace("orders.food.svc.cluster.local", "orders"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let script = repo_file("validators/mesh-validator.sh");
    let run = |file: &Path| {
        std::process::Command::new("bash")
            .arg(&script)
            .arg(file)
            .env("PATH", path_with_mspack())
            .output()
            .unwrap_or_else(|e| panic!("{e}"))
    };
    assert_eq!(run(&clean).status.code(), Some(0));
    let out = run(&short);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("MSP101"));
    let missing = std::process::Command::new("bash")
        .arg(&script)
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        missing.status.code(),
        Some(2),
        "no mspack on PATH is a usage error"
    );
}

#[test]
fn scaffold_wrapper_runs_mspack_new() {
    let dir = tempdir();
    let out = std::process::Command::new("bash")
        .arg(repo_file("scripts/scaffold-microservice.sh"))
        .args(["orders", "--namespace", "food", "--dry-run"])
        .current_dir(dir.path())
        .env("PATH", path_with_mspack())
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(
        listing.contains("Cargo.toml") && listing.contains("Dockerfile"),
        "{listing}"
    );
    assert!(
        !dir.path().join("orders").exists(),
        "--dry-run writes nothing"
    );
}

/// Issue 15: `--agent all` installs into every agent's folder and the shared `.agents/skills`,
/// each copy carries the binary that installed it, and the wrapper scripts run from each
/// installed folder with no mspack on PATH (they find their own folder and its bin/mspack).
/// A bin/mspack of another version is refused; `skill list` reports every copy as current.
#[test]
fn install_for_every_agent_carries_the_binary_and_the_wrappers_run_from_each_folder() {
    let home = tempdir();
    let work = tempdir();
    mspack()
        .env("HOME", home.path())
        .current_dir(work.path())
        .args(["skill", "install", "--agent", "all"])
        .assert()
        .code(0);
    let folders = [
        ".agents/skills",
        ".claude/skills",
        ".cursor/skills",
        ".copilot/skills",
        ".gemini/skills",
        ".codeium/windsurf/skills",
    ];
    let short = work.path().join("short.yaml");
    std::fs::write(
        &short,
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: orders, namespace: food}\nspec: {host: orders, exportTo: [\".\"]}\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let bare_path = "/usr/bin:/bin";
    for folder in folders {
        let skill = home.path().join(folder).join("microservices-pack");
        assert!(skill.join("SKILL.md").is_file(), "{folder}");
        let version = std::fs::read_to_string(skill.join("bin/VERSION")).unwrap_or_default();
        assert_eq!(version.trim(), env!("CARGO_PKG_VERSION"), "{folder}");
        let lint = std::process::Command::new("bash")
            .arg(skill.join("validators/mesh-validator.sh"))
            .arg(&short)
            .env("PATH", bare_path)
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            lint.status.code(),
            Some(1),
            "{folder}: {}",
            String::from_utf8_lossy(&lint.stderr)
        );
        assert!(String::from_utf8_lossy(&lint.stdout).contains("MSP101"));
        let new = std::process::Command::new("bash")
            .arg(skill.join("scripts/scaffold-microservice.sh"))
            .args(["orders", "--dry-run"])
            .current_dir(work.path())
            .env("PATH", bare_path)
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            new.status.code(),
            Some(0),
            "{folder}: {}",
            String::from_utf8_lossy(&new.stderr)
        );
    }
    mspack()
        .env("HOME", home.path())
        .current_dir(work.path())
        .args(["skill", "list"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("agents   user"))
        .stdout(predicate::str::contains("windsurf user"))
        .stdout(predicate::str::contains("current").count(6));

    // The version check: a skill written for another mspack refuses to run this one.
    let claude = home.path().join(".claude/skills/microservices-pack");
    std::fs::write(claude.join("bin/VERSION"), "0.0.0-other\n").unwrap_or_else(|e| panic!("{e}"));
    let refused = std::process::Command::new("bash")
        .arg(claude.join("validators/mesh-validator.sh"))
        .arg(&short)
        .env("PATH", bare_path)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("written for mspack 0.0.0-other"));
    mspack()
        .env("HOME", home.path())
        .current_dir(work.path())
        .args(["skill", "list"])
        .assert()
        .stdout(predicate::str::contains("changed by you"));
}
