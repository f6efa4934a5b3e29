//! Go's duration syntax (`1.5s`, `300ms`, `1m30s`) as Istio validates it: at least 1ms, whole
//! milliseconds.

use super::*;

// ---------------------------------------------------------------------------------------------
// Durations: Go's duration syntax (`1.5s`, `300ms`, `1m30s`), at least 1ms, whole milliseconds.

pub(crate) use mspack_model::duration::parse_go_duration;

pub(crate) fn duration<'a>(node: &'a Node, p: &mut Problems<'a>) {
    let written = node.as_string_value().unwrap_or("");
    let Some(nanos) = parse_go_duration(written) else {
        p.add(
            node,
            format!(
                "invalid duration \"{}\": write a string such as \"1.5s\" or \"300ms\"",
                node.as_str().unwrap_or("")
            ),
        );
        return;
    };
    if nanos < 1_000_000 {
        p.add(node, "duration must be at least 1ms");
    } else if nanos % 1_000_000 != 0 {
        p.add(node, "only durations to ms precision are supported");
    }
}
