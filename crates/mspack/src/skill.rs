//! `mspack skill install|uninstall|files`: put the pack where a coding agent reads skills.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use mspack_pack::{
    Action, Agent, InstallPlan, SKILL_NAME, VERSION, files, install, installed_version,
    plan_install_with_binary, uninstall,
};

#[derive(Subcommand)]
pub enum SkillCommand {
    /// Install the pack into an agent's skills folder
    Install(Target),
    /// Remove what `skill install` wrote (files you changed are kept)
    Uninstall(Target),
    /// List the files of the pack
    Files,
    /// Show where the skill is installed, for every agent, and whether each copy is current
    List,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum AgentArg {
    /// Every agent below, and the shared .agents/skills folder
    All,
    /// The shared .agents/skills folder (Agent Skills convention: Gemini CLI, Copilot, Warp, ...)
    Agents,
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
    /// Do not copy this mspack binary into the skill (bin/mspack); the wrappers then run the
    /// mspack on PATH
    #[arg(long)]
    no_binary: bool,
}

impl Target {
    /// The skill folders this command acts on: one, or one per agent with `--agent all`.
    fn skill_dirs(&self) -> Result<Vec<PathBuf>> {
        let agents: Vec<Agent> = match self.agent {
            AgentArg::All => Agent::ALL.to_vec(),
            AgentArg::Agents => vec![Agent::Shared],
            AgentArg::Claude => vec![Agent::Claude],
            AgentArg::Cursor => vec![Agent::Cursor],
            AgentArg::Copilot => vec![Agent::Copilot],
            AgentArg::Gemini => vec![Agent::Gemini],
            AgentArg::Windsurf => vec![Agent::Windsurf],
        };
        if let Some(dir) = &self.dir {
            if self.agent == AgentArg::All {
                bail!("--dir names one folder; use it without --agent all");
            }
            return Ok(vec![dir.join(SKILL_NAME)]);
        }
        let (home, project) = homes(self.project)?;
        Ok(agents
            .into_iter()
            .map(|a| a.skills_dir(self.project, &home, &project).join(SKILL_NAME))
            .collect())
    }
}

/// The user's home and the project folder (the working directory).
fn homes(project_scope: bool) -> Result<(PathBuf, PathBuf)> {
    let project = std::env::current_dir().context("reading the working directory")?;
    let home = match std::env::var_os("HOME") {
        Some(h) if !h.is_empty() => PathBuf::from(h),
        _ if project_scope => project.clone(),
        _ => bail!("HOME is not set; pass --dir or --project"),
    };
    Ok((home, project))
}

/// The bytes of the running binary, which the skill carries as bin/mspack.
fn this_binary() -> Result<std::sync::Arc<[u8]>> {
    let exe = std::env::current_exe().context("finding the running mspack binary")?;
    let bytes = std::fs::read(&exe).with_context(|| format!("reading {}", exe.display()))?;
    Ok(bytes.into())
}

fn action_label(action: Action, force: bool) -> &'static str {
    match action {
        Action::Create => "create",
        Action::Update => "update",
        Action::Unchanged => "unchanged",
        Action::Conflict if force => "overwrite",
        Action::Conflict => "CONFLICT",
    }
}

fn install_one(plan: &InstallPlan, target: &Target) -> Result<()> {
    for (path, action) in plan.actions() {
        if action != Action::Unchanged || target.dry_run {
            println!(
                "{:>9}  {}",
                action_label(action, target.force),
                plan.dir.join(path).display()
            );
        }
    }
    if target.dry_run {
        println!("dry run: nothing written to {}", plan.dir.display());
        return Ok(());
    }
    install(plan, target.force)?;
    println!(
        "installed {} files into {} ({} created, {} updated, {} unchanged)",
        plan.actions().len(),
        plan.dir.display(),
        plan.count(Action::Create),
        plan.count(Action::Update) + plan.count(Action::Conflict),
        plan.count(Action::Unchanged)
    );
    Ok(())
}

/// `mspack skill list`: every agent's user and project folder that holds the skill.
fn list() -> Result<ExitCode> {
    let (home, project) = homes(false)?;
    let binary = this_binary().ok();
    let mut found = 0;
    for project_scope in [false, true] {
        for agent in Agent::ALL {
            let dir = agent
                .skills_dir(project_scope, &home, &project)
                .join(SKILL_NAME);
            if !dir.join("SKILL.md").is_file() {
                continue;
            }
            found += 1;
            let version = installed_version(&dir)?;
            let plan = plan_install_with_binary(&dir, binary.clone())?;
            let stale = plan.count(Action::Update) + plan.count(Action::Create);
            let changed = plan.count(Action::Conflict);
            let state = match (&version, stale, changed) {
                (None, _, _) => "not installed by mspack".to_owned(),
                (Some(v), 0, 0) if v == VERSION => "current".to_owned(),
                (Some(v), stale, 0) => {
                    format!("outdated: {stale} file(s) differ (installed by {v})")
                }
                (Some(_), _, changed) => format!("{changed} file(s) changed by you"),
            };
            println!(
                "{:<8} {:<7} {:<9} {}  {}",
                agent.name(),
                if project_scope { "project" } else { "user" },
                version.as_deref().unwrap_or("-"),
                dir.display(),
                state
            );
        }
    }
    if found == 0 {
        println!("the skill is not installed for any agent (mspack skill install --agent all)");
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run(command: SkillCommand) -> Result<ExitCode> {
    match command {
        SkillCommand::Files => {
            for f in files() {
                println!("{:>7}  {}", f.contents.len(), f.path);
            }
            Ok(ExitCode::SUCCESS)
        }
        SkillCommand::List => list(),
        SkillCommand::Install(target) => {
            let binary = if target.no_binary {
                None
            } else {
                Some(this_binary()?)
            };
            // Plan every folder first: a conflict anywhere writes nothing anywhere.
            let plans = target
                .skill_dirs()?
                .iter()
                .map(|dir| plan_install_with_binary(dir, binary.clone()))
                .collect::<Result<Vec<_>, _>>()?;
            if !target.dry_run {
                for plan in &plans {
                    plan.refuse_conflicts(target.force)?;
                }
            }
            for plan in &plans {
                install_one(plan, &target)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        SkillCommand::Uninstall(target) => {
            for dir in target.skill_dirs()? {
                uninstall_one(&dir, &target)?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn uninstall_one(dir: &std::path::Path, target: &Target) -> Result<()> {
    let report = uninstall(dir, target.force, target.dry_run)?;
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
    Ok(())
}
