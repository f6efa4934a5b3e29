//! Mirrors Istio's `injection.ImageAnalyzer`: Pods whose running `istio-proxy` image is not the
//! one the sidecar injector of their namespace's revision would inject now.
//!
//! The check reads state of a live cluster (the images of already injected Pods) but works on
//! files that carry it: Pod manifests dumped from a cluster and the injector ConfigMap. Ordinary
//! manifests have neither an `istio-sidecar-injector` ConfigMap nor Pods with an `istio-proxy`
//! container, and the rule stays silent on them.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use mspack_yaml::{Limits, Node, SourceFile, parse_file};
use serde_json::Value;

use crate::declare_rule;
use crate::finding::Findings;
use crate::resource::{Kind, Resource};
use crate::workloads::{
    INJECTION_LABEL, Labels, PROXY_CONTAINER, REVISION_LABEL, Selector, Values, read_labels,
};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// Pods in a namespace with sidecar injection on (`istio-injection: enabled`, or any
    /// `istio.io/rev` label) whose `istio-proxy` container (among containers and init
    /// containers) runs another image than the one the injector ConfigMap of that revision
    /// (`istio-sidecar-injector`, or `istio-sidecar-injector-<revision>`) names in its `values`:
    /// `global.proxy.image` when it holds a `/`, else `<global.hub>/<global.proxy.image>:<global.tag>`.
    /// The image with the effective image type as suffix (`-distroless`, from the mesh config's
    /// `defaultConfig.image.imageType`, ProxyConfig resources of the root namespace, of the Pod's
    /// namespace or selecting the Pod, or the Pod's `proxy.istio.io/config` annotation) also
    /// counts as current. Pods with a `sidecar.istio.io/proxyImage` annotation are skipped, and
    /// so are revisions whose injector ConfigMap is not among the inputs. One finding per
    /// namespace lists its Pods.
    ///
    /// The rule needs Pods read from a cluster (`kubectl get pods -o yaml`) and the injector
    /// ConfigMap; on ordinary manifests, where neither is present, it finds nothing.
    ///
    /// ## Why it matters
    /// After the control plane is upgraded, running Pods keep the proxy they were injected with
    /// until they are re-created. Old proxies may miss fixes, features or protocol changes the
    /// new control plane relies on, and a mesh with mixed versions is harder to reason about.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: v1
    /// kind: ConfigMap
    /// metadata: {name: istio-sidecar-injector, namespace: istio-system}
    /// data:
    ///   values: '{"global": {"hub": "docker.io/istio", "tag": "1.24.2", "proxy": {"image": "proxyv2"}}}'
    /// ---
    /// apiVersion: v1
    /// kind: Namespace
    /// metadata: {name: kitchen, labels: {istio-injection: enabled}}
    /// ---
    /// apiVersion: v1
    /// kind: Pod
    /// metadata: {name: oven-7d9f, namespace: kitchen}
    /// spec:
    ///   containers:
    ///   - {name: oven, image: food/oven:1.0}
    ///   - {name: istio-proxy, image: docker.io/istio/proxyv2:1.23.0}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: v1
    /// kind: ConfigMap
    /// metadata: {name: istio-sidecar-injector, namespace: istio-system}
    /// data:
    ///   values: '{"global": {"hub": "docker.io/istio", "tag": "1.24.2", "proxy": {"image": "proxyv2"}}}'
    /// ---
    /// apiVersion: v1
    /// kind: Namespace
    /// metadata: {name: kitchen, labels: {istio-injection: enabled}}
    /// ---
    /// apiVersion: v1
    /// kind: Pod
    /// metadata: {name: oven-7d9f, namespace: kitchen}
    /// spec:
    ///   containers:
    ///   - {name: oven, image: food/oven:1.0}
    ///   - {name: istio-proxy, image: docker.io/istio/proxyv2:1.24.2}
    /// ```
    /// In a cluster, restart the workloads (`kubectl rollout restart deployment -n kitchen`) so
    /// their Pods are injected again with the current proxy.
    pub static PROXY_IMAGE_MISMATCH = Rule {
        code: "IST0158",
        name: "PodsIstioProxyImageMismatchInNamespace",
        severity: Warning,
        summary: "pods of an injected namespace run another istio-proxy image than the injector's",
        mirrors: Some("injection.ImageAnalyzer"),
        check: check,
    };
}

