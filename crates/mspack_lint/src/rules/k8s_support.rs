//! Kubernetes reading shared by the workload, injection and webhook rules: full label selectors
//! (`matchLabels` and `matchExpressions`, with the API server's validation), Istio's notion of a
//! Deployment being in the mesh, control-plane objects, and de-duplication of identical findings
//! (Istio drops a message that repeats another word for word on the same resource).

use mspack_yaml::Node;

use crate::resource::{Kind, Resource};
use crate::selector::{Labels, read_labels};
use crate::workspace::Workspace;

/// Namespace label that turns sidecar injection on (`enabled`) or off.
pub const INJECTION_LABEL: &str = "istio-injection";
/// Namespace/pod label naming the control-plane revision that injects.
pub const REVISION_LABEL: &str = "istio.io/rev";
/// Namespace label that puts workloads in ambient mode.
pub const DATAPLANE_MODE_LABEL: &str = "istio.io/dataplane-mode";
/// Pod label (and annotation) that overrides injection for one workload.
pub const SIDECAR_INJECT: &str = "sidecar.istio.io/inject";
/// Name of the injected proxy container.
pub const PROXY_CONTAINER: &str = "istio-proxy";

/// The value of a label in a list read by [`read_labels`] (the first occurrence of the key).
pub fn label<'a>(labels: &'a Labels, key: &str) -> Option<&'a str> {
    labels
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Istio's control-plane test: any `istio` label, or `release: istio`.
pub fn is_istio_control_plane(resource: &Resource) -> bool {
    let labels = read_labels(resource.labels());
    label(&labels, "istio").is_some() || label(&labels, "release") == Some("istio")
}

/// Labels of the Namespace object named `name`, if the analysed set has one.
pub fn namespace_labels(ws: &Workspace, name: &str) -> Option<Labels> {
    ws.find(Kind::Namespace, "", name)
        .map(|ns| read_labels(ns.labels()))
}

/// Whether a container list has an `istio-proxy` container with an image.
pub fn has_proxy_container<'a>(containers: impl IntoIterator<Item = &'a Node>) -> bool {
    containers
        .into_iter()
        .find(|c| c.get("name").and_then(Node::as_str) == Some(PROXY_CONTAINER))
        .and_then(|c| c.get("image").and_then(Node::as_str))
        .is_some_and(|image| !image.is_empty())
}

/// Istio's "is this Deployment in the mesh": a proxy container already in the template, else the
/// template's `sidecar.istio.io/inject` label, else that annotation (each `"true"` to be in), else
/// the namespace's `istio-injection: enabled` label when the Namespace is known.
pub fn deployment_in_mesh(ws: &Workspace, deployment: &Resource) -> bool {
    let Some(template) = deployment.spec_at(&["template"]) else {
        return namespace_injection(ws, &deployment.ns).unwrap_or(false);
    };
    let containers = template.path(&["spec", "containers"]);
    if has_proxy_container(containers.into_iter().flat_map(Node::items)) {
        return true;
    }
    for place in ["labels", "annotations"] {
        let values = read_labels(template.path(&["metadata", place]));
        if let Some(v) = label(&values, SIDECAR_INJECT) {
            return v == "true";
        }
    }
    namespace_injection(ws, &deployment.ns).unwrap_or(false)
}

fn namespace_injection(ws: &Workspace, ns: &str) -> Option<bool> {
    namespace_labels(ws, ns).map(|l| label(&l, INJECTION_LABEL) == Some("enabled"))
}

/// A Kubernetes `IntOrString` as Go prints it: the number, the name, or `0` when absent.
pub fn int_or_string(node: Option<&Node>) -> String {
    node.and_then(Node::as_str).unwrap_or("0").to_string()
}

/// One requirement of a label selector.
#[derive(Debug)]
enum Requirement {
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

/// A `metav1.LabelSelector` as the API machinery reads it. An absent or null selector matches
/// everything, like an empty one; a selector the API would reject matches nothing.
#[derive(Debug)]
pub struct LabelSelector {
    requirements: Option<Vec<Requirement>>,
}

impl LabelSelector {
    pub fn parse(node: Option<&Node>) -> LabelSelector {
        let node = node.filter(|n| !n.is_null());
        LabelSelector {
            requirements: match node {
                None => Some(Vec::new()),
                Some(n) => parse_requirements(n),
            },
        }
    }

