use mspack_yaml::Node;

use crate::crossref::{containers, quantity};
use crate::declare_rule;
use crate::finding::Findings;
use crate::resource::{Kind, Resource};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// Every container, init (and native sidecar) container and ephemeral container of Pods and
    /// of the pod templates of Deployments, StatefulSets, DaemonSets, ReplicaSets,
    /// ReplicationControllers, Jobs, CronJobs and Argo Rollouts whose `resources.requests` of a
    /// resource (cpu, memory, ephemeral-storage, or any other named in both) is more than its
    /// `resources.limits` of the same resource. Quantities are compared by value, so `1000m`
    /// equals `1` and `1Gi` is more than `1G`. The Istio sidecar annotations of the pod template
    /// are checked the same way: `sidecar.istio.io/proxyCPU` against `proxyCPULimit`,
    /// `proxyMemory` against `proxyMemoryLimit`.
    ///
    /// ## Why it matters
    /// The API server rejects a pod whose request is above its limit ("must be less than or
    /// equal to ... limit"). For a controller, the object is accepted but none of its pods is
    /// created; for the sidecar annotations, the injected `istio-proxy` container is rejected.
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
    ///           requests: {cpu: 500m, memory: 1Gi}
    ///           limits: {cpu: "1", memory: 1G}
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
    ///           requests: {cpu: 500m, memory: 1Gi}
    ///           limits: {cpu: "1", memory: 1Gi}
    /// ```
    /// Lower the request or raise the limit (binary `Gi` is more than decimal `G`).
    pub static REQUESTS_ABOVE_LIMITS = Rule {
        code: "MSP401",
        name: "requests-above-limits",
        severity: Error,
        summary: "a container requests more of a resource than its limit; the API server rejects the pod",
        mirrors: None,
        each: check on Kind::WORKLOADS,
    };
}

/// Istio's sidecar resource annotations: (request, limit, resource).
const PROXY_ANNOTATIONS: [(&str, &str, &str); 2] = [
    (
        "sidecar.istio.io/proxyCPU",
        "sidecar.istio.io/proxyCPULimit",
        "cpu",
    ),
    (
        "sidecar.istio.io/proxyMemory",
        "sidecar.istio.io/proxyMemoryLimit",
        "memory",
    ),
];

fn check(_: &Workspace, workload: &Resource, out: &mut Findings) {
    check_containers(workload, out);
    check_proxy_annotations(workload, out);
}

fn check_containers(workload: &Resource, out: &mut Findings) {
    for container in containers(workload) {
        let resources = container.node.get("resources");
        let limits = resources.and_then(|r| r.get("limits"));
        let requests = resources.and_then(|r| r.get("requests"));
        for (name, _, request) in requests.into_iter().flat_map(Node::entries) {
            let Some(limit) = limits.and_then(|l| l.get(name)) else {
                continue;
            };
            if !above(request, limit) {
                continue;
            }
            out.report(
                workload,
                request,
                format!(
                    "{} {:?} requests {name} {} but its limit is {}; the API server rejects a \
                     pod whose request is above its limit",
                    container_word(container.list),
                    container.name,
                    text(request),
                    text(limit)
                ),
            )
            .help(format!(
                "lower `requests.{name}` or raise `limits.{name}` (binary units such as Gi are \
                 larger than decimal ones such as G)"
            ));
        }
    }
}

fn check_proxy_annotations(workload: &Resource, out: &mut Findings) {
    let annotations = workload
        .pod_template()
        .and_then(|t| t.path(&["metadata", "annotations"]));
    let Some(annotations) = annotations else {
        return;
    };
    for (request_key, limit_key, resource) in PROXY_ANNOTATIONS {
        let (Some(request), Some(limit)) =
            (annotations.get(request_key), annotations.get(limit_key))
        else {
            continue;
        };
        if !above(request, limit) {
            continue;
        }
        out.report(
            workload,
            request,
            format!(
                "annotation {request_key} ({}) is above {limit_key} ({}): the injected \
                 istio-proxy container requests more {resource} than its limit and the API \
                 server rejects the pod",
                text(request),
                text(limit)
            ),
        )
        .help(format!("lower {request_key} or raise {limit_key}"));
    }
}

/// Whether both parse as quantities and the request is the larger.
fn above(request: &Node, limit: &Node) -> bool {
    matches!((quantity(request), quantity(limit)), (Some(r), Some(l)) if r > l)
}

fn text(node: &Node) -> &str {
    node.as_str().unwrap_or("?")
}

fn container_word(list: &str) -> &'static str {
    match list {
        "initContainers" => "init container",
        "ephemeralContainers" => "ephemeral container",
        _ => "container",
    }
}
