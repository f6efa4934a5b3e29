//! Rules mirroring Istio's `virtualservice.GatewayAnalyzer`: the gateways a VirtualService binds
//! to must exist (an Istio Gateway or a Gateway API Gateway), must not be Istio's internal
//! per-listener gateways, and must serve at least one of the VirtualService's hosts.

use mspack_yaml::Node;

use crate::declare_rule;
use crate::finding::Findings;
use crate::hosts::hosts_intersect;
use crate::refs::{gateway_refs, vs_hosts};
use crate::resource::{Kind, Resource};
use crate::resource::{full_name, short_or_full_name};
use crate::workspace::Workspace;

const MIRRORS: Option<&str> = Some("virtualservice.GatewayAnalyzer");

declare_rule! {
    /// ## What it checks
    /// Every entry of a VirtualService's `gateways` other than `mesh`: `name` (in the
    /// VirtualService's namespace) or `namespace/name` must name an Istio Gateway or a Gateway
    /// API Gateway of the analysed set. Runs only when the input has Gateways (mesh routes linted
    /// without the gateway definitions are not flagged).
    /// Kiali: KIA1102 (`virtualservices.nogateway`).
    ///
    /// ## Why it matters
    /// A VirtualService bound to a gateway that does not exist configures nothing: the routes
    /// never reach any proxy, and traffic for its hosts falls through to whatever else matches,
    /// usually a 404 at the ingress.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: Gateway
    /// metadata: {name: public-gateway, namespace: edge}
    /// spec:
    ///   selector: {istio: ingressgateway}
    ///   servers:
    ///   - port: {number: 443, name: https, protocol: HTTPS}
    ///     hosts: ["*/shop.fooddelivery.example"]
    ///     tls: {mode: SIMPLE, credentialName: shop-cert}
    /// ---
    /// apiVersion: networking.istio.io/v1
    /// kind: VirtualService
    /// metadata: {name: storefront, namespace: food}
    /// spec:
    ///   hosts: [shop.fooddelivery.example]
    ///   gateways: [edge/public-gatway]
    ///   http:
    ///   - route:
    ///     - destination: {host: storefront}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: Gateway
    /// metadata: {name: public-gateway, namespace: edge}
    /// spec:
    ///   selector: {istio: ingressgateway}
    ///   servers:
    ///   - port: {number: 443, name: https, protocol: HTTPS}
    ///     hosts: ["*/shop.fooddelivery.example"]
    ///     tls: {mode: SIMPLE, credentialName: shop-cert}
    /// ---
    /// apiVersion: networking.istio.io/v1
    /// kind: VirtualService
    /// metadata: {name: storefront, namespace: food}
    /// spec:
    ///   hosts: [shop.fooddelivery.example]
    ///   gateways: [edge/public-gateway]
    ///   http:
    ///   - route:
    ///     - destination: {host: storefront}
    /// ```
    pub static GATEWAY_NOT_FOUND = Rule {
        code: "IST0101",
        name: "ReferencedResourceNotFound",
        severity: Error,
        summary: "a VirtualService binds to a gateway that does not exist",
        mirrors: MIRRORS,
        context: &[Kind::Gateway, Kind::K8sGateway],
        each: check_not_found on &[Kind::VirtualService],
    };
}

