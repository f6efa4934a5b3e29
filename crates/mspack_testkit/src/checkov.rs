//! checkov's Kubernetes checks over a folder, for the tests that hold rendered manifests and the
//! pack's worked example to them (checkov comes from `scripts/manifest-tools.sh`).

use std::path::{Path, PathBuf};

/// What checkov found in a folder.
pub struct CheckovReport {
    pub passed: u64,
    /// `CHECK_ID resource file (check name)`, one per failed check.
    pub failed: Vec<String>,
}

/// The checkov of the manifest-tools venv (`MSPACK_TOOLS_VENV`, default `target/manifest-tools`
/// of the repository); panics with the command that installs it when it is missing.
pub fn checkov_binary() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let venv = std::env::var_os("MSPACK_TOOLS_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/manifest-tools"));
    let checkov = venv.join("bin/checkov");
    assert!(
        checkov.is_file(),
        "{} is missing: run scripts/manifest-tools.sh",
        checkov.display()
    );
    checkov
}

/// Run checkov's Kubernetes framework over `dir` (not a hidden folder: checkov skips those).
pub fn checkov(dir: &Path) -> CheckovReport {
    let checkov = checkov_binary();
    let output = std::process::Command::new(&checkov)
        .args([
            "--framework",
            "kubernetes",
            "--skip-download",
            "--quiet",
            "--compact",
            "-o",
            "json",
            "-d",
        ])
        .arg(dir)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", checkov.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "checkov output is not JSON ({e}): {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let reports = match report {
        serde_json::Value::Array(items) => items,
        other => vec![other],
    };
    let mut out = CheckovReport {
        passed: 0,
        failed: Vec::new(),
    };
    for r in &reports {
        out.passed += r["summary"]["passed"].as_u64().unwrap_or(0);
        for f in r["results"]["failed_checks"]
            .as_array()
            .into_iter()
            .flatten()
        {
            out.failed.push(format!(
                "{} {} {} ({})",
                f["check_id"].as_str().unwrap_or("?"),
                f["resource"].as_str().unwrap_or("?"),
                f["file_path"].as_str().unwrap_or("?"),
                f["check_name"].as_str().unwrap_or("?")
            ));
        }
    }
    out
}
