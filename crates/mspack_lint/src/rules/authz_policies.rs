//! Mirrors Istio's `authz.AuthorizationPoliciesAnalyzer`: source namespaces that match no
//! Namespace, and policies that apply to no workload of the mesh.

use std::collections::{BTreeSet, HashSet};

use mspack_yaml::Node;

use crate::declare_rule;
use crate::finding::{Findings, Issue, report_issues, scalar_line};
use crate::resource::{Kind, Resource};
use crate::workloads::{
    Selector, Values, Workload, namespace_phrase, workload_in_ambient, workload_in_mesh,
};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// Every entry of `rules[].from[].source.namespaces` and `notNamespaces` of an
    /// AuthorizationPolicy, against the Namespace objects of the analysed set. An entry may be
    /// exact (compared ignoring case), a prefix pattern `team-*`, a suffix pattern `*-prod` or
    /// `*`; one that matches no Namespace is reported. With no Namespace objects at all, every
    /// entry is reported, as Istio does.
    /// Kiali: KIA0101 (`authorizationpolicy.source.namespacenotfound`).
    ///
    /// ## Why it matters
    /// A source namespace that does not exist never matches a request: an ALLOW rule naming it
    /// admits nobody, and a DENY rule naming it protects against nothing. Typos in namespace
    /// names therefore turn into outages or into holes, silently.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: v1
    /// kind: Namespace
    /// metadata: {name: orders}
    /// ---
    /// apiVersion: security.istio.io/v1
    /// kind: AuthorizationPolicy
    /// metadata: {name: orders-from-checkout, namespace: orders}
    /// spec:
    ///   action: ALLOW
    ///   rules:
    ///   - from:
    ///     - source:
    ///         namespaces: ["chekout"]
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: v1
    /// kind: Namespace
    /// metadata: {name: orders}
    /// ---
    /// apiVersion: v1
    /// kind: Namespace
    /// metadata: {name: checkout}
    /// ---
    /// apiVersion: security.istio.io/v1
    /// kind: AuthorizationPolicy
    /// metadata: {name: orders-from-checkout, namespace: orders}
    /// spec:
    ///   action: ALLOW
    ///   rules:
    ///   - from:
    ///     - source:
    ///         namespaces: ["checkout"]
    /// ```
    pub static AUTHZ_NAMESPACE_NOT_FOUND = Rule {
        code: "IST0101",
        name: "ReferencedResourceNotFound",
        severity: Error,
        summary: "an AuthorizationPolicy source namespace matches no Namespace",
        mirrors: Some("authz.AuthorizationPoliciesAnalyzer"),
        context: &[Kind::Namespace],
        check: check_namespaces,
    };
}

