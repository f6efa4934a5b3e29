//! `mspack new`: a complete Rust service as a set of files, planned in memory (deploy manifests
//! rendered and linted like `mspack render`), then written into a temporary directory and renamed
//! into place, so a failure leaves nothing half-written.
//!
//! The generated project embeds `mspack_problem` and `mspack_telemetry` verbatim (their
//! `Cargo.toml` and `src/lib.rs`) as path crates of its own workspace, and takes every dependency
//! version from this workspace's `[workspace.dependencies]`, so the code tested here is the code a
//! generated service compiles. With a store (`--store`, implied by `--messaging nats`) it also
//! embeds every source file of `mspack_eventstore` and `mspack_outbox` (their manifests without
//! `[dev-dependencies]`; not the relay binary: the service runs the relay in-process).

use mspack_lint::Multicluster;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use minijinja::Value;
use mspack_yaml::SourceFile;

use crate::values::{RawValues, dns_label, port};
use crate::{MSPACK_VERSION, TemplateError, lint_clean, render, render_text};

/// How the service talks to other services asynchronously.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Messaging {
    None,
    Nats,
}

impl Messaging {
    pub fn as_str(self) -> &'static str {
        match self {
            Messaging::None => "none",
            Messaging::Nats => "nats",
        }
    }
}

/// Where an event-sourced service keeps its events, outbox, inbox and read model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Store {
    /// No store: items in memory (only without messaging).
    None,
    /// SQLite, a file (`DATABASE_URL`, default `sqlite:<name>.db`).
    Sqlite,
    /// PostgreSQL (`DATABASE_URL`).
    Postgres,
}

impl Store {
    pub fn as_str(self) -> &'static str {
        match self {
            Store::None => "none",
            Store::Sqlite => "sqlite",
            Store::Postgres => "postgres",
        }
    }
}

/// The inputs of `mspack new`.
#[derive(Clone, Debug)]
pub struct ServiceSpec {
    pub name: String,
    pub namespace: String,
    pub port: u16,
    /// How the mesh spans clusters; `Ambient` labels the Service `istio.io/global`.
    pub multicluster: Multicluster,
    pub messaging: Messaging,
    /// `Store::Sqlite` by default with `Messaging::Nats` (events leave through the outbox,
    /// never by a direct publish); see [`ServiceSpec::with_store`].
    pub store: Store,
}

impl ServiceSpec {
    /// Validate the inputs; errors name the flag.
    pub fn new(
        name: &str,
        namespace: Option<&str>,
        port_number: u16,
        multicluster: Multicluster,
        messaging: Messaging,
    ) -> Result<ServiceSpec, TemplateError> {
        let invalid = |key: &str, value: &str, reason: String| TemplateError::InvalidValue {
            key: key.to_owned(),
            value: value.to_owned(),
            reason,
        };
        // The length first: the DNS label rule's own limit (63) is not this one.
        if name.len() > 50 {
            return Err(invalid(
                "name",
                name,
                format!(
                    "is {} characters long; at most 50 (derived names add suffixes)",
                    name.len()
                ),
            ));
        }
        dns_label(name, true).map_err(|r| invalid("name", name, r))?;
        let crate_name = name.replace('-', "_");
        if let Some(taken) = reserved_crate_names()
            .into_iter()
            .find(|r| r.replace('-', "_") == crate_name)
        {
            return Err(invalid(
                "name",
                name,
                format!(
                    "is the name of a crate the service depends on ({taken}); a package of that \
                     name doesn't build: choose another (e.g. {name}-svc)"
                ),
            ));
        }
        let namespace = namespace.unwrap_or(name);
        dns_label(namespace, false).map_err(|r| invalid("namespace", namespace, r))?;
        port(&port_number.to_string()).map_err(|r| invalid("port", &port_number.to_string(), r))?;
        Ok(ServiceSpec {
            name: name.to_owned(),
            namespace: namespace.to_owned(),
            port: port_number,
            multicluster,
            messaging,
            store: match messaging {
                Messaging::None => Store::None,
                Messaging::Nats => Store::Sqlite,
            },
        })
    }

    /// The same service on `store`. A store publishes its events through the outbox relay to
    /// NATS, so it needs `Messaging::Nats`; NATS needs a store (a direct publish after the write
    /// loses the event when the broker is down, or the write when the process dies in between).
    pub fn with_store(mut self, store: Store) -> Result<ServiceSpec, TemplateError> {
        let refuse = |reason: &str| TemplateError::InvalidValue {
            key: "store".to_owned(),
            value: store.as_str().to_owned(),
            reason: reason.to_owned(),
        };
        match (store, self.messaging) {
            (Store::None, Messaging::Nats) => {
                return Err(refuse(
                    "--messaging nats publishes through the transactional outbox, which needs \
                     a store: use --store sqlite (the default) or --store postgres",
                ));
            }
            (Store::Sqlite | Store::Postgres, Messaging::None) => {
                return Err(refuse(
                    "a store publishes its events through the outbox relay to NATS: use it \
                     with --messaging nats (the default with --store)",
                ));
            }
            _ => {}
        }
        self.store = store;
        Ok(self)
    }

    /// The Rust crate name (`-` becomes `_`).
    pub fn crate_name(&self) -> String {
        self.name.replace('-', "_")
    }
}

/// Files to write, by path relative to the service directory.
#[derive(Clone, Debug, Default)]
pub struct FileSet {
    pub files: BTreeMap<PathBuf, String>,
}

impl FileSet {
    fn add(&mut self, path: &str, text: impl Into<String>) {
        self.files.insert(PathBuf::from(path), text.into());
    }

    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.files.keys().map(PathBuf::as_path)
    }
}

