//! `mspack_templates`: the templates and the service scaffold of `mspack render` and `mspack new`.
//!
//! Data flows one way: user input ([`RawValues`] from `--set` and `--values`) is validated
//! against the template's declared values into [`Values`] (every error names its key), rendered
//! from the template embedded in the binary (minijinja, strict undefined, delimiters `[[ ]]`,
//! `[% %]`, `[# #]` that cannot collide with Helm's `{{ }}`, GitHub Actions' `${{ }}` or the
//! Collector's `${env:...}`), then linted in memory with `mspack_lint`: a render with any
//! finding is an error, so nothing that fails the linter reaches the user's disk.
//!
//! ```
//! use mspack_templates::{RawValues, render};
//!
//! let mut values = RawValues::new();
//! values.set("name=orders").expect("an assignment");
//! values.set("namespace=food").expect("an assignment");
//! let rendered = render("mesh-istio", &values).expect("defaults render lint-clean");
//! assert!(rendered.text.contains("orders.food.svc.cluster.local"));
//! ```

mod catalog;
pub mod scaffold;
pub mod update;
pub mod values;

use mspack_lint::Multicluster;
use std::collections::BTreeMap;
use std::sync::Arc;

use minijinja::syntax::SyntaxConfig;
use minijinja::{Environment, UndefinedBehavior, Value};
use mspack_lint::{LintOptions, Report, lint_sources};
use mspack_yaml::SourceFile;

pub use catalog::{TEMPLATES, Template};
pub use values::{RawValues, ValueDef, Values};

/// The version recorded in rendered files and in `.mspack/answers.toml`.
pub const MSPACK_VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("unknown template {name:?}; templates: {known}")]
    UnknownTemplate { name: String, known: String },
    #[error("{assignment:?} is not key=value")]
    InvalidAssignment { assignment: String },
    #[error("{template} has no value `{key}`{}", suggestion.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default())]
    UnknownKey {
        template: String,
        key: String,
        suggestion: Option<String>,
    },
    #[error("{template} needs a value for `{key}` (--set {key}=...)")]
    MissingValue { template: String, key: String },
    #[error("invalid value for `{key}`: {value:?} {reason}")]
    InvalidValue {
        key: String,
        value: String,
        reason: String,
    },
    #[error("{path}:{line}: {message}")]
    ValuesFile {
        path: String,
        line: u32,
        message: String,
    },
    /// `.mspack/answers.toml` or `.mspack/base.toml` can't be used by `mspack update`.
    #[error("{path}: {message}")]
    Recorded { path: String, message: String },
    #[error("rendering {template}: {message}")]
    Render { template: String, message: String },
    #[error("{template}: the rendered manifests have {count} lint finding{}:\n{report}", if *count == 1 { "" } else { "s" })]
    Lint {
        template: String,
        count: usize,
        report: String,
    },
    #[error("linting {template}: {message}")]
    Linter { template: String, message: String },
    #[error("{path}: {message}")]
    Io { path: String, message: String },
    #[error("{path} already exists; choose another --output or pass --force to replace it")]
    Exists { path: String },
}

/// One rendered, validated and lint-clean template.
#[derive(Clone, Debug)]
pub struct Rendered {
    pub template: &'static str,
    pub text: String,
    pub values: Values,
}

/// Every template, in the order `mspack render --list` prints them.
pub fn templates() -> &'static [Template] {
    TEMPLATES
}

