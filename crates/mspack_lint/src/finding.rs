//! Findings: what a rule reports, where, and how to fix it.

use std::collections::HashSet;
use std::sync::Arc;

use mspack_yaml::{Node, SourceFile, Span};
use serde::{Deserialize, Serialize};

use crate::resource::Resource;
use crate::rule::Rule;

/// How serious a finding is. Ordered: `Info < Warning < Error`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }

    pub fn parse(text: &str) -> Option<Severity> {
        match text.to_ascii_lowercase().as_str() {
            "info" => Some(Severity::Info),
            "warning" | "warn" => Some(Severity::Warning),
            "error" => Some(Severity::Error),
            _ => None,
        }
    }
}

/// Whether a fix can be applied without a human looking at it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Applicability {
    /// Applying it keeps the behaviour and removes the finding; `mspack lint --fix` applies it.
    MachineApplicable,
    /// Probably right, but it rests on an assumption the help names; not applied by `--fix`.
    MaybeIncorrect,
}

/// One replacement in the finding's file, and the change to the document it is meant to make.
#[derive(Clone, Debug, PartialEq)]
pub struct Edit {
    pub span: Span,
    pub replacement: String,
    /// Checked after re-parsing the edited file: `--fix` applies the edit only when the documents
    /// differ from the original by exactly this.
    pub intent: crate::fix::Intent,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Fix {
    pub message: String,
    pub applicability: Applicability,
    pub edits: Vec<Edit>,
}

/// One problem found by one rule.
#[derive(Clone, Debug)]
pub struct Finding {
    pub rule: &'static Rule,
    pub severity: Severity,
    pub message: String,
    /// `Kind namespace/name` of the resource, when the finding is about one.
    pub resource: Option<String>,
    pub(crate) resource_id: Option<usize>,
    pub file: Option<Arc<SourceFile>>,
    pub span: Option<Span>,
    pub help: Option<String>,
    pub fix: Option<Fix>,
}

impl Finding {
    pub fn new(rule: &'static Rule, message: impl Into<String>) -> Finding {
        Finding {
            rule,
            severity: rule.severity,
            message: message.into(),
            resource: None,
            resource_id: None,
            file: None,
            span: None,
            help: None,
            fix: None,
        }
    }

    pub fn help(&mut self, help: impl Into<String>) -> &mut Finding {
        self.help = Some(help.into());
        self
    }

    pub fn fix(&mut self, fix: Fix) -> &mut Finding {
        self.fix = Some(fix);
        self
    }

    pub fn severity(&mut self, severity: Severity) -> &mut Finding {
        self.severity = severity;
        self
    }

    /// The path of the file as the user gave it.
    pub fn path(&self) -> Option<&str> {
        self.file.as_deref().map(|f| f.path.as_str())
    }

    pub fn code(&self) -> &'static str {
        self.rule.code
    }
}

/// The findings of one rule run; rules call [`Findings::report`].
pub struct Findings {
    rule: &'static Rule,
    items: Vec<Finding>,
}

impl Findings {
    pub fn new(rule: &'static Rule) -> Findings {
        Findings {
            rule,
            items: Vec::new(),
        }
    }

    /// Report a problem on `resource`, pointing at `node`.
    pub fn report(
        &mut self,
        resource: &Resource,
        node: &Node,
        message: impl Into<String>,
    ) -> &mut Finding {
        self.report_span(resource, node.span, message)
    }

    /// Report a finding of `rule` (one of the rules of the pass that runs), on `resource`, at
    /// `node`.
    pub fn report_as(
        &mut self,
        rule: &'static Rule,
        resource: &Resource,
        node: &Node,
        message: impl Into<String>,
    ) -> &mut Finding {
        let finding = self.report(resource, node, message);
        finding.rule = rule;
        finding.severity = rule.severity;
        finding
    }

    /// [`Findings::report`] with the position already taken from the node.
    pub fn report_span(
        &mut self,
        resource: &Resource,
        span: Span,
        message: impl Into<String>,
    ) -> &mut Finding {
        let mut finding = Finding::new(self.rule, message);
        finding.resource = Some(resource.display_name());
        finding.resource_id = Some(resource.id);
        finding.file = Some(resource.file.clone());
        finding.span = Some(span);
        self.push(finding)
    }