const WORKSPACE_MANIFEST: &str = include_str!("../../../Cargo.toml");
/// Every file of an embedded crate: its path inside the crate and its text. Tests check that
/// the lists are every source file on disk (but the relay binary), so they can't drift.
macro_rules! crate_files {
    ($krate:literal: $($file:literal),+ $(,)?) => {
        &[$(($file, include_str!(concat!("../../", $krate, "/", $file)))),+]
    };
}
/// The crates embedded in every service, by name; their manifests are copied whole.
const BASE_CRATES: &[(&str, &[(&str, &str)])] = &[
    (
        "mspack_problem",
        crate_files!("mspack_problem": "Cargo.toml", "src/lib.rs"),
    ),
    (
        "mspack_telemetry",
        crate_files!("mspack_telemetry": "Cargo.toml", "src/lib.rs", "src/logs.rs"),
    ),
    (
        "mspack_serve",
        crate_files!("mspack_serve": "Cargo.toml", "src/lib.rs"),
    ),
];
const EVENTSTORE_FILES: &[(&str, &str)] = crate_files!("mspack_eventstore":
    "Cargo.toml", "src/aggregate.rs", "src/config.rs", "src/error.rs", "src/event.rs",
    "src/lib.rs", "src/memory.rs", "src/migrate.rs", "src/outbox.rs", "src/projection.rs",
    "src/schema.rs", "src/sql.rs", "src/sql_store.rs", "src/store.rs", "src/telemetry.rs",
    "src/upcast.rs", "src/validate.rs");
const OUTBOX_FILES: &[(&str, &str)] = crate_files!("mspack_outbox":
    "Cargo.toml", "src/error.rs", "src/health.rs", "src/inbox.rs", "src/lib.rs", "src/nats.rs",
    "src/process.rs", "src/relay/lease.rs", "src/relay/metrics.rs", "src/relay/mod.rs",
    "src/relay/publish.rs", "src/relay/statements.rs");
/// The crates embedded with a store, by name.
const STORE_CRATES: &[(&str, &[(&str, &str)])] = &[
    ("mspack_eventstore", EVENTSTORE_FILES),
    ("mspack_outbox", OUTBOX_FILES),
];
const LIB: &str = include_str!("../service/lib.rs.j2");
const LIB_STORE: &str = include_str!("../service/lib_store.rs.j2");
const DOMAIN: &str = include_str!("../service/domain.rs.j2");
const STORE: &str = include_str!("../service/store.rs.j2");
const HTTP_TEST_STORE: &str = include_str!("../service/http_test_store.rs.j2");
const MAIN: &str = include_str!("../service/main.rs.j2");
const HTTP_TEST: &str = include_str!("../service/http_test.rs.j2");
const DOCKERFILE: &str = include_str!("../service/Dockerfile.j2");
const DOCKERIGNORE: &str = include_str!("../service/dockerignore.j2");
const GITIGNORE: &str = include_str!("../service/gitignore.j2");
const README: &str = include_str!("../service/README.md.j2");
/// The lock file of a generated service with the package named `__service__`; refreshed by the
/// end-to-end test (`MSPACK_BLESS=1`) so `cargo build --locked` works on a fresh scaffold.
const LOCK: &str = include_str!("../service/Cargo.lock.in");
/// The same for a service with a store (`--store`, `--messaging nats`; one lock for both
/// databases: sqlx is built with both).
const LOCK_STORE: &str = include_str!("../service/Cargo.lock.store.in");
const LOCK_PLACEHOLDER: &str = "__service__";

/// The Rust toolchain image the Dockerfile builds with: the workspace's rust-version (the embedded
/// crates are its code), which every locked crate accepts (a test checks the lock against it).
const RUST_VERSION: &str = "1.94";
const CARGO_CHEF_VERSION: &str = "0.1.78";
/// Where the generated Collector exports (a placeholder the service's README names).
const COLLECTOR_BACKEND: &str = "otel-gateway.observability.svc.cluster.local:4317";

/// Dependencies of the generated package itself.
const SERVICE_DEPENDENCIES: &[&str] = &[
    "axum",
    "opentelemetry",
    "serde",
    "serde_json",
    "tokio",
    "tracing",
];
const SERVICE_DEV_DEPENDENCIES: &[&str] = &["tower"];
/// What a service with a store depends on besides [`SERVICE_DEPENDENCIES`].
const STORE_DEPENDENCIES: &[&str] = &[
    "mspack_eventstore",
    "mspack_outbox",
    "async-nats",
    "futures-util",
    "thiserror",
    "uuid",
];

/// Names a service's crate can't take: the crates it depends on (directly, in any variant),
/// its embedded crates and their dependencies, and the crates every Rust program sees.
fn reserved_crate_names() -> Vec<String> {
    let mut names: Vec<String> = SERVICE_DEPENDENCIES
        .iter()
        .chain(SERVICE_DEV_DEPENDENCIES)
        .chain(STORE_DEPENDENCIES)
        .chain(BASE_CRATES.iter().map(|(name, _)| name))
        .chain(&["std", "core", "alloc", "proc_macro", "test"])
        .map(|s| (*s).to_owned())
        .collect();
    // A manifest that doesn't parse fails `plan` (in `cargo_manifest`) with its reason.
    names.extend(embedded_dependencies(true).unwrap_or_default());
    names
}

