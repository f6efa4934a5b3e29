//! Shared support for the rules that mirror Istio's policy analyzers (Sidecar, Telemetry,
//! AuthorizationPolicy selectors): an index of workloads by namespace and label, the mesh and
//! ambient membership tests Istio applies to Pods, and Kubernetes' rendering of a selector.
//!
//! Workloads are Pods and the pod templates of controllers (Deployment, StatefulSet, ...), as
//! [`Workspace::workloads`] lists them; Istio's analyzers read Pods only, so with Pods as input
//! the results are the same.

use std::collections::{HashMap, HashSet};

use mspack_yaml::Node;

use crate::resource::{Kind, Resource};
use crate::selector::{Labels, Workload, selector_matches};
use crate::workspace::Workspace;

/// Pod annotation istio-cni sets on Pods whose traffic is redirected to ztunnel.
pub const AMBIENT_REDIRECTION: &str = "ambient.istio.io/redirection";
/// Namespace label that puts a namespace in ambient mode.
pub const DATAPLANE_MODE: &str = "istio.io/dataplane-mode";
/// Namespace label that enables sidecar injection.
pub const INJECTION_LABEL: &str = "istio-injection";
/// Namespace label that selects a control-plane revision (and so sidecar injection).
pub const REVISION_LABEL: &str = "istio.io/rev";
/// Pod label (or legacy annotation) that turns injection on or off for one workload.
pub const SIDECAR_INJECT: &str = "sidecar.istio.io/inject";

/// Workloads indexed by namespace and by `(key, value)` label pair, built once per rule run, so
/// a selector is matched against the workloads carrying its first label only.
pub struct WorkloadIndex<'a> {
    ws: &'a Workspace,
    by_ns: HashMap<&'a str, Vec<usize>>,
    by_label: HashMap<(&'a str, &'a str), Vec<usize>>,
    by_ns_label: HashMap<(&'a str, &'a str, &'a str), Vec<usize>>,
}

impl<'a> WorkloadIndex<'a> {
    pub fn new(ws: &'a Workspace) -> WorkloadIndex<'a> {
        let mut by_ns: HashMap<&str, Vec<usize>> = HashMap::new();
        let mut by_label: HashMap<(&str, &str), Vec<usize>> = HashMap::new();
        let mut by_ns_label: HashMap<(&str, &str, &str), Vec<usize>> = HashMap::new();
        for (i, w) in ws.workloads().iter().enumerate() {
            by_ns.entry(w.ns.as_str()).or_default().push(i);
            let mut seen = HashSet::new();
            for (k, v) in &w.labels {
                if seen.insert(k.as_str()) {
                    by_label
                        .entry((k.as_str(), v.as_str()))
                        .or_default()
                        .push(i);
                    by_ns_label
                        .entry((w.ns.as_str(), k.as_str(), v.as_str()))
                        .or_default()
                        .push(i);
                }
            }
        }
        WorkloadIndex {
            ws,
            by_ns,
            by_label,
            by_ns_label,
        }
    }

    /// Workloads in `ns` (in every namespace for `None`) that `selector` selects, in input order.
    /// An empty selector selects every workload.
    pub fn select(&self, ns: Option<&str>, selector: &Labels) -> Vec<&'a Workload> {
        let all = self.ws.workloads();
        let candidates: &[usize] = match (selector.first(), ns) {
            (Some((k, v)), Some(ns)) => self
                .by_ns_label
                .get(&(ns, k.as_str(), v.as_str()))
                .map_or(&[], Vec::as_slice),
            (Some((k, v)), None) => self
                .by_label
                .get(&(k.as_str(), v.as_str()))
                .map_or(&[], Vec::as_slice),
            (None, Some(ns)) => self.by_ns.get(ns).map_or(&[], Vec::as_slice),
            (None, None) => return all.iter().collect(),
        };
        candidates
            .iter()
            .map(|&i| &all[i])
            .filter(|w| ns.is_none_or(|ns| w.ns == ns) && selector_matches(selector, &w.labels))
            .collect()
    }
}

