//! The keys OBI's Config v2 schema allows under `extensions.obi`, restated from
//! `devdocs/config/version-2.0/obi-extension.schema.json` of
//! open-telemetry/opentelemetry-ebpf-instrumentation (the layout of OBI 0.14, with `capture`,
//! `enrich`, `correlation` and `daemon`): objects the schema closes
//! (`additionalProperties: false`) list their keys; those it leaves open (`capture.rules[]`
//! and its `match`, `capture.network.capture`, `enrich`) and free maps (filters) are not checked.

use mspack_yaml::Node;

/// What the schema allows at one place of `extensions.obi`. A list value takes the same keys
/// for each of its items.
pub enum Keys {
    /// A value whose keys are not checked (a scalar, a free map, an open object).
    Any,
    /// An object with exactly these keys.
    Closed(&'static [(&'static str, Keys)]),
    /// An object that may have other keys too; these are checked below.
    Open(&'static [(&'static str, Keys)]),
}

use Keys::{Any, Closed, Open};

const SIGNALS: Keys = Closed(&[("traces", Any), ("metrics", Any)]);
const FILTER_MAP: Keys = Any;
const SIGNAL_FILTERS: Keys = Closed(&[("traces", FILTER_MAP), ("metrics", FILTER_MAP)]);
const PROTOCOL: Keys = Closed(&[("enabled", SIGNALS), ("filters", SIGNAL_FILTERS)]);
const CACHE: Keys = Closed(&[("ttl", Any), ("size", Any)]);
const PARSER: Keys = Closed(&[
    ("buffer_size", Any),
    ("prepared_statements_cache_size", Any),
]);
const RUNTIME: Keys = Closed(&[("enabled", Any), ("filter", FILTER_MAP)]);

const HTTP: Keys = Closed(&[
    ("enabled", SIGNALS),
    ("filters", SIGNAL_FILTERS),
    ("track_request_headers", Any),
    ("request_timeout", Any),
    ("buffer_size", Any),
    (
        "routes",
        Closed(&[
            ("unmatched", Any),
            ("patterns", Any),
            ("ignored_patterns", Any),
            ("ignore_mode", Any),
            ("wildcard_char", Any),
            ("max_path_segment_cardinality", Any),
            (
                "discovery",
                Closed(&[
                    ("timeout", Any),
                    ("disabled_languages", Any),
                    ("java", Closed(&[("delay", Any)])),
                ]),
            ),
        ]),
    ),
    (
        "payload_extraction",
        Closed(&[
            ("enabled", Any),
            ("sqlpp", Closed(&[("endpoint_patterns", Any)])),
        ]),
    ),
]);

const INSTRUMENTATION: Keys = Closed(&[
    ("http", HTTP),
    ("grpc", PROTOCOL),
    (
        "sql",
        Closed(&[
            ("enabled", SIGNALS),
            ("filters", SIGNAL_FILTERS),
            ("heuristic_detect", Any),
            ("mysql", PARSER),
            ("postgres", PARSER),
        ]),
    ),
    (
        "redis",
        Closed(&[
            ("enabled", SIGNALS),
            ("filters", SIGNAL_FILTERS),
            ("db_cache", Closed(&[("enabled", Any), ("max_size", Any)])),
        ]),
    ),
    (
        "kafka",
        Closed(&[
            ("enabled", SIGNALS),
            ("filters", SIGNAL_FILTERS),
            ("buffer_size", Any),
            ("topic_uuid_cache_size", Any),
        ]),
    ),
    (
        "mongo",
        Closed(&[
            ("enabled", SIGNALS),
            ("filters", SIGNAL_FILTERS),
            ("requests_cache_size", Any),
        ]),
    ),
    (
        "couchbase",
        Closed(&[
            ("enabled", SIGNALS),
            ("filters", SIGNAL_FILTERS),
            ("db_cache_size", Any),
        ]),
    ),
    (
        "dns",
        Closed(&[
            ("enabled", SIGNALS),
            ("filters", SIGNAL_FILTERS),
            ("request_timeout", Any),
        ]),
    ),
    (
        "gpu",
        Closed(&[
            ("enabled", SIGNALS),
            ("filters", SIGNAL_FILTERS),
            ("enabled_mode", Any),
        ]),
    ),
]);

