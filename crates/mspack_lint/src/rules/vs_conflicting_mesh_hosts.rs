//! The rule mirroring Istio's `virtualservice.ConflictingMeshGatewayHostsAnalyzer`: two
//! VirtualServices bound to the mesh gateway must not define the same host for the same
//! namespaces.

use std::collections::{BTreeMap, BTreeSet};

use mspack_yaml::Node;

use crate::declare_rule;
use crate::fast_map::{FastMap, FastSet};
use crate::finding::Findings;
use crate::hosts::to_fqdn;
use crate::refs::vs_hosts;
use crate::resource::Kind;
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// VirtualServices that apply to sidecars (no `gateways`, or `mesh` among them) and define
    /// the same host, short names expanded in each VirtualService's namespace. Each
    /// VirtualService's hosts count in the namespaces its `exportTo` names (every namespace when
    /// it has none or lists `*`). Two VirtualServices exported to every namespace conflict on the
    /// same host; a VirtualService exported to some namespaces conflicts with one exported to
    /// the same namespace, and with any exported everywhere whose host overlaps its own
    /// (wildcards included). Listing the same host twice in one VirtualService counts too.
    /// Kiali: KIA1106 (`virtualservices.singlehost`) for VirtualServices bound to the mesh.
    ///
    /// ## Why it matters
    /// Sidecars take one VirtualService per host; when several define it Istio picks one by an
    /// order nobody chose (or merges them unpredictably), so part of the routing silently does
    /// not apply and may flip on the next change.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: VirtualService
    /// metadata: {name: orders, namespace: food}
    /// spec:
    ///   hosts: [orders]
    ///   http:
    ///   - route:
    ///     - destination: {host: orders}
    /// ---
    /// apiVersion: networking.istio.io/v1
    /// kind: VirtualService
    /// metadata: {name: orders-retries, namespace: food}
    /// spec:
    ///   hosts: [orders.food.svc.cluster.local]
    ///   http:
    ///   - route:
    ///     - destination: {host: orders}
    ///     retries: {attempts: 3}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: VirtualService
    /// metadata: {name: orders, namespace: food}
    /// spec:
    ///   hosts: [orders]
    ///   http:
    ///   - route:
    ///     - destination: {host: orders}
    ///     retries: {attempts: 3}
    /// ```
    pub static CONFLICTING_MESH_HOSTS = Rule {
        code: "IST0109",
        name: "ConflictingMeshGatewayVirtualServiceHosts",
        severity: Error,
        summary: "several VirtualServices bound to the mesh gateway define the same host",
        mirrors: Some("virtualservice.ConflictingMeshGatewayHostsAnalyzer"),
        check: check,
    };
}

/// `(scope, fqdn)`: scope `*` for hosts exported to every namespace.
type ScopedHost = (String, String);

fn check(ws: &Workspace, out: &mut Findings) {
    let domain = ws.cluster_domain();
    // Hashed while collecting, sorted once for a deterministic report (a BTreeMap paid a
    // string comparison per tree level on every insert).
    let mut entries: FastMap<ScopedHost, Vec<usize>> = FastMap::default();
    for vs in ws.of_kind(Kind::VirtualService) {
        let gateways: Vec<&str> = vs
            .spec_at(&["gateways"])
            .into_iter()
            .flat_map(Node::items)
            .map(|g| g.as_str().unwrap_or(""))
            .collect();
        if !gateways.is_empty() && !gateways.contains(&"mesh") {
            continue;
        }
        let export_to = vs.export_to().unwrap_or_default();
        let scopes: BTreeSet<&str> = if export_to.is_empty() || export_to.contains(&"*") {
            BTreeSet::from(["*"])
        } else {
            export_to
                .iter()
                .map(|e| if *e == "." { vs.ns.as_str() } else { e })
                .collect()
        };
        for scope in scopes {
            for host in vs_hosts(vs) {
                entries
                    .entry((
                        scope.to_string(),
                        to_fqdn(&vs.ns, host, domain).into_owned(),
                    ))
                    .or_default()
                    .push(vs.id);
            }
        }
    }
    let public = PublicIndex::new(entries.keys());
    let mut ordered: Vec<(&ScopedHost, &Vec<usize>)> = entries.iter().collect();
    ordered.sort_unstable_by(|a, b| a.0.cmp(b.0));
    // Istio reports each VirtualService (by namespace/name) once, for the first host found.
    let mut reported: FastSet<(&str, &str)> = FastSet::default();
    for ((scope, fqdn), own) in ordered {
        let mut list = own.clone();
        if scope != "*" {
            for key in public.overlapping(fqdn) {
                if let Some(ids) = entries.get(&("*".to_string(), key.to_string())) {
                    list.extend(ids);
                }
            }
        }
        if list.len() < 2 {
            continue;
        }
        let mut names: Vec<String> = list.iter().map(|&i| ws.resources[i].full_name()).collect();
        names.sort();
        let shown = crate::finding::listed(&names);
        let visibility = if scope == "*" {
            "every namespace".to_string()
        } else {
            format!("namespace {scope}")
        };
        for &id in &list {
            let vs = &ws.resources[id];
            if !reported.insert((vs.ns.as_str(), vs.name.as_str())) {
                continue;
            }
            out.report(
                vs,
                vs.anchor(),
                format!(
                    "VirtualServices {shown} bound to the mesh gateway all define host \"{fqdn}\" for {visibility}"
                ),
            )
            .help("merge the routes for this host into one VirtualService, or narrow their exportTo so they do not overlap");
        }
    }
}

