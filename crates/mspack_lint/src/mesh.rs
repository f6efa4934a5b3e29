//! Istio mesh-wide inputs: MeshConfig (merged over Istio's defaults the way istiod merges it) and
//! MeshNetworks.

use std::sync::Arc;

use mspack_yaml::{Limits, Node, SourceFile, Value, parse_file};

/// Istio's default MeshConfig, reduced to what rules read.
const DEFAULT_MESH_CONFIG: &str = "\
rootNamespace: istio-system
extensionProviders:
- name: prometheus
  prometheus: {}
- name: stackdriver
  stackdriver: {}
- name: envoy
  envoyFileAccessLog:
    path: /dev/stdout
";

/// The effective MeshConfig.
#[derive(Clone, Debug)]
pub struct MeshConfig {
    /// Merged tree: top-level fields override the defaults, `defaultConfig` merges key by key,
    /// `extensionProviders` merge by name.
    pub root: Node,
    /// The file given by the user, for positions in findings about it.
    pub file: Option<Arc<SourceFile>>,
}

/// A mesh input file that could not be read or parsed.
#[derive(Debug, thiserror::Error)]
#[error("{path}:{line}:{col}: {message}")]
pub struct MeshInputError {
    pub path: String,
    pub line: u32,
    pub col: u32,
    pub message: String,
}

impl Default for MeshConfig {
    fn default() -> MeshConfig {
        MeshConfig {
            root: parse_one(&Arc::new(SourceFile::new(
                "<default mesh config>",
                DEFAULT_MESH_CONFIG,
            )))
            .unwrap_or_else(|_| Node::null(Default::default())),
            file: None,
        }
    }
}

impl MeshConfig {
    /// Merge a user's MeshConfig YAML over the defaults.
    pub fn from_source(source: Arc<SourceFile>) -> Result<MeshConfig, MeshInputError> {
        let user = parse_one(&source)?;
        let mut merged = MeshConfig::default();
        if let (Value::Map(base), Value::Map(over)) = (&mut merged.root.value, user.value) {
            for (key, value) in over {
                let key_text = key.as_str().unwrap_or("").to_string();
                let existing = base.iter_mut().find(|(k, _)| k.as_str() == Some(&key_text));
                match (key_text.as_str(), existing) {
                    ("extensionProviders", Some((_, old))) => merge_providers(old, value),
                    ("defaultConfig", Some((_, old))) => deep_merge(old, value),
                    (_, Some((_, old))) => *old = value,
                    (_, None) => base.push((key, value)),
                }
            }
        }
        merged.file = Some(source);
        Ok(merged)
    }

    pub fn root_namespace(&self) -> &str {
        self.root
            .get("rootNamespace")
            .and_then(Node::as_str)
            .unwrap_or("istio-system")
    }

    /// Names of the configured extension providers.
    pub fn extension_providers(&self) -> impl Iterator<Item = (&str, &Node)> {
        self.root
            .get("extensionProviders")
            .into_iter()
            .flat_map(Node::items)
            .filter_map(|p| p.get("name").and_then(Node::as_str).map(|n| (n, p)))
    }

    pub fn get(&self, key: &str) -> Option<&Node> {
        self.root.get(key)
    }
}

/// MeshNetworks: the `networks` map of endpoints and gateways per network.
#[derive(Clone, Debug)]
pub struct MeshNetworks {
    pub root: Node,
    pub file: Arc<SourceFile>,
}

impl MeshNetworks {
    pub fn from_source(source: Arc<SourceFile>) -> Result<MeshNetworks, MeshInputError> {
        Ok(MeshNetworks {
            root: parse_one(&source)?,
            file: source,
        })
    }
}

fn parse_one(source: &Arc<SourceFile>) -> Result<Node, MeshInputError> {
    let parsed = parse_file(source.clone(), &Limits::default());
    if let Some(e) = parsed.error {
        return Err(MeshInputError {
            path: source.path.clone(),
            line: e.pos.line,
            col: e.pos.col,
            message: e.message,
        });
    }
    let root = parsed
        .documents
        .into_iter()
        .map(|d| d.root)
        .find(|r| !r.is_null());
    match root {
        Some(node) if node.as_map().is_some() => Ok(node),
        Some(node) => Err(MeshInputError {
            path: source.path.clone(),
            line: node.span.start.line,
            col: node.span.start.col,
            message: format!("expected a mapping, found {}", node.type_name()),
        }),
        None => Ok(Node {
            span: Default::default(),
            value: Value::Map(Vec::new()),
        }),
    }
}

fn deep_merge(base: &mut Node, over: Node) {
    match (&mut base.value, over.value) {
        (Value::Map(base_entries), Value::Map(over_entries)) => {
            for (key, value) in over_entries {
                let existing = base_entries
                    .iter_mut()
                    .find(|(k, _)| k.as_str().is_some() && k.as_str() == key.as_str());
                match existing {
                    Some((_, old)) => deep_merge(old, value),
                    None => base_entries.push((key, value)),
                }
            }
        }
        (_, value) => {
            base.value = value;
        }
    }
}

fn merge_providers(base: &mut Node, over: Node) {
    let Value::Seq(new) = over.value else {
        return;
    };
    let Value::Seq(old) = &mut base.value else {
        return;
    };
    for provider in new {
        let name = provider
            .get("name")
            .and_then(Node::as_str)
            .map(String::from);
        match old
            .iter_mut()
            .find(|p| name.is_some() && p.get("name").and_then(Node::as_str) == name.as_deref())
        {
            Some(slot) => *slot = provider,
            None => old.push(provider),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_providers_merge_by_name_with_the_defaults() {
        let src = SourceFile::new(
            "mesh.yaml",
            "rootNamespace: mesh-root\nextensionProviders:\n- name: lightstep\n  lightstep: {}\n",
        );
        let mesh = MeshConfig::from_source(Arc::new(src));
        let mesh = mesh.ok();
        let names: Vec<String> = mesh
            .iter()
            .flat_map(|m| m.extension_providers().map(|(n, _)| n.to_string()))
            .collect();
        assert_eq!(names, ["prometheus", "stackdriver", "envoy", "lightstep"]);
        assert_eq!(
            mesh.map(|m| m.root_namespace().to_string()).as_deref(),
            Some("mesh-root")
        );
    }
}