/// The dependencies (and dev-dependencies) of the crates embedded in every service, and with
/// `store` the dependencies of the store's crates (embedded without their dev-dependencies).
fn embedded_dependencies(store: bool) -> Result<Vec<String>, TemplateError> {
    let mut names = Vec::new();
    let mut manifests = Vec::new();
    for (_, files) in BASE_CRATES {
        for (path, text) in *files {
            if *path == "Cargo.toml" {
                manifests.push((text, ["dependencies", "dev-dependencies"].as_slice()));
            }
        }
    }
    if store {
        for (_, files) in STORE_CRATES {
            for (path, text) in *files {
                if *path == "Cargo.toml" {
                    manifests.push((text, ["dependencies"].as_slice()));
                }
            }
        }
    }
    for (manifest, sections) in manifests {
        let table: toml::Table = manifest
            .parse()
            .map_err(|e| internal(format!("embedded crate manifest: {e}")))?;
        for section in sections {
            if let Some(deps) = table.get(*section).and_then(toml::Value::as_table) {
                names.extend(deps.keys().cloned());
            }
        }
    }
    Ok(names)
}

/// An embedded crate's manifest without its `[dev-dependencies]` table (test-only crates such
/// as `mspack_testkit` are not part of a service), otherwise as written.
fn without_dev_dependencies(manifest: &str) -> Result<String, TemplateError> {
    let mut out = String::from(
        "# A copy of the mspack crate of the same name, without its dev-dependencies.\n",
    );
    let mut skipping = false;
    for line in manifest.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            skipping = trimmed.starts_with("[dev-dependencies");
        }
        if !skipping {
            out.push_str(line);
            out.push('\n');
        }
    }
    let table: toml::Table = out
        .parse()
        .map_err(|e| internal(format!("embedded crate manifest: {e}")))?;
    if table.contains_key("dev-dependencies") {
        return Err(internal("embedded crate manifest: dev-dependencies left"));
    }
    Ok(out)
}

/// Plan every file of the service: sources, Dockerfile, deploy manifests (linted), answers.
pub fn plan(spec: &ServiceSpec) -> Result<FileSet, TemplateError> {
    let mut files = FileSet::default();
    let context = service_context(spec);
    let render_file = |name: &str, source: &str| render_text(name, source, &context);

    files.add("Cargo.toml", cargo_manifest(spec)?);
    let store = spec.store != Store::None;
    files.add(
        "Cargo.lock",
        lock_file(if store { LOCK_STORE } else { LOCK }, &spec.name),
    );
    if store {
        files.add("src/lib.rs", render_file("lib.rs", LIB_STORE)?);
        files.add("src/domain.rs", render_file("domain.rs", DOMAIN)?);
        files.add("src/store.rs", render_file("store.rs", STORE)?);
        files.add("tests/http.rs", render_file("http.rs", HTTP_TEST_STORE)?);
        for (krate, crate_files) in STORE_CRATES {
            for (path, text) in *crate_files {
                let text = if *path == "Cargo.toml" {
                    without_dev_dependencies(text)?
                } else {
                    (*text).to_owned()
                };
                files.add(&format!("crates/{krate}/{path}"), text);
            }
        }
    } else {
        files.add("src/lib.rs", render_file("lib.rs", LIB)?);
        files.add("tests/http.rs", render_file("http.rs", HTTP_TEST)?);
    }
    files.add("src/main.rs", render_file("main.rs", MAIN)?);
    files.add("Dockerfile", render_file("Dockerfile", DOCKERFILE)?);
    files.add(".dockerignore", render_file(".dockerignore", DOCKERIGNORE)?);
    files.add(".gitignore", render_file(".gitignore", GITIGNORE)?);
    files.add("README.md", render_file("README.md", README)?);
    for (krate, crate_files) in BASE_CRATES {
        for (path, text) in *crate_files {
            files.add(&format!("crates/{krate}/{path}"), *text);
        }
    }

    files.add("deploy/00-namespace.yaml", namespace_manifest(spec));
    let mut answers = answers_header(spec);
    for (template, raw) in deploy_values(spec) {
        let rendered = render(template, &raw)?;
        let _ = writeln!(answers, "\n[values.{template}]");
        for (key, value) in rendered.values.texts() {
            let _ = writeln!(answers, "{key} = {}", toml_string(value));
        }
        files.add(&format!("deploy/{template}.yaml"), rendered.text);
    }
    lint_deploy_together(&files, spec.multicluster)?;
    files.add(".mspack/answers.toml", answers);
    Ok(files)
}

/// The namespace, so `kubectl apply -f deploy/` works on a new cluster (files apply in name
/// order, so this one first). An identical copy in another service's `deploy/` is harmless.
fn namespace_manifest(spec: &ServiceSpec) -> String {
    format!(
        "# The service's namespace; `kubectl apply -f deploy/` creates it first (files apply in name\n\
         # order). Sidecar injection on. Pod Security \"baseline\": Istio's init container needs\n\
         # NET_ADMIN, which \"restricted\" forbids unless the Istio CNI plugin is installed.\n\
         apiVersion: v1\n\
         kind: Namespace\n\
         metadata:\n\
         \x20 name: {ns}\n\
         \x20 labels:\n\
         \x20   istio-injection: enabled\n\
         \x20   pod-security.kubernetes.io/enforce: baseline\n\
         \x20   app.kubernetes.io/managed-by: mspack\n",
        ns = spec.namespace
    )
}

