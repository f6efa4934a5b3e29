use mspack_yaml::Node;

use crate::declare_rule;
use crate::finding::Findings;
use crate::resource::{Kind, Resource, int_or_string};
use crate::workloads::is_istio_control_plane;
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// Every port of a Service (other than an `ExternalName` Service) whose protocol Istio cannot
    /// tell: no `appProtocol`, and a `name` that is missing or does not start with a protocol
    /// Istio knows (`http`, `http2`, `https`, `grpc`, `grpc-web`, `tcp`, `tls`, `mongo`, `mysql`,
    /// `redis`, `udp`, `http_proxy`), alone or followed by `-suffix`. `appProtocol`, when set,
    /// is read instead of the name (including `kubernetes.io/h2c`, `ws`, `wss`). UDP ports and the
    /// well-known ports 25, 53, 3306 and 27017 are exempt. Services of the control plane (an
    /// `istio` label or `release: istio`) and Services managed by Istio's gateway controllers
    /// (`gateway.istio.io/managed`) are skipped.
    /// Kiali: KIA0601 (`port.name.mismatch`) and KIA0602 (`port.appprotocol.mismatch`) for Service ports.
    ///
    /// ## Why it matters
    /// For such a port Istio falls back to protocol sniffing: HTTP features (retries, header
    /// routing, per-request metrics) silently do not apply when sniffing guesses TCP, and
    /// server-first protocols stall for the sniffing timeout before the first byte.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: v1
    /// kind: Service
    /// metadata: {name: kitchen, namespace: kitchen}
    /// spec:
    ///   selector: {app: kitchen}
    ///   ports:
    ///   - name: web
    ///     port: 8080
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: v1
    /// kind: Service
    /// metadata: {name: kitchen, namespace: kitchen}
    /// spec:
    ///   selector: {app: kitchen}
    ///   ports:
    ///   - name: http-web
    ///     port: 8080
    /// ```
    /// Setting `appProtocol: http` works as well and leaves the name free.
    pub static PORT_NAME_NOT_UNDER_CONVENTION = Rule {
        code: "IST0118",
        name: "PortNameIsNotUnderNamingConvention",
        severity: Info,
        summary: "a service port name does not tell istio its protocol",
        mirrors: Some("service.PortNameAnalyzer"),
        each: check_named_ports on &[Kind::Service],
    };
}

declare_rule! {
    /// ## What it checks
    /// Every port of a Service of `type: ExternalName` that is named `tcp` or whose protocol Istio
    /// cannot tell from its `appProtocol` or name (see IST0118 for the naming convention). UDP
    /// ports and the well-known ports 25, 53, 3306 and 27017 are exempt unless named `tcp`.
    /// Control-plane Services and Services managed by Istio's gateway controllers are skipped.
    ///
    /// ## Why it matters
    /// An ExternalName Service has no endpoints; the sidecar forwards to the external name by
    /// port. With a `tcp` name, or no protocol at all, the proxy can refuse to forward the
    /// traffic or mix it up with other TCP traffic on the same port, so calls to the external
    /// system fail.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: v1
    /// kind: Service
    /// metadata: {name: payment-gateway, namespace: payments}
    /// spec:
    ///   type: ExternalName
    ///   externalName: api.paymentprovider.example
    ///   ports:
    ///   - name: tcp
    ///     port: 443
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: v1
    /// kind: Service
    /// metadata: {name: payment-gateway, namespace: payments}
    /// spec:
    ///   type: ExternalName
    ///   externalName: api.paymentprovider.example
    ///   ports:
    ///   - name: https
    ///     port: 443
    /// ```
    pub static EXTERNAL_NAME_INVALID_PORT_NAME = Rule {
        code: "IST0150",
        name: "ExternalNameServiceTypeInvalidPortName",
        severity: Warning,
        summary: "a port of an externalname service is named tcp or names no protocol",
        mirrors: Some("service.PortNameAnalyzer"),
        each: check_external_name_ports on &[Kind::Service],
    };
}

/// Values of `gateway.istio.io/managed` on Services that Istio's controllers create.
const MANAGED_BY_ISTIO: [&str; 3] = [
    "istio.io-gateway-controller",
    "istio.io-mesh-controller",
    "istio.io-eastwest-controller",
];

/// Ports that Istio treats as TCP when their name says nothing.
const WELL_KNOWN_TCP_PORTS: [i64; 4] = [25, 53, 3306, 27017];

