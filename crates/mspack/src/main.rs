//! `mspack`: the Microservices Architecture Pack command line. Each subcommand parses its
//! arguments and calls a library crate; no business logic lives here.

mod graph;
mod lint;
mod new;
mod render;
mod rules;
mod skill;
mod update;

use std::process::ExitCode;

/// mimalloc instead of the system allocator: a lint run builds millions of small tree nodes,
/// and with glibc's malloc a quarter of a large run went to growing its heap and page faults
/// (`scripts/bench-vs-libyaml.sh`: 100k resources 2.32 s -> 1.73 s CPU on one thread).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{CommandFactory, Parser, Subcommand};

/// Exit code for usage and I/O errors (missing path, unreadable file, bad config).
pub const EXIT_USAGE: u8 = 2;

#[derive(Parser)]
#[command(
    name = "mspack",
    version,
    about = "Microservices Architecture Pack: lint, render and scaffold mesh-ready services"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate Istio, Gateway API and Kubernetes YAML offline
    Lint(lint::LintArgs),
    /// Draw the services' dependency graph (mermaid, dot, json, html) or check it (MSP5xx)
    Graph(graph::GraphArgs),
    /// List every lint rule
    Rules(rules::RulesArgs),
    /// Print the documentation of a rule
    Explain(rules::ExplainArgs),
    /// Render a template (mesh-istio, otel-config, deployment-strategy, obi), linted before output
    Render(render::RenderArgs),
    /// Scaffold a Rust service (axum, OpenTelemetry, RFC 9457 errors, Dockerfile, deploy/)
    New(new::NewArgs),
    /// Re-render a service made by `mspack new` with this mspack and merge with your edits
    Update(update::UpdateArgs),
    /// Install the pack (SKILL.md, references, templates, example) for a coding agent
    #[command(subcommand)]
    Skill(skill::SkillCommand),
    /// Print shell completions (bash, zsh, fish, powershell, elvish) to stdout
    Completions {
        /// The shell to complete for
        shell: clap_complete::Shell,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Lint(args) => lint::run(args),
        Command::Graph(args) => graph::run(args),
        Command::Rules(args) => rules::list(args),
        Command::Explain(args) => rules::explain(args),
        Command::Render(args) => render::run(args),
        Command::New(args) => new::run(args),
        Command::Update(args) => update::run(args),
        Command::Skill(command) => skill::run(command),
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "mspack", &mut script);
            // A closed pipe (`mspack completions bash | head`) is not an error worth a panic.
            let _ = std::io::Write::write_all(&mut std::io::stdout(), &script);
            Ok(ExitCode::SUCCESS)
        }
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}
