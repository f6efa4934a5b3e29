//! Workloads and label selectors: the Pods and pod templates of a run with their labels, label
//! selectors (`matchLabels` and `matchExpressions`), the index that finds the workloads a selector
//! picks without scanning them all (built once per run and kept in the [`Workspace`]), and
//! Istio's tests for a workload with a sidecar or in ambient mode.
//!
//! Workloads are Pods and the pod templates of controllers (Deployment, StatefulSet, ...); Istio's
//! analyzers read Pods only, so with Pods as input the results are the same.

use std::collections::{BTreeMap, HashMap};

use mspack_yaml::Node;

use crate::fast_map::FastMap;
use crate::resource::{Kind, Resource};
use crate::workspace::Workspace;

/// Namespace label that turns sidecar injection on (`enabled`) or off.
pub const INJECTION_LABEL: &str = "istio-injection";
/// Namespace/pod label naming the control-plane revision that injects.
pub const REVISION_LABEL: &str = "istio.io/rev";
/// Namespace label that puts workloads in ambient mode.
pub const DATAPLANE_MODE_LABEL: &str = "istio.io/dataplane-mode";
/// Pod label (and legacy annotation) that overrides injection for one workload.
pub const SIDECAR_INJECT: &str = "sidecar.istio.io/inject";
/// Name of the injected proxy container.
pub const PROXY_CONTAINER: &str = "istio-proxy";
/// Pod annotation istio-cni sets on Pods whose traffic is redirected to ztunnel.
pub const AMBIENT_REDIRECTION: &str = "ambient.istio.io/redirection";

/// Labels of one object, or the labels an equality selector asks for, by key.
pub type Labels = BTreeMap<String, String>;

/// How [`read_labels_as`] reads a value that is not a plain string. Kubernetes rejects a mapping
/// or list as a label value and reads a null as the empty string; the rules keep the readings they
/// were written and tested with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Values {
    /// Scalars as written (`true`, `8080`, `~`); a mapping or list value is left out.
    AsWritten,
    /// As written, but a null (`~`, `null`) reads as the empty string.
    NullAsEmpty,
    /// As written, but a mapping or list value reads as the empty string.
    OtherAsEmpty,
}

/// Read a `key: value` label map (labels, annotations, an equality selector): a later duplicate
/// key wins, as Kubernetes reads it; scalar values as written, others left out. Anything but a
/// mapping reads as empty.
pub fn read_labels(node: Option<&Node>) -> Labels {
    read_labels_as(node, Values::AsWritten)
}

/// [`read_labels`] with another reading of odd values.
pub fn read_labels_as(node: Option<&Node>, values: Values) -> Labels {
    let mut out = Labels::new();
    for (key, _, value) in node.into_iter().flat_map(Node::entries) {
        let text = match (value.scalar(), values) {
            (Some(s), Values::NullAsEmpty) if s.is_null() => String::new(),
            (Some(s), _) => s.text.to_string(),
            (None, Values::OtherAsEmpty) => String::new(),
            (None, _) => continue,
        };
        out.insert(key.to_string(), text);
    }
    out
}

/// The value of one label.
pub fn label<'a>(labels: &'a Labels, key: &str) -> Option<&'a str> {
    labels.get(key).map(String::as_str)
}

/// A label selector: labels a workload must carry with the given values (`matchLabels`, or the
/// `key: value` selector of an Istio resource) and `matchExpressions`. The empty selector matches
/// everything; one the API server would reject matches nothing.
#[derive(Clone, Debug, Default)]
pub struct Selector {
    labels: Labels,
    expressions: Vec<Expression>,
    invalid: bool,
}

