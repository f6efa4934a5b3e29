//! Mirrors Istio's `serviceentry.ProtocolAddressesAnalyzer`: TCP (or protocol-less) ports of a
//! ServiceEntry without addresses.

use std::collections::HashSet;

use mspack_yaml::Node;

use crate::declare_rule;
use crate::finding::{Findings, scalar_line};
use crate::resource::Kind;
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// A ServiceEntry without `addresses` that has a port whose `protocol` is empty or `TCP`
    /// (any case). Not reported when the ServiceEntry's `status.addresses` shows addresses
    /// istiod allocated, or when the MeshConfig's `defaultConfig.proxyMetadata` turns on DNS
    /// capture (`ISTIO_META_DNS_CAPTURE: "true"`) together with address auto-allocation
    /// (`ISTIO_META_DNS_AUTO_ALLOCATE` or `PILOT_ENABLE_IP_AUTOALLOCATE` set to `"true"`).
    ///
    /// ## Why it matters
    /// Plain TCP carries no host name, so the sidecar can tell TCP services apart only by
    /// destination IP and port. Without an address the entry is matched on port alone: it
    /// captures every TCP connection to that port, or clashes with other entries using it.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: ServiceEntry
    /// metadata: {name: payments-db, namespace: payments}
    /// spec:
    ///   hosts: [db.payments.example.com]
    ///   location: MESH_EXTERNAL
    ///   resolution: DNS
    ///   ports:
    ///   - {name: postgres, number: 5432, protocol: TCP}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: ServiceEntry
    /// metadata: {name: payments-db, namespace: payments}
    /// spec:
    ///   hosts: [db.payments.example.com]
    ///   addresses: [10.40.0.12]
    ///   location: MESH_EXTERNAL
    ///   resolution: DNS
    ///   ports:
    ///   - {name: postgres, number: 5432, protocol: TCP}
    /// ```
    pub static SERVICE_ENTRY_ADDRESSES_REQUIRED = Rule {
        code: "IST0134",
        name: "ServiceEntryAddressesRequired",
        severity: Warning,
        summary: "a ServiceEntry with a TCP or protocol-less port has no addresses",
        mirrors: Some("serviceentry.ProtocolAddressesAnalyzer"),
        check: check,
    };
}

fn check(ws: &Workspace, out: &mut Findings) {
    if addresses_auto_allocated(ws) {
        return;
    }
    for se in ws.of_kind(Kind::ServiceEntry) {
        let has = |node: Option<&Node>| node.is_some_and(|n| n.items().next().is_some());
        if has(se.spec_at(&["addresses"])) || has(se.root.path(&["status", "addresses"])) {
            continue;
        }
        // Istio folds the messages of ports whose `name` lines it cannot tell apart.
        let mut lines = HashSet::new();
        for port in se.spec_at(&["ports"]).into_iter().flat_map(Node::items) {
            let protocol = port.get("protocol").and_then(Node::as_str).unwrap_or("");
            if !(protocol.is_empty() || protocol.eq_ignore_ascii_case("TCP")) {
                continue;
            }
            if !lines.insert(scalar_line(port.get("name"))) {
                continue;
            }
            let what = if protocol.is_empty() {
                "has no protocol (so it is TCP)".to_string()
            } else {
                format!("uses protocol {protocol}")
            };
            let port_name = port
                .get("name")
                .and_then(Node::as_str)
                .map(|n| format!(" {n:?}"))
                .unwrap_or_default();
            out.report(
                se,
                port,
                format!("port{port_name} {what} but the ServiceEntry has no addresses"),
            )
            .help(
                "add the service's IPs or CIDRs under `addresses`, set an application protocol \
                 (HTTP, HTTPS, TLS, ...) on the port, or enable DNS capture with address \
                 auto-allocation in the mesh",
            );
        }
    }
}

/// Istio's test on the MeshConfig: DNS capture on, plus one of the auto-allocation switches.
fn addresses_auto_allocated(ws: &Workspace) -> bool {
    let Some(meta) = ws
        .mesh
        .get("defaultConfig")
        .and_then(|d| d.get("proxyMetadata"))
    else {
        return false;
    };
    let on = |key: &str| {
        meta.get(key)
            .and_then(|v| v.scalar())
            .is_some_and(|s| s.text == "true")
    };
    on("ISTIO_META_DNS_CAPTURE")
        && (on("ISTIO_META_DNS_AUTO_ALLOCATE") || on("PILOT_ENABLE_IP_AUTOALLOCATE"))
}
