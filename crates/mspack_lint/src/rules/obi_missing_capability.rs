use std::collections::BTreeSet;

use mspack_yaml::Node;

use crate::crossref::{Container, containers, pod_spec};
use crate::declare_rule;
use crate::finding::Findings;
use crate::obi::{ObiConfig, is_obi_image, obi_configs};
use crate::resource::Resource;
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// Every OpenTelemetry eBPF Instrumentation (OBI) Config v2 document in a ConfigMap's `data`
    /// (a mapping with `extensions.obi`) and the containers that mount that ConfigMap (the OBI
    /// DaemonSet's; those with an OBI image, `.../ebpf-instrument`, when there are any). It reports a container that does not get a Linux capability the
    /// configuration's features need, at its `capabilities.add` (or its name):
    /// - always `BPF`, to load eBPF programs;
    /// - application observability (on unless `capture.policy.default_action: exclude` with no
    ///   `include` rule): `CHECKPOINT_RESTORE`, `DAC_READ_SEARCH`, `SYS_PTRACE`, `PERFMON` and
    ///   `NET_RAW`;
    /// - context propagation (`capture.engine.propagation.context_propagation` other than
    ///   `disabled`): `NET_ADMIN`;
    /// - network capture (`capture.network.capture.enabled: true`): `NET_RAW` with the default
    ///   `socket_filter` source, `PERFMON` and `NET_ADMIN` with `source: tc`.
    ///
    /// A Config v1 file (top-level `ebpf`, `discovery`, `network`) in a ConfigMap that an OBI
    /// container (image `.../ebpf-instrument`) mounts is read the same way: application
    /// observability unless it is a network-only agent (no `discovery`, `network.enable: true`),
    /// `ebpf.context_propagation`, `network.enable` and `network.source`, each overridden by the
    /// container's `OTEL_EBPF_BPF_CONTEXT_PROPAGATION`, `OTEL_EBPF_NETWORK_METRICS` and
    /// `OTEL_EBPF_NETWORK_SOURCE`.
    ///
    /// These are the capabilities OBI's own start-up check asks for (OBI's security
    /// documentation lists the same). A `privileged` container, or one adding `SYS_ADMIN` or
    /// `ALL`, has them all; `NET_RAW` is in the container runtime's default set unless dropped.
    /// Kernels older than 5.8 need `SYS_ADMIN` instead, which this check cannot know.
    ///
    /// ## Why it matters
    /// Without the capability OBI fails to load or attach its probes: with
    /// `enforce_system_capabilities: true` it exits at start-up and the DaemonSet crash-loops;
    /// without, it starts and silently produces no traces, no propagated context or no network
    /// metrics.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: v1
    /// kind: ConfigMap
    /// metadata: {name: obi-config, namespace: obi-system}
    /// data:
    ///   obi-config.yaml: |
    ///     file_format: '1.0'
    ///     extensions:
    ///       obi:
    ///         version: '2.0'
    ///         capture:
    ///           engine:
    ///             propagation:
    ///               context_propagation: headers
    /// ---
    /// apiVersion: apps/v1
    /// kind: DaemonSet
    /// metadata: {name: obi, namespace: obi-system}
    /// spec:
    ///   selector: {matchLabels: {app: obi}}
    ///   template:
    ///     metadata: {labels: {app: obi}}
    ///     spec:
    ///       hostPID: true
    ///       containers:
    ///       - name: obi
    ///         image: docker.io/otel/ebpf-instrument:v0.14.0
    ///         securityContext:
    ///           capabilities:
    ///             drop: [ALL]
    ///             add: [BPF, PERFMON, SYS_PTRACE, NET_RAW, CHECKPOINT_RESTORE, DAC_READ_SEARCH]
    ///         volumeMounts:
    ///         - {name: config, mountPath: /config}
    ///       volumes:
    ///       - name: config
    ///         configMap: {name: obi-config}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: v1
    /// kind: ConfigMap
    /// metadata: {name: obi-config, namespace: obi-system}
    /// data:
    ///   obi-config.yaml: |
    ///     file_format: '1.0'
    ///     extensions:
    ///       obi:
    ///         version: '2.0'
    ///         capture:
    ///           engine:
    ///             propagation:
    ///               context_propagation: headers
    /// ---
    /// apiVersion: apps/v1
    /// kind: DaemonSet
    /// metadata: {name: obi, namespace: obi-system}
    /// spec:
    ///   selector: {matchLabels: {app: obi}}
    ///   template:
    ///     metadata: {labels: {app: obi}}
    ///     spec:
    ///       hostPID: true
    ///       containers:
    ///       - name: obi
    ///         image: docker.io/otel/ebpf-instrument:v0.14.0
    ///         securityContext:
    ///           capabilities:
    ///             drop: [ALL]
    ///             add: [BPF, PERFMON, SYS_PTRACE, NET_RAW, CHECKPOINT_RESTORE, DAC_READ_SEARCH, NET_ADMIN]
    ///         volumeMounts:
    ///         - {name: config, mountPath: /config}
    ///       volumes:
    ///       - name: config
    ///         configMap: {name: obi-config}
    /// ```
    pub static OBI_MISSING_CAPABILITY = Rule {
        code: "MSP311",
        name: "obi-missing-capability",
        severity: Error,
        summary: "the container running an OBI configuration lacks a Linux capability its features need",
        mirrors: None,
        check: check,
    };
}

