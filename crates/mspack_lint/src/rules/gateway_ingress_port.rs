//! `gateway.IngressGatewayPortAnalyzer`: a Gateway's selector must select a workload, and each
//! server port must be one that a Service in front of those workloads exposes.

use std::collections::{BTreeSet, HashMap};

use mspack_yaml::Node;

use crate::declare_rule;
use crate::finding::Findings;
use crate::resource::{Kind, Resource, port_number};
use crate::workloads::{Selector, Values, gateway_selector};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// An Istio Gateway whose `selector` matches no workload: no Pod and no pod template
    /// (Deployment, StatefulSet, DaemonSet, ...) in any namespace of the analysed set carries all
    /// of its labels. A Gateway without a selector matches every workload, so it is only flagged
    /// when there is none at all.
    /// Kiali: KIA0302 (`gateways.selector`).
    ///
    /// ## Why it matters
    /// The selector decides which Envoy proxies receive the Gateway's listeners. When it selects
    /// nothing, the servers are configured nowhere and every route bound to the Gateway is dead,
    /// with no error from Istio at apply time.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: Gateway
    /// metadata: {name: storefront, namespace: orders}
    /// spec:
    ///   selector:
    ///     istio: ingres-gateway
    ///   servers:
    ///   - port: {number: 80, name: http, protocol: HTTP}
    ///     hosts: ["orders.example.com"]
    /// ---
    /// apiVersion: apps/v1
    /// kind: Deployment
    /// metadata: {name: ingress, namespace: edge}
    /// spec:
    ///   selector: {matchLabels: {istio: ingressgateway}}
    ///   template:
    ///     metadata: {labels: {istio: ingressgateway}}
    ///     spec: {containers: [{name: istio-proxy, image: auto}]}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: Gateway
    /// metadata: {name: storefront, namespace: orders}
    /// spec:
    ///   selector:
    ///     istio: ingressgateway
    ///   servers:
    ///   - port: {number: 80, name: http, protocol: HTTP}
    ///     hosts: ["orders.example.com"]
    /// ---
    /// apiVersion: apps/v1
    /// kind: Deployment
    /// metadata: {name: ingress, namespace: edge}
    /// spec:
    ///   selector: {matchLabels: {istio: ingressgateway}}
    ///   template:
    ///     metadata: {labels: {istio: ingressgateway}}
    ///     spec: {containers: [{name: istio-proxy, image: auto}]}
    /// ---
    /// apiVersion: v1
    /// kind: Service
    /// metadata: {name: ingress, namespace: edge}
    /// spec:
    ///   selector: {istio: ingressgateway}
    ///   ports: [{name: http, port: 80, targetPort: 8080}]
    /// ```
    /// The check only means something when the gateway workloads are among the linted files.
    pub static GATEWAY_SELECTOR_NOT_FOUND = Rule {
        code: "IST0101",
        name: "ReferencedResourceNotFound",
        severity: Error,
        summary: "a gateway selector matches no workload",
        mirrors: Some("gateway.IngressGatewayPortAnalyzer"),
        context: Kind::WORKLOADS,
        each: check_selector on &[Kind::Gateway],
    };
}

declare_rule! {
    /// ## What it checks
    /// Each `servers[].port.number` of an Istio Gateway against the Services in front of the
    /// workloads the Gateway selects: a Service in the workload's namespace whose selector matches
    /// the workload contributes each TCP port's `port` and numeric `targetPort`. A server port
    /// that none of them offers is flagged. Services without `protocol` count as TCP (the
    /// Kubernetes default); a Service without a selector counts for every workload of its
    /// namespace, as Istio's analyzer treats it.
    ///
    /// ## Why it matters
    /// The gateway proxy opens the listener, but clients reach the proxy through its Service. A
    /// port the Service does not expose (or forward to) is unreachable from outside, so the server
    /// and its routes silently serve nothing.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: Gateway
    /// metadata: {name: storefront, namespace: edge}
    /// spec:
    ///   selector: {app: edge-gateway}
    ///   servers:
    ///   - port: {number: 8443, name: https, protocol: HTTPS}
    ///     tls: {mode: SIMPLE, credentialName: storefront-cert}
    ///     hosts: ["shop.example.com"]
    /// ---
    /// apiVersion: v1
    /// kind: Pod
    /// metadata: {name: edge-gateway-0, namespace: edge, labels: {app: edge-gateway}}
    /// spec: {containers: [{name: istio-proxy, image: auto}]}
    /// ---
    /// apiVersion: v1
    /// kind: Service
    /// metadata: {name: edge-gateway, namespace: edge}
    /// spec:
    ///   selector: {app: edge-gateway}
    ///   ports: [{name: https, port: 443, targetPort: 443}]
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: Gateway
    /// metadata: {name: storefront, namespace: edge}
    /// spec:
    ///   selector: {app: edge-gateway}
    ///   servers:
    ///   - port: {number: 8443, name: https, protocol: HTTPS}
    ///     tls: {mode: SIMPLE, credentialName: storefront-cert}
    ///     hosts: ["shop.example.com"]
    /// ---
    /// apiVersion: v1
    /// kind: Pod
    /// metadata: {name: edge-gateway-0, namespace: edge, labels: {app: edge-gateway}}
    /// spec: {containers: [{name: istio-proxy, image: auto}]}
    /// ---
    /// apiVersion: v1
    /// kind: Service
    /// metadata: {name: edge-gateway, namespace: edge}
    /// spec:
    ///   selector: {app: edge-gateway}
    ///   ports: [{name: https, port: 443, targetPort: 8443}]
    /// ```
    pub static GATEWAY_PORT_NOT_ON_SERVICE = Rule {
        code: "IST0162",
        name: "GatewayPortNotDefinedOnService",
        severity: Warning,
        summary: "a gateway server port is not exposed by the service of its workloads",
        mirrors: Some("gateway.IngressGatewayPortAnalyzer"),
        each: check_ports on &[Kind::Gateway],
    };
}

