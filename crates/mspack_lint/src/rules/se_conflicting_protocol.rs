//! Mirrors Istio's `serviceentry.ConflictingServiceEntryProtocolAnalyzer`: ServiceEntries that
//! give one host and port different protocols where they are visible together.

use std::collections::{BTreeSet, HashMap, HashSet};

use mspack_yaml::Node;

use crate::declare_rule;
use crate::finding::Findings;
use crate::resource::{Kind, Resource};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// ServiceEntries that declare the same host (as written) and port number with different
    /// protocols (compared ignoring case; an empty protocol is a protocol of its own) and share
    /// a visibility scope: the same `exportTo` namespace (`.` meaning their own), or one of them
    /// exported to every namespace (`*`, or no `exportTo`). Each ServiceEntry is reported once.
    /// Kiali: KIA1212 (`serviceentries.port.protocol.conflict`).
    ///
    /// ## Why it matters
    /// A proxy builds one listener and one cluster per host and port; it cannot speak HTTP and
    /// HTTPS (or TCP) there at once. Istio keeps one of the definitions, chosen by creation
    /// time, so traffic to the host may be handled with the wrong protocol and fail.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: ServiceEntry
    /// metadata: {name: maps-api, namespace: delivery}
    /// spec:
    ///   hosts: [maps.example.com]
    ///   location: MESH_EXTERNAL
    ///   resolution: DNS
    ///   ports: [{name: https, number: 8443, protocol: HTTPS}]
    /// ---
    /// apiVersion: networking.istio.io/v1
    /// kind: ServiceEntry
    /// metadata: {name: maps-legacy, namespace: delivery}
    /// spec:
    ///   hosts: [maps.example.com]
    ///   location: MESH_EXTERNAL
    ///   resolution: DNS
    ///   ports: [{name: http, number: 8443, protocol: HTTP}]
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: ServiceEntry
    /// metadata: {name: maps-api, namespace: delivery}
    /// spec:
    ///   hosts: [maps.example.com]
    ///   location: MESH_EXTERNAL
    ///   resolution: DNS
    ///   ports: [{name: https, number: 8443, protocol: HTTPS}]
    /// ```
    pub static CONFLICTING_SERVICE_ENTRY_PROTOCOL = Rule {
        code: "IST0177",
        name: "ConflictingServiceEntryProtocol",
        severity: Warning,
        summary: "several ServiceEntries give one host and port conflicting protocols",
        mirrors: Some("serviceentry.ConflictingServiceEntryProtocolAnalyzer"),
        check: check,
    };
}

/// (visibility scope, host, port number).
type Key<'a> = (&'a str, &'a str, i64);

struct Entry<'a> {
    protocol: String,
    se: &'a Resource,
}

fn check(ws: &Workspace, out: &mut Findings) {
    let mut index: HashMap<Key<'_>, Vec<Entry<'_>>> = HashMap::new();
    let mut order: Vec<Key<'_>> = Vec::new();
    for se in ws.of_kind(Kind::ServiceEntry) {
        let hosts: Vec<&str> = se
            .spec_at(&["hosts"])
            .into_iter()
            .flat_map(Node::items)
            .filter_map(Node::as_str)
            .collect();
        let ports: Vec<(i64, String)> = se
            .spec_at(&["ports"])
            .into_iter()
            .flat_map(Node::items)
            .map(|p| {
                let number = p.get("number").and_then(Node::as_i64).unwrap_or(0);
                let protocol = p.get("protocol").and_then(Node::as_str).unwrap_or("");
                (number, protocol.to_ascii_uppercase())
            })
            .collect();
        for scope in scopes(se) {
            for &host in &hosts {
                for (number, protocol) in &ports {
                    let key = (scope, host, *number);
                    let list = index.entry(key).or_default();
                    if list.is_empty() {
                        order.push(key);
                    }
                    list.push(Entry {
                        protocol: protocol.clone(),
                        se,
                    });
                }
            }
        }
    }

    let mut reported: HashSet<usize> = HashSet::new();
    for key in order {
        let (scope, host, port) = key;
        let mut entries: Vec<&Entry> = index.get(&key).into_iter().flatten().collect();
        if scope != "*" {
            entries.extend(index.get(&("*", host, port)).into_iter().flatten());
        }
        let protocols: BTreeSet<&str> = entries.iter().map(|e| e.protocol.as_str()).collect();
        if protocols.len() < 2 {
            continue;
        }
        let names: BTreeSet<String> = entries.iter().map(|e| e.se.full_name()).collect();
        let names = crate::finding::listed(&names.into_iter().collect::<Vec<_>>());
        let protocols = protocols
            .iter()
            .map(|p| if p.is_empty() { "(none)" } else { p })
            .collect::<Vec<_>>()
            .join(", ");
        for entry in entries {
            if !reported.insert(entry.se.id) {
                continue;
            }
            out.report(
                entry.se,
                entry.se.anchor(),
                format!(
                    "ServiceEntries {names} define host {host:?} port {port} with conflicting \
                     protocols {protocols}"
                ),
            )
            .help(
                "use one protocol for a host and port across ServiceEntries, or scope them \
                 apart with `exportTo`",
            );
        }
    }
}

/// Istio's visibility scopes of a ServiceEntry: `*` when exported everywhere, else its
/// `exportTo` entries with `.` read as its own namespace.
pub(crate) fn scopes(se: &Resource) -> BTreeSet<&str> {
    let export_to = se.export_to().unwrap_or_default();
    if export_to.is_empty() || export_to.contains(&"*") {
        return BTreeSet::from(["*"]);
    }
    export_to
        .into_iter()
        .map(|e| if e == "." { se.ns.as_str() } else { e })
        .collect()
}