/// The template called `name`.
pub fn find(name: &str) -> Result<&'static Template, TemplateError> {
    TEMPLATES
        .iter()
        .find(|t| t.name == name)
        .ok_or_else(|| TemplateError::UnknownTemplate {
            name: name.to_owned(),
            known: TEMPLATES
                .iter()
                .map(|t| t.name)
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// The documentation of a template's values (`mspack render <template> --help-values`).
pub fn help_values(name: &str) -> Result<String, TemplateError> {
    let template = find(name)?;
    Ok(values::describe(
        template.name,
        template.summary,
        template.values,
    ))
}

/// Validate `raw`, render template `name`, and lint the result (with its companion template
/// rendered from the same values as context). Any finding in the result is an error.
pub fn render(name: &str, raw: &RawValues) -> Result<Rendered, TemplateError> {
    let template = find(name)?;
    let own = own_values(template, raw)?;
    let rendered = render_unchecked(template, &own)?;
    // Only where the image is chosen (not in a companion rendered for context).
    check_authorizer_port(&rendered.values)?;
    let path = format!("{name}.yaml");
    let options = lint_options(&rendered.values);
    lint_clean(
        name,
        &path,
        &rendered.text,
        companion_sources(template, raw)?,
        &options,
    )?;
    Ok(rendered)
}

/// Validate and render without linting (the lint gate itself and tests use this).
pub fn render_unchecked(
    template: &'static Template,
    raw: &RawValues,
) -> Result<Rendered, TemplateError> {
    let mut values = values::resolve(template.name, template.values, raw)?;
    derive(template.name, &mut values)?;
    let text = render_text(template.name, template.source, &values)?;
    Ok(Rendered {
        template: template.name,
        text,
        values,
    })
}

/// The companion render that gives the linter context, from the values both templates share.
fn companion_sources(
    template: &Template,
    raw: &RawValues,
) -> Result<Vec<Arc<SourceFile>>, TemplateError> {
    let Some(companion) = template.companion else {
        return Ok(Vec::new());
    };
    let companion = find(companion)?;
    let shared = shared_values(companion, raw);
    let rendered = render_unchecked(companion, &shared)?;
    Ok(vec![Arc::new(SourceFile::new(
        format!("{}.yaml", companion.name),
        rendered.text,
    ))])
}

/// The entries of `raw` that are `template`'s own. A template also accepts (and leaves to its
/// companion) the companion's values, so one values file describes a service for both
/// `deployment-strategy` and `mesh-istio`: `callers`, `canary_version` or `ext_authz` is then
/// one fact that both renders read, not two that can disagree. A key neither knows is an error.
fn own_values(template: &Template, raw: &RawValues) -> Result<RawValues, TemplateError> {
    let companion = template.companion.map(find).transpose()?;
    let known_to_companion =
        |key: &str| companion.is_some_and(|c| c.values.iter().any(|d| d.key == key));
    let mut own = RawValues::new();
    for key in raw.keys() {
        // A key neither template knows stays, for `resolve` to report with the closest key.
        if template.values.iter().any(|d| d.key == key) || !known_to_companion(key) {
            own.copy_from(raw, key);
        }
    }
    Ok(own)
}

/// The entries of `raw` that `template` accepts.
pub fn shared_values(template: &Template, raw: &RawValues) -> RawValues {
    let mut shared = RawValues::new();
    for def in template.values {
        shared.copy_from(raw, def.key);
    }
    shared
}

/// Lint options matching the values: cluster domain and multicluster mode.
pub fn lint_options(values: &Values) -> LintOptions {
    // What mspack renders is also held to the workload hygiene rules and to every Collector/OBI
    // rule (some of each are off by default for users).
    let mut options = LintOptions {
        extend_select: vec!["MSP2".to_owned(), "MSP3".to_owned()],
        ..LintOptions::default()
    };
    if let Some(domain) = values.text("cluster_domain") {
        options.cluster_domain = domain.to_owned();
    }
    options.multicluster = values
        .text("multicluster")
        .and_then(|m| Multicluster::parse(m).ok())
        .unwrap_or_default();
    options
}

/// Lint `text` (as file `path`) with `context` beside it; findings located in `path` fail.
pub fn lint_clean(
    template: &str,
    path: &str,
    text: &str,
    context: Vec<Arc<SourceFile>>,
    options: &LintOptions,
) -> Result<(), TemplateError> {
    let report =
        lint_text(path, text, context, options).map_err(|message| TemplateError::Linter {
            template: template.to_owned(),
            message,
        })?;
    if report.findings.is_empty() {
        return Ok(());
    }
    let count = report.findings.len();
    let text = mspack_lint::output::render(&report, mspack_lint::output::Format::Text, false);
    Err(TemplateError::Lint {
        template: template.to_owned(),
        count,
        report: text,
    })
}

/// The findings of linting `text` as `path` with `context` files, keeping only those in `path`.
pub fn lint_text(
    path: &str,
    text: &str,
    context: Vec<Arc<SourceFile>>,
    options: &LintOptions,
) -> Result<Report, String> {
    let mut sources = vec![Arc::new(SourceFile::new(path, text))];
    sources.extend(context);
    let mut report = lint_sources(sources, options).map_err(|e| e.to_string())?;
    report.findings.retain(|f| f.path() == Some(path));
    Ok(report)
}

fn environment() -> Result<Environment<'static>, String> {
    let mut env = Environment::new();
    env.set_syntax(
        SyntaxConfig::builder()
            .block_delimiters("[%", "%]")
            .variable_delimiters("[[", "]]")
            .comment_delimiters("[#", "#]")
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(true)
            .build()
            .map_err(|e| e.to_string())?,
    );
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // `q`: a YAML double-quoted scalar (JSON string syntax is valid YAML).
    env.add_filter("q", |value: String| -> String {
        serde_json::to_string(&value).unwrap_or_else(|_| "\"\"".to_owned())
    });
    env.add_template("labels", LABELS)
        .map_err(|e| e.to_string())?;
    env.add_template("pod_labels", POD_LABELS)
        .map_err(|e| e.to_string())?;
    env.add_template("obi_labels", OBI_LABELS)
        .map_err(|e| e.to_string())?;
    env.add_template("obi_pod_labels", OBI_POD_LABELS)
        .map_err(|e| e.to_string())?;
    env.add_template("obi.yaml.j2", include_str!("../templates/obi.yaml.j2"))
        .map_err(|e| e.to_string())?;
    Ok(env)
}

const LABELS: &str = "    app.kubernetes.io/name: [[ name ]]
    app.kubernetes.io/instance: [[ name ]]
    app.kubernetes.io/part-of: [[ part_of ]]
    app.kubernetes.io/managed-by: mspack
    app: [[ name ]]
";
const POD_LABELS: &str = "        app.kubernetes.io/name: [[ name ]]
        app.kubernetes.io/instance: [[ name ]]
        app.kubernetes.io/part-of: [[ part_of ]]
        app.kubernetes.io/managed-by: mspack
        app: [[ name ]]
";
const OBI_LABELS: &str = "    app.kubernetes.io/name: [[ obi_name ]]
    app.kubernetes.io/part-of: observability
    app.kubernetes.io/managed-by: mspack
";
const OBI_POD_LABELS: &str = "        app.kubernetes.io/name: [[ obi_name ]]
        app.kubernetes.io/part-of: observability
        app.kubernetes.io/managed-by: mspack
        app: [[ obi_name ]]
";

pub(crate) fn render_text(
    name: &str,
    source: &str,
    values: &Values,
) -> Result<String, TemplateError> {
    let err = |message: String| TemplateError::Render {
        template: name.to_owned(),
        message,
    };
    let mut env = environment().map_err(err)?;
    env.add_template(name, source)
        .map_err(|e| err(format!("{e:#}")))?;
    let template = env.get_template(name).map_err(|e| err(format!("{e:#}")))?;
    let context: BTreeMap<String, Value> = values.map.clone();
    template
        .render(Value::from(context))
        .map_err(|e| err(format!("{e:#}")))
}

fn text(values: &Values, key: &str) -> String {
    values.text(key).unwrap_or_default().to_owned()
}

fn list(values: &Values, key: &str) -> Vec<String> {
    values
        .text(key)
        .filter(|t| !t.is_empty())
        .map(|t| t.split(',').map(str::to_owned).collect())
        .unwrap_or_default()
}

/// Values computed from the validated ones (FQDNs, principals, seconds, routes).
fn derive(template: &str, values: &mut Values) -> Result<(), TemplateError> {
    let name = text(values, "name");
    let namespace = text(values, "namespace");
    let cluster_domain = text(values, "cluster_domain");
    values.insert("mspack_version", Value::from(MSPACK_VERSION));
    values.insert(
        "fqdn",
        Value::from(format!("{name}.{namespace}.svc.{cluster_domain}")),
    );
    values.insert(
        "image_pinned",
        Value::from(values::has_digest(&text(values, "image"))),
    );
    check_requests_within_limits(values)?;
    check_no_system_namespace_instrumented(values)?;
    match template {
        "deployment-strategy" => derive_deployment(values, &name)?,
        "mesh-istio" => derive_mesh(values, &name, &namespace)?,
        "otel-config" => {
            let mut ports = vec!["port", "grpc_port", "health_port", "metrics_port"];
            if text(values, "obi") == "true" {
                ports.push("obi_port");
            }
            check_distinct_ports(values, &ports)?;
            let limit = values::quantity(&text(values, "memory_limit")).unwrap_or(0.0);
            let mib = (limit * 0.8 / 1_048_576.0).floor() as u64;
            values.insert("gomemlimit", Value::from(format!("{}MiB", mib.max(1))));
            let senders = list(values, "sender_namespaces");
            let scoped = match senders.as_slice() {
                [one] => Some(one.clone()),
                _ => None,
            };
            values.insert("k8sattributes_namespace", Value::from(scoped));
            values.insert("obi_name", Value::from("obi"));
            // OBI has no sidecar: it sends plaintext to a port of its own (see obi_port).
            let port = text(values, "obi_port");
            values.insert(
                "obi_otlp_endpoint",
                Value::from(format!(
                    "http://{name}.{namespace}.svc.{cluster_domain}:{port}"
                )),
            );
            if text(values, "obi") == "true" {
                check_obi_node_cidrs(values)?;
            }
            let (own, instrumented) = (
                text(values, "obi_namespace"),
                list(values, "obi_namespaces"),
            );
            derive_obi(
                values,
                &own,
                &instrumented,
                Some((name.clone(), namespace.clone())),
            );
        }
        "obi" => {
            let renames = [
                ("obi_name", "name"),
                ("obi_namespace", "namespace"),
                ("obi_image", "image"),
                ("obi_otlp_endpoint", "otlp_endpoint"),
                ("obi_namespaces", "instrument_namespaces"),
                ("obi_propagation", "propagation"),
                ("obi_sys_admin", "sys_admin"),
                ("obi_memory_limit", "memory_limit"),
            ];
            for (to, from) in renames {
                if let Some(v) = values.get(from).cloned() {
                    values.insert(to, v);
                }
            }
            let collector = collector_of_endpoint(&text(values, "otlp_endpoint"));
            let (own, instrumented) = (
                text(values, "namespace"),
                list(values, "instrument_namespaces"),
            );
            derive_obi(values, &own, &instrumented, collector);
        }
        _ => {}
    }
    Ok(())
}

/// Istio's sample authorizer (the default `ext_authz_image`) serves gRPC on 9000 and nothing
/// else: wired and probed on another port, the pod never becomes ready.
fn check_authorizer_port(values: &Values) -> Result<(), TemplateError> {
    const SAMPLE: &str = "gcr.io/istio-testing/ext-authz:";
    let port = text(values, "ext_authz_port");
    if text(values, "ext_authz") == "true"
        && text(values, "ext_authz_image").starts_with(SAMPLE)
        && !port.is_empty()
        && port != "9000"
    {
        return Err(TemplateError::InvalidValue {
            key: "ext_authz_port".into(),
            value: port,
            reason: "the default authorizer image (Istio's sample) serves gRPC on 9000 only; \
                     keep 9000 or set ext_authz_image to an authorizer that listens there"
                .into(),
        });
    }
    Ok(())
}

/// Two of `keys` (ports of one pod) with the same number: the API server rejects duplicate
/// container ports, and one listener would take the other's.
fn check_distinct_ports(values: &Values, keys: &[&str]) -> Result<(), TemplateError> {
    for (i, a) in keys.iter().enumerate() {
        for b in &keys[..i] {
            let (pa, pb) = (text(values, a), text(values, b));
            if !pa.is_empty() && pa == pb {
                return Err(TemplateError::InvalidValue {
                    key: (*a).into(),
                    value: pa,
                    reason: format!("is also {b}: every port of the pod must differ"),
                });
            }
        }
    }
    Ok(())
}

/// Namespaces OBI never instruments: the cluster's and the mesh's own, and the usual platform
/// add-ons (OBI's built-in exclusions, which an explicit rules list replaces).
const OBI_SYSTEM_NAMESPACES: [&str; 9] = [
    "kube-system",
    "kube-public",
    "kube-node-lease",
    "istio-system",
    "cert-manager",
    "gatekeeper-system",
    "local-path-storage",
    "monitoring",
    "gke-*",
];

/// OBI's exclusions: the system namespaces, its own namespace and (unless it was named to be
/// instrumented) the Collector's; the Collector's pods are excluded by label either way.
fn derive_obi(
    values: &mut Values,
    own: &str,
    instrumented: &[String],
    collector: Option<(String, String)>,
) {
    let mut excluded: Vec<String> = OBI_SYSTEM_NAMESPACES
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let mut push = |ns: &str| {
        if !ns.is_empty() && !excluded.iter().any(|e| e == ns) {
            excluded.push(ns.to_owned());
        }
    };
    push(own);
    let (collector_name, collector_ns) = collector.unzip();
    if let Some(ns) = &collector_ns
        && !instrumented.contains(ns)
    {
        push(ns);
    }
    values.insert("obi_excluded_namespaces", Value::from(excluded));
    values.insert("obi_collector_name", Value::from(collector_name));
    values.insert("obi_collector_namespace", Value::from(collector_ns));
}

/// `(service, namespace)` of an in-cluster endpoint `http(s)://service.namespace.svc[...]`.
fn collector_of_endpoint(url: &str) -> Option<(String, String)> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))?;
    let host = rest.split(['/', ':']).next()?;
    let mut labels = host.split('.');
    let (service, namespace, svc) = (labels.next()?, labels.next()?, labels.next()?);
    (svc == "svc" && !service.is_empty() && !namespace.is_empty())
        .then(|| (service.to_owned(), namespace.to_owned()))
}

