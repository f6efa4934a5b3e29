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
