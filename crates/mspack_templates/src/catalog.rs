//! The embedded templates and the values each one accepts.

use crate::values::{Kind, ValueDef};

/// One renderable template.
#[derive(Debug)]
pub struct Template {
    pub name: &'static str,
    pub summary: &'static str,
    pub values: &'static [ValueDef],
    pub(crate) source: &'static str,
    /// A template rendered with the same values to give the linter the context this one refers
    /// to (the workloads a policy selects, the subsets a route uses); its findings are dropped.
    pub(crate) companion: Option<&'static str>,
}

const PULL_POLICIES: &[&str] = &["IfNotPresent", "Always", "Never"];
const ROUTING: &[&str] = &["virtualservice", "httproute"];
const PROPAGATION: &[&str] = &["headers", "all", "disabled"];
/// `off`, or how the mesh spans clusters (`mspack_lint::Multicluster`).
const MULTICLUSTER: &[&str] = &["off", "ambient", "sidecar"];

static NS_LIST: Kind = Kind::Namespace;
static CIDR_LIST: Kind = Kind::Cidr;
static CALLER: Kind = Kind::Caller;
static PATH: Kind = Kind::Path;
static METHOD: Kind = Kind::Method;
static HEADER_PAIR: Kind = Kind::HeaderPair;
static HEADER: Kind = Kind::HeaderName;
static EXPORT_TARGET: Kind = Kind::ExportTarget;

macro_rules! value {
    ($key:literal, $kind:expr, $default:expr, $doc:literal) => {
        ValueDef {
            key: $key,
            kind: $kind,
            default: $default,
            doc: $doc,
        }
    };
}

