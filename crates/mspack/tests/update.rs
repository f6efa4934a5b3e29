//! `mspack update` through the binary: a service scaffolded "by an older mspack" (its recorded
//! base and files rewritten as an older template set would have made them), edited by its user,
//! then updated: both the user's edits and the template's changes survive; conflicts get
//! markers, a list and exit 1; `--check` and `--dry-run` write nothing; a non-UTF-8 file is never
//! lost; missing or unusable answers exit 2 and change nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use mspack_templates::MSPACK_VERSION;
use mspack_templates::scaffold::FileSet;
use mspack_templates::update::{BASE_PATH, parse_base, record_base};
use predicates::prelude::*;

const OLD: &str = "0.0.9";

fn mspack() -> Command {
    Command::cargo_bin("mspack").unwrap_or_else(|e| panic!("binary: {e}"))
}

/// `mspack new orders --namespace food` in `dir`; the service's path and its generated files.
fn scaffold(dir: &Path) -> (PathBuf, BTreeMap<PathBuf, String>) {
    mspack()
        .current_dir(dir)
        .args(["new", "orders", "--namespace", "food"])
        .assert()
        .success();
    let service = dir.join("orders");
    let base = read(&service, BASE_PATH);
    let files = parse_base(&base).unwrap_or_else(|e| panic!("{e}")).files;
    assert!(files.contains_key(Path::new("README.md")), "{files:?}");
    (service, files)
}

