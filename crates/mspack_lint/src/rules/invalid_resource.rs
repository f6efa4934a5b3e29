use crate::declare_rule;
use crate::finding::Findings;
use crate::workspace::{LoadIssue, Workspace};

declare_rule! {
    /// ## What it checks
    /// A document that has `apiVersion` or `kind` but cannot be read as a Kubernetes object:
    /// one of them is missing or not a string, or a `List`'s `items` is not a sequence.
    ///
    /// ## Why it matters
    /// The API server rejects it, and no other rule can check it, so its mistakes stay hidden.
    /// `--select`/`--ignore` cannot hide this rule.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// metadata: {name: orders}
    /// spec: {hosts: [orders.food.svc.cluster.local]}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: VirtualService
    /// metadata: {name: orders, namespace: food}
    /// spec:
    ///   hosts: [orders.food.svc.cluster.local]
    ///   exportTo: ["."]
    ///   http:
    ///   - route:
    ///     - destination: {host: orders.food.svc.cluster.local}
    /// ```
    pub static INVALID_RESOURCE = Rule {
        code: "MSP002",
        name: "invalid-resource",
        severity: Error,
        summary: "a document looks like a Kubernetes object but lacks a readable apiVersion or kind",
        mirrors: None,
        check: check,
    };
}

/// Report the documents loading could not read as objects (kept as data by `Workspace::build`).
fn check(ws: &Workspace, out: &mut Findings) {
    for issue in &ws.load_issues {
        if let LoadIssue::InvalidResource {
            file,
            span,
            message,
        } = issue
        {
            out.report_at(file, *span, message.clone()).help(
                "a Kubernetes object needs string `apiVersion` and `kind` and a `metadata.name`",
            );
        }
    }
}