pub static DEPLOYMENT_STRATEGY_VALUES: &[ValueDef] = &[
    value!(
        "name",
        Kind::Name,
        None,
        "service name: Deployment, Service, ServiceAccount and labels"
    ),
    value!(
        "namespace",
        Kind::Namespace,
        Some("{name}"),
        "namespace of every resource"
    ),
    value!(
        "port",
        Kind::Port,
        Some("8080"),
        "port the container listens on and the Service exposes"
    ),
    value!(
        "image",
        Kind::Image,
        Some("{name}:0.1.0"),
        "container image, pinned by tag or digest"
    ),
    value!(
        "image_pull_policy",
        Kind::Enum(PULL_POLICIES),
        Some("IfNotPresent"),
        "when the kubelet pulls the image: a pinned tag or digest needs no pull per start, and an image built locally (kind, minikube) has nothing to pull from"
    ),
    value!(
        "cluster_domain",
        Kind::Domain,
        Some("cluster.local"),
        "Kubernetes cluster domain"
    ),
    value!(
        "version",
        Kind::LabelValue { optional: false },
        Some("v1"),
        "`version` label of the pods (Istio subsets, telemetry)"
    ),
    value!(
        "part_of",
        Kind::LabelValue { optional: false },
        Some("{namespace}"),
        "`app.kubernetes.io/part-of` label"
    ),
    value!(
        "environment",
        Kind::LabelValue { optional: false },
        Some("production"),
        "`deployment.environment.name` resource attribute"
    ),
    value!(
        "service_account",
        Kind::Name,
        Some("{name}"),
        "dedicated ServiceAccount (the Istio identity)"
    ),
    value!(
        "min_replicas",
        Kind::Int { min: 1, max: 1000 },
        Some("2"),
        "HorizontalPodAutoscaler minimum"
    ),
    value!(
        "max_replicas",
        Kind::Int { min: 1, max: 1000 },
        Some("10"),
        "HorizontalPodAutoscaler maximum"
    ),
    value!(
        "cpu_target_percent",
        Kind::Int { min: 1, max: 100 },
        Some("70"),
        "average CPU utilisation the autoscaler aims at"
    ),
    value!(
        "cpu_request",
        Kind::Quantity { optional: false },
        Some("100m"),
        "container CPU request"
    ),
    value!(
        "cpu_limit",
        Kind::Quantity { optional: true },
        Some(""),
        "container CPU limit (none by default: throttling hurts latency)"
    ),
    value!(
        "memory_request",
        Kind::Quantity { optional: false },
        Some("128Mi"),
        "container memory request"
    ),
    value!(
        "memory_limit",
        Kind::Quantity { optional: false },
        Some("256Mi"),
        "container memory limit"
    ),
    value!(
        "ephemeral_storage_request",
        Kind::Quantity { optional: false },
        Some("64Mi"),
        "container ephemeral-storage request"
    ),
    value!(
        "ephemeral_storage_limit",
        Kind::Quantity { optional: false },
        Some("256Mi"),
        "container ephemeral-storage limit"
    ),
    value!(
        "proxy_cpu",
        Kind::Quantity { optional: false },
        Some("100m"),
        "Istio sidecar CPU request"
    ),
    value!(
        "proxy_memory",
        Kind::Quantity { optional: false },
        Some("128Mi"),
        "Istio sidecar memory request"
    ),
    value!(
        "proxy_memory_limit",
        Kind::Quantity { optional: false },
        Some("256Mi"),
        "Istio sidecar memory limit"
    ),
    value!(
        "run_as_user",
        Kind::Uid,
        Some("65532"),
        "uid and gid of the container (never 0 or 1337)"
    ),
    value!(
        "liveness_path",
        Kind::Path,
        Some("/livez"),
        "liveness and startup probe path"
    ),
    value!(
        "readiness_path",
        Kind::Path,
        Some("/readyz"),
        "readiness probe path"
    ),
    value!(
        "termination_grace_period",
        Kind::Duration { allow_zero: false },
        Some("30s"),
        "time to drain and flush telemetry after SIGTERM"
    ),
    value!(
        "prestop_sleep",
        Kind::Duration { allow_zero: true },
        Some("5s"),
        "preStop sleep so endpoints are removed before SIGTERM (0s: none)"
    ),
    value!(
        "multicluster",
        Kind::Enum(MULTICLUSTER),
        Some("off"),
        "how the mesh spans clusters: ambient labels the Service `istio.io/global: \"true\"` \
         (ambient makes Services global only with it); sidecar needs no label (Services are \
         mesh-wide already)"
    ),
    value!(
        "otel_exporter_endpoint",
        Kind::Url,
        Some("http://otel-collector.{namespace}.svc.{cluster_domain}:4318"),
        "OTEL_EXPORTER_OTLP_ENDPOINT (OTLP/HTTP)"
    ),
    value!(
        "nats_url",
        Kind::ConnectionUrl,
        Some(""),
        "NATS_URL of the container (empty: not set)"
    ),
    value!(
        "database_url",
        Kind::ConnectionUrl,
        Some(""),
        "DATABASE_URL of the container (empty: not set; put credentials in PGPASSWORD from a Secret)"
    ),
    value!(
        "trace_sample_ratio",
        Kind::Float { min: 0.0, max: 1.0 },
        Some("1.0"),
        "parent-based trace id ratio sampler argument"
    ),
    value!(
        "ingress_namespace",
        Kind::Namespace,
        Some("istio-system"),
        "namespace of the ingress gateway allowed by the NetworkPolicy"
    ),
    value!(
        "callers",
        Kind::List(&CALLER),
        Some("[]"),
        "callers allowed in, as namespace/serviceaccount"
    ),
    value!(
        "canary_version",
        Kind::LabelValue { optional: true },
        Some(""),
        "a second Deployment with this `version` label (canary; empty: none)"
    ),
    value!(
        "canary_image",
        Kind::Image,
        Some("{image}"),
        "image of the canary Deployment"
    ),
    value!(
        "routing",
        Kind::Enum(ROUTING),
        Some("virtualservice"),
        "how mesh-istio routes; `httproute` with a canary adds one Service per version (`<name>-<version>`) for the HTTPRoute's backendRefs"
    ),
    value!(
        "ext_authz",
        Kind::Bool,
        Some("false"),
        "run a local external authorizer container beside the service"
    ),
    value!(
        "ext_authz_image",
        Kind::Image,
        Some("gcr.io/istio-testing/ext-authz:1.25-dev"),
        "image of the external authorizer (the default, Istio's sample authorizer, serves gRPC on 9000 and HTTP on 8000)"
    ),
    value!(
        "ext_authz_port",
        Kind::Port,
        Some("9000"),
        "gRPC port of the external authorizer: the port its image serves"
    ),
];

