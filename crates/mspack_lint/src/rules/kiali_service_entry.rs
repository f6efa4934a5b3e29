//! Kiali's `serviceentries.MultiMatchChecker`, its same-protocol half: several ServiceEntries
//! visible in one namespace declaring the same host and port (the protocol-conflict half is
//! IST0177).

use std::collections::BTreeSet;

use mspack_yaml::Node;

use crate::declare_rule;
use crate::finding::Findings;
use crate::resource::{Kind, Resource};
use crate::rules::se_conflicting_protocol::scopes;
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// ServiceEntries that declare the same host (compared ignoring case) and port number with
    /// the same protocol, and share a visibility scope: the same `exportTo` namespace (`.`
    /// meaning their own), or one of them exported to every namespace (`*`, or no `exportTo`).
    /// The later ServiceEntry is reported at its port, naming the earlier. Different protocols
    /// are IST0177's. Kiali: KIA1211 (`serviceentries.multimatch`).
    ///
    /// ## Why it matters
    /// Istio merges the two into one service: endpoints, resolution and addresses of both are
    /// mixed, and which one's settings win depends on creation order. Usually one of them is a
    /// leftover copy, and editing it changes nothing, or changes things unexpectedly.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: ServiceEntry
    /// metadata: {name: stripe, namespace: shop}
    /// spec:
    ///   hosts: [api.stripe.com]
    ///   ports:
    ///   - {number: 443, name: https, protocol: TLS}
    ///   resolution: DNS
    /// ---
    /// apiVersion: networking.istio.io/v1
    /// kind: ServiceEntry
    /// metadata: {name: payments-egress, namespace: shop}
    /// spec:
    ///   hosts: [api.stripe.com, api.paypal.com]
    ///   ports:
    ///   - {number: 443, name: tls, protocol: TLS}
    ///   resolution: DNS
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: ServiceEntry
    /// metadata: {name: stripe, namespace: shop}
    /// spec:
    ///   hosts: [api.stripe.com]
    ///   ports:
    ///   - {number: 443, name: https, protocol: TLS}
    ///   resolution: DNS
    /// ---
    /// apiVersion: networking.istio.io/v1
    /// kind: ServiceEntry
    /// metadata: {name: payments-egress, namespace: shop}
    /// spec:
    ///   hosts: [api.paypal.com]
    ///   ports:
    ///   - {number: 443, name: tls, protocol: TLS}
    ///   resolution: DNS
    /// ```
    pub static DUPLICATE_SERVICE_ENTRY = Rule {
        code: "KIA1211",
        name: "duplicate-service-entry-host-port",
        severity: Warning,
        summary: "several ServiceEntries visible in one namespace declare the same host and port",
        mirrors: Some("serviceentries.MultiMatchChecker"),
        check: check,
    };
}

/// One port of a ServiceEntry with what decides a clash.
struct PortEntry<'a> {
    se: &'a Resource,
    port: &'a Node,
    number: i64,
    protocol: String,
    hosts: Vec<String>,
    scopes: BTreeSet<&'a str>,
}

fn check(ws: &Workspace, out: &mut Findings) {
    let mut entries: Vec<PortEntry<'_>> = Vec::new();
    for se in ws.of_kind(Kind::ServiceEntry) {
        let hosts: Vec<String> = se
            .spec_at(&["hosts"])
            .into_iter()
            .flat_map(Node::items)
            .filter_map(Node::as_str)
            .map(str::to_ascii_lowercase)
            .collect();
        for port in se.spec_at(&["ports"]).into_iter().flat_map(Node::items) {
            let Some(number) = port.get("number").and_then(Node::as_i64) else {
                continue;
            };
            let protocol = port.get("protocol").and_then(Node::as_str).unwrap_or("");
            entries.push(PortEntry {
                se,
                port,
                number,
                protocol: protocol.to_ascii_uppercase(),
                hosts: hosts.clone(),
                scopes: scopes(se),
            });
        }
    }
    for (i, e) in entries.iter().enumerate() {
        let clash = entries[..i].iter().find_map(|other| {
            let shares_scope = e.scopes.contains("*")
                || other.scopes.contains("*")
                || e.scopes.intersection(&other.scopes).next().is_some();
            if other.se.id == e.se.id
                || other.number != e.number
                || other.protocol != e.protocol
                || !shares_scope
            {
                return None;
            }
            e.hosts
                .iter()
                .find(|h| other.hosts.contains(h))
                .map(|h| (other.se, h))
        });
        if let Some((other, host)) = clash {
            out.report(
                e.se,
                e.port,
                format!(
                    "{} already declares host {host:?} port {}; Istio merges the two ServiceEntries into one service",
                    other.display_name(),
                    e.number
                ),
            )
            .help(format!(
                "keep host {host:?} in one ServiceEntry (merge their ports and endpoints), or delete the leftover copy"
            ));
        }
    }
}