/// Capabilities a container runtime grants by default (containerd's and Docker's set).
const RUNTIME_DEFAULT: [&str; 14] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "FSETID",
    "FOWNER",
    "MKNOD",
    "NET_RAW",
    "SETGID",
    "SETUID",
    "SETFCAP",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "SYS_CHROOT",
    "KILL",
    "AUDIT_WRITE",
];

/// The capabilities a Config v2 file needs, each with the feature that needs it.
fn needed_v2(obi: &Node) -> Vec<(&'static str, String)> {
    let text = |path: &[&str]| obi.path(path).and_then(Node::as_str);
    let mut out = vec![("BPF", "loading eBPF programs".to_owned())];
    let rules = obi.path(&["capture", "rules"]);
    let includes = rules
        .into_iter()
        .flat_map(Node::items)
        .any(|r| r.get("action").and_then(Node::as_str) == Some("include"));
    let default_exclude = text(&["capture", "policy", "default_action"]) == Some("exclude");
    if includes || !default_exclude {
        for cap in [
            "CHECKPOINT_RESTORE",
            "DAC_READ_SEARCH",
            "SYS_PTRACE",
            "PERFMON",
            "NET_RAW",
        ] {
            out.push((cap, "application observability".to_owned()));
        }
    }
    if let Some(mode) = text(&["capture", "engine", "propagation", "context_propagation"])
        .filter(|m| !m.eq_ignore_ascii_case("disabled"))
    {
        out.push(("NET_ADMIN", format!("context propagation `{mode}`")));
    }
    let network = obi.path(&["capture", "network", "capture"]);
    let enabled = network
        .and_then(|n| n.get("enabled"))
        .and_then(Node::as_str)
        .is_some_and(|s| s.eq_ignore_ascii_case("true"));
    if enabled {
        match network.and_then(|n| n.get("source")).and_then(Node::as_str) {
            Some("tc") => {
                out.push(("PERFMON", "network capture with `source: tc`".to_owned()));
                out.push(("NET_ADMIN", "network capture with `source: tc`".to_owned()));
            }
            _ => out.push(("NET_RAW", "network capture (socket filters)".to_owned())),
        }
    }
    out
}

/// A literal `env` value of the container.
fn env_value<'a>(container: &'a Node, name: &str) -> Option<&'a str> {
    container
        .get("env")
        .into_iter()
        .flat_map(Node::items)
        .filter(|e| e.get("name").and_then(Node::as_str) == Some(name))
        .find_map(|e| e.get("value").and_then(Node::as_str))
}

/// The capabilities a Config v1 file needs, its settings overridden by the container's
/// `OTEL_EBPF_*` variables as OBI reads them.
fn needed_v1(root: &Node, container: &Node) -> Vec<(&'static str, String)> {
    let setting = |env: &str, path: &[&str]| -> Option<String> {
        env_value(container, env)
            .or_else(|| root.path(path).and_then(Node::as_str))
            .map(str::to_owned)
    };
    let mut out = vec![("BPF", "loading eBPF programs".to_owned())];
    let network = setting("OTEL_EBPF_NETWORK_METRICS", &["network", "enable"])
        .is_some_and(|s| s.eq_ignore_ascii_case("true"));
    // A network-only agent has no `discovery` section.
    if root.get("discovery").is_some() || !network {
        for cap in [
            "CHECKPOINT_RESTORE",
            "DAC_READ_SEARCH",
            "SYS_PTRACE",
            "PERFMON",
            "NET_RAW",
        ] {
            out.push((cap, "application observability".to_owned()));
        }
    }
    if let Some(mode) = setting(
        "OTEL_EBPF_BPF_CONTEXT_PROPAGATION",
        &["ebpf", "context_propagation"],
    )
    .filter(|m| !m.eq_ignore_ascii_case("disabled"))
    {
        out.push(("NET_ADMIN", format!("context propagation `{mode}`")));
    }
    if network {
        match setting("OTEL_EBPF_NETWORK_SOURCE", &["network", "source"]).as_deref() {
            Some("tc") => {
                out.push(("PERFMON", "network capture with `source: tc`".to_owned()));
                out.push(("NET_ADMIN", "network capture with `source: tc`".to_owned()));
            }
            _ => out.push(("NET_RAW", "network capture (socket filters)".to_owned())),
        }
    }
    out
}

fn normalize(cap: &str) -> String {
    let cap = cap.trim().to_ascii_uppercase();
    cap.strip_prefix("CAP_").map(str::to_owned).unwrap_or(cap)
}

