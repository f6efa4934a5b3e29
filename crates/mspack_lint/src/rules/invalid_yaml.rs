use crate::declare_rule;
use crate::finding::Findings;
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// A file that is not well-formed YAML, is not UTF-8, or exceeds a safety limit: nesting
    /// deeper than 200 levels, aliases expanding to more than 100,000 nodes (an "alias bomb"), or
    /// a file larger than 64 MiB. The finding points at the line and column where reading stopped;
    /// documents before that point are still checked, and the other files too.
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
    pub static INVALID_YAML = Rule {
        code: "MSP001",
        name: "invalid-yaml",
        severity: Error,
        summary: "the file is not well-formed YAML or exceeds a safety limit",
        mirrors: None,
        check: check,
    };
}

/// Reported while loading (see `Workspace::build`); nothing to check afterwards.
fn check(_: &Workspace, _: &mut Findings) {}
