//! Kiali's `k8sgateways.MultiMatchChecker`: listeners of one Gateway API Gateway repeating a
//! hostname, port and protocol, and Gateways asking for the same address.

use mspack_yaml::Node;

use crate::declare_rule;
use crate::finding::Findings;
use crate::resource::{Kind, Resource, port_number};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// Listeners of one Gateway API Gateway with the same `port`, `protocol` and `hostname` (an
    /// absent hostname counts as one value: any host). The later listener is reported, naming
    /// the earlier. Kiali: KIA1503 (`k8sgateways.unique.listener`); Kiali compares only
    /// listeners that both set a hostname.
    ///
    /// ## Why it matters
    /// The Gateway API requires each listener to be unique by hostname, port and protocol:
    /// current CRDs reject the Gateway, older ones accept it and mark the listeners
    /// `Conflicted`, and conflicted listeners serve no routes.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: gateway.networking.k8s.io/v1
    /// kind: Gateway
    /// metadata: {name: edge, namespace: ingress}
    /// spec:
    ///   gatewayClassName: istio
    ///   listeners:
    ///   - {name: shop, hostname: shop.example.com, port: 80, protocol: HTTP}
    ///   - {name: shop-legacy, hostname: shop.example.com, port: 80, protocol: HTTP}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: gateway.networking.k8s.io/v1
    /// kind: Gateway
    /// metadata: {name: edge, namespace: ingress}
    /// spec:
    ///   gatewayClassName: istio
    ///   listeners:
    ///   - {name: shop, hostname: shop.example.com, port: 80, protocol: HTTP}
    ///   - {name: shop-legacy, hostname: legacy.shop.example.com, port: 80, protocol: HTTP}
    /// ```
    pub static DUPLICATE_LISTENER = Rule {
        code: "KIA1503",
        name: "duplicate-gateway-listener",
        severity: Error,
        summary: "two listeners of a Gateway API Gateway share hostname, port and protocol",
        mirrors: Some("k8sgateways.MultiMatchChecker.listener"),
        each: check_listeners on &[Kind::K8sGateway],
    };
}

declare_rule! {
    /// ## What it checks
    /// Gateway API Gateways whose `spec.addresses` ask for the same address (same `value` and
    /// `type`, `IPAddress` when unset). The later Gateway is reported, naming the earlier.
    /// Kiali: KIA1502 (`k8sgateways.multimatch.ip`).
    ///
    /// ## Why it matters
    /// One address can be given to one load balancer: the second Gateway waits for an address it
    /// never gets (`Programmed: False`) or, with some providers, takes it over from the first.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: gateway.networking.k8s.io/v1
    /// kind: Gateway
    /// metadata: {name: edge, namespace: ingress}
    /// spec:
    ///   gatewayClassName: istio
    ///   addresses:
    ///   - {value: 203.0.113.10}
    ///   listeners:
    ///   - {name: http, port: 80, protocol: HTTP}
    /// ---
    /// apiVersion: gateway.networking.k8s.io/v1
    /// kind: Gateway
    /// metadata: {name: partners, namespace: ingress}
    /// spec:
    ///   gatewayClassName: istio
    ///   addresses:
    ///   - {type: IPAddress, value: 203.0.113.10}
    ///   listeners:
    ///   - {name: https, port: 443, protocol: HTTPS}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: gateway.networking.k8s.io/v1
    /// kind: Gateway
    /// metadata: {name: edge, namespace: ingress}
    /// spec:
    ///   gatewayClassName: istio
    ///   addresses:
    ///   - {value: 203.0.113.10}
    ///   listeners:
    ///   - {name: http, port: 80, protocol: HTTP}
    /// ---
    /// apiVersion: gateway.networking.k8s.io/v1
    /// kind: Gateway
    /// metadata: {name: partners, namespace: ingress}
    /// spec:
    ///   gatewayClassName: istio
    ///   addresses:
    ///   - {type: IPAddress, value: 203.0.113.11}
    ///   listeners:
    ///   - {name: https, port: 443, protocol: HTTPS}
    /// ```
    pub static DUPLICATE_ADDRESS = Rule {
        code: "KIA1502",
        name: "duplicate-gateway-address",
        severity: Warning,
        summary: "two Gateway API Gateways ask for the same address",
        mirrors: Some("k8sgateways.MultiMatchChecker.ip"),
        check: check_addresses,
    };
}

fn text<'a>(node: &'a Node, key: &str) -> Option<&'a str> {
    node.get(key).and_then(Node::as_str)
}

fn check_listeners(_: &Workspace, gw: &Resource, out: &mut Findings) {
    let listeners: Vec<&Node> = gw
        .spec_at(&["listeners"])
        .into_iter()
        .flat_map(Node::items)
        .collect();
    for (i, listener) in listeners.iter().enumerate() {
        let key = |l: &Node| {
            (
                l.get("port").and_then(port_number),
                text(l, "protocol").map(str::to_ascii_uppercase),
                text(l, "hostname").map(str::to_ascii_lowercase),
            )
        };
        let mine = key(listener);
        if mine.0.is_none() {
            continue;
        }
        let Some(earlier) = listeners[..i].iter().find(|l| key(l) == mine) else {
            continue;
        };
        let name = |l: &Node| text(l, "name").unwrap_or("").to_string();
        let host = mine.2.clone().unwrap_or_else(|| "any host".to_string());
        out.report(
            gw,
            listener.get("name").unwrap_or(listener),
            format!(
                "listener {:?} repeats listener {:?}: same port {}, protocol {} and hostname ({host}); both are marked Conflicted and serve no routes",
                name(listener),
                name(earlier),
                mine.0.unwrap_or_default(),
                mine.1.clone().unwrap_or_default()
            ),
        )
        .help("give each listener its own hostname, port or protocol, or merge the two listeners");
    }
}

fn check_addresses(ws: &Workspace, out: &mut Findings) {
    let mut seen: Vec<(&Resource, String, String)> = Vec::new();
    for gw in ws.of_kind(Kind::K8sGateway) {
        for address in gw.spec_at(&["addresses"]).into_iter().flat_map(Node::items) {
            let Some(value_node) = address.get("value") else {
                continue;
            };
            let Some(value) = value_node.as_str().filter(|v| !v.is_empty()) else {
                continue;
            };
            let kind = text(address, "type").unwrap_or("IPAddress").to_string();
            if let Some((other, _, _)) = seen
                .iter()
                .find(|(o, t, v)| o.id != gw.id && *t == kind && v == value)
            {
                out.report(
                    gw,
                    value_node,
                    format!(
                        "{} already asks for address {value}; one address serves one Gateway",
                        other.display_name()
                    ),
                )
                .help(
                    "give each Gateway its own address, or merge their listeners into one Gateway",
                );
            }
            seen.push((gw, kind, value.to_string()));
        }
    }
}
