//! `mspack_lint`: an offline validator for Istio, Gateway API and Kubernetes manifests.
//!
//! Data flows one way: [`load_inputs`] reads files, [`lint_sources`] parses them (in parallel),
//! builds a [`Workspace`] with its indexes, runs the selected [`Rule`]s, drops suppressed findings
//! and returns a [`Report`] that the [`output`] module renders as text, JSON, SARIF or GitHub
//! annotations.
//!
//! ```
//! use std::sync::Arc;
//! use mspack_lint::{LintOptions, lint_sources};
//! use mspack_yaml::SourceFile;
//!
//! let yaml = "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n\
//!             metadata: {name: orders, namespace: food}\nspec: {host: orders}\n";
//! let report = lint_sources(vec![Arc::new(SourceFile::new("dr.yaml", yaml))], &LintOptions::default())
//!     .expect("default options load");
//! assert!(report.findings.iter().any(|f| f.code() == "MSP101"));
//! ```

pub mod baseline;
mod comments;
pub mod config;
pub mod crossref;
mod engine;
mod fast_map;
pub mod finding;
pub mod fix;
pub mod gateway_api;
pub mod graph;
pub mod hosts;
mod id_table;
pub mod input;
pub mod istio;
pub mod mesh;
pub mod obi;
pub mod otel;
pub mod output;
mod pod_security;
pub mod refs;
pub mod resource;
pub mod rule;
pub mod rules;
pub mod schema;
mod selector_findings;
mod suppress;
pub mod workloads;
pub mod workspace;

use std::sync::Arc;

use rayon::prelude::*;

pub use config::{ConfigFile, LintOptions, Multicluster};
pub use finding::{Applicability, Edit, Finding, Findings, Fix, Severity};
pub use input::{InputError, Inputs, Unreadable, load_inputs};
pub use istio::validation::retry_on_policy_is_valid;
pub use mesh::{MeshConfig, MeshInputError, MeshNetworks};
pub use resource::{Kind, Resource};
pub use rule::Rule;
pub use workspace::{LoadIssue, Workspace};

use mspack_yaml::{SourceFile, parse_file};

/// The outcome of a lint run.
#[derive(Debug)]
pub struct Report {
    /// Sorted by file, line, column, code.
    pub findings: Vec<Finding>,
    pub files: usize,
    pub resources: usize,
    /// Files that could not be read or parsed (each has an MSP001 finding; the CLI exits 2).
    pub unloadable: usize,
    /// Wall time of each phase (`parse`, `model`, `rules`, `report`), for `MSPACK_TIMINGS`.
    pub timings: Vec<(&'static str, std::time::Duration)>,
    /// The parsed trees the findings were computed from, freed when the report is dropped.
    retained: Retained,
}

/// The workspace a report was computed from. Freeing a large tree (millions of small
/// allocations) takes a noticeable share of a run, so dropping it hands the work to a
/// background thread; a process that exits right after the report can skip it entirely with
/// `std::mem::forget(report)`, leaving the memory to the operating system.
struct Retained(Option<Workspace>);

impl Drop for Retained {
    fn drop(&mut self) {
        let Some(workspace) = self.0.take() else {
            return;
        };
        // If no thread can be started, the workspace is dropped here when the closure is.
        let _ = std::thread::Builder::new()
            .name("mspack-free".into())
            .spawn(move || drop(workspace));
    }
}

impl std::fmt::Debug for Retained {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Retained")
    }
}

impl Report {
    pub fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == severity)
            .count()
    }

    /// Whether any finding is at or above `threshold`.
    pub fn fails(&self, threshold: Severity) -> bool {
        self.findings.iter().any(|f| f.severity >= threshold)
    }
}

/// Errors that stop a run before any rule runs (exit code 2 in the CLI).
#[derive(Debug, thiserror::Error)]
pub enum LintError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Mesh(#[from] MeshInputError),
    #[error("unknown rule selector {0:?} (see `mspack rules`)")]
    UnknownSelector(String),
    #[error("{path}: {message}")]
    Traces { path: String, message: String },
    #[error("invalid per-file-ignores glob {glob:?}: {message}")]
    Glob { glob: String, message: String },
}

/// Rules that `--select`/`--ignore` cannot turn off: input that could not be read is always
/// reported (as ruff always reports syntax errors).
pub static ALWAYS_REPORTED: &[&Rule] = &[
    &rules::invalid_yaml::INVALID_YAML,
    &rules::invalid_resource::INVALID_RESOURCE,
];

/// The rules a run uses: the default set (or `select`) and `extend_select`, minus `ignore`, plus
/// [`ALWAYS_REPORTED`].
pub fn selected_rules(options: &LintOptions) -> Result<Vec<&'static Rule>, LintError> {
    for token in options
        .select
        .iter()
        .chain(&options.extend_select)
        .chain(&options.ignore)
    {
        if !rules::ALL.iter().any(|r| r.matches_selector(token)) {
            return Err(LintError::UnknownSelector(token.clone()));
        }
    }
    Ok(rules::ALL
        .iter()
        .copied()
        .filter(|r| {
            ALWAYS_REPORTED.iter().any(|a| std::ptr::eq(*a, *r))
                || ((if options.select.is_empty() {
                    r.enabled_by_default
                } else {
                    options.select.iter().any(|t| r.matches_selector(t))
                } || options.extend_select.iter().any(|t| r.matches_selector(t)))
                    && !options.ignore.iter().any(|t| r.matches_selector(t)))
        })
        .collect())
}

