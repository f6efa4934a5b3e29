//! Kiali's DestinationRule checks that files decide: several DestinationRules of one namespace
//! for the same host and subset (`destinationrules.MultiMatchChecker`), and subsets without
//! labels (`destinationrules.NoDestinationChecker`).

use mspack_yaml::Node;

use crate::declare_rule;
use crate::fast_map::FastMap;
use crate::finding::{Findings, Severity};
use crate::hosts::{canonical_host, host_matches, split_fqdn};
use crate::resource::{Kind, Resource};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// Pairs of DestinationRules in the same namespace for the same host (equal after short and
    /// partial names are expanded in the namespace) that claim the same subset: both declare a subset of one name, or one of them declares no
    /// subset at all (its policy is for every subset). The mesh-wide (`*.local`) and
    /// namespace-wide (`*.<namespace>.svc.cluster.local`) DestinationRules that turn on
    /// `ISTIO_MUTUAL` are meant to sit under specific ones and are left out. Kiali: KIA0201
    /// (`destinationrules.multimatch`). Kiali also pairs DestinationRules across namespaces and
    /// a wildcard host with the hosts it covers; Istio does not merge those (it picks one by
    /// namespace, and the most specific host), so those pairs are not reported. As in Kiali, a
    /// DestinationRule exported to its own namespace only, whose default Sidecar does not
    /// import the host, affects no proxy and is left out.
    ///
    /// ## Why it matters
    /// Istio merges the DestinationRules of one namespace for a host: only the first one's
    /// top-level traffic policy is used and a subset declared twice keeps its first
    /// definition. The other rule's load balancing, connection pool or TLS settings are silently
    /// dropped, and which one wins depends on creation order.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: DestinationRule
    /// metadata: {name: reviews, namespace: shop}
    /// spec:
    ///   host: reviews
    ///   trafficPolicy:
    ///     loadBalancer: {simple: LEAST_REQUEST}
    ///   subsets:
    ///   - {name: v1, labels: {version: v1}}
    /// ---
    /// apiVersion: networking.istio.io/v1
    /// kind: DestinationRule
    /// metadata: {name: reviews-pool, namespace: shop}
    /// spec:
    ///   host: reviews.shop.svc.cluster.local
    ///   trafficPolicy:
    ///     connectionPool:
    ///       tcp: {maxConnections: 100}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: DestinationRule
    /// metadata: {name: reviews, namespace: shop}
    /// spec:
    ///   host: reviews
    ///   trafficPolicy:
    ///     loadBalancer: {simple: LEAST_REQUEST}
    ///     connectionPool:
    ///       tcp: {maxConnections: 100}
    ///   subsets:
    ///   - {name: v1, labels: {version: v1}}
    /// ```
    pub static MULTIPLE_DESTINATION_RULES = Rule {
        code: "KIA0201",
        name: "multiple-destination-rules-for-host",
        severity: Warning,
        summary: "several DestinationRules of one namespace claim the same host and subset",
        mirrors: Some("destinationrules.MultiMatchChecker"),
        check: check_multi_match,
    };
}

declare_rule! {
    /// ## What it checks
    /// Every subset of a DestinationRule without `labels` (or with empty ones). When another
    /// subset of the same rule has labels, the finding is information only, as in Kiali.
    /// Kiali: KIA0209 (`destinationrules.nodest.subsetnolabels`). Off by default: Istio's own
    /// egress-gateway and TLS-origination examples use label-less subsets on purpose, to give
    /// one port or one route its own traffic policy.
    ///
    /// ## Why it matters
    /// A subset selects its endpoints by labels; one without labels is every endpoint of the
    /// host. A route to it splits nothing, which is rarely what a subset is declared for: a
    /// canary sent to "v2" with no labels goes to v1 and v2 alike.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: DestinationRule
    /// metadata: {name: reviews, namespace: shop}
    /// spec:
    ///   host: reviews
    ///   subsets:
    ///   - name: v2
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: DestinationRule
    /// metadata: {name: reviews, namespace: shop}
    /// spec:
    ///   host: reviews
    ///   subsets:
    ///   - name: v2
    ///     labels: {version: v2}
    /// ```
    pub static SUBSET_WITHOUT_LABELS = Rule {
        code: "KIA0209",
        name: "subset-without-labels",
        severity: Warning,
        summary: "a DestinationRule subset has no labels and selects every endpoint of its host",
        mirrors: Some("destinationrules.NoDestinationChecker"),
        enabled_by_default: false,
        each: check_subset_labels on &[Kind::DestinationRule],
    };
}

/// A mesh-wide or namespace-wide DestinationRule turning on Istio mTLS.
fn is_non_local_mtls(ws: &Workspace, dr: &Resource, host: &str) -> bool {
    let wide = host == "*.local" || host == format!("*.{}.svc.{}", dr.ns, ws.cluster_domain());
    wide && dr
        .spec_at(&["trafficPolicy", "tls", "mode"])
        .and_then(Node::as_str)
        .is_some_and(|m| m.eq_ignore_ascii_case("ISTIO_MUTUAL"))
}