/// One `matchExpressions` requirement.
#[derive(Clone, Debug)]
enum Expression {
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

impl Expression {
    fn matches(&self, labels: &Labels) -> bool {
        match self {
            Expression::In(k, values) => {
                label(labels, k).is_some_and(|v| values.iter().any(|x| x == v))
            }
            Expression::NotIn(k, values) => {
                label(labels, k).is_none_or(|v| !values.iter().any(|x| x == v))
            }
            Expression::Exists(k) => labels.contains_key(k),
            Expression::DoesNotExist(k) => !labels.contains_key(k),
        }
    }
}

impl Selector {
    /// An equality selector: every label of `labels`, with its value.
    pub fn from_labels(labels: Labels) -> Selector {
        Selector {
            labels,
            ..Selector::default()
        }
    }

    /// An equality selector read from a `key: value` map by [`read_labels_as`].
    pub fn read(node: Option<&Node>, values: Values) -> Selector {
        Selector::from_labels(read_labels_as(node, values))
    }

    /// A `metav1.LabelSelector` as the API machinery reads it, with the API server's validation.
    /// An absent or null selector matches everything, like an empty one.
    pub fn parse(node: Option<&Node>) -> Selector {
        match node.filter(|n| !n.is_null()) {
            None => Selector::default(),
            Some(n) => parse_label_selector(n).unwrap_or(Selector {
                invalid: true,
                ..Selector::default()
            }),
        }
    }

    /// The labels the selector asks for (`matchLabels`).
    pub fn labels(&self) -> &Labels {
        &self.labels
    }

    /// Whether the API server would reject the selector (it then matches nothing).
    pub fn is_invalid(&self) -> bool {
        self.invalid
    }

    /// Whether the selector selects everything (no labels, no expressions).
    pub fn is_empty(&self) -> bool {
        !self.invalid && self.labels.is_empty() && self.expressions.is_empty()
    }

    pub fn matches(&self, labels: &Labels) -> bool {
        !self.invalid
            && self.labels.iter().all(|(k, v)| labels.get(k) == Some(v))
            && self.expressions.iter().all(|e| e.matches(labels))
    }

    /// The labels as Kubernetes prints `SelectorFromSet(labels)`: `k=v` pairs ordered by key,
    /// joined by commas (empty for the empty selector).
    pub fn text(&self) -> String {
        self.labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The labels as Kubernetes prints a `labels.Set`: the `k=v` pairs sorted as text.
    pub fn set_text(&self) -> String {
        let mut pairs: Vec<String> = self
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        pairs.sort();
        pairs.join(",")
    }

    /// Values that a selector node requires or lists for `key` (`matchLabels`, and `In`/`NotIn`
    /// of `matchExpressions`), as written and without validation.
    pub fn values_for(node: Option<&Node>, key: &str) -> Vec<String> {
        let Some(node) = node else { return Vec::new() };
        let mut out: Vec<String> = node
            .get("matchLabels")
            .into_iter()
            .flat_map(Node::entries)
            .filter(|(k, _, _)| *k == key)
            .filter_map(|(_, _, v)| v.scalar().map(|s| s.text.to_string()))
            .collect();
        for expr in node
            .get("matchExpressions")
            .into_iter()
            .flat_map(Node::items)
        {
            if expr.get("key").and_then(Node::as_str) == Some(key) {
                out.extend(
                    expr.get("values")
                        .into_iter()
                        .flat_map(Node::items)
                        .filter_map(|v| v.scalar().map(|s| s.text.to_string())),
                );
            }
        }
        out
    }
}

/// An Istio Gateway's `spec.selector` (null values read as empty), as the gateway analyzers read it.
pub fn gateway_selector(gw: &Resource) -> Selector {
    Selector::read(gw.spec_at(&["selector"]), Values::NullAsEmpty)
}

/// A non-null `metav1.LabelSelector`; `None` when the API server would reject it.
fn parse_label_selector(node: &Node) -> Option<Selector> {
    node.as_map()?;
    let mut out = Selector::default();
    if let Some(ml) = node.get("matchLabels").filter(|n| !n.is_null()) {
        ml.as_map()?;
        for (k, _, v) in ml.entries() {
            let value = v.scalar().map(|s| s.text.to_string())?;
            if !valid_key(k) || !valid_value(&value) {
                return None;
            }
            out.labels.insert(k.to_string(), value);
        }
    }
    if let Some(exprs) = node.get("matchExpressions").filter(|n| !n.is_null()) {
        exprs.as_seq()?;
        for expr in exprs.items() {
            let key = expr.get("key").and_then(Node::as_str).unwrap_or("");
            if !valid_key(key) {
                return None;
            }
            let values: Vec<String> = match expr.get("values").filter(|n| !n.is_null()) {
                None => Vec::new(),
                Some(v) => {
                    v.as_seq()?;
                    v.items()
                        .map(|i| i.scalar().map(|s| s.text.to_string()))
                        .collect::<Option<_>>()?
                }
            };
            let key = key.to_string();
            let expression = match expr.get("operator").and_then(Node::as_str) {
                Some(op @ ("In" | "NotIn")) => {
                    if values.is_empty() || !values.iter().all(|v| valid_value(v)) {
                        return None;
                    }
                    if op == "In" {
                        Expression::In(key, values)
                    } else {
                        Expression::NotIn(key, values)
                    }
                }
                Some(op @ ("Exists" | "DoesNotExist")) => {
                    if !values.is_empty() {
                        return None;
                    }
                    if op == "Exists" {
                        Expression::Exists(key)
                    } else {
                        Expression::DoesNotExist(key)
                    }
                }
                _ => return None,
            };
            out.expressions.push(expression);
        }
    }
    Some(out)
}

/// A label name part: 1-63 alphanumerics, `-`, `_`, `.`, starting and ending alphanumeric.
fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// A label key: `name` or `prefix/name`, the prefix a DNS subdomain.
fn valid_key(key: &str) -> bool {
    match key.split_once('/') {
        None => valid_name(key),
        Some((prefix, name)) => valid_subdomain(prefix) && valid_name(name),
    }
}

fn valid_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|part| {
            let b = part.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        })
}