fn read(service: &Path, path: &str) -> String {
    std::fs::read_to_string(service.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn write(service: &Path, path: &str, text: impl AsRef<[u8]>) {
    let full = service.join(path);
    if let Some(dir) = full.parent() {
        std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{e}"));
    }
    std::fs::write(&full, text).unwrap_or_else(|e| panic!("{path}: {e}"));
}

/// The line of the current README that the older template set lacked.
const ADDED_LINE: &str = "- `GET /livez`, `GET /readyz` (503 problem while draining), `POST /v1/items`, \
                          `GET /v1/items/{id}`.\n";

/// What "mspack 0.0.9" generated: the current files with its version, without the routes line
/// of the README, another first line in src/main.rs, no .dockerignore, and two files the
/// current templates no longer generate.
fn older(current: &BTreeMap<PathBuf, String>) -> BTreeMap<PathBuf, String> {
    let mut old = current.clone();
    let edit = |old: &mut BTreeMap<PathBuf, String>, path: &str, from: &str, to: &str| {
        let text = old
            .get_mut(Path::new(path))
            .unwrap_or_else(|| panic!("{path}"));
        assert!(text.contains(from), "{path} lacks {from:?}");
        *text = text.replacen(from, to, 1);
    };
    edit(&mut old, "README.md", ADDED_LINE, "");
    edit(
        &mut old,
        "README.md",
        &format!("`mspack new` ({MSPACK_VERSION})"),
        &format!("`mspack new` ({OLD})"),
    );
    edit(
        &mut old,
        ".mspack/answers.toml",
        &format!("mspack_version = \"{MSPACK_VERSION}\""),
        &format!("mspack_version = \"{OLD}\""),
    );
    edit(
        &mut old,
        "src/main.rs",
        "//! orders: start telemetry, serve HTTP on 0.0.0.0:$PORT, drain on SIGTERM, flush telemetry.",
        "//! orders: the service's binary.",
    );
    old.remove(Path::new(".dockerignore"));
    old.insert("docs/old-notes.md".into(), "generated notes\n".into());
    old.insert("docs/guide.md".into(), "generated guide\n".into());
    old
}

/// Turn the fresh scaffold in `service` into what the older mspack left: its files and its base.
fn make_older(service: &Path, current: &BTreeMap<PathBuf, String>) -> BTreeMap<PathBuf, String> {
    let old = older(current);
    for path in current.keys().chain(old.keys()) {
        let full = service.join(path);
        match old.get(path) {
            Some(text) => write(service, &path.to_string_lossy(), text),
            None => std::fs::remove_file(&full).unwrap_or_else(|e| panic!("{path:?}: {e}")),
        }
    }
    let base = record_base(&FileSet { files: old.clone() }, OLD).unwrap_or_else(|e| panic!("{e}"));
    write(service, BASE_PATH, base);
    old
}

/// Every file under `dir`, by relative path.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{e}"));
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{e}"));
                let relative = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
                out.insert(relative, bytes);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn update(service: &Path, args: &[&str]) -> assert_cmd::assert::Assert {
    mspack().arg("update").arg(service).args(args).assert()
}

#[test]
fn the_users_edits_and_the_templates_changes_are_both_kept() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (service, current) = scaffold(dir.path());
    make_older(&service, &current);
    // The user's edits: a section at the end of the README (the template adds a line in the
    // middle), a doc comment in main.rs (the template changes its first line), lib.rs (the
    // template didn't change it), a generated doc the template dropped, a deleted test file.
    let readme = format!(
        "{}\n## Team notes\n\nOwned by team food.\n",
        read(&service, "README.md")
    );
    write(&service, "README.md", &readme);
    let main = read(&service, "src/main.rs").replace(
        "/// The binary's name, for messages on stderr.",
        "/// The binary's name, for messages on stderr (ours).",
    );
    write(&service, "src/main.rs", &main);
    let lib = format!("{}\n// team food was here\n", read(&service, "src/lib.rs"));
    write(&service, "src/lib.rs", &lib);
    write(
        &service,
        "docs/guide.md",
        "generated guide\nplus our runbook\n",
    );
    std::fs::remove_file(service.join("tests/http.rs")).unwrap_or_else(|e| panic!("{e}"));

    update(&service, &["--check"])
        .code(1)
        .stdout(predicate::str::contains("README.md").and(predicate::str::contains("src/main.rs")))
        .stderr(predicate::str::contains("update available"));
    update(&service, &[])
        .success()
        .stdout(
            predicate::str::contains("merge     README.md")
                .and(predicate::str::contains("merge     src/main.rs"))
                .and(predicate::str::contains("keep      src/lib.rs"))
                .and(predicate::str::contains("add       .dockerignore"))
                .and(predicate::str::contains("remove    docs/old-notes.md"))
                .and(predicate::str::contains("keep      docs/guide.md"))
                .and(predicate::str::contains("replace   .mspack/answers.toml")),
        )
        .stderr(predicate::str::contains(format!(
            "from mspack {OLD} to {MSPACK_VERSION}"
        )));

    let readme = read(&service, "README.md");
    assert!(
        readme.contains(ADDED_LINE),
        "the template's new line:\n{readme}"
    );
    assert!(
        readme.contains(&format!("`mspack new` ({MSPACK_VERSION})")),
        "{readme}"
    );
    assert!(
        readme.ends_with("## Team notes\n\nOwned by team food.\n"),
        "{readme}"
    );
    assert!(!readme.contains("<<<<<<<"), "{readme}");
    let main = read(&service, "src/main.rs");
    assert!(
        main.starts_with("//! orders: start telemetry, serve HTTP"),
        "{main}"
    );
    assert!(main.contains("messages on stderr (ours)."), "{main}");
    assert_eq!(read(&service, "src/lib.rs"), lib);
    assert_eq!(
        read(&service, ".dockerignore"),
        current[Path::new(".dockerignore")]
    );
    assert!(!service.join("docs/old-notes.md").exists());
    assert_eq!(
        read(&service, "docs/guide.md"),
        "generated guide\nplus our runbook\n"
    );
    assert!(
        !service.join("tests/http.rs").exists(),
        "deleted by the user, stays deleted"
    );
    let answers = read(&service, ".mspack/answers.toml");
    assert!(answers.contains(&format!("mspack_version = \"{MSPACK_VERSION}\"")));
    // The base is now what this mspack generates, so nothing more is available.
    let base = parse_base(&read(&service, BASE_PATH)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (base.mspack_version.as_str(), &base.files),
        (MSPACK_VERSION, &current)
    );
    update(&service, &["--check"]).success();
    // No temporary file is left behind.
    let stray: Vec<PathBuf> = snapshot(&service)
        .into_keys()
        .filter(|p| p.to_string_lossy().contains(".mspack-update-"))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
    // A second update changes nothing.
    let before = snapshot(&service);
    update(&service, &[])
        .success()
        .stderr(predicate::str::contains("up to date"));
    assert_eq!(snapshot(&service), before);
}

#[test]
fn conflicts_get_markers_a_list_and_exit_1() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (service, current) = scaffold(dir.path());
    let old = make_older(&service, &current);
    // The line the template changes (its version), changed by the user too.
    let ours_line = "An HTTP service of team food: axum on tokio, OpenTelemetry";
    let readme = read(&service, "README.md").replace(
        &format!(
            "An HTTP service scaffolded by `mspack new` ({OLD}): axum on tokio, OpenTelemetry"
        ),
        ours_line,
    );
    write(&service, "README.md", &readme);
    // A file of the user's where the template now adds one.
    write(&service, ".dockerignore", "node_modules/\n");
    // A file the template changes, deleted by the user.
    std::fs::remove_file(service.join("src/main.rs")).unwrap_or_else(|e| panic!("{e}"));

    update(&service, &[])
        .code(1)
        .stdout(
            predicate::str::contains("conflict  README.md (1 conflict: markers in the file)")
                .and(predicate::str::contains("conflict  .dockerignore"))
                .and(predicate::str::contains(
                    "conflict  src/main.rs (you deleted it",
                )),
        )
        .stderr(
            predicate::str::contains("3 files need you")
                .and(predicate::str::contains("README.md"))
                .and(predicate::str::contains("src/main.rs")),
        );
    let readme = read(&service, "README.md");
    let theirs_line = format!(
        "An HTTP service scaffolded by `mspack new` ({MSPACK_VERSION}): axum on tokio, OpenTelemetry"
    );
    let conflict = format!(
        "<<<<<<< yours\n{ours_line}\n=======\n{theirs_line}\n>>>>>>> mspack {MSPACK_VERSION}\n"
    );
    assert!(readme.contains(&conflict), "{readme}");
    // The rest merged: the template's added line is there.
    assert!(readme.contains(ADDED_LINE), "{readme}");
    let ignore = read(&service, ".dockerignore");
    assert!(
        ignore.starts_with("<<<<<<< yours\nnode_modules/\n=======\n") && ignore.contains("target/"),
        "{ignore}"
    );
    assert!(!service.join("src/main.rs").exists());
    assert_eq!(
        read(&service, "src/main.rs.mspack-new"),
        current[Path::new("src/main.rs")]
    );
    assert_ne!(
        old[Path::new("src/main.rs")],
        current[Path::new("src/main.rs")]
    );
    // Resolved or not, the conflicts are the user's now: a second update leaves them alone.
    let before = snapshot(&service);
    update(&service, &[]).success();
    assert_eq!(snapshot(&service), before);
}