/// Values of the three deploy renders.
fn deploy_values(spec: &ServiceSpec) -> Vec<(&'static str, RawValues)> {
    let mut deployment = RawValues::new();
    let mut mesh = RawValues::new();
    for raw in [&mut deployment, &mut mesh] {
        raw.insert("name", &spec.name);
        raw.insert("namespace", &spec.namespace);
        raw.insert("port", spec.port.to_string());
        raw.insert("multicluster", spec.multicluster.name());
    }
    deployment.insert("image", format!("{}:0.1.0", spec.name));
    deployment.insert(
        "otel_exporter_endpoint",
        format!(
            "http://otel-collector.{}.svc.cluster.local:4318",
            spec.namespace
        ),
    );
    match spec.store {
        Store::None => {}
        Store::Sqlite => {
            // The root filesystem is read-only; /tmp is the pod's emptyDir (see the README).
            deployment.insert("database_url", format!("sqlite:/tmp/{}.db", spec.name));
        }
        Store::Postgres => {
            deployment.insert(
                "database_url",
                format!(
                    "postgres://{}@postgres.{}.svc.cluster.local:5432/{}",
                    spec.crate_name(),
                    spec.namespace,
                    spec.crate_name()
                ),
            );
        }
    }
    if spec.messaging == Messaging::Nats {
        deployment.insert("nats_url", "nats://nats.messaging.svc.cluster.local:4222");
    }
    let mut otel = RawValues::new();
    otel.insert("namespace", &spec.namespace);
    otel.insert("sender_namespaces", &spec.namespace);
    // The service exports through its SDK; OBI is a cluster-wide choice, not a per-service one.
    otel.insert("obi", "false");
    otel.insert("exporter_endpoint", COLLECTOR_BACKEND);
    vec![
        ("deployment-strategy", deployment),
        ("mesh-istio", mesh),
        ("otel-config", otel),
    ]
}

/// Each file was linted with its companion; this lints the whole `deploy/` folder at once, with
/// the workload hygiene rules (MSP2xx, off by default for users' files) too: what mspack writes
/// for a service runs unprivileged, non-root, read-only, without capabilities.
fn lint_deploy_together(files: &FileSet, multicluster: Multicluster) -> Result<(), TemplateError> {
    let options = mspack_lint::LintOptions {
        multicluster,
        extend_select: vec!["MSP2".to_owned()],
        ..mspack_lint::LintOptions::default()
    };
    let deploy: Vec<(String, &String)> = files
        .files
        .iter()
        .filter(|(p, _)| p.starts_with("deploy"))
        .map(|(p, t)| (p.display().to_string(), t))
        .collect();
    for (i, (path, text)) in deploy.iter().enumerate() {
        let context: Vec<Arc<SourceFile>> = deploy
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, (p, t))| Arc::new(SourceFile::new(p.clone(), (*t).clone())))
            .collect();
        lint_clean("deploy", path, text, context, &options)?;
    }
    Ok(())
}

fn service_context(spec: &ServiceSpec) -> crate::Values {
    let mut values = crate::Values {
        map: BTreeMap::new(),
        texts: BTreeMap::new(),
    };
    values.insert("name", Value::from(spec.name.clone()));
    values.insert("crate_name", Value::from(spec.crate_name()));
    values.insert("metric_prefix", Value::from(spec.crate_name()));
    values.insert("namespace", Value::from(spec.namespace.clone()));
    values.insert("port", Value::from(spec.port));
    values.insert("nats", Value::from(spec.messaging == Messaging::Nats));
    values.insert("collector_backend", Value::from(COLLECTOR_BACKEND));
    values.insert(
        "store",
        Value::from(match spec.store {
            Store::None => "",
            other => other.as_str(),
        }),
    );
    values.insert("stream", Value::from(spec.crate_name().to_uppercase()));
    // A plain lowercase identifier of at most 40 characters (`TablePrefix`).
    let prefix: String = spec.crate_name().chars().take(32).collect();
    values.insert("table_prefix", Value::from(format!("{prefix}_")));
    values.insert(
        "default_database_url",
        Value::from(match spec.store {
            Store::Postgres => "postgres://postgres@127.0.0.1:5432/test".to_owned(),
            _ => format!("sqlite:{}.db", spec.name),
        }),
    );
    values.insert("mspack_version", Value::from(MSPACK_VERSION));
    values.insert("rust_version", Value::from(RUST_VERSION));
    values.insert("cargo_chef_version", Value::from(CARGO_CHEF_VERSION));
    values
}

fn answers_header(spec: &ServiceSpec) -> String {
    format!(
        "# Inputs of `mspack new`, so a later `mspack update` can re-render and merge.\n\
         mspack_version = {}\n\n[inputs]\nname = {}\nnamespace = {}\nport = {}\n\
         multicluster = {}\nmessaging = {}\nstore = {}\n",
        toml_string(MSPACK_VERSION),
        toml_string(&spec.name),
        toml_string(&spec.namespace),
        spec.port,
        toml_string(spec.multicluster.name()),
        toml_string(spec.messaging.as_str()),
        toml_string(spec.store.as_str()),
    )
}

fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

fn internal(message: impl Into<String>) -> TemplateError {
    TemplateError::Render {
        template: "service".into(),
        message: message.into(),
    }
}

/// An inline TOML rendering of a dependency entry (`"1"` or `{ version = "1", features = [..] }`).
fn inline(value: &toml::Value) -> String {
    match value {
        toml::Value::Table(table) => {
            let parts: Vec<String> = table
                .iter()
                .map(|(k, v)| format!("{k} = {}", inline(v)))
                .collect();
            format!("{{ {} }}", parts.join(", "))
        }
        other => other.to_string(),
    }
}