/// A label value: empty, or a valid name part.
fn valid_value(value: &str) -> bool {
    value.is_empty() || valid_name(value)
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

/// The workloads of a run, indexed by namespace and by label, so that a selector looks only at
/// the workloads carrying the rarest of its labels. [`Workspace::workload_index`] builds it once.
#[derive(Debug, Default)]
pub struct WorkloadIndex {
    workloads: Vec<Workload>,
    by_ns: FastMap<String, Vec<usize>>,
    /// label key -> label value -> workloads, ascending.
    by_label: FastMap<String, FastMap<String, Vec<usize>>>,
}

impl WorkloadIndex {
    /// Index the Pods and pod templates among `resources`.
    pub fn new(resources: &[Resource]) -> WorkloadIndex {
        WorkloadIndex::from_workloads(resources.iter().filter_map(|r| {
            let template = r.pod_template()?;
            Some(Workload {
                resource: r.id,
                ns: r.ns.to_string(),
                labels: read_labels(template.path(&["metadata", "labels"])),
                is_pod: r.kind == Kind::Pod,
            })
        }))
    }

    /// Index workloads (for a rule that matches them by other labels than their own).
    pub fn from_workloads(workloads: impl IntoIterator<Item = Workload>) -> WorkloadIndex {
        let mut index = WorkloadIndex::default();
        for workload in workloads {
            let id = index.workloads.len();
            index.by_ns.entry(workload.ns.clone()).or_default().push(id);
            for (k, v) in &workload.labels {
                index
                    .by_label
                    .entry(k.clone())
                    .or_default()
                    .entry(v.clone())
                    .or_default()
                    .push(id);
            }
            index.workloads.push(workload);
        }
        index
    }

    /// Every workload, in input order.
    pub fn all(&self) -> &[Workload] {
        &self.workloads
    }

    /// Workloads in `ns` (in every namespace for `None`) that `selector` matches, in input order.
    pub fn select<'w, 's>(
        &'w self,
        ns: Option<&'s str>,
        selector: &'s Selector,
    ) -> impl Iterator<Item = &'w Workload> + use<'w, 's> {
        let (scan_all, candidates) = match self.candidates(ns, selector) {
            Some(list) => (0, list),
            None => (self.workloads.len(), &[][..]),
        };
        (0..scan_all)
            .chain(candidates.iter().copied())
            .filter_map(|i| self.workloads.get(i))
            .filter(move |w| ns.is_none_or(|ns| w.ns == ns) && selector.matches(&w.labels))
    }

    /// The shortest list of workloads that holds every match: those of the namespace or of one of
    /// the selector's labels. `None` when nothing narrows the search.
    fn candidates<'w>(&'w self, ns: Option<&str>, selector: &Selector) -> Option<&'w [usize]> {
        let mut best: Option<&'w [usize]> = None;
        let mut consider = |list: Option<&'w Vec<usize>>| {
            let list = list.map_or(&[][..], Vec::as_slice);
            if best.is_none_or(|b| list.len() < b.len()) {
                best = Some(list);
            }
        };
        if let Some(ns) = ns {
            consider(self.by_ns.get(ns));
        }
        for (k, v) in selector.labels() {
            consider(self.by_label.get(k).and_then(|values| values.get(v)));
        }
        best
    }
}

