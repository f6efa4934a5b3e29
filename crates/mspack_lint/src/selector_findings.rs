//! Findings shared by the selector analyzers (Sidecar, Telemetry): a selector that matches no
//! workload, and several policies selecting one workload. Kept out of `workloads` (which knows no
//! findings) and out of `rules/` (which holds rules only).

use mspack_yaml::Node;

use crate::finding::{Issue, quoted_names};
use crate::resource::Resource;
use crate::rule::Rule;
use crate::workloads::{Selector, Workload, namespace_phrase, workload_display};
use crate::workspace::Workspace;

/// `rule` (an IST0101) for a policy whose selector (read from `labels_node`) selects no workload of its
/// namespace, pointing at the key of the first label as the selector prints.
pub fn selector_not_found<'a>(
    rule: &'static Rule,
    policy: &'a Resource,
    labels_node: Option<&'a Node>,
    selector: &Selector,
    what: &str,
    help: &str,
) -> Issue<'a> {
    let text = selector.set_text();
    let first_key = text.split('=').next().unwrap_or("");
    let node = labels_node
        .and_then(|l| l.get_entry(first_key).map(|(k, _)| k))
        .or(labels_node)
        .unwrap_or_else(|| policy.anchor());
    let ns = namespace_phrase(&policy.ns);
    Issue::new(
        rule,
        policy,
        node,
        format!("{what} {text:?} matches no workload in {ns}"),
    )
    .help(help)
}

/// `rule` on each of `policies` (`kinds` names them in the message), which all select `w`.
pub fn conflicting_policies<'a>(
    ws: &Workspace,
    rule: &'static Rule,
    kinds: &str,
    w: &Workload,
    policies: &[&'a Resource],
    help: &str,
) -> Vec<Issue<'a>> {
    let names = quoted_names(policies.iter().copied());
    let workload = workload_display(ws, w);
    policies
        .iter()
        .map(|&policy| {
            Issue::new(
                rule,
                policy,
                policy.anchor(),
                format!(
                    "{kinds} {names} in namespace {:?} all select {workload}; which one applies \
                     is undefined",
                    w.ns
                ),
            )
            .help(help)
        })
        .collect()
}
