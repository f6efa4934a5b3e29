//! `mspack lint`: options from `.mspack.toml` and flags, run the linter, print, exit 0/1/2.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use mspack_lint::baseline::Baseline;
use mspack_lint::output::{Format, render, write_json};
use mspack_lint::{
    ConfigFile, LintOptions, Multicluster, Severity, fix::apply_fixes, lint_inputs, load_inputs,
};

/// Rounds of `--fix` (each applies what does not collide, then lints again).
const MAX_FIX_ROUNDS: usize = 4;

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum FormatArg {
    Text,
    Json,
    Sarif,
    Github,
}

#[derive(Clone, Copy, ValueEnum)]
enum SeverityArg {
    Info,
    Warning,
    Error,
}

/// `--multicluster MODE` (also used by `mspack new`).
#[derive(Clone, Copy, ValueEnum)]
pub enum MulticlusterArg {
    /// One cluster
    Off,
    /// Ambient multicluster: a Service is local to its cluster unless labelled istio.io/global
    Ambient,
    /// Sidecar multi-primary or primary-remote: every Service is mesh-wide already
    Sidecar,
}

impl From<MulticlusterArg> for Multicluster {
    fn from(mode: MulticlusterArg) -> Multicluster {
        match mode {
            MulticlusterArg::Off => Multicluster::Off,
            MulticlusterArg::Ambient => Multicluster::Ambient,
            MulticlusterArg::Sidecar => Multicluster::Sidecar,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum ColorArg {
    Auto,
    Always,
    Never,
}

#[derive(Args)]
pub struct LintArgs {
    /// Files and directories to lint (directories: every *.yaml/*.yml, recursively); `-` reads stdin
    #[arg(required = true)]
    paths: Vec<String>,
    /// Output format
    #[arg(long, value_enum, default_value = "text")]
    format: FormatArg,
    /// Exit 1 when a finding is at or above this severity
    #[arg(long, value_enum)]
    fail_on: Option<SeverityArg>,
    /// Only run these rules (comma-separated codes, names, code prefixes or Istio analyzers)
    #[arg(long, value_delimiter = ',')]
    select: Vec<String>,
    /// Also run these rules, on top of --select or the default set (e.g. `MSP2`, the workload
    /// hygiene rules, which are off by default)
    #[arg(long, value_delimiter = ',')]
    extend_select: Vec<String>,
    /// Never report these rules (comma-separated codes, names, code prefixes or Istio analyzers)
    #[arg(long, value_delimiter = ',')]
    ignore: Vec<String>,
    /// Apply machine-applicable fixes to the files in place, then report what remains
    #[arg(long)]
    fix: bool,
    /// Istio MeshConfig YAML, merged over Istio's defaults (as `istioctl analyze --meshConfigFile`)
    #[arg(long, value_name = "FILE")]
    mesh_config: Option<PathBuf>,
    /// Istio MeshNetworks YAML
    #[arg(long, value_name = "FILE")]
    mesh_networks: Option<PathBuf>,
    /// CRDs (YAML, e.g. Istio's crd-all.gen.yaml, or a JSON schema bundle) to validate custom resources against; repeatable
    #[arg(long, value_name = "FILE")]
    crds: Vec<PathBuf>,
    /// OTLP JSON export of spans (the Collector's file exporter), for the graph rules that
    /// compare the manifests with what ran (MSP508, MSP509; enable them with --extend-select)
    #[arg(long, value_name = "FILE")]
    traces: Option<PathBuf>,
    /// How the mesh spans clusters: ambient (Services need istio.io/global: MSP103) or sidecar
    /// (Services are mesh-wide already)
    #[arg(long, value_enum, value_name = "MODE")]
    multicluster: Option<MulticlusterArg>,
    /// Do not assume Istio's default ingress gateway (Pod and Service in the root namespace)
    #[arg(long)]
    no_istio_defaults: bool,
    /// Kubernetes cluster domain used for FQDNs
    #[arg(long, value_name = "DOMAIN")]
    cluster_domain: Option<String>,
    /// Namespace assumed for resources whose YAML names none (default: one unknown namespace;
    /// a kustomization.yaml's `namespace:` applies to the files it lists)
    #[arg(long, value_name = "NS")]
    default_namespace: Option<String>,
    /// Use this config file instead of searching for .mspack.toml
    #[arg(long, value_name = "FILE", conflicts_with = "no_config")]
    config: Option<PathBuf>,
    /// Ignore any .mspack.toml
    #[arg(long)]
    no_config: bool,
    /// Colour in text output
    #[arg(long, value_enum, default_value = "auto")]
    color: ColorArg,
    /// Report only findings not recorded in this baseline file (JSON; see --update-baseline)
    #[arg(long, value_name = "FILE")]
    baseline: Option<PathBuf>,
    /// Record today's findings in the --baseline file (created or replaced), then exit 0
    #[arg(long, requires = "baseline")]
    update_baseline: bool,
}

/// Options from `--config`/`--no-config` or the discovered `.mspack.toml`, and the severity
/// that fails the run (the config's `fail-on`, else warning).
pub(crate) fn configured_options(
    config: &Option<PathBuf>,
    no_config: bool,
) -> Result<(LintOptions, Severity)> {
    let mut options = LintOptions::default();
    let config_path = match (config, no_config) {
        (Some(path), _) => Some(path.clone()),
        (None, true) => None,
        (None, false) => {
            let cwd = std::env::current_dir().context("reading the working directory")?;
            ConfigFile::discover(&cwd)
        }
    };
    let mut fail_on = Severity::Warning;
    if let Some(path) = config_path {
        let config = ConfigFile::load(&path)?;
        config.apply(&mut options);
        if let Some(level) = config.fail_on() {
            fail_on = level;
        }
    }
    Ok((options, fail_on))
}

pub fn run(args: LintArgs) -> Result<ExitCode> {
    let (mut options, mut fail_on) = configured_options(&args.config, args.no_config)?;
    options.select.extend(args.select.iter().cloned());
    options
        .extend_select
        .extend(args.extend_select.iter().cloned());
    options.ignore.extend(args.ignore.iter().cloned());
    if let Some(path) = args.mesh_config {
        options.mesh_config = Some(path);
    }
    if let Some(path) = args.mesh_networks {
        options.mesh_networks = Some(path);
    }
    options.crds.extend(args.crds.iter().cloned());
    if let Some(path) = &args.traces {
        options.traces = Some(path.clone());
    }
    if args.no_istio_defaults {
        options.istio_defaults = false;
    }
    if let Some(mode) = args.multicluster {
        options.multicluster = mode.into();
    }
    if let Some(domain) = args.cluster_domain {
        if domain.is_empty() || domain.starts_with('.') || domain.ends_with('.') {
            bail!("--cluster-domain {domain:?} is not a DNS domain");
        }
        options.cluster_domain = domain;
    }
    if let Some(ns) = args.default_namespace {
        options.default_namespace = Some(ns);
    }
    if let Some(level) = args.fail_on {
        fail_on = match level {
            SeverityArg::Info => Severity::Info,
            SeverityArg::Warning => Severity::Warning,
            SeverityArg::Error => Severity::Error,
        };
    }
    if args.fix && args.paths.iter().any(|p| p == "-") {
        bail!("--fix cannot rewrite stdin; pass file paths");
    }

    let inputs = load_inputs(&args.paths, &options.limits)?;
    let mut report = lint_inputs(inputs, &options)?;
    if args.fix {
        // A fix can make room for another (two entries added to one new mapping): a few
        // rounds, each on the re-linted files, until nothing more applies.
        let (mut edits, mut files, mut refused) = (0, 0, 0);
        for _ in 0..MAX_FIX_ROUNDS {
            let outcome = apply_fixes(&report.findings).context("writing fixes")?;
            refused = outcome.refused;
            if outcome.edits == 0 {
                break;
            }
            edits += outcome.edits;
            files = files.max(outcome.files);
            let inputs = load_inputs(&args.paths, &options.limits)?;
            report = lint_inputs(inputs, &options)?;
        }
        if refused > 0 {
            eprintln!(
                "left {} fix{} unapplied: the edited file would not parse to the same documents with only the intended change",
                refused,
                if refused == 1 { "" } else { "es" }
            );
        }
        if edits > 0 {
            eprintln!(
                "fixed {} finding{} in {} file{}",
                edits,
                if edits == 1 { "" } else { "s" },
                files,
                if files == 1 { "" } else { "s" }
            );
        }
    }

    if let Some(path) = &args.baseline {
        if args.update_baseline {
            let baseline = Baseline::of(&report.findings);
            std::fs::write(path, baseline.to_json())
                .with_context(|| format!("writing {}", path.display()))?;
            eprintln!(
                "recorded {} finding{} in {}",
                report.findings.len(),
                if report.findings.len() == 1 { "" } else { "s" },
                path.display()
            );
            return Ok(if report.unloadable > 0 {
                ExitCode::from(crate::EXIT_USAGE)
            } else {
                ExitCode::SUCCESS
            });
        }
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "reading the baseline {} (create it with --update-baseline)",
                path.display()
            )
        })?;
        let baseline =
            Baseline::parse(&text).with_context(|| format!("reading {}", path.display()))?;
        let (new, hidden) = baseline.new_findings(std::mem::take(&mut report.findings));
        report.findings = new;
        if hidden > 0 {
            eprintln!(
                "{hidden} finding{} recorded in {} not shown",
                if hidden == 1 { "" } else { "s" },
                path.display()
            );
        }
    }

