//! Property tests for the parsers of user input: `--set` assignments, values files and every
//! value kind never panic, and whatever they accept renders lint-clean or is refused with an
//! error that names a key.

use mspack_templates::{RawValues, TemplateError, render};
use proptest::prelude::*;

const KEYS: &[&str] = &[
    "name",
    "namespace",
    "port",
    "image",
    "timeout",
    "retry_attempts",
    "per_try_timeout",
    "callers",
    "export_to",
    "canary_version",
    "request_headers_add",
    "run_as_user",
    "memory_limit",
    "prestop_sleep",
    "version",
    "ab_header",
    "retry_on",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_values_render_clean_or_fail_with_a_key(
        key in prop::sample::select(KEYS),
        value in prop_oneof!["[ -~]{0,40}", "[a-z0-9./:*,_-]{1,12}", "[0-9]{1,5}(ms|s|m)?"],
        template in prop::sample::select(&["mesh-istio", "deployment-strategy"][..]),
    ) {
        let mut raw = RawValues::new();
        raw.insert("name", "orders");
        let _ = raw.set(&format!("{key}={value}"));
        match render(template, &raw) {
            // The service name stays in the output unless the key overrode it.
            Ok(rendered) => prop_assert!(key == "name" || rendered.text.contains("orders")),
            Err(TemplateError::InvalidValue { key, .. }) => prop_assert!(!key.is_empty()),
            Err(TemplateError::UnknownKey { .. }) => {}
            Err(other) => prop_assert!(false, "{key}={value:?}: unexpected error {other}"),
        }
    }

    #[test]
    fn values_files_never_panic(text in "[ -~\n]{0,200}") {
        let mut raw = RawValues::new();
        let _ = raw.merge_yaml("values.yaml", &text);
    }
}
