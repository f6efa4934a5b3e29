//! Kiali's Gateway API validations (`k8shttproutes`, `k8sgrpcroutes`, `k8sreferencegrants`): routes
//! attached to Gateways that do not exist or do not admit them, backends that name no Service
//! or cross namespaces without a ReferenceGrant, grants from namespaces that do not exist.

use mspack_yaml::Node;

use crate::declare_rule;
use crate::finding::Findings;
use crate::gateway_api::{
    GROUP, ROUTE_KINDS, backend_refs, gateway_admits_namespace, parent_refs,
    service_reference_granted,
};
use crate::resource::{Kind, Resource, full_name};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// Every `parentRefs` entry of an HTTPRoute, GRPCRoute, TCPRoute, TLSRoute or UDPRoute that
    /// names a Gateway API `Gateway` (the default group and kind): the Gateway must be in the
    /// analysed set, and when it is in another namespace one of its listeners must admit routes
    /// from the route's namespace (`allowedRoutes.namespaces.from: All`, or `Selector` matching
    /// the Namespace; the default, `Same`, admits none). A Gateway is looked for only in a
    /// namespace where the set has Gateway API Gateways (elsewhere it may be deployed apart from
    /// the routes), and a `Selector` is not decided without the Namespace object.
    /// Kiali: KIA1401 (`k8sroutes.nok8sgateway`).
    ///
    /// ## Why it matters
    /// A route whose parent does not exist, or does not accept it, is attached to nothing: its
    /// status says `Accepted: False` on a cluster, and the traffic it describes gets the
    /// gateway's 404. Nothing fails at apply time.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: gateway.networking.k8s.io/v1
    /// kind: Gateway
    /// metadata: {name: edge, namespace: ingress}
    /// spec:
    ///   gatewayClassName: istio
    ///   listeners:
    ///   - {name: http, port: 80, protocol: HTTP}
    /// ---
    /// apiVersion: gateway.networking.k8s.io/v1
    /// kind: HTTPRoute
    /// metadata: {name: shop, namespace: shop}
    /// spec:
    ///   parentRefs:
    ///   - {name: edge, namespace: ingress}
    ///   rules:
    ///   - backendRefs:
    ///     - {name: shop, port: 8080}
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
    ///   - name: http
    ///     port: 80
    ///     protocol: HTTP
    ///     allowedRoutes:
    ///       namespaces: {from: All}
    /// ---
    /// apiVersion: gateway.networking.k8s.io/v1
    /// kind: HTTPRoute
    /// metadata: {name: shop, namespace: shop}
    /// spec:
    ///   parentRefs:
    ///   - {name: edge, namespace: ingress}
    ///   rules:
    ///   - backendRefs:
    ///     - {name: shop, port: 8080}
    /// ```
    pub static ROUTE_GATEWAY_NOT_FOUND = Rule {
        code: "KIA1401",
        name: "route-gateway-not-found",
        severity: Error,
        summary: "a Gateway API route is attached to a Gateway that does not exist or does not admit its namespace",
        mirrors: Some("k8shttproutes.NoK8sGatewayChecker"),
        context: &[Kind::K8sGateway],
        each: check_parents on &ROUTE_KINDS,
    };
}