    Ok(print_report(report, args.format, args.color, fail_on))
}

/// Print `report` in `format` and give the exit code: 2 when a file could not be read or
/// parsed, 1 when a finding is at or above `fail_on`, else 0.
pub(crate) fn print_report(
    report: mspack_lint::Report,
    format: FormatArg,
    color: ColorArg,
    fail_on: Severity,
) -> ExitCode {
    let format = match format {
        FormatArg::Text => Format::Text,
        FormatArg::Json => Format::Json,
        FormatArg::Sarif => Format::Sarif,
        FormatArg::Github => Format::Github,
    };
    let color = match color {
        ColorArg::Always => true,
        ColorArg::Never => false,
        ColorArg::Auto => std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    if std::env::var_os("MSPACK_TIMINGS").is_some() {
        for (phase, time) in &report.timings {
            eprintln!(
                "mspack timings: {phase}: {:.1} ms",
                time.as_secs_f64() * 1e3
            );
        }
    }
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    // A closed pipe (`mspack lint . | head`) is not an error worth a message.
    let _ = if format == Format::Json {
        // Streamed: a large report is never held as one string.
        write_json(&report, &mut stdout)
    } else {
        stdout.write_all(render(&report, format, color).as_bytes())
    };
    let _ = stdout.flush();
    let code = if report.unloadable > 0 {
        // Everything else was reported; a file that could not be read or parsed is an I/O error.
        ExitCode::from(crate::EXIT_USAGE)
    } else if report.fails(fail_on) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    };
    // The process ends next: the operating system reclaims the trees at once, where freeing
    // them node by node costs up to a tenth of a large run.
    std::mem::forget(report);
    code
}
