use crate::declare_rule;
use crate::finding::Findings;
use crate::pod_security::{checked_containers, report_unless_set, skips_linux_checks};
use crate::resource::{Kind, Resource};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// Every container, init container and ephemeral container of Pods and of the pod templates
    /// of Deployments, StatefulSets, DaemonSets, ReplicaSets, ReplicationControllers, Jobs,
    /// CronJobs and Argo Rollouts whose `securityContext.readOnlyRootFilesystem` is not `true`
    /// (absent counts). Windows pods (`spec.os.name: windows`), where the field cannot be set,
    /// are not checked.
    ///
    /// The same ground is covered by kube-linter's `no-read-only-root-fs` check and Polaris'
    /// `notReadOnlyRootFilesystem`.
    ///
    /// Istio is understood, not reported: the `istio-proxy`, `istio-init` and
    /// `istio-validation` containers get their security context from Istio's injection
    /// template, and the pods of Istio's own charts (the `istio-cni-node` and `ztunnel`
    /// DaemonSets, anything labelled `app.kubernetes.io/part-of: istio`) are not checked.
    ///
    /// Off by default (a hygiene check that most published manifests fail); enable the MSP2xx
    /// rules with `--extend-select MSP2` (on top of the default set) or `--select MSP2` (alone).
    ///
    /// ## Why it matters
    /// A writable root filesystem lets an attacker who gets code execution in the container
    /// drop tools and binaries, or alter the application, and it hides state that a restart
    /// loses. With a read-only root, the writable places are the volumes you mount on purpose.
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
    ///         securityContext: {readOnlyRootFilesystem: false}
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
    ///         securityContext: {readOnlyRootFilesystem: true}
    ///         volumeMounts: [{name: tmp, mountPath: /tmp}]
    ///       volumes: [{name: tmp, emptyDir: {}}]
    /// ```
    /// Set `readOnlyRootFilesystem: true` and mount an `emptyDir` where the process must write.
    ///
    /// `mspack lint --fix` adds `readOnlyRootFilesystem: true` to a container that does not set
    /// it (in its `securityContext`, created after the container's `name` when absent), keeping
    /// comments and the rest of the file; a container or `securityContext` written in flow
    /// style (`{...}`) is left as written. Check that the process writes only to mounted
    /// volumes before applying it.
    pub static WRITABLE_ROOT_FILESYSTEM = Rule {
        code: "MSP203",
        name: "writable-root-filesystem",
        severity: Warning,
        summary: "a container's root filesystem is writable: readOnlyRootFilesystem is not true",
        mirrors: None,
        enabled_by_default: false,
        each: check on Kind::WORKLOADS,
    };
}

fn check(_: &Workspace, workload: &Resource, out: &mut Findings) {
    if skips_linux_checks(workload) {
        return;
    }
    for c in checked_containers(workload) {
        report_unless_set(
            out,
            workload,
            &c,
            ("readOnlyRootFilesystem", true),
            "its root filesystem is writable",
            "set `securityContext.readOnlyRootFilesystem: true` and mount an emptyDir where \
             the process writes",
        );
    }
}
