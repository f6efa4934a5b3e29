//! Helpers of the MSP2xx workload-hygiene rules: the security context a container runs with
//! (container fields over pod fields), and what Istio itself injects or installs, which these
//! rules understand rather than report.

use mspack_yaml::Node;

use crate::crossref::{Container, containers, pod_spec};
use crate::finding::{Applicability, Findings, Fix};
use crate::fix::{insert_entry_at, is_flow};
use crate::resource::{Kind, Resource};
use crate::workspace::Workspace;

/// Containers that Istio's injector adds or rewrites (`istio-proxy`, `istio-init`,
/// `istio-validation`): their security context comes from Istio's injection template, which
/// needs NET_ADMIN/NET_RAW and root for `istio-init`. A container of that name in a manifest is
/// a customisation that the injector merges into its own.
pub const ISTIO_CONTAINERS: [&str; 3] = ["istio-proxy", "istio-init", "istio-validation"];

/// Pods that Istio's own charts make and that need host access or extra privileges by design:
/// the CNI node agent and the ambient ztunnel (recognised by their names or `app`/`k8s-app`
/// labels), and anything labelled `app.kubernetes.io/part-of: istio`.
pub fn is_istio_workload(r: &Resource) -> bool {
    const NAMES: [&str; 2] = ["istio-cni-node", "ztunnel"];
    if r.kind == Kind::DaemonSet && NAMES.contains(&r.name.as_str()) {
        return true;
    }
    let template_labels = r
        .pod_template()
        .and_then(|t| t.path(&["metadata", "labels"]));
    [r.labels(), template_labels]
        .into_iter()
        .flatten()
        .any(|labels| {
            let label = |key: &str| labels.get(key).and_then(Node::as_str);
            label("app.kubernetes.io/part-of") == Some("istio")
                || ["app", "k8s-app"]
                    .iter()
                    .any(|k| label(k).is_some_and(|v| NAMES.contains(&v)))
        })
}

/// Whether the pod runs on Windows (`spec.os.name: windows`), where the Linux security-context
/// fields (privilege escalation, read-only root, capabilities) cannot be set.
pub fn is_windows(r: &Resource) -> bool {
    pod_spec(r)
        .and_then(|s| s.path(&["os", "name"]))
        .and_then(Node::as_str)
        == Some("windows")
}

/// Whether the Linux security-context rules (privilege, root filesystem, capabilities, seccomp)
/// skip a workload: one of Istio's own, or a Windows pod.
pub fn skips_linux_checks(r: &Resource) -> bool {
    is_istio_workload(r) || is_windows(r)
}

/// Every workload of the input with a pod template, except Istio's own.
pub fn workloads(ws: &Workspace) -> impl Iterator<Item = &Resource> {
    Kind::WORKLOADS
        .iter()
        .flat_map(|kind| ws.of_kind(*kind))
        .filter(|r| !is_istio_workload(r))
}

/// The containers of a workload that the MSP2xx rules check: all but Istio's.
pub fn checked_containers(r: &Resource) -> impl Iterator<Item = Container<'_>> {
    containers(r).filter(|c| !ISTIO_CONTAINERS.contains(&c.name))
}

/// A field of the container's `securityContext`.
pub fn container_field<'a>(c: &Container<'a>, key: &str) -> Option<&'a Node> {
    c.node
        .path(&["securityContext", key])
        .filter(|n| !n.is_null())
}

/// A field that a container may set and otherwise inherits from the pod's `securityContext`
/// (`runAsNonRoot`, `runAsUser`): the container's value wins.
pub fn effective_field<'a>(r: &'a Resource, c: &Container<'a>, key: &str) -> Option<&'a Node> {
    container_field(c, key).or_else(|| {
        pod_spec(r)
            .and_then(|s| s.path(&["securityContext", key]))
            .filter(|n| !n.is_null())
    })
}

/// Where to point when a container lacks a field: its `name`, or the container itself.
pub fn container_anchor<'a>(c: &Container<'a>) -> &'a Node {
    c.node.get("name").unwrap_or(c.node)
}

/// "container", "init container" or "ephemeral container", followed by the quoted name.
pub fn describe(c: &Container<'_>) -> String {
    let word = match c.list {
        "initContainers" => "init container",
        "ephemeralContainers" => "ephemeral container",
        _ => "container",
    };
    if c.name.is_empty() {
        format!("unnamed {word}")
    } else {
        format!("{word} {:?}", c.name)
    }
}

