//! Every command the pack shows in a ```` ```sh ```` block runs. For each Markdown file of the
//! pack, its `sh` blocks run in order, as one bash script (`set -euo pipefail`), in an empty
//! project folder, with this build's `mspack` first on `PATH`, `HOME` in a temporary folder and
//! `SKILL_DIR` pointing at the pack installed there by `mspack skill install --dir` — the
//! situation of an agent that follows the pack. Commands that need a cluster or the network
//! belong in ```` ```text ```` blocks. (The YAML and Rust blocks are checked in `mspack_pack`.)

use std::path::Path;
use std::process::Command;

use mspack_pack::fences::fences;

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"))
}

fn path_with(bin_dir: &Path) -> String {
    let rest = std::env::var("PATH").unwrap_or_default();
    format!("{}:{rest}", bin_dir.display())
}

#[test]
fn every_sh_block_of_the_pack_runs() {
    let mspack = Path::new(env!("CARGO_BIN_EXE_mspack"));
    let bin_dir = mspack.parent().unwrap_or(Path::new("."));
    let mut ran = 0;
    for file in mspack_pack::files() {
        if !file.path.ends_with(".md") {
            continue;
        }
        let text = String::from_utf8_lossy(file.contents);
        let blocks: Vec<_> = fences(&text)
            .into_iter()
            .filter(|b| b.lang == "sh")
            .collect();
        if blocks.is_empty() {
            continue;
        }
        let tmp = tempdir();
        let (home, project, skills) = (
            tmp.path().join("home"),
            tmp.path().join("project"),
            tmp.path().join("skills"),
        );
        for dir in [&home, &project] {
            std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{e}"));
        }
        let install = Command::new(mspack)
            .args(["skill", "install", "--dir"])
            .arg(&skills)
            .env("HOME", &home)
            .output()
            .unwrap_or_else(|e| panic!("running mspack: {e}"));
        assert!(install.status.success(), "{install:?}");

        let mut script = String::from("set -euo pipefail\n");
        for block in &blocks {
            script.push_str(&format!(
                "echo '>>> {}:{}' >&2\n{}\n",
                file.path, block.line, block.body
            ));
        }
        let run = Command::new("bash")
            .arg("-c")
            .arg(&script)
            .current_dir(&project)
            .env("PATH", path_with(bin_dir))
            .env("HOME", &home)
            .env("SKILL_DIR", skills.join(mspack_pack::SKILL_NAME))
            .env("NO_COLOR", "1")
            .output()
            .unwrap_or_else(|e| panic!("running bash: {e}"));
        assert!(
            run.status.success(),
            "a command in {} failed (the last >>> line names its block):\n--- stdout\n{}\n--- stderr\n{}",
            file.path,
            String::from_utf8_lossy(&run.stdout),
            String::from_utf8_lossy(&run.stderr),
        );
        ran += blocks.len();
    }
    assert!(ran > 0, "the pack shows commands");
}