fn check_named_ports(_: &Workspace, svc: &Resource, out: &mut Findings) {
    for port in flagged_ports(svc, false) {
        let number = port.get("port").and_then(Node::as_i64).unwrap_or(0);
        let numbers = match port.get("targetPort").filter(|t| !t.is_null()) {
            Some(t) => format!("port {number}, targetPort {}", int_or_string(Some(t))),
            None => format!("port {number}"),
        };
        let app_protocol = port.get("appProtocol").and_then(Node::as_str);
        let (node, message) = match (app_protocol, port_name(port)) {
            (Some(app), _) => (
                port.get("appProtocol").unwrap_or(port),
                format!("appProtocol \"{app}\" ({numbers}) is not a protocol Istio knows"),
            ),
            (None, "") => (
                port,
                format!("unnamed port ({numbers}): Istio cannot tell its protocol"),
            ),
            (None, name) => (
                port.get("name").unwrap_or(port),
                format!(
                    "port name \"{name}\" ({numbers}) does not follow Istio's `<protocol>[-<suffix>]` convention"
                ),
            ),
        };
        out.report(svc, node, message).help(
            "name the port `<protocol>[-<suffix>]` (e.g. `http-api`, `grpc`, `tcp-db`) or set \
             `appProtocol`; otherwise Istio falls back to protocol sniffing",
        );
    }
}

fn check_external_name_ports(_: &Workspace, svc: &Resource, out: &mut Findings) {
    for port in flagged_ports(svc, true) {
        let number = port.get("port").and_then(Node::as_i64).unwrap_or(0);
        let message = match port_name(port) {
            "" => format!("unnamed port {number} of an ExternalName service names no protocol"),
            "tcp" => format!("port {number} of an ExternalName service is named plain `tcp`"),
            name => format!(
                "port name \"{name}\" (port {number}) of an ExternalName service names no protocol Istio knows"
            ),
        };
        let node = port.get("name").unwrap_or(port);
        out.report(svc, node, message).help(
            "name the port after the protocol it carries (e.g. `https`, `http`, `tls`, `mongo`); \
             the proxy may not forward TCP-named or unknown traffic to an ExternalName service",
        );
    }
}

fn port_name(port: &Node) -> &str {
    port.get("name").and_then(Node::as_str).unwrap_or("")
}

/// The ports of `svc` Istio's PortNameAnalyzer reports, if `svc` is an ExternalName Service
/// (`external_name`) or else another Service.
fn flagged_ports(svc: &Resource, external_name: bool) -> Vec<&Node> {
    let mut out = Vec::new();
    if is_istio_control_plane(svc)
        || svc
            .label("gateway.istio.io/managed")
            .is_some_and(|v| MANAGED_BY_ISTIO.contains(&v))
    {
        return out;
    }
    let is_external = svc.spec_at(&["type"]).and_then(Node::as_str) == Some("ExternalName");
    if is_external != external_name {
        return out;
    }
    for port in svc.spec_at(&["ports"]).into_iter().flat_map(Node::items) {
        let number = port.get("port").and_then(Node::as_i64).unwrap_or(0);
        let name = port_name(port);
        let unsupported = protocol_unknown(
            number,
            name,
            port.get("protocol").and_then(Node::as_str).unwrap_or(""),
            port.get("appProtocol").and_then(Node::as_str),
        );
        if unsupported || (is_external && name == "tcp") {
            out.push(port);
        }
    }
    out
}

/// Istio's port protocol detection from the Kubernetes protocol, port name and `appProtocol`:
/// `true` when it ends in "unsupported" (protocol sniffing).
fn protocol_unknown(port: i64, name: &str, protocol: &str, app_protocol: Option<&str>) -> bool {
    if protocol == "UDP" {
        return false;
    }
    let mut name = name;
    if let Some(app) = app_protocol {
        if matches!(
            app,
            "kubernetes.io/h2c" | "kubernetes.io/ws" | "kubernetes.io/wss"
        ) {
            return false;
        }
        name = app;
    }
    if name
        .as_bytes()
        .get(..8)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"grpc-web"))
    {
        return false;
    }
    let prefix = name.split('-').next().unwrap_or("").to_lowercase();
    let known = matches!(
        prefix.as_str(),
        "tcp"
            | "udp"
            | "grpc"
            | "http"
            | "http_proxy"
            | "http2"
            | "https"
            | "tls"
            | "mongo"
            | "redis"
            | "mysql"
    );
    !known && !WELL_KNOWN_TCP_PORTS.contains(&port)
}

#[cfg(test)]
mod tests {
    use super::protocol_unknown;

    #[test]
    fn protocol_detection_follows_istio() {
        assert!(!protocol_unknown(80, "http-web", "TCP", None));
        assert!(!protocol_unknown(80, "HTTP2", "", None));
        assert!(!protocol_unknown(80, "GRPC-Web-ui", "", None));
        assert!(!protocol_unknown(80, "", "UDP", None));
        assert!(!protocol_unknown(3306, "", "TCP", None));
        assert!(!protocol_unknown(
            80,
            "web",
            "TCP",
            Some("kubernetes.io/h2c")
        ));
        assert!(!protocol_unknown(80, "web", "TCP", Some("http")));
        assert!(protocol_unknown(80, "http", "TCP", Some("web")));
        assert!(protocol_unknown(80, "", "TCP", None));
        assert!(protocol_unknown(80, "web-http", "TCP", None));
        assert!(protocol_unknown(80, "grpcweb", "", None));
    }
}