/// The capabilities a container gets, or `None` when it gets them all.
fn granted(container: &Node) -> Option<BTreeSet<String>> {
    let context = container.get("securityContext");
    let flag = |key: &str| {
        context
            .and_then(|c| c.get(key))
            .and_then(Node::as_str)
            .is_some_and(|s| s.eq_ignore_ascii_case("true"))
    };
    if flag("privileged") {
        return None;
    }
    let list = |key: &str| -> Vec<String> {
        context
            .and_then(|c| c.path(&["capabilities", key]))
            .into_iter()
            .flat_map(Node::items)
            .filter_map(Node::as_str)
            .map(normalize)
            .collect()
    };
    let added = list("add");
    if added.iter().any(|c| c == "ALL" || c == "SYS_ADMIN") {
        return None;
    }
    let dropped = list("drop");
    let mut caps: BTreeSet<String> = if dropped.iter().any(|c| c == "ALL") {
        BTreeSet::new()
    } else {
        RUNTIME_DEFAULT
            .iter()
            .map(|c| (*c).to_owned())
            .filter(|c| !dropped.contains(c))
            .collect()
    };
    caps.extend(added);
    Some(caps)
}

/// Names of the runner's volumes that hold the configuration's ConfigMap.
fn config_volumes<'a>(runner: &'a Resource, configmap: &str) -> Vec<&'a str> {
    let volumes = pod_spec(runner).and_then(|s| s.get("volumes"));
    volumes
        .into_iter()
        .flat_map(Node::items)
        .filter(|v| {
            let direct = v.path(&["configMap", "name"]).and_then(Node::as_str) == Some(configmap);
            let projected = v
                .path(&["projected", "sources"])
                .into_iter()
                .flat_map(Node::items)
                .any(|s| s.path(&["configMap", "name"]).and_then(Node::as_str) == Some(configmap));
            direct || projected
        })
        .filter_map(|v| v.get("name").and_then(Node::as_str))
        .collect()
}

fn check(ws: &Workspace, out: &mut Findings) {
    for config in obi_configs(ws).iter() {
        check_config(ws, config, out);
    }
}

fn check_config(ws: &Workspace, config: &ObiConfig, out: &mut Findings) {
    let v2 = config.obi();
    if v2.is_none() && !config.v1 {
        return;
    }
    let Some(configmap) = config.resource.and_then(|id| ws.resources.get(id)) else {
        return;
    };
    for runner in config.runners.iter().filter_map(|id| ws.resources.get(*id)) {
        let volumes = config_volumes(runner, &configmap.name);
        let mounting: Vec<_> = containers(runner)
            .filter(|c| c.list == "containers")
            .filter(|c| {
                c.node
                    .get("volumeMounts")
                    .into_iter()
                    .flat_map(Node::items)
                    .filter_map(|m| m.get("name").and_then(Node::as_str))
                    .any(|m| volumes.contains(&m))
            })
            .collect();
        // OBI's own containers when the image says so; a Config v1 file is only read by them.
        let runs_obi = |c: &Container<'_>| {
            c.node
                .get("image")
                .and_then(Node::as_str)
                .is_some_and(is_obi_image)
        };
        let obi_containers: Vec<_> = mounting.iter().filter(|c| runs_obi(c)).collect();
        let checked: Vec<_> = if !obi_containers.is_empty() || config.v1 {
            obi_containers
        } else {
            mounting.iter().collect()
        };
        for c in checked {
            let Some(caps) = granted(c.node) else {
                continue;
            };
            let needs = match v2 {
                Some(obi) => needed_v2(obi),
                None => needed_v1(&config.root, c.node),
            };
            let mut missing: Vec<(&str, Vec<&str>)> = Vec::new();
            for (cap, why) in &needs {
                if caps.contains(*cap) {
                    continue;
                }
                match missing.iter_mut().find(|(m, _)| m == cap) {
                    Some((_, whys)) => whys.push(why),
                    None => missing.push((cap, vec![why])),
                }
            }
            if missing.is_empty() {
                continue;
            }
            let list = missing
                .iter()
                .map(|(cap, whys)| format!("{cap} ({})", whys.join(", ")))
                .collect::<Vec<_>>()
                .join(", ");
            let names = missing
                .iter()
                .map(|(c, _)| *c)
                .collect::<Vec<_>>()
                .join(", ");
            let anchor = c
                .node
                .path(&["securityContext", "capabilities", "add"])
                .or_else(|| c.node.get("name"))
                .unwrap_or(c.node);
            let name = c.name;
            out.report_span(
                runner,
                anchor.span,
                format!(
                    "container {name:?} runs the OBI configuration of {} without capabilities \
                     it needs: {list}; OBI cannot load or attach those probes",
                    configmap.display_name()
                ),
            )
            .help(format!(
                "add {names} to the container's `securityContext.capabilities.add`, or turn the \
                 feature off in the configuration"
            ));
        }
    }
}
