//! OpenTelemetry Collector configurations found in the input, for the MSP3xx rules: a standalone
//! file (a YAML document that is no Kubernetes object), a string in a ConfigMap's `data`, or an
//! `OpenTelemetryCollector`'s `spec.config` (a mapping, or a string in older versions).
//!
//! A configuration is a mapping with `receivers`, `exporters` and `service.pipelines` (all three
//! mappings); anything else is never read as one. An embedded string is parsed on its own and its
//! spans are mapped back into the file ([`embedded`]).
//!
//! The workloads that run a ConfigMap's configuration are those mounting the ConfigMap in the
//! same namespace; the Collector version is read from their image tag, or from an
//! `OpenTelemetryCollector`'s `spec.image`.

pub mod components;
pub mod embedded;

use std::collections::HashMap;
use std::sync::Arc;

use mspack_yaml::{Node, SourceFile, Span};

use crate::crossref::{containers, pod_spec};
use crate::finding::{Finding, Findings};
use crate::resource::{Kind, Resource};
use crate::workspace::Workspace;
use embedded::parse_embedded;

/// A Collector release, `0.<minor>.<patch>` (the Collector's distributions are still 0.x).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u32, pub u32, pub u32);

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "v{}.{}.{}", self.0, self.1, self.2)
    }
}

impl Version {
    /// The version in an image reference's tag (`otel/opentelemetry-collector-contrib:0.140.1`,
    /// `...:v0.140.1-amd64`); `None` without a tag or with a tag that is no version.
    pub fn of_image(image: &str) -> Option<Version> {
        let image = image.split('@').next()?;
        let (repo, tag) = image.rsplit_once(':')?;
        if tag.contains('/') || repo.is_empty() {
            return None;
        }
        let tag = tag.strip_prefix('v').unwrap_or(tag);
        let mut parts = tag.splitn(3, '.');
        let number = |s: Option<&str>| -> Option<u32> {
            let digits: String = s?.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        };
        let major = number(parts.next())?;
        let minor = number(parts.next())?;
        let patch = number(parts.next()).unwrap_or(0);
        Some(Version(major, minor, patch))
    }
}

/// Whether an image is a Collector's (`otel/opentelemetry-collector-contrib`, `otelcol-k8s`...).
fn is_collector_image(image: &str) -> bool {
    let repo = image.split(['@']).next().unwrap_or(image);
    let repo = repo
        .rsplit_once(':')
        .map_or(repo, |(r, t)| if t.contains('/') { repo } else { r });
    let name = repo.rsplit('/').next().unwrap_or(repo);
    name.contains("otelcol") || name.contains("opentelemetry-collector")
}

/// One Collector configuration and where it is.
pub struct CollectorConfig {
    pub file: Arc<SourceFile>,
    /// The ConfigMap or OpenTelemetryCollector holding it; `None` for a standalone file.
    pub resource: Option<usize>,
    /// The configuration, its spans in `file`.
    pub root: Node,
    /// The workloads running it: those mounting the ConfigMap, or the `OpenTelemetryCollector`.
    pub runners: Vec<usize>,
    /// The Collector version its runners' image names, when all that name one agree.
    pub version: Option<Version>,
}

/// Report at `span` on the resource that holds an embedded config (a ConfigMap, a CR), or on
/// the file when the config is the file itself. Shared by Collector and OBI configs.
pub(crate) fn report_in_holder<'o>(
    ws: &Workspace,
    out: &'o mut Findings,
    resource: Option<usize>,
    file: &Arc<SourceFile>,
    span: Span,
    message: String,
) -> &'o mut Finding {
    match resource.and_then(|id| ws.resources.get(id)) {
        Some(r) => out.report_span(r, span, message),
        None => out.report_at(file, span, message),
    }
}

impl CollectorConfig {
    /// Report at `span` (a span of `root`) on the holding resource, or on the file.
    pub fn report<'o>(
        &self,
        ws: &Workspace,
        out: &'o mut Findings,
        span: Span,
        message: String,
    ) -> &'o mut Finding {
        report_in_holder(ws, out, self.resource, &self.file, span, message)
    }

    /// Names of the components of one section (`receivers`, `connectors`...), with their key nodes.
    pub fn defined<'a>(&'a self, section: &str) -> impl Iterator<Item = (&'a str, &'a Node)> {
        self.root
            .get(section)
            .into_iter()
            .flat_map(Node::entries)
            .map(|(id, key, _)| (id, key))
    }

    pub fn is_defined(&self, section: &str, id: &str) -> bool {
        self.root.get(section).and_then(|s| s.get(id)).is_some()
    }

    /// `(pipeline id, pipeline node)` of `service.pipelines`.
    pub fn pipelines(&self) -> impl Iterator<Item = (&str, &Node)> {
        self.root
            .path(&["service", "pipelines"])
            .into_iter()
            .flat_map(Node::entries)
            .map(|(id, _, p)| (id, p))
    }

    /// The component ids a pipeline lists under `role` (`receivers`, `processors`, `exporters`),
    /// with their nodes.
    pub fn listed<'a>(pipeline: &'a Node, role: &str) -> impl Iterator<Item = (&'a str, &'a Node)> {
        pipeline
            .get(role)
            .into_iter()
            .flat_map(Node::items)
            .filter_map(|n| n.as_str().map(|s| (s, n)))
    }
}

/// Whether a component id is written with an environment substitution (`${env:X}`), which this
/// offline check cannot resolve.
pub fn substituted(id: &str) -> bool {
    id.contains("${")
}

/// The Collector configurations of a run.
pub struct Configs(Vec<CollectorConfig>);

