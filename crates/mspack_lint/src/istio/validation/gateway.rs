//! Istio's validation of a Gateway (for IST0106/IST0133): its name, servers (hosts in
//! `namespace/host` form, port, bind address) and server TLS settings, whose checks Sidecar
//! ingress listeners share.

use std::collections::{BTreeSet, HashSet};

use mspack_yaml::Node;

use crate::istio::validation::common::{
    Protocol, at, bool_field, enum_field, has_items, has_text, ip_address, key_of, namespaced_host,
    string_items, unix_address,
};
use crate::istio::validation::{Problems, field, int, is_dns1123_label, list, port, text};
use crate::resource::Resource;

pub(crate) const SERVER_TLS_MODES: &[&str] = &[
    "PASSTHROUGH",
    "SIMPLE",
    "MUTUAL",
    "AUTO_PASSTHROUGH",
    "ISTIO_MUTUAL",
    "OPTIONAL_MUTUAL",
];
pub(crate) const PASSTHROUGH: usize = 0;
const SIMPLE: usize = 1;
const MUTUAL: usize = 2;
pub(crate) const AUTO_PASSTHROUGH: usize = 3;
pub(crate) const ISTIO_MUTUAL: usize = 4;
const OPTIONAL_MUTUAL: usize = 5;
const TLS_VERSIONS: &[&str] = &["TLS_AUTO", "TLSV1_0", "TLSV1_1", "TLSV1_2", "TLSV1_3"];

/// Cipher suites a Gateway server accepts (BoringSSL's names, pre-shared-key suites aside).
const CIPHER_SUITES: &[&str] = &[
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-CHACHA20-POLY1305",
    "ECDHE-ECDSA-AES128-SHA",
    "ECDHE-RSA-AES128-SHA",
    "ECDHE-ECDSA-AES256-SHA",
    "ECDHE-RSA-AES256-SHA",
    "AES128-GCM-SHA256",
    "AES256-GCM-SHA384",
    "AES128-SHA",
    "AES256-SHA",
    "DES-CBC3-SHA",
];

fn valid_cipher(cs: &str) -> bool {
    // Empty, ALL, and expressions starting with an operator (`-`, `+`, `!`, `[`) pass unchecked.
    cs.is_empty()
        || cs == "ALL"
        || !cs.chars().next().is_some_and(char::is_alphanumeric)
        || CIPHER_SUITES.contains(&cs)
}

/// Every problem Istio's validation finds in a Gateway.
pub(crate) fn validate(gw: &Resource) -> Problems<'_> {
    let mut p = Problems::new();
    if !is_dns1123_label(&gw.name) {
        p.add(
            gw.anchor(),
            format!(
                "invalid gateway name \"{}\": it must be a DNS-1123 label (no dots)",
                gw.name
            ),
        );
    }
    let Some(spec) = gw.spec() else {
        p.add(gw.anchor(), "gateway must have at least one server");
        return p;
    };
    let servers = list(spec, "servers");
    if servers.is_empty() {
        p.add(
            key_of(spec, "servers"),
            "gateway must have at least one server",
        );
    }
    for server in servers {
        if server.is_null() {
            p.add(server, "server may not be null");
            continue;
        }
        self::server(server, &mut p);
    }
    let mut port_names: HashSet<&str> = HashSet::new();
    for server in servers {
        let Some(port_node) = field(server, "port") else {
            continue;
        };
        let name = text(port_node, "name");
        if !port_names.insert(name) {
            p.add(
                at(port_node, "name"),
                format!("port names in servers must be unique: duplicate name {name}"),
            );
        }
        let http = Protocol::parse(text(port_node, "protocol")).is_http();
        if !http && field(server, "tls").is_some_and(|t| bool_field(t, "httpsRedirect")) {
            p.warn(
                at(field(server, "tls").unwrap_or(server), "httpsRedirect"),
                "tls.httpsRedirect should only be used with http servers",
            );
        }
    }
    p
}