declare_rule! {
    /// ## What it checks
    /// An AuthorizationPolicy that applies to no workload. A workload counts when it is in the
    /// mesh (an `istio-proxy` container with an image, the `sidecar.istio.io/inject: "true"`
    /// label or annotation, or, without those, a Namespace labelled `istio-injection: enabled`)
    /// or in ambient mode (annotation `ambient.istio.io/redirection: enabled`). A policy in the
    /// root namespace with a `selector` needs such a workload anywhere; one without a selector
    /// there is mesh-wide and always fine. Elsewhere, a policy with a `selector` needs a matching
    /// workload in its namespace, and one without needs any workload in its namespace.
    /// Kiali: KIA0004 (`generic.selector.workloadnotfound`) for AuthorizationPolicies.
    ///
    /// ## Why it matters
    /// A policy that selects nothing enforces nothing: the workloads you meant to protect keep
    /// accepting every request, and nothing in Istio's status tells you so.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: v1
    /// kind: Namespace
    /// metadata:
    ///   name: payments
    ///   labels: {istio-injection: enabled}
    /// ---
    /// apiVersion: v1
    /// kind: Pod
    /// metadata:
    ///   name: ledger
    ///   namespace: payments
    ///   labels: {app: ledger}
    /// ---
    /// apiVersion: security.istio.io/v1
    /// kind: AuthorizationPolicy
    /// metadata: {name: ledger-readers, namespace: payments}
    /// spec:
    ///   selector:
    ///     matchLabels: {app: legder}
    ///   rules:
    ///   - to:
    ///     - operation: {methods: ["GET"]}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: v1
    /// kind: Namespace
    /// metadata:
    ///   name: payments
    ///   labels: {istio-injection: enabled}
    /// ---
    /// apiVersion: v1
    /// kind: Pod
    /// metadata:
    ///   name: ledger
    ///   namespace: payments
    ///   labels: {app: ledger}
    /// ---
    /// apiVersion: security.istio.io/v1
    /// kind: AuthorizationPolicy
    /// metadata: {name: ledger-readers, namespace: payments}
    /// spec:
    ///   selector:
    ///     matchLabels: {app: ledger}
    ///   rules:
    ///   - to:
    ///     - operation: {methods: ["GET"]}
    /// ```
    pub static AUTHZ_NO_MATCHING_WORKLOADS = Rule {
        code: "IST0127",
        name: "NoMatchingWorkloadsFound",
        severity: Warning,
        summary: "an AuthorizationPolicy applies to no workload in the mesh",
        mirrors: Some("authz.AuthorizationPoliciesAnalyzer"),
        context: Kind::WORKLOADS,
        each: check_workloads on &[Kind::AuthorizationPolicy],
    };
}

fn check_namespaces(ws: &Workspace, out: &mut Findings) {
    let namespaces = NamespaceSet::new(ws);
    let mut issues = Vec::new();
    for policy in ws.of_kind(Kind::AuthorizationPolicy) {
        namespace_issues(policy, &namespaces, &mut issues);
    }
    report_issues(out, issues);
}

/// The workloads Istio counts (those with a sidecar or in ambient mode), and their namespaces.
struct Counted {
    resources: HashSet<usize>,
    namespaces: HashSet<String>,
}

impl Counted {
    fn read(ws: &Workspace) -> Counted {
        let resources: HashSet<usize> = ws
            .workloads()
            .iter()
            .filter(|w| workload_in_mesh(ws, w) || workload_in_ambient(ws, w))
            .map(|w| w.resource)
            .collect();
        let namespaces = ws
            .workloads()
            .iter()
            .filter(|w| resources.contains(&w.resource))
            .map(|w| w.ns.to_string())
            .collect();
        Counted {
            resources,
            namespaces,
        }
    }
}

fn check_workloads(ws: &Workspace, policy: &Resource, out: &mut Findings) {
    let counted = ws.shared(|| Counted::read(ws));
    let counts = |w: &Workload| counted.resources.contains(&w.resource);
    let root = ws.root_namespace();
    let selector_node = policy.spec_at(&["selector"]).filter(|n| !n.is_null());
    let problem = match selector_node {
        // Mesh-wide policies in the root namespace: a selector may match anywhere.
        Some(sel) if policy.ns == root => {
            let selector = Selector::read(sel.get("matchLabels"), Values::OtherAsEmpty);
            let found = ws.select_workloads(None, &selector).any(counts);
            (!found).then(|| describe(&selector, "in the mesh"))
        }
        None if policy.ns == root => None,
        Some(sel) => {
            let selector = Selector::read(sel.get("matchLabels"), Values::OtherAsEmpty);
            let found = ws.select_workloads(Some(&policy.ns), &selector).any(counts);
            (!found).then(|| describe(&selector, &format!("in {}", namespace_phrase(&policy.ns))))
        }
        None => {
            let found = counted.namespaces.contains(policy.ns.as_str());
            (!found).then(|| {
                format!(
                    "no workload with a sidecar or in ambient mode runs in {}, so this \
                     namespace-wide policy applies to nothing",
                    namespace_phrase(&policy.ns)
                )
            })
        }
    };
    if let Some(message) = problem {
        let node = selector_node.unwrap_or_else(|| policy.anchor());
        out.report(policy, node, message).help(
            "fix the selector or the namespace; workloads count only when they have an \
             istio-proxy sidecar (or injection is enabled for them) or run in ambient mode",
        );
    }
}