declare_rule! {
    /// ## What it checks
    /// Every gateway a VirtualService binds to (other than `mesh`) against the VirtualService's
    /// `hosts`: at least one of them must match a host the gateway serves. For an Istio Gateway
    /// that is a server host visible to the VirtualService's namespace (`host`, `*/host`, or
    /// `<its namespace>/host`; `./host` means the Gateway's own namespace); for a Gateway API
    /// Gateway, a listener `hostname` (a listener without hostname serves every host). Wildcards
    /// match as in Istio (`*.example.com` covers `menu.example.com`). A gateway that does not
    /// exist serves no host.
    ///
    /// ## Why it matters
    /// The gateway only takes routes for hosts its servers accept: a VirtualService whose hosts
    /// none of them serve is ignored at that gateway, and requests for those hosts get a 404.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: Gateway
    /// metadata: {name: public-gateway, namespace: edge}
    /// spec:
    ///   selector: {istio: ingressgateway}
    ///   servers:
    ///   - port: {number: 80, name: http, protocol: HTTP}
    ///     hosts: ["*/shop.fooddelivery.example"]
    /// ---
    /// apiVersion: networking.istio.io/v1
    /// kind: VirtualService
    /// metadata: {name: courier-portal, namespace: delivery}
    /// spec:
    ///   hosts: [couriers.fooddelivery.example]
    ///   gateways: [edge/public-gateway]
    ///   http:
    ///   - route:
    ///     - destination: {host: courier-portal}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: Gateway
    /// metadata: {name: public-gateway, namespace: edge}
    /// spec:
    ///   selector: {istio: ingressgateway}
    ///   servers:
    ///   - port: {number: 80, name: http, protocol: HTTP}
    ///     hosts: ["*/shop.fooddelivery.example", "delivery/couriers.fooddelivery.example"]
    /// ---
    /// apiVersion: networking.istio.io/v1
    /// kind: VirtualService
    /// metadata: {name: courier-portal, namespace: delivery}
    /// spec:
    ///   hosts: [couriers.fooddelivery.example]
    ///   gateways: [edge/public-gateway]
    ///   http:
    ///   - route:
    ///     - destination: {host: courier-portal}
    /// ```
    pub static HOST_NOT_IN_GATEWAY = Rule {
        code: "IST0132",
        name: "VirtualServiceHostNotFoundInGateway",
        severity: Warning,
        summary: "none of a VirtualService's hosts is served by a gateway it binds to",
        mirrors: MIRRORS,
        each: check_hosts on &[Kind::VirtualService],
    };
}

declare_rule! {
    /// ## What it checks
    /// A VirtualService `gateways` entry naming one of the Gateways Istio generates internally
    /// for a Gateway API Gateway (a name containing `~istio-autogenerated-k8s-gateway~`).
    ///
    /// ## Why it matters
    /// Those gateways are an implementation detail: their names change with listeners and
    /// Istio versions, and binding to them bypasses the Gateway API's own route attachment rules.
    /// The route breaks without warning on the next change.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: VirtualService
    /// metadata: {name: storefront, namespace: food}
    /// spec:
    ///   hosts: [shop.fooddelivery.example]
    ///   gateways: ["edge/public~istio-autogenerated-k8s-gateway~https"]
    ///   http:
    ///   - route:
    ///     - destination: {host: storefront}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: gateway.networking.k8s.io/v1
    /// kind: Gateway
    /// metadata: {name: public, namespace: edge}
    /// spec:
    ///   gatewayClassName: istio
    ///   listeners:
    ///   - {name: https, port: 443, protocol: HTTPS, hostname: shop.fooddelivery.example}
    /// ---
    /// apiVersion: networking.istio.io/v1
    /// kind: VirtualService
    /// metadata: {name: storefront, namespace: food}
    /// spec:
    ///   hosts: [shop.fooddelivery.example]
    ///   gateways: [edge/public]
    ///   http:
    ///   - route:
    ///     - destination: {host: storefront}
    /// ```
    /// Better still, attach an HTTPRoute to the Gateway API Gateway.
    pub static INTERNAL_GATEWAY_REFERENCE = Rule {
        code: "IST0165",
        name: "ReferencedInternalGateway",
        severity: Warning,
        summary: "a VirtualService binds to an internal gateway Istio generates for a Gateway API Gateway",
        mirrors: MIRRORS,
        each: check_internal on &[Kind::VirtualService],
    };
}

/// Istio's marker for the Gateways it derives from Gateway API Gateways.
const INTERNAL_GATEWAY_MARKER: &str = "~istio-autogenerated-k8s-gateway~";

fn is_internal_reference(gateway: &str) -> bool {
    let name = gateway.split_once('/').map_or(gateway, |(_, n)| n);
    name.contains(INTERNAL_GATEWAY_MARKER)
}

/// A gateway reference that Istio checks (not `mesh`, not an internal gateway).
struct Binding<'a> {
    node: &'a Node,
    written: &'a str,
    ns: &'a str,
    name: &'a str,
}

fn bindings(vs: &Resource) -> impl Iterator<Item = Binding<'_>> {
    gateway_refs(vs)
        .into_iter()
        .filter(|(_, g)| *g != "mesh" && !is_internal_reference(g))
        .map(|(node, written)| {
            let (ns, name) = short_or_full_name(&vs.ns, written);
            Binding {
                node,
                written,
                ns,
                name,
            }
        })
}

