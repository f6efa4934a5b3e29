//! `mspack render`: validate values, render an embedded template, lint it, print or write it.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;
use mspack_templates::RawValues;

#[derive(Args)]
pub struct RenderArgs {
    /// Template to render (see --list)
    #[arg(required_unless_present = "list")]
    template: Option<String>,
    /// List the templates
    #[arg(long, conflicts_with = "template")]
    list: bool,
    /// Set a value (repeatable); lists are comma-separated: --set callers=shop/web,shop/api
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Read values from a YAML mapping (repeatable; --set wins)
    #[arg(long = "values", short = 'f', value_name = "FILE")]
    values: Vec<PathBuf>,
    /// Write to this file instead of stdout
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// Print the template's values, their defaults and documentation
    #[arg(long)]
    help_values: bool,
}

/// Values from `--values` files, then `--set` assignments.
pub fn raw_values(files: &[PathBuf], assignments: &[String]) -> Result<RawValues> {
    let mut raw = RawValues::new();
    for path in files {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading values file {}", path.display()))?;
        raw.merge_yaml(&path.display().to_string(), &text)?;
    }
    for assignment in assignments {
        raw.set(assignment)?;
    }
    Ok(raw)
}

pub fn run(args: RenderArgs) -> Result<ExitCode> {
    let mut stdout = std::io::stdout().lock();
    if args.list {
        for template in mspack_templates::templates() {
            let _ = writeln!(stdout, "{:<20} {}", template.name, template.summary);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let Some(name) = args.template else {
        bail!("name a template (mspack render --list shows them)");
    };
    if args.help_values {
        let _ = write!(stdout, "{}", mspack_templates::help_values(&name)?);
        return Ok(ExitCode::SUCCESS);
    }
    let raw = raw_values(&args.values, &args.set)?;
    let rendered = mspack_templates::render(&name, &raw)?;
    match args.output {
        Some(path) => std::fs::write(&path, rendered.text)
            .with_context(|| format!("writing {}", path.display()))?,
        None => {
            let _ = stdout.write_all(rendered.text.as_bytes());
        }
    }
    Ok(ExitCode::SUCCESS)
}