/// The generated root manifest: the package, its workspace (the embedded crates), and every
/// dependency those need, copied from this workspace's `[workspace.dependencies]`.
fn cargo_manifest(spec: &ServiceSpec) -> Result<String, TemplateError> {
    let workspace: toml::Table = WORKSPACE_MANIFEST
        .parse()
        .map_err(|e| internal(format!("workspace Cargo.toml: {e}")))?;
    let shared = workspace
        .get("workspace")
        .and_then(|w| w.get("dependencies"))
        .and_then(toml::Value::as_table)
        .ok_or_else(|| internal("workspace Cargo.toml has no [workspace.dependencies]"))?;
    let store = spec.store != Store::None;
    let mut dependencies: Vec<&str> = SERVICE_DEPENDENCIES.to_vec();
    if store {
        dependencies.extend(STORE_DEPENDENCIES);
    }
    let mut needed: Vec<String> = dependencies
        .iter()
        .chain(SERVICE_DEV_DEPENDENCIES)
        .map(|s| (*s).to_owned())
        .collect();
    needed.extend(embedded_dependencies(store)?);
    needed.sort();
    needed.dedup();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Scaffolded by mspack {MSPACK_VERSION}. Dependency versions are the ones mspack tested."
    );
    let embedded: Vec<&str> = BASE_CRATES
        .iter()
        .chain(if store { STORE_CRATES } else { &[] })
        .map(|(krate, _)| *krate)
        .collect();
    let members: String = embedded
        .iter()
        .map(|krate| format!(", \"crates/{krate}\""))
        .collect();
    let _ = write!(
        out,
        "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\
         rust-version = \"{RUST_VERSION}\"\nlicense = \"Apache-2.0\"\npublish = false\n\n\
         [[bin]]\nname = \"{name}\"\npath = \"src/main.rs\"\n\n\
         [workspace]\nmembers = [\".\"{members}]\n\
         resolver = \"3\"\n\n\
         [workspace.package]\nversion = \"0.1.0\"\nedition = \"2024\"\nlicense = \"Apache-2.0\"\n\n\
         [workspace.lints.rust]\nunsafe_code = \"forbid\"\n\n\
         [workspace.lints.clippy]\nunwrap_used = \"warn\"\n\n\
         [workspace.dependencies]\n",
        name = spec.name
    );
    for krate in &embedded {
        let _ = writeln!(out, "{krate} = {{ path = \"crates/{krate}\" }}");
    }
    for name in needed.iter().filter(|n| !n.starts_with("mspack_")) {
        let entry = shared
            .get(name)
            .ok_or_else(|| internal(format!("no workspace dependency `{name}`")))?;
        let _ = writeln!(out, "{name} = {}", inline(entry));
    }
    out.push_str("\n[dependencies]\n");
    for (krate, _) in BASE_CRATES {
        let _ = writeln!(out, "{krate}.workspace = true");
    }
    for name in &dependencies {
        let _ = writeln!(out, "{name}.workspace = true");
    }
    out.push_str("\n[dev-dependencies]\n");
    for name in SERVICE_DEV_DEPENDENCIES {
        let _ = writeln!(out, "{name}.workspace = true");
    }
    out.push_str(
        "\n[lints]\nworkspace = true\n\n[profile.release]\nstrip = \"symbols\"\nlto = \"thin\"\n",
    );
    Ok(out)
}

/// The stored lock file with the package renamed and re-sorted as Cargo sorts packages.
fn lock_file(stored: &str, name: &str) -> String {
    let Some(first) = stored.find("[[package]]") else {
        return stored.to_owned();
    };
    let (header, body) = stored.split_at(first);
    let mut blocks: Vec<String> = body
        .split("\n[[package]]")
        .map(|b| {
            let b = b.trim_start_matches("[[package]]").trim_matches('\n');
            format!("[[package]]\n{b}")
        })
        .map(|b| {
            b.replace(
                &format!("name = \"{LOCK_PLACEHOLDER}\""),
                &format!("name = \"{name}\""),
            )
        })
        .collect();
    let key = |block: &String| {
        let field = |f: &str| {
            block
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{f} = \"")))
                .map(|v| v.trim_end_matches('"').to_owned())
                .unwrap_or_default()
        };
        (field("name"), field("version"), field("source"))
    };
    blocks.sort_by_key(key);
    let mut out = header.to_owned();
    out.push_str(&blocks.join("\n\n"));
    out.push('\n');
    out
}