#[test]
fn dry_run_prints_the_plan_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (service, current) = scaffold(dir.path());
    make_older(&service, &current);
    let readme = format!("{}\nours\n", read(&service, "README.md"));
    write(&service, "README.md", &readme);
    let before = snapshot(dir.path());
    update(&service, &["--dry-run"])
        .success()
        .stdout(
            predicate::str::contains("merge     README.md")
                .and(predicate::str::contains("add       .dockerignore"))
                .and(predicate::str::contains("remove    docs/old-notes.md")),
        )
        .stderr(predicate::str::contains("nothing written"));
    assert_eq!(snapshot(dir.path()), before);
    // A dry run that would leave a conflict exits as the update would.
    write(&service, "src/main.rs", "fn main() {}\n");
    let before = snapshot(dir.path());
    update(&service, &["--dry-run"])
        .code(1)
        .stdout(predicate::str::contains("conflict  src/main.rs"));
    update(&service, &["--check"]).code(1);
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn a_file_that_is_not_utf8_is_kept_and_the_new_render_goes_beside_it() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (service, current) = scaffold(dir.path());
    make_older(&service, &current);
    let bytes: &[u8] = b"\xff\xfe not utf-8 \x00\x01";
    write(&service, "src/main.rs", bytes);
    update(&service, &[])
        .code(1)
        .stdout(predicate::str::contains(
            "conflict  src/main.rs (not UTF-8 text",
        ));
    assert_eq!(
        std::fs::read(service.join("src/main.rs")).unwrap_or_default(),
        bytes
    );
    assert_eq!(
        read(&service, "src/main.rs.mspack-new"),
        current[Path::new("src/main.rs")]
    );
}