fn server<'a>(server: &'a Node, p: &mut Problems<'a>) {
    let hosts = list(server, "hosts");
    if hosts.is_empty() {
        p.add(
            key_of(server, "hosts"),
            "server config must contain at least one host",
        );
    }
    for (entry, host) in string_items(server, "hosts") {
        for e in namespaced_host(entry, true) {
            p.add(host, e);
        }
    }
    let bind = text(server, "bind");
    let port_node = field(server, "port");
    let port_ok = server_port(server, port_node, bind, p);
    if let Some(rest) = bind.strip_prefix("unix://") {
        p.add_err(at(server, "bind"), unix_address(rest));
        if let Some(pn) = port_node
            && int(pn, "number") != 0
        {
            p.add(
                at(pn, "number"),
                "port number must be 0 for a unix domain socket bind",
            );
        }
    } else if !bind.is_empty() {
        p.add_err(at(server, "bind"), ip_address(bind));
    }
    let tls = field(server, "tls");
    if let Some(tls) = tls {
        server_tls(tls, p);
    }
    if !port_ok {
        return;
    }
    let Some(port_node) = port_node else { return };
    let protocol = Protocol::parse(text(port_node, "protocol"));
    match tls {
        None if protocol.is_tls() => p.add(
            at(port_node, "protocol"),
            "server must have TLS settings for HTTPS/TLS protocols",
        ),
        Some(tls) if !protocol.is_tls() => {
            if protocol.is_http() {
                let passthrough = matches!(
                    enum_field(tls, "mode", SERVER_TLS_MODES),
                    Some(PASSTHROUGH | AUTO_PASSTHROUGH)
                );
                if !passthrough
                    || has_text(tls, "caCertificates")
                    || has_text(tls, "privateKey")
                    || has_text(tls, "serverCertificate")
                {
                    p.add(
                        key_of(server, "tls"),
                        "server cannot have TLS settings for plain text HTTP ports",
                    );
                }
            } else {
                p.add(
                    key_of(server, "tls"),
                    "server cannot have TLS settings for non HTTPS/TLS ports",
                );
            }
        }
        _ => {}
    }
}

/// The port of a server; `false` when it has an error (Istio then skips the TLS/protocol match).
fn server_port<'a>(
    server: &'a Node,
    port_node: Option<&'a Node>,
    bind: &str,
    p: &mut Problems<'a>,
) -> bool {
    let Some(pn) = port_node else {
        p.add(server, "port is required");
        return false;
    };
    let before = p.items.len();
    let protocol = text(pn, "protocol");
    if Protocol::parse(protocol) == Protocol::Unsupported {
        p.add(
            at(pn, "protocol"),
            format!(
                "invalid protocol \"{protocol}\": use HTTP, HTTPS, HTTP2, GRPC, GRPC-WEB, TCP, TLS, MONGO, REDIS or MYSQL"
            ),
        );
    }
    let number = int(pn, "number");
    if number > 0 || !bind.starts_with("unix://") {
        p.add_err(at(pn, "number"), port(number));
    }
    if int(pn, "targetPort") > 0 {
        p.add(at(pn, "targetPort"), "targetPort has no impact on Gateways");
    }
    if text(pn, "name").is_empty() {
        p.add(
            pn,
            format!("port name must be set (port {number}, protocol {protocol})"),
        );
    }
    p.items.len() == before
}

