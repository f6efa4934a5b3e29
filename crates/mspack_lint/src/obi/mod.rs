//! OpenTelemetry eBPF Instrumentation (OBI) configurations found in the input, for MSP310 and
//! MSP311: Config v2 documents (OBI 0.11 and later), an OpenTelemetry declarative configuration
//! with OBI's own settings under `extensions.obi`, standalone or as a string in a ConfigMap's
//! `data` (spans mapped as for Collector configurations), with the workloads mounting that
//! ConfigMap, and the key tree OBI's schema allows under `extensions.obi`.
//!
//! A Config v1 file (top-level `ebpf`, `discovery`, `network`...) has no marker of its own: it is
//! read only in a ConfigMap that an OBI container (image `.../ebpf-instrument`) mounts.
//!
//! The key tree is in [`schema`].

pub mod schema;

use std::sync::Arc;

use mspack_yaml::{Node, SourceFile, Span};

use crate::crossref::containers;
use crate::finding::{Finding, Findings};
use crate::otel::configmap_mounts;
use crate::otel::embedded::parse_embedded;
use crate::resource::Kind;
use crate::workspace::Workspace;

/// One OBI configuration and where it is.
pub struct ObiConfig {
    pub file: Arc<SourceFile>,
    /// The ConfigMap holding it; `None` for a standalone file.
    pub resource: Option<usize>,
    /// The configuration, its spans in `file`.
    pub root: Node,
    /// The workloads mounting the ConfigMap.
    pub runners: Vec<usize>,
    /// A Config v1 file (keys at the top level), not Config v2.
    pub v1: bool,
}

impl ObiConfig {
    /// Report at `span` (a span of `root`) on the holding ConfigMap, or on the file.
    pub fn report<'o>(
        &self,
        ws: &Workspace,
        out: &'o mut Findings,
        span: Span,
        message: String,
    ) -> &'o mut Finding {
        crate::otel::report_in_holder(ws, out, self.resource, &self.file, span, message)
    }

    /// `extensions.obi`.
    pub fn obi(&self) -> Option<&Node> {
        self.root.path(&["extensions", "obi"])
    }
}

/// The OBI configurations of a run.
pub struct ObiConfigs(Vec<ObiConfig>);

impl std::ops::Deref for ObiConfigs {
    type Target = [ObiConfig];
    fn deref(&self) -> &[ObiConfig] {
        &self.0
    }
}

/// Every OBI configuration of the run (computed once, shared by MSP310 and MSP311).
pub fn obi_configs(ws: &Workspace) -> Arc<ObiConfigs> {
    ws.shared(|| ObiConfigs(find(ws)))
}

fn is_obi(root: &Node) -> bool {
    root.path(&["extensions", "obi"])
        .and_then(Node::as_map)
        .is_some()
}

fn may_hold_obi(text: &str) -> bool {
    text.contains("extensions") && text.contains("obi")
}

fn may_hold_v1(text: &str) -> bool {
    text.contains("ebpf") || text.contains("discovery") || text.contains("network")
}

/// A Config v1 document: a mapping with one of OBI's own top-level sections.
fn is_v1(root: &Node) -> bool {
    ["ebpf", "discovery", "network", "otel_traces_export"]
        .iter()
        .any(|k| root.get(k).and_then(Node::as_map).is_some())
        && root.get("extensions").is_none()
}

/// Whether an image is OBI's (`otel/ebpf-instrument`, `.../ebpf-instrument:v0.11.0`).
pub fn is_obi_image(image: &str) -> bool {
    let name = image.split(['@']).next().unwrap_or(image);
    let name = name.rsplit('/').next().unwrap_or(name);
    name.split(':').next() == Some("ebpf-instrument")
}

/// Whether one of the runners has an OBI container.
fn runs_obi(ws: &Workspace, runners: &[usize]) -> bool {
    runners
        .iter()
        .filter_map(|id| ws.resources.get(*id))
        .flat_map(containers)
        .any(|c| {
            c.node
                .get("image")
                .and_then(Node::as_str)
                .is_some_and(is_obi_image)
        })
}

fn find(ws: &Workspace) -> Vec<ObiConfig> {
    let mut configs = Vec::new();
    for (file, root) in &ws.other_documents {
        if is_obi(root) {
            configs.push(ObiConfig {
                file: file.clone(),
                resource: None,
                root: root.clone(),
                runners: Vec::new(),
                v1: false,
            });
        }
    }
    let mut mounted = None;
    for r in ws.of_kind(Kind::ConfigMap) {
        if r.assumed {
            continue;
        }
        for (_, key, value) in r.root.get("data").into_iter().flat_map(Node::entries) {
            let v2 = parse_embedded(&r.file, key, value, may_hold_obi, is_obi);
            let v1 = || parse_embedded(&r.file, key, value, may_hold_v1, is_v1);
            let Some((root, v1)) = v2.map(|root| (root, false)).or_else(|| Some((v1()?, true)))
            else {
                continue;
            };
            let runners: Vec<usize> = mounted
                .get_or_insert_with(|| configmap_mounts(ws))
                .get(&(r.ns.as_str(), r.name.as_str()))
                .cloned()
                .unwrap_or_default();
            if v1 && !runs_obi(ws, &runners) {
                continue;
            }
            configs.push(ObiConfig {
                file: r.file.clone(),
                resource: Some(r.id),
                root,
                runners,
                v1,
            });
        }
    }
    configs
}