    pub fn matches(&self, labels: Option<&Labels>) -> bool {
        let empty = Labels::new();
        let labels = labels.unwrap_or(&empty);
        let Some(requirements) = &self.requirements else {
            return false;
        };
        requirements.iter().all(|r| match r {
            Requirement::In(k, values) => {
                label(labels, k).is_some_and(|v| values.iter().any(|x| x == v))
            }
            Requirement::NotIn(k, values) => {
                label(labels, k).is_none_or(|v| !values.iter().any(|x| x == v))
            }
            Requirement::Exists(k) => label(labels, k).is_some(),
            Requirement::DoesNotExist(k) => label(labels, k).is_none(),
        })
    }

    /// Values that the selector requires or lists for `key` (`matchLabels` and `In`/`NotIn`).
    pub fn values_for(node: Option<&Node>, key: &str) -> Vec<String> {
        let Some(node) = node else { return Vec::new() };
        let mut out: Vec<String> = read_labels(node.get("matchLabels"))
            .into_iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v)
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
                        .filter_map(|v| v.scalar().map(|s| s.text.clone())),
                );
            }
        }
        out
    }
}

fn parse_requirements(node: &Node) -> Option<Vec<Requirement>> {
    node.as_map()?;
    let mut out = Vec::new();
    if let Some(ml) = node.get("matchLabels").filter(|n| !n.is_null()) {
        ml.as_map()?;
        for (k, _, v) in ml.entries() {
            let value = v.scalar().map(|s| s.text.clone())?;
            if !valid_key(k) || !valid_value(&value) {
                return None;
            }
            out.push(Requirement::In(k.to_string(), vec![value]));
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
                        .map(|i| i.scalar().map(|s| s.text.clone()))
                        .collect::<Option<_>>()?
                }
            };
            let key = key.to_string();
            let requirement = match expr.get("operator").and_then(Node::as_str) {
                Some(op @ ("In" | "NotIn")) => {
                    if values.is_empty() || !values.iter().all(|v| valid_value(v)) {
                        return None;
                    }
                    if op == "In" {
                        Requirement::In(key, values)
                    } else {
                        Requirement::NotIn(key, values)
                    }
                }
                Some(op @ ("Exists" | "DoesNotExist")) => {
                    if !values.is_empty() {
                        return None;
                    }
                    if op == "Exists" {
                        Requirement::Exists(key)
                    } else {
                        Requirement::DoesNotExist(key)
                    }
                }
                _ => return None,
            };
            out.push(requirement);
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use mspack_yaml::{Limits, SourceFile, parse_file};

    use super::*;

    fn selector(yaml: &str) -> LabelSelector {
        let parsed = parse_file(
            Arc::new(SourceFile::new("s.yaml", yaml)),
            &Limits::default(),
        );
        let root = parsed.documents.into_iter().next().map(|d| d.root);
        LabelSelector::parse(root.as_ref())
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
        assert!(s.matches(None));
        assert!(s.matches(Some(&labels(&[("istio-injection", "enabled")]))));
        assert!(!s.matches(Some(&labels(&[("istio-injection", "disabled")]))));
        assert!(!s.matches(Some(&labels(&[("istio.io/rev", "canary")]))));
    }

    #[test]
    fn invalid_selectors_match_nothing_and_absent_ones_everything() {
        assert!(
            !selector("matchExpressions:\n- {key: a, operator: In, values: []}\n").matches(None)
        );
        assert!(
            !selector("matchExpressions:\n- {key: a, operator: Gt, values: ['1']}\n").matches(None)
        );
        assert!(!selector("matchLabels: {'bad key!': x}\n").matches(None));
        assert!(selector("{}\n").matches(None));
        assert!(LabelSelector::parse(None).matches(None));
    }
}