/// With context propagation OBI runs on the host network and sends from node addresses, which no
/// namespace selector matches: the Collector's NetworkPolicy must name them.
fn check_obi_node_cidrs(values: &Values) -> Result<(), TemplateError> {
    let propagation = text(values, "obi_propagation");
    if propagation != "disabled" && list(values, "obi_node_cidrs").is_empty() {
        return Err(TemplateError::InvalidValue {
            key: "obi_node_cidrs".into(),
            value: "[]".into(),
            reason: format!(
                "obi_propagation={propagation} puts OBI on the host network, so it sends from \
                 node addresses: name the nodes' CIDRs (or set obi_propagation=disabled)"
            ),
        });
    }
    Ok(())
}

/// OBI instruments every process of the namespaces it is given: kube-system's are the
/// cluster's own (kubelet helpers, DNS, CNI), never an application to trace.
fn check_no_system_namespace_instrumented(values: &Values) -> Result<(), TemplateError> {
    for key in ["obi_namespaces", "instrument_namespaces"] {
        if list(values, key).iter().any(|ns| ns == "kube-system") {
            return Err(TemplateError::InvalidValue {
                key: key.into(),
                value: text(values, key),
                reason: "includes kube-system: OBI would instrument the cluster's own \
                         components; name the application namespaces"
                    .into(),
            });
        }
    }
    Ok(())
}

