//! Kubernetes-style resources read from YAML documents: identity (kind, namespace, name), labels,
//! annotations and the node tree, with `List` documents expanded into their items.

use std::sync::Arc;

use mspack_yaml::{CompactString, Node, SourceFile};

pub use mspack_model::Kind;

/// One resource: a mapping with `apiVersion` and `kind`, from a file or from a `List`'s items.
#[derive(Debug)]
pub struct Resource {
    /// Index in [`crate::Workspace::resources`].
    pub id: usize,
    pub file: Arc<SourceFile>,
    /// 0-based document index in the file.
    pub document: usize,
    pub root: Node,
    pub api_version: CompactString,
    pub group: CompactString,
    pub version: CompactString,
    /// The kind as written (`Gateway` for both Istio and Gateway API gateways).
    pub kind_name: CompactString,
    pub kind: Kind,
    pub name: CompactString,
    /// `metadata.namespace` as written.
    pub namespace: Option<CompactString>,
    /// The namespace the resource lives in: as written, or the run's default namespace; empty for
    /// cluster-scoped kinds.
    pub ns: CompactString,
    /// Added by the linter, not read from the input (Istio's default ingress gateway): never
    /// reported on, and not counted as a namespace of the analysed set.
    pub assumed: bool,
    /// Where the hot fields sit in `root`, found once (rules ask for them millions of times).
    pub(crate) located: Located,
}

/// Entry positions of `spec` and `metadata` in the root mapping, and of `labels` and
/// `annotations` in `metadata`.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Located {
    spec: Option<u32>,
    metadata: Option<u32>,
    labels: Option<u32>,
    annotations: Option<u32>,
}

impl Located {
    pub(crate) fn find(root: &Node) -> Located {
        let position = |map: Option<&Node>, key: &str| {
            map.and_then(Node::as_map)?
                .iter()
                .position(|(k, _)| k.scalar().is_some_and(|s| s.text == key))
                .and_then(|i| u32::try_from(i).ok())
        };
        let metadata = root.get("metadata");
        Located {
            spec: position(Some(root), "spec"),
            metadata: position(Some(root), "metadata"),
            labels: position(metadata, "labels"),
            annotations: position(metadata, "annotations"),
        }
    }
}

fn entry_value(map: &Node, at: Option<u32>) -> Option<&Node> {
    map.as_map()?.get(at? as usize).map(|(_, v)| v)
}

impl Resource {
    /// `Kind namespace/name`, or `Kind name` for cluster-scoped kinds and resources whose YAML
    /// gives no namespace (Istio's test convention).
    pub fn display_name(&self) -> String {
        match &self.namespace {
            Some(ns) if !self.kind.is_cluster_scoped() && !ns.is_empty() => {
                format!("{} {}/{}", self.kind_name, ns, self.name)
            }
            _ => format!("{} {}", self.kind_name, self.name),
        }
    }

    pub fn metadata(&self) -> Option<&Node> {
        entry_value(&self.root, self.located.metadata)
    }

    pub fn spec(&self) -> Option<&Node> {
        entry_value(&self.root, self.located.spec)
    }

    /// A node under `spec` by path.
    pub fn spec_at(&self, keys: &[&str]) -> Option<&Node> {
        self.spec().and_then(|s| s.path(keys))
    }

    pub fn labels(&self) -> Option<&Node> {
        entry_value(self.metadata()?, self.located.labels)
    }

    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels()
            .and_then(|l| l.get(key))
            .and_then(Node::as_str)
    }

    pub fn annotations(&self) -> Option<&Node> {
        entry_value(self.metadata()?, self.located.annotations)
    }

    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations()
            .and_then(|a| a.get(key))
            .and_then(Node::as_str)
    }

    /// `ns/name`, or `name` without a namespace (Istio's `FullName.String()`).
    pub fn full_name(&self) -> String {
        full_name(&self.ns, &self.name)
    }

    /// The node a whole-resource finding points at: `metadata.name`, else the document root.
    pub fn anchor(&self) -> &Node {
        self.metadata()
            .and_then(|m| m.get("name"))
            .unwrap_or(&self.root)
    }

    /// The node a finding about `spec.<keys>` points at: that node, else `spec`, else
    /// [`Resource::anchor`].
    pub fn spec_anchor(&self, keys: &[&str]) -> &Node {
        self.spec_at(keys)
            .or_else(|| self.spec())
            .unwrap_or_else(|| self.anchor())
    }

    /// The pod template of a workload (`spec.template`, or `spec.jobTemplate.spec.template` for a
    /// CronJob); for a Pod, the Pod itself.
    pub fn pod_template(&self) -> Option<&Node> {
        match self.kind {
            Kind::Pod => Some(&self.root),
            Kind::CronJob => self.spec_at(&["jobTemplate", "spec", "template"]),
            k if k.has_pod_template() => self.spec_at(&["template"]),
            _ => None,
        }
    }

    /// `spec.exportTo` as strings; `None` when absent, null or empty, which Istio all reads as
    /// "every namespace".
    pub fn export_to(&self) -> Option<Vec<&str>> {
        self.spec_at(&["exportTo"])
            .map(|n| n.items().filter_map(Node::as_str).collect::<Vec<_>>())
            .filter(|list| !list.is_empty())
    }
}

