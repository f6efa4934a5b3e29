use mspack_yaml::Node;

use crate::declare_rule;
use crate::finding::{Findings, listed};
use crate::pod_security::{checked_containers, container_anchor, describe, others, workloads};
use crate::resource::Resource;
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// Every container and init container of Pods and of the pod templates of Deployments,
    /// StatefulSets, DaemonSets, ReplicaSets, ReplicationControllers, Jobs, CronJobs and Argo
    /// Rollouts that leaves unset its CPU request, its memory request or its memory limit. A
    /// request left out where the limit is set is not reported: Kubernetes takes the limit as
    /// the request. A LimitRange of the namespace in the input that gives Container defaults
    /// (`default`, `defaultRequest`) for a resource counts as setting it. The CPU limit is not
    /// required (a CPU limit throttles a process that could use idle CPU; the request is what
    /// reserves it).
    ///
    /// kube-linter's `unset-cpu-requirements` and `unset-memory-requirements` and Polaris'
    /// `cpuRequestsMissing`, `memoryRequestsMissing` and `memoryLimitsMissing` cover the same
    /// ground (kube-linter and Polaris' `cpuLimitsMissing` also ask for a CPU limit).
    ///
    /// Istio is understood, not reported: the injected `istio-proxy` and `istio-init`
    /// containers get their resources from the injection template, and Istio's own pods are not
    /// checked.
    ///
    /// Off by default; enable the MSP2xx rules with `--extend-select MSP2` (on top of the
    /// default set) or `--select MSP2` (alone).
    ///
    /// ## Why it matters
    /// Without requests the scheduler places the pod as if it needed nothing: nodes get
    /// overcommitted and the pod is the first evicted under pressure (QoS class BestEffort).
    /// Without a memory limit a leak grows until the node runs out of memory and the kernel
    /// kills whatever it picks, possibly another workload.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: apps/v1
    /// kind: Deployment
    /// metadata: {name: orders, namespace: food}
    /// spec:
    ///   selector: {matchLabels: {app: orders}}
    ///   template:
    ///     metadata: {labels: {app: orders}}
    ///     spec:
    ///       containers:
    ///       - name: orders
    ///         image: food/orders:1.0
    ///         resources:
    ///           requests: {cpu: 100m}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: apps/v1
    /// kind: Deployment
    /// metadata: {name: orders, namespace: food}
    /// spec:
    ///   selector: {matchLabels: {app: orders}}
    ///   template:
    ///     metadata: {labels: {app: orders}}
    ///     spec:
    ///       containers:
    ///       - name: orders
    ///         image: food/orders:1.0
    ///         resources:
    ///           requests: {cpu: 100m, memory: 128Mi}
    ///           limits: {memory: 256Mi}
    /// ```
    /// Set `requests.cpu`, `requests.memory` and `limits.memory` from the process's measured
    /// use.
    pub static RESOURCES_NOT_SET = Rule {
        code: "MSP206",
        name: "resources-not-set",
        severity: Warning,
        summary: "a container sets no CPU request, memory request or memory limit",
        mirrors: None,
        enabled_by_default: false,
        check: check,
    };
}

/// What a container must set: (label, `resources.<section>.<resource>`, and whether a limit of
/// the same resource also sets it).
const REQUIRED: [(&str, &str, &str, bool); 3] = [
    ("CPU request", "requests", "cpu", true),
    ("memory request", "requests", "memory", true),
    ("memory limit", "limits", "memory", false),
];

fn check(ws: &Workspace, out: &mut Findings) {
    let ranges: Vec<&Resource> = others(ws, "", "LimitRange").collect();
    for workload in workloads(ws) {
        let defaults = limit_range_defaults(&ranges, workload);
        for c in checked_containers(workload) {
            if c.list == "ephemeralContainers" {
                continue;
            }
            let resources = c.node.get("resources").filter(|n| !n.is_null());
            let set = |section: &str, resource: &str| {
                resources
                    .and_then(|r| r.path(&[section, resource]))
                    .is_some_and(|n| !n.is_null())
            };
            let missing: Vec<&str> = REQUIRED
                .iter()
                .filter(|(_, section, resource, limit_counts)| {
                    let from_limit = *limit_counts && set("limits", resource);
                    let defaulted = defaults.contains(&(*section, *resource));
                    !(set(section, resource) || from_limit || defaulted)
                })
                .map(|(label, ..)| *label)
                .collect();
            if missing.is_empty() {
                continue;
            }
            out.report(
                workload,
                resources.unwrap_or_else(|| container_anchor(&c)),
                format!(
                    "{} sets no {}: {}",
                    describe(&c),
                    listed(&missing),
                    consequence(&missing)
                ),
            )
            .help(
                "set `resources.requests.cpu`, `resources.requests.memory` and \
                 `resources.limits.memory`",
            );
        }
    }
}

/// Why the missing settings matter.
fn consequence(missing: &[&str]) -> &'static str {
    let requests = missing.iter().any(|m| m.ends_with("request"));
    let limit = missing.contains(&"memory limit");
    match (requests, limit) {
        (true, true) => {
            "the scheduler does not reserve what it uses and a memory leak can exhaust the node"
        }
        (true, false) => "the scheduler does not reserve what it uses",
        _ => "a memory leak grows until the node runs out of memory",
    }
}

/// `(section, resource)` pairs that a LimitRange of the workload's namespace gives containers by
/// default: `default` sets the limit (and the request), `defaultRequest` the request.
fn limit_range_defaults(
    ranges: &[&Resource],
    workload: &Resource,
) -> Vec<(&'static str, &'static str)> {
    let mut out = Vec::new();
    let ranges = ranges.iter().filter(|r| r.ns == workload.ns);
    for item in ranges.flat_map(|r| r.spec_at(&["limits"]).into_iter().flat_map(Node::items)) {
        if item.get("type").and_then(Node::as_str) != Some("Container") {
            continue;
        }
        for resource in ["cpu", "memory"] {
            let has = |key: &str| item.path(&[key, resource]).is_some_and(|n| !n.is_null());
            if has("default") {
                out.extend([("limits", resource), ("requests", resource)]);
            }
            if has("defaultRequest") {
                out.push(("requests", resource));
            }
        }
    }
    out
}
