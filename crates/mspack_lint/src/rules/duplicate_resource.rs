use crate::declare_rule;
use crate::finding::Findings;
use crate::workspace::{LoadIssue, Workspace};

declare_rule! {
    /// ## What it checks
    /// The same object (API group, kind, namespace and name) defined more than once in the input:
    /// in two files (tutorial variants, a kustomize base beside its overlay) or twice in one.
    /// Each earlier definition that differs from the last one is reported, pointing at the later
    /// one; an identical copy (the same Namespace in two bundles) is merged silently.
    ///
    /// ## Why it matters
    /// Applied together, the later definition silently replaces the earlier one, so only one of
    /// them reaches the cluster, and which one depends on the order of the files. `istioctl
    /// analyze` keeps the last definition; mspack does the same, so every other rule checks only
    /// the definition that wins (no object "conflicts" with its own copy).
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: v1
    /// kind: Service
    /// metadata: {name: orders, namespace: food}
    /// spec: {ports: [{name: http, port: 80}]}
    /// ---
    /// apiVersion: v1
    /// kind: Service
    /// metadata: {name: orders, namespace: food}
    /// spec: {ports: [{name: http, port: 8080}]}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: v1
    /// kind: Service
    /// metadata: {name: orders, namespace: food}
    /// spec: {ports: [{name: http, port: 8080}]}
    /// ```
    /// Keep one definition (or identical copies), or lint the variants (overlays, alternative tutorials) separately.
    pub static DUPLICATE_RESOURCE = Rule {
        code: "MSP004",
        name: "duplicate-resource",
        severity: Warning,
        summary: "an object is defined more than once; the last definition wins",
        mirrors: None,
        check: check,
    };
}

/// Report each dropped earlier definition (kept as data by `Workspace::build`).
fn check(ws: &Workspace, out: &mut Findings) {
    for issue in &ws.load_issues {
        let LoadIssue::Duplicate {
            file,
            span,
            resource,
            kept,
        } = issue
        else {
            continue;
        };
        let Some(winner) = ws.resources.get(*kept) else {
            continue;
        };
        let at = winner.anchor().span.start;
        let finding = out.report_named(
            resource.clone(),
            file,
            *span,
            format!(
                "{resource} is defined again at {}:{}:{}; the later definition is the one applied",
                winner.file.path, at.line, at.col
            ),
        );
        finding.help("keep one definition, or lint the variants separately");
    }
}
