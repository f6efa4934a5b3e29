use mspack_yaml::Node;

use crate::declare_rule;
use crate::finding::Findings;
use crate::resource::{Kind, Resource};
use crate::workloads::{Selector, Values, read_labels};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// Deployments, StatefulSets, DaemonSets, ReplicaSets, Argo Rollouts, ReplicationControllers
    /// and Jobs with `manualSelector: true` whose `spec.selector` does not select the labels of
    /// their own pod template (`spec.template.metadata.labels`). A missing selector (of a
    /// ReplicationController, which defaults it to the template's labels, or of a Job, which
    /// generates it) and a selector the API server rejects for another reason are not
    /// reported here.
    ///
    /// kube-linter's `mismatching-selector` covers the same ground.
    ///
    /// On by default: Istio's own workloads are checked too, since the API server rejects the
    /// object whoever wrote it.
    ///
    /// ## Why it matters
    /// The API server rejects the object (`selector does not match template labels`): the
    /// whole apply fails. For an Argo Rollout the controller refuses it and creates no pods.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: apps/v1
    /// kind: Deployment
    /// metadata: {name: orders, namespace: food}
    /// spec:
    ///   selector: {matchLabels: {app: orders}}
    ///   template:
    ///     metadata: {labels: {app: order}}
    ///     spec:
    ///       containers:
    ///       - name: orders
    ///         image: food/orders:1.0
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: apps/v1
    /// kind: Deployment
    /// metadata: {name: orders, namespace: food}
    /// spec:
    ///   selector: {matchLabels: {app: orders}}
    ///   template:
    ///     metadata: {labels: {app: orders}}
    ///     spec:
    ///       containers:
    ///       - name: orders
    ///         image: food/orders:1.0
    /// ```
    /// Make the template carry every label the selector asks for (the selector of a
    /// Deployment is immutable: change the template).
    pub static MISMATCHING_SELECTOR = Rule {
        code: "MSP214",
        name: "mismatching-selector",
        severity: Error,
        summary: "a workload's selector does not match its own pod template labels",
        mirrors: None,
        each: check on KINDS,
    };
}

/// Kinds with a label selector, and ReplicationControllers (a plain label map) and Jobs (whose
/// selector Kubernetes writes unless `manualSelector` is set).
const KINDS: &[Kind] = &[
    Kind::Deployment,
    Kind::StatefulSet,
    Kind::DaemonSet,
    Kind::ReplicaSet,
    Kind::Rollout,
    Kind::ReplicationController,
    Kind::Job,
];

fn check(_: &Workspace, r: &Resource, out: &mut Findings) {
    match r.kind {
        Kind::ReplicationController => check_one(r, |n| Selector::read(n, Values::AsWritten), out),
        Kind::Job => {
            if r.spec_at(&["manualSelector"]).and_then(Node::as_bool) == Some(true) {
                check_one(r, Selector::parse, out);
            }
        }
        _ => check_one(r, Selector::parse, out),
    }
}

fn check_one(r: &Resource, read: impl Fn(Option<&Node>) -> Selector, out: &mut Findings) {
    if r.assumed {
        return;
    }
    let Some(node) = r.spec_at(&["selector"]).filter(|n| !n.is_null()) else {
        return;
    };
    let Some(template) = r.pod_template() else {
        return;
    };
    let selector = read(Some(node));
    if selector.is_invalid() || selector.is_empty() {
        return;
    }
    let labels = read_labels(template.path(&["metadata", "labels"]));
    if selector.matches(&labels) {
        return;
    }
    let missing: Vec<String> = selector
        .labels()
        .iter()
        .filter(|(k, v)| labels.get(*k) != Some(*v))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let detail = if missing.is_empty() {
        "its matchExpressions reject the template's labels".to_string()
    } else {
        format!("the template lacks {}", crate::finding::listed(&missing))
    };
    out.report(
        r,
        node,
        format!(
            "{} selector does not select its own pod template ({detail}); the API server \
             rejects the object",
            r.kind_name
        ),
    )
    .help("make `spec.template.metadata.labels` carry every label the selector asks for");
}