/// Name of the default revision's injector ConfigMap; other revisions append `-<revision>`.
const INJECTOR_CONFIG_MAP: &str = "istio-sidecar-injector";
/// Pod annotation that pins the proxy image, overriding the injector.
const PROXY_IMAGE_ANNOTATION: &str = "sidecar.istio.io/proxyImage";
/// Pod annotation with a ProxyConfig (YAML) for that Pod.
const PROXY_CONFIG_ANNOTATION: &str = "proxy.istio.io/config";

/// The injector ConfigMap's name for a revision (`default` and none mean the plain name).
fn injector_config_map_name(revision: &str) -> String {
    if revision.is_empty() || revision == "default" {
        INJECTOR_CONFIG_MAP.to_string()
    } else {
        format!("{INJECTOR_CONFIG_MAP}-{revision}")
    }
}

/// A member of a JSON object as Go's `encoding/json` finds a struct field: the exact key, else
/// one equal ignoring ASCII case.
fn json_field<'a>(object: &'a Value, key: &str) -> Option<&'a Value> {
    let map = object.as_object()?;
    map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// A struct-typed member: absent or null reads as empty, another type fails.
fn json_struct<'a>(object: &'a Value, key: &str) -> Result<Option<&'a Value>, ()> {
    match json_field(object, key) {
        None | Some(Value::Null) => Ok(None),
        Some(v @ Value::Object(_)) => Ok(Some(v)),
        Some(_) => Err(()),
    }
}

/// A string member: absent or null reads as empty, another type fails.
fn json_string(object: Option<&Value>, key: &str) -> Result<String, ()> {
    match object.and_then(|o| json_field(o, key)) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(()),
    }
}

/// The proxy image an injector ConfigMap injects, from its `values` JSON; `None` when the
/// ConfigMap has no readable `values`.
fn injector_proxy_image(cm: &Resource) -> Option<String> {
    let text = cm.root.path(&["data", "values"])?.as_str()?;
    let values: Value = serde_json::from_str(text).ok()?;
    if !values.is_object() {
        return None;
    }
    let global = json_struct(&values, "global").ok()?;
    let proxy = match global {
        Some(g) => json_struct(g, "proxy").ok()?,
        None => None,
    };
    let image = json_string(proxy, "image").ok()?;
    let hub = json_string(global, "hub").ok()?;
    let tag = json_string(global, "tag").ok()?;
    Some(if image.contains('/') {
        image
    } else {
        format!("{hub}/{image}:{tag}")
    })
}

/// `image.imageType` of a ProxyConfig-shaped node, when set and not empty.
fn image_type(config: Option<&Node>) -> Option<&str> {
    config?
        .path(&["image", "imageType"])?
        .as_str()
        .filter(|t| !t.is_empty())
}

/// The image type (variant) in effect for Pods, as Istio resolves it: the mesh config's
/// `defaultConfig`, then the root namespace's ProxyConfig, the namespace's ProxyConfig without
/// selector, ProxyConfigs of the namespace whose selector matches the Pod, and the Pod's
/// annotation, each overriding the ones before when it sets a type.
struct ImageTypes<'a> {
    mesh: Option<&'a str>,
    root: Option<&'a str>,
    namespace: HashMap<&'a str, Option<&'a str>>,
    workload: HashMap<&'a str, Vec<(Selector, Option<&'a str>)>>,
}

