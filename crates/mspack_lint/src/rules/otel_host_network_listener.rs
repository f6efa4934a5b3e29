use mspack_yaml::Node;

use crate::crossref::pod_spec;
use crate::declare_rule;
use crate::finding::Findings;
use crate::otel::{CollectorConfig, collector_configs, substituted};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// Every OpenTelemetry Collector configuration in the input that a workload on the host
    /// network runs: a ConfigMap mounted by a pod template with `hostNetwork: true`, or an
    /// `OpenTelemetryCollector` with `spec.hostNetwork: true`. It reports a receiver or
    /// extension endpoint (`endpoint` of the component, or of one of its `protocols`) bound to
    /// every interface: `0.0.0.0`, `::`, or no host at all (`:4317`).
    ///
    /// Nothing else is reported on purpose. In a pod's own network namespace, binding every
    /// interface is how other pods reach the Collector (the same as binding the pod IP), and
    /// since v0.104.0 the Collector's default is `localhost`, so an explicit `0.0.0.0` there is
    /// needed, not careless. A standalone file may run in a container as well as on a host, so
    /// it is not judged either.
    ///
    /// ## Why it matters
    /// On the host network, every interface is the node's: the receiver listens on the node's
    /// external and secondary addresses too, and anyone who reaches the node can write
    /// telemetry into the pipeline (or read the health and debug endpoints), around the
    /// Service, the NetworkPolicy and the mesh, none of which apply to host ports.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: v1
    /// kind: ConfigMap
    /// metadata: {name: otel-agent, namespace: observability}
    /// data:
    ///   config.yaml: |
    ///     receivers:
    ///       otlp:
    ///         protocols:
    ///           grpc: {endpoint: "0.0.0.0:4317"}
    ///     exporters:
    ///       otlp: {endpoint: "otel-gateway.observability.svc:4317"}
    ///     service:
    ///       pipelines:
    ///         traces: {receivers: [otlp], exporters: [otlp]}
    /// ---
    /// apiVersion: apps/v1
    /// kind: DaemonSet
    /// metadata: {name: otel-agent, namespace: observability}
    /// spec:
    ///   selector: {matchLabels: {app: otel-agent}}
    ///   template:
    ///     metadata: {labels: {app: otel-agent}}
    ///     spec:
    ///       hostNetwork: true
    ///       containers:
    ///       - name: otelcol
    ///         image: otel/opentelemetry-collector-contrib:0.140.1
    ///       volumes:
    ///       - name: config
    ///         configMap: {name: otel-agent}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: v1
    /// kind: ConfigMap
    /// metadata: {name: otel-agent, namespace: observability}
    /// data:
    ///   config.yaml: |
    ///     receivers:
    ///       otlp:
    ///         protocols:
    ///           grpc: {endpoint: "${env:HOST_IP}:4317"}
    ///     exporters:
    ///       otlp: {endpoint: "otel-gateway.observability.svc:4317"}
    ///     service:
    ///       pipelines:
    ///         traces: {receivers: [otlp], exporters: [otlp]}
    /// ---
    /// apiVersion: apps/v1
    /// kind: DaemonSet
    /// metadata: {name: otel-agent, namespace: observability}
    /// spec:
    ///   selector: {matchLabels: {app: otel-agent}}
    ///   template:
    ///     metadata: {labels: {app: otel-agent}}
    ///     spec:
    ///       hostNetwork: true
    ///       containers:
    ///       - name: otelcol
    ///         image: otel/opentelemetry-collector-contrib:0.140.1
    ///         env:
    ///         - name: HOST_IP
    ///           valueFrom: {fieldRef: {fieldPath: status.hostIP}}
    ///       volumes:
    ///       - name: config
    ///         configMap: {name: otel-agent}
    /// ```
    pub static OTEL_HOST_NETWORK_LISTENER = Rule {
        code: "MSP312",
        name: "otel-host-network-listener",
        severity: Warning,
        summary: "a Collector on the host network listens on every interface of the node",
        mirrors: None,
        check: check,
    };
}

fn is_true(node: Option<&Node>) -> bool {
    node.and_then(Node::as_str)
        .is_some_and(|s| s.eq_ignore_ascii_case("true"))
}

/// The runner on the host network, if any.
fn host_network_runner(ws: &Workspace, config: &CollectorConfig) -> Option<String> {
    config
        .runners
        .iter()
        .filter_map(|id| ws.resources.get(*id))
        .find(|r| {
            let spec = if r.kind_name == "OpenTelemetryCollector" {
                r.spec()
            } else {
                pod_spec(r)
            };
            is_true(spec.and_then(|s| s.get("hostNetwork")))
        })
        .map(|r| r.display_name())
}

/// Whether a listen address (`host:port`, `[v6]:port`, `:port`) binds every interface.
fn binds_all(endpoint: &str) -> bool {
    let endpoint = endpoint.trim();
    let host = if let Some(v6) = endpoint.strip_prefix('[') {
        v6.split(']').next().unwrap_or(v6)
    } else if endpoint.matches(':').count() > 1 {
        endpoint
    } else {
        endpoint.split(':').next().unwrap_or(endpoint)
    };
    matches!(host, "" | "0.0.0.0" | "::" | "0:0:0:0:0:0:0:0") && !endpoint.is_empty()
}

/// `(component id, endpoint node)` of every receiver and extension listen address.
fn endpoints(config: &CollectorConfig) -> Vec<(&str, &Node)> {
    let mut out = Vec::new();
    for section in ["receivers", "extensions"] {
        for (id, _, component) in config.root.get(section).into_iter().flat_map(Node::entries) {
            out.extend(component.get("endpoint").map(|e| (id, e)));
            let protocols = component
                .get("protocols")
                .into_iter()
                .flat_map(Node::entries);
            out.extend(protocols.filter_map(|(_, _, p)| p.get("endpoint").map(|e| (id, e))));
        }
    }
    out
}

fn check(ws: &Workspace, out: &mut Findings) {
    for config in collector_configs(ws).iter() {
        let Some(runner) = host_network_runner(ws, config) else {
            continue;
        };
        for (id, node) in endpoints(config) {
            let Some(endpoint) = node.as_str() else {
                continue;
            };
            if substituted(endpoint) || !binds_all(endpoint) {
                continue;
            }
            config
                .report(
                    ws,
                    out,
                    node.span,
                    format!(
                        "`{id}` listens on `{endpoint}`, every interface, and {runner} runs on \
                         the host network: the endpoint is open on all of the node's addresses, \
                         outside the Service, the NetworkPolicy and the mesh"
                    ),
                )
                .help(
                    "bind the node address senders use (`${env:HOST_IP}` from the downward API's \
                     `status.hostIP`), or `localhost` for senders on the node only",
                );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::binds_all;

    #[test]
    fn all_interfaces() {
        assert!(binds_all("0.0.0.0:4317"));
        assert!(binds_all(":4317"));
        assert!(binds_all("[::]:4317"));
        assert!(binds_all("0.0.0.0"));
        assert!(!binds_all(""));
        assert!(!binds_all("localhost:4317"));
        assert!(!binds_all("10.0.0.1:4317"));
        assert!(!binds_all("[::1]:4317"));
    }
}