fn describe(selector: &Selector, place: &str) -> String {
    format!(
        "selector {:?} matches no workload with a sidecar or in ambient mode {place}",
        selector.set_text()
    )
}

fn namespace_issues<'a>(
    policy: &'a Resource,
    namespaces: &NamespaceSet,
    issues: &mut Vec<Issue<'a>>,
) {
    // Istio folds identical messages unless they point at different lines; for notNamespaces
    // it looks the line up under `namespaces` at the same index.
    let mut seen: HashSet<(&str, Option<u32>)> = HashSet::new();
    let rules = policy.spec_at(&["rules"]).into_iter().flat_map(Node::items);
    for from in rules.flat_map(|r| r.get("from").into_iter().flat_map(Node::items)) {
        let Some(source) = from.get("source") else {
            continue;
        };
        let positive = source.get("namespaces");
        let lists = [
            ("namespaces", positive),
            ("notNamespaces", source.get("notNamespaces")),
        ];
        for (field, list) in lists {
            for (k, item) in list.into_iter().flat_map(Node::items).enumerate() {
                let Some(expr) = item.as_str() else { continue };
                if namespaces.matches(expr) {
                    continue;
                }
                let line = scalar_line(positive.and_then(|p| p.as_seq()).and_then(|s| s.get(k)));
                if !seen.insert((expr, line)) {
                    continue;
                }
                let message = if namespaces.is_empty() {
                    format!(
                        "source {field} entry {expr:?} matches no namespace: the analysed set \
                         has no Namespace objects"
                    )
                } else {
                    format!("source {field} entry {expr:?} matches no namespace")
                };
                issues.push(
                    Issue::new(&AUTHZ_NAMESPACE_NOT_FOUND, policy, item, message).help(
                        "name an existing namespace (exact, `prefix-*`, `*-suffix` or `*`), or add \
                     its Namespace manifest to the linted files",
                    ),
                );
            }
        }
    }
}

/// Names of the Namespace objects, indexed for Istio's exact (case-insensitive), prefix and
/// suffix namespace patterns.
struct NamespaceSet {
    lowercase: HashSet<String>,
    sorted: BTreeSet<String>,
    reversed: BTreeSet<String>,
}

impl NamespaceSet {
    fn new(ws: &Workspace) -> NamespaceSet {
        let names: Vec<&str> = ws
            .of_kind(Kind::Namespace)
            .map(|n| n.name.as_str())
            .collect();
        NamespaceSet {
            lowercase: names.iter().map(|n| n.to_lowercase()).collect(),
            sorted: names.iter().map(|n| n.to_string()).collect(),
            reversed: names.iter().map(|n| n.chars().rev().collect()).collect(),
        }
    }

    fn is_empty(&self) -> bool {
        self.sorted.is_empty()
    }

    fn matches(&self, expr: &str) -> bool {
        if self.is_empty() {
            return false;
        }
        if expr == "*" {
            return true;
        }
        if let Some(suffix) = expr.strip_prefix('*') {
            let key: String = suffix.chars().rev().collect();
            return has_prefix(&self.reversed, &key);
        }
        if let Some(prefix) = expr.strip_suffix('*') {
            return has_prefix(&self.sorted, prefix);
        }
        self.lowercase.contains(&expr.to_lowercase())
    }
}

/// Does any string of `set` start with `prefix`?
fn has_prefix(set: &BTreeSet<String>, prefix: &str) -> bool {
    set.range::<str, _>((
        std::ops::Bound::Included(prefix),
        std::ops::Bound::Unbounded,
    ))
    .next()
    .is_some_and(|s| s.starts_with(prefix))
}