/// Every Collector configuration of the run (computed once, shared by the MSP3xx rules).
pub fn collector_configs(ws: &Workspace) -> Arc<Configs> {
    ws.shared(|| Configs(find(ws)))
}

impl std::ops::Deref for Configs {
    type Target = [CollectorConfig];
    fn deref(&self) -> &[CollectorConfig] {
        &self.0
    }
}

fn is_collector(root: &Node) -> bool {
    root.get("receivers").and_then(Node::as_map).is_some()
        && root.get("exporters").and_then(Node::as_map).is_some()
        && root
            .path(&["service", "pipelines"])
            .and_then(Node::as_map)
            .is_some()
}

/// Words every configuration has; files without them are not parsed again.
fn may_hold_config(text: &str) -> bool {
    text.contains("receivers") && text.contains("exporters") && text.contains("pipelines")
}

/// Workloads by the `(namespace, name)` of the ConfigMaps their pods mount as volumes (directly
/// or projected).
pub fn configmap_mounts(ws: &Workspace) -> HashMap<(&str, &str), Vec<usize>> {
    let mut by_configmap: HashMap<(&str, &str), Vec<usize>> = HashMap::new();
    for kind in Kind::WORKLOADS {
        for r in ws.of_kind(*kind) {
            let volumes = pod_spec(r).and_then(|s| s.get("volumes"));
            for volume in volumes.into_iter().flat_map(Node::items) {
                let direct = volume.path(&["configMap", "name"]);
                let projected = volume
                    .path(&["projected", "sources"])
                    .into_iter()
                    .flat_map(Node::items)
                    .filter_map(|s| s.path(&["configMap", "name"]));
                for name in direct.into_iter().chain(projected).filter_map(Node::as_str) {
                    let ids = by_configmap.entry((r.ns.as_str(), name)).or_default();
                    if !ids.contains(&r.id) {
                        ids.push(r.id);
                    }
                }
            }
        }
    }
    by_configmap
}

/// The Collector version the runners' images agree on.
fn runners_version(ws: &Workspace, runners: &[usize]) -> Option<Version> {
    let mut found = None;
    for r in runners.iter().filter_map(|id| ws.resources.get(*id)) {
        let images: Vec<&str> = if r.kind_name == "OpenTelemetryCollector" {
            r.spec()
                .and_then(|s| s.get("image"))
                .and_then(Node::as_str)
                .into_iter()
                .collect()
        } else {
            containers(r)
                .filter_map(|c| c.node.get("image").and_then(Node::as_str))
                .filter(|i| is_collector_image(i))
                .collect()
        };
        for image in images {
            let v = Version::of_image(image)?;
            if found.is_some_and(|f| f != v) {
                return None;
            }
            found = Some(v);
        }
    }
    found
}

fn find(ws: &Workspace) -> Vec<CollectorConfig> {
    let mut configs = Vec::new();
    for (file, root) in &ws.other_documents {
        if is_collector(root) {
            configs.push(CollectorConfig {
                file: file.clone(),
                resource: None,
                root: root.clone(),
                runners: Vec::new(),
                version: None,
            });
        }
    }
    let mut mounted = None;
    for r in &ws.resources {
        if r.assumed {
            continue;
        }
        if r.kind_name == "ConfigMap" && r.group.is_empty() {
            for (_, key, value) in r.root.get("data").into_iter().flat_map(Node::entries) {
                if let Some(root) = embedded(r, key, value) {
                    let runners = mounted
                        .get_or_insert_with(|| configmap_mounts(ws))
                        .get(&(r.ns.as_str(), r.name.as_str()))
                        .cloned()
                        .unwrap_or_default();
                    let version = runners_version(ws, &runners);
                    configs.push(CollectorConfig {
                        file: r.file.clone(),
                        resource: Some(r.id),
                        root,
                        runners,
                        version,
                    });
                }
            }
        } else if r.kind_name == "OpenTelemetryCollector" && r.group == "opentelemetry.io" {
            let Some((key, value)) = r.spec().and_then(|s| s.get_entry("config")) else {
                continue;
            };
            let root = if value.as_map().is_some() {
                is_collector(value).then(|| value.clone())
            } else {
                embedded(r, key, value)
            };
            if let Some(root) = root {
                let runners = vec![r.id];
                let version = runners_version(ws, &runners);
                configs.push(CollectorConfig {
                    file: r.file.clone(),
                    resource: Some(r.id),
                    root,
                    runners,
                    version,
                });
            }
        }
    }
    configs
}

/// A Collector configuration written as a string in `r`, its spans mapped into `r`'s file.
fn embedded(r: &Resource, key: &Node, value: &Node) -> Option<Node> {
    parse_embedded(&r.file, key, value, may_hold_config, is_collector)
}

#[cfg(test)]
mod tests {
    use super::{Version, is_collector_image};

    #[test]
    fn versions_from_image_tags() {
        let v = Version::of_image;
        assert_eq!(
            v("otel/opentelemetry-collector-contrib:0.140.1"),
            Some(Version(0, 140, 1))
        );
        assert_eq!(
            v("ghcr.io/x/otelcol-k8s:v0.144.0-amd64@sha256:ab"),
            Some(Version(0, 144, 0))
        );
        assert_eq!(v("registry:5000/otelcol:0.99"), Some(Version(0, 99, 0)));
        assert_eq!(v("registry:5000/otelcol"), None);
        assert_eq!(v("otelcol:latest"), None);
        assert_eq!(v(":1.2.3"), None);
        assert!(is_collector_image(
            "otel/opentelemetry-collector-contrib:0.140.1"
        ));
        assert!(is_collector_image("registry:5000/otelcol-k8s"));
        assert!(!is_collector_image(
            "docker.io/otel/ebpf-instrument:v0.14.0"
        ));
    }
}
