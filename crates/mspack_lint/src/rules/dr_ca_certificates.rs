//! `destinationrule.CaCertificateAnalyzer`: TLS origination (`SIMPLE` or `MUTUAL`) that does not
//! verify the server's certificate.

use mspack_yaml::Node;

use crate::declare_rule;
use crate::finding::Findings;
use crate::resource::{Kind, Resource};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// A DestinationRule whose top-level `trafficPolicy.tls.mode` is `SIMPLE` or `MUTUAL` but
    /// that gives no `caCertificates`. A `credentialName` counts as providing the CA only when the
    /// DestinationRule also has a `workloadSelector` (the credential is then read by the selected
    /// workloads, typically a gateway). Subset traffic policies are not checked.
    ///
    /// ## Why it matters
    /// Without a CA bundle the server's identity rests on a default the DestinationRule does not
    /// show. Before Istio 1.21 (and wherever `VERIFY_CERTIFICATE_AT_CLIENT` is turned off) the
    /// sidecar encrypts but accepts any certificate the server presents, so a man in the middle
    /// or a misrouted connection goes unnoticed. From 1.21 the proxy checks the certificate
    /// against its operating system's CA bundle: a public server passes, but a server with a
    /// private CA fails the handshake. Naming the CA makes the check explicit either way.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: DestinationRule
    /// metadata: {name: payment-provider, namespace: payments}
    /// spec:
    ///   host: api.payprovider.example.com
    ///   trafficPolicy:
    ///     tls:
    ///       mode: SIMPLE
    ///       sni: api.payprovider.example.com
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: DestinationRule
    /// metadata: {name: payment-provider, namespace: payments}
    /// spec:
    ///   host: api.payprovider.example.com
    ///   trafficPolicy:
    ///     tls:
    ///       mode: SIMPLE
    ///       sni: api.payprovider.example.com
    ///       caCertificates: /etc/ssl/certs/ca-certificates.crt
    /// ```
    pub static NO_CA_DESTINATION_LEVEL = Rule {
        code: "IST0128",
        name: "NoServerCertificateVerificationDestinationLevel",
        severity: Warning,
        summary: "destination rule tls origination does not verify the server certificate",
        mirrors: Some("destinationrule.CaCertificateAnalyzer"),
        each: check_destination_level on &[Kind::DestinationRule],
    };
}

declare_rule! {
    /// ## What it checks
    /// Each `trafficPolicy.portLevelSettings[]` entry of a DestinationRule whose `tls.mode` is
    /// `SIMPLE` or `MUTUAL` but that gives no `caCertificates` (a `credentialName` counts only
    /// when the DestinationRule has a `workloadSelector`). Each port is checked on its own: a CA
    /// given at the top level does not cover a port-level TLS block.
    ///
    /// ## Why it matters
    /// Traffic to that port is encrypted without checking the server's identity, so any endpoint
    /// that answers with any certificate is trusted.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: DestinationRule
    /// metadata: {name: orders-db, namespace: orders}
    /// spec:
    ///   host: orders-db.orders.svc.cluster.local
    ///   trafficPolicy:
    ///     portLevelSettings:
    ///     - port: {number: 5432}
    ///       tls:
    ///         mode: MUTUAL
    ///         clientCertificate: /etc/certs/client.pem
    ///         privateKey: /etc/certs/client-key.pem
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: DestinationRule
    /// metadata: {name: orders-db, namespace: orders}
    /// spec:
    ///   host: orders-db.orders.svc.cluster.local
    ///   trafficPolicy:
    ///     portLevelSettings:
    ///     - port: {number: 5432}
    ///       tls:
    ///         mode: MUTUAL
    ///         clientCertificate: /etc/certs/client.pem
    ///         privateKey: /etc/certs/client-key.pem
    ///         caCertificates: /etc/certs/orders-db-ca.pem
    /// ```
    pub static NO_CA_PORT_LEVEL = Rule {
        code: "IST0129",
        name: "NoServerCertificateVerificationPortLevel",
        severity: Warning,
        summary: "destination rule port-level tls origination does not verify the server certificate",
        mirrors: Some("destinationrule.CaCertificateAnalyzer"),
        each: check_port_level on &[Kind::DestinationRule],
    };
}

/// The TLS mode when it originates TLS that should verify the server: `SIMPLE` or `MUTUAL`
/// (by name, or by enum number 1 or 2).
fn verifying_mode(tls: &Node) -> Option<&'static str> {
    let mode = tls.get("mode")?;
    match (mode.as_str()?, mode.as_i64()) {
        ("SIMPLE", _) | (_, Some(1)) => Some("SIMPLE"),
        ("MUTUAL", _) | (_, Some(2)) => Some("MUTUAL"),
        _ => None,
    }
}

/// `Some(mode)` when a `tls` block originates TLS without a way to verify the server.
fn unverified(dr: &Resource, tls: &Node) -> Option<&'static str> {
    let mode = verifying_mode(tls)?;
    let nonempty = |key: &str| {
        tls.get(key)
            .and_then(Node::as_str)
            .is_some_and(|s| !s.is_empty())
    };
    let selected = dr
        .spec_at(&["workloadSelector"])
        .is_some_and(|n| !n.is_null());
    if nonempty("caCertificates") || (nonempty("credentialName") && selected) {
        return None;
    }
    Some(mode)
}

fn host(dr: &Resource) -> &str {
    dr.spec_at(&["host"]).and_then(Node::as_str).unwrap_or("")
}

const HELP: &str = "set `caCertificates` to the CA bundle that signs the server's certificate \
                    (or a `credentialName` holding it, with a `workloadSelector`)";

fn check_destination_level(_: &Workspace, dr: &Resource, out: &mut Findings) {
    let Some(tls) = dr.spec_at(&["trafficPolicy", "tls"]) else {
        return;
    };
    let Some(mode) = unverified(dr, tls) else {
        return;
    };
    let node = tls.get("mode").unwrap_or(tls);
    out.report(
        dr,
        node,
        format!(
            "TLS mode {mode} for host \"{}\" sets no caCertificates: the server's \
             certificate is checked only against the proxy's OS CA bundle (Istio 1.21+), or \
             not at all on older proxies",
            host(dr)
        ),
    )
    .help(HELP);
}

fn check_port_level(_: &Workspace, dr: &Resource, out: &mut Findings) {
    let settings = dr
        .spec_at(&["trafficPolicy", "portLevelSettings"])
        .into_iter()
        .flat_map(Node::items);
    for setting in settings {
        let Some(tls) = setting.get("tls") else {
            continue;
        };
        let Some(mode) = unverified(dr, tls) else {
            continue;
        };
        let port = setting
            .path(&["port", "number"])
            .and_then(Node::as_str)
            .unwrap_or("?");
        let node = tls.get("mode").unwrap_or(tls);
        out.report(
            dr,
            node,
            format!(
                "TLS mode {mode} for host \"{}\" port {port} sets no caCertificates: the \
                 server's certificate is checked only against the proxy's OS CA bundle \
                 (Istio 1.21+), or not at all on older proxies",
                host(dr)
            ),
        )
        .help(HELP);
    }
}