/// Labels of the Namespace object named `name`, if the analysed set has one.
pub fn namespace_labels(ws: &Workspace, name: &str) -> Option<Labels> {
    ws.find(Kind::Namespace, "", name)
        .map(|ns| read_labels(ns.labels()))
}

/// Istio's control-plane test: any `istio` label, or `release: istio`.
pub fn is_istio_control_plane(resource: &Resource) -> bool {
    // As `read_labels` reads them (scalar values only, the last duplicate wins), without
    // building the map: every Service and workload asks.
    let mut istio = false;
    let mut release = None;
    for (key, _, value) in resource.labels().into_iter().flat_map(Node::entries) {
        match (key, value.scalar()) {
            ("istio", Some(_)) => istio = true,
            ("release", Some(s)) => release = Some(s.text.as_str()),
            _ => {}
        }
    }
    istio || release == Some("istio")
}

/// Whether the first `istio-proxy` container among the `lists` (`containers`, `initContainers`)
/// of a pod spec has an image.
pub fn has_proxy_container(spec: Option<&Node>, lists: &[&str]) -> bool {
    lists
        .iter()
        .filter_map(|list| spec.and_then(|s| s.get(list)))
        .flat_map(Node::items)
        .find(|c| c.get("name").and_then(Node::as_str) == Some(PROXY_CONTAINER))
        .and_then(|c| c.get("image").and_then(Node::as_str))
        .is_some_and(|image| !image.is_empty())
}

/// Istio's `inMesh` for a pod template (or Pod) in namespace `ns`: an `istio-proxy` container
/// with an image in one of `container_lists` ([`has_proxy_container`]), else the `sidecar.istio.io/inject` label, else that
/// annotation (each `"true"` to be in), else the `istio-injection: enabled` label of the
/// namespace's Namespace object.
fn in_mesh(ws: &Workspace, template: Option<&Node>, ns: &str, container_lists: &[&str]) -> bool {
    if has_proxy_container(template.and_then(|t| t.get("spec")), container_lists) {
        return true;
    }
    let meta = template.and_then(|t| t.get("metadata"));
    for section in ["labels", "annotations"] {
        if let Some(node) = meta.and_then(|m| m.path(&[section, SIDECAR_INJECT])) {
            return node.scalar().is_some_and(|s| s.text == "true");
        }
    }
    ws.find(Kind::Namespace, "", ns)
        .is_some_and(|n| n.label(INJECTION_LABEL) == Some("enabled"))
}

/// Istio's `DeploymentInMesh`: `in_mesh` for the pod template, its `containers` only.
pub fn deployment_in_mesh(ws: &Workspace, deployment: &Resource) -> bool {
    in_mesh(
        ws,
        deployment.spec_at(&["template"]),
        &deployment.ns,
        &["containers"],
    )
}

