//! The `mspack` binary end to end: exit codes, output formats, fixes, configuration, stdin.

use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;

const SHORT_HOST: &str = "\
# the orders route
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: orders
  namespace: food   # owned by the food team
spec:
  host: orders      # short name
  exportTo: [\".\"]
";

const CLEAN: &str = "\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: orders, namespace: food}
spec:
  host: orders.food.svc.cluster.local
  exportTo: [\".\"]
";

fn mspack() -> Command {
    Command::cargo_bin("mspack").unwrap_or_else(|e| panic!("binary: {e}"))
}

fn lint_in(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("mspack").unwrap_or_else(|e| panic!("binary: {e}"));
    cmd.current_dir(dir).arg("lint").arg("--color=never");
    cmd
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{e}"));
    }
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
    path
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn clean_input_exits_zero_and_findings_exit_one() {
    let dir = tempdir();
    write(dir.path(), "clean.yaml", CLEAN);
    lint_in(dir.path())
        .arg("clean.yaml")
        .assert()
        .code(0)
        .stdout(predicate::str::contains("no findings (1 file, 1 resource)"));
    write(dir.path(), "short.yaml", SHORT_HOST);
    lint_in(dir.path())
        .arg(".")
        .assert()
        .code(1)
        .stdout(predicate::str::contains("warning[MSP101]"))
        .stdout(predicate::str::contains("./short.yaml:8:9"));
}

#[test]
fn missing_path_and_bad_flags_exit_two() {
    let dir = tempdir();
    lint_in(dir.path())
        .arg("nope.yaml")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "nope.yaml: no such file or directory",
        ));
    lint_in(dir.path())
        .args(["--format", "xml", "."])
        .assert()
        .code(2);
    write(dir.path(), "clean.yaml", CLEAN);
    lint_in(dir.path())
        .args(["--select", "NOPE999", "clean.yaml"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown rule selector"));
}

#[test]
fn fail_on_error_ignores_warnings() {
    let dir = tempdir();
    write(dir.path(), "short.yaml", SHORT_HOST);
    lint_in(dir.path())
        .args(["--fail-on", "error", "short.yaml"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("MSP101"));
}

#[test]
fn json_output_has_the_documented_shape() {
    let dir = tempdir();
    write(dir.path(), "short.yaml", SHORT_HOST);
    let out = lint_in(dir.path())
        .args(["--format", "json", "short.yaml"])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let json: Value = serde_json::from_slice(&out).unwrap_or_else(|e| panic!("{e}"));
    let f = &json["findings"][0];
    assert_eq!(f["code"], "MSP101");
    assert_eq!(f["name"], "short-host-name");
    assert_eq!(f["severity"], "warning");
    assert_eq!(f["resource"], "DestinationRule food/orders");
    assert_eq!(f["file"], "short.yaml");
    assert_eq!(
        (f["line"].as_u64(), f["column"].as_u64()),
        (Some(8), Some(9))
    );
    assert_eq!(f["mirrors"], Value::Null);
    assert_eq!(f["fix"]["applicability"], "machine-applicable");
    assert_eq!(
        f["fix"]["edits"][0]["replacement"],
        "orders.food.svc.cluster.local"
    );
    assert!(
        f["help"]
            .as_str()
            .is_some_and(|h| h.contains("orders.food.svc.cluster.local"))
    );
    let summary = &json["summary"];
    assert_eq!(summary["files"], 1);
    assert_eq!(summary["resources"], 1);
    assert_eq!(summary["warnings"], 1);
    assert_eq!(summary["errors"], 0);
}

#[test]
fn sarif_output_is_sarif_2_1_0_with_rules_and_locations() {
    let dir = tempdir();
    write(dir.path(), "short.yaml", SHORT_HOST);
    let out = lint_in(dir.path())
        .args(["--format", "sarif", "short.yaml"])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let sarif: Value = serde_json::from_slice(&out).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sarif["version"], "2.1.0");
    let run = &sarif["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "mspack");
    let results = run["results"].as_array().cloned().unwrap_or_default();
    assert_eq!(results.len(), 1);
    let r = &results[0];
    assert_eq!(r["ruleId"], "MSP101");
    assert_eq!(r["level"], "warning");
    let index = r["ruleIndex"].as_u64().unwrap_or(u64::MAX) as usize;
    assert_eq!(run["tool"]["driver"]["rules"][index]["id"], "MSP101");
    let loc = &r["locations"][0]["physicalLocation"];
    assert_eq!(loc["artifactLocation"]["uri"], "short.yaml");
    assert_eq!(loc["region"]["startLine"], 8);
    assert_eq!(loc["region"]["startColumn"], 9);
    let ids: Vec<&str> = run["tool"]["driver"]["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["id"].as_str())
        .collect();
    let unique: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "SARIF rule ids must be unique");
}

#[test]
fn github_output_is_one_escaped_workflow_command_per_finding() {
    let dir = tempdir();
    write(dir.path(), "short.yaml", SHORT_HOST);
    lint_in(dir.path())
        .args(["--format", "github", "short.yaml"])
        .assert()
        .code(1)
        .stdout(predicate::str::starts_with(
            "::warning file=short.yaml,line=8,col=9,endLine=8,endColumn=15,title=MSP101 short-host-name::",
        ))
        .stdout(predicate::str::contains("%0Ahelp: "));
}

#[test]
fn fix_rewrites_the_host_and_keeps_comments_and_layout() {
    let dir = tempdir();
    let path = write(dir.path(), "short.yaml", SHORT_HOST);
    lint_in(dir.path())
        .args(["--fix", "short.yaml"])
        .assert()
        .code(0)
        .stderr(predicate::str::contains("fixed 1 finding in 1 file"))
        .stdout(predicate::str::contains("no findings"));
    let fixed = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        fixed,
        SHORT_HOST.replace(
            "host: orders      # short name",
            "host: orders.food.svc.cluster.local      # short name"
        )
    );
}

#[test]
fn fix_adds_security_settings_over_rounds_until_none_collide() {
    let dir = tempdir();
    let yaml = "apiVersion: v1
kind: Pod
metadata: {name: p, namespace: food}
spec:
  containers:
  - name: app   # the app
    image: food/app:1.0
";
    let path = write(dir.path(), "pod.yaml", yaml);
    // Both fixes create `securityContext` at one point: the second is applied in a second round.
    lint_in(dir.path())
        .args(["--select", "MSP201,MSP203", "--fix", "pod.yaml"])
        .assert()
        .code(0)
        .stderr(predicate::str::contains("fixed 2 findings in 1 file"))
        .stdout(predicate::str::contains("no findings"));
    let fixed = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        fixed,
        yaml.replace(
            "# the app\n",
            "# the app\n    securityContext:\n      readOnlyRootFilesystem: true\n      \
             allowPrivilegeEscalation: false\n"
        ),
        "{fixed}"
    );
}

#[test]
fn stdin_is_linted_with_dash() {
    let dir = tempdir();
    lint_in(dir.path())
        .args(["--format", "json", "-"])
        .write_stdin(SHORT_HOST)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("\"file\": \"<stdin>\""));
}

