use mspack_yaml::Node;

use crate::declare_rule;
use crate::finding::Findings;
use crate::pod_security::{
    checked_containers, container_anchor, describe, effective_field, is_istio_workload,
};
use crate::resource::{Kind, Resource};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// Every container, init container and ephemeral container of Pods and of the pod templates
    /// of Deployments, StatefulSets, DaemonSets, ReplicaSets, ReplicationControllers, Jobs,
    /// CronJobs and Argo Rollouts that may run as root: its effective `runAsUser` is `0`, or it
    /// has no non-zero `runAsUser` and no `runAsNonRoot: true`. Each field is read from the
    /// container's `securityContext` and, when the container does not set it, from the pod's
    /// `spec.securityContext`: the container's value wins (a container's `runAsNonRoot: false`
    /// overrides the pod's `true`).
    ///
    /// The same ground is covered by kube-linter's `run-as-non-root` check and Polaris'
    /// `runAsRootAllowed`.
    ///
    /// Istio is understood, not reported: the `istio-proxy`, `istio-init` and
    /// `istio-validation` containers get their user from Istio's injection template
    /// (`istio-init` runs as root to program iptables), and the pods of Istio's own charts (the
    /// `istio-cni-node` and `ztunnel` DaemonSets, anything labelled
    /// `app.kubernetes.io/part-of: istio`) are not checked.
    ///
    /// Off by default (a hygiene check that most published manifests fail); enable the MSP2xx
    /// rules with `--extend-select MSP2` (on top of the default set) or `--select MSP2` (alone).
    ///
    /// ## Why it matters
    /// Without either field the container runs as the image's user, which is root for most
    /// images: a process that breaks out of the container, or writes to a mounted host path, does
    /// so as root. `runAsNonRoot: true` makes the kubelet refuse to start a container whose user
    /// is root; the Pod Security Standards' `restricted` profile requires it.
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
    ///       securityContext: {runAsNonRoot: true, runAsUser: 10001}
    ///       containers:
    ///       - name: orders
    ///         image: food/orders:1.0
    /// ```
    /// Set `runAsNonRoot: true` (and a non-zero `runAsUser` if the image's user is root) in the
    /// pod's or the container's `securityContext`.
    pub static RUN_AS_ROOT = Rule {
        code: "MSP202",
        name: "container-may-run-as-root",
        severity: Warning,
        summary: "a container may run as root: no runAsNonRoot: true nor a non-zero runAsUser",
        mirrors: None,
        enabled_by_default: false,
        each: check on Kind::WORKLOADS,
    };
}

fn check(_: &Workspace, workload: &Resource, out: &mut Findings) {
    if is_istio_workload(workload) {
        return;
    }
    for c in checked_containers(workload) {
        let user = effective_field(workload, &c, "runAsUser");
        let non_root = effective_field(workload, &c, "runAsNonRoot");
        if let Some(node) = user.filter(|n| n.as_i64() == Some(0)) {
            out.report(
                workload,
                node,
                format!("{} runs as root (runAsUser: 0)", describe(&c)),
            )
            .help("run as a non-zero user and set `runAsNonRoot: true`");
            continue;
        }
        if user.and_then(Node::as_i64).is_some_and(|u| u > 0)
            || non_root.and_then(Node::as_bool) == Some(true)
        {
            continue;
        }
        let help = "set `runAsNonRoot: true` (and a non-zero `runAsUser` if the image's user \
                    is root) in the pod's or the container's securityContext";
        match non_root {
            Some(node) => out.report(
                workload,
                node,
                format!(
                    "{} sets runAsNonRoot: {} and no non-zero runAsUser; it may run as root",
                    describe(&c),
                    node.as_str().unwrap_or("?")
                ),
            ),
            None => out.report(
                workload,
                container_anchor(&c),
                format!(
                    "{} may run as root: neither it nor the pod sets runAsNonRoot: true or a \
                     non-zero runAsUser, so it runs as the image's user",
                    describe(&c)
                ),
            ),
        }
        .help(help);
    }
}
