use crate::declare_rule;
use crate::finding::Findings;
use crate::pod_security::{
    checked_containers, describe, is_istio_workload, named_container_port, probe_ports,
};
use crate::resource::{Kind, Resource, port_number};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// Liveness, readiness and startup probes of app containers (not Istio's own) of Pods and
    /// of the pod templates of Deployments, StatefulSets, DaemonSets, ReplicaSets,
    /// ReplicationControllers, Jobs, CronJobs and Argo Rollouts whose `httpGet`, `tcpSocket`
    /// or `grpc` port is one that the Istio sidecar or ztunnel uses: 15000 (Envoy admin),
    /// 15001 (outbound capture), 15004 (debug), 15006 (inbound capture), 15008 (HBONE), 15009
    /// (HBONE, ztunnel), 15020 (merged metrics and probe rewrite), 15021 (health), 15053
    /// (DNS proxy) and 15090 (Envoy metrics). A named probe port is looked up in the
    /// container's own `ports`.
    ///
    /// No kube-linter or Polaris check covers this; the port list is Istio's "Ports used by
    /// Istio" page.
    ///
    /// Off by default; enable the MSP2xx rules with `--extend-select MSP2` (on top of the
    /// default set) or `--select MSP2` (alone).
    ///
    /// ## Why it matters
    /// In a meshed pod these ports belong to the proxy, which shares the pod's network
    /// namespace: the application cannot listen on them, so the probe tests the proxy (or
    /// nothing) instead of the application. A readiness probe on 15021 reports the pod ready
    /// while the application is down; Istio's probe rewrite, which sends app probes through
    /// 15020, cannot tell the two apart.
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
    ///         readinessProbe: {httpGet: {path: /healthz/ready, port: 15021}}
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
    /// Probe the port the application listens on.
    pub static PROBE_ON_ISTIO_PORT = Rule {
        code: "MSP217",
        name: "probe-on-istio-port",
        severity: Warning,
        summary: "an application container's probe targets a port reserved by Istio",
        mirrors: None,
        enabled_by_default: false,
        each: check on Kind::WORKLOADS,
    };
}

/// Istio's reserved ports and what uses them.
const ISTIO_PORTS: [(i64, &str); 10] = [
    (15000, "Envoy's admin port"),
    (15001, "Envoy's outbound capture port"),
    (15004, "the debug port"),
    (15006, "Envoy's inbound capture port"),
    (15008, "the HBONE tunnel port"),
    (15009, "the HBONE port of ztunnel"),
    (15020, "the merged metrics and probe port of the agent"),
    (15021, "the sidecar's health port"),
    (15053, "the DNS proxy port"),
    (15090, "Envoy's metrics port"),
];

fn check(_: &Workspace, workload: &Resource, out: &mut Findings) {
    if is_istio_workload(workload) {
        return;
    }
    for c in checked_containers(workload) {
        for (probe, port) in probe_ports(&c) {
            let number = port_number(port).or_else(|| {
                port.as_str()
                    .and_then(|name| named_container_port(&c, name))
            });
            let Some((n, what)) = number.and_then(|n| ISTIO_PORTS.iter().find(|(p, _)| *p == n))
            else {
                continue;
            };
            out.report(
                workload,
                port,
                format!(
                    "{probe} of {} targets port {n}, {what}: in a meshed pod it belongs to \
                     Istio, so the probe does not test the application",
                    describe(&c)
                ),
            )
            .help("probe the port the application listens on");
        }
    }
}
