//! Kiali's ambient checks of L7 routing (`AmbientPolicyChecker`, keyed by destination Service):
//! a VirtualService with HTTP/TLS routes for mesh traffic, or a DestinationRule with HTTP-level
//! traffic policy, for a Service of an ambient namespace that no waypoint serves, or written
//! outside that Service's namespace.

use mspack_yaml::Node;

use crate::declare_rule;
use crate::finding::Findings;
use crate::hosts::{canonical_host, split_fqdn};
use crate::resource::{Kind, Resource};
use crate::rules::kiali_ambient::{USE_WAYPOINT, enrolls};
use crate::workloads::{any_namespace_in_ambient, namespace_in_ambient, namespace_labels};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// A VirtualService with `http` or `tls` routes that applies to mesh traffic (no `gateways`,
    /// or `mesh` among them), for a host that is a Service of the input in an ambient namespace
    /// (its Namespace object labelled `istio.io/dataplane-mode: ambient`), where neither the
    /// Service nor its Namespace is enrolled to a waypoint (`istio.io/use-waypoint`).
    /// Kiali: KIA1113 (`virtualservice.ambient.servicenotcaptured`).
    ///
    /// ## Why it matters
    /// In ambient mode only a waypoint applies HTTP routing. Traffic to a Service without one
    /// goes through ztunnel, which ignores the VirtualService: retries, timeouts, header
    /// matches and traffic splits silently do nothing.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: v1
    /// kind: Namespace
    /// metadata:
    ///   name: shop
    ///   labels: {istio.io/dataplane-mode: ambient}
    /// ---
    /// apiVersion: v1
    /// kind: Service
    /// metadata: {name: reviews, namespace: shop}
    /// spec:
    ///   ports:
    ///   - {port: 9080, name: http}
    /// ---
    /// apiVersion: networking.istio.io/v1
    /// kind: VirtualService
    /// metadata: {name: reviews, namespace: shop}
    /// spec:
    ///   hosts: [reviews]
    ///   http:
    ///   - timeout: 2s
    ///     route:
    ///     - destination: {host: reviews}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: v1
    /// kind: Namespace
    /// metadata:
    ///   name: shop
    ///   labels: {istio.io/dataplane-mode: ambient}
    /// ---
    /// apiVersion: v1
    /// kind: Service
    /// metadata:
    ///   name: reviews
    ///   namespace: shop
    ///   labels: {istio.io/use-waypoint: waypoint}
    /// spec:
    ///   ports:
    ///   - {port: 9080, name: http}
    /// ---
    /// apiVersion: networking.istio.io/v1
    /// kind: VirtualService
    /// metadata: {name: reviews, namespace: shop}
    /// spec:
    ///   hosts: [reviews]
    ///   http:
    ///   - timeout: 2s
    ///     route:
    ///     - destination: {host: reviews}
    /// ```
    pub static VS_SERVICE_NOT_CAPTURED = Rule {
        code: "KIA1113",
        name: "ambient-virtual-service-without-waypoint",
        severity: Warning,
        summary: "an L7 VirtualService targets an ambient Service that no waypoint serves",
        mirrors: Some("AmbientPolicyChecker.VirtualService"),
        check: check_vs_not_captured,
    };
}