/// Read a `key: value` selector map as Kubernetes does: later duplicate keys win, values as text.
pub fn read_selector(node: Option<&Node>) -> Labels {
    let mut out: Labels = Vec::new();
    for (k, _, v) in node.into_iter().flat_map(Node::entries) {
        let value = v.scalar().map(|s| s.text.clone()).unwrap_or_default();
        match out.iter_mut().find(|(key, _)| key == k) {
            Some(slot) => slot.1 = value,
            None => out.push((k.to_string(), value)),
        }
    }
    out
}

/// Kubernetes' text form of a set selector: `k1=v1,k2=v2`, keys sorted.
pub fn selector_text(selector: &[(String, String)]) -> String {
    let mut pairs: Vec<String> = selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
    pairs.sort();
    pairs.join(",")
}

/// The metadata (`labels`, `annotations`) of a workload: the Pod's, or the pod template's.
pub fn workload_meta<'w>(ws: &'w Workspace, w: &Workload) -> Option<&'w Node> {
    ws.resources
        .get(w.resource)
        .and_then(Resource::pod_template)
        .and_then(|t| t.get("metadata"))
}

fn meta_string<'n>(meta: Option<&'n Node>, section: &str, key: &str) -> Option<&'n str> {
    meta.and_then(|m| m.path(&[section, key]))
        .and_then(|n| n.scalar())
        .map(|s| s.text.as_str())
}

/// Istio's ambient test for a Pod: istio-cni marked its traffic as redirected.
pub fn workload_in_ambient(ws: &Workspace, w: &Workload) -> bool {
    meta_string(workload_meta(ws, w), "annotations", AMBIENT_REDIRECTION) == Some("enabled")
}

/// Istio's ambient test for a namespace: the Namespace object (if any) is labelled
/// `istio.io/dataplane-mode: ambient` and asks for no sidecar injection.
pub fn namespace_in_ambient(ws: &Workspace, ns: &str) -> bool {
    let Some(n) = ws.find(Kind::Namespace, "", ns) else {
        return false;
    };
    let label = |key: &str| n.label(key);
    if label(INJECTION_LABEL) == Some("enabled") {
        return false;
    }
    if label(REVISION_LABEL).is_some_and(|v| !v.is_empty()) {
        return false;
    }
    label(DATAPLANE_MODE) == Some("ambient")
}

/// Istio's test for a workload with a sidecar: an `istio-proxy` container with an image, else
/// the workload's `sidecar.istio.io/inject` label, else that annotation, else the
/// `istio-injection` label of its Namespace object.
pub fn workload_in_mesh(ws: &Workspace, w: &Workload) -> bool {
    let Some(resource) = ws.resources.get(w.resource) else {
        return false;
    };
    let template = resource.pod_template();
    let spec = template.and_then(|t| t.get("spec"));
    let has_proxy = ["containers", "initContainers"]
        .into_iter()
        .flat_map(|list| {
            spec.and_then(|s| s.get(list))
                .into_iter()
                .flat_map(Node::items)
        })
        .find(|c| c.get("name").and_then(Node::as_str) == Some("istio-proxy"))
        .and_then(|c| c.get("image"))
        .and_then(Node::as_str)
        .is_some_and(|image| !image.is_empty());
    if has_proxy {
        return true;
    }
    let meta = template.and_then(|t| t.get("metadata"));
    for section in ["labels", "annotations"] {
        if let Some(node) = meta.and_then(|m| m.path(&[section, SIDECAR_INJECT])) {
            return node.scalar().is_some_and(|s| s.text == "true");
        }
    }
    ws.find(Kind::Namespace, "", &w.ns)
        .is_some_and(|n| n.label(INJECTION_LABEL) == Some("enabled"))
}

/// How a workload is named in messages: `pod "name"` or `Deployment "name"`.
pub fn workload_display(ws: &Workspace, w: &Workload) -> String {
    match ws.resources.get(w.resource) {
        Some(r) if r.kind == Kind::Pod => format!("pod {:?}", r.name),
        Some(r) => format!("{} {:?}", r.kind_name, r.name),
        None => "a workload".to_string(),
    }
}
