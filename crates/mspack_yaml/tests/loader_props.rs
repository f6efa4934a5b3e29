//! Property tests: the loader never panics, whatever the bytes, and what it loads keeps positions
//! inside the file.

use std::sync::Arc;

use mspack_yaml::{Limits, Node, SourceFile, Value, parse_file};
use proptest::prelude::*;

fn check_spans(node: &Node, lines: usize) {
    assert!(node.span.start.line >= 1 && (node.span.start.line as usize) <= lines + 1);
    match &node.value {
        Value::Scalar(_) => {}
        Value::Seq(items) => items.iter().for_each(|n| check_spans(n, lines)),
        Value::Map(entries) => entries.iter().for_each(|(k, v)| {
            check_spans(k, lines);
            check_spans(v, lines);
        }),
    }
}

fn load(bytes: Vec<u8>) {
    let source = Arc::new(SourceFile::from_bytes("p.yaml", bytes));
    let lines = source.line_count();
    let file = parse_file(source, &Limits::default());
    for doc in &file.documents {
        check_spans(&doc.root, lines);
    }
}

/// Text made of YAML's structural characters, so the parser's odd corners get exercised.
fn yamlish() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("- ".to_string()),
        Just(": ".to_string()),
        Just("\n".to_string()),
        Just("  ".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just("{".to_string()),
        Just("}".to_string()),
        Just(", ".to_string()),
        Just("&a ".to_string()),
        Just("*a".to_string()),
        Just("<<: *a\n".to_string()),
        Just("---\n".to_string()),
        Just("? ".to_string()),
        Just("|\n".to_string()),
        Just("\"x\\u00e9\"".to_string()),
        Just("'q''s'".to_string()),
        Just("!!str ".to_string()),
        Just("#c\n".to_string()),
        "[a-z]{1,6}",
    ];
    prop::collection::vec(token, 0..80).prop_map(|t| t.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        load(bytes);
    }

    #[test]
    fn yaml_shaped_text_never_panics(text in yamlish()) {
        load(text.into_bytes());
    }
}
