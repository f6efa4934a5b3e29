use crate::declare_rule;
use crate::finding::Findings;
use crate::pod_security::{
    checked_containers, container_anchor, describe, is_istio_workload, runs_to_completion,
};
use crate::resource::{Kind, Resource};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// Every app container (`containers`, not init or ephemeral containers) of Pods and of the
    /// pod templates of Deployments, StatefulSets, DaemonSets, ReplicaSets,
    /// ReplicationControllers and Argo Rollouts without a `readinessProbe`. Jobs, CronJobs and
    /// Pods with `restartPolicy` `Never` or `OnFailure` run to completion and are not checked.
    ///
    /// kube-linter's `no-readiness-probe` (off in its default set) and Polaris'
    /// `readinessProbeMissing` cover the same ground.
    ///
    /// Istio is understood, not reported: the injected `istio-proxy` container has its own
    /// probes, and Istio's own pods are not checked.
    ///
    /// Off by default; enable the MSP2xx rules with `--extend-select MSP2` (on top of the
    /// default set) or `--select MSP2` (alone).
    ///
    /// ## Why it matters
    /// Without a readiness probe, a pod is counted ready as soon as its containers start: the
    /// Service (and the mesh, which follows the endpoints) sends it requests before the
    /// process listens, and a rollout replaces old pods with new ones that are not serving yet.
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
    ///       containers:
    ///       - name: orders
    ///         image: food/orders:1.0
    ///         readinessProbe: {httpGet: {path: /ready, port: 8080}}
    /// ```
    /// Add a `readinessProbe` that succeeds when the process can serve.
    pub static MISSING_READINESS_PROBE = Rule {
        code: "MSP207",
        name: "missing-readiness-probe",
        severity: Warning,
        summary: "a long-running container has no readiness probe",
        mirrors: None,
        enabled_by_default: false,
        each: check_readiness on Kind::WORKLOADS,
    };
}

declare_rule! {
    /// ## What it checks
    /// Every app container (`containers`, not init or ephemeral containers) of Pods and of the
    /// pod templates of Deployments, StatefulSets, DaemonSets, ReplicaSets,
    /// ReplicationControllers and Argo Rollouts without a `livenessProbe`. Jobs, CronJobs and
    /// Pods with `restartPolicy` `Never` or `OnFailure` run to completion and are not checked.
    ///
    /// kube-linter's `no-liveness-probe` (off in its default set) and Polaris'
    /// `livenessProbeMissing` cover the same ground.
    ///
    /// Istio is understood, not reported: the injected `istio-proxy` container has its own
    /// probes, and Istio's own pods are not checked.
    ///
    /// Off by default; enable the MSP2xx rules with `--extend-select MSP2` (on top of the
    /// default set) or `--select MSP2` (alone).
    ///
    /// ## Why it matters
    /// A process that hangs (a deadlock, an exhausted pool) without exiting keeps its pod
    /// running and, if it still passes readiness, receiving traffic: without a liveness probe
    /// the kubelet never restarts it.
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
    ///       containers:
    ///       - name: orders
    ///         image: food/orders:1.0
    ///         livenessProbe: {httpGet: {path: /healthz, port: 8080}}
    /// ```
    /// Add a `livenessProbe` that fails only when a restart would help (not on a slow
    /// dependency).
    pub static MISSING_LIVENESS_PROBE = Rule {
        code: "MSP208",
        name: "missing-liveness-probe",
        severity: Warning,
        summary: "a long-running container has no liveness probe",
        mirrors: None,
        enabled_by_default: false,
        each: check_liveness on Kind::WORKLOADS,
    };
}

fn check_readiness(_: &Workspace, workload: &Resource, out: &mut Findings) {
    check_probe(
        workload,
        out,
        "readinessProbe",
        "it is sent traffic as soon as it starts, before it can serve",
    );
}

fn check_liveness(_: &Workspace, workload: &Resource, out: &mut Findings) {
    check_probe(
        workload,
        out,
        "livenessProbe",
        "if it hangs without exiting, the kubelet never restarts it",
    );
}

fn check_probe(workload: &Resource, out: &mut Findings, probe: &str, consequence: &str) {
    if is_istio_workload(workload) || runs_to_completion(workload) {
        return;
    }
    for c in checked_containers(workload).filter(|c| c.list == "containers") {
        if c.node.get(probe).is_some_and(|p| !p.is_null()) {
            continue;
        }
        out.report(
            workload,
            container_anchor(&c),
            format!("{} has no {probe}: {consequence}", describe(&c)),
        )
        .help(format!("add a `{probe}` to the container"));
    }
}
