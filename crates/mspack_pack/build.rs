//! Embed `pack/`, the two wrapper scripts and the helper they source: writes a table of (installed path, bytes) into
//! OUT_DIR, with `rerun-if-changed` on every file and folder so edits rebuild.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    println!("cargo:rerun-if-changed={}", dir.display());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let root = manifest.join("../..");
    let pack = root.join("pack");
    let mut files = Vec::new();
    walk(&pack, &mut files);
    files.sort();
    let mut table = String::from(
        "/// Embedded pack files: (path inside the installed skill, contents).\npub static EMBEDDED: &[(&str, &[u8])] = &[\n",
    );
    let mut add = |installed: &str, path: &Path| {
        println!("cargo:rerun-if-changed={}", path.display());
        let _ = writeln!(
            table,
            "    ({installed:?}, include_bytes!({:?})),",
            path.display().to_string()
        );
    };
    for file in &files {
        let Ok(rel) = file.strip_prefix(&pack) else {
            continue;
        };
        let rel = rel.to_string_lossy().replace('\\', "/");
        add(&rel, file);
    }
    for script in [
        "scripts/scaffold-microservice.sh",
        "scripts/find-mspack.sh",
        "validators/mesh-validator.sh",
    ] {
        add(script, &root.join(script));
    }
    table.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default()).join("embedded.rs");
    if let Err(e) = std::fs::write(&out, table) {
        panic!("writing {}: {e}", out.display());
    }
}
