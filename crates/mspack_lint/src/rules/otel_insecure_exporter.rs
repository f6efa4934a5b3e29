use mspack_yaml::Node;

use crate::declare_rule;
use crate::finding::Findings;
use crate::otel::{collector_configs, substituted};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// Every OpenTelemetry Collector configuration in the input (standalone, in a ConfigMap's
    /// `data`, or an `OpenTelemetryCollector`'s `spec.config`, as MSP301 finds them). It reports
    /// an exporter with `tls.insecure: true` whose `endpoint` host is neither loopback
    /// (`localhost`, `127.0.0.0/8`, `::1`) nor a Kubernetes Service name:
    /// `<name>.<namespace>.svc`, `<name>.<namespace>.svc.<cluster domain>`, or the short forms
    /// `<name>` and `<name>.<namespace>` that the pod's DNS search domains resolve to a Service
    /// (MSP405 reads OTLP endpoints the same way).
    ///
    /// Those cases are left alone on purpose: loopback never leaves the pod, and a Service name
    /// keeps the traffic on the cluster network, where the mesh (an Istio sidecar encrypts the
    /// application's plaintext with mTLS) or the network policy is what protects it. Any other
    /// host (a name of three labels or more that is not under `.svc`, a bare IP address) may be
    /// reached over networks this configuration does not control. Endpoints written with a
    /// substitution (`${env:NAME}`) cannot be decided offline and are not reported. A public
    /// domain of two labels (`vendor.io`) reads like `<name>.<namespace>` and is not reported
    /// either: write in-cluster names with `.svc` to keep the two apart.
    ///
    /// ## Why it matters
    /// `insecure: true` turns TLS off for a gRPC exporter: spans, metrics and logs, which carry
    /// request attributes, user ids and sometimes credentials, cross the network in plaintext,
    /// together with any authentication header the exporter adds.
    ///
    /// ## Example
    /// ```yaml
    /// receivers:
    ///   otlp:
    ///     protocols:
    ///       grpc:
    ///         endpoint: ${env:MY_POD_IP}:4317
    /// exporters:
    ///   otlp:
    ///     endpoint: otlp.vendor.example.com:4317
    ///     tls:
    ///       insecure: true
    /// service:
    ///   pipelines:
    ///     traces:
    ///       receivers: [otlp]
    ///       exporters: [otlp]
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// receivers:
    ///   otlp:
    ///     protocols:
    ///       grpc:
    ///         endpoint: ${env:MY_POD_IP}:4317
    /// exporters:
    ///   otlp:
    ///     endpoint: otlp.vendor.example.com:4317
    ///     tls:
    ///       insecure: false
    /// service:
    ///   pipelines:
    ///     traces:
    ///       receivers: [otlp]
    ///       exporters: [otlp]
    /// ```
    pub static OTEL_INSECURE_EXPORTER = Rule {
        code: "MSP304",
        name: "otel-insecure-exporter",
        severity: Warning,
        summary: "a Collector exporter sends without TLS to a host outside the pod and the cluster",
        mirrors: None,
        check: check,
    };
}

/// The host of an exporter endpoint (`host:port`, `scheme://host:port/path`, `[v6]:port`).
fn endpoint_host(endpoint: &str) -> Option<&str> {
    let rest = endpoint.trim();
    let rest = match rest.split_once("://") {
        Some((scheme, rest)) => {
            if scheme.eq_ignore_ascii_case("unix") {
                return None;
            }
            rest.trim_start_matches('/')
        }
        None => rest,
    };
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next()?
    } else if authority.matches(':').count() > 1 {
        // An IPv6 address without brackets (and without a port).
        authority
    } else {
        authority.split(':').next()?
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    (!host.is_empty()).then_some(host)
}

fn is_loopback(host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    host == "localhost"
        || host.ends_with(".localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn is_in_cluster(host: &str, domain: &str) -> bool {
    let host = host.to_ascii_lowercase();
    if host.parse::<std::net::IpAddr>().is_ok() {
        return false;
    }
    host.matches('.').count() <= 1
        || host.ends_with(".svc")
        || host
            .strip_suffix(&domain.to_ascii_lowercase())
            .is_some_and(|h| h.ends_with(".svc."))
}

fn is_true(node: &Node) -> bool {
    node.as_str()
        .is_some_and(|s| s.eq_ignore_ascii_case("true"))
}

fn check(ws: &Workspace, out: &mut Findings) {
    let domain = ws.cluster_domain();
    for config in collector_configs(ws).iter() {
        for (id, _, exporter) in config
            .root
            .get("exporters")
            .into_iter()
            .flat_map(Node::entries)
        {
            let Some(insecure) = exporter.path(&["tls", "insecure"]).filter(|n| is_true(n)) else {
                continue;
            };
            let Some(endpoint) = exporter.get("endpoint").and_then(Node::as_str) else {
                continue;
            };
            if substituted(endpoint) {
                continue;
            }
            let Some(host) = endpoint_host(endpoint) else {
                continue;
            };
            if is_loopback(host) || is_in_cluster(host, domain) {
                continue;
            }
            config
                .report(
                    ws,
                    out,
                    insecure.span,
                    format!(
                        "exporter `{id}` sends to {host} with `tls.insecure: true`, and {host} \
                         is neither loopback nor a Service name (`<name>.<namespace>.svc`): \
                         telemetry may cross networks outside the cluster in plaintext"
                    ),
                )
                .help(
                    "set `tls.insecure: false` (and `tls.ca_file` if the backend's certificate \
                     is not publicly trusted), or send through an in-cluster gateway",
                );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{endpoint_host, is_in_cluster, is_loopback};

    #[test]
    fn hosts() {
        assert_eq!(endpoint_host("otel:4317"), Some("otel"));
        assert_eq!(
            endpoint_host("https://a.example.com:443/v1"),
            Some("a.example.com")
        );
        assert_eq!(
            endpoint_host("dns:///a.example.com:4317"),
            Some("a.example.com")
        );
        assert_eq!(endpoint_host("[::1]:4317"), Some("::1"));
        assert_eq!(endpoint_host("unix:///tmp/otel.sock"), None);
        assert_eq!(endpoint_host(":4317"), None);
        assert!(is_loopback("127.0.0.1"));
        assert!(is_loopback("::1"));
        assert!(is_loopback("LOCALHOST"));
        assert!(!is_loopback("10.0.0.1"));
        let c = |h| is_in_cluster(h, "cluster.local");
        assert!(c("tempo"));
        assert!(c("tempo.obs.svc"));
        assert!(c("tempo.obs.svc.cluster.local"));
        assert!(c("tempo.obs"));
        assert!(!c("tempo.obs.svc.other.domain"));
        assert!(!c("otlp.vendor.example.com"));
        assert!(!c("10.0.0.1"));
    }
}