/// Istio's `PodInMesh` (a workload with a sidecar): `in_mesh`, the proxy looked for among the
/// `containers` and the `initContainers` (native sidecars).
pub fn workload_in_mesh(ws: &Workspace, w: &Workload) -> bool {
    ws.resources.get(w.resource).is_some_and(|r| {
        in_mesh(
            ws,
            r.pod_template(),
            &w.ns,
            &["containers", "initContainers"],
        )
    })
}

/// Istio's ambient test for a Pod: istio-cni marked its traffic as redirected.
pub fn workload_in_ambient(ws: &Workspace, w: &Workload) -> bool {
    ws.resources
        .get(w.resource)
        .and_then(Resource::pod_template)
        .and_then(|t| t.path(&["metadata", "annotations", AMBIENT_REDIRECTION]))
        .and_then(Node::scalar)
        .is_some_and(|s| s.text == "enabled")
}

/// Istio's ambient test for a namespace: the Namespace object (if any) is labelled
/// `istio.io/dataplane-mode: ambient` and asks for no sidecar injection.
pub fn namespace_in_ambient(ws: &Workspace, ns: &str) -> bool {
    let Some(n) = ws.find(Kind::Namespace, "", ns) else {
        return false;
    };
    if n.label(INJECTION_LABEL) == Some("enabled") {
        return false;
    }
    if n.label(REVISION_LABEL).is_some_and(|v| !v.is_empty()) {
        return false;
    }
    n.label(DATAPLANE_MODE_LABEL) == Some("ambient")
}

/// Whether any Namespace of the input is in ambient mode ([`namespace_in_ambient`]): the
/// ambient rules have nothing to look at otherwise, and skip the walk over every route.
pub fn any_namespace_in_ambient(ws: &Workspace) -> bool {
    ws.of_kind(Kind::Namespace)
        .any(|n| namespace_in_ambient(ws, &n.name))
}

/// How a workload is named in messages: `pod "name"` or `Deployment "name"`.
pub fn workload_display(ws: &Workspace, w: &Workload) -> String {
    match ws.resources.get(w.resource) {
        Some(r) if r.kind == Kind::Pod => format!("pod {:?}", r.name),
        Some(r) => format!("{} {:?}", r.kind_name, r.name),
        None => "a workload".to_string(),
    }
}

/// `namespace "x"` for messages, or `its namespace` when the namespace is empty.
pub fn namespace_phrase(ns: &str) -> String {
    if ns.is_empty() {
        "its namespace".to_string()
    } else {
        format!("namespace {ns:?}")
    }
}

/// Resources grouped by namespace, namespaces in order of first appearance.
pub fn by_namespace<'a>(
    resources: impl IntoIterator<Item = &'a Resource>,
) -> Vec<(&'a str, Vec<&'a Resource>)> {
    let mut groups: Vec<(&str, Vec<&Resource>)> = Vec::new();
    let mut position: HashMap<&str, usize> = HashMap::new();
    for r in resources {
        let i = *position.entry(r.ns.as_str()).or_insert_with(|| {
            groups.push((r.ns.as_str(), Vec::new()));
            groups.len() - 1
        });
        groups[i].1.push(r);
    }
    groups
}

/// What the policies of one kind (Sidecars, Telemetries) select in their own namespace, as
/// Istio's selector analyzers collect it: workloads in order of first selection, each with the
/// policies that select it.
#[derive(Default)]
pub struct Selections<'a> {
    groups: Vec<(&'a Workload, Vec<&'a Resource>)>,
    position: HashMap<usize, usize>,
}

impl<'a> Selections<'a> {
    /// Record the workloads of its namespace that `policy`'s `selector` selects; `false` when it
    /// selects none.
    pub fn add(&mut self, ws: &'a Workspace, policy: &'a Resource, selector: &Selector) -> bool {
        let mut any = false;
        for w in ws.select_workloads(Some(&policy.ns), selector) {
            any = true;
            let i = *self.position.entry(w.resource).or_insert_with(|| {
                self.groups.push((w, Vec::new()));
                self.groups.len() - 1
            });
            self.groups[i].1.push(policy);
        }
        any
    }

