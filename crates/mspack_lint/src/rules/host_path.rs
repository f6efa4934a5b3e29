use mspack_yaml::Node;

use crate::crossref::pod_spec;
use crate::declare_rule;
use crate::finding::Findings;
use crate::pod_security::is_istio_workload;
use crate::resource::{Kind, Resource};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// Pods and the pod templates of Deployments, StatefulSets, DaemonSets, ReplicaSets,
    /// ReplicationControllers, Jobs, CronJobs and Argo Rollouts with a `hostPath` volume, each
    /// reported at its `path`. The message says when the path is a sensitive host directory
    /// (`/`, `/boot`, `/dev`, `/etc`, `/lib`, `/proc`, `/sys`, `/usr`, `/var/run`, `/run`) or
    /// the container runtime's socket.
    ///
    /// kube-linter's `sensitive-host-mounts`, `docker-sock` and `writable-host-mount` cover
    /// the same ground (they report only the sensitive paths, or writable mounts).
    ///
    /// Istio is understood, not reported: the pods of Istio's own charts (the `istio-cni-node`
    /// DaemonSet, which installs the CNI plugin into the host's `/opt/cni/bin`, the `ztunnel`
    /// DaemonSet, anything labelled `app.kubernetes.io/part-of: istio`) are not checked.
    ///
    /// Off by default (a hygiene check; node agents legitimately need it); enable the MSP2xx
    /// rules with `--extend-select MSP2` (on top of the default set) or `--select MSP2` (alone).
    ///
    /// ## Why it matters
    /// A hostPath volume gives the pod the node's files: with `/var/run/docker.sock` or the
    /// containerd socket it controls every container of the node, with `/etc` or `/` it can
    /// rewrite the node's configuration, and any writable host path outlives the pod and is
    /// shared with whatever else mounts it. The Pod Security Standards' `baseline` profile
    /// rejects hostPath volumes.
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
    ///         volumeMounts: [{name: cache, mountPath: /cache}]
    ///       volumes:
    ///       - name: cache
    ///         hostPath: {path: /var/cache/orders}
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
    ///         volumeMounts: [{name: cache, mountPath: /cache}]
    ///       volumes:
    ///       - name: cache
    ///         emptyDir: {}
    /// ```
    /// Use an `emptyDir`, a ConfigMap or Secret, or a PersistentVolumeClaim; a node agent that
    /// needs the host can suppress the finding with the reason.
    pub static HOST_PATH_VOLUME = Rule {
        code: "MSP210",
        name: "host-path-volume",
        severity: Warning,
        summary: "a pod mounts a directory of the node (hostPath volume)",
        mirrors: None,
        enabled_by_default: false,
        each: check on Kind::WORKLOADS,
    };
}

/// Host directories kube-linter's `sensitive-host-mounts` names, and the runtime directories.
const SENSITIVE: [&str; 10] = [
    "/", "/boot", "/dev", "/etc", "/lib", "/proc", "/sys", "/usr", "/var/run", "/run",
];

/// Why a host path is worse than most, if it is.
fn danger(path: &str) -> Option<&'static str> {
    let trimmed = path.trim_end_matches('/');
    let path = if trimmed.is_empty() { "/" } else { trimmed };
    if path.ends_with(".sock")
        && ["docker", "containerd", "crio", "cri-dockerd"]
            .iter()
            .any(|r| path.contains(r))
    {
        return Some(
            "the container runtime's socket: whoever holds it controls every container of the node",
        );
    }
    SENSITIVE
        .contains(&path)
        .then_some("a sensitive host directory: the pod can read or change the node's system files")
}

fn check(_: &Workspace, workload: &Resource, out: &mut Findings) {
    if is_istio_workload(workload) {
        return;
    }
    let volumes = pod_spec(workload).and_then(|s| s.get("volumes"));
    for volume in volumes.into_iter().flat_map(Node::items) {
        let Some(host_path) = volume.get("hostPath").filter(|n| !n.is_null()) else {
            continue;
        };
        let name = volume.get("name").and_then(Node::as_str).unwrap_or("");
        let path_node = host_path.get("path");
        let path = path_node.and_then(Node::as_str).unwrap_or("");
        let why = danger(path).map_or_else(
            || {
                ": the pod shares the node's files, which outlive it and other pods may mount"
                    .to_string()
            },
            |d| format!(", {d}"),
        );
        out.report(
            workload,
            path_node.unwrap_or(host_path),
            format!("volume {name:?} mounts host path {path:?}{why}"),
        )
        .help(
            "use an emptyDir, a ConfigMap or Secret, or a PersistentVolumeClaim; if the pod \
             is a node agent that needs the host, suppress this finding with the reason",
        );
    }
}