#[test]
fn without_a_recorded_base_nothing_of_the_users_is_overwritten() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (service, current) = scaffold(dir.path());
    std::fs::remove_file(service.join(BASE_PATH)).unwrap_or_else(|e| panic!("{e}"));
    let readme = format!("{}\nours\n", read(&service, "README.md"));
    write(&service, "README.md", &readme);
    std::fs::remove_file(service.join("Dockerfile")).unwrap_or_else(|e| panic!("{e}"));
    update(&service, &["--check"])
        .code(1)
        .stderr(predicate::str::contains("no .mspack/base.toml"));
    update(&service, &[])
        .code(1)
        .stdout(
            predicate::str::contains("conflict  README.md (no recorded base")
                .and(predicate::str::contains("add       Dockerfile")),
        )
        .stderr(predicate::str::contains("no .mspack/base.toml"));
    assert_eq!(read(&service, "README.md"), readme);
    assert_eq!(
        read(&service, "README.md.mspack-new"),
        current[Path::new("README.md")]
    );
    assert_eq!(
        read(&service, "Dockerfile"),
        current[Path::new("Dockerfile")]
    );
    let base = parse_base(&read(&service, BASE_PATH)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(base.files, current);
    update(&service, &["--check"]).success();
}

#[test]
fn missing_or_unusable_answers_exit_2_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (service, current) = scaffold(dir.path());
    make_older(&service, &current);
    let answers = read(&service, ".mspack/answers.toml");
    for (text, message) in [
        (None, "answers.toml not found"),
        (
            Some(answers.replacen("name = \"orders\"\n", "", 1)),
            "no `inputs.name`",
        ),
        (
            Some(answers.replacen(&format!("\"{OLD}\""), "\"latest\"", 1)),
            "\"latest\" is not a version",
        ),
        (
            Some(answers.replacen(&format!("\"{OLD}\""), "\"99.0.0\"", 1)),
            "newer than this mspack",
        ),
        (Some("mspack_version = [".to_owned()), "not valid TOML"),
    ] {
        match &text {
            Some(text) => write(&service, ".mspack/answers.toml", text),
            None => std::fs::remove_file(service.join(".mspack/answers.toml"))
                .unwrap_or_else(|e| panic!("{e}")),
        }
        let before = snapshot(dir.path());
        for args in [&[][..], &["--check"], &["--dry-run"]] {
            update(&service, args)
                .code(2)
                .stderr(predicate::str::contains(message));
        }
        assert_eq!(snapshot(dir.path()), before, "{message}");
    }
    // A broken base is an error too, not a reason to overwrite.
    write(&service, ".mspack/answers.toml", &answers);
    write(&service, BASE_PATH, "files = 3\n");
    let before = snapshot(dir.path());
    update(&service, &[])
        .code(2)
        .stderr(predicate::str::contains("base.toml"));
    assert_eq!(snapshot(dir.path()), before);
    // Not a service at all.
    mspack()
        .current_dir(dir.path())
        .arg("update")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("made by `mspack new`"));
}