/// Resource requests and the limits they must not exceed (the API server rejects the pod
/// otherwise; the render gate's MSP401 would report it).
const REQUESTS_AND_LIMITS: [(&str, &str); 4] = [
    ("cpu_request", "cpu_limit"),
    ("memory_request", "memory_limit"),
    ("ephemeral_storage_request", "ephemeral_storage_limit"),
    ("proxy_memory", "proxy_memory_limit"),
];

/// Refuse a limit below its request, naming the limit's key.
fn check_requests_within_limits(values: &Values) -> Result<(), TemplateError> {
    use mspack_model::quantity::Quantity;
    for (request_key, limit_key) in REQUESTS_AND_LIMITS {
        let (request, limit) = (text(values, request_key), text(values, limit_key));
        if let (Some(r), Some(l)) = (Quantity::parse(&request), Quantity::parse(&limit))
            && r > l
        {
            return Err(TemplateError::InvalidValue {
                key: limit_key.into(),
                value: limit,
                reason: format!(
                    "is below {request_key} ({request}); the API server rejects a pod whose \
                     request is above its limit"
                ),
            });
        }
    }
    Ok(())
}

fn derive_deployment(values: &mut Values, name: &str) -> Result<(), TemplateError> {
    let min: i64 = text(values, "min_replicas").parse().unwrap_or(1);
    let max: i64 = text(values, "max_replicas").parse().unwrap_or(1);
    if max < min {
        return Err(TemplateError::InvalidValue {
            key: "max_replicas".into(),
            value: max.to_string(),
            reason: format!("is below min_replicas ({min})"),
        });
    }
    let grace = values::duration_ms(&text(values, "termination_grace_period")).unwrap_or(30_000);
    let prestop = values::duration_ms(&text(values, "prestop_sleep")).unwrap_or(0);
    if prestop >= grace {
        return Err(TemplateError::InvalidValue {
            key: "prestop_sleep".into(),
            value: text(values, "prestop_sleep"),
            reason: "must be shorter than termination_grace_period".into(),
        });
    }
    values.insert(
        "termination_grace_seconds",
        Value::from(grace.div_ceil(1000)),
    );
    values.insert("prestop_sleep_seconds", Value::from(prestop / 1000));
    if text(values, "cpu_limit").is_empty() {
        values.insert("cpu_limit", Value::from(""));
    }
    let version = text(values, "version");
    let canary = text(values, "canary_version");
    // checkov's digest check looks at every container of a Deployment.
    let ext_authz_pinned =
        text(values, "ext_authz") != "true" || values::has_digest(&text(values, "ext_authz_image"));
    let image = text(values, "image");
    let canary_image = text(values, "canary_image");
    let mut tracks = vec![Value::from(BTreeMap::from([
        ("deployment", Value::from(name)),
        ("version", Value::from(version.clone())),
        (
            "pinned",
            Value::from(values::has_digest(&image) && ext_authz_pinned),
        ),
        ("image", Value::from(image)),
        ("replicas", Value::from(false)),
    ]))];
    if !canary.is_empty() {
        if canary == version {
            return Err(TemplateError::InvalidValue {
                key: "canary_version".into(),
                value: canary,
                reason: "must differ from version".into(),
            });
        }
        tracks.push(Value::from(BTreeMap::from([
            (
                "deployment",
                Value::from(format!("{name}-{}", subset_name(&canary))),
            ),
            ("version", Value::from(canary.clone())),
            (
                "pinned",
                Value::from(values::has_digest(&canary_image) && ext_authz_pinned),
            ),
            ("image", Value::from(canary_image)),
            ("replicas", Value::from(1)),
        ])));
    }
    values.insert("tracks", Value::from(tracks));
    let services: Vec<Value> = version_services(values, name)?
        .into_iter()
        .map(|(service, version)| {
            Value::from(BTreeMap::from([
                ("name", Value::from(service)),
                ("version", Value::from(version)),
            ]))
        })
        .collect();
    values.insert("version_services", Value::from(services));
    let mut caller_namespaces: Vec<String> = list(values, "callers")
        .iter()
        .filter_map(|c| c.split_once('/').map(|(ns, _)| ns.to_owned()))
        .collect();
    caller_namespaces.sort();
    caller_namespaces.dedup();
    values.insert("caller_namespaces", Value::from(caller_namespaces));
    Ok(())
}

