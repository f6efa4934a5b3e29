use crate::declare_rule;
use crate::finding::Findings;
use crate::pod_security::{checked_containers, describe, named_container_port, probe_ports};
use crate::resource::{Kind, Resource, port_number};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// Liveness, readiness and startup probes of every container of Pods and of the pod
    /// templates of Deployments, StatefulSets, DaemonSets, ReplicaSets, ReplicationControllers,
    /// Jobs, CronJobs and Argo Rollouts whose `httpGet`, `tcpSocket` or `grpc` port is a name
    /// that no port of the same container has (`ports[].name`). A numeric port is not checked:
    /// a container may listen on a port it does not declare.
    ///
    /// kube-linter's `liveness-port`, `readiness-port` and `startup-port` cover the same ground
    /// (they also report a numeric port the container does not declare). Istio's own pods are
    /// checked too; the containers that Istio's injector writes (`istio-proxy`, `istio-init`,
    /// `istio-validation`) are not.
    ///
    /// On by default: the probe can never succeed.
    ///
    /// ## Why it matters
    /// The API server accepts any well-formed port name, but the kubelet resolves a named
    /// probe port among the container's own ports only; when none has that name, every probe
    /// fails. A liveness or startup probe then restarts the container forever
    /// (CrashLoopBackOff), and a readiness probe keeps the pod out of every Service. Istio's
    /// probe rewrite, which sends app probes through the sidecar, cannot resolve it either.
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
    ///         ports: [{name: http-web, containerPort: 8080}]
    ///         livenessProbe: {httpGet: {path: /healthz, port: http}}
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
    ///         ports: [{name: http-web, containerPort: 8080}]
    ///         livenessProbe: {httpGet: {path: /healthz, port: http-web}}
    /// ```
    /// Name one of the container's ports, or give the number.
    pub static PROBE_PORT_NOT_FOUND = Rule {
        code: "MSP218",
        name: "probe-port-not-found",
        severity: Error,
        summary: "a probe names a port that its container does not have; the probe always fails",
        mirrors: None,
        each: check on Kind::WORKLOADS,
    };
}

fn check(_: &Workspace, workload: &Resource, out: &mut Findings) {
    if workload.assumed {
        return;
    }
    for c in checked_containers(workload) {
        for (probe, port) in probe_ports(&c) {
            if port_number(port).is_some() {
                continue;
            }
            let Some(name) = port.as_str().filter(|n| !n.trim().is_empty()) else {
                continue;
            };
            if name.contains(['{', '$']) || named_container_port(&c, name).is_some() {
                continue;
            }
            let declared = c
                .node
                .get("ports")
                .into_iter()
                .flat_map(mspack_yaml::Node::items)
                .any(|p| p.get("name").is_some_and(|n| n.as_str() == Some(name)));
            if declared {
                // Named, but without a usable containerPort: another rule's concern.
                continue;
            }
            out.report(
                workload,
                port,
                format!(
                    "{probe} of {} names port {name:?}, which none of its ports has: \
                     the kubelet cannot resolve it and the probe always fails",
                    describe(&c)
                ),
            )
            .help("name one of the container's `ports`, or give the port number");
        }
    }
}