#[test]
fn a_broken_file_is_reported_and_the_others_still_linted() {
    let dir = tempdir();
    write(
        dir.path(),
        "a-broken.yaml",
        "apiVersion: v1\nkind: [Service\n",
    );
    write(dir.path(), "b-short.yaml", SHORT_HOST);
    // Exit 2 (the file could not be parsed), after reporting everything else.
    lint_in(dir.path())
        .arg(".")
        .assert()
        .code(2)
        .stdout(predicate::str::contains("error[MSP001]"))
        .stdout(predicate::str::contains("a-broken.yaml:3:1"))
        .stdout(predicate::str::contains("warning[MSP101]"));
}

#[test]
fn hostile_inputs_are_refused_with_a_finding_not_a_crash() {
    let dir = tempdir();
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let p = i - 1;
        bomb.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    write(dir.path(), "bomb.yaml", &bomb);
    write(
        dir.path(),
        "deep.yaml",
        &format!("{}{}", "[".repeat(50_000), "]".repeat(50_000)),
    );
    write(dir.path(), "binary.yaml", "kind: \u{0}\u{1}");
    std::fs::write(dir.path().join("latin1.yaml"), b"name: caf\xe9\n")
        .unwrap_or_else(|e| panic!("{e}"));
    write(dir.path(), "empty.yaml", "");
    lint_in(dir.path())
        .args(["--format", "json", "."])
        .assert()
        .code(2)
        .stdout(predicate::str::contains("alias bomb"))
        .stdout(predicate::str::contains("not valid UTF-8"));
    // Regression: the default text output panicked (exit 101) on the Latin-1 file. Its help says
    // what to do about an encoding (it named a safety limit before).
    lint_in(dir.path())
        .arg(".")
        .assert()
        .code(2)
        .stdout(predicate::str::contains("not valid UTF-8"))
        .stdout(predicate::str::contains("save the file as UTF-8"));
}