declare_rule! {
    /// ## What it checks
    /// A VirtualService with `http` or `tls` routes for mesh traffic (as KIA1113 reads it) for a
    /// Service of an ambient namespace, written in another namespace than the Service's.
    /// Kiali: KIA1114 (`virtualservice.ambient.notinservicenamespace`).
    ///
    /// ## Why it matters
    /// A waypoint applies the L7 configuration of its Service's namespace; a VirtualService kept
    /// in a client's namespace (the sidecar habit) takes no effect for ambient traffic.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: v1
    /// kind: Namespace
    /// metadata:
    ///   name: shop
    ///   labels: {istio.io/dataplane-mode: ambient, istio.io/use-waypoint: waypoint}
    /// ---
    /// apiVersion: v1
    /// kind: Service
    /// metadata: {name: reviews, namespace: shop}
    /// spec:
    ///   ports:
    ///   - {port: 9080, name: http}
    /// ---
    /// apiVersion: networking.istio.io/v1
    /// kind: VirtualService
    /// metadata: {name: reviews, namespace: frontend}
    /// spec:
    ///   hosts: [reviews.shop.svc.cluster.local]
    ///   http:
    ///   - timeout: 2s
    ///     route:
    ///     - destination: {host: reviews.shop.svc.cluster.local}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: v1
    /// kind: Namespace
    /// metadata:
    ///   name: shop
    ///   labels: {istio.io/dataplane-mode: ambient, istio.io/use-waypoint: waypoint}
    /// ---
    /// apiVersion: v1
    /// kind: Service
    /// metadata: {name: reviews, namespace: shop}
    /// spec:
    ///   ports:
    ///   - {port: 9080, name: http}
    /// ---
    /// apiVersion: networking.istio.io/v1
    /// kind: VirtualService
    /// metadata: {name: reviews, namespace: shop}
    /// spec:
    ///   hosts: [reviews.shop.svc.cluster.local]
    ///   http:
    ///   - timeout: 2s
    ///     route:
    ///     - destination: {host: reviews.shop.svc.cluster.local}
    /// ```
    pub static VS_NOT_IN_SERVICE_NAMESPACE = Rule {
        code: "KIA1114",
        name: "ambient-virtual-service-outside-service-namespace",
        severity: Warning,
        summary: "an L7 VirtualService for an ambient Service is outside the Service's namespace",
        mirrors: Some("AmbientPolicyChecker.VirtualService"),
        check: check_vs_namespace,
    };
}

declare_rule! {
    /// ## What it checks
    /// A DestinationRule with HTTP-level traffic policy (consistent hashing on a header or
    /// cookie, `connectionPool.http`, or `outlierDetection`, at the top or in a subset) whose
    /// host is a Service of the input in an ambient namespace, where neither the Service nor its
    /// Namespace is enrolled to a waypoint (`istio.io/use-waypoint`).
    /// Kiali: KIA0211 (`destinationrule.ambient.servicenotcaptured`).
    ///
    /// ## Why it matters
    /// Those settings need an HTTP proxy on the path; in ambient mode that is the Service's
    /// waypoint. Without one, circuit breaking, HTTP connection limits and sticky sessions
    /// silently do not apply.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: v1
    /// kind: Namespace
    /// metadata:
    ///   name: shop
    ///   labels: {istio.io/dataplane-mode: ambient}
    /// ---
    /// apiVersion: v1
    /// kind: Service
    /// metadata: {name: reviews, namespace: shop}
    /// spec:
    ///   ports:
    ///   - {port: 9080, name: http}
    /// ---
    /// apiVersion: networking.istio.io/v1
    /// kind: DestinationRule
    /// metadata: {name: reviews, namespace: shop}
    /// spec:
    ///   host: reviews
    ///   trafficPolicy:
    ///     outlierDetection: {consecutive5xxErrors: 5}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: v1
    /// kind: Namespace
    /// metadata:
    ///   name: shop
    ///   labels: {istio.io/dataplane-mode: ambient, istio.io/use-waypoint: waypoint}
    /// ---
    /// apiVersion: v1
    /// kind: Service
    /// metadata: {name: reviews, namespace: shop}
    /// spec:
    ///   ports:
    ///   - {port: 9080, name: http}
    /// ---
    /// apiVersion: networking.istio.io/v1
    /// kind: DestinationRule
    /// metadata: {name: reviews, namespace: shop}
    /// spec:
    ///   host: reviews
    ///   trafficPolicy:
    ///     outlierDetection: {consecutive5xxErrors: 5}
    /// ```
    pub static DR_SERVICE_NOT_CAPTURED = Rule {
        code: "KIA0211",
        name: "ambient-destination-rule-without-waypoint",
        severity: Warning,
        summary: "an L7 DestinationRule targets an ambient Service that no waypoint serves",
        mirrors: Some("AmbientPolicyChecker.DestinationRule"),
        check: check_dr_not_captured,
    };
}