pub static MESH_ISTIO_VALUES: &[ValueDef] = &[
    value!(
        "name",
        Kind::Name,
        None,
        "service name (the Kubernetes Service the rules are for)"
    ),
    value!(
        "namespace",
        Kind::Namespace,
        Some("{name}"),
        "namespace of the Service and of every resource"
    ),
    value!(
        "port",
        Kind::Port,
        Some("8080"),
        "Service port the routes send to"
    ),
    value!(
        "image",
        Kind::Image,
        Some("{name}:0.1.0"),
        "image of the service (accepted for symmetry; unused here)"
    ),
    value!(
        "cluster_domain",
        Kind::Domain,
        Some("cluster.local"),
        "Kubernetes cluster domain (FQDN hosts)"
    ),
    value!(
        "trust_domain",
        Kind::Domain,
        Some("cluster.local"),
        "Istio trust domain of the principals"
    ),
    value!(
        "root_namespace",
        Kind::Namespace,
        Some("istio-system"),
        "Istio root namespace (where the mesh config lives)"
    ),
    value!(
        "version",
        Kind::LabelValue { optional: false },
        Some("v1"),
        "`version` label of the stable pods (subset name)"
    ),
    value!(
        "part_of",
        Kind::LabelValue { optional: false },
        Some("{namespace}"),
        "`app.kubernetes.io/part-of` label"
    ),
    value!(
        "service_account",
        Kind::Name,
        Some("{name}"),
        "the service's ServiceAccount"
    ),
    value!(
        "multicluster",
        Kind::Enum(MULTICLUSTER),
        Some("off"),
        "how the mesh spans clusters (off, ambient, sidecar): the mode the renders are linted in"
    ),
    value!(
        "routing",
        Kind::Enum(ROUTING),
        Some("virtualservice"),
        "route with an Istio VirtualService or a Gateway API HTTPRoute (GAMMA)"
    ),
    value!(
        "export_to",
        Kind::List(&EXPORT_TARGET),
        Some("."),
        "namespaces that see the routes and traffic policy (`.`: this one, `*`: all)"
    ),
    value!(
        "timeout",
        Kind::Duration { allow_zero: false },
        Some("10s"),
        "request timeout of every route"
    ),
    value!(
        "retry_attempts",
        Kind::Int { min: 0, max: 10 },
        Some("2"),
        "retries of idempotent requests (non-idempotent ones are never retried)"
    ),
    value!(
        "per_try_timeout",
        Kind::Duration { allow_zero: false },
        Some("3s"),
        "timeout of each try"
    ),
    value!(
        "retry_on",
        Kind::RetryOn,
        Some("connect-failure,refused-stream,unavailable,cancelled,503"),
        "Envoy retry conditions"
    ),
    value!(
        "non_idempotent_methods",
        Kind::List(&METHOD),
        Some("POST,PATCH"),
        "methods routed without retries"
    ),
    value!(
        "ab_header",
        Kind::HeaderName,
        Some("x-variant"),
        "header that selects the canary and that each route sets to the variant it chose"
    ),
    value!(
        "request_headers_add",
        Kind::List(&HEADER_PAIR),
        Some("[]"),
        "headers each route appends, as name:value"
    ),
    value!(
        "request_headers_remove",
        Kind::List(&HEADER),
        Some("[]"),
        "headers each route strips before the service sees them"
    ),
    value!(
        "canary_version",
        Kind::LabelValue { optional: true },
        Some(""),
        "route requests with `<ab_header>: <canary_version>` to this subset (empty: no canary)"
    ),
    value!(
        "canary_weight",
        Kind::Int { min: 0, max: 100 },
        Some("0"),
        "percent of the requests without the A/B header sent to the canary (the rest: stable)"
    ),
    value!(
        "max_connections",
        Kind::Int {
            min: 1,
            max: 1_000_000
        },
        Some("100"),
        "connection pool: TCP connections per host"
    ),
    value!(
        "connect_timeout",
        Kind::Duration { allow_zero: false },
        Some("2s"),
        "connection pool: TCP connect timeout"
    ),
    value!(
        "max_pending_requests",
        Kind::Int {
            min: 1,
            max: 1_000_000
        },
        Some("1024"),
        "connection pool: queued HTTP requests"
    ),
    value!(
        "max_requests",
        Kind::Int {
            min: 1,
            max: 1_000_000
        },
        Some("1024"),
        "connection pool: concurrent HTTP/2 requests"
    ),
    value!(
        "max_retries_in_flight",
        Kind::Int {
            min: 0,
            max: 1_000_000
        },
        Some("3"),
        "connection pool: concurrent retries"
    ),
    value!(
        "consecutive_5xx_errors",
        Kind::Int { min: 1, max: 1000 },
        Some("5"),
        "outlier detection: 5xx in a row before ejection"
    ),
    value!(
        "outlier_interval",
        Kind::Duration { allow_zero: false },
        Some("10s"),
        "outlier detection: analysis interval"
    ),
    value!(
        "base_ejection_time",
        Kind::Duration { allow_zero: false },
        Some("30s"),
        "outlier detection: minimum ejection time"
    ),
    value!(
        "max_ejection_percent",
        Kind::Int { min: 0, max: 100 },
        Some("50"),
        "outlier detection: most hosts ejected at once"
    ),
    value!(
        "ingress_namespace",
        Kind::Namespace,
        Some("istio-system"),
        "namespace of the ingress gateway"
    ),
    value!(
        "ingress_service_account",
        Kind::Name,
        Some("istio-ingressgateway-service-account"),
        "service account of the ingress gateway (allowed in)"
    ),
    value!(
        "callers",
        Kind::List(&CALLER),
        Some("[]"),
        "other callers allowed in, as namespace/serviceaccount"
    ),
    value!(
        "allowed_methods",
        Kind::List(&METHOD),
        Some("GET,HEAD,POST,PUT,PATCH,DELETE"),
        "methods the ALLOW policy admits"
    ),
    value!(
        "allowed_paths",
        Kind::List(&PATH),
        Some("/*"),
        "paths the ALLOW policy admits"
    ),
    value!(
        "ext_authz",
        Kind::Bool,
        Some("false"),
        "add the local external authorizer: ServiceEntry + CUSTOM AuthorizationPolicy"
    ),
    value!(
        "ext_authz_port",
        Kind::Port,
        Some("9000"),
        "gRPC port of the external authorizer: the port its image serves"
    ),
    value!(
        "ext_authz_paths",
        Kind::List(&PATH),
        Some("/*"),
        "paths the external authorizer checks"
    ),
];