const CAPTURE: Keys = Closed(&[
    (
        "policy",
        Closed(&[
            ("default_action", Any),
            ("match_order", Any),
            ("poll_interval", Any),
            ("min_process_age", Any),
        ]),
    ),
    (
        "rules",
        Open(&[(
            "refine",
            Closed(&[
                ("exports", SIGNALS),
                (
                    "http",
                    Closed(&[
                        (
                            "routes",
                            Closed(&[
                                ("unmatched", Any),
                                ("patterns", Any),
                                ("ignored_patterns", Any),
                            ]),
                        ),
                        ("filters", SIGNAL_FILTERS),
                    ]),
                ),
            ]),
        )]),
    ),
    ("instrumentation", INSTRUMENTATION),
    (
        "runtimes",
        Closed(&[
            ("go", RUNTIME),
            ("nodejs", RUNTIME),
            (
                "java",
                Closed(&[
                    ("enabled", Any),
                    ("filter", FILTER_MAP),
                    (
                        "debug",
                        Closed(&[("enabled", Any), ("bytecode_instrumentation", Any)]),
                    ),
                    ("attach_timeout", Any),
                ]),
            ),
        ]),
    ),
    ("network", Closed(&[("capture", Any)])),
    (
        "limits",
        Closed(&[("network_packets", Any), ("metric_span_names", Any)]),
    ),
    (
        "engine",
        Closed(&[
            ("debug", Closed(&[("bpf", Any), ("protocol_print", Any)])),
            ("pid_filter", Closed(&[("disabled", Any)])),
            (
                "batching",
                Closed(&[
                    ("wakeup_len", Any),
                    ("batch_length", Any),
                    ("batch_timeout", Any),
                ]),
            ),
            (
                "propagation",
                Closed(&[
                    ("context_propagation", Any),
                    ("override_bpfloop_enabled", Any),
                    ("disable_black_box_cp", Any),
                ]),
            ),
            (
                "traffic",
                Closed(&[("control_backend", Any), ("high_request_volume", Any)]),
            ),
            ("transactions", Closed(&[("max_duration", Any)])),
            ("bpf_filesystem", Closed(&[("path", Any)])),
        ]),
    ),
    ("safety", Closed(&[("enforce_system_capabilities", Any)])),
    (
        "channels",
        Closed(&[
            ("buffer_len", Any),
            ("send_timeout", Any),
            ("panic_on_send_timeout", Any),
        ]),
    ),
    (
        "telemetry",
        Closed(&[
            ("traces", Closed(&[("reporters_cache_len", Any)])),
            (
                "metrics",
                Closed(&[("ttl", Any), ("reporters_cache_len", Any)]),
            ),
        ]),
    ),
]);

const DAEMON: Keys = Closed(&[
    (
        "logging",
        Closed(&[("level", Any), ("format", Any), ("debug_trace_output", Any)]),
    ),
    ("profiling", Closed(&[("port", Any)])),
    ("shutdown", Closed(&[("timeout", Any)])),
    (
        "internal_metrics",
        Closed(&[
            ("exporter", Any),
            ("prometheus", Closed(&[("port", Any), ("path", Any)])),
            ("bpf", Closed(&[("scrape_interval", Any)])),
        ]),
    ),
    (
        "telemetry",
        Closed(&[(
            "metrics",
            Closed(&[(
                "prometheus",
                Closed(&[
                    ("allow_service_graph_self_references", Any),
                    ("span_metrics_service_cache_size", Any),
                    ("extra_resource_attributes", Any),
                    ("extra_span_resource_attributes", Any),
                ]),
            )]),
        )]),
    ),
]);

const CORRELATION: Keys = Closed(&[(
    "log_trace_annotation",
    Closed(&[
        ("enabled", Any),
        ("filter", FILTER_MAP),
        ("cache", CACHE),
        (
            "async_writer",
            Closed(&[("workers", Any), ("channel_len", Any)]),
        ),
    ]),
)]);

/// The keys of `extensions.obi`.
pub const OBI_KEYS: Keys = Closed(&[
    ("version", Any),
    ("capture", CAPTURE),
    ("enrich", Any),
    ("correlation", CORRELATION),
    ("daemon", DAEMON),
]);

/// A key the schema does not allow: its dotted path, its key node, and the keys allowed there.
pub struct UnknownKey<'a> {
    pub path: String,
    pub key: &'a Node,
    pub allowed: &'static [(&'static str, Keys)],
}

/// The keys of `node` (at dotted `path`) that `keys` does not allow, depth first.
pub fn unknown_keys<'a>(node: &'a Node, keys: &Keys, path: &str, out: &mut Vec<UnknownKey<'a>>) {
    if let Some(items) = node.as_seq() {
        for item in items {
            unknown_keys(item, keys, &format!("{path}[]"), out);
        }
        return;
    }
    let (allowed, closed) = match keys {
        Any => return,
        Closed(allowed) => (*allowed, true),
        Open(allowed) => (*allowed, false),
    };
    for (name, key, value) in node.entries() {
        let child = format!("{path}.{name}");
        match allowed.iter().find(|(k, _)| *k == name) {
            Some((_, below)) => unknown_keys(value, below, &child, out),
            None if closed => out.push(UnknownKey {
                path: child,
                key,
                allowed,
            }),
            None => {}
        }
    }
}
