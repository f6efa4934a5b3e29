//! Property test: whatever the bytes of a file (Latin-1, UTF-16, binary, YAML with multi-byte
//! characters next to errors), linting it and rendering the report in every output format never
//! panics, and every format says something about each finding.

use std::sync::Arc;

use mspack_lint::output::{Format, render};
use mspack_lint::{LintOptions, lint_sources};
use mspack_yaml::SourceFile;
use proptest::prelude::*;

const FORMATS: [Format; 4] = [Format::Text, Format::Json, Format::Sarif, Format::Github];

fn lint_and_render_every_format(bytes: Vec<u8>) {
    let source = Arc::new(SourceFile::from_bytes("odd.yaml", bytes));
    let options = LintOptions {
        select: vec!["ALL".into()],
        ..LintOptions::default()
    };
    let report = lint_sources(vec![source], &options).unwrap_or_else(|e| panic!("{e}"));
    for format in FORMATS {
        for color in [false, true] {
            let text = render(&report, format, color);
            if format != Format::Github || !report.findings.is_empty() {
                assert!(!text.is_empty(), "{format:?} rendered nothing");
            }
        }
    }
}

/// YAML fragments, multi-byte characters and bytes that are not UTF-8.
fn odd_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"apiVersion: networking.istio.io/v1\nkind: VirtualService\n".to_vec()),
        Just(b"metadata: {name: r, namespace: a}\nspec:\n  hosts: [reviews]\n".to_vec()),
        Just(b"---\n".to_vec()),
        Just(b": [\n".to_vec()),
        Just("\u{e9}\u{fffd}\u{1f600}".as_bytes().to_vec()),
        Just(vec![0xe9]),
        Just(vec![0xff, 0xfe]),
        Just(vec![0xc3]),
        Just(vec![0x00]),
        Just(b"\t\"\\".to_vec()),
        prop::collection::vec(any::<u8>(), 0..8),
    ];
    prop::collection::vec(piece, 0..12).prop_map(|p| p.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn any_bytes_render_in_every_format(bytes in odd_bytes()) {
        lint_and_render_every_format(bytes);
    }
}

/// Regression: a Latin-1 file made the text output panic (exit 101) while JSON handled it.
#[test]
fn latin1_utf16_and_binary_files_render_in_every_format() {
    lint_and_render_every_format(b"name: caf\xe9\n".to_vec());
    lint_and_render_every_format(b"\xff\xfek\x00i\x00n\x00d\x00".to_vec());
    lint_and_render_every_format((0..=255u8).collect());
}