pub static OTEL_CONFIG_VALUES: &[ValueDef] = &[
    value!(
        "name",
        Kind::Name,
        Some("otel-collector"),
        "name of the Collector Deployment and Service"
    ),
    value!(
        "namespace",
        Kind::Namespace,
        Some("observability"),
        "namespace the Collector runs in"
    ),
    value!("port", Kind::Port, Some("4318"), "OTLP/HTTP port"),
    value!(
        "image",
        Kind::Image,
        Some("docker.io/otel/opentelemetry-collector-contrib:0.140.1"),
        "Collector image (contrib: k8sattributes, resourcedetection)"
    ),
    value!(
        "cluster_domain",
        Kind::Domain,
        Some("cluster.local"),
        "Kubernetes cluster domain"
    ),
    value!(
        "trust_domain",
        Kind::Domain,
        Some("cluster.local"),
        "Istio trust domain of the senders' principals"
    ),
    value!(
        "part_of",
        Kind::LabelValue { optional: false },
        Some("observability"),
        "`app.kubernetes.io/part-of` label"
    ),
    value!(
        "version",
        Kind::LabelValue { optional: false },
        Some("0.140.1"),
        "`version` label of the Collector pods"
    ),
    value!(
        "environment",
        Kind::LabelValue { optional: false },
        Some("production"),
        "accepted for compatibility; unused (OBI Config v2 takes only host.* and service.* resource attributes)"
    ),
    value!(
        "sender_namespaces",
        Kind::List(&NS_LIST),
        Some("[]"),
        "namespaces whose services send telemetry here, admitted by the NetworkPolicy and the ALLOW policy (`[]`: every namespace; exactly one scopes k8sattributes and its RBAC to it)"
    ),
    value!("grpc_port", Kind::Port, Some("4317"), "OTLP/gRPC port"),
    value!(
        "health_port",
        Kind::Port,
        Some("13133"),
        "health_check extension port (probes)"
    ),
    value!(
        "metrics_port",
        Kind::Port,
        Some("8888"),
        "the Collector's own Prometheus metrics port"
    ),
    value!(
        "exporter_endpoint",
        Kind::HostPort,
        Some("otel-gateway.observability.svc.{cluster_domain}:4317"),
        "OTLP/gRPC backend, host:port without scheme"
    ),
    value!(
        "exporter_insecure",
        Kind::Bool,
        Some("false"),
        "send to the backend without TLS (only for a local endpoint)"
    ),
    value!(
        "queue_size",
        Kind::Int {
            min: 100,
            max: 10_000_000
        },
        Some("50000"),
        "exporter queue size, in items"
    ),
    value!(
        "replicas",
        Kind::Int { min: 1, max: 100 },
        Some("2"),
        "Collector replicas"
    ),
    value!(
        "cpu_request",
        Kind::Quantity { optional: false },
        Some("200m"),
        "Collector CPU request"
    ),
    value!(
        "memory_request",
        Kind::Quantity { optional: false },
        Some("256Mi"),
        "Collector memory request"
    ),
    value!(
        "memory_limit",
        Kind::Quantity { optional: false },
        Some("512Mi"),
        "Collector memory limit (GOMEMLIMIT is 80% of it)"
    ),
    value!(
        "run_as_user",
        Kind::Uid,
        Some("10001"),
        "uid of the Collector (never 0 or 1337)"
    ),
    value!(
        "obi",
        Kind::Bool,
        Some("true"),
        "also render OBI (eBPF instrumentation for services without an SDK) exporting here"
    ),
    value!(
        "obi_namespace",
        Kind::Namespace,
        Some("obi-system"),
        "OBI's own (privileged) namespace"
    ),
    value!(
        "obi_image",
        Kind::Image,
        Some("docker.io/otel/ebpf-instrument:v0.14.0"),
        "OBI image (0.11 or later: the configuration is Config v2)"
    ),
    value!(
        "obi_port",
        Kind::Port,
        Some("4319"),
        "OTLP/HTTP port the Collector opens for OBI alone: OBI has no sidecar, so it sends plaintext, admitted by the NetworkPolicy rather than by mesh identity"
    ),
    value!(
        "obi_namespaces",
        Kind::List(&NS_LIST),
        Some("{sender_namespaces}"),
        "namespaces OBI instruments (`[]`: every namespace but the Collector's, OBI's and the system ones)"
    ),
    value!(
        "obi_propagation",
        Kind::Enum(PROPAGATION),
        Some("disabled"),
        "OBI context propagation: anything but `disabled` adds NET_ADMIN and the host network (then name obi_node_cidrs)"
    ),
    value!(
        "obi_node_cidrs",
        Kind::List(&CIDR_LIST),
        Some("[]"),
        "the nodes' address ranges, admitted on obi_port when context propagation puts OBI on the host network"
    ),
    value!(
        "obi_sys_admin",
        Kind::Bool,
        Some("false"),
        "grant OBI SYS_ADMIN (older kernels, some Go tracers)"
    ),
    value!(
        "obi_memory_limit",
        Kind::Quantity { optional: false },
        Some("1Gi"),
        "OBI memory limit"
    ),
];

