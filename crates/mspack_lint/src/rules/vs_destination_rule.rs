//! The rule mirroring Istio's `virtualservice.DestinationRuleAnalyzer`: a destination's `subset`
//! must be declared by a DestinationRule for that host.

use mspack_yaml::Node;

use crate::declare_rule;
use crate::fast_map::FastSet;
use crate::finding::Findings;
use crate::hosts::split_fqdn;
use crate::refs::{mirror_destinations, route_destinations};
use crate::resource::Kind;
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// Every route and mirror destination of a VirtualService that names a `subset`: some
    /// DestinationRule for the same service must declare a subset of that name. A short host is
    /// read in the namespace of the resource that writes it and an FQDN
    /// (`name.namespace.svc.cluster.local`) names its own namespace; other hosts are compared as
    /// written within the namespace. DestinationRule `exportTo` is not taken into account.
    /// Kiali: KIA1107 (`virtualservices.subsetpresent.subsetnotfound`).
    ///
    /// ## Why it matters
    /// A route to an undeclared subset has no endpoints: Envoy answers every request it matches
    /// with a 503 (`NR`). Renaming a subset in a DestinationRule without updating the routes,
    /// or forgetting the DestinationRule altogether, is a common way to break a canary rollout.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: DestinationRule
    /// metadata: {name: payments, namespace: payments}
    /// spec:
    ///   host: payments
    ///   subsets:
    ///   - {name: v1, labels: {version: v1}}
    /// ---
    /// apiVersion: networking.istio.io/v1
    /// kind: VirtualService
    /// metadata: {name: payments, namespace: payments}
    /// spec:
    ///   hosts: [payments]
    ///   http:
    ///   - route:
    ///     - destination: {host: payments, subset: v2}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: DestinationRule
    /// metadata: {name: payments, namespace: payments}
    /// spec:
    ///   host: payments
    ///   subsets:
    ///   - {name: v1, labels: {version: v1}}
    ///   - {name: v2, labels: {version: v2}}
    /// ---
    /// apiVersion: networking.istio.io/v1
    /// kind: VirtualService
    /// metadata: {name: payments, namespace: payments}
    /// spec:
    ///   hosts: [payments]
    ///   http:
    ///   - route:
    ///     - destination: {host: payments, subset: v2}
    /// ```
    pub static SUBSET_NOT_FOUND = Rule {
        code: "IST0101",
        name: "ReferencedResourceNotFound",
        severity: Error,
        summary: "a VirtualService routes or mirrors to a subset no DestinationRule declares",
        mirrors: Some("virtualservice.DestinationRuleAnalyzer"),
        context: &[Kind::DestinationRule],
        check: check,
    };
}

/// Istio's `GetResourceNameFromHost`: (namespace, name) of a host written in namespace `ns`.
fn resource_name<'a>(ns: &'a str, host: &'a str, domain: &str) -> (&'a str, &'a str) {
    match split_fqdn(host, domain) {
        Some((name, host_ns)) => (host_ns, name),
        None => (ns, host),
    }
}

fn check(ws: &Workspace, out: &mut Findings) {
    let domain = ws.cluster_domain();
    let mut declared: FastSet<(&str, &str, &str)> = FastSet::default();
    for dr in ws.of_kind(Kind::DestinationRule) {
        let host = dr.spec_at(&["host"]).and_then(Node::as_str).unwrap_or("");
        let (ns, name) = resource_name(&dr.ns, host, domain);
        for subset in dr.spec_at(&["subsets"]).into_iter().flat_map(Node::items) {
            let subset_name = subset.get("name").and_then(Node::as_str).unwrap_or("");
            declared.insert((ns, name, subset_name));
        }
    }
    for vs in ws.of_kind(Kind::VirtualService) {
        let dests = route_destinations(vs)
            .into_iter()
            .chain(mirror_destinations(vs));
        for d in dests {
            let subset = d.subset();
            if subset.is_empty() {
                continue;
            }
            let host = d.host();
            let (ns, name) = resource_name(&vs.ns, host, domain);
            if declared.contains(&(ns, name, subset)) {
                continue;
            }
            let what = if d.kind.is_mirror() {
                "mirror+subset"
            } else {
                "host+subset"
            };
            let anchor = d
                .destination
                .and_then(|dest| dest.get("subset"))
                .unwrap_or(d.anchor());
            out.report(
                vs,
                anchor,
                format!("referenced {what} in destinationrule not found: \"{host}+{subset}\""),
            )
            .help(format!(
                "declare subset `{subset}` in a DestinationRule for `{host}` (namespace `{ns}`), or route to a declared subset"
            ));
        }
    }
}
