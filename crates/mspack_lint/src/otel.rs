//! OpenTelemetry Collector configurations found in the input, for the MSP3xx rules: a standalone
//! file (a YAML document that is no Kubernetes object), a string in a ConfigMap's `data`, or an
//! `OpenTelemetryCollector`'s `spec.config` (a mapping, or a string in older versions).
//!
//! A configuration is a mapping with `receivers`, `exporters` and `service.pipelines` (all three
//! mappings); anything else is never read as one. An embedded string is parsed on its own and its
//! spans are mapped back into the file: exactly for a literal block scalar (`|`, `|-`, `|+`)
//! whose lines are found verbatim at one indentation, else every span is the data entry's key.

use std::sync::Arc;

use mspack_yaml::{Limits, Node, Pos, SourceFile, Span, Style, Value, parse_file};

use crate::finding::{Finding, Findings};
use crate::resource::Resource;
use crate::workspace::Workspace;

/// One Collector configuration and where it is.
pub struct CollectorConfig {
    pub file: Arc<SourceFile>,
    /// The ConfigMap or OpenTelemetryCollector holding it; `None` for a standalone file.
    pub resource: Option<usize>,
    /// The configuration, its spans in `file`.
    pub root: Node,
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
        match self.resource.and_then(|id| ws.resources.get(id)) {
            Some(r) => out.report_span(r, span, message),
            None => out.report_at(&self.file, span, message),
        }
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

fn find(ws: &Workspace) -> Vec<CollectorConfig> {
    let mut configs = Vec::new();
    // Standalone files: documents that are no Kubernetes object are not kept by the workspace.
    for source in &ws.sources {
        if !may_hold_config(&source.text) {
            continue;
        }
        let parsed = parse_file(source.clone(), &Limits::default());
        for doc in parsed.documents {
            let root = doc.root;
            if root.get("kind").is_some() || root.get("apiVersion").is_some() {
                continue;
            }
            if is_collector(&root) {
                configs.push(CollectorConfig {
                    file: source.clone(),
                    resource: None,
                    root,
                });
            }
        }
    }
    for r in &ws.resources {
        if r.assumed {
            continue;
        }
        if r.kind_name == "ConfigMap" && r.group.is_empty() {
            for (_, key, value) in r.root.get("data").into_iter().flat_map(Node::entries) {
                if let Some(root) = embedded(r, key, value) {
                    configs.push(CollectorConfig {
                        file: r.file.clone(),
                        resource: Some(r.id),
                        root,
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
                configs.push(CollectorConfig {
                    file: r.file.clone(),
                    resource: Some(r.id),
                    root,
                });
            }
        }
    }
    configs
}

/// A configuration written as a string scalar, its spans mapped into the resource's file.
fn embedded(r: &Resource, key: &Node, value: &Node) -> Option<Node> {
    let scalar = value.scalar()?;
    let text = scalar.text.as_str();
    if !may_hold_config(text) {
        return None;
    }
    let inner = Arc::new(SourceFile::new(r.file.path.clone(), text));
    let parsed = parse_file(inner, &Limits::default());
    if parsed.error.is_some() {
        return None;
    }
    let mut root = parsed.documents.into_iter().next()?.root;
    if !is_collector(&root) {
        return None;
    }
    match literal_offset(&r.file, key, value, text) {
        Some((line, indent)) => shift(&mut root, line, indent),
        None => flatten(&mut root, key.span),
    }
    Some(root)
}

/// For a literal block scalar whose lines are in the file verbatim at one indentation: the line
/// before its content (its header's line, the key's) and that indentation.
fn literal_offset(file: &SourceFile, key: &Node, value: &Node, text: &str) -> Option<(u32, u32)> {
    if value.scalar()?.style != Style::Literal {
        return None;
    }
    let header_line = key.span.end.line;
    let after_key: String = file
        .line_text(header_line)?
        .chars()
        .skip(key.span.end.col.checked_sub(1)? as usize)
        .collect();
    let header = after_key.trim_start().strip_prefix(':')?.trim();
    // `|`, `|-`, `|+` only: an explicit indentation indicator is not worth the risk.
    let header = header.trim_end();
    let header = header.split(" #").next().unwrap_or(header).trim_end();
    if !matches!(header, "|" | "|-" | "|+") {
        return None;
    }
    let lines: Vec<&str> = text.split('\n').collect();
    let first = lines.iter().position(|l| !l.trim().is_empty())?;
    let first_file = file.line_text(
        header_line
            .saturating_add(1)
            .saturating_add(u32::try_from(first).ok()?),
    )?;
    let indent = first_file.len() - first_file.trim_start_matches(' ').len();
    for (i, line) in lines.iter().enumerate() {
        let line = line.trim_end_matches('\r');
        let n = header_line
            .saturating_add(1)
            .saturating_add(u32::try_from(i).ok()?);
        let Some(in_file) = file.line_text(n) else {
            // The scalar's trailing newline: no line of its own.
            if line.is_empty() && i + 1 == lines.len() {
                continue;
            }
            return None;
        };
        if line.trim().is_empty() {
            if !in_file.trim().is_empty() && i + 1 != lines.len() {
                return None;
            }
            continue;
        }
        let rest = in_file.get(indent..)?;
        if !in_file.get(..indent)?.bytes().all(|b| b == b' ') || rest != line {
            return None;
        }
    }
    Some((header_line, u32::try_from(indent).ok()?))
}

fn shift_pos(pos: &mut Pos, line: u32, indent: u32) {
    pos.line = pos.line.saturating_add(line);
    pos.col = pos.col.saturating_add(indent);
}

fn shift(node: &mut Node, line: u32, indent: u32) {
    shift_pos(&mut node.span.start, line, indent);
    shift_pos(&mut node.span.end, line, indent);
    match &mut node.value {
        Value::Scalar(_) => {}
        Value::Seq(items) => items.iter_mut().for_each(|n| shift(n, line, indent)),
        Value::Map(entries) => entries.iter_mut().for_each(|(k, v)| {
            shift(k, line, indent);
            shift(v, line, indent);
        }),
    }
}

fn flatten(node: &mut Node, span: Span) {
    node.span = span;
    match &mut node.value {
        Value::Scalar(_) => {}
        Value::Seq(items) => items.iter_mut().for_each(|n| flatten(n, span)),
        Value::Map(entries) => entries.iter_mut().for_each(|(k, v)| {
            flatten(k, span);
            flatten(v, span);
        }),
    }
}