/// Load the mesh config and mesh networks files named in `options`.
pub fn load_mesh_inputs(
    options: &LintOptions,
) -> Result<(MeshConfig, Option<MeshNetworks>), LintError> {
    let read = |path: &std::path::Path| -> Result<Arc<SourceFile>, LintError> {
        let text = std::fs::read_to_string(path).map_err(|source| InputError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Ok(Arc::new(SourceFile::new(path.display().to_string(), text)))
    };
    let mesh = match &options.mesh_config {
        Some(p) => MeshConfig::from_source(read(p)?)?,
        None => MeshConfig::default(),
    };
    let networks = match &options.mesh_networks {
        Some(p) => Some(MeshNetworks::from_source(read(p)?)?),
        None => None,
    };
    Ok((mesh, networks))
}

/// Read an OTLP JSON export of spans (`--traces`).
pub fn load_traces(path: &std::path::Path) -> Result<graph::traces::Traces, LintError> {
    let error = |message: String| LintError::Traces {
        path: path.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
    graph::traces::read_traces(&text).map_err(error)
}

/// Load the CRD schemas named in `options.crds` (CRD YAML or a JSON schema bundle).
pub fn load_schemas(options: &LintOptions) -> Result<schema::SchemaSet, LintError> {
    let mut set = schema::SchemaSet::default();
    for path in &options.crds {
        let text = std::fs::read(path).map_err(|source| InputError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let source = Arc::new(SourceFile::from_bytes(path.display().to_string(), text));
        let limits = mspack_yaml::Limits {
            max_depth: 400,
            ..options.limits
        };
        let parsed = parse_file(source, &limits);
        if let Some(e) = parsed.error {
            return Err(LintError::Mesh(MeshInputError {
                path: path.display().to_string(),
                line: e.pos.line,
                col: e.pos.col,
                message: e.message,
            }));
        }
        for document in &parsed.documents {
            set.add_document(&document.root);
        }
    }
    Ok(set)
}

/// Lint in-memory sources: the library entry point (the scaffolder uses it before writing files).
pub fn lint_sources(
    sources: Vec<Arc<SourceFile>>,
    options: &LintOptions,
) -> Result<Report, LintError> {
    lint_inputs(
        Inputs {
            sources,
            unreadable: Vec::new(),
        },
        options,
    )
}

/// Lint what [`load_inputs`] read; files it could not read are reported (MSP001).
pub fn lint_inputs(inputs: Inputs, options: &LintOptions) -> Result<Report, LintError> {
    let mut timings = Vec::new();
    let mut clock = std::time::Instant::now();
    let mut lap = |phase: &'static str| {
        timings.push((phase, clock.elapsed()));
        clock = std::time::Instant::now();
    };
    let rules = selected_rules(options)?;
    let (mesh, networks) = load_mesh_inputs(options)?;
    let limits = options.limits;
    let parsed: Vec<_> = inputs
        .sources
        .into_par_iter()
        .map(|s| parse_file(s, &limits))
        .collect();
    lap("parse");
    let schemas = load_schemas(options)?;
    let mut workspace = Workspace::build(parsed, options.clone(), mesh, networks);
    workspace.files += inputs.unreadable.len();
    workspace.load_issues.extend(
        inputs
            .unreadable
            .into_iter()
            .map(|u| LoadIssue::Unreadable {
                file: Arc::new(SourceFile::new(u.path, String::new())),
                message: u.message,
            }),
    );
    workspace.set_schemas(schemas);
    if let Some(path) = &options.traces {
        workspace.traces = Some(Arc::new(load_traces(path)?));
    }
    lap("model");
    let active: Vec<&'static Rule> = rules
        .iter()
        .copied()
        .filter(|rule| rule.context.is_empty() || workspace.input_has_any(rule.context))
        .collect();
    let rule_findings = engine::run(&workspace, &engine::units(&active));
    lap("rules");
    let mut findings: Vec<Finding> = rule_findings.into_iter().flatten().collect();
    findings.retain(|f| {
        active.iter().any(|r| std::ptr::eq(*r, f.rule))
            && !f
                .resource_id
                .is_some_and(|i| workspace.resources.get(i).is_some_and(|r| r.assumed))
    });
    let mut findings = suppress::apply(findings, &workspace, options, &active)?;
    findings.sort_by(|a, b| {
        (a.path(), a.span.map(|s| s.start), a.rule.code, &a.message).cmp(&(
            b.path(),
            b.span.map(|s| s.start),
            b.rule.code,
            &b.message,
        ))
    });
    lap("report");
    let mut report = Report {
        findings,
        files: workspace.files,
        resources: workspace.resources.iter().filter(|r| !r.assumed).count(),
        unloadable: workspace.unloadable(),
        timings: Vec::new(),
        retained: Retained(None),
    };
    report.retained = Retained(Some(workspace));
    report.timings = timings;
    Ok(report)
}
