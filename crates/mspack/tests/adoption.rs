//! What a team needs to adopt `mspack lint`: shell completions, the pre-commit hook, the GitHub
//! Actions recipe in README (its YAML's shape), and SARIF that names the tool's version and links
//! every rule to a page that exists.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use assert_cmd::Command;
use mspack_yaml::{Limits, Node, SourceFile, parse_file};
use serde_json::Value;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn mspack() -> Command {
    Command::cargo_bin("mspack").unwrap_or_else(|e| panic!("binary: {e}"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn yaml(name: &str, text: &str) -> Node {
    let parsed = parse_file(Arc::new(SourceFile::new(name, text)), &Limits::default());
    assert!(parsed.error.is_none(), "{name}: {:?}", parsed.error);
    assert!(parsed.warnings.is_empty(), "{name}: {:?}", parsed.warnings);
    parsed
        .documents
        .into_iter()
        .next()
        .map(|d| d.root)
        .unwrap_or_else(|| panic!("{name} is empty"))
}

#[test]
fn completions_are_generated_for_every_shell() {
    for (shell, marker) in [
        ("bash", "complete -F _mspack"),
        ("zsh", "#compdef mspack"),
        ("fish", "complete -c mspack"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let out = mspack().args(["completions", shell]).assert().code(0);
        let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
        assert!(text.contains(marker), "{shell}: no {marker:?}");
        assert!(text.contains("fail-on"), "{shell}: lint flags missing");
    }
    mspack().args(["completions", "tcsh"]).assert().code(2);
}

#[test]
fn pre_commit_hook_runs_mspack_lint_on_yaml_files() {
    let text = read(&repo_root().join(".pre-commit-hooks.yaml"));
    let root = yaml(".pre-commit-hooks.yaml", &text);
    let hooks = root.as_seq().unwrap_or_else(|| panic!("a list of hooks"));
    let hook = hooks
        .iter()
        .find(|h| h.str_at(&["id"]) == Some("mspack-lint"))
        .unwrap_or_else(|| panic!("no mspack-lint hook"));
    for key in ["id", "name", "entry", "language", "files"] {
        assert!(hook.str_at(&[key]).is_some(), "hook lacks {key}");
    }
    assert!(
        hook.str_at(&["entry"])
            .is_some_and(|e| e.starts_with("mspack lint"))
    );
    let files = regex_lite_match(hook.str_at(&["files"]).unwrap_or(""));
    assert!(files("deploy/vs.yaml") && files("a.yml") && !files("README.md"));
}

/// The hook's `files` pattern is `\.(yaml|yml)$`; check it means what it says without a regex
/// engine in this crate's dependencies.
fn regex_lite_match(pattern: &str) -> impl Fn(&str) -> bool {
    assert_eq!(pattern, r"\.(yaml|yml)$");
    |path: &str| path.ends_with(".yaml") || path.ends_with(".yml")
}

/// The README's recipe, between `<!-- github-actions-recipe -->` and the end of its yaml block.
fn readme_recipe() -> String {
    let readme = read(&repo_root().join("README.md"));
    let start = readme
        .find("<!-- github-actions-recipe -->")
        .and_then(|i| {
            readme[i..]
                .find("```yaml\n")
                .map(|j| i + j + "```yaml\n".len())
        })
        .unwrap_or_else(|| panic!("README has no github-actions-recipe block"));
    let end = readme[start..]
        .find("```")
        .unwrap_or_else(|| panic!("unterminated recipe block"));
    readme[start..start + end].to_string()
}

#[test]
fn readme_github_actions_recipe_uploads_the_sarif_it_writes() {
    let recipe = readme_recipe();
    let root = yaml("recipe.yaml", &recipe);
    assert!(root.get("on").is_some(), "a workflow needs `on`");
    assert_eq!(
        root.str_at(&["permissions", "security-events"]),
        Some("write"),
        "uploading SARIF needs security-events: write"
    );
    let jobs = root.get("jobs").and_then(Node::as_map).unwrap_or(&[]);
    assert_eq!(jobs.len(), 1, "one job");
    let job = &jobs[0].1;
    assert!(job.str_at(&["runs-on"]).is_some());
    let steps: Vec<&Node> = job.get("steps").into_iter().flat_map(Node::items).collect();
    let uses = |prefix: &str| {
        steps
            .iter()
            .position(|s| s.str_at(&["uses"]).is_some_and(|u| u.starts_with(prefix)))
    };
    let checkout = uses("actions/checkout@").unwrap_or_else(|| panic!("no checkout"));
    let upload = uses("github/codeql-action/upload-sarif@").unwrap_or_else(|| panic!("no upload"));
    let lint = steps
        .iter()
        .position(|s| {
            s.str_at(&["run"])
                .is_some_and(|r| r.contains("mspack lint") && r.contains("--format sarif"))
        })
        .unwrap_or_else(|| panic!("no `mspack lint --format sarif` step"));
    assert!(
        checkout < lint && lint < upload,
        "checkout, lint, upload in that order"
    );
    let sarif_file = steps[upload]
        .str_at(&["with", "sarif_file"])
        .unwrap_or_else(|| panic!("upload-sarif needs with.sarif_file"));
    let run = steps[lint].str_at(&["run"]).unwrap_or("");
    assert!(
        run.contains(&format!("> {sarif_file}")),
        "the lint step writes {sarif_file}"
    );
    assert_eq!(
        steps[upload].str_at(&["if"]),
        Some("always()"),
        "upload even when lint exits 1"
    );
}

#[test]
fn sarif_names_the_tool_version_and_every_help_uri_resolves() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        dir.path().join("dr.yaml"),
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: orders, namespace: food}\nspec: {host: orders, exportTo: [\".\"]}\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let out = mspack()
        .current_dir(dir.path())
        .args(["lint", "--format", "sarif", "dr.yaml"])
        .assert()
        .code(1);
    let sarif: Value =
        serde_json::from_slice(&out.get_output().stdout).unwrap_or_else(|e| panic!("{e}"));
    let driver = &sarif["runs"][0]["tool"]["driver"];
    assert_eq!(driver["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(driver["semanticVersion"], env!("CARGO_PKG_VERSION"));
    let doc = read(&repo_root().join("docs/lint-rules.md"));
    let prefix = format!("{}/blob/main/", env!("CARGO_PKG_REPOSITORY"));
    let rules = driver["rules"].as_array().cloned().unwrap_or_default();
    assert!(rules.len() > 70);
    for rule in rules {
        let uri = rule["helpUri"].as_str().unwrap_or_default();
        let (path, anchor) = uri
            .strip_prefix(&prefix)
            .and_then(|rest| rest.split_once('#'))
            .unwrap_or_else(|| panic!("{uri}: not a page of this repository"));
        assert!(repo_root().join(path).is_file(), "{uri}: no file {path}");
        assert!(
            doc.contains(&format!("<a id=\"{anchor}\"></a>")),
            "{uri}: no anchor {anchor} in docs/lint-rules.md"
        );
    }
}

#[test]
fn docs_lint_rules_md_is_generated_from_the_rules() {
    let out = mspack()
        .args(["rules", "--format", "markdown"])
        .assert()
        .code(0);
    let generated = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        generated == read(&repo_root().join("docs/lint-rules.md")),
        "docs/lint-rules.md is stale: run `cargo run -p mspack -- rules --format markdown > docs/lint-rules.md`"
    );
}