/// Server TLS settings of a Gateway server or a Sidecar ingress listener.
pub(crate) fn server_tls<'a>(tls: &'a Node, p: &mut Problems<'a>) {
    let min_version = enum_field(tls, "minProtocolVersion", TLS_VERSIONS);
    let ciphers = list(tls, "cipherSuites");
    if matches!(min_version, Some(1 | 2)) && ciphers.is_empty() {
        p.warn(
            at(tls, "minProtocolVersion"),
            "TLS versions below TLSV1_2 need compatible cipherSuites: the defaults no longer include them",
        );
    }
    let mut invalid: BTreeSet<&str> = BTreeSet::new();
    let mut valid: HashSet<&str> = HashSet::new();
    let mut duplicate: BTreeSet<&str> = BTreeSet::new();
    for (c, _) in string_items(tls, "cipherSuites") {
        if !valid_cipher(c) {
            invalid.insert(c);
        } else if !valid.insert(c) {
            duplicate.insert(c);
        }
    }
    let join = |s: &BTreeSet<&str>| s.iter().copied().collect::<Vec<_>>().join(" ");
    if !invalid.is_empty() {
        p.warn(
            key_of(tls, "cipherSuites"),
            format!("ignoring invalid cipher suites: [{}]", join(&invalid)),
        );
    }
    if !duplicate.is_empty() {
        p.warn(
            key_of(tls, "cipherSuites"),
            format!("ignoring duplicate cipher suites: [{}]", join(&duplicate)),
        );
    }
    let Some(mode) = enum_field(tls, "mode", SERVER_TLS_MODES) else {
        return;
    };
    let has = |name: &str| has_text(tls, name);
    let certs = list(tls, "tlsCertificates");
    let cred_names = has_items(tls, "credentialNames");
    if mode == ISTIO_MUTUAL {
        for (name, what) in [
            ("serverCertificate", "server certificate"),
            ("privateKey", "private key"),
            ("caCertificates", "CA bundle"),
            ("credentialName", "credentialName"),
        ] {
            if has(name) {
                p.add(
                    at(tls, name),
                    format!("ISTIO_MUTUAL TLS cannot have an associated {what}"),
                );
            }
        }
        if !certs.is_empty() {
            p.add(
                key_of(tls, "tlsCertificates"),
                "ISTIO_MUTUAL TLS cannot have associated tlsCertificates",
            );
        }
        if cred_names {
            p.add(
                key_of(tls, "credentialNames"),
                "ISTIO_MUTUAL TLS cannot have associated credentialNames",
            );
        }
        return;
    }
    if (mode == PASSTHROUGH || mode == AUTO_PASSTHROUGH)
        && (has("caCrl")
            || has("serverCertificate")
            || has("privateKey")
            || has("caCertificates")
            || !certs.is_empty()
            || has("credentialName")
            || cred_names)
    {
        p.warn(
            at(tls, "mode"),
            format!(
                "{} mode does not use certificates, they will be ignored",
                SERVER_TLS_MODES[mode]
            ),
        );
    }
    let sources = usize::from(has("serverCertificate") && has("privateKey"))
        + usize::from(has("credentialName"))
        + usize::from(cred_names)
        + usize::from(!certs.is_empty());
    if sources > 1 {
        p.add(
            tls,
            "only one of credentialName, credentialNames, serverCertificate/privateKey and tlsCertificates should be specified",
        );
    }
    let terminating = mode == SIMPLE || mode == MUTUAL || mode == OPTIONAL_MUTUAL;
    if terminating && (has("credentialName") || cred_names) {
        // Credentials come from a Secret: nothing more to require here.
        return;
    }
    if terminating {
        let what = if mode == SIMPLE {
            "SIMPLE TLS"
        } else {
            "MUTUAL TLS"
        };
        if mode != SIMPLE && !has("caCertificates") {
            p.add(
                at(tls, "mode"),
                format!("{what} requires a client CA bundle (caCertificates)"),
            );
        }
        if certs.len() > 2 {
            p.warn(
                key_of(tls, "tlsCertificates"),
                format!("{what} can support up to 2 server certificates"),
            );
        }
        if certs.is_empty() {
            if !has("serverCertificate") {
                p.add(
                    at(tls, "mode"),
                    format!("{what} requires a server certificate"),
                );
            }
            if !has("privateKey") {
                p.add(at(tls, "mode"), format!("{what} requires a private key"));
            }
        }
        for cert in certs {
            if !has_text(cert, "serverCertificate") {
                p.add(cert, format!("{what} requires a server certificate"));
            }
            if !has_text(cert, "privateKey") {
                p.add(cert, format!("{what} requires a private key"));
            }
        }
    }
    if has("caCrl") {
        if has("credentialName") {
            p.add(
                at(tls, "caCrl"),
                "caCrl is not supported with credentialName: put the CRL in the credential",
            );
        }
        if mode == SIMPLE {
            p.add(at(tls, "caCrl"), "caCrl is not supported with SIMPLE TLS");
        }
    }
}