/// Report a container whose `securityContext.<field>` is not `want`: at the field when it is set
/// to something else, at the container's name when it is missing. `consequence` ends both
/// messages ("...; <consequence>").
pub fn report_unless_set(
    out: &mut Findings,
    workload: &Resource,
    c: &Container<'_>,
    (field, want): (&str, bool),
    consequence: &str,
    help: &str,
) {
    match container_field(c, field) {
        Some(node) if node.as_bool() == Some(want) => {}
        Some(node) => {
            out.report(
                workload,
                node,
                format!(
                    "{} sets {field}: {}; {consequence}",
                    describe(c),
                    node.as_str().unwrap_or("?")
                ),
            )
            .help(help);
        }
        None => {
            let finding = out
                .report(
                    workload,
                    container_anchor(c),
                    format!(
                        "{} does not set securityContext.{field}: {want}; {consequence}",
                        describe(c)
                    ),
                )
                .help(help);
            if let Some(fix) = security_fix(
                workload,
                c,
                &["securityContext"],
                &format!("{field}: {want}"),
            ) {
                finding.fix(fix);
            }
        }
    }
}

/// Whether the workload runs to completion: a Job, a CronJob, or a Pod whose `restartPolicy` is
/// `Never` or `OnFailure`. Health probes do not apply to it.
pub fn runs_to_completion(r: &Resource) -> bool {
    match r.kind {
        Kind::Job | Kind::CronJob => true,
        Kind::Pod => matches!(
            pod_spec(r)
                .and_then(|s| s.get("restartPolicy"))
                .and_then(Node::as_str),
            Some("Never" | "OnFailure")
        ),
        _ => false,
    }
}

/// Resources of another kind than the ones [`Kind`] knows (`PodDisruptionBudget`,
/// `HorizontalPodAutoscaler`, `LimitRange`), by API group and kind name, skipping assumed ones.
pub fn others<'w>(
    ws: &'w Workspace,
    group: &'static str,
    kind: &'static str,
) -> impl Iterator<Item = &'w Resource> {
    ws.of_kind(Kind::Other)
        .filter(move |r| r.group == group && r.kind_name == kind && !r.assumed)
}

/// A machine-applicable fix that writes `leaf` (`key: value`, one line) into the mapping at
/// `path` below the container (`["securityContext"]`, `["securityContext", "capabilities"]`),
/// adding the mappings of the path that are missing. The entry goes first in an existing
/// mapping; a new `securityContext` goes after the container's `name` (before it, when it is
/// last), never before the first entry, whose line starts the sequence item. `None` (no fix) when a
/// mapping of the path is null or not a mapping or is written in flow style, or the layout
/// leaves no safe place.
pub fn security_fix(
    workload: &Resource,
    c: &Container<'_>,
    path: &[&str],
    leaf: &str,
) -> Option<Fix> {
    let file = &workload.file;
    let mut map = c.node;
    let mut depth = 0;
    while let Some(key) = path.get(depth) {
        match map.get(key) {
            Some(next) if next.as_map().is_some() => {
                map = next;
                depth += 1;
            }
            Some(_) => return None,
            None => break,
        }
    }
    let missing = &path[depth..];
    // A flow mapping (`{name: a, image: b}`) is left as written: the entry would make a long
    // line of it, or a mix of styles; the help says what to add.
    if is_flow(file, map) {
        return None;
    }
    let mut lines: Vec<String> = missing
        .iter()
        .enumerate()
        .map(|(i, key)| format!("{}{key}:", "  ".repeat(i)))
        .collect();
    lines.push(format!("{}{leaf}", "  ".repeat(missing.len())));
    // In the container, after its `name` (before it when it is last), never before the first
    // entry, which shares the line of the sequence's `- `: the item's first line stays as
    // written. Inside `securityContext`
    // or `capabilities`, first.
    let index = if depth == 0 {
        let entries = map.as_map()?;
        entries
            .iter()
            .position(|(k, _)| k.as_str() == Some("name"))
            .map_or(1, |i| i + 1)
            .min(entries.len().saturating_sub(1))
            .max(1)
    } else {
        0
    };
    let edit = insert_entry_at(file, map, index, &lines)?;
    Some(Fix {
        message: format!("set `{}.{leaf}`", path.join(".")),
        applicability: Applicability::MachineApplicable,
        edits: vec![edit],
    })
}

/// The probes of a container (`livenessProbe`, `readinessProbe`, `startupProbe`) with a port:
/// `(probe, port node)` for each `httpGet`, `tcpSocket` or `grpc` handler.
pub fn probe_ports<'a>(c: &Container<'a>) -> impl Iterator<Item = (&'static str, &'a Node)> {
    const PROBES: [&str; 3] = ["livenessProbe", "readinessProbe", "startupProbe"];
    const HANDLERS: [&str; 3] = ["httpGet", "tcpSocket", "grpc"];
    let node = c.node;
    PROBES.into_iter().flat_map(move |probe| {
        HANDLERS
            .into_iter()
            .filter_map(move |handler| node.path(&[probe, handler, "port"]).map(|p| (probe, p)))
    })
}

/// The `containerPort` of the container's port named `name`.
pub fn named_container_port(c: &Container<'_>, name: &str) -> Option<i64> {
    c.node
        .get("ports")
        .into_iter()
        .flat_map(Node::items)
        .find(|p| p.get("name").and_then(Node::as_str) == Some(name))
        .and_then(|p| p.get("containerPort"))
        .and_then(crate::resource::port_number)
}
