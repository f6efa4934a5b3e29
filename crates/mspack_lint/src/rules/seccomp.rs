use mspack_yaml::Node;

use crate::crossref::pod_spec;
use crate::declare_rule;
use crate::finding::Findings;
use crate::pod_security::{
    checked_containers, container_anchor, container_field, describe, skips_linux_checks,
};
use crate::resource::{Kind, Resource};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// Pods and the pod templates of Deployments, StatefulSets, DaemonSets, ReplicaSets,
    /// ReplicationControllers, Jobs, CronJobs and Argo Rollouts whose containers run without a
    /// seccomp profile: neither the container's nor the pod's `securityContext.seccompProfile.type`
    /// is `RuntimeDefault` or `Localhost`. A type set to anything else (`Unconfined`) is
    /// reported where it is written; when neither the pod nor any container sets a profile, the
    /// pod is reported once, at its `securityContext` (or its `spec` when it has none). Windows
    /// pods (`spec.os.name: windows`) are not checked. The
    /// `seccomp.security.alpha.kubernetes.io` annotations, ignored since Kubernetes 1.27, do
    /// not count.
    ///
    /// The Pod Security Standards' `restricted` profile requires the same; kubeaudit's
    /// `seccomp` auditor and Checkov's CKV_K8S_31 check it. Polaris' `linuxHardening` accepts
    /// a seccomp profile or AppArmor, SELinux or dropped capabilities instead; kube-linter has
    /// no seccomp check.
    ///
    /// Istio is understood, not reported: the injected containers get their security context
    /// from the injection template, and Istio's own pods are not checked.
    ///
    /// Off by default; enable the MSP2xx rules with `--extend-select MSP2` (on top of the
    /// default set) or `--select MSP2` (alone).
    ///
    /// ## Why it matters
    /// Unless the kubelet runs with `--seccomp-default`, a container without a profile runs
    /// `Unconfined`: every system call is open to it, including the rarely used ones that most
    /// kernel exploits go through. `RuntimeDefault` blocks them at no cost for almost every
    /// application.
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
    ///       securityContext:
    ///         seccompProfile: {type: RuntimeDefault}
    ///       containers:
    ///       - name: orders
    ///         image: food/orders:1.0
    /// ```
    /// Set `securityContext.seccompProfile.type: RuntimeDefault` on the pod (or a `Localhost`
    /// profile made for the application).
    pub static SECCOMP_PROFILE_NOT_SET = Rule {
        code: "MSP211",
        name: "seccomp-profile-not-set",
        severity: Warning,
        summary: "a container runs without a seccomp profile (Unconfined)",
        mirrors: None,
        enabled_by_default: false,
        each: check on Kind::WORKLOADS,
    };
}

const CONFINED: [&str; 2] = ["RuntimeDefault", "Localhost"];
const HELP: &str = "set `securityContext.seccompProfile.type: RuntimeDefault` on the pod";

fn profile_type(security_context_field: Option<&Node>) -> Option<&Node> {
    security_context_field
        .and_then(|p| p.get("type"))
        .filter(|n| !n.is_null())
}

fn check(_: &Workspace, workload: &Resource, out: &mut Findings) {
    if skips_linux_checks(workload) {
        return;
    }
    let spec = pod_spec(workload);
    let pod_type = profile_type(spec.and_then(|s| s.path(&["securityContext", "seccompProfile"])));
    let containers: Vec<_> = checked_containers(workload)
        .map(|c| {
            let own = profile_type(container_field(&c, "seccompProfile"));
            (c, own)
        })
        .collect();
    if containers.is_empty() {
        return;
    }
    if pod_type.is_none() && containers.iter().all(|(_, own)| own.is_none()) {
        out.report(
            workload,
            spec.and_then(|s| s.get("securityContext"))
                .filter(|n| !n.is_null())
                .or(spec)
                .unwrap_or_else(|| workload.anchor()),
            "the pod sets no seccomp profile: its containers run Unconfined, with every \
             system call open to them",
        )
        .help(HELP);
        return;
    }
    for (c, own) in &containers {
        match own.or(pod_type) {
            Some(t) if t.as_str().is_some_and(|t| CONFINED.contains(&t)) => {}
            Some(t) => {
                out.report(
                    workload,
                    t,
                    format!(
                        "{} runs with seccomp profile {:?}: every system call is open to it",
                        describe(c),
                        t.as_str().unwrap_or("?")
                    ),
                )
                .help(HELP);
            }
            None => {
                out.report(
                    workload,
                    container_anchor(c),
                    format!(
                        "{} sets no seccomp profile and the pod sets none: it runs \
                         Unconfined, with every system call open to it",
                        describe(c)
                    ),
                )
                .help(HELP);
            }
        }
    }
}
