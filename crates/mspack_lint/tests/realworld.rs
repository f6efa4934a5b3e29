//! Lint every file of `../shared/corpus/realworld` (public Istio/Kubernetes manifests), alone and
//! all together: no error, no crash, no hang; print what is reported so a reader can review it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use mspack_lint::{LintOptions, lint_inputs, load_inputs};

fn corpus_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("MSPACK_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
        .join("corpus/realworld");
    dir.is_dir().then_some(dir)
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            out.push(path);
        }
    }
}

#[test]
fn every_realworld_manifest_lints_without_error_or_hang() {
    let Some(dir) = corpus_dir() else {
        println!("skipped: ../shared/corpus/realworld not found (set MSPACK_SHARED)");
        return;
    };
    let mut files = Vec::new();
    yaml_files(&dir, &mut files);
    files.sort();
    assert!(
        files.len() > 100,
        "expected the whole corpus, found {} files",
        files.len()
    );
    let (tx, rx) = mpsc::channel();
    let worker = std::thread::spawn(move || {
        let options = LintOptions::default();
        let mut per_code: BTreeMap<String, usize> = BTreeMap::new();
        let mut syntax = Vec::new();
        for file in &files {
            let path = file.display().to_string();
            let inputs = load_inputs(std::slice::from_ref(&path), &options.limits)
                .unwrap_or_else(|e| panic!("{path}: {e}"));
            let report = lint_inputs(inputs, &options).unwrap_or_else(|e| panic!("{path}: {e}"));
            for f in &report.findings {
                *per_code.entry(f.rule.code.to_string()).or_default() += 1;
                if f.rule.code == "MSP001" {
                    syntax.push(format!("{path}: {}", f.message));
                }
            }
        }
        let all = vec![dir.display().to_string()];
        let inputs = load_inputs(&all, &options.limits).unwrap_or_else(|e| panic!("{e}"));
        let mut options = options;
        let bundle = dir.join("../../schemas/crd-schemas.json");
        if bundle.is_file() {
            options.crds.push(bundle);
        }
        let together = lint_inputs(inputs, &options).unwrap_or_else(|e| panic!("{e}"));
        let schema_errors: Vec<String> = together
            .findings
            .iter()
            .filter(|f| f.rule.code == "MSP003")
            .map(|f| {
                format!(
                    "{}:{}: {}",
                    f.path().unwrap_or(""),
                    f.span.map_or(0, |s| s.start.line),
                    f.message
                )
            })
            .collect();
        println!(
            "realworld: CRD schema violations:\n  {}",
            schema_errors.join("\n  ")
        );
        let _ = tx.send((
            files.len(),
            per_code,
            syntax,
            together.findings.len(),
            together.resources,
        ));
    });
    let (count, per_code, syntax, together, resources) = rx
        .recv_timeout(Duration::from_secs(120))
        .unwrap_or_else(|_| panic!("linting the real-world corpus did not finish (hang?)"));
    let _ = worker.join();
    println!("realworld: {count} files linted one by one; findings per code: {per_code:?}");
    println!("realworld: all together: {resources} resources, {together} findings");
    assert!(
        syntax.is_empty(),
        "valid public manifests reported as invalid YAML:\n{}",
        syntax.join("\n")
    );
}