/// What a document turned out to be.
pub enum DocumentShape {
    /// Empty, or a mapping without `apiVersion`/`kind`: not a Kubernetes object. The root comes
    /// back (a Collector or OBI config is such a document).
    NotAResource(Node),
    /// A resource; `List` items come back one by one.
    Resources(Vec<Node>),
    /// Looks like a resource but its identity is malformed.
    Invalid { node: Node, message: String },
}

/// Split a document into resources, expanding `kind: List` (and `*List` kinds with `items`).
pub fn classify_document(root: Node) -> DocumentShape {
    let has_kind = root.get("kind").is_some();
    let has_api = root.get("apiVersion").is_some();
    if root.as_map().is_none() || (!has_kind && !has_api) {
        return DocumentShape::NotAResource(root);
    }
    let kind = root.get("kind").and_then(Node::as_str).unwrap_or("");
    if kind.ends_with("List") && root.get("items").is_some() {
        let Some(mspack_yaml::Value::Seq(items)) = root.get("items").map(|n| n.value.clone())
        else {
            return DocumentShape::Invalid {
                message: "`items` of a List must be a sequence".into(),
                node: root,
            };
        };
        return DocumentShape::Resources(items);
    }
    DocumentShape::Resources(vec![root])
}

/// Read a resource's identity; `Err` says what is missing or malformed.
pub fn read_identity(root: &Node) -> Result<(String, String, String, Option<String>), String> {
    let api_version = match root.get("apiVersion") {
        Some(n) => n
            .as_string_value()
            .ok_or_else(|| format!("`apiVersion` must be a string, found {}", n.type_name()))?,
        None => return Err("missing `apiVersion`".into()),
    };
    let kind = match root.get("kind") {
        Some(n) => n
            .as_string_value()
            .ok_or_else(|| format!("`kind` must be a string, found {}", n.type_name()))?,
        None => return Err("missing `kind`".into()),
    };
    let metadata = root.get("metadata");
    let name = metadata
        .and_then(|m| m.get("name"))
        .and_then(Node::as_str)
        .or_else(|| {
            metadata
                .and_then(|m| m.get("generateName"))
                .and_then(Node::as_str)
        })
        .unwrap_or("");
    let namespace = metadata
        .and_then(|m| m.get("namespace"))
        .and_then(Node::as_str)
        .map(str::to_string);
    Ok((
        api_version.to_string(),
        kind.to_string(),
        name.to_string(),
        namespace,
    ))
}

pub use mspack_model::split_api_version;

/// Istio's `FullName.String()`: `ns/name`, or `name` when the namespace is empty.
pub fn full_name(ns: &str, name: &str) -> String {
    if ns.is_empty() {
        name.to_string()
    } else {
        format!("{ns}/{name}")
    }
}

/// Istio's `resource.NewShortOrFullName`: `ns/name`, or `name` in `default_ns`.
pub fn short_or_full_name<'a>(default_ns: &'a str, name: &'a str) -> (&'a str, &'a str) {
    name.split_once('/').unwrap_or((default_ns, name))
}

/// A port number written as an integer or a numeric string.
pub fn port_number(node: &Node) -> Option<i64> {
    node.as_i64()
        .or_else(|| node.as_str().and_then(|s| s.trim().parse().ok()))
}

/// A Kubernetes `IntOrString` as Go prints it: the number, the name, or `0` when absent.
pub fn int_or_string(node: Option<&Node>) -> String {
    node.and_then(Node::as_str).unwrap_or("0").to_string()
}