declare_rule! {
    /// ## What it checks
    /// Every `backendRefs` entry of a Gateway API route that names a core `Service` (the default
    /// kind), and every `parentRefs` entry of kind `Service` (a mesh route): the name must be a
    /// bare Service name (a dotted DNS name is never a Service name), and the Service must be in
    /// the analysed set. A backend in another namespace also needs a ReferenceGrant in that
    /// namespace admitting the route's kind from the route's namespace; that is decided when the
    /// Service is in the set, so the namespace is modelled. A Service is looked for only in a
    /// namespace where the set has Services.
    /// Kiali: KIA1402 (`k8sroutes.nohost.namenotfound`); unlike Kiali, a cross-namespace
    /// `parentRefs` Service needs no grant (the Gateway API does not ask for one).
    ///
    /// ## Why it matters
    /// A backend that cannot be resolved is dropped from the route: requests that would go to it
    /// get a 500, and with no valid backend at all the route answers every request with an
    /// error. A cross-namespace backend without its ReferenceGrant fails the same way, with
    /// `ResolvedRefs: False` as the only trace.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: v1
    /// kind: Service
    /// metadata: {name: catalog, namespace: catalog}
    /// spec:
    ///   selector: {app: catalog}
    ///   ports:
    ///   - {port: 8080}
    /// ---
    /// apiVersion: gateway.networking.k8s.io/v1
    /// kind: HTTPRoute
    /// metadata: {name: shop, namespace: shop}
    /// spec:
    ///   rules:
    ///   - backendRefs:
    ///     - {name: catalog, namespace: catalog, port: 8080}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: v1
    /// kind: Service
    /// metadata: {name: catalog, namespace: catalog}
    /// spec:
    ///   selector: {app: catalog}
    ///   ports:
    ///   - {port: 8080}
    /// ---
    /// apiVersion: gateway.networking.k8s.io/v1beta1
    /// kind: ReferenceGrant
    /// metadata: {name: shop-routes, namespace: catalog}
    /// spec:
    ///   from:
    ///   - {group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: shop}
    ///   to:
    ///   - {group: "", kind: Service}
    /// ---
    /// apiVersion: gateway.networking.k8s.io/v1
    /// kind: HTTPRoute
    /// metadata: {name: shop, namespace: shop}
    /// spec:
    ///   rules:
    ///   - backendRefs:
    ///     - {name: catalog, namespace: catalog, port: 8080}
    /// ```
    pub static ROUTE_BACKEND_NOT_FOUND = Rule {
        code: "KIA1402",
        name: "route-backend-not-found",
        severity: Error,
        summary: "a Gateway API route refers to a Service that does not exist or is in another namespace without a ReferenceGrant",
        mirrors: Some("k8shttproutes.NoHostChecker"),
        context: &[Kind::Service],
        each: check_backends on &ROUTE_KINDS,
    };
}

declare_rule! {
    /// ## What it checks
    /// Every `spec.from[].namespace` of a ReferenceGrant, against the namespaces of the analysed
    /// set (Namespace objects and the namespaces of its resources). It runs only when the set
    /// has Namespace objects. Off by default: a grant is often kept with the Services it
    /// exposes, apart from the namespaces of the routes it admits. Kiali: KIA1601
    /// (`k8sreferencegrants.from.namespacenotfound`).
    ///
    /// ## Why it matters
    /// A grant from a namespace that does not exist admits nothing: the routes it was written
    /// for (often in a namespace whose name was mistyped) still cannot reach the Services, and
    /// the grant stays behind as a hole waiting for a namespace of that name.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: v1
    /// kind: Namespace
    /// metadata: {name: shop}
    /// ---
    /// apiVersion: gateway.networking.k8s.io/v1beta1
    /// kind: ReferenceGrant
    /// metadata: {name: shop-routes, namespace: catalog}
    /// spec:
    ///   from:
    ///   - {group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: shoop}
    ///   to:
    ///   - {group: "", kind: Service}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: v1
    /// kind: Namespace
    /// metadata: {name: shop}
    /// ---
    /// apiVersion: gateway.networking.k8s.io/v1beta1
    /// kind: ReferenceGrant
    /// metadata: {name: shop-routes, namespace: catalog}
    /// spec:
    ///   from:
    ///   - {group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: shop}
    ///   to:
    ///   - {group: "", kind: Service}
    /// ```
    pub static REFERENCE_GRANT_NAMESPACE_NOT_FOUND = Rule {
        code: "KIA1601",
        name: "reference-grant-namespace-not-found",
        severity: Warning,
        summary: "a ReferenceGrant admits references from a namespace that does not exist",
        mirrors: Some("k8sreferencegrants.NamespaceChecker"),
        enabled_by_default: false,
        context: &[Kind::Namespace],
        each: check_grants on &[Kind::ReferenceGrant],
    };
}

