use crate::declare_rule;
use crate::finding::Findings;
use crate::workspace::{LoadIssue, Workspace};
use mspack_yaml::{Span, YamlErrorKind};

declare_rule! {
    /// ## What it checks
    /// A file that cannot be read, is not well-formed YAML, is not UTF-8, or exceeds a safety
    /// limit: nesting deeper than 200 levels, aliases expanding to more than 100,000 nodes (an
    /// "alias bomb"), a file larger than 64 MiB, or files past 1 GiB in total. The finding points
    /// at the line and column where reading stopped; documents before that point are still
    /// checked, and the other files too. A mapping that repeats a key is reported too (Kubernetes
    /// refuses it; the first value is the one checked). `--select`/`--ignore` cannot hide this rule,
    /// and a file that cannot be read or parsed makes `mspack lint` exit 2.
    ///
    /// ## Why it matters
    /// `kubectl apply` rejects the whole file, so nothing in it reaches the cluster. An alias bomb
    /// or absurd nesting is how a hostile manifest takes down a CI runner or an admission webhook.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: v1
    /// kind: Service
    /// metadata: {name: orders
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: v1
    /// kind: Service
    /// metadata: {name: orders}
    /// ```
    /// A file that cannot be read (permissions, over a size limit) is reported with its path and
    /// no position.
    pub static INVALID_YAML = Rule {
        code: "MSP001",
        name: "invalid-yaml",
        severity: Error,
        summary: "a file cannot be read, is not well-formed YAML, exceeds a safety limit or repeats a mapping key",
        mirrors: None,
        check: check,
    };
}

/// Report what loading could not read (kept as data by `Workspace::build`).
fn check(ws: &Workspace, out: &mut Findings) {
    for issue in &ws.load_issues {
        match issue {
            LoadIssue::Unreadable { file, message } => {
                out.report_file(file, format!("cannot read {}: {message}", file.path))
                    .help("nothing of this file was checked; make it readable or leave it out");
            }
            LoadIssue::Unparsed { file, error } => {
                let help = match error.kind {
                    YamlErrorKind::Syntax => {
                        "fix the YAML syntax; documents before this one were still checked"
                    }
                    YamlErrorKind::Encoding => {
                        "save the file as UTF-8 (Kubernetes reads nothing else); nothing of it was \
                         checked"
                    }
                    _ => "this input exceeds a safety limit and was not loaded past this point",
                };
                out.report_at(file, Span::point(error.pos), error.message.clone())
                    .help(help);
            }
            LoadIssue::YamlWarning { file, error } => {
                out.report_at(file, Span::point(error.pos), error.message.clone())
                    .help("remove one of the two keys; the first one's value is the one checked");
            }
            _ => {}
        }
    }
}