fn check_selector(ws: &Workspace, gw: &Resource, out: &mut Findings) {
    let selector = gateway_selector(gw);
    if ws.select_workloads(None, &selector).next().is_some() {
        return;
    }
    let text = selector.text();
    let message = if selector.is_empty() {
        "the gateway has no selector and there is no workload for it to select".to_string()
    } else {
        format!("no workload matches the gateway selector \"{text}\"")
    };
    out.report(gw, gw.spec_anchor(&["selector"]), message).help(
        "deploy the gateway workload (a Pod or Deployment whose labels carry every selector \
         label) or correct the selector",
    );
}

fn check_ports(ws: &Workspace, gw: &Resource, out: &mut Findings) {
    let selector = gateway_selector(gw);
    let mut matched = ws.select_workloads(None, &selector).peekable();
    if matched.peek().is_none() {
        return;
    }
    let services = ws.shared(|| ServiceOffers::read(ws));
    let mut exposed = BTreeSet::new();
    for w in matched {
        exposed.extend(
            services
                .0
                .get(w.ns.as_str())
                .into_iter()
                .flatten()
                .filter(|s| s.selector.matches(&w.labels))
                .flat_map(|s| s.ports.iter().copied()),
        );
    }
    let text = selector.text();
    for server in gw.spec_at(&["servers"]).into_iter().flat_map(Node::items) {
        let Some(port) = server.get("port").filter(|p| !p.is_null()) else {
            continue;
        };
        let number_node = port.get("number");
        let number = number_node.and_then(port_number).unwrap_or(0);
        if exposed.contains(&number) {
            continue;
        }
        out.report(
            gw,
            number_node.unwrap_or(port),
            format!(
                "gateway port {number} is not exposed by any Service of the workloads that \
                 selector \"{text}\" selects"
            ),
        )
        .help(format!(
            "add port {number} (as `port` or `targetPort`) to the gateway's Service, or listen \
             on a port the Service forwards to"
        ));
    }
}

/// A Service's selector and the port numbers it offers a gateway listener: `port`, and a
/// numeric `targetPort`, of each TCP port.
struct ServiceOffer {
    selector: Selector,
    ports: Vec<i64>,
}

/// The Services of each namespace as gateway listeners see them.
struct ServiceOffers(HashMap<String, Vec<ServiceOffer>>);

impl ServiceOffers {
    fn read(ws: &Workspace) -> ServiceOffers {
        ServiceOffers(services_by_namespace(ws))
    }
}

fn services_by_namespace(ws: &Workspace) -> HashMap<String, Vec<ServiceOffer>> {
    let mut map: HashMap<String, Vec<ServiceOffer>> = HashMap::new();
    for svc in ws.of_kind(Kind::Service) {
        let mut ports = Vec::new();
        for p in svc.spec_at(&["ports"]).into_iter().flat_map(Node::items) {
            let protocol = p.get("protocol").and_then(Node::as_str).unwrap_or("TCP");
            if protocol != "TCP" {
                continue;
            }
            if let Some(port) = p.get("port").and_then(port_number) {
                ports.push(port);
            }
            // A named targetPort (`http`) has no number; Kubernetes' IntValue reads it as 0.
            if let Some(target) = p.get("targetPort").and_then(port_number)
                && target != 0
            {
                ports.push(target);
            }
        }
        map.entry(svc.ns.to_string())
            .or_default()
            .push(ServiceOffer {
                selector: Selector::read(svc.spec_at(&["selector"]), Values::NullAsEmpty),
                ports,
            });
    }
    map
}