impl<'a> ImageTypes<'a> {
    fn new(ws: &'a Workspace) -> ImageTypes<'a> {
        let mut types = ImageTypes {
            mesh: image_type(ws.mesh.get("defaultConfig")),
            root: None,
            namespace: HashMap::new(),
            workload: HashMap::new(),
        };
        let root_ns = ws.root_namespace();
        // Istio keeps the last ProxyConfig of the root namespace and of each namespace.
        for pc in ws.of_kind(Kind::ProxyConfig) {
            let variant = image_type(pc.spec());
            match pc.spec_at(&["selector"]).filter(|s| !s.is_null()) {
                _ if pc.ns == root_ns => types.root = variant,
                None => {
                    types.namespace.insert(pc.ns.as_str(), variant);
                }
                Some(selector) => types.workload.entry(pc.ns.as_str()).or_default().push((
                    Selector::read(selector.get("matchLabels"), Values::AsWritten),
                    variant,
                )),
            }
        }
        types
    }

    fn for_pod(&self, pod: &Resource, labels: &Labels) -> String {
        let mut variant = self.mesh;
        if let Some(v) = self.root {
            variant = Some(v);
        }
        if let Some(Some(v)) = self.namespace.get(pod.ns.as_str()) {
            variant = Some(v);
        }
        for (selector, v) in self.workload.get(pod.ns.as_str()).into_iter().flatten() {
            if let Some(v) = v.filter(|_| selector.matches(labels)) {
                variant = Some(v);
            }
        }
        let annotated = pod
            .annotation(PROXY_CONFIG_ANNOTATION)
            .and_then(annotation_image_type);
        let variant = annotated
            .or(variant.map(str::to_string))
            .unwrap_or_default();
        if variant == "default" {
            String::new()
        } else {
            variant
        }
    }
}

/// `image.imageType` of the ProxyConfig YAML in a Pod annotation.
fn annotation_image_type(text: &str) -> Option<String> {
    let parsed = parse_file(
        Arc::new(SourceFile::new("<proxy.istio.io/config>", text)),
        &Limits::default(),
    );
    if parsed.error.is_some() {
        return None;
    }
    let root = parsed.documents.into_iter().next()?.root;
    image_type(Some(&root)).map(str::to_string)
}

/// Images of the `istio-proxy` containers of a Pod (containers, then init containers); a
/// container without an image or with the `auto` placeholder has not been injected and is left
/// out.
fn proxy_images(pod: &Resource) -> impl Iterator<Item = &str> {
    ["containers", "initContainers"]
        .into_iter()
        .filter_map(|list| pod.spec_at(&[list]))
        .flat_map(Node::items)
        .filter(|c| c.get("name").and_then(Node::as_str) == Some(PROXY_CONTAINER))
        .filter_map(|c| c.get("image").and_then(Node::as_str))
        .filter(|image| *image != "auto")
}

fn check(ws: &Workspace, out: &mut Findings) {
    // Injector images by ConfigMap name (any namespace; a later ConfigMap replaces an earlier).
    let mut injector_images: HashMap<&str, String> = HashMap::new();
    for cm in ws.of_kind(Kind::ConfigMap) {
        if !cm.name.starts_with(INJECTOR_CONFIG_MAP) {
            continue;
        }
        match injector_proxy_image(cm) {
            Some(image) => injector_images.insert(cm.name.as_str(), image),
            None => injector_images.remove(cm.name.as_str()),
        };
    }
    if injector_images.is_empty() {
        return;
    }
    // Injected namespaces and the revision that injects them.
    // A later Namespace object of the same name replaces an earlier one.
    let mut injected: HashMap<&str, (&Resource, String)> = HashMap::new();
    for ns in ws.of_kind(Kind::Namespace) {
        let labels = read_labels(ns.labels());
        let revision = match (labels.get(REVISION_LABEL), labels.get(INJECTION_LABEL)) {
            (Some(rev), _) => rev.clone(),
            (None, Some(v)) if v == "enabled" => "default".to_string(),
            _ => {
                injected.remove(ns.name.as_str());
                continue;
            }
        };
        injected.insert(ns.name.as_str(), (ns, revision));
    }
    if injected.is_empty() {
        return;
    }
    let types = ImageTypes::new(ws);
    // Namespace -> (injector image, Pods whose proxy differs), namespaces in name order.
    let mut mismatched: BTreeMap<&str, (&Resource, &str, Vec<&str>)> = BTreeMap::new();
    for pod in ws.of_kind(Kind::Pod).filter(|p| !p.assumed) {
        let Some((ns, revision)) = injected.get(pod.ns.as_str()) else {
            continue;
        };
        if pod
            .annotation(PROXY_IMAGE_ANNOTATION)
            .is_some_and(|a| !a.is_empty())
        {
            continue;
        }
        let Some(expected) = injector_images.get(injector_config_map_name(revision).as_str())
        else {
            continue;
        };
        let mut images = proxy_images(pod).peekable();
        if images.peek().is_none() {
            continue;
        }
        let variant = types.for_pod(pod, &read_labels(pod.labels()));
        let with_variant = format!("{expected}-{variant}");
        for image in images {
            if image != expected && image != with_variant {
                mismatched
                    .entry(pod.ns.as_str())
                    .or_insert_with(|| (*ns, expected.as_str(), Vec::new()))
                    .2
                    .push(pod.name.as_str());
            }
        }
    }
    for (name, (ns, expected, mut pods)) in mismatched {
        pods.sort_unstable();
        let list =
            crate::finding::listed(&pods.iter().map(|p| format!("{p:?}")).collect::<Vec<_>>());
        out.report(
            ns,
            ns.anchor(),
            format!(
                "pods in namespace \"{name}\" run an istio-proxy image other than the injector's \"{expected}\": {list}"
            ),
        )
        .help(
            "re-create the pods (e.g. `kubectl rollout restart deployment -n <namespace>`) so they \
             are injected with the current proxy image",
        );
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use mspack_yaml::SourceFile;

    use crate::{LintOptions, lint_sources};

    const PODS: &str = "\
apiVersion: v1
kind: Namespace
metadata: {name: k, labels: {istio-injection: enabled}}
---
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: k}
spec:
  containers: [{name: istio-proxy, image: hub/proxyv2:1.0}]
";

    fn count(configmap_values: &str) -> usize {
        let yaml = format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: istio-sidecar-injector}}\ndata:\n  values: {configmap_values}\n---\n{PODS}"
        );
        let options = LintOptions {
            select: vec!["IST0158".into()],
            ..LintOptions::default()
        };
        lint_sources(vec![Arc::new(SourceFile::new("t.yaml", yaml))], &options)
            .map(|r| r.findings.len())
            .unwrap_or(usize::MAX)
    }

    #[test]
    fn injector_values_are_read_like_go_reads_them() {
        assert_eq!(
            count(r#"'{"global": {"hub": "hub", "tag": "1.0", "proxy": {"image": "proxyv2"}}}'"#),
            0
        );
        assert_eq!(
            count(r#"'{"GLOBAL": {"Hub": "hub", "TAG": "1.0", "proxy": {"Image": "proxyv2"}}}'"#),
            0
        );
        assert_eq!(
            count(r#"'{"global": {"hub": "hub", "tag": "1.1", "proxy": {"image": "proxyv2"}}}'"#),
            1
        );
        assert_eq!(
            count(r#"'{"global": {"proxy": {"image": "hub/proxyv2:1.0"}}}'"#),
            0
        );
        // Missing parts read as empty strings.
        assert_eq!(count(r#"'{"global": null}'"#), 1);
    }

    #[test]
    fn unreadable_injector_values_are_skipped() {
        for values in [
            "'not json'",
            "'[]'",
            r#"'{"global": {"hub": 3}}'"#,
            r#"'{"global": []}'"#,
            "~",
            "{a: b}",
        ] {
            assert_eq!(count(values), 0, "{values}");
        }
    }
}
