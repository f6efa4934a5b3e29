//! `pack/templates/*.yaml` are exactly what `mspack render` prints, one file per template that
//! `mspack render --list` names, rendered with default values (plus `name=orders` where a
//! template has no default name). After a template or version change, regenerate them with
//! `MSPACK_BLESS=1 cargo test -p mspack --test pack_templates` and review the diff.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Values given on top of the defaults: only what a template requires.
const REQUIRED_VALUES: &[(&str, &[&str])] = &[
    ("deployment-strategy", &["name=orders"]),
    ("mesh-istio", &["name=orders"]),
];

fn mspack(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_mspack"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running mspack: {e}"));
    assert!(
        output.status.success(),
        "mspack {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap_or_else(|e| panic!("mspack output: {e}"))
}

fn templates_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../pack/templates")
}

#[test]
fn pack_templates_are_the_current_render_output() {
    let bless = std::env::var_os("MSPACK_BLESS").is_some();
    let names: Vec<String> = mspack(&["render", "--list"])
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .collect();
    assert!(!names.is_empty(), "mspack render --list names templates");
    let dir = templates_dir();
    let mut drift = Vec::new();
    for name in &names {
        let mut args = vec!["render", name.as_str()];
        for (template, values) in REQUIRED_VALUES {
            if *template == name.as_str() {
                for value in *values {
                    args.extend(["--set", value]);
                }
            }
        }
        let rendered = mspack(&args);
        let path = dir.join(format!("{name}.yaml"));
        if bless {
            std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
            std::fs::write(&path, &rendered).unwrap_or_else(|e| panic!("{e}"));
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(rendered.as_str()) {
            drift.push(format!(
                "{} differs from `mspack {}`",
                path.display(),
                args.join(" ")
            ));
        }
    }
    let stale: Vec<String> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.file_name().to_str().map(String::from))
                .filter(|f| !names.iter().any(|n| *f == format!("{n}.yaml")))
                .collect()
        })
        .unwrap_or_default();
    assert!(
        stale.is_empty(),
        "pack/templates has files no template renders: {stale:?}"
    );
    assert!(
        drift.is_empty(),
        "{}\nregenerate: MSPACK_BLESS=1 cargo test -p mspack --test pack_templates",
        drift.join("\n")
    );
}