#[test]
fn annotation_and_config_file_suppress_findings() {
    let dir = tempdir();
    let suppressed = SHORT_HOST.replace(
        "  namespace: food   # owned by the food team\n",
        "  namespace: food\n  annotations: {mspack.io/ignore: \"MSP101\"}\n",
    );
    write(dir.path(), "annotated.yaml", &suppressed);
    lint_in(dir.path()).arg("annotated.yaml").assert().code(0);
    let istio = suppressed.replace("mspack.io/ignore", "galley.istio.io/analyze-suppress");
    write(dir.path(), "annotated.yaml", &istio);
    lint_in(dir.path()).arg("annotated.yaml").assert().code(0);

    write(dir.path(), "legacy/short.yaml", SHORT_HOST);
    write(
        dir.path(),
        ".mspack.toml",
        "[lint.per-file-ignores]\n\"legacy/*.yaml\" = [\"short-host-name\"]\n",
    );
    std::fs::create_dir_all(dir.path().join("sub")).unwrap_or_else(|e| panic!("{e}"));
    lint_in(&dir.path().join("sub"))
        .arg("../legacy")
        .assert()
        .code(0);
    write(
        dir.path(),
        ".mspack.toml",
        "[lint]\nignore = [\"MSP101\"]\n",
    );
    lint_in(dir.path()).arg("legacy").assert().code(0);
    lint_in(dir.path())
        .args(["--no-config", "legacy"])
        .assert()
        .code(1);
    write(
        dir.path(),
        ".mspack.toml",
        "[lint]\nignored = [\"MSP101\"]\n",
    );
    lint_in(dir.path())
        .arg("legacy")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(".mspack.toml"))
        .stderr(predicate::str::contains("ignored"));
}

#[test]
fn config_cluster_domain_and_multicluster_reach_the_rules() {
    let dir = tempdir();
    write(dir.path(), "short.yaml", SHORT_HOST);
    write(
        dir.path(),
        ".mspack.toml",
        "[mesh]\ncluster-domain = \"corp.internal\"\n",
    );
    lint_in(dir.path())
        .arg("short.yaml")
        .assert()
        .code(1)
        .stdout(predicate::str::contains("orders.food.svc.corp.internal"));
    let routed = format!(
        "{CLEAN}---\napiVersion: v1\nkind: Service\nmetadata: {{name: orders, namespace: food}}\nspec: {{ports: [{{name: http, port: 80}}]}}\n"
    );
    write(dir.path(), "routed.yaml", &routed);
    lint_in(dir.path())
        .args(["--cluster-domain", "cluster.local", "routed.yaml"])
        .assert()
        .code(0);
    lint_in(dir.path())
        .args([
            "--cluster-domain",
            "cluster.local",
            "--multicluster",
            "ambient",
            "routed.yaml",
        ])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("MSP103"));
    // Issue 15: a sidecar multicluster mesh is mesh-wide already; the label would do nothing.
    lint_in(dir.path())
        .args([
            "--cluster-domain",
            "cluster.local",
            "--multicluster",
            "sidecar",
            "routed.yaml",
        ])
        .assert()
        .code(0);
    // The mode is named, never guessed: `true` in the config is refused with both choices.
    write(dir.path(), ".mspack.toml", "[mesh]\nmulticluster = true\n");
    lint_in(dir.path())
        .arg("routed.yaml")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("ambient").and(predicate::str::contains("sidecar")));
}

