//! `mspack rules` and `mspack explain`.

use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Args;
use mspack_lint::rules::ALL;

#[derive(Args)]
pub struct RulesArgs {
    /// Output format: text or json
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    format: String,
}

#[derive(Args)]
pub struct ExplainArgs {
    /// A rule code (MSP101, IST0101), name (short-host-name) or mirrored analyzer
    code: String,
}

pub fn list(args: RulesArgs) -> Result<ExitCode> {
    if args.format == "json" {
        let rules: Vec<_> = ALL
            .iter()
            .map(|r| {
                serde_json::json!({
                    "code": r.code,
                    "name": r.name,
                    "severity": r.severity.as_str(),
                    "summary": r.summary,
                    "mirrors": r.mirrors,
                    "enabled_by_default": r.enabled_by_default,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rules)?);
        return Ok(ExitCode::SUCCESS);
    }
    for r in ALL {
        let off = if r.enabled_by_default {
            ""
        } else {
            " (off by default)"
        };
        let mirrors = r.mirrors.map(|m| format!(" [{m}]")).unwrap_or_default();
        println!(
            "{:<8} {:<7} {:<44} {}{}{}",
            r.code,
            r.severity.as_str(),
            r.name,
            r.summary,
            mirrors,
            off
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn explain(args: ExplainArgs) -> Result<ExitCode> {
    let matching: Vec<_> = ALL
        .iter()
        .filter(|r| r.matches_selector(&args.code) && args.code.len() >= r.code.len().min(5))
        .collect();
    if matching.is_empty() {
        bail!("no rule named {:?} (see `mspack rules`)", args.code);
    }
    for (i, r) in matching.iter().enumerate() {
        if i > 0 {
            println!("\n---\n");
        }
        println!("# {} {}", r.code, r.name);
        println!();
        println!(
            "Severity: {}. {}",
            r.severity.as_str(),
            capitalise(r.summary)
        );
        if let Some(analyzer) = r.mirrors {
            println!("Mirrors Istio's analyzer `{analyzer}`.");
        }
        if !r.context.is_empty() {
            let kinds: Vec<String> = r.context.iter().map(|k| format!("{k:?}")).collect();
            println!(
                "Runs only when the input contains a {} (without one, the input does not model what it looks up).",
                kinds.join(" or ")
            );
        }
        if !r.enabled_by_default {
            println!("Off by default: enable it with `--select {}`.", r.code);
        }
        println!();
        println!("{}", r.documentation());
    }
    Ok(ExitCode::SUCCESS)
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect::<String>() + ".",
        None => String::new(),
    }
}
