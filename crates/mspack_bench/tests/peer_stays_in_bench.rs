//! postgres-es brings sqlx 0.8 beside our sqlx 0.9; it must never reach a library or the CLI.

#[test]
fn only_the_bench_crate_depends_on_cqrs_es_or_postgres_es() {
    let crates = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut checked = 0;
    for entry in std::fs::read_dir(&crates).expect("crates directory") {
        let dir = entry.expect("entry").path();
        if dir.file_name().is_some_and(|n| n == "mspack_bench") {
            continue;
        }
        let Ok(manifest) = std::fs::read_to_string(dir.join("Cargo.toml")) else {
            continue;
        };
        checked += 1;
        for peer in ["cqrs-es", "postgres-es"] {
            assert!(
                !manifest.contains(peer),
                "{} depends on {peer}; keep the peer in mspack_bench",
                dir.display()
            );
        }
    }
    assert!(
        checked >= 3,
        "expected the other crates beside mspack_bench"
    );
}