#[test]
fn rules_and_explain_document_every_rule() {
    let out = mspack()
        .args(["rules", "--format", "json"])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let rules: Value = serde_json::from_slice(&out).unwrap_or_else(|e| panic!("{e}"));
    let codes: Vec<&str> = rules
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["code"].as_str())
        .collect();
    assert!(codes.contains(&"MSP101") && codes.contains(&"MSP102") && codes.contains(&"MSP103"));
    mspack()
        .args(["explain", "MSP101"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("## What it checks"))
        .stdout(predicate::str::contains("## Fix"));
    mspack()
        .args(["explain", "short-host-name"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("# MSP101 short-host-name"));
    mspack().args(["explain", "MSP999"]).assert().code(2);
}

#[test]
fn fix_adds_the_global_label_in_block_and_flow_label_maps() {
    let dir = tempdir();
    let text = "\
apiVersion: v1
kind: Service
metadata:
  name: orders
  namespace: food
  labels:
    app: orders   # owner: food team
spec:
  ports: [{name: http, port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: kitchen, namespace: food}
spec:
  ports: [{name: http, port: 80}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: all, namespace: food}
spec:
  host: \"*.food.svc.cluster.local\"
  exportTo: [\".\"]
";
    let path = write(dir.path(), "svc.yaml", text);
    lint_in(dir.path())
        .args([
            "--multicluster",
            "ambient",
            "--select",
            "MSP103",
            "--fix",
            "svc.yaml",
        ])
        .assert()
        .code(0)
        .stderr(predicate::str::contains("fixed 2 findings in 1 file"));
    let fixed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        fixed.contains(
            "  labels:\n    istio.io/global: \"true\"\n    app: orders   # owner: food team\n"
        ),
        "{fixed}"
    );
    assert!(
        fixed.contains(
            "metadata: {labels: {istio.io/global: \"true\"}, name: kitchen, namespace: food}"
        ),
        "{fixed}"
    );
}

/// Regression: `--fix` on a host written as a block scalar glued the next `---` onto the host
/// (two documents merged) and a comment after a quoted host was deleted.
#[test]
fn fix_keeps_block_scalars_documents_and_comments_intact() {
    let dir = tempdir();
    let text = "\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: orders, namespace: food}
spec:
  host: >-
    orders
  exportTo: [\".\"]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: kitchen, namespace: food}
spec:
  host: \"kitchen\" # the kitchen team owns this
  exportTo: [\".\"]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: payments, namespace: food}
spec:
  host: |
    payments
  exportTo: [\".\"]
";
    let path = write(dir.path(), "dr.yaml", text);
    lint_in(dir.path())
        .args(["--fix", "--select", "MSP101", "dr.yaml"])
        .assert()
        .code(predicate::in_iter([0, 1]));
    let fixed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        fixed.contains("  host: >-\n    orders.food.svc.cluster.local\n  exportTo: [\".\"]\n---\n"),
        "{fixed}"
    );
    assert!(
        fixed.contains("  host: \"kitchen.food.svc.cluster.local\" # the kitchen team owns this\n"),
        "{fixed}"
    );
    // `|` keeps a line break in the value, so no FQDN replacement can be the intended value:
    // that document is left exactly as it was.
    assert!(
        fixed.contains("  host: |\n    payments\n  exportTo: [\".\"]\n"),
        "{fixed}"
    );
    assert_eq!(fixed.matches("\n---\n").count(), 2, "{fixed}");
}

const VS_SUBSET_V2: &str = "\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: orders, namespace: food}
spec:
  hosts: [orders.food.svc.cluster.local]
  exportTo: [\".\"]
  http:
  - route:
    - destination: {host: orders.food.svc.cluster.local, subset: v2}
---
apiVersion: v1
kind: Service
metadata: {name: orders, namespace: food}
spec: {selector: {app: orders}, ports: [{name: http, port: 80}]}
";

fn dr_with_subset(subset: &str) -> String {
    format!(
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {{name: orders, namespace: food}}\n\
         spec:\n  host: orders.food.svc.cluster.local\n  exportTo: [\".\"]\n  subsets: [{{name: {subset}, labels: {{version: {subset}}}}}]\n"
    )
}

/// Regression: an object defined in several files was kept once per copy (a VirtualService
/// "conflicted" with itself under IST0109) and lookups used the first copy where istioctl keeps
/// the last.
#[test]
fn a_duplicated_object_is_reported_once_and_its_last_definition_wins() {
    let dir = tempdir();
    write(dir.path(), "a/vs.yaml", VS_SUBSET_V2);
    write(dir.path(), "b/vs.yaml", VS_SUBSET_V2);
    write(dir.path(), "a/dr.yaml", &dr_with_subset("v1"));
    write(dir.path(), "b/dr.yaml", &dr_with_subset("v2"));
    let out = lint_in(dir.path())
        .args(["--format", "json", "a", "b"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}"));
    let codes: Vec<(&str, &str)> = json["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| Some((f["code"].as_str()?, f["file"].as_str()?)))
        .collect();
    // One MSP004 for the DestinationRule of a/ (it differs from b/'s; the identical copies of the
    // VirtualService and Service merge silently), no self-conflict, and the subset v2 of the last
    // DestinationRule is found.
    assert_eq!(codes, vec![("MSP004", "a/dr.yaml")], "{json:#}");
    let message = json["findings"][0]["message"].as_str().unwrap_or("");
    assert!(message.contains("b/dr.yaml:3"), "{message}");
}

#[test]
fn unparseable_input_cannot_be_hidden_by_select_or_ignore() {
    let dir = tempdir();
    write(
        dir.path(),
        "broken.yaml",
        "apiVersion: v1\nkind: [Service\n",
    );
    write(
        dir.path(),
        "nokind.yaml",
        "apiVersion: v1\nmetadata: {name: x}\n",
    );
    for args in [["--select", "MSP101"], ["--ignore", "MSP001,MSP002"]] {
        lint_in(dir.path())
            .args(args)
            .arg(".")
            .assert()
            .code(2)
            .stdout(predicate::str::contains("error[MSP001]"))
            .stdout(predicate::str::contains("error[MSP002]"));
    }
}

#[test]
fn a_duplicate_mapping_key_is_a_finding() {
    let dir = tempdir();
    let text = CLEAN.replace(
        "  host: orders.food.svc.cluster.local\n",
        "  host: orders.food.svc.cluster.local\n  host: orders\n",
    );
    write(dir.path(), "dup.yaml", &text);
    lint_in(dir.path())
        .arg("dup.yaml")
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "error[MSP001]: duplicate key \"host\" (first at line 5)",
        ))
        .stdout(predicate::str::contains("dup.yaml:6:3"));
}

#[test]
fn an_unreadable_file_is_named_and_the_others_are_still_linted() {
    let dir = tempdir();
    write(dir.path(), "b-short.yaml", SHORT_HOST);
    // Reading /proc/self/mem from offset 0 fails for every user, root included.
    std::os::unix::fs::symlink("/proc/self/mem", dir.path().join("a-mem.yaml"))
        .unwrap_or_else(|e| panic!("{e}"));
    lint_in(dir.path())
        .arg(".")
        .assert()
        .code(2)
        .stdout(predicate::str::contains("error[MSP001]"))
        .stdout(predicate::str::contains("a-mem.yaml"))
        .stdout(predicate::str::contains("warning[MSP101]"));
}

#[test]
fn a_symlinked_directory_named_on_the_command_line_is_followed() {
    let dir = tempdir();
    write(dir.path(), "real/short.yaml", SHORT_HOST);
    std::os::unix::fs::symlink(dir.path().join("real"), dir.path().join("link"))
        .unwrap_or_else(|e| panic!("{e}"));
    lint_in(dir.path())
        .arg("link")
        .assert()
        .code(1)
        .stdout(predicate::str::contains("link/short.yaml:8:9"));
}

const NO_NAMESPACE: &str = "\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: orders}
spec:
  host: orders
";

/// Regression: objects without a namespace were placed in `default`, so a kustomize base (its
/// namespace set by the kustomization) drew MSP102 and findings \"in default\".
#[test]
fn namespace_less_objects_share_one_unknown_namespace_or_the_kustomization_one() {
    let dir = tempdir();
    write(dir.path(), "base/dr.yaml", NO_NAMESPACE);
    write(
        dir.path(),
        "base/ns.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: food}\n",
    );
    let out = lint_in(dir.path())
        .args(["--format", "json", "base"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("MSP102"), "{text}");
    assert!(!text.contains("orders.default.svc"), "{text}");
    lint_in(dir.path())
        .args(["--format", "json", "--default-namespace", "default", "base"])
        .assert()
        .stdout(predicate::str::contains("orders.default.svc.cluster.local"));
    write(
        dir.path(),
        "base/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: food\nresources: [dr.yaml, ns.yaml]\n",
    );
    lint_in(dir.path())
        .args(["--format", "json", "base"])
        .assert()
        .stdout(predicate::str::contains("orders.food.svc.cluster.local"))
        .stdout(predicate::str::contains("DestinationRule orders"));
}

/// Regression: `exportTo: []` and `exportTo: ~` counted as scoped; Istio exports both everywhere.
#[test]
fn empty_or_null_export_to_is_visible_everywhere() {
    let dir = tempdir();
    for export in ["[]", "~"] {
        let text = CLEAN.replace("[\".\"]", export)
            + "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: payments}\n";
        write(dir.path(), "dr.yaml", &text);
        lint_in(dir.path())
            .arg("dr.yaml")
            .assert()
            .code(1)
            .stdout(predicate::str::contains("warning[MSP102]"));
    }
}

/// Regression: MSP102 suggested `exportTo: [\".\"]` for a VirtualService bound to a gateway in
/// another namespace, which hides it from that gateway.
#[test]
fn export_to_help_for_a_gateway_bound_virtual_service_keeps_the_gateway_namespace() {
    let dir = tempdir();
    let text = "\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: orders, namespace: food}
spec:
  hosts: [orders.example.com]
  gateways: [istio-system/public, mesh]
  http:
  - route:
    - destination: {host: orders.food.svc.cluster.local}
---
apiVersion: v1
kind: Namespace
metadata: {name: payments}
";
    write(dir.path(), "vs.yaml", text);
    lint_in(dir.path())
        .args(["--select", "MSP102", "--format", "json", "vs.yaml"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "add `exportTo: [\\\".\\\", \\\"istio-system\\\"]`",
        ));
}

#[test]
fn a_baseline_hides_recorded_findings_and_reports_new_ones() {
    let dir = tempdir();
    write(dir.path(), "deploy/short.yaml", SHORT_HOST);
    lint_in(dir.path())
        .args(["--baseline", "mspack-baseline.json", "deploy"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--update-baseline"));
    lint_in(dir.path())
        .args([
            "--baseline",
            "mspack-baseline.json",
            "--update-baseline",
            "deploy",
        ])
        .assert()
        .code(0)
        .stderr(predicate::str::contains(
            "recorded 1 finding in mspack-baseline.json",
        ));
    // Lines move: still recorded.
    write(
        dir.path(),
        "deploy/short.yaml",
        &format!("# a new comment\n\n{SHORT_HOST}"),
    );
    lint_in(dir.path())
        .args(["--baseline", "mspack-baseline.json", "deploy"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("no findings"))
        .stderr(predicate::str::contains(
            "1 finding recorded in mspack-baseline.json not shown",
        ));
    // A new short host: reported.
    write(
        dir.path(),
        "deploy/kitchen.yaml",
        &SHORT_HOST.replace("orders", "kitchen"),
    );
    lint_in(dir.path())
        .args(["--baseline", "mspack-baseline.json", "deploy"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("host \"kitchen\" is a short name"))
        .stdout(predicate::str::contains("host \"orders\"").not());
}

#[test]
fn suppression_comments_hide_a_finding_until_they_expire_and_report_when_unused() {
    let dir = tempdir();
    let suppressed = SHORT_HOST.replace(
        "  host: orders      # short name\n",
        "  # mspack: ignore[MSP101] reason=\"renamed next sprint\" until=2999-01-01\n  host: orders\n",
    );
    write(dir.path(), "dr.yaml", &suppressed);
    lint_in(dir.path())
        .arg("dr.yaml")
        .assert()
        .code(0)
        .stdout(predicate::str::contains("no findings"));
    write(
        dir.path(),
        "dr.yaml",
        &suppressed.replace("2999-01-01", "2020-01-01"),
    );
    lint_in(dir.path())
        .arg("dr.yaml")
        .assert()
        .code(1)
        .stdout(predicate::str::contains("warning[MSP101]"))
        .stdout(predicate::str::contains(
            "warning[MSP005]: suppression of MSP101 expired on 2020-01-01 (renamed next sprint)",
        ));
    let fixed = suppressed.replace("host: orders\n", "host: orders.food.svc.cluster.local\n");
    write(dir.path(), "dr.yaml", &fixed);
    lint_in(dir.path())
        .arg("dr.yaml")
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "warning[MSP005]: unused suppression: no MSP101 finding on line 9",
        ));
}

/// `mspack lint --traces FILE` feeds the graph rules that compare manifests with what ran
/// (MSP508/509), as `mspack graph --traces` does; a malformed file is an error that names it.
#[test]
fn lint_reads_traces_for_the_graph_rules() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../mspack_lint/tests/fixtures");
    let dir = std::fs::read_dir(&fixtures)
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("MSP508"))
        })
        .unwrap_or_else(|| panic!("the MSP508 fixtures"));
    let work = tempdir();
    lint_in(work.path())
        .args(["--extend-select", "MSP508", "--traces"])
        .arg(dir.join("traces.json"))
        .arg(dir.join("bad.yaml"))
        .assert()
        .code(1)
        .stdout(predicate::str::contains("MSP508"));
    lint_in(work.path())
        .args(["--extend-select", "MSP508"])
        .arg(dir.join("bad.yaml"))
        .assert()
        .code(0);
    let bad = write(work.path(), "bad.json", "{\"resourceSpans\": [");
    lint_in(work.path())
        .arg("--traces")
        .arg(&bad)
        .arg(dir.join("bad.yaml"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("bad.json"));
}
