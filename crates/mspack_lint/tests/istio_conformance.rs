//! Istio analyzer conformance: run every case of `../shared/corpus/istio-analyzers` the way Istio's
//! analyzer test runs it and compare the (code, resource) multiset of the rules that mirror the
//! case's analyzer with the expected one. Prints `istio conformance: P/N cases agree`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mspack_lint::{LintOptions, lint_sources};
use mspack_yaml::SourceFile;
use serde_json::Value;

/// Offline cases that must keep agreeing: raise this as analyzers are added, never lower it.
const OFFLINE_FLOOR: usize = 92;
/// All cases (offline and needs-cluster) that must keep agreeing.
const ALL_FLOOR: usize = 104;

fn corpus_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("MSPACK_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
        .join("corpus/istio-analyzers");
    dir.join("cases.json").is_file().then_some(dir)
}

fn read_source(path: &Path) -> Arc<SourceFile> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Arc::new(SourceFile::new(path.display().to_string(), text))
}

type Pairs = BTreeMap<(String, String), usize>;

fn multiset(pairs: impl Iterator<Item = (String, String)>) -> Pairs {
    let mut m = Pairs::new();
    for p in pairs {
        *m.entry(p).or_default() += 1;
    }
    m
}

fn difference(a: &Pairs, b: &Pairs) -> Vec<String> {
    a.iter()
        .filter_map(|(k, &n)| {
            let m = b.get(k).copied().unwrap_or(0);
            (n > m).then(|| format!("{} x{} {}", k.0, n - m, k.1))
        })
        .collect()
}

#[test]
fn istio_analyzer_conformance() {
    let Some(dir) = corpus_dir() else {
        println!("skipped: ../shared/corpus/istio-analyzers not found (set MSPACK_SHARED)");
        return;
    };
    let cases: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("cases.json")).unwrap_or_default())
            .unwrap_or_default();
    assert!(!cases.is_empty(), "cases.json has no cases");
    let testdata = dir.join("testdata");
    let defaults = read_source(&dir.join("defaults/ingressgateway.yaml"));
    let (mut agree, mut total, mut off_agree, mut off_total) = (0, 0, 0, 0);
    let mut report = Vec::new();
    for case in &cases {
        let id = case["id"].as_str().unwrap_or("?");
        let name = case["name"].as_str().unwrap_or("?");
        let offline = case["offline"].as_bool().unwrap_or(false);
        if !case["clusterInputFiles"].is_null() {
            println!(
                "skipped {id} {name}: needs one run over two clusters, which mspack lint does not model"
            );
            continue;
        }
        let analyzer = case["analyzer"].as_str().unwrap_or("");
        let mut sources: Vec<Arc<SourceFile>> = case["inputFiles"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(|f| read_source(&testdata.join(f)))
            .collect();
        sources.push(defaults.clone());
        let options = LintOptions {
            default_namespace: None,
            // The harness adds Istio's defaults file itself, as the README of the corpus says.
            istio_defaults: false,
            mesh_config: case["meshConfigFile"].as_str().map(|f| testdata.join(f)),
            mesh_networks: case["meshNetworksFile"].as_str().map(|f| testdata.join(f)),
            select: vec!["ALL".into()],
            ..LintOptions::default()
        };
        let result = lint_sources(sources, &options)
            .unwrap_or_else(|e| panic!("{id} {name}: lint failed: {e}"));
        let actual = multiset(
            result
                .findings
                .iter()
                .filter(|f| f.rule.mirrors == Some(analyzer))
                .map(|f| {
                    (
                        f.rule.code.to_string(),
                        f.resource.clone().unwrap_or_default(),
                    )
                }),
        );
        let expected = multiset(case["expected"].as_array().into_iter().flatten().map(|e| {
            (
                e["code"].as_str().unwrap_or("").to_string(),
                e["resource"].as_str().unwrap_or("").to_string(),
            )
        }));
        total += 1;
        off_total += usize::from(offline);
        if actual == expected {
            agree += 1;
            off_agree += usize::from(offline);
        } else {
            report.push(format!(
                "  {id} {name} [{analyzer}{}]\n    missing: {:?}\n    extra:   {:?}",
                if offline { "" } else { ", needs cluster" },
                difference(&expected, &actual),
                difference(&actual, &expected)
            ));
        }
    }
    println!("disagreeing cases:\n{}", report.join("\n"));
    println!("istio conformance: {agree}/{total} cases agree (all cases)");
    println!("istio conformance: {off_agree}/{off_total} cases agree (offline cases)");
    assert!(
        agree >= ALL_FLOOR,
        "conformance fell to {agree}, below the floor of {ALL_FLOOR}"
    );
    assert!(
        off_agree >= OFFLINE_FLOOR,
        "offline conformance fell to {off_agree}, below the floor of {OFFLINE_FLOOR}"
    );
}