fn derive_mesh(values: &mut Values, name: &str, namespace: &str) -> Result<(), TemplateError> {
    let trust_domain = text(values, "trust_domain");
    let mut principals = vec![format!(
        "{trust_domain}/ns/{}/sa/{}",
        text(values, "ingress_namespace"),
        text(values, "ingress_service_account")
    )];
    for caller in list(values, "callers") {
        if let Some((ns, sa)) = caller.split_once('/') {
            principals.push(format!("{trust_domain}/ns/{ns}/sa/{sa}"));
        }
    }
    principals.dedup();
    values.insert("principals", Value::from(principals));
    let per_try = values::duration_ms(&text(values, "per_try_timeout")).unwrap_or(0);
    let timeout = values::duration_ms(&text(values, "timeout")).unwrap_or(0);
    if per_try > timeout {
        return Err(TemplateError::InvalidValue {
            key: "per_try_timeout".into(),
            value: text(values, "per_try_timeout"),
            reason: "must not exceed timeout".into(),
        });
    }
    // The route timeout bounds the request with all its tries: tries it would cut off are
    // configured but can never run.
    let attempts: u64 = text(values, "retry_attempts").parse().unwrap_or(0);
    if attempts > 0 && per_try.saturating_mul(attempts + 1) > timeout {
        return Err(TemplateError::InvalidValue {
            key: "retry_attempts".into(),
            value: attempts.to_string(),
            reason: format!(
                "{} tries of per_try_timeout {} take {} ms, more than timeout {} ({timeout} ms): \
                 the route timeout cuts the later tries off; lower retry_attempts or \
                 per_try_timeout, or raise timeout",
                attempts + 1,
                text(values, "per_try_timeout"),
                per_try.saturating_mul(attempts + 1),
                text(values, "timeout"),
            ),
        });
    }
    let version = text(values, "version");
    let canary = text(values, "canary_version");
    if !canary.is_empty() && canary == version {
        return Err(TemplateError::InvalidValue {
            key: "canary_version".into(),
            value: canary,
            reason: "must differ from version".into(),
        });
    }
    // Subset names are DNS-1123 labels; `version` label values may hold `.` and `_`.
    let stable_subset = subset_name(&version);
    let canary_subset = subset_name(&canary);
    if !canary.is_empty() && canary_subset == stable_subset {
        return Err(TemplateError::InvalidValue {
            key: "canary_version".into(),
            value: canary,
            reason: format!("gives the same subset name as version ({stable_subset})"),
        });
    }
    values.insert("stable_subset", Value::from(stable_subset.clone()));
    values.insert("canary_subset", Value::from(canary_subset.clone()));
    let weight: u64 = text(values, "canary_weight").parse().unwrap_or(0).min(100);
    if weight > 0 && canary.is_empty() {
        return Err(TemplateError::InvalidValue {
            key: "canary_weight".into(),
            value: weight.to_string(),
            reason: "needs canary_version (there is no canary to send to)".into(),
        });
    }
    let fqdn_of = |service: &str| {
        format!(
            "{service}.{namespace}.svc.{}",
            text(values, "cluster_domain")
        )
    };
    // The traffic policy of every host the routes send to: the Service's, and with an
    // HTTPRoute canary each version's Service (Gateway API has no subsets).
    let services = version_services(values, name)?;
    let mut destination_rules = vec![destination_rule(
        name,
        &fqdn_of(name),
        !canary.is_empty() && services.is_empty(),
    )];
    for (service, _) in &services {
        destination_rules.push(destination_rule(service, &fqdn_of(service), false));
    }
    values.insert("destination_rules", Value::from(destination_rules));
    // Where requests without the A/B header go: the stable version, and with `canary_weight`
    // the canary for that share; each backend sets the A/B header to the version it serves.
    let mut default_backends = Vec::new();
    if canary.is_empty() {
        default_backends.push(backend(name, "", &version, 100));
    } else {
        let (stable_service, canary_service) = match services.as_slice() {
            [stable, canary] => (stable.0.clone(), canary.0.clone()),
            _ => (name.to_owned(), name.to_owned()),
        };
        if weight < 100 {
            default_backends.push(backend(
                &stable_service,
                &stable_subset,
                &version,
                100 - weight,
            ));
        }
        if weight > 0 {
            default_backends.push(backend(&canary_service, &canary_subset, &canary, weight));
        }
        values.insert("canary_service", Value::from(canary_service));
    }
    values.insert("default_backends", Value::from(default_backends.clone()));
    // A route that matches the A/B header goes to the canary; the others to the default
    // backends.
    let canary_backend = backend(
        &text(values, "canary_service"),
        &canary_subset,
        &canary,
        100,
    );
    let route = |route_name: &str, writes: bool, header: bool| {
        let destinations = if header {
            vec![canary_backend.clone()]
        } else {
            default_backends.clone()
        };
        Value::from(BTreeMap::from([
            ("name", Value::from(route_name)),
            ("writes", Value::from(writes)),
            ("header", Value::from(header)),
            ("destinations", Value::from(destinations)),
        ]))
    };
    let has_writes = !list(values, "non_idempotent_methods").is_empty();
    let mut routes = Vec::new();
    if !canary.is_empty() {
        if has_writes {
            routes.push(route("canary-writes", true, true));
        }
        routes.push(route("canary", false, true));
    }
    if has_writes {
        routes.push(route("writes", true, false));
    }
    routes.push(route("default", false, false));
    values.insert("routes", Value::from(routes));
    let provider = format!("{namespace}-{name}-ext-authz");
    values.insert("ext_authz_provider", Value::from(provider));
    // `<name>-ext-authz` as the first label while it fits one DNS label (63 characters); a
    // longer name gets a label of its own, or Istio would reject the ServiceEntry's host.
    let label = format!("{name}-ext-authz");
    let host = if label.len() <= 63 {
        format!("{label}.{namespace}.local")
    } else {
        format!("ext-authz.{name}.{namespace}.local")
    };
    values.insert("ext_authz_host", Value::from(host));
    Ok(())
}