fn check_parents(ws: &Workspace, route: &Resource, out: &mut Findings) {
    for parent in parent_refs(route).into_iter().filter(|p| p.is_gateway()) {
        let target = full_name(parent.namespace, parent.name);
        match ws.find(Kind::K8sGateway, parent.namespace, parent.name) {
            None if ws.input_has_in(Kind::K8sGateway, parent.namespace) => {
                out.report(
                    route,
                    parent.name_node,
                    format!(
                        "parentRef names Gateway {target}, which is not in the analysed set; the route is attached to nothing"
                    ),
                )
                .help(format!(
                    "name an existing Gateway (`namespace` and `name` of a {GROUP} Gateway), or add Gateway {target}"
                ));
            }
            Some(gw) if gateway_admits_namespace(ws, gw, &route.ns) == Some(false) => {
                out.report(
                    route,
                    parent.name_node,
                    format!(
                        "no listener of Gateway {target} admits routes from namespace {:?} (`allowedRoutes.namespaces` is `Same` by default); the route is not attached",
                        route.ns.as_str()
                    ),
                )
                .help(format!(
                    "set `allowedRoutes.namespaces.from: All` (or a `Selector` matching namespace {:?}) on a listener of Gateway {target}",
                    route.ns.as_str()
                ));
            }
            _ => {}
        }
    }
}

fn check_backends(ws: &Workspace, route: &Resource, out: &mut Findings) {
    let parents = parent_refs(route).into_iter().map(|p| (p, true));
    let backends = backend_refs(route).into_iter().map(|b| (b, false));
    for (r, is_parent) in parents.chain(backends) {
        if !r.is_service() {
            continue;
        }
        let what = if is_parent { "parentRef" } else { "backendRef" };
        if r.name.contains('.') {
            out.report(
                route,
                r.name_node,
                format!(
                    "{what} names Service {:?}, a DNS name; a Service reference takes the bare Service name",
                    r.name
                ),
            )
            .help("write the Service's name in `name` and its namespace in `namespace`");
            continue;
        }
        let target = full_name(r.namespace, r.name);
        let Some(_) = ws.find(Kind::Service, r.namespace, r.name) else {
            if ws.input_has_in(Kind::Service, r.namespace) {
                out.report(
                    route,
                    r.name_node,
                    format!("{what} names Service {target}, which is not in the analysed set"),
                )
                .help(format!("name an existing Service, or add Service {target}"));
            }
            continue;
        };
        if !is_parent
            && r.cross_namespace
            && !service_reference_granted(ws, &route.kind_name, &route.ns, r.namespace, r.name)
        {
            out.report(
                route,
                r.node.get("namespace").unwrap_or(r.name_node),
                format!(
                    "backendRef crosses to Service {target}, but no ReferenceGrant in namespace {:?} admits {}s from namespace {:?}; the backend is not resolved",
                    r.namespace,
                    route.kind_name,
                    route.ns.as_str()
                ),
            )
            .help(format!(
                "add a ReferenceGrant in namespace {:?} with `from: [{{group: {GROUP}, kind: {}, namespace: {}}}]` and `to: [{{group: \"\", kind: Service}}]`",
                r.namespace,
                route.kind_name,
                route.ns
            ));
        }
    }
}

fn check_grants(ws: &Workspace, grant: &Resource, out: &mut Findings) {
    for from in grant.spec_at(&["from"]).into_iter().flat_map(Node::items) {
        let Some(node) = from.get("namespace") else {
            continue;
        };
        let Some(ns) = node.as_str() else { continue };
        if !ws.namespaces().contains(ns) {
            out.report(
                grant,
                node,
                format!("ReferenceGrant admits references from namespace {ns:?}, which is not a namespace of the analysed set"),
            )
            .help("name the namespace the routes live in (check its spelling)");
        }
    }
}