/// Whether the proxies of `ns` import cluster host `fqdn` (Kiali's import scope): true unless
/// the namespace has a Sidecar without a workload selector whose egress hosts leave it out.
/// Hosts that are not cluster FQDNs are taken as imported. `defaults` maps a namespace to its
/// Sidecar without selector (found once per run, not once per DestinationRule).
fn imported(ws: &Workspace, defaults: &FastMap<&str, &Resource>, ns: &str, fqdn: &str) -> bool {
    let Some((_, host_ns)) = split_fqdn(fqdn, ws.cluster_domain()) else {
        return true;
    };
    let Some(sidecar) = defaults.get(ns) else {
        return true;
    };
    let hosts: Vec<&str> = sidecar
        .spec_at(&["egress"])
        .into_iter()
        .flat_map(Node::items)
        .flat_map(|e| e.get("hosts").into_iter().flat_map(Node::items))
        .filter_map(Node::as_str)
        .collect();
    if hosts.is_empty() {
        return true;
    }
    hosts.iter().any(|h| {
        let Some((from, dns)) = h.split_once('/') else {
            return false;
        };
        let ns_ok = from == "*" || (from == "." && host_ns == ns) || from == host_ns;
        ns_ok && host_matches(dns, fqdn)
    })
}

/// Each namespace's first Sidecar without a workload selector.
fn default_sidecars(ws: &Workspace) -> FastMap<&str, &Resource> {
    let mut defaults = FastMap::default();
    for sidecar in ws.of_kind(Kind::Sidecar) {
        if sidecar
            .spec_at(&["workloadSelector"])
            .is_none_or(Node::is_null)
        {
            defaults.entry(sidecar.ns.as_str()).or_insert(sidecar);
        }
    }
    defaults
}

/// Whether a DestinationRule sets a top-level traffic policy.
fn has_policy(dr: &Resource) -> bool {
    dr.spec_at(&["trafficPolicy"])
        .is_some_and(|p| p.entries().next().is_some())
}

/// Subset names a DestinationRule declares; `None` when it declares none (all subsets).
fn subset_names(dr: &Resource) -> Option<Vec<&str>> {
    let names: Vec<&str> = dr
        .spec_at(&["subsets"])
        .into_iter()
        .flat_map(Node::items)
        .filter_map(|s| s.get("name").and_then(Node::as_str))
        .collect();
    (!names.is_empty()).then_some(names)
}

fn check_multi_match(ws: &Workspace, out: &mut Findings) {
    let domain = ws.cluster_domain();
    let sidecars = default_sidecars(ws);
    // The DestinationRules seen so far, by namespace and host (case-insensitive), so each one is
    // compared with those of its own host only.
    type Seen<'a> = Vec<(&'a Resource, Option<Vec<&'a str>>)>;
    let mut seen: FastMap<(&str, String), Seen<'_>> = FastMap::default();
    for dr in ws.of_kind(Kind::DestinationRule) {
        let Some(node) = dr.spec_at(&["host"]) else {
            continue;
        };
        let Some(written) = node.as_str() else {
            continue;
        };
        if written.is_empty() || is_non_local_mtls(ws, dr, written) {
            continue;
        }
        let host = canonical_host(written, &dr.ns, domain, |ns| ws.namespaces().contains(ns));
        // Visible to its own namespace only, whose proxies do not import the host: no effect.
        let own_only = dr
            .export_to()
            .is_some_and(|e| e.iter().all(|x| *x == "." || *x == dr.ns.as_str()));
        if own_only && !imported(ws, &sidecars, &dr.ns, &host) {
            continue;
        }
        let subsets = subset_names(dr);
        let same_host = seen
            .entry((dr.ns.as_str(), host.to_ascii_lowercase()))
            .or_default();
        let clash = same_host.iter().find_map(|(other, other_subsets)| {
            let same_subset = match (&subsets, other_subsets) {
                (Some(mine), Some(theirs)) => mine.iter().find(|s| theirs.contains(s)),
                _ => None,
            };
            match same_subset {
                Some(s) => Some((*other, format!("declares subset {s:?}"))),
                None if has_policy(dr) && has_policy(other) => {
                    Some((*other, "sets a top-level trafficPolicy".to_string()))
                }
                None => None,
            }
        });
        if let Some((other, what)) = clash {
            out.report(
                dr,
                node,
                format!(
                    "{} {what} for host {written:?} as well; Istio merges the two DestinationRules and keeps the first one's definition",
                    other.display_name()
                ),
            )
            .help(format!(
                "merge this DestinationRule into {}, or give each a distinct host",
                other.display_name()
            ));
        }
        same_host.push((dr, subsets));
    }
}

fn check_subset_labels(_: &Workspace, dr: &Resource, out: &mut Findings) {
    let subsets: Vec<&Node> = dr
        .spec_at(&["subsets"])
        .into_iter()
        .flat_map(Node::items)
        .collect();
    let has_labels = |s: &Node| {
        s.get("labels")
            .is_some_and(|l| l.entries().next().is_some())
    };
    let any_labelled = subsets.iter().any(|s| has_labels(s));
    for subset in subsets.iter().filter(|s| !has_labels(s)) {
        let name = subset.get("name").and_then(Node::as_str).unwrap_or("");
        let anchor = subset.get("name").unwrap_or(subset);
        let finding = out.report(
            dr,
            anchor,
            format!("subset {name:?} has no labels: it selects every endpoint of the host, not one version"),
        );
        finding.help(
            "give the subset the labels of the pods it stands for (e.g. `labels: {version: v2}`)",
        );
        if any_labelled {
            finding.severity(Severity::Info);
        }
    }
}
