//! Conventions checked over the whole registry, and each rule's fixtures:
//! - every rule has the four doc sections, a unique id and a fixture folder;
//! - `tests/fixtures/<rule id>/bad.yaml` gives the snapshotted findings, `good.yaml` none;
//! - the rule's documented Example fires it and its Fix does not.
//!
//! A fixture folder may hold a `.mspack.toml` (e.g. `multicluster = "ambient"`), `mesh.yaml`
//! (a MeshConfig) and `traces.json` (an OTLP JSON export, as `--traces`); they apply to the
//! fixtures and to the doc examples.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mspack_lint::rules::ALL;
use mspack_lint::{ConfigFile, LintOptions, Rule, lint_sources};
use mspack_yaml::SourceFile;

fn fixture_dir(rule: &Rule) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rule.id())
}

fn options_for(rule: &Rule) -> LintOptions {
    let dir = fixture_dir(rule);
    let mut options = LintOptions::default();
    let config = dir.join(".mspack.toml");
    if config.is_file() {
        match ConfigFile::load(&config) {
            Ok(c) => c.apply(&mut options),
            Err(e) => panic!("{e}"),
        }
    }
    let mesh = dir.join("mesh.yaml");
    if mesh.is_file() {
        options.mesh_config = Some(mesh);
    }
    let traces = dir.join("traces.json");
    if traces.is_file() {
        options.traces = Some(traces);
    }
    options.select = vec![rule.id()];
    options
}

/// Findings of `rule` on `yaml`, one line each: `line:col CODE resource: message`.
fn lint_text(rule: &'static Rule, name: &str, yaml: &str) -> Vec<String> {
    let source = Arc::new(SourceFile::new(name, yaml));
    let report = lint_sources(vec![source], &options_for(rule))
        .unwrap_or_else(|e| panic!("{}: {e}", rule.id()));
    report
        .findings
        .iter()
        .filter(|f| std::ptr::eq(f.rule, rule))
        .map(|f| {
            let pos = f.span.map(|s| format!("{}:{}", s.start.line, s.start.col));
            format!(
                "{} {} {}: {}",
                pos.unwrap_or_default(),
                f.rule.code,
                f.resource.as_deref().unwrap_or("-"),
                f.message
            )
        })
        .collect()
}

fn section<'a>(docs: &'a str, heading: &str) -> Option<&'a str> {
    let start = docs.find(heading)? + heading.len();
    let rest = &docs[start..];
    Some(rest.find("\n## ").map_or(rest, |end| &rest[..end]))
}

fn first_yaml_block(text: &str) -> Option<String> {
    let start = text.find("```yaml\n")? + "```yaml\n".len();
    let end = text[start..].find("```")?;
    Some(text[start..start + end].to_string())
}

#[test]
fn every_rule_is_documented_and_unique() {
    let mut ids = HashSet::new();
    for rule in ALL {
        assert!(ids.insert(rule.id()), "duplicate rule id {}", rule.id());
        let docs = rule.documentation();
        for heading in [
            "## What it checks",
            "## Why it matters",
            "## Example",
            "## Fix",
        ] {
            assert!(docs.contains(heading), "{} lacks `{heading}`", rule.id());
        }
        assert!(
            rule.code.starts_with("MSP") || rule.mirrors.is_some(),
            "{}: an IST or KIA rule must say which Istio analyzer or Kiali checker it mirrors",
            rule.id()
        );
        assert!(
            rule.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-'),
            "{}: bad name {}",
            rule.id(),
            rule.name
        );
        let summary = rule.summary;
        assert!(
            !summary.ends_with('.') && summary.chars().next().is_some_and(char::is_lowercase),
            "{}: summaries are lowercase without a trailing period",
            rule.id()
        );
    }
}