declare_rule! {
    /// ## What it checks
    /// A DestinationRule with HTTP-level traffic policy (as KIA0211 reads it) for a Service of
    /// an ambient namespace, written in another namespace than the Service's.
    /// Kiali: KIA0212 (`destinationrule.ambient.notinservicenamespace`).
    ///
    /// ## Why it matters
    /// A waypoint applies the DestinationRules of its Service's namespace; one kept in a
    /// client's namespace takes no effect for ambient traffic.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: v1
    /// kind: Namespace
    /// metadata:
    ///   name: shop
    ///   labels: {istio.io/dataplane-mode: ambient, istio.io/use-waypoint: waypoint}
    /// ---
    /// apiVersion: v1
    /// kind: Service
    /// metadata: {name: reviews, namespace: shop}
    /// spec:
    ///   ports:
    ///   - {port: 9080, name: http}
    /// ---
    /// apiVersion: networking.istio.io/v1
    /// kind: DestinationRule
    /// metadata: {name: reviews, namespace: frontend}
    /// spec:
    ///   host: reviews.shop.svc.cluster.local
    ///   trafficPolicy:
    ///     connectionPool:
    ///       http: {http2MaxRequests: 100}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: v1
    /// kind: Namespace
    /// metadata:
    ///   name: shop
    ///   labels: {istio.io/dataplane-mode: ambient, istio.io/use-waypoint: waypoint}
    /// ---
    /// apiVersion: v1
    /// kind: Service
    /// metadata: {name: reviews, namespace: shop}
    /// spec:
    ///   ports:
    ///   - {port: 9080, name: http}
    /// ---
    /// apiVersion: networking.istio.io/v1
    /// kind: DestinationRule
    /// metadata: {name: reviews, namespace: shop}
    /// spec:
    ///   host: reviews.shop.svc.cluster.local
    ///   trafficPolicy:
    ///     connectionPool:
    ///       http: {http2MaxRequests: 100}
    /// ```
    pub static DR_NOT_IN_SERVICE_NAMESPACE = Rule {
        code: "KIA0212",
        name: "ambient-destination-rule-outside-service-namespace",
        severity: Warning,
        summary: "an L7 DestinationRule for an ambient Service is outside the Service's namespace",
        mirrors: Some("AmbientPolicyChecker.DestinationRule"),
        check: check_dr_namespace,
    };
}

declare_rule! {
    /// ## What it checks
    /// A VirtualService with `http` or `tls` routes for mesh traffic (as KIA1113 reads it) in an
    /// ambient namespace that is not enrolled to a waypoint (its Namespace object has no
    /// `istio.io/use-waypoint`), when none of its hosts is a Service of the input in an ambient
    /// namespace (those are KIA1113's). Kiali: KIA1109 (`virtualservice.ambient.l7nowaypoint`).
    ///
    /// ## Why it matters
    /// The namespace's pods have no sidecar and no waypoint: nothing on their path applies
    /// HTTP routing, so the VirtualService's matches, retries and splits do not happen for
    /// their traffic.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: v1
    /// kind: Namespace
    /// metadata:
    ///   name: shop
    ///   labels: {istio.io/dataplane-mode: ambient}
    /// ---
    /// apiVersion: networking.istio.io/v1
    /// kind: VirtualService
    /// metadata: {name: payments, namespace: shop}
    /// spec:
    ///   hosts: [payments.billing.svc.cluster.local]
    ///   http:
    ///   - retries: {attempts: 3}
    ///     route:
    ///     - destination: {host: payments.billing.svc.cluster.local}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: v1
    /// kind: Namespace
    /// metadata:
    ///   name: shop
    ///   labels: {istio.io/dataplane-mode: ambient, istio.io/use-waypoint: waypoint}
    /// ---
    /// apiVersion: networking.istio.io/v1
    /// kind: VirtualService
    /// metadata: {name: payments, namespace: shop}
    /// spec:
    ///   hosts: [payments.billing.svc.cluster.local]
    ///   http:
    ///   - retries: {attempts: 3}
    ///     route:
    ///     - destination: {host: payments.billing.svc.cluster.local}
    /// ```
    pub static VS_NAMESPACE_WITHOUT_WAYPOINT = Rule {
        code: "KIA1109",
        name: "ambient-virtual-service-namespace-without-waypoint",
        severity: Warning,
        summary: "an L7 VirtualService lives in an ambient namespace that no waypoint serves",
        mirrors: Some("AmbientPolicyChecker.VirtualService"),
        check: check_vs_fallback,
    };
}

