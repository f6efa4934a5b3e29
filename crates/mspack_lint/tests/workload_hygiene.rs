//! MSP206-217 beyond their fixtures (partial sets, defaults), and `--fix` for MSP201/203/204:
//! the fixed file re-lints clean of those findings, keeps its comments and every other byte,
//! and a flow-style or odd layout is left alone.

use std::sync::Arc;

use mspack_lint::fix::fixed_text;
use mspack_lint::{Fix, LintOptions, Severity, lint_sources};
use mspack_yaml::SourceFile;

fn options(select: &[&str]) -> LintOptions {
    LintOptions {
        select: select.iter().map(|s| s.to_string()).collect(),
        ..LintOptions::default()
    }
}

/// `CODE path:line` of every finding of `files` (`(path, yaml)`) with the given options.
fn lint_files(files: &[(&str, &str)], options: &LintOptions) -> Vec<String> {
    let sources = files
        .iter()
        .map(|(path, yaml)| Arc::new(SourceFile::new(*path, *yaml)))
        .collect();
    let report = lint_sources(sources, options).unwrap_or_else(|e| panic!("{e}"));
    report
        .findings
        .iter()
        .map(|f| {
            let line = f.span.map_or(0, |s| s.start.line);
            format!("{} {}:{line}", f.rule.code, f.path().unwrap_or("-"))
        })
        .collect()
}

const FIX_CODES: [&str; 3] = ["MSP201", "MSP203", "MSP204"];

/// The text after `--fix` rounds (as the CLI runs them), and the findings left.
fn fix(yaml: &str) -> (String, Vec<String>) {
    let (text, left, _) = fix_counting(yaml);
    (text, left)
}

/// [`fix`], with the number of findings left that still carry a fix.
fn fix_counting(yaml: &str) -> (String, Vec<String>, usize) {
    let mut text = yaml.to_string();
    for _ in 0..4 {
        let source = Arc::new(SourceFile::new("fix.yaml", text.clone()));
        let report = lint_sources(vec![source.clone()], &options(&FIX_CODES))
            .unwrap_or_else(|e| panic!("{e}"));
        let fixes: Vec<&Fix> = report
            .findings
            .iter()
            .filter_map(|f| f.fix.as_ref())
            .collect();
        let (next, applied, refused) = fixed_text(&source, &fixes);
        assert_eq!(refused, 0, "a fix was refused on:\n{text}");
        if applied == 0 {
            break;
        }
        text = next;
    }
    let left = lint_files(&[("fix.yaml", &text)], &options(&FIX_CODES));
    let source = Arc::new(SourceFile::new("fix.yaml", text.clone()));
    let report = lint_sources(vec![source], &options(&FIX_CODES)).unwrap_or_else(|e| panic!("{e}"));
    let fixable = report.findings.iter().filter(|f| f.fix.is_some()).count();
    (text, left, fixable)
}

/// Whether `original`'s lines all appear, in order and unchanged, in `fixed`, and what else
/// `fixed` has.
fn added_lines(original: &str, fixed: &str) -> Vec<String> {
    let mut want = original.lines().peekable();
    let mut added = Vec::new();
    for line in fixed.lines() {
        if want.peek() == Some(&line) {
            want.next();
        } else {
            added.push(line.trim().to_string());
        }
    }
    assert!(want.next().is_none(), "an original line is gone:\n{fixed}");
    added
}

const COMMENTED: &str = "# orders, as deployed
apiVersion: apps/v1
kind: Deployment
metadata:
  name: orders   # the API
  namespace: food
spec:
  selector:
    matchLabels: {app: orders}
  template:
    metadata:
      labels: {app: orders}
    spec:
      containers:
        - name: orders # the app
          # pinned by CI
          image: food/orders:1.0
        - name: cache
          image: food/cache:1.0
          securityContext:
            # the image runs as redis
            runAsNonRoot: true
            capabilities:
              add: [NET_BIND_SERVICE]   # port 80
";

#[test]
fn fixes_add_the_settings_and_keep_comments_and_bytes() {
    let (fixed, left) = fix(COMMENTED);
    assert!(left.is_empty(), "left: {left:?}\n{fixed}");
    let mut added = added_lines(COMMENTED, &fixed);
    added.sort();
    assert_eq!(
        added,
        [
            "allowPrivilegeEscalation: false",
            "allowPrivilegeEscalation: false",
            "capabilities:",
            "drop: [ALL]",
            "drop: [ALL]",
            "readOnlyRootFilesystem: true",
            "readOnlyRootFilesystem: true",
            "securityContext:",
        ],
        "{fixed}"
    );
    // The new securityContext goes after the container's name, above the image's comment.
    assert!(
        fixed.contains("- name: orders # the app\n          securityContext:\n"),
        "{fixed}"
    );
    assert!(fixed.contains("          # pinned by CI\n          image: food/orders:1.0\n"));
    // Entries added to an existing mapping go above the comment of its first entry.
    assert!(
        fixed.contains("allowPrivilegeEscalation: false\n            # the image runs as redis\n"),
        "{fixed}"
    );
    // A second run changes nothing.
    assert_eq!(fix(&fixed).0, fixed);
}