pub static OBI_VALUES: &[ValueDef] = &[
    value!(
        "name",
        Kind::Name,
        Some("obi"),
        "name of the DaemonSet, ServiceAccount and ClusterRole"
    ),
    value!(
        "namespace",
        Kind::Namespace,
        Some("obi-system"),
        "OBI's own namespace (labelled Pod Security `privileged`)"
    ),
    value!(
        "port",
        Kind::Port,
        Some("4319"),
        "OTLP/HTTP port of the Collector OBI exports to (otel-config's obi_port)"
    ),
    value!(
        "image",
        Kind::Image,
        Some("docker.io/otel/ebpf-instrument:v0.14.0"),
        "OBI image (0.11 or later: the configuration is Config v2)"
    ),
    value!(
        "cluster_domain",
        Kind::Domain,
        Some("cluster.local"),
        "Kubernetes cluster domain"
    ),
    value!(
        "environment",
        Kind::LabelValue { optional: false },
        Some("production"),
        "accepted for compatibility; unused (OBI Config v2 takes only host.* and service.* resource attributes)"
    ),
    value!(
        "otlp_endpoint",
        Kind::Url,
        Some("http://otel-collector.observability.svc.{cluster_domain}:{port}"),
        "OTLP/HTTP endpoint (a node-local agent, e.g. http://$(HOST_IP):4318, when you run one); an in-cluster `service.namespace.svc` endpoint's namespace and pods are not instrumented"
    ),
    value!(
        "instrument_namespaces",
        Kind::List(&NS_LIST),
        Some("default"),
        "namespaces OBI instruments (everything else is excluded)"
    ),
    value!(
        "propagation",
        Kind::Enum(PROPAGATION),
        Some("disabled"),
        "context propagation: anything but `disabled` adds NET_ADMIN and the host network"
    ),
    value!(
        "sys_admin",
        Kind::Bool,
        Some("false"),
        "grant SYS_ADMIN (older kernels, some Go tracers)"
    ),
    value!(
        "memory_limit",
        Kind::Quantity { optional: false },
        Some("1Gi"),
        "memory limit"
    ),
];

