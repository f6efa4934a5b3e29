//! `mspack skill install|uninstall|files`: put the pack where a coding agent reads skills.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use mspack_pack::{Action, Agent, SKILL_NAME, files, install, plan_install, uninstall};

#[derive(Subcommand)]
pub enum SkillCommand {
    /// Install the pack into an agent's skills folder
    Install(Target),
    /// Remove what `skill install` wrote (files you changed are kept)
    Uninstall(Target),
    /// List the files of the pack
    Files,
}

#[derive(Clone, Copy, ValueEnum)]
enum AgentArg {
    Claude,
    Cursor,
    Copilot,
    Gemini,
    Windsurf,
}

#[derive(Args)]
pub struct Target {
    /// Which agent's skills folder
    #[arg(long, value_enum, default_value = "claude")]
    agent: AgentArg,
    /// Use the project's folder (e.g. ./.claude/skills) instead of the user's (~/.claude/skills)
    #[arg(long)]
    project: bool,
    /// Install into DIR/microservices-pack instead of the agent's folder
    #[arg(long, value_name = "DIR", conflicts_with = "project")]
    dir: Option<PathBuf>,
    /// Show what would change; write nothing
    #[arg(long)]
    dry_run: bool,
    /// Overwrite (or remove) files you changed
    #[arg(long)]
    force: bool,
}

impl Target {
    fn skill_dir(&self) -> Result<PathBuf> {
        let agent = match self.agent {
            AgentArg::Claude => Agent::Claude,
            AgentArg::Cursor => Agent::Cursor,
            AgentArg::Copilot => Agent::Copilot,
            AgentArg::Gemini => Agent::Gemini,
            AgentArg::Windsurf => Agent::Windsurf,
        };
        if let Some(dir) = &self.dir {
            return Ok(dir.join(SKILL_NAME));
        }
        let project = std::env::current_dir().context("reading the working directory")?;
        let home = match std::env::var_os("HOME") {
            Some(h) if !h.is_empty() => PathBuf::from(h),
            _ if self.project => project.clone(),
            _ => bail!("HOME is not set; pass --dir or --project"),
        };
        Ok(agent
            .skills_dir(self.project, &home, &project)
            .join(SKILL_NAME))
    }
}

pub fn run(command: SkillCommand) -> Result<ExitCode> {
    match command {
        SkillCommand::Files => {
            for f in files() {
                println!("{:>7}  {}", f.contents.len(), f.path);
            }
            Ok(ExitCode::SUCCESS)
        }
        SkillCommand::Install(target) => {
            let dir = target.skill_dir()?;
            let plan = plan_install(&dir)?;
            for (file, action) in &plan.steps {
                let label = match action {
                    Action::Create => "create",
                    Action::Update => "update",
                    Action::Unchanged => "unchanged",
                    Action::Conflict if target.force => "overwrite",
                    Action::Conflict => "CONFLICT",
                };
                if *action != Action::Unchanged || target.dry_run {
                    println!("{label:>9}  {}", dir.join(file.path).display());
                }
            }
            if target.dry_run {
                println!("dry run: nothing written");
                return Ok(ExitCode::SUCCESS);
            }
            install(&plan, target.force)?;
            println!(
                "installed {} files into {} ({} created, {} updated, {} unchanged)",
                plan.steps.len(),
                dir.display(),
                plan.count(Action::Create),
                plan.count(Action::Update) + plan.count(Action::Conflict),
                plan.count(Action::Unchanged)
            );
            Ok(ExitCode::SUCCESS)
        }
        SkillCommand::Uninstall(target) => {
            let dir = target.skill_dir()?;
            let report = uninstall(&dir, target.force, target.dry_run)?;
            for path in &report.removed {
                println!("   remove  {}", dir.join(path).display());
            }
            for path in &report.kept {
                println!(
                    "     keep  {} (changed since install; --force removes it)",
                    dir.join(path).display()
                );
            }
            if target.dry_run {
                println!("dry run: nothing removed");
            } else {
                println!(
                    "removed {} files from {}",
                    report.removed.len(),
                    dir.display()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
