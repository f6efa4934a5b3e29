//! `gateway.CertificateAnalyzer`: the same TLS certificate on several Gateways that serve the
//! same workloads.

use std::collections::HashMap;

use mspack_yaml::Node;

use crate::declare_rule;
use crate::finding::Findings;
use crate::resource::{Kind, Resource};
use crate::workloads::{Selector, gateway_selector};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// A TLS server of an Istio Gateway whose certificate is also used by a server of another
    /// Gateway whose selector contains every label of this Gateway's selector (a Gateway without
    /// selector is compared with all Gateways). Certificates are the same when both servers name
    /// the same `credentialName`, or, when neither names one, the same `serverCertificate` and
    /// `privateKey` files. Gateways in every namespace are compared (Istio's default, with
    /// `PILOT_SCOPE_GATEWAY_TO_NAMESPACE` off). Each pair of servers is one finding, on the
    /// Gateway with the smaller selector.
    ///
    /// ## Why it matters
    /// Browsers reuse an HTTP/2 connection for every host a certificate covers. When two Gateways
    /// on one proxy present the same certificate, a request for the second Gateway's host can
    /// arrive on the connection opened for the first, where its routes are unknown: the client
    /// gets 404s that depend on connection reuse and are hard to reproduce.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: Gateway
    /// metadata: {name: orders-web, namespace: edge}
    /// spec:
    ///   selector: {istio: ingressgateway}
    ///   servers:
    ///   - port: {number: 443, name: https, protocol: HTTPS}
    ///     tls: {mode: SIMPLE, credentialName: food-wildcard-cert}
    ///     hosts: ["orders.food.example.com"]
    /// ---
    /// apiVersion: networking.istio.io/v1
    /// kind: Gateway
    /// metadata: {name: delivery-web, namespace: edge}
    /// spec:
    ///   selector: {istio: ingressgateway}
    ///   servers:
    ///   - port: {number: 443, name: https, protocol: HTTPS}
    ///     tls: {mode: SIMPLE, credentialName: food-wildcard-cert}
    ///     hosts: ["delivery.food.example.com"]
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: Gateway
    /// metadata: {name: food-web, namespace: edge}
    /// spec:
    ///   selector: {istio: ingressgateway}
    ///   servers:
    ///   - port: {number: 443, name: https, protocol: HTTPS}
    ///     tls: {mode: SIMPLE, credentialName: food-wildcard-cert}
    ///     hosts: ["orders.food.example.com", "delivery.food.example.com"]
    /// ```
    /// Serve all hosts of one certificate from one Gateway server, or give each Gateway its own
    /// certificate.
    pub static GATEWAY_DUPLICATE_CERTIFICATE = Rule {
        code: "IST0138",
        name: "GatewayDuplicateCertificate",
        severity: Warning,
        summary: "gateways for the same workloads share a TLS certificate",
        mirrors: Some("gateway.CertificateAnalyzer"),
        check: check,
    };
}

/// What makes two server certificates the same.
#[derive(Clone, PartialEq, Eq, Hash)]
enum CertKey<'a> {
    Credential(&'a str),
    Files { cert: &'a str, key: &'a str },
}

fn text<'a>(tls: &'a Node, key: &str) -> &'a str {
    tls.get(key).and_then(Node::as_str).unwrap_or("")
}

/// The certificate of a server's `tls` block, with the node that names it.
fn cert_key(tls: &Node) -> Option<(CertKey<'_>, &Node)> {
    let credential = text(tls, "credentialName");
    if !credential.is_empty() {
        return Some((CertKey::Credential(credential), tls.get("credentialName")?));
    }
    let (cert, key) = (text(tls, "serverCertificate"), text(tls, "privateKey"));
    if cert.is_empty() || key.is_empty() {
        return None;
    }
    Some((CertKey::Files { cert, key }, tls.get("serverCertificate")?))
}

fn check(ws: &Workspace, out: &mut Findings) {
    struct Gw<'a> {
        res: &'a Resource,
        name: String,
        selector: Selector,
        certs: Vec<(CertKey<'a>, &'a Node)>,
    }
    let gateways: Vec<Gw> = ws
        .of_kind(Kind::Gateway)
        .map(|res| Gw {
            res,
            name: res.full_name(),
            selector: gateway_selector(res),
            certs: res
                .spec_at(&["servers"])
                .into_iter()
                .flat_map(Node::items)
                .filter_map(|s| s.get("tls"))
                .filter_map(cert_key)
                .collect(),
        })
        .collect();
    // certificate -> (gateway, count of its servers using it)
    let mut users: HashMap<&CertKey, Vec<(usize, usize)>> = HashMap::new();
    for (i, gw) in gateways.iter().enumerate() {
        for (key, _) in &gw.certs {
            let list = users.entry(key).or_default();
            match list.last_mut() {
                Some((last, n)) if *last == i => *n += 1,
                _ => list.push((i, 1)),
            }
        }
    }
    for gw in &gateways {
        for (key, node) in &gw.certs {
            for &(j, count) in users.get(key).into_iter().flatten() {
                let other = &gateways[j];
                if other.name == gw.name || !gw.selector.matches(other.selector.labels()) {
                    continue;
                }
                for _ in 0..count {
                    out.report(
                        gw.res,
                        node,
                        format!(
                            "gateways {} and {} use the same certificate for the same workloads; \
                             clients reusing HTTP/2 connections may get 404s",
                            gw.name, other.name
                        ),
                    )
                    .help(
                        "serve the hosts of one certificate from a single gateway server, or give \
                         each gateway its own certificate",
                    );
                }
            }
        }
    }
}