declare_rule! {
    /// ## What it checks
    /// A DestinationRule with HTTP-level traffic policy (as KIA0211 reads it) in an ambient
    /// namespace that is not enrolled to a waypoint (its Namespace object has no
    /// `istio.io/use-waypoint`), when its host is not a Service of the input in an ambient
    /// namespace (those are KIA0211's). Kiali: KIA0210 (`destinationrule.ambient.l7nowaypoint`).
    ///
    /// ## Why it matters
    /// Nothing on the path of the namespace's pods speaks HTTP: circuit breaking, HTTP
    /// connection limits and sticky sessions do not apply to their traffic.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: v1
    /// kind: Namespace
    /// metadata:
    ///   name: shop
    ///   labels: {istio.io/dataplane-mode: ambient}
    /// ---
    /// apiVersion: networking.istio.io/v1
    /// kind: DestinationRule
    /// metadata: {name: payments, namespace: shop}
    /// spec:
    ///   host: payments.billing.svc.cluster.local
    ///   trafficPolicy:
    ///     outlierDetection: {consecutive5xxErrors: 5}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: v1
    /// kind: Namespace
    /// metadata:
    ///   name: shop
    ///   labels: {istio.io/dataplane-mode: ambient, istio.io/use-waypoint: waypoint}
    /// ---
    /// apiVersion: networking.istio.io/v1
    /// kind: DestinationRule
    /// metadata: {name: payments, namespace: shop}
    /// spec:
    ///   host: payments.billing.svc.cluster.local
    ///   trafficPolicy:
    ///     outlierDetection: {consecutive5xxErrors: 5}
    /// ```
    pub static DR_NAMESPACE_WITHOUT_WAYPOINT = Rule {
        code: "KIA0210",
        name: "ambient-destination-rule-namespace-without-waypoint",
        severity: Warning,
        summary: "an L7 DestinationRule lives in an ambient namespace that no waypoint serves",
        mirrors: Some("AmbientPolicyChecker.DestinationRule"),
        check: check_dr_fallback,
    };
}

/// A VirtualService with HTTP or TLS routes for mesh traffic (Kiali's "requires waypoint").
fn l7_virtual_service(vs: &Resource) -> bool {
    let has = |key: &str| {
        vs.spec_at(&[key])
            .is_some_and(|n| n.items().next().is_some())
    };
    let gateways: Vec<&str> = vs
        .spec_at(&["gateways"])
        .into_iter()
        .flat_map(Node::items)
        .filter_map(Node::as_str)
        .collect();
    (has("http") || has("tls")) && (gateways.is_empty() || gateways.contains(&"mesh"))
}

/// A traffic policy with settings only an HTTP proxy applies.
fn l7_traffic_policy(tp: &Node) -> bool {
    let hash = tp.path(&["loadBalancer", "consistentHash"]);
    hash.is_some_and(|h| h.get("httpHeaderName").is_some() || h.get("httpCookie").is_some())
        || tp.path(&["connectionPool", "http"]).is_some()
        || tp.get("outlierDetection").is_some_and(|o| !o.is_null())
}

fn l7_destination_rule(dr: &Resource) -> bool {
    dr.spec_at(&["trafficPolicy"])
        .is_some_and(l7_traffic_policy)
        || dr
            .spec_at(&["subsets"])
            .into_iter()
            .flat_map(Node::items)
            .filter_map(|s| s.get("trafficPolicy"))
            .any(l7_traffic_policy)
}

/// A Service of the input in an ambient namespace that a host of `r` names, with the host node.
struct AmbientDestination<'a> {
    node: &'a Node,
    service: &'a Resource,
    enrolled: bool,
}

fn ambient_destinations<'a>(ws: &'a Workspace, r: &'a Resource) -> Vec<AmbientDestination<'a>> {
    let domain = ws.cluster_domain();
    let host_nodes: Vec<&Node> = match r.kind {
        Kind::VirtualService => r
            .spec_at(&["hosts"])
            .into_iter()
            .flat_map(Node::items)
            .collect(),
        _ => r.spec_at(&["host"]).into_iter().collect(),
    };
    let mut seen = std::collections::HashSet::new();
    host_nodes
        .into_iter()
        .filter_map(|node| {
            let written = node.as_str()?;
            let fqdn = canonical_host(written, &r.ns, domain, |ns| ws.namespaces().contains(ns));
            let (name, ns) = split_fqdn(&fqdn, domain)?;
            let service = ws.find(Kind::Service, ns, name)?;
            if !namespace_in_ambient(ws, ns) || !seen.insert(service.id) {
                return None;
            }
            let ns_enrolled = enrolls(
                namespace_labels(ws, ns)
                    .as_ref()
                    .and_then(|l| l.get(USE_WAYPOINT))
                    .map(String::as_str),
            );
            let enrolled = enrolls(service.label(USE_WAYPOINT)).or(ns_enrolled) == Some(true);
            Some(AmbientDestination {
                node,
                service,
                enrolled,
            })
        })
        .collect()
}

