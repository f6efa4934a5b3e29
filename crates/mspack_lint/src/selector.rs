//! Label selectors and the workloads (Pods and pod templates) they select.

use mspack_yaml::Node;

/// Labels of one object, as (key, value) strings.
pub type Labels = Vec<(String, String)>;

/// Read a `key: value` label map (values as written, booleans and numbers included).
pub fn read_labels(node: Option<&Node>) -> Labels {
    node.map(|n| {
        n.entries()
            .filter_map(|(k, _, v)| v.scalar().map(|s| (k.to_string(), s.text.clone())))
            .collect()
    })
    .unwrap_or_default()
}

/// Does every `key: value` of `selector` appear in `labels`? An empty selector matches everything.
pub fn selector_matches(selector: &Labels, labels: &Labels) -> bool {
    selector
        .iter()
        .all(|(k, v)| labels.iter().any(|(lk, lv)| lk == k && lv == v))
}

/// A workload: a Pod, or the pod template of a Deployment, StatefulSet, DaemonSet, Job, ...
#[derive(Clone, Debug)]
pub struct Workload {
    /// Index of the resource in the workspace.
    pub resource: usize,
    pub ns: String,
    /// Labels of the Pod (or of the pod template).
    pub labels: Labels,
    /// `true` for Pods, `false` for pod templates of controllers.
    pub is_pod: bool,
}