#[test]
fn flow_style_and_odd_layouts_are_left_alone() {
    let yaml = "apiVersion: v1
kind: Pod
metadata: {name: p, namespace: ns}
spec:
  containers:
  - {name: flow, image: x:1}
  - name: flowsc
    image: x:1
    securityContext: {runAsNonRoot: true}
  - name: nullsc
    image: x:1
    securityContext:
  - name: onlyname
  - name: dropsome
    image: x:1
    securityContext:
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      capabilities:
        drop: [NET_RAW]
";
    let (fixed, left) = fix(yaml);
    assert_eq!(fixed, yaml);
    // 4 containers x 3 findings, plus the drop list without ALL.
    assert_eq!(left.len(), 13, "{left:?}");
}

#[test]
fn fixes_keep_crlf_line_endings() {
    let yaml = COMMENTED.replace('\n', "\r\n");
    let (fixed, left) = fix(&yaml);
    assert!(left.is_empty(), "{left:?}");
    assert!(!fixed.replace("\r\n", "").contains('\n'), "{fixed:?}");
}

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata: {name: orders}
spec:
  selector: {matchLabels: {app: orders}}
  template:
    metadata: {labels: {app: orders}}
    spec:
      containers: [{name: orders, image: food/orders:1.0}]
";

const SERVICE: &str = "apiVersion: v1
kind: Service
metadata: {name: customer}
spec:
  selector: {app: customer}
  ports: [{port: 80}]
";

#[test]
fn a_service_without_namespace_is_judged_by_the_workloads_beside_it() {
    let select = options(&["MSP215"]);
    // Another project's workload, also without a namespace: nothing is decided.
    let found = lint_files(
        &[
            ("a/service.yaml", SERVICE),
            ("b/deployment.yaml", DEPLOYMENT),
        ],
        &select,
    );
    assert!(found.is_empty(), "{found:?}");
    // A workload beside it that it does not select: dangling.
    let found = lint_files(
        &[
            ("a/service.yaml", SERVICE),
            ("a/deployment.yaml", DEPLOYMENT),
        ],
        &select,
    );
    assert_eq!(found, ["MSP215 a/service.yaml:5"]);
}

#[test]
fn mismatching_selector_is_an_error_by_default_and_the_rest_is_off() {
    let yaml = DEPLOYMENT.replace("labels: {app: orders}", "labels: {app: order}");
    let sources = vec![Arc::new(SourceFile::new("d.yaml", yaml))];
    let report = lint_sources(sources, &LintOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let msp2: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.rule.code.starts_with("MSP2"))
        .collect();
    assert_eq!(
        msp2.len(),
        1,
        "{:?}",
        msp2.iter().map(|f| f.rule.code).collect::<Vec<_>>()
    );
    assert_eq!(msp2[0].rule.code, "MSP214");
    assert_eq!(msp2[0].severity, Severity::Error);
}

#[test]
fn a_budget_over_an_autoscaled_workload_counts_its_minimum() {
    let yaml = "apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: orders, namespace: food}
spec:
  minAvailable: 2
  selector: {matchLabels: {app: orders}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: orders, namespace: food}
spec:
  selector: {matchLabels: {app: orders}}
  template:
    metadata: {labels: {app: orders}}
    spec:
      containers: [{name: orders, image: food/orders:1.0}]
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: orders, namespace: food}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: orders}
  minReplicas: MIN
  maxReplicas: 10
";
    let select = options(&["MSP216"]);
    let found = lint_files(&[("p.yaml", &yaml.replace("MIN", "2"))], &select);
    assert_eq!(found, ["MSP216 p.yaml:5"]);
    let found = lint_files(&[("p.yaml", &yaml.replace("MIN", "3"))], &select);
    assert!(found.is_empty(), "{found:?}");
}

#[test]
fn the_first_line_of_a_container_stays_as_written() {
    let yaml = "apiVersion: v1
kind: Pod
metadata: {name: p, namespace: ns}
spec:
  containers:
  - image: x:1
    name: app
  - image: x:1
    name: app2
    ports: [{containerPort: 80}]
  - name: alone
";
    let (fixed, left) = fix(yaml);
    // `alone` has no place but before its only entry: left as written.
    assert_eq!(left.len(), 3, "{left:?}");
    assert!(
        fixed.contains("  - image: x:1\n    securityContext:\n      capabilities:\n"),
        "{fixed}"
    );
    assert!(
        fixed.contains("      allowPrivilegeEscalation: false\n    name: app\n"),
        "{fixed}"
    );
    assert!(
        fixed.contains("    name: app2\n    securityContext:\n"),
        "{fixed}"
    );
    assert!(fixed.ends_with("  - name: alone\n"), "{fixed}");
    added_lines(yaml, &fixed);
}

#[test]
fn fixes_on_the_realworld_corpus_keep_every_line_and_reach_a_fixpoint() {
    let dir = std::env::var_os("MSPACK_SHARED")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
        .join("corpus/realworld");
    let mut stack = vec![dir];
    let mut fixed_files = 0;
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if !matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml")
            ) {
                continue;
            }
            let Ok(yaml) = std::fs::read_to_string(&path) else {
                continue;
            };
            let (fixed, _, fixable) = fix_counting(&yaml);
            assert_eq!(
                fixable,
                0,
                "{}: fixes left after the rounds",
                path.display()
            );
            added_lines(&yaml, &fixed);
            if fixed != yaml {
                fixed_files += 1;
            }
        }
    }
    println!("{fixed_files} corpus files fixed");
}