/// Where a route sends: the Service (HTTPRoute) or subset (VirtualService) of a version, the
/// version the A/B header is set to, and the weight when the route splits.
fn backend(service: &str, subset: &str, variant: &str, weight: u64) -> Value {
    Value::from(BTreeMap::from([
        ("service", Value::from(service)),
        ("subset", Value::from(subset)),
        ("variant", Value::from(variant)),
        ("weight", Value::from(weight)),
    ]))
}

fn destination_rule(name: &str, host: &str, subsets: bool) -> Value {
    Value::from(BTreeMap::from([
        ("name", Value::from(name)),
        ("host", Value::from(host)),
        ("subsets", Value::from(subsets)),
    ]))
}

/// With `routing=httproute` and a canary, the Service of each version (stable first) as
/// (Service name, `version` label): an HTTPRoute's backendRefs name Services, not subsets.
/// Both templates derive them from the same values, so the route's backends and the
/// workload's Services agree.
fn version_services(values: &Values, name: &str) -> Result<Vec<(String, String)>, TemplateError> {
    let canary = text(values, "canary_version");
    if canary.is_empty() || text(values, "routing") != "httproute" {
        return Ok(Vec::new());
    }
    let mut services = Vec::new();
    for (key, version) in [
        ("version", text(values, "version")),
        ("canary_version", canary),
    ] {
        let subset = subset_name(&version);
        let service = format!("{name}-{subset}");
        if subset.is_empty() || service.len() > 63 {
            return Err(TemplateError::InvalidValue {
                key: key.into(),
                value: version,
                reason: format!(
                    "gives the Service name `{service}` (routing=httproute routes a canary to \
                     one Service per version, `<name>-<version>`), not a DNS-1035 label of at \
                     most 63 characters"
                ),
            });
        }
        services.push((service, version));
    }
    if let [stable, canary] = services.as_slice()
        && stable.0 == canary.0
    {
        return Err(TemplateError::InvalidValue {
            key: "canary_version".into(),
            value: canary.1.clone(),
            reason: format!("gives the same Service name as version ({})", stable.0),
        });
    }
    Ok(services)
}