pub static TEMPLATES: &[Template] = &[
    Template {
        name: "deployment-strategy",
        summary: "Deployment (+ optional canary), Service, ServiceAccount, HPA v2, PDB, NetworkPolicy",
        values: DEPLOYMENT_STRATEGY_VALUES,
        source: include_str!("../templates/deployment-strategy.yaml.j2"),
        companion: Some("mesh-istio"),
    },
    Template {
        name: "mesh-istio",
        summary: "DestinationRule, VirtualService or HTTPRoute, PeerAuthentication STRICT, default-deny + ALLOW policies, optional ext-authz",
        values: MESH_ISTIO_VALUES,
        source: include_str!("../templates/mesh-istio.yaml.j2"),
        companion: Some("deployment-strategy"),
    },
    Template {
        name: "otel-config",
        summary: "OpenTelemetry Collector for a namespace (config, Deployment, Service, RBAC), optionally OBI",
        values: OTEL_CONFIG_VALUES,
        source: include_str!("../templates/otel-config.yaml.j2"),
        companion: None,
    },
    Template {
        name: "obi",
        summary: "OpenTelemetry eBPF Instrumentation DaemonSet and config, for services nobody instrumented",
        values: OBI_VALUES,
        source: include_str!("../templates/obi.yaml.j2"),
        companion: None,
    },
];
