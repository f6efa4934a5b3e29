use crate::declare_rule;
use crate::finding::Findings;
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// A suppression comment (`# mspack: ignore[MSP101] reason="..." until=2027-03-01`) that is
    /// past its `until=` date, suppresses nothing (none of its rules reports a finding on the line
    /// it covers, while one of them ran), names no rule, or cannot be read (no brackets, no
    /// `reason="..."`, a date not written `YYYY-MM-DD`). A comment alone on its line covers the
    /// next line; a comment after YAML covers its own line.
    ///
    /// ## Why it matters
    /// A suppression is a decision with a reason and, often, a deadline. Past the deadline the
    /// finding it hid is reported again, and this says why. A suppression left behind after the
    /// problem was fixed would silently hide the next problem on that line.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: DestinationRule
    /// metadata: {name: orders, namespace: food}
    /// spec:
    ///   host: orders.food.svc.cluster.local
    ///   exportTo: ["."]  # mspack: ignore[MSP102] reason="moved soon" until=2020-01-01
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: DestinationRule
    /// metadata: {name: orders, namespace: food}
    /// spec:
    ///   host: orders.food.svc.cluster.local
    ///   exportTo: ["."]
    /// ```
    /// Fix what the comment hid and remove it, or extend `until=` when the reason still holds.
    pub static STALE_SUPPRESSION = Rule {
        code: "MSP005",
        name: "stale-suppression",
        severity: Warning,
        summary: "a suppression comment is expired, unused, names no rule or cannot be read",
        mirrors: None,
        check: check,
    };
}

/// Reported after the rules ran, when suppression comments are applied (see `suppress.rs`).
fn check(_: &Workspace, _: &mut Findings) {}
