//! What the MSP3xx rules know about Collector component types: the signals each well-known
//! receiver, processor, exporter and connector supports, the network exporters, and the types
//! upstream deprecated or removed, with the version that did it.
//!
//! Restated from each component's `metadata.yaml` (`status.stability`, per signal or per
//! `<from>_to_<to>` pair for connectors) in open-telemetry/opentelemetry-collector and
//! opentelemetry-collector-contrib, and from their changelogs; recent releases renamed some types
//! (`span_metrics`, `file_log`, `k8s_objects`, `k8s_attributes`), which are listed under both
//! names. A type missing from these tables is unknown: the rules say nothing about it.

use super::Version;

/// A pipeline's signal: the part of its id before `/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    Traces,
    Metrics,
    Logs,
}

impl Signal {
    /// The signal of pipeline id `traces`, `metrics/name`...; `None` for others (`profiles`).
    pub fn of_pipeline(id: &str) -> Option<Signal> {
        match id.split('/').next()? {
            "traces" => Some(Signal::Traces),
            "metrics" => Some(Signal::Metrics),
            "logs" => Some(Signal::Logs),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Metrics => "metrics",
            Signal::Logs => "logs",
        }
    }
}

/// The type of a component id (`otlp/backend` -> `otlp`).
pub fn type_of(id: &str) -> &str {
    id.split('/').next().unwrap_or(id)
}

// Signal sets: t(races), m(etrics), l(ogs).
const T: &[Signal] = &[Signal::Traces];
const M: &[Signal] = &[Signal::Metrics];
const L: &[Signal] = &[Signal::Logs];
const TM: &[Signal] = &[Signal::Traces, Signal::Metrics];
const TL: &[Signal] = &[Signal::Traces, Signal::Logs];
const ML: &[Signal] = &[Signal::Metrics, Signal::Logs];
const TML: &[Signal] = &[Signal::Traces, Signal::Metrics, Signal::Logs];

/// Receivers with the signals they produce.
const RECEIVERS: &[(&str, &[Signal])] = &[
    ("otlp", TML),
    ("nop", TML),
    ("kafka", TML),
    ("pulsar", TML),
    ("otelarrow", TML),
    ("jaeger", T),
    ("zipkin", T),
    ("awsxray", T),
    ("opencensus", TM),
    ("skywalking", TM),
    ("prometheus", M),
    ("prometheus_simple", M),
    ("hostmetrics", ML),
    ("kubeletstats", M),
    ("statsd", M),
    ("carbon", M),
    ("collectd", M),
    ("influxdb", M),
    ("docker_stats", M),
    ("httpcheck", M),
    ("jmx", M),
    ("kafkametrics", M),
    ("redis", M),
    ("nginx", M),
    ("apache", M),
    ("elasticsearch", M),
    ("rabbitmq", M),
    ("memcached", M),
    ("haproxy", M),
    ("zookeeper", M),
    ("snmp", M),
    ("awsecscontainermetrics", M),
    ("awscontainerinsightreceiver", M),
    ("filelog", L),
    ("file_log", L),
    ("journald", L),
    ("syslog", L),
    ("fluentforward", L),
    ("tcplog", L),
    ("udplog", L),
    ("windowseventlog", L),
    ("k8s_events", L),
    ("k8sobjects", L),
    ("k8s_objects", L),
    ("loki", L),
    ("webhookevent", L),
    ("splunk_hec", ML),
];

/// Processors with the signals they process; the general-purpose ones take all three.
const PROCESSORS: &[(&str, &[Signal])] = &[
    ("batch", TML),
    ("memory_limiter", TML),
    ("attributes", TML),
    ("resource", TML),
    ("k8sattributes", TML),
    ("k8s_attributes", TML),
    ("resourcedetection", TML),
    ("filter", TML),
    ("transform", TML),
    ("groupbyattrs", TML),
    ("redaction", TML),
    ("tail_sampling", T),
    ("span", T),
    ("groupbytrace", T),
    ("probabilistic_sampler", TL),
    ("metricstransform", M),
    ("cumulativetodelta", M),
    ("deltatocumulative", M),
    ("deltatorate", M),
    ("metricsgeneration", M),
    ("interval", M),
    ("logdedup", L),
];

/// Exporters with the signals they send.
const EXPORTERS: &[(&str, &[Signal])] = &[
    ("otlp", TML),
    ("otlp_grpc", TML),
    ("otlphttp", TML),
    ("otlp_http", TML),
    ("debug", TML),
    ("logging", TML),
    ("nop", TML),
    ("file", TML),
    ("kafka", TML),
    ("elasticsearch", TML),
    ("clickhouse", TML),
    ("awss3", TML),
    ("googlecloud", TML),
    ("datadog", TML),
    ("splunk_hec", TML),
    ("azuremonitor", TML),
    ("otelarrow", TML),
    ("pulsar", TML),
    ("coralogix", TML),
    ("influxdb", TML),
    ("loadbalancing", TML),
    ("zipkin", T),
    ("jaeger", T),
    ("jaeger_thrift", T),
    ("awsxray", T),
    ("sapm", T),
    ("opencensus", TM),
    ("opensearch", TL),
    ("logzio", TL),
    ("prometheus", M),
    ("prometheusremotewrite", M),
    ("carbon", M),
    ("awsemf", M),
    ("googlemanagedprometheus", M),
    ("loki", L),
    ("awscloudwatchlogs", L),
    ("syslog", L),
];