/// Run `check` for every rule and fail once at the end, naming every rule that failed (a
/// failing snapshot must not hide the rules after it).
fn for_every_rule(check: impl Fn(&'static Rule) + std::panic::RefUnwindSafe) {
    let failed: Vec<String> = ALL
        .iter()
        .filter(|rule| std::panic::catch_unwind(|| check(rule)).is_err())
        .map(|rule| rule.id())
        .collect();
    assert!(
        failed.is_empty(),
        "{} rule(s) failed (each one's panic is printed above): {}",
        failed.len(),
        failed.join(", ")
    );
}

#[test]
fn every_rule_has_fixtures_and_its_findings_match_the_snapshot() {
    for_every_rule(|rule| {
        let dir = fixture_dir(rule);
        let bad = std::fs::read_to_string(dir.join("bad.yaml")).unwrap_or_else(|_| {
            panic!("{} has no tests/fixtures/{}/bad.yaml", rule.id(), rule.id())
        });
        let good = std::fs::read_to_string(dir.join("good.yaml")).unwrap_or_else(|_| {
            panic!(
                "{} has no tests/fixtures/{}/good.yaml",
                rule.id(),
                rule.id()
            )
        });
        let findings = lint_text(rule, "bad.yaml", &bad);
        assert!(
            !findings.is_empty(),
            "{}: bad.yaml gives no finding",
            rule.id()
        );
        insta::with_settings!({snapshot_path => dir.clone(), prepend_module_to_snapshot => false}, {
            insta::assert_snapshot!("bad", findings.join("\n"));
        });
        let clean = lint_text(rule, "good.yaml", &good);
        assert!(
            clean.is_empty(),
            "{}: good.yaml gives findings:\n{}",
            rule.id(),
            clean.join("\n")
        );
    });
}

#[test]
fn documented_example_fires_and_documented_fix_does_not() {
    for_every_rule(|rule| {
        let docs = rule.documentation();
        let example = section(&docs, "## Example").and_then(first_yaml_block);
        let fix = section(&docs, "## Fix").and_then(first_yaml_block);
        let (Some(example), Some(fix)) = (example, fix) else {
            panic!("{}: Example and Fix need a ```yaml block each", rule.id());
        };
        assert!(
            !lint_text(rule, "example.yaml", &example).is_empty(),
            "{}: its documented Example does not fire it",
            rule.id()
        );
        let after = lint_text(rule, "fix.yaml", &fix);
        assert!(
            after.is_empty(),
            "{}: its documented Fix still fires it:\n{}",
            rule.id(),
            after.join("\n")
        );
    });
}

/// A pass (one analysis reporting several rules) runs once, and selecting one of its rules
/// reports that rule only: findings are typed by rule, never filtered by a code string.
#[test]
fn selecting_one_rule_of_a_pass_reports_only_that_rule() {
    let passes: Vec<&Rule> = ALL.iter().copied().filter(|r| r.pass().is_some()).collect();
    assert!(passes.len() >= 10, "the multi-code analyzers are passes");
    for_every_rule(|rule| {
        if rule.pass().is_none() {
            return;
        }
        let bad = std::fs::read_to_string(fixture_dir(rule).join("bad.yaml")).unwrap_or_default();
        let report = lint_sources(
            vec![Arc::new(SourceFile::new("bad.yaml", bad))],
            &options_for(rule),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let others: Vec<String> = report
            .findings
            .iter()
            .filter(|f| !std::ptr::eq(f.rule, rule))
            .map(|f| f.rule.id())
            .collect();
        assert!(others.is_empty(), "{}: also reported {others:?}", rule.id());
    });
}

/// Istio's retired or never-emitted codes (CODES.md: deprecated/unused) are not reused by any
/// rule, so a user's suppression or CI filter for them never silently matches something new.
#[test]
fn no_rule_emits_a_retired_istio_code() {
    for retired in ["IST0001", "IST0143", "IST0168"] {
        let users: Vec<String> = ALL
            .iter()
            .filter(|r| r.code == retired)
            .map(|r| r.id())
            .collect();
        assert!(
            users.is_empty(),
            "{retired} is retired but used by {users:?}"
        );
    }
}