/// Hosts exported to every namespace, indexed for Istio's host overlap test without comparing
/// every pair.
struct PublicIndex<'a> {
    exact: FastSet<&'a str>,
    /// Wildcard hosts by their suffix after `*`.
    wildcard_suffixes: FastMap<&'a str, Vec<&'a str>>,
    /// Every host, keyed by its reversed text, to find the hosts ending with a suffix.
    reversed: BTreeMap<String, Vec<&'a str>>,
}

impl<'a> PublicIndex<'a> {
    fn new(keys: impl Iterator<Item = &'a ScopedHost>) -> PublicIndex<'a> {
        let mut index = PublicIndex {
            exact: FastSet::default(),
            wildcard_suffixes: FastMap::default(),
            reversed: BTreeMap::new(),
        };
        for (scope, fqdn) in keys {
            if scope != "*" {
                continue;
            }
            let fqdn = fqdn.as_str();
            index.exact.insert(fqdn);
            if let Some(suffix) = fqdn.strip_prefix('*') {
                index
                    .wildcard_suffixes
                    .entry(suffix)
                    .or_default()
                    .push(fqdn);
            }
            index
                .reversed
                .entry(fqdn.chars().rev().collect())
                .or_default()
                .push(fqdn);
        }
        index
    }

    /// Public hosts that `host` overlaps (Istio's `host.Name.Matches`), each once.
    fn overlapping(&self, host: &str) -> BTreeSet<&'a str> {
        let mut found = BTreeSet::new();
        let body = host.strip_prefix('*');
        let tail = body.unwrap_or(host);
        // Public wildcards whose suffix ends `host` (or its wildcard body).
        for (i, _) in tail.char_indices().chain([(tail.len(), ' ')]) {
            if let Some(hosts) = self.wildcard_suffixes.get(&tail[i..]) {
                found.extend(hosts.iter().copied());
            }
        }
        match body {
            None => {
                if let Some(h) = self.exact.get(host) {
                    found.insert(*h);
                }
            }
            Some(suffix) => {
                // Public hosts (plain or wildcard) that end with the wildcard's suffix.
                let key: String = suffix.chars().rev().collect();
                for (k, hosts) in self.reversed.range(key.clone()..) {
                    if !k.starts_with(&key) {
                        break;
                    }
                    found.extend(hosts.iter().copied());
                }
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hosts::hosts_intersect;

    #[test]
    fn index_agrees_with_pairwise_matching() {
        let hosts = [
            "*",
            "*.com",
            "*.foo.com",
            "a.foo.com",
            "foo.com",
            "*.bar.com",
            "b.bar.com",
            "x",
        ];
        let entries: BTreeMap<ScopedHost, Vec<usize>> = hosts
            .iter()
            .map(|h| (("*".to_string(), h.to_string()), vec![0]))
            .collect();
        let index = PublicIndex::new(entries.keys());
        for probe in hosts.iter().chain(&["*.a.foo.com", "c.com", "*.x", "y"]) {
            let expected: BTreeSet<&str> = hosts
                .iter()
                .copied()
                .filter(|h| hosts_intersect(probe, h))
                .collect();
            assert_eq!(index.overlapping(probe), expected, "probe {probe}");
        }
    }
}
