use crate::declare_rule;
use crate::finding::Findings;
use crate::pod_security::{
    checked_containers, container_field, describe, report_unless_set, skips_linux_checks,
};
use crate::resource::{Kind, Resource};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// Every container, init container and ephemeral container of Pods and of the pod templates
    /// of Deployments, StatefulSets, DaemonSets, ReplicaSets, ReplicationControllers, Jobs,
    /// CronJobs and Argo Rollouts that runs privileged (`securityContext.privileged: true`) or
    /// whose `securityContext.allowPrivilegeEscalation` is not `false` (absent counts: the
    /// kernel's default lets a setuid binary gain privileges). Windows pods (`spec.os.name:
    /// windows`), where the field cannot be set, are not checked.
    ///
    /// The same ground is covered by kube-linter's `privileged-container` and
    /// `privilege-escalation-container` checks and Polaris' `privilegeEscalationAllowed`.
    ///
    /// Istio is understood, not reported: the `istio-proxy`, `istio-init` and
    /// `istio-validation` containers get their security context from Istio's injection
    /// template, and the pods of Istio's own charts (the `istio-cni-node` and `ztunnel`
    /// DaemonSets, anything labelled `app.kubernetes.io/part-of: istio`) need their privileges.
    ///
    /// Off by default (a hygiene check that most published manifests fail); enable the MSP2xx
    /// rules with `--extend-select MSP2` (on top of the default set) or `--select MSP2` (alone).
    ///
    /// ## Why it matters
    /// A privileged container has every capability and the host's devices: escaping it is
    /// owning the node. Without `allowPrivilegeEscalation: false`, a process in the container
    /// can gain more privileges than its parent (setuid binaries, file capabilities), and the
    /// Pod Security Standards' `restricted` profile rejects the pod.
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
    ///         securityContext: {privileged: true}
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
    ///         securityContext: {privileged: false, allowPrivilegeEscalation: false}
    /// ```
    /// Remove `privileged: true` (add only the capabilities the process needs) and set
    /// `allowPrivilegeEscalation: false`.
    ///
    /// `mspack lint --fix` adds `allowPrivilegeEscalation: false` to a container that does not
    /// set it (in its `securityContext`, created after the container's `name` when absent),
    /// keeping comments and the rest of the file; a container or `securityContext` written in
    /// flow style (`{...}`) is left as written.
    pub static PRIVILEGED_CONTAINER = Rule {
        code: "MSP201",
        name: "privileged-container",
        severity: Warning,
        summary: "a container runs privileged or may escalate its privileges",
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
        if let Some(node) = container_field(&c, "privileged").filter(|n| n.as_bool() == Some(true))
        {
            out.report(
                workload,
                node,
                format!(
                    "{} runs privileged: it has every capability and the host's devices",
                    describe(&c)
                ),
            )
            .help("remove `privileged: true`; add only the capabilities the process needs");
            continue;
        }
        report_unless_set(
            out,
            workload,
            &c,
            ("allowPrivilegeEscalation", false),
            "its processes may gain more privileges than their parent",
            "set `securityContext.allowPrivilegeEscalation: false`",
        );
    }
}