    /// Workloads in order of first selection, with the policies selecting each.
    pub fn iter(&self) -> impl Iterator<Item = (&'a Workload, &[&'a Resource])> {
        self.groups
            .iter()
            .map(|(w, policies)| (*w, policies.as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use mspack_yaml::{Limits, SourceFile, parse_file};

    use super::*;

    fn selector(yaml: &str) -> Selector {
        let parsed = parse_file(
            Arc::new(SourceFile::new("s.yaml", yaml)),
            &Limits::default(),
        );
        let root = parsed.documents.into_iter().next().map(|d| d.root);
        Selector::parse(root.as_ref())
    }

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn expressions_follow_the_api_machinery() {
        let s = selector(
            "matchExpressions:\n- {key: istio-injection, operator: NotIn, values: [disabled]}\n- {key: istio.io/rev, operator: DoesNotExist}\n",
        );
        assert!(s.matches(&Labels::new()));
        assert!(s.matches(&labels(&[("istio-injection", "enabled")])));
        assert!(!s.matches(&labels(&[("istio-injection", "disabled")])));
        assert!(!s.matches(&labels(&[("istio.io/rev", "canary")])));
    }

    #[test]
    fn invalid_selectors_match_nothing_and_absent_ones_everything() {
        let none = Labels::new();
        assert!(
            !selector("matchExpressions:\n- {key: a, operator: In, values: []}\n").matches(&none)
        );
        assert!(
            !selector("matchExpressions:\n- {key: a, operator: Gt, values: ['1']}\n")
                .matches(&none)
        );
        assert!(!selector("matchLabels: {'bad key!': x}\n").matches(&none));
        assert!(selector("{}\n").matches(&none));
        assert!(Selector::parse(None).matches(&none));
    }

    #[test]
    fn selector_texts_order_by_key_or_as_text() {
        let s = Selector::from_labels(labels(&[("zone", "a"), ("app", "orders")]));
        assert_eq!(s.text(), "app=orders,zone=a");
        assert_eq!(s.set_text(), "app=orders,zone=a");
        let s = Selector::from_labels(labels(&[("app", "x"), ("app.kubernetes.io/name", "y")]));
        assert_eq!(s.text(), "app=x,app.kubernetes.io/name=y");
        assert_eq!(s.set_text(), "app.kubernetes.io/name=y,app=x");
        assert_eq!(Selector::default().text(), "");
    }

    #[test]
    fn index_narrows_to_the_rarest_label() {
        let yaml = "\
apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: food, labels: {app: orders, version: v1}}\n---\n\
apiVersion: v1\nkind: Pod\nmetadata: {name: b, namespace: food, labels: {app: orders, version: v2}}\n---\n\
apiVersion: v1\nkind: Pod\nmetadata: {name: c, namespace: pay, labels: {app: orders}}\n";
        let parsed = parse_file(
            Arc::new(SourceFile::new("p.yaml", yaml)),
            &Limits::default(),
        );
        let ws = Workspace::build(
            vec![parsed],
            crate::config::LintOptions::default(),
            crate::mesh::MeshConfig::default(),
            None,
        );
        let names = |ns: Option<&str>, pairs: &[(&str, &str)]| -> Vec<String> {
            let s = Selector::from_labels(labels(pairs));
            ws.select_workloads(ns, &s)
                .map(|w| ws.resources[w.resource].name.to_string())
                .collect()
        };
        assert_eq!(names(None, &[("app", "orders")]), ["a", "b", "c"]);
        assert_eq!(names(Some("food"), &[("app", "orders")]), ["a", "b"]);
        assert_eq!(names(None, &[("app", "orders"), ("version", "v2")]), ["b"]);
        assert!(names(None, &[("app", "payments")]).is_empty());
        assert_eq!(names(Some("pay"), &[]), ["c"]);
        assert!(names(Some("none"), &[]).is_empty());
    }
}