fn check_internal(_: &Workspace, vs: &Resource, out: &mut Findings) {
    for (node, gateway) in gateway_refs(vs) {
        if gateway != "mesh" && is_internal_reference(gateway) {
            out.report(
                vs,
                node,
                format!("gateway \"{gateway}\" is an internal Gateway generated by Istio"),
            )
            .help("bind to the Gateway API Gateway itself (`namespace/name`), or use an HTTPRoute");
        }
    }
}

fn check_not_found(ws: &Workspace, vs: &Resource, out: &mut Findings) {
    for b in bindings(vs) {
        let exists = ws.find(Kind::Gateway, b.ns, b.name).is_some()
            || ws.find(Kind::K8sGateway, b.ns, b.name).is_some();
        if !exists {
            out.report(
                vs,
                b.node,
                format!("referenced gateway not found: \"{}\"", b.written),
            )
            .help(format!(
                "no Gateway `{}` in the analysed set; write `namespace/name` for a gateway in another namespace",
                full_name(b.ns, b.name)
            ));
        }
    }
}

fn check_hosts(ws: &Workspace, vs: &Resource, out: &mut Findings) {
    // Istio also reports hosts "not served" by a gateway that does not exist; when the input has
    // no gateways at all it does not model them, and that would only repeat the missing context.
    let gateways_modelled = ws.input_has_any(&[Kind::Gateway, Kind::K8sGateway]);
    let hosts = vs_hosts(vs);
    for b in bindings(vs) {
        let served = match ws.find(Kind::Gateway, b.ns, b.name) {
            Some(gw) => istio_gateway_serves(gw, &vs.ns, &hosts),
            None => match ws.find(Kind::K8sGateway, b.ns, b.name) {
                Some(gw) => k8s_gateway_serves(gw, &hosts),
                None => !gateways_modelled,
            },
        };
        if served {
            continue;
        }
        out.report(
            vs,
            b.node,
            format!(
                "none of the hosts [{}] is served by Gateway {}",
                hosts.join(", "),
                full_name(b.ns, b.name)
            ),
        )
        .help(format!(
            "add a matching host to a server of the gateway (visible to namespace `{}`), or bind the VirtualService to the gateway that serves it",
            vs.ns
        ));
    }
}

/// The server hosts of an Istio Gateway as Istio reads them for a VirtualService in `vs_ns`:
/// `./h` becomes `<gateway namespace>/h`, `*/h` becomes `h`, a `*/*` makes its server serve `*`;
/// then only hosts without namespace, or with `*` or `vs_ns` as namespace, remain.
fn istio_gateway_serves(gw: &Resource, vs_ns: &str, vs_hosts: &[&str]) -> bool {
    let mut names: Vec<String> = Vec::new();
    for server in gw.spec_at(&["servers"]).into_iter().flat_map(Node::items) {
        let hosts: Vec<&str> = server
            .get("hosts")
            .into_iter()
            .flat_map(Node::items)
            .filter_map(Node::as_str)
            .collect();
        if hosts.contains(&"*/*") {
            names.push("*".to_string());
            continue;
        }
        for h in hosts {
            let sanitized = match h.split('/').collect::<Vec<_>>().as_slice() {
                [".", rest, ..] => format!("{}/{rest}", gw.ns),
                ["*", rest, ..] => (*rest).to_string(),
                _ => h.to_string(),
            };
            match sanitized.split_once('/') {
                Some((ns, name)) if ns == vs_ns || ns == "*" => names.push(name.to_string()),
                Some(_) => {}
                None => names.push(sanitized),
            }
        }
    }
    names
        .iter()
        .any(|g| vs_hosts.iter().any(|h| hosts_intersect(g, h)))
}

/// A Gateway API Gateway serves every host when one of its listeners has no hostname.
fn k8s_gateway_serves(gw: &Resource, vs_hosts: &[&str]) -> bool {
    let mut hostnames = Vec::new();
    for listener in gw.spec_at(&["listeners"]).into_iter().flat_map(Node::items) {
        match listener.get("hostname").and_then(Node::as_str) {
            None | Some("") => return true,
            Some(h) => hostnames.push(h),
        }
    }
    hostnames
        .iter()
        .any(|g| vs_hosts.iter().any(|h| hosts_intersect(g, h)))
}
