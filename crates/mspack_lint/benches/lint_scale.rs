//! Lint throughput and scaling: generate 1k, 10k and 100k resources (Services, Deployments,
//! VirtualServices, DestinationRules across namespaces, 1,000 per file) and report the time to
//! lint them, MB/s, and the time to only parse the same bytes.
//!
//! Run: `cargo bench -p mspack_lint --bench lint_scale` (add `-- --quick` for 1k and 10k only,
//! `-- --per-rule 100000` for each rule's own time on a built workspace, slowest first).
//! Prints one JSON line per figure and a summary table.

use std::sync::Arc;
use std::time::{Duration, Instant};

use mspack_lint::{LintOptions, lint_sources};
use mspack_yaml::{Limits, SourceFile, parse_file};
use rayon::prelude::*;

const PER_FILE: usize = 1000;

const TEMPLATE: &str = r#"apiVersion: v1
kind: Service
metadata:
  name: {name}
  namespace: {ns}
  labels: {app: {name}}
spec:
  selector: {app: {name}}
  ports:
  - name: http
    port: 8080
    targetPort: 8080
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: {ns}
spec:
  replicas: 2
  selector:
    matchLabels: {app: {name}}
  template:
    metadata:
      labels: {app: {name}, version: v1}
    spec:
      containers:
      - name: app
        image: registry.example.com/{name}:1.0.0
        ports: [{containerPort: 8080}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: {name}
  namespace: {ns}
spec:
  hosts: [{host}]
  exportTo: ["."]
  http:
  - timeout: 5s
    route:
    - destination:
        host: {host}
        subset: v1
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: {name}
  namespace: {ns}
spec:
  host: {host}
  exportTo: ["."]
  subsets:
  - name: v1
    labels: {version: v1}
---
"#;

/// Resources in groups of four (Service, Deployment, VirtualService, DestinationRule) for one
/// service each, spread over 20 namespaces; about a tenth of the hosts are short names so the
/// rules have findings to report.
fn corpus(resources: usize) -> Vec<Arc<SourceFile>> {
    let mut files = Vec::new();
    let mut text = String::new();
    let mut in_file = 0;
    for i in 0..resources.div_ceil(4) {
        let ns = format!("team-{}", i % 20);
        let name = format!("svc-{i}");
        let host = if i % 10 == 0 {
            name.clone()
        } else {
            format!("{name}.{ns}.svc.cluster.local")
        };
        text.push_str(
            &TEMPLATE
                .replace("{name}", &name)
                .replace("{ns}", &ns)
                .replace("{host}", &host),
        );
        in_file += 4;
        if in_file >= PER_FILE {
            files.push(Arc::new(SourceFile::new(
                format!("gen-{}.yaml", files.len()),
                std::mem::take(&mut text),
            )));
            in_file = 0;
        }
    }
    if !text.is_empty() {
        files.push(Arc::new(SourceFile::new(
            format!("gen-{}.yaml", files.len()),
            text,
        )));
    }
    files
}

/// Best of `runs` wall-clock times.
fn best_of(runs: usize, mut f: impl FnMut()) -> Duration {
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn emit(name: &str, value: f64, unit: &str) {
    println!("{{\"name\": \"{name}\", \"value\": {value:.3}, \"unit\": \"{unit}\"}}");
}

/// Time each rule alone on an already built workspace (`--per-rule N`), slowest first.
fn per_rule(n: usize) {
    let options = LintOptions::default();
    let parsed: Vec<_> = corpus(n)
        .into_iter()
        .map(|f| parse_file(f, &options.limits))
        .collect();
    let (mesh, networks) = mspack_lint::load_mesh_inputs(&options)
        .unwrap_or_else(|_| (mspack_lint::MeshConfig::default(), None));
    let ws = mspack_lint::Workspace::build(parsed, options.clone(), mesh, networks);
    let mut times: Vec<(Duration, String)> = mspack_lint::rules::ALL
        .iter()
        .map(|rule| {
            let start = Instant::now();
            let mut out = mspack_lint::Findings::new(rule);
            rule.run(&ws, &mut out);
            (start.elapsed(), rule.id())
        })
        .collect();
    times.sort_by_key(|t| std::cmp::Reverse(t.0));
    let total: Duration = times.iter().map(|t| t.0).sum();
    println!(
        "all rules, one after another: {:.1} ms",
        total.as_secs_f64() * 1e3
    );
    for (t, id) in times.iter().take(15) {
        println!("{:>10.2} ms  {id}", t.as_secs_f64() * 1e3);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(n) = args
        .iter()
        .position(|a| a == "--per-rule")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
    {
        per_rule(n);
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let sizes: &[usize] = if quick {
        &[1_000, 10_000]
    } else {
        &[1_000, 10_000, 100_000]
    };
    let options = LintOptions::default();
    let limits = Limits::default();
    let mut rows = Vec::new();
    for &n in sizes {
        let files = corpus(n);
        let bytes: usize = files.iter().map(|f| f.text.len()).sum();
        let runs = if n >= 100_000 { 3 } else { 7 };
        let parse = best_of(runs, || {
            let parsed: Vec<_> = files
                .clone()
                .into_par_iter()
                .map(|f| parse_file(f, &limits))
                .collect();
            assert!(parsed.iter().all(|p| p.error.is_none()));
        });
        let mut findings = 0;
        let lint = best_of(runs, || {
            let report = lint_sources(files.clone(), &options);
            findings = report.map(|r| r.findings.len()).unwrap_or(usize::MAX);
        });
        let mb = bytes as f64 / 1e6;
        emit(
            &format!("lint_{n}_resources_ms"),
            lint.as_secs_f64() * 1e3,
            "ms",
        );
        emit(
            &format!("parse_{n}_resources_ms"),
            parse.as_secs_f64() * 1e3,
            "ms",
        );
        emit(
            &format!("lint_{n}_resources_mb_per_s"),
            mb / lint.as_secs_f64(),
            "MB/s",
        );
        emit(
            &format!("lint_over_parse_{n}"),
            lint.as_secs_f64() / parse.as_secs_f64(),
            "ratio",
        );
        rows.push((n, bytes, parse, lint, findings));
    }
    println!("\n| resources | MB | parse ms | lint ms | lint/parse | MB/s | findings |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for (n, bytes, parse, lint, findings) in &rows {
        println!(
            "| {n} | {:.1} | {:.1} | {:.1} | {:.2} | {:.0} | {findings} |",
            *bytes as f64 / 1e6,
            parse.as_secs_f64() * 1e3,
            lint.as_secs_f64() * 1e3,
            lint.as_secs_f64() / parse.as_secs_f64(),
            *bytes as f64 / 1e6 / lint.as_secs_f64()
        );
    }
    for pair in rows.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let ratio = b.3.as_secs_f64() / a.3.as_secs_f64();
        emit(&format!("scaling_{}_to_{}", a.0, b.0), ratio, "x");
        println!(
            "scaling {} -> {} resources: lint time x{ratio:.2}",
            a.0, b.0
        );
    }
}
