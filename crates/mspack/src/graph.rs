//! `mspack graph`: the dependency graph of the manifests (`mspack_lint::graph`), drawn by
//! `mspack_graph`, or checked (`--check`: the MSP5xx rules, printed and exiting as `mspack lint`).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::{Args, ValueEnum};
use mspack_graph::{Format, View, render};
use mspack_lint::graph::Graph;
use mspack_lint::{lint_inputs, load_inputs};

use crate::lint::{ColorArg, FormatArg, configured_options, print_report};

#[derive(Clone, Copy, ValueEnum)]
enum GraphFormat {
    Mermaid,
    Dot,
    Json,
    Html,
}

#[derive(Args)]
pub struct GraphArgs {
    /// Files and directories to read (as `mspack lint`); `-` reads stdin
    #[arg(required = true)]
    paths: Vec<String>,
    /// How to draw the graph (html: one self-contained page with an inline SVG)
    #[arg(long, value_enum, default_value = "mermaid")]
    format: GraphFormat,
    /// Run the MSP5xx rules instead of drawing; exit 1 on findings, 2 on unreadable input
    #[arg(long)]
    check: bool,
    /// Output format of --check (as `mspack lint --format`)
    #[arg(long, value_enum, default_value = "text")]
    output_format: FormatArg,
    /// Only this service (workload name or `namespace/name`) and its neighbours within 2 hops
    #[arg(long, value_name = "SERVICE")]
    focus: Option<String>,
    /// One node per bounded context
    #[arg(long)]
    collapse: bool,
    /// OTLP JSON export of spans (the Collector's file exporter): calls seen in traces are drawn
    /// as `observed` edges with counts and p50/p99, marked when the manifests do not declare them;
    /// --check compares them with the declared graph (MSP508, MSP509)
    #[arg(long, value_name = "FILE")]
    traces: Option<PathBuf>,
    /// Namespace assumed for resources whose YAML names none
    #[arg(long, value_name = "NS")]
    default_namespace: Option<String>,
    /// Use this config file instead of searching for .mspack.toml
    #[arg(long, value_name = "FILE", conflicts_with = "no_config")]
    config: Option<PathBuf>,
    /// Ignore any .mspack.toml
    #[arg(long)]
    no_config: bool,
    /// Colour in --check's text output
    #[arg(long, value_enum, default_value = "auto")]
    color: ColorArg,
}

pub fn run(args: GraphArgs) -> Result<ExitCode> {
    let (mut options, fail_on) = configured_options(&args.config, args.no_config)?;
    if let Some(ns) = args.default_namespace {
        options.default_namespace = Some(ns);
    }
    // The graph rules only, whatever the config selects (its ignores still apply).
    options.select = vec!["MSP5".to_string()];
    options.extend_select.clear();
    // Read once up front: a malformed file is an error (exit 2) before any output.
    let traces = match &args.traces {
        None => None,
        Some(path) => Some(mspack_lint::load_traces(path)?),
    };
    options.traces = args.traces.clone();
    let inputs = load_inputs(&args.paths, &options.limits)?;
    if args.check {
        let report = lint_inputs(inputs, &options)?;
        return Ok(print_report(
            report,
            args.output_format,
            args.color,
            fail_on,
        ));
    }
    let (graph, unloadable) = Graph::from_inputs(&inputs, &options)?;
    if unloadable > 0 {
        // As lint: report what cannot be read, exit 2.
        let report = lint_inputs(inputs, &options)?;
        eprint!(
            "{}",
            mspack_lint::output::render(&report, mspack_lint::output::Format::Text, false)
        );
        return Ok(ExitCode::from(crate::EXIT_USAGE));
    }
    let observed = traces.map(|t| t.calls).unwrap_or_default();
    let report = lint_inputs(inputs, &options)?;
    let view = match View::new(
        &graph,
        &report.findings,
        &observed,
        args.focus.as_deref(),
        args.collapse,
    ) {
        Ok(view) => view,
        Err(message) => bail!(message),
    };
    let format = match args.format {
        GraphFormat::Mermaid => Format::Mermaid,
        GraphFormat::Dot => Format::Dot,
        GraphFormat::Json => Format::Json,
        GraphFormat::Html => Format::Html,
    };
    let mut stdout = std::io::stdout().lock();
    // A closed pipe is not an error worth a message.
    let _ = stdout.write_all(render(&view, format).as_bytes());
    let _ = stdout.flush();
    Ok(ExitCode::SUCCESS)
}