fn report_not_captured(
    ws: &Workspace,
    kind: Kind,
    is_l7: fn(&Resource) -> bool,
    out: &mut Findings,
) {
    if !any_namespace_in_ambient(ws) {
        return;
    }
    for r in ws.of_kind(kind).filter(|r| is_l7(r)) {
        for d in ambient_destinations(ws, r)
            .into_iter()
            .filter(|d| !d.enrolled)
        {
            out.report(
                r,
                d.node,
                format!(
                    "{} is in ambient namespace {:?} and no waypoint serves it (`istio.io/use-waypoint`): ztunnel ignores this {}'s L7 settings",
                    d.service.display_name(),
                    d.service.ns.as_str(),
                    r.kind_name
                ),
            )
            .help(format!(
                "deploy a waypoint and label Service {} (or its namespace) with `istio.io/use-waypoint: <waypoint name>`",
                d.service.name
            ));
        }
    }
}

fn report_namespace(ws: &Workspace, kind: Kind, is_l7: fn(&Resource) -> bool, out: &mut Findings) {
    if !any_namespace_in_ambient(ws) {
        return;
    }
    for r in ws.of_kind(kind).filter(|r| is_l7(r)) {
        for d in ambient_destinations(ws, r)
            .into_iter()
            .filter(|d| d.service.ns != r.ns)
        {
            out.report(
                r,
                d.node,
                format!(
                    "{} is in ambient namespace {:?}, but this {} is in namespace {:?}: the Service's waypoint does not apply it",
                    d.service.display_name(),
                    d.service.ns.as_str(),
                    r.kind_name,
                    r.ns.as_str()
                ),
            )
            .help(format!(
                "move this {} to namespace {:?}",
                r.kind_name, d.service.ns
            ));
        }
    }
}

fn check_vs_not_captured(ws: &Workspace, out: &mut Findings) {
    report_not_captured(ws, Kind::VirtualService, l7_virtual_service, out);
}

fn check_vs_namespace(ws: &Workspace, out: &mut Findings) {
    report_namespace(ws, Kind::VirtualService, l7_virtual_service, out);
}

fn check_dr_not_captured(ws: &Workspace, out: &mut Findings) {
    report_not_captured(ws, Kind::DestinationRule, l7_destination_rule, out);
}

fn check_dr_namespace(ws: &Workspace, out: &mut Findings) {
    report_namespace(ws, Kind::DestinationRule, l7_destination_rule, out);
}

/// Kiali's fallback: an L7 resource none of whose hosts is an ambient Service of the input, in
/// an ambient namespace not enrolled to a waypoint.
fn report_fallback(ws: &Workspace, kind: Kind, is_l7: fn(&Resource) -> bool, out: &mut Findings) {
    if !any_namespace_in_ambient(ws) {
        return;
    }
    for r in ws.of_kind(kind).filter(|r| is_l7(r)) {
        if !namespace_in_ambient(ws, &r.ns) || !ambient_destinations(ws, r).is_empty() {
            continue;
        }
        let enrolled = enrolls(
            namespace_labels(ws, &r.ns)
                .as_ref()
                .and_then(|l| l.get(USE_WAYPOINT))
                .map(String::as_str),
        );
        if enrolled == Some(true) {
            continue;
        }
        let anchor = r
            .spec_at(&["hosts"])
            .or_else(|| r.spec_at(&["host"]))
            .unwrap_or_else(|| r.anchor());
        out.report(
            r,
            anchor,
            format!(
                "namespace {:?} is ambient and not enrolled to a waypoint (`istio.io/use-waypoint`): no proxy applies this {}'s L7 settings to its traffic",
                r.ns.as_str(),
                r.kind_name
            ),
        )
        .help(format!(
            "deploy a waypoint and label namespace {:?} with `istio.io/use-waypoint: <waypoint name>`",
            r.ns.as_str()
        ));
    }
}

fn check_vs_fallback(ws: &Workspace, out: &mut Findings) {
    report_fallback(ws, Kind::VirtualService, l7_virtual_service, out);
}

fn check_dr_fallback(ws: &Workspace, out: &mut Findings) {
    report_fallback(ws, Kind::DestinationRule, l7_destination_rule, out);
}