/// Connectors with the `(from, to)` signal pairs they join: `from` is the signal of the pipeline
/// they export from, `to` of the one they receive into.
const CONNECTORS: &[(&str, &[(Signal, Signal)])] = &[
    ("forward", SAME),
    ("routing", SAME),
    ("failover", SAME),
    ("roundrobin", SAME),
    ("spanmetrics", &[(Signal::Traces, Signal::Metrics)]),
    ("span_metrics", &[(Signal::Traces, Signal::Metrics)]),
    ("servicegraph", &[(Signal::Traces, Signal::Metrics)]),
    ("count", TO_METRICS),
    ("sum", TO_METRICS),
    ("signaltometrics", TO_METRICS),
    (
        "exceptions",
        &[
            (Signal::Traces, Signal::Metrics),
            (Signal::Traces, Signal::Logs),
        ],
    ),
    (
        "otlpjson",
        &[
            (Signal::Logs, Signal::Traces),
            (Signal::Logs, Signal::Metrics),
            (Signal::Logs, Signal::Logs),
        ],
    ),
];
const SAME: &[(Signal, Signal)] = &[
    (Signal::Traces, Signal::Traces),
    (Signal::Metrics, Signal::Metrics),
    (Signal::Logs, Signal::Logs),
];
const TO_METRICS: &[(Signal, Signal)] = &[
    (Signal::Traces, Signal::Metrics),
    (Signal::Metrics, Signal::Metrics),
    (Signal::Logs, Signal::Metrics),
];

fn lookup<'t, V>(table: &'t [(&str, V)], ty: &str) -> Option<&'t V> {
    table.iter().find(|(name, _)| *name == ty).map(|(_, v)| v)
}

/// The signals a component of `section` (`receivers`, `processors`, `exporters`) and type `ty`
/// supports, if known.
pub fn signals(section: &str, ty: &str) -> Option<&'static [Signal]> {
    let table = match section {
        "receivers" => RECEIVERS,
        "processors" => PROCESSORS,
        "exporters" => EXPORTERS,
        _ => return None,
    };
    lookup(table, ty).copied()
}

/// The `(from, to)` pairs a connector type joins, if known.
pub fn connector_pairs(ty: &str) -> Option<&'static [(Signal, Signal)]> {
    lookup(CONNECTORS, ty).copied()
}

/// Exporters that send over the network through the Collector's exporter helper, so that
/// `retry_on_failure`, `sending_queue` and `sending_queue.batch` apply to them.
const QUEUED_EXPORTERS: &[&str] = &[
    "otlp",
    "otlp_grpc",
    "otlphttp",
    "otlp_http",
    "zipkin",
    "loki",
    "elasticsearch",
    "opensearch",
    "kafka",
    "splunk_hec",
    "clickhouse",
    "coralogix",
    "influxdb",
    "datadog",
    "googlecloud",
];

pub fn is_queued_exporter(ty: &str) -> bool {
    QUEUED_EXPORTERS.contains(&ty)
}

/// An upstream change to a component type.
pub struct Retirement {
    /// `receivers`, `processors`, `exporters`, `extensions` or `connectors`.
    pub section: &'static str,
    pub ty: &'static str,
    /// The Collector version that deprecated the type (it still loads, with a warning).
    pub deprecated: Option<Version>,
    /// The version that removed it (the Collector refuses the configuration).
    pub removed: Option<Version>,
    /// What to use instead.
    pub instead: &'static str,
}

const fn v(minor: u32) -> Option<Version> {
    Some(Version(0, minor, 0))
}

/// Deprecated and removed types, as the core and contrib changelogs record them.
pub const RETIRED: &[Retirement] = &[
    Retirement {
        section: "exporters",
        ty: "logging",
        deprecated: v(86),
        removed: v(111),
        instead: "the `debug` exporter",
    },
    Retirement {
        section: "extensions",
        ty: "memory_ballast",
        deprecated: v(92),
        removed: v(109),
        instead: "the `GOMEMLIMIT` environment variable",
    },
    Retirement {
        section: "exporters",
        ty: "jaeger",
        deprecated: None,
        removed: v(85),
        instead: "the `otlp` exporter (Jaeger takes OTLP natively)",
    },
    Retirement {
        section: "exporters",
        ty: "jaeger_thrift",
        deprecated: None,
        removed: v(85),
        instead: "the `otlp` or `otlphttp` exporter (Jaeger takes OTLP natively)",
    },
    Retirement {
        section: "processors",
        ty: "spanmetrics",
        deprecated: None,
        removed: v(96),
        instead: "the `spanmetrics` connector",
    },
    Retirement {
        section: "exporters",
        ty: "loki",
        deprecated: v(105),
        removed: v(131),
        instead: "the `otlphttp` exporter to Loki's native OTLP endpoint (Loki 3 or later)",
    },
    Retirement {
        section: "receivers",
        ty: "opencensus",
        deprecated: v(120),
        removed: v(134),
        instead: "the `otlp` receiver",
    },
    Retirement {
        section: "exporters",
        ty: "opencensus",
        deprecated: v(120),
        removed: v(134),
        instead: "the `otlp` exporter",
    },
    Retirement {
        section: "exporters",
        ty: "otlp",
        deprecated: v(144),
        removed: None,
        instead: "`otlp_grpc` (its new name)",
    },
    Retirement {
        section: "exporters",
        ty: "otlphttp",
        deprecated: v(144),
        removed: None,
        instead: "`otlp_http` (its new name)",
    },
];

/// The retirement of a type of `section`, if any.
pub fn retirement(section: &str, ty: &str) -> Option<&'static Retirement> {
    RETIRED.iter().find(|r| r.section == section && r.ty == ty)
}