    /// Report a problem that belongs to a file position rather than a resource.
    pub fn report_at(
        &mut self,
        file: &Arc<SourceFile>,
        span: Span,
        message: impl Into<String>,
    ) -> &mut Finding {
        let mut finding = Finding::new(self.rule, message);
        finding.file = Some(file.clone());
        finding.span = Some(span);
        self.push(finding)
    }

    /// Report a problem with a whole file (one that could not be read), at no position.
    pub fn report_file(
        &mut self,
        file: &Arc<SourceFile>,
        message: impl Into<String>,
    ) -> &mut Finding {
        let mut finding = Finding::new(self.rule, message);
        finding.file = Some(file.clone());
        self.push(finding)
    }

    /// Report a problem on an object that is no document of the inputs but has a name of its own
    /// (Istio's `MeshNetworks istio-system/meshnetworks`, read from the mesh networks file), at a
    /// position in `file`.
    pub fn report_named(
        &mut self,
        resource: impl Into<String>,
        file: &Arc<SourceFile>,
        span: Span,
        message: impl Into<String>,
    ) -> &mut Finding {
        let finding = self.report_at(file, span, message);
        finding.resource = Some(resource.into());
        finding
    }

    pub fn push(&mut self, finding: Finding) -> &mut Finding {
        self.items.push(finding);
        let last = self.items.len() - 1;
        &mut self.items[last]
    }

    pub fn into_vec(self) -> Vec<Finding> {
        self.items
    }
}

/// One problem found by an analysis that reports several rules (one rule per code, as Istio
/// splits a multi-message analyzer), with the rule it is reported as.
pub struct Issue<'a> {
    pub rule: &'static Rule,
    pub resource: &'a Resource,
    pub node: &'a Node,
    pub message: String,
    pub help: Option<String>,
}

impl<'a> Issue<'a> {
    pub fn new(
        rule: &'static Rule,
        resource: &'a Resource,
        node: &'a Node,
        message: impl Into<String>,
    ) -> Issue<'a> {
        Issue {
            rule,
            resource,
            node,
            message: message.into(),
            help: None,
        }
    }

    pub fn help(mut self, help: impl Into<String>) -> Issue<'a> {
        self.help = Some(help.into());
        self
    }
}

/// Report each issue as its rule.
pub fn report_issues(out: &mut Findings, issues: Vec<Issue<'_>>) {
    for issue in issues {
        let finding = out.report_as(issue.rule, issue.resource, issue.node, issue.message);
        if let Some(help) = issue.help {
            finding.help(help);
        }
    }
}

/// The line of a scalar node, as Istio's field map records it (it records scalar leaves only).
/// Istio folds identical messages on one resource unless they point at different lines.
pub fn scalar_line(node: Option<&Node>) -> Option<u32> {
    node.filter(|n| n.scalar().is_some())
        .map(|n| n.span.start.line)
}

/// Remembers which (resource, message) pairs were reported, so a repeat can be skipped (Istio
/// drops a message that repeats another word for word on the same resource).
#[derive(Default)]
pub struct Seen(HashSet<(usize, String)>);

impl Seen {
    /// `true` the first time a pair is seen.
    pub fn first(&mut self, resource: &Resource, message: &str) -> bool {
        self.0.insert((resource.id, message.to_string()))
    }
}

/// Most items a message lists; the rest are counted (`and 12 more`), so a message about many
/// resources that share something stays short and the output grows linearly, not quadratically.
pub const MAX_LISTED: usize = 8;

/// `a, b, c`, or the first [`MAX_LISTED`] items and `and N more`.
pub fn listed<S: AsRef<str>>(items: &[S]) -> String {
    let shown: Vec<&str> = items.iter().take(MAX_LISTED).map(AsRef::as_ref).collect();
    let text = shown.join(", ");
    match items.len().saturating_sub(MAX_LISTED) {
        0 => text,
        more => format!("{text} and {more} more"),
    }
}

/// Sorted, quoted names for messages: `"a", "b"` (at most [`MAX_LISTED`], then `and N more`).
pub fn quoted_names<'r>(resources: impl IntoIterator<Item = &'r Resource>) -> String {
    let mut names: Vec<&str> = resources.into_iter().map(|r| r.name.as_str()).collect();
    names.sort_unstable();
    listed(&names.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>())
}
