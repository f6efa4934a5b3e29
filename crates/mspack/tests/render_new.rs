//! `mspack render` and `mspack new` through the binary: listing, value docs, values files,
//! errors that name the key (exit 2), output files, dry runs and never overwriting a directory.

use assert_cmd::Command;
use predicates::prelude::*;

fn mspack() -> Command {
    Command::cargo_bin("mspack").unwrap_or_else(|e| panic!("binary: {e}"))
}

#[test]
fn render_list_names_every_template() {
    mspack()
        .args(["render", "--list"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("mesh-istio")
                .and(predicate::str::contains("otel-config"))
                .and(predicate::str::contains("deployment-strategy"))
                .and(predicate::str::contains("obi")),
        );
}

#[test]
fn help_values_documents_keys_and_defaults() {
    mspack()
        .args(["render", "mesh-istio", "--help-values"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("retry_attempts")
                .and(predicate::str::contains("default: 2"))
                .and(predicate::str::contains("name"))
                .and(predicate::str::contains("required")),
        );
}

#[test]
fn render_prints_fqdn_hosts_to_stdout() {
    mspack()
        .args([
            "render",
            "mesh-istio",
            "--set",
            "name=orders",
            "--set",
            "namespace=food",
        ])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("host: orders.food.svc.cluster.local")
                .and(predicate::str::contains("mode: STRICT")),
        );
}

#[test]
fn rendered_output_passes_mspack_lint() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    for template in ["deployment-strategy", "mesh-istio", "otel-config", "obi"] {
        let out = dir.path().join(format!("{template}.yaml"));
        mspack()
            .args(["render", template, "--set", "name=orders", "-o"])
            .arg(&out)
            .assert()
            .success();
    }
    mspack()
        .current_dir(dir.path())
        .args(["lint", "--no-config", "--color=never", "."])
        .assert()
        .success();
}

#[test]
fn values_files_are_read_and_set_wins() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let values = dir.path().join("values.yaml");
    std::fs::write(&values, "name: orders\nnamespace: food\nport: 9000\n")
        .unwrap_or_else(|e| panic!("{e}"));
    mspack()
        .args(["render", "deployment-strategy", "--values"])
        .arg(&values)
        .args(["--set", "port=9100"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("containerPort: 9100")
                .and(predicate::str::contains("namespace: food")),
        );
}

#[test]
fn invalid_values_exit_2_naming_the_key() {
    for (set, key) in [
        ("port=15006", "`port`"),
        ("run_as_user=1337", "`run_as_user`"),
        ("name=Orders", "`name`"),
        ("termination_grace_period=ten", "`termination_grace_period`"),
        ("image=orders:latest", "`image`"),
        ("namespce=food", "namespace"),
    ] {
        let mut cmd = mspack();
        cmd.args([
            "render",
            "deployment-strategy",
            "--set",
            "name=orders",
            "--set",
            set,
        ]);
        cmd.assert().code(2).stderr(predicate::str::contains(key));
    }
}

#[test]
fn new_dry_run_lists_the_files_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    mspack()
        .current_dir(dir.path())
        .args(["new", "orders", "--namespace", "food", "--dry-run"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("orders/Dockerfile")
                .and(predicate::str::contains("orders/deploy/mesh-istio.yaml"))
                .and(predicate::str::contains("orders/.mspack/answers.toml")),
        );
    assert!(!dir.path().join("orders").exists());
}

#[test]
fn new_refuses_an_existing_directory_and_bad_names_with_exit_2() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    mspack()
        .current_dir(dir.path())
        .args(["new", "Orders_API"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("`name`"));
    mspack()
        .current_dir(dir.path())
        .args(["new", "tokio"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("crate").and(predicate::str::contains("tokio-svc")));
    std::fs::create_dir(dir.path().join("orders")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.path().join("orders/notes.md"), "mine").unwrap_or_else(|e| panic!("{e}"));
    mspack()
        .current_dir(dir.path())
        .args(["new", "orders"])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("already exists").and(predicate::str::contains("--force")),
        );
    mspack()
        .current_dir(dir.path())
        .args(["new", "orders", "--force", "--port", "9000"])
        .assert()
        .success()
        .stderr(predicate::str::contains("previous tree"));
    // --force replaced the tree but deleted nothing: the user's file is in the backup.
    let backups: Vec<std::path::PathBuf> = std::fs::read_dir(dir.path())
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().contains("orders.mspack-backup-"))
        .collect();
    assert_eq!(backups.len(), 1, "{backups:?}");
    assert_eq!(
        std::fs::read_to_string(backups[0].join("orders/notes.md")).unwrap_or_default(),
        "mine"
    );
    let answers = std::fs::read_to_string(dir.path().join("orders/.mspack/answers.toml"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(answers.contains("port = 9000"));
}

#[test]
fn new_writes_into_output_and_the_deploy_folder_lints_clean() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    mspack()
        .current_dir(dir.path())
        .args([
            "new",
            "payments",
            "--output",
            "svc/payments",
            "--multicluster",
            "ambient",
        ])
        .assert()
        .success();
    let deploy = dir.path().join("svc/payments/deploy");
    assert!(deploy.join("deployment-strategy.yaml").is_file());
    let text = std::fs::read_to_string(deploy.join("deployment-strategy.yaml"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(text.contains("istio.io/global: \"true\""));
    mspack()
        .current_dir(dir.path())
        .args([
            "lint",
            "--no-config",
            "--color=never",
            "--multicluster",
            "ambient",
        ])
        .arg(&deploy)
        .assert()
        .success();
}

/// Issue 15: `istio.io/global` is read by ambient multicluster only. A service for a sidecar
/// multicluster mesh gets no label (its Services are mesh-wide already), and its deploy/ lints
/// clean in that mode; the recorded answers name the mode.
#[test]
fn new_for_a_sidecar_multicluster_mesh_writes_no_global_label() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    mspack()
        .current_dir(dir.path())
        .args(["new", "payments", "--multicluster", "sidecar"])
        .assert()
        .success();
    let deploy = dir.path().join("payments/deploy");
    let text = std::fs::read_to_string(deploy.join("deployment-strategy.yaml"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!text.contains("istio.io/global"), "{text}");
    let answers = std::fs::read_to_string(dir.path().join("payments/.mspack/answers.toml"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(answers.contains("multicluster = \"sidecar\""), "{answers}");
    mspack()
        .current_dir(dir.path())
        .args([
            "lint",
            "--no-config",
            "--color=never",
            "--multicluster",
            "sidecar",
        ])
        .arg(&deploy)
        .assert()
        .success();
}

#[test]
fn new_store_and_nats_imply_each_other_and_contradictions_exit_2() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    for args in [
        ["new", "orders", "--messaging", "nats", "--dry-run"].as_slice(),
        ["new", "orders", "--store", "postgres", "--dry-run"].as_slice(),
    ] {
        mspack()
            .current_dir(dir.path())
            .args(args)
            .assert()
            .success()
            .stdout(
                predicate::str::contains("orders/src/store.rs")
                    .and(predicate::str::contains("orders/src/domain.rs"))
                    .and(predicate::str::contains(
                        "orders/crates/mspack_outbox/src/relay/mod.rs",
                    ))
                    .and(predicate::str::contains("messaging.rs").not()),
            );
    }
    mspack()
        .current_dir(dir.path())
        .args(["new", "orders", "--messaging", "none", "--store", "sqlite"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("`store`").and(predicate::str::contains("nats")));
    mspack()
        .current_dir(dir.path())
        .args(["new", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("--store").and(predicate::str::contains("sqlite")));
    assert!(!dir.path().join("orders").exists());
}