/// A label value as a DNS-1123 label: lowercase, other characters as `-`.
fn subset_name(version: &str) -> String {
    let mapped: String = version
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9') => c,
            _ => '-',
        })
        .collect();
    mapped.trim_matches('-').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(pairs: &[&str]) -> RawValues {
        let mut raw = RawValues::new();
        for pair in pairs {
            assert!(raw.set(pair).is_ok(), "{pair}");
        }
        raw
    }

    #[test]
    fn the_collector_of_an_endpoint_is_its_service_and_namespace() {
        let pair = |s: &str, n: &str| Some((s.to_owned(), n.to_owned()));
        assert_eq!(
            collector_of_endpoint("http://otel-collector.observability.svc.cluster.local:4319"),
            pair("otel-collector", "observability")
        );
        assert_eq!(
            collector_of_endpoint("https://col.food.svc:4318/x"),
            pair("col", "food")
        );
        assert_eq!(collector_of_endpoint("http://$(HOST_IP):4318"), None);
        assert_eq!(
            collector_of_endpoint("http://collector.example.com:4318"),
            None
        );
        assert_eq!(collector_of_endpoint("collector.food.svc:4318"), None);
    }

    #[test]
    fn helm_and_actions_syntax_passes_through() {
        let mut env = environment().unwrap_or_default();
        let source =
            "a: ${{ github.sha }}\nb: {{ .Values.x }}\nc: ${env:MY_POD_IP}\nd: [[ name ]]\n";
        assert!(env.add_template("t", source).is_ok());
        let out = env
            .get_template("t")
            .and_then(|t| t.render(minijinja::context! { name => "orders" }));
        assert_eq!(
            out.ok().as_deref(),
            Some("a: ${{ github.sha }}\nb: {{ .Values.x }}\nc: ${env:MY_POD_IP}\nd: orders\n")
        );
    }

    #[test]
    fn a_limit_below_its_request_is_refused_with_its_key() {
        for (template, pairs, key) in [
            (
                "deployment-strategy",
                ["memory_limit=64Mi", "cpu_limit="],
                "memory_limit",
            ),
            (
                "deployment-strategy",
                ["cpu_request=2", "cpu_limit=1500m"],
                "cpu_limit",
            ),
            (
                "otel-config",
                ["memory_request=2Gi", "memory_limit=2G"],
                "memory_limit",
            ),
        ] {
            let mut values = raw(&["name=orders"]);
            for pair in pairs {
                assert!(values.set(pair).is_ok(), "{pair}");
            }
            match render(template, &values) {
                Err(TemplateError::InvalidValue { key: k, .. }) => assert_eq!(k, key),
                other => panic!("{template} {pairs:?}: {:?}", other.map(|r| r.text.len())),
            }
        }
        let equal = raw(&["name=orders", "cpu_request=1", "cpu_limit=1000m"]);
        assert!(render("deployment-strategy", &equal).is_ok());
    }

    #[test]
    fn values_that_cannot_work_are_refused_with_their_key() {
        for (template, pairs, key) in [
            // 3 tries of 3s in a 5s route timeout: the third can never run.
            (
                "mesh-istio",
                vec![
                    "name=orders",
                    "timeout=5s",
                    "retry_attempts=2",
                    "per_try_timeout=3s",
                ],
                "retry_attempts",
            ),
            ("otel-config", vec!["grpc_port=4318"], "grpc_port"),
            ("otel-config", vec!["metrics_port=13133"], "metrics_port"),
            (
                "obi",
                vec!["instrument_namespaces=shop,kube-system"],
                "instrument_namespaces",
            ),
            (
                "otel-config",
                vec!["obi_namespaces=kube-system"],
                "obi_namespaces",
            ),
            ("otel-config", vec!["obi_port=4318"], "obi_port"),
            ("otel-config", vec!["obi_propagation=all"], "obi_node_cidrs"),
            (
                "deployment-strategy",
                vec!["name=orders", "ext_authz=true", "ext_authz_port=9191"],
                "ext_authz_port",
            ),
            // No canary to send a share to.
            (
                "mesh-istio",
                vec!["name=orders", "canary_weight=10"],
                "canary_weight",
            ),
            // `<name>-<version>`, the canary's Service of an HTTPRoute, is no DNS-1035 label.
            (
                "deployment-strategy",
                vec![
                    "name=orders",
                    "routing=httproute",
                    "canary_version=release-candidate-012345678901234567890123456789012345678901",
                ],
                "canary_version",
            ),
            (
                "mesh-istio",
                vec![
                    "name=orders",
                    "routing=httproute",
                    "canary_version=release-candidate-012345678901234567890123456789012345678901",
                ],
                "canary_version",
            ),
        ] {
            let values = raw(&pairs);
            match render(template, &values) {
                Err(TemplateError::InvalidValue { key: k, .. }) => assert_eq!(k, key, "{pairs:?}"),
                other => panic!("{template} {pairs:?}: {:?}", other.map(|r| r.text.len())),
            }
        }
        // The sample authorizer on its own port, wired and probed there.
        let authz = render(
            "deployment-strategy",
            &raw(&["name=orders", "ext_authz=true"]),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(authz.text.contains("containerPort: 9000"), "{}", authz.text);
        // The defaults fit: 3 tries of 3s in 10s.
        assert!(render("mesh-istio", &raw(&["name=orders"])).is_ok());
        let fits = raw(&[
            "name=orders",
            "timeout=9s",
            "retry_attempts=2",
            "per_try_timeout=3s",
        ]);
        assert!(render("mesh-istio", &fits).is_ok());
    }

    #[test]
    fn undefined_variables_are_errors() {
        let mut env = environment().unwrap_or_default();
        assert!(env.add_template("t", "[[ nope ]]").is_ok());
        assert!(env.get_template("t").and_then(|t| t.render(())).is_err());
    }

    #[test]
    fn missing_name_names_the_key() {
        let err = render("mesh-istio", &RawValues::new())
            .err()
            .map(|e| e.to_string());
        assert!(
            err.as_ref().is_some_and(|e| e.contains("`name`")),
            "{err:?}"
        );
    }

    #[test]
    fn reserved_port_names_the_key() {
        let err = render("deployment-strategy", &raw(&["name=orders", "port=15001"]))
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("`port`") && e.contains("15000-15090")));
    }

    #[test]
    fn one_values_file_feeds_the_workload_and_the_mesh_with_the_same_callers() {
        let mut file = RawValues::new();
        let text = "name: kitchen\nnamespace: kitchen\ncanary_version: v2\n\
                    callers: [orders/orders]\nimage: kitchen:1.0.0\nallowed_methods: [GET]\n";
        assert!(file.merge_yaml("kitchen.yaml", text).is_ok());
        let workload = render("deployment-strategy", &file);
        let mesh = render("mesh-istio", &file);
        let (workload, mesh) = match (workload, mesh) {
            (Ok(workload), Ok(mesh)) => (workload, mesh),
            (w, m) => panic!(
                "both renders accept the service's values file: {:?} {:?}",
                w.err().map(|e| e.to_string()),
                m.err().map(|e| e.to_string())
            ),
        };
        // The NetworkPolicy admits the caller's namespace, the ALLOW policy its identity.
        assert!(
            workload
                .text
                .contains("kubernetes.io/metadata.name: orders"),
            "{}",
            workload.text
        );
        assert!(mesh.text.contains("cluster.local/ns/orders/sa/orders"));
        assert!(workload.text.contains("image: kitchen:1.0.0"));
        assert!(mesh.text.contains("- GET") && !mesh.text.contains("- DELETE"));
        // A key that neither template knows is still an error, with the closest key.
        let mut typo = file.clone();
        assert!(typo.set("colers=orders/orders").is_ok());
        let err = render("mesh-istio", &typo).err().map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("`colers`") && e.contains("callers")),
            "{err:?}"
        );
        // otel-config has no companion: a service's key there is an error, not a silent value.
        let err = render("otel-config", &raw(&["callers=orders/orders"])).err();
        assert!(err.is_some());
    }

    /// MSP405's findings on `sender` (a deployment-strategy render) beside `collector`.
    fn unadmitted_exports(sender: &RawValues, collector: &RawValues) -> Vec<String> {
        let (Ok(sender), Ok(collector)) = (
            render("deployment-strategy", sender),
            render("otel-config", collector),
        ) else {
            panic!("both render");
        };
        let context = vec![Arc::new(SourceFile::new("otel.yaml", collector.text))];
        let report = lint_text("app.yaml", &sender.text, context, &LintOptions::default());
        let Ok(report) = report else {
            panic!("lint runs");
        };
        report
            .findings
            .iter()
            .filter(|f| f.code() == "MSP405")
            .map(|f| f.message.clone())
            .collect()
    }

    #[test]
    fn the_collector_admits_senders_of_other_namespaces() {
        let endpoint =
            "otel_exporter_endpoint=http://otel-collector.observability.svc.cluster.local:4318";
        let kitchen = raw(&["name=kitchen", "namespace=kitchen", endpoint]);
        let orders = raw(&["name=orders", "namespace=orders", endpoint]);
        // The default Collector (in `observability`) admits every namespace.
        assert_eq!(
            unadmitted_exports(&kitchen, &raw(&[])),
            Vec::<String>::new()
        );
        // Listed senders are admitted, others are not (and the gate says so).
        let listed = raw(&["sender_namespaces=kitchen,orders"]);
        assert_eq!(unadmitted_exports(&kitchen, &listed), Vec::<String>::new());
        assert_eq!(unadmitted_exports(&orders, &listed), Vec::<String>::new());
        let payments = raw(&["name=payments", "namespace=payments", endpoint]);
        assert_eq!(unadmitted_exports(&payments, &listed).len(), 1);
        // One sender namespace scopes k8sattributes and its RBAC; several read cluster-wide.
        let one = render("otel-config", &raw(&["sender_namespaces=kitchen"]));
        let one = one.map(|r| r.text).unwrap_or_default();
        assert!(one.contains("kind: Role\n") && one.contains("namespace: kitchen\n"));
        let many = render("otel-config", &listed)
            .map(|r| r.text)
            .unwrap_or_default();
        assert!(many.contains("kind: ClusterRole\n") && !many.contains("filter:"));
    }

    #[test]
    fn the_render_gate_holds_renders_to_the_workload_hygiene_rules() {
        let Ok(obi) = render("obi", &raw(&[])) else {
            panic!("obi renders");
        };
        let options = lint_options(&obi.values);
        let codes = |text: &str| -> Vec<String> {
            let report = lint_text("obi.yaml", text, Vec::new(), &options);
            report
                .map(|r| r.findings.iter().map(|f| f.code().to_owned()).collect())
                .unwrap_or_default()
        };
        assert_eq!(codes(&obi.text), Vec::<String>::new());
        // OBI's privileges are declared, not hidden: without its annotation the gate refuses it.
        let undeclared = obi.text.replace(
            "mspack.io/ignore: MSP202,MSP204,MSP205,MSP207,MSP208,MSP210",
            "",
        );
        let found = codes(&undeclared);
        for code in ["MSP202", "MSP204", "MSP205", "MSP207", "MSP208", "MSP210"] {
            assert!(found.iter().any(|c| c == code), "{code}: {found:?}");
        }
    }

    #[test]
    fn unknown_template_lists_the_known_ones() {
        let err = find("mesh").err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("mesh-istio") && e.contains("otel-config")));
    }
}
