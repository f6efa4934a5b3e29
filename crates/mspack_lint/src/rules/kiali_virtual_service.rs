//! Kiali's `virtualservices.RouteChecker`: a lone weighted destination, and one route listing the
//! same host and subset twice.

use mspack_yaml::Node;

use crate::declare_rule;
use crate::fast_map::FastMap;
use crate::finding::Findings;
use crate::hosts::canonical_host;
use crate::refs::route_rules;
use crate::resource::{Kind, Resource, port_number};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// Every `http`, `tcp` and `tls` route of a VirtualService with a single destination whose
    /// `weight` is between 1 and 99. Kiali: KIA1104 (`virtualservices.route.singleweight`).
    ///
    /// ## Why it matters
    /// A lone destination gets all the traffic whatever its weight says: a `weight: 10` left
    /// over from a canary rollout whose other destination was removed reads as "10% here" but
    /// sends 100%. The route says something it does not do.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: VirtualService
    /// metadata: {name: reviews, namespace: shop}
    /// spec:
    ///   hosts: [reviews]
    ///   http:
    ///   - route:
    ///     - destination: {host: reviews, subset: v2}
    ///       weight: 10
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: VirtualService
    /// metadata: {name: reviews, namespace: shop}
    /// spec:
    ///   hosts: [reviews]
    ///   http:
    ///   - route:
    ///     - destination: {host: reviews, subset: v2}
    ///       weight: 10
    ///     - destination: {host: reviews, subset: v1}
    ///       weight: 90
    /// ```
    pub static SINGLE_WEIGHT = Rule {
        code: "KIA1104",
        name: "single-destination-weight",
        severity: Warning,
        summary: "a VirtualService route has a single destination with a weight below 100, which is taken as 100",
        mirrors: Some("virtualservices.RouteChecker"),
        each: check_single_weight on &[Kind::VirtualService],
    };
}

declare_rule! {
    /// ## What it checks
    /// Every `http`, `tcp` and `tls` route of a VirtualService that lists the same destination
    /// (host, subset and port; short and partial hosts read in the VirtualService's namespace)
    /// more than once. Kiali compares host and subset only; entries for different ports are
    /// different destinations. A route with an entry that has no `destination` is skipped. Kiali: KIA1105
    /// (`virtualservices.route.repeatedsubset`).
    ///
    /// ## Why it matters
    /// Two entries for one destination split nothing: their weights add up on the same
    /// endpoints. It is usually a copy-paste slip where the second entry meant another subset,
    /// and the traffic split the route was written for does not happen.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: VirtualService
    /// metadata: {name: reviews, namespace: shop}
    /// spec:
    ///   hosts: [reviews]
    ///   http:
    ///   - route:
    ///     - destination: {host: reviews, subset: v1}
    ///       weight: 80
    ///     - destination: {host: reviews.shop.svc.cluster.local, subset: v1}
    ///       weight: 20
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: VirtualService
    /// metadata: {name: reviews, namespace: shop}
    /// spec:
    ///   hosts: [reviews]
    ///   http:
    ///   - route:
    ///     - destination: {host: reviews, subset: v1}
    ///       weight: 80
    ///     - destination: {host: reviews, subset: v2}
    ///       weight: 20
    /// ```
    pub static REPEATED_DESTINATION = Rule {
        code: "KIA1105",
        name: "repeated-route-destination",
        severity: Warning,
        summary: "a VirtualService route lists the same host and subset more than once",
        mirrors: Some("virtualservices.RouteChecker"),
        each: check_repeated on &[Kind::VirtualService],
    };
}

fn check_single_weight(_: &Workspace, vs: &Resource, out: &mut Findings) {
    for route in route_rules(vs) {
        let [only] = route.as_slice() else { continue };
        let Some(node) = only.item.get("weight") else {
            continue;
        };
        let Some(weight) = node.as_i64() else {
            continue;
        };
        if (1..100).contains(&weight) {
            out.report(
                vs,
                node,
                format!(
                    "weight {weight} on the only destination of this route: it receives all of the route's traffic, as if its weight were 100"
                ),
            )
            .help("remove the weight, or add the destinations that take the rest of the traffic");
        }
    }
}

fn check_repeated(ws: &Workspace, vs: &Resource, out: &mut Findings) {
    let domain = ws.cluster_domain();
    for route in route_rules(vs) {
        if route.iter().any(|d| d.destination.is_none()) {
            continue;
        }
        let mut seen: FastMap<(String, &str, Option<i64>), &Node> = FastMap::default();
        for d in &route {
            let host = canonical_host(d.host(), &vs.ns, domain, |ns| ws.namespaces().contains(ns));
            let subset = d.subset();
            let port = d.port().and_then(|p| p.get("number")).and_then(port_number);
            let key = (host, subset, port);
            if let Some(first) = seen.get(&key) {
                let target = if subset.is_empty() {
                    format!("host {:?}", d.host())
                } else {
                    format!("host {:?} subset {subset:?}", d.host())
                };
                out.report(
                    vs,
                    d.anchor(),
                    format!(
                        "this route already sends to {target} (line {}); the two entries' weights go to the same endpoints",
                        first.span.start.line
                    ),
                )
                .help("merge the two entries into one, or point this one at the subset it was meant for");
            } else {
                seen.insert(key, d.anchor());
            }
        }
    }
}
