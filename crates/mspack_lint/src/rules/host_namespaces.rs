use crate::crossref::pod_spec;
use crate::declare_rule;
use crate::finding::Findings;
use crate::pod_security::is_istio_workload;
use crate::resource::{Kind, Resource};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// Pods and the pod templates of Deployments, StatefulSets, DaemonSets, ReplicaSets,
    /// ReplicationControllers, Jobs, CronJobs and Argo Rollouts that share a host namespace:
    /// `hostNetwork: true`, `hostPID: true` or `hostIPC: true` (each reported on its own).
    ///
    /// The same ground is covered by kube-linter's `host-network`, `host-pid` and `host-ipc`
    /// checks and Polaris' `hostNetworkSet`, `hostPIDSet` and `hostIPCSet`.
    ///
    /// Istio is understood, not reported: the pods of Istio's own charts (the `istio-cni-node`
    /// DaemonSet, which runs on the host network to install the CNI plugin, the `ztunnel`
    /// DaemonSet, anything labelled `app.kubernetes.io/part-of: istio`) are not checked.
    ///
    /// Off by default (a hygiene check; node agents legitimately need it); enable the MSP2xx
    /// rules with `--extend-select MSP2` (on top of the default set) or `--select MSP2` (alone).
    ///
    /// ## Why it matters
    /// `hostNetwork` puts the pod on the node's network stack: it can bind the node's ports,
    /// reach services on its loopback and bypass NetworkPolicies and the Istio sidecar's
    /// traffic capture. `hostPID` lets it see (and, as root, signal or trace) every process on
    /// the node; `hostIPC` lets it read the shared memory of the node's processes.
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
    ///       hostNetwork: true
    ///       containers:
    ///       - name: orders
    ///         image: food/orders:1.0
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
    ///         ports: [{containerPort: 8080}]
    /// ```
    /// Remove the host namespace and expose the port through a Service; a node agent that
    /// needs the host can suppress the finding with the reason.
    pub static HOST_NAMESPACES = Rule {
        code: "MSP205",
        name: "host-namespace-shared",
        severity: Warning,
        summary: "a pod shares the node's network, process or IPC namespace",
        mirrors: None,
        enabled_by_default: false,
        each: check on Kind::WORKLOADS,
    };
}

const FIELDS: [(&str, &str); 3] = [
    (
        "hostNetwork",
        "it is on the node's network stack, bypassing NetworkPolicies and sidecar traffic capture",
    ),
    (
        "hostPID",
        "it sees every process of the node and, as root, can signal or trace them",
    ),
    (
        "hostIPC",
        "it shares the node's IPC namespace and can read its processes' shared memory",
    ),
];

fn check(_: &Workspace, workload: &Resource, out: &mut Findings) {
    if is_istio_workload(workload) {
        return;
    }
    let Some(spec) = pod_spec(workload) else {
        return;
    };
    for (field, why) in FIELDS {
        let Some(node) = spec.get(field).filter(|n| n.as_bool() == Some(true)) else {
            continue;
        };
        out.report(workload, node, format!("the pod sets {field}: true; {why}"))
            .help(format!(
                "remove `{field}: true`; a node agent that needs it can suppress this finding \
             with the reason"
            ));
    }
}