/// Write `files` to `dest` through a temporary directory beside it, renamed into place. An
/// existing `dest` is an error unless `force`, which replaces it only after the new tree is
/// complete and never deletes it: the previous tree (a `.git`, the user's code) is moved whole
/// to a backup directory beside it, whose path is returned.
pub fn write(files: &FileSet, dest: &Path, force: bool) -> Result<Option<PathBuf>, TemplateError> {
    let io = |path: &Path, e: std::io::Error| TemplateError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    if dest.exists() && !force {
        return Err(TemplateError::Exists {
            path: dest.display().to_string(),
        });
    }
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| io(&parent, e))?;
    let base = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "service".into());
    let staging = tempfile::Builder::new()
        .prefix(&format!(".{base}.mspack-new-"))
        .tempdir_in(&parent)
        .map_err(|e| io(&parent, e))?;
    for (path, text) in &files.files {
        let full = staging.path().join(path);
        if let Some(dir) = full.parent() {
            std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        }
        std::fs::write(&full, text).map_err(|e| io(&full, e))?;
    }
    let mut backup = None;
    if dest.exists() || dest.is_symlink() {
        let old = tempfile::Builder::new()
            .prefix(&format!("{base}.mspack-backup-"))
            .tempdir_in(&parent)
            .map_err(|e| io(&parent, e))?;
        let old_path = old.path().join(&base);
        std::fs::rename(dest, &old_path).map_err(|e| io(dest, e))?;
        if let Err(e) = std::fs::rename(staging.path(), dest) {
            // Put the previous tree back; the staging directory is removed on drop.
            let _ = std::fs::rename(&old_path, dest);
            return Err(io(dest, e));
        }
        // The previous tree stays where it now is, for the user to take what they need.
        let _ = old.keep();
        backup = Some(old_path);
    } else {
        std::fs::rename(staging.path(), dest).map_err(|e| io(dest, e))?;
    }
    // The staging directory now lives at `dest`; keep it from being deleted.
    let _ = staging.keep();
    Ok(backup)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str) -> ServiceSpec {
        ServiceSpec::new(name, Some("food"), 8080, Multicluster::Off, Messaging::None)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn invalid_names_are_refused_with_the_key() {
        for bad in ["Orders", "9lives", "a_b", "-x", ""] {
            let err = ServiceSpec::new(bad, None, 8080, Multicluster::Off, Messaging::None)
                .err()
                .map(|e| e.to_string());
            assert!(
                err.as_ref().is_some_and(|e| e.contains("`name`")),
                "{bad}: {err:?}"
            );
        }
        let err = ServiceSpec::new("orders", None, 15020, Multicluster::Off, Messaging::None)
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("`port`")));
    }

    #[test]
    fn the_plan_has_every_part_of_a_service() {
        let files = plan(&spec("orders")).unwrap_or_else(|e| panic!("{e}"));
        for path in [
            "Cargo.toml",
            "Cargo.lock",
            "src/main.rs",
            "src/lib.rs",
            "tests/http.rs",
            "Dockerfile",
            ".dockerignore",
            "deploy/deployment-strategy.yaml",
            "deploy/mesh-istio.yaml",
            "deploy/otel-config.yaml",
            ".mspack/answers.toml",
            "crates/mspack_problem/src/lib.rs",
            "crates/mspack_telemetry/src/lib.rs",
        ] {
            assert!(files.files.contains_key(Path::new(path)), "{path} missing");
        }
        let answers = &files.files[Path::new(".mspack/answers.toml")];
        assert!(answers.contains("name = \"orders\"") && answers.contains("mspack_version"));
        assert!(toml::from_str::<toml::Table>(answers).is_ok(), "{answers}");
        let manifest = &files.files[Path::new("Cargo.toml")];
        assert!(
            toml::from_str::<toml::Table>(manifest).is_ok(),
            "{manifest}"
        );
    }

    #[test]
    fn embedded_crates_are_the_tested_sources() {
        let files = plan(&spec("orders")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            files.files[Path::new("crates/mspack_problem/src/lib.rs")],
            include_str!("../../mspack_problem/src/lib.rs")
        );
        // Every source file of the embedded crates, so a new module can't be left behind.
        for (krate, _) in BASE_CRATES {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join(krate)
                .join("src");
            let on_disk = std::fs::read_dir(&dir).map_or(Vec::new(), |entries| {
                entries
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            });
            assert!(!on_disk.is_empty(), "{}", dir.display());
            for name in on_disk {
                let path = PathBuf::from(format!("crates/{krate}/src/{name}"));
                let source = std::fs::read_to_string(dir.join(&name)).unwrap_or_default();
                assert_eq!(files.files.get(&path), Some(&source), "{}", path.display());
            }
        }
    }

    #[test]
    fn the_dockerfile_meets_the_checklist() {
        let files = plan(&spec("orders")).unwrap_or_else(|e| panic!("{e}"));
        let dockerfile = &files.files[Path::new("Dockerfile")];
        for needle in [
            "cargo chef prepare",
            "cargo chef cook --release --locked",
            "cargo build --release --locked",
            "gcr.io/distroless/cc-debian12:nonroot",
            "USER 65532:65532",
            "org.opencontainers.image.title",
        ] {
            assert!(dockerfile.contains(needle), "Dockerfile lacks {needle}");
        }
        assert!(files.files[Path::new(".dockerignore")].contains("target/"));
    }

    #[test]
    fn names_of_crates_the_service_depends_on_are_refused_and_the_length_limit_is_stated() {
        for taken in [
            "tokio",
            "axum",
            "serde",
            "serde-json",
            "tower",
            "async-nats",
            "std",
        ] {
            let err = ServiceSpec::new(taken, None, 8080, Multicluster::Off, Messaging::None)
                .err()
                .unwrap_or_else(|| panic!("{taken} accepted"));
            assert!(err.to_string().contains("crate"), "{taken}: {err}");
        }
        assert!(
            ServiceSpec::new("tokio-svc", None, 8080, Multicluster::Off, Messaging::None).is_ok()
        );
        for len in [51, 64, 80] {
            let name = "a".repeat(len);
            let err = ServiceSpec::new(&name, None, 8080, Multicluster::Off, Messaging::None)
                .err()
                .unwrap_or_else(|| panic!("{len} accepted"));
            let text = err.to_string();
            assert!(
                text.contains("at most 50") && !text.contains("63"),
                "{text}"
            );
        }
    }

    #[test]
    fn deploy_creates_its_namespace_and_runs_a_locally_built_image() {
        let files = plan(&spec("orders")).unwrap_or_else(|e| panic!("{e}"));
        let ns = &files.files[Path::new("deploy/00-namespace.yaml")];
        assert!(
            ns.contains("kind: Namespace") && ns.contains("name: food"),
            "{ns}"
        );
        // Applied in name order, the namespace comes before everything that lives in it.
        let first = files
            .paths()
            .filter(|p| p.starts_with("deploy"))
            .min()
            .map(Path::to_path_buf);
        assert_eq!(
            first.as_deref(),
            Some(Path::new("deploy/00-namespace.yaml"))
        );
        // `docker build` + `kind load` leaves the image on the node; Always would pull from a
        // registry that has no such image (ErrImagePull).
        let deployment = &files.files[Path::new("deploy/deployment-strategy.yaml")];
        assert!(
            deployment.contains("image: orders:0.1.0\n        imagePullPolicy: IfNotPresent"),
            "{deployment}"
        );
    }

    /// `major.minor[.patch]` as a comparable triple.
    fn version(text: &str) -> Option<(u64, u64, u64)> {
        let mut parts = text.trim().split('.').map(|p| p.parse::<u64>().ok());
        let major = parts.next()??;
        let minor = parts.next().flatten().unwrap_or(0);
        let patch = parts.next().flatten().unwrap_or(0);
        Some((major, minor, patch))
    }

    /// Every locked crate whose source cargo has downloaded here (the workspace locks the same
    /// versions, so building it downloads every one this platform builds) declares a
    /// `rust-version` the Dockerfile's Rust image satisfies: `cargo build --locked` in the
    /// image would refuse it otherwise.
    #[test]
    fn the_dockerfiles_rust_builds_every_locked_crate() {
        let home = std::env::var_os("CARGO_HOME")
            .map(std::path::PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))
            .unwrap_or_else(|| panic!("neither CARGO_HOME nor HOME is set"));
        let sources: Vec<std::path::PathBuf> = std::fs::read_dir(home.join("registry/src"))
            .map(|d| d.filter_map(|e| Some(e.ok()?.path())).collect())
            .unwrap_or_default();
        let image = version(RUST_VERSION).unwrap_or_else(|| panic!("RUST_VERSION {RUST_VERSION}"));
        for lock in [LOCK, LOCK_STORE] {
            let table: toml::Table = lock.parse().unwrap_or_else(|e| panic!("{e}"));
            let packages = table
                .get("package")
                .and_then(toml::Value::as_array)
                .cloned()
                .unwrap_or_default();
            let (mut checked, mut too_new) = (0, Vec::new());
            for package in &packages {
                let (Some(name), Some(ver)) = (
                    package.get("name").and_then(toml::Value::as_str),
                    package.get("version").and_then(toml::Value::as_str),
                ) else {
                    continue;
                };
                let Some(manifest) = sources
                    .iter()
                    .map(|s| s.join(format!("{name}-{ver}/Cargo.toml")))
                    .find(|p| p.is_file())
                else {
                    continue; // another platform's crate, never built here
                };
                checked += 1;
                let text = std::fs::read_to_string(&manifest).unwrap_or_default();
                let needs = text.parse::<toml::Table>().ok().and_then(|t| {
                    t.get("package")?
                        .get("rust-version")?
                        .as_str()
                        .and_then(version)
                });
                if let Some(needs) = needs
                    && needs > image
                {
                    too_new.push(format!("{name} {ver} needs Rust {needs:?}"));
                }
            }
            assert!(
                checked * 2 > packages.len(),
                "only {checked} of {} locked crates found under {} (build the workspace first)",
                packages.len(),
                home.display()
            );
            assert!(
                too_new.is_empty(),
                "the Dockerfile builds with Rust {RUST_VERSION}: {too_new:?}"
            );
        }
    }

    #[test]
    fn existing_directories_are_not_overwritten_without_force() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let dest = dir.path().join("orders");
        std::fs::create_dir_all(&dest).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dest.join("keep.txt"), "mine").unwrap_or_else(|e| panic!("{e}"));
        let files = plan(&spec("orders")).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            write(&files, &dest, false),
            Err(TemplateError::Exists { .. })
        ));
        assert!(dest.join("keep.txt").is_file());
        std::fs::create_dir_all(dest.join(".git")).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dest.join(".git/HEAD"), "ref").unwrap_or_else(|e| panic!("{e}"));
        let backup = write(&files, &dest, true)
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("--force over a tree keeps a backup"));
        assert!(!dest.join("keep.txt").exists() && dest.join("Cargo.toml").is_file());
        // Nothing of the user's is deleted: the whole previous tree is in the backup.
        assert_eq!(
            std::fs::read_to_string(backup.join("keep.txt")).unwrap_or_default(),
            "mine"
        );
        assert!(backup.join(".git/HEAD").is_file());
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .map(|r| r.filter_map(Result::ok).map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert_eq!(
            leftovers.len(),
            2,
            "only the new tree and the backup: {leftovers:?}"
        );
        // Into a new directory: no backup.
        let fresh = dir.path().join("fresh");
        assert!(matches!(write(&files, &fresh, false), Ok(None)));
    }

    fn store_spec(store: Store) -> ServiceSpec {
        ServiceSpec::new(
            "orders",
            Some("food"),
            8080,
            Multicluster::Off,
            Messaging::Nats,
        )
        .and_then(|s| s.with_store(store))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Relative paths of the files under `dir` (recursively), `/`-separated.
    fn files_under(dir: &Path, base: &Path, out: &mut Vec<String>) {
        let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if path.is_dir() {
                files_under(&path, base, out);
            } else if let Ok(relative) = path.strip_prefix(base) {
                out.push(relative.to_string_lossy().replace('\\', "/"));
            }
        }
    }

    #[test]
    fn the_embedded_store_crates_are_every_source_file_on_disk() {
        let files = plan(&store_spec(Store::Sqlite)).unwrap_or_else(|e| panic!("{e}"));
        for (krate, embedded) in STORE_CRATES {
            let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(krate);
            let mut on_disk = vec!["Cargo.toml".to_owned()];
            files_under(&root.join("src"), &root, &mut on_disk);
            // The relay binary is not part of a service: it runs the relay in-process.
            on_disk.retain(|p| !p.starts_with("src/bin/"));
            on_disk.sort();
            let mut listed: Vec<String> = embedded.iter().map(|(p, _)| (*p).to_owned()).collect();
            listed.sort();
            assert_eq!(
                listed, on_disk,
                "{krate}: the embedded list drifted from the sources"
            );
            for (path, text) in *embedded {
                let copied = &files.files[&PathBuf::from(format!("crates/{krate}/{path}"))];
                if *path == "Cargo.toml" {
                    let table: toml::Table =
                        toml::from_str(copied).unwrap_or_else(|e| panic!("{e}: {copied}"));
                    assert!(!table.contains_key("dev-dependencies"), "{copied}");
                    assert!(table.contains_key("dependencies"), "{copied}");
                    assert!(!copied.contains("mspack_testkit"), "{copied}");
                } else {
                    assert_eq!(copied, text, "{krate}/{path}");
                }
            }
        }
        let manifest = &files.files[Path::new("Cargo.toml")];
        assert!(
            manifest.contains("\"crates/mspack_eventstore\", \"crates/mspack_outbox\"")
                && manifest.contains("mspack_outbox = { path = \"crates/mspack_outbox\" }")
                && !manifest.contains("mspack_testkit"),
            "{manifest}"
        );
        // Without a store, none of it.
        let plain = plan(&spec("orders")).unwrap_or_else(|e| panic!("{e}"));
        assert!(!plain.paths().any(|p| p.starts_with("crates/mspack_outbox")));
        assert!(!plain.files[Path::new("Cargo.toml")].contains("mspack_eventstore"));
    }

    #[test]
    fn nats_implies_a_store_and_a_store_implies_nats() {
        let nats = ServiceSpec::new("orders", None, 8080, Multicluster::Off, Messaging::Nats)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(nats.store, Store::Sqlite);
        let err = nats.with_store(Store::None).err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("`store`") && e.contains("outbox")));
        let err = spec("orders")
            .with_store(Store::Postgres)
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("--messaging nats")));
        assert_eq!(spec("orders").store, Store::None);
    }

    #[test]
    fn the_nats_variant_publishes_only_through_the_outbox_and_deploy_sets_its_urls() {
        for (store, database_url) in [
            (Store::Sqlite, "value: \"sqlite:/tmp/orders.db\""),
            (
                Store::Postgres,
                "value: \"postgres://orders@postgres.food.svc.cluster.local",
            ),
        ] {
            let files = plan(&store_spec(store)).unwrap_or_else(|e| panic!("{e}"));
            let sources: String = files
                .files
                .iter()
                .filter(|(p, _)| p.starts_with("src"))
                .map(|(_, t)| t.as_str())
                .collect();
            // The events and their outbox rows commit together; the relay publishes them.
            assert!(sources.contains(".publish_events(EVENT_SUBJECT)"));
            assert!(sources.contains("relay.run("));
            assert!(sources.contains("inbox.claim("));
            assert!(
                !sources.contains("publish_with_headers") && !sources.contains(".publish("),
                "a direct publish after the write"
            );
            assert!(!files.files.contains_key(Path::new("src/messaging.rs")));
            let deployment = &files.files[Path::new("deploy/deployment-strategy.yaml")];
            assert!(
                deployment.contains(
                    "- name: NATS_URL\n          value: \"nats://nats.messaging.svc.cluster.local:4222\""
                ),
                "{deployment}"
            );
            assert!(
                deployment.contains(&format!("- name: DATABASE_URL\n          {database_url}")),
                "{deployment}"
            );
            let answers = &files.files[Path::new(".mspack/answers.toml")];
            assert!(
                answers.contains(&format!("store = \"{}\"", store.as_str())),
                "{answers}"
            );
            let readme = &files.files[Path::new("README.md")];
            assert!(readme.contains("NATS may be down"), "{readme}");
            let dockerfile = &files.files[Path::new("Dockerfile")];
            assert_eq!(
                dockerfile.contains("ENV DATABASE_URL=sqlite:/tmp/orders.db"),
                store == Store::Sqlite,
                "{dockerfile}"
            );
        }
        let plain = plan(&spec("orders")).unwrap_or_else(|e| panic!("{e}"));
        let deployment = &plain.files[Path::new("deploy/deployment-strategy.yaml")];
        assert!(!deployment.contains("NATS_URL") && !deployment.contains("DATABASE_URL"));
        assert!(plain.files[Path::new(".mspack/answers.toml")].contains("store = \"none\""));
    }

    #[test]
    fn the_deploy_gate_refuses_an_unhardened_workload() {
        let mut files = plan(&spec("orders")).unwrap_or_else(|e| panic!("{e}"));
        assert!(lint_deploy_together(&files, Multicluster::Off).is_ok());
        let path = PathBuf::from("deploy/deployment-strategy.yaml");
        let hardened = files.files[&path].clone();
        assert!(hardened.contains("readOnlyRootFilesystem: true"));
        files.files.insert(
            path,
            hardened.replacen(
                "readOnlyRootFilesystem: true",
                "readOnlyRootFilesystem: false",
                1,
            ),
        );
        let err = lint_deploy_together(&files, Multicluster::Off)
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("MSP203")));
    }

    #[test]
    fn the_readme_applies_the_namespace_first_and_names_the_collectors_backend() {
        let files = plan(&spec("orders")).unwrap_or_else(|e| panic!("{e}"));
        let readme = &files.files[Path::new("README.md")];
        assert!(readme.contains("kubectl apply -f deploy/ "), "{readme}");
        assert!(
            files
                .files
                .contains_key(Path::new("deploy/00-namespace.yaml"))
        );
        let otel = &files.files[Path::new("deploy/otel-config.yaml")];
        assert!(
            otel.contains(&format!("endpoint: {COLLECTOR_BACKEND}")),
            "{otel}"
        );
        assert!(readme.contains(COLLECTOR_BACKEND) && readme.contains("placeholder"));
    }

    #[test]
    fn the_lock_file_round_trips_for_the_name_it_was_made_with() {
        let stored = LOCK.replace(LOCK_PLACEHOLDER, "demo");
        assert_eq!(lock_file(LOCK, "demo"), stored);
    }

    #[test]
    fn the_lock_file_names_the_service_in_sorted_order() {
        let lock = lock_file(LOCK, "zz-last");
        assert!(!lock.contains(LOCK_PLACEHOLDER));
        let names: Vec<&str> = lock
            .lines()
            .filter_map(|l| l.strip_prefix("name = \""))
            .collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
    }
}
