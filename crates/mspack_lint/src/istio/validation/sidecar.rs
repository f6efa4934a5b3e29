//! Istio's validation of a Sidecar (for IST0106/IST0133): workload selector, ingress listeners
//! (ports, binds, default endpoints, TLS, connection pools), egress listeners (ports, binds,
//! capture modes, `namespace/host` hosts) and the outbound traffic policy.

use std::collections::{HashMap, HashSet};

use mspack_yaml::Node;

use crate::istio::validation::common::{
    Protocol, alpha_workload_selector, at, bool_field, enum_field, has_items, has_text, ip_address,
    key_of, namespaced_host, port_name, protocol_name, string_items, unix_address,
};
use crate::istio::validation::destinationrule::connection_pool;
use crate::istio::validation::gateway::{
    AUTO_PASSTHROUGH, ISTIO_MUTUAL, SERVER_TLS_MODES, server_tls,
};
use crate::istio::validation::{Problems, destination, field, fqdn, int, list, port, text};
use crate::resource::Resource;

const CAPTURE_MODES: &[&str] = &["DEFAULT", "IPTABLES", "NONE"];
const OUTBOUND_MODES: &[&str] = &["REGISTRY_ONLY", "ALLOW_ANY", "ALLOW_ANY_DYNAMIC_DNS"];

/// Every problem Istio's validation finds in a Sidecar.
pub(crate) fn validate(sc: &Resource) -> Problems<'_> {
    let mut p = Problems::new();
    let Some(spec) = sc.spec() else {
        p.add(sc.anchor(), "sidecar: empty configuration provided");
        return p;
    };
    if alpha_workload_selector(field(spec, "workloadSelector"), &mut p) {
        p.warnings.clear();
        return p;
    }
    let ingress = list(spec, "ingress");
    let egress = list(spec, "egress");
    let outbound = field(spec, "outboundTrafficPolicy");
    let inbound_pool = field(spec, "inboundConnectionPool");
    if ingress.is_empty() && egress.is_empty() && outbound.is_none() && inbound_pool.is_none() {
        // Istio reports this alone.
        p.warnings.clear();
        p.add(spec, "sidecar: empty configuration provided");
        return p;
    }
    let mut ports: HashSet<i64> = HashSet::new();
    for listener in ingress {
        ingress_listener(listener, &mut ports, &mut p);
    }
    if let Some(pool) = inbound_pool {
        connection_pool(pool, &mut p);
    }
    let mut ports: HashSet<i64> = HashSet::new();
    let mut sockets: HashSet<&str> = HashSet::new();
    let mut catch_all = false;
    for (index, listener) in egress.iter().enumerate() {
        if listener.is_null() {
            p.add(listener, "egress listener may not be null");
            continue;
        }
        match field(listener, "port") {
            None => {
                if catch_all {
                    p.add(
                        listener,
                        "sidecar: egress can have only one listener with empty port",
                    );
                    continue;
                }
                if index == egress.len() - 1 {
                    catch_all = true;
                } else {
                    p.add(
                        listener,
                        "sidecar: the egress listener with empty port should be the last listener in the list",
                    );
                }
            }
            Some(port_node) => {
                if int(port_node, "targetPort") > 0 {
                    p.add(
                        at(port_node, "targetPort"),
                        "targetPort has no impact on Sidecars",
                    );
                }
                let bind = text(listener, "bind");
                egress_port(listener, port_node, bind, &mut p);
                if int(port_node, "number") == 0 {
                    if !sockets.insert(bind) {
                        p.add(
                            at(listener, "bind"),
                            "sidecar: unix domain socket values for listeners must be unique",
                        );
                    }
                } else if !ports.insert(int(port_node, "number")) {
                    p.add(
                        at(port_node, "number"),
                        "sidecar: ports on IP bound listeners must be unique",
                    );
                }
            }
        }
        egress_hosts(&sc.ns, listener, &mut p);
    }
    if let Some(tp) = outbound {
        outbound_policy(tp, &mut p);
    }
    p
}

fn ingress_listener<'a>(listener: &'a Node, ports: &mut HashSet<i64>, p: &mut Problems<'a>) {
    if listener.is_null() {
        p.add(listener, "sidecar: ingress may not be null");
        return;
    }
    let Some(port_node) = field(listener, "port") else {
        p.add(listener, "sidecar: port is required for ingress listeners");
        return;
    };
    if int(port_node, "targetPort") > 0 {
        p.add(
            at(port_node, "targetPort"),
            "targetPort has no impact on Sidecars",
        );
    }
    let name = text(port_node, "name");
    if !name.is_empty() {
        p.add_err(at(port_node, "name"), port_name(name));
    }
    let protocol = text(port_node, "protocol");
    p.add_err(at(port_node, "protocol"), protocol_name(protocol));
    let number = int(port_node, "number");
    p.add_err(at(port_node, "number"), port(number));
    let bind = text(listener, "bind");
    if !bind.is_empty() {
        p.add_err(at(listener, "bind"), ip_address(bind));
    }
    if !ports.insert(number) {
        p.add(
            at(port_node, "number"),
            "sidecar: ports on IP bound listeners must be unique",
        );
    }
    let endpoint = text(listener, "defaultEndpoint");
    if !endpoint.is_empty() {
        default_endpoint(endpoint, at(listener, "defaultEndpoint"), p);
    }
    let proto = Protocol::parse(protocol);
    if let Some(tls) = field(listener, "tls") {
        if has_text(tls, "credentialName") {
            p.add(
                at(tls, "credentialName"),
                "sidecar: credentialName is not currently supported",
            );
        }
        if has_items(tls, "subjectAltNames") {
            p.add(
                key_of(tls, "subjectAltNames"),
                "sidecar: subjectAltNames is not supported in ingress tls",
            );
        }
        if bool_field(tls, "httpsRedirect") {
            p.add(
                at(tls, "httpsRedirect"),
                "sidecar: httpsRedirect is not supported",
            );
        }
        if has_items(tls, "credentialNames") {
            p.add(
                key_of(tls, "credentialNames"),
                "sidecar: credentialNames is not currently supported",
            );
        }
        if has_items(tls, "tlsCertificates") {
            p.add(
                key_of(tls, "tlsCertificates"),
                "sidecar: tlsCertificates is not currently supported",
            );
        }
        if let Some(mode @ (ISTIO_MUTUAL | AUTO_PASSTHROUGH)) =
            enum_field(tls, "mode", SERVER_TLS_MODES)
        {
            p.add(
                at(tls, "mode"),
                format!(
                    "cannot set mode to {} in sidecar ingress tls",
                    SERVER_TLS_MODES[mode]
                ),
            );
        }
        if !proto.is_tls() {
            p.add(
                key_of(listener, "tls"),
                "server cannot have TLS settings for non HTTPS/TLS ports",
            );
        }
        server_tls(tls, p);
    }
    if let Some(pool) = field(listener, "connectionPool") {
        connection_pool(pool, p);
        if let Some(http) = field(pool, "http")
            && !proto.is_http()
        {
            p.warn(
                http,
                format!(
                    "HTTP connection pool settings on port {number} (\"{name}\") do not apply: its protocol {protocol} is not HTTP; only TCP settings will"
                ),
            );
        }
    }
}

/// `defaultEndpoint` of an ingress listener: `unix://path`, or a loopback/any address and port.
fn default_endpoint<'a>(endpoint: &str, node: &'a Node, p: &mut Problems<'a>) {
    if let Some(path) = endpoint.strip_prefix("unix://") {
        p.add_err(node, unix_address(path));
        return;
    }
    let Some((host, port_text)) = split_host_port(endpoint) else {
        p.add(
            node,
            format!("defaultEndpoint \"{endpoint}\" is not of the form host:port"),
        );
        return;
    };
    if !host.is_empty() && !matches!(host, "127.0.0.1" | "0.0.0.0" | "::1" | "::") {
        p.add(
            node,
            "sidecar: defaultEndpoint must be of form 127.0.0.1:<port>,0.0.0.0:<port>,[::1]:port,[::]:port,unix://filepath or unset",
        );
    }
    match port_text.parse::<i64>() {
        Ok(n) => p.add_err(node, port(n)),
        Err(_) => p.add(
            node,
            format!("sidecar: defaultEndpoint port ({port_text}) is not a number"),
        ),
    }
}

/// Go's `net.SplitHostPort`: `host:port` or `[v6]:port`.
fn split_host_port(s: &str) -> Option<(&str, &str)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = after.strip_prefix(':')?;
        (!port.contains(':') && !port.contains(']')).then_some((host, port))
    } else {
        let (host, port) = s.rsplit_once(':')?;
        (!host.contains(':') && !host.contains('[') && !host.contains(']')).then_some((host, port))
    }
}

fn egress_port<'a>(listener: &'a Node, port_node: &'a Node, bind: &str, p: &mut Problems<'a>) {
    let name = text(port_node, "name");
    if !name.is_empty() {
        p.add_err(at(port_node, "name"), port_name(name));
    }
    p.add_err(
        at(port_node, "protocol"),
        protocol_name(text(port_node, "protocol")),
    );
    let number = int(port_node, "number");
    if number == 0 {
        match bind.strip_prefix("unix://") {
            Some(path) => p.add_err(at(listener, "bind"), unix_address(path)),
            None => p.add(
                at(port_node, "number"),
                "sidecar: ports with 0 value must have a unix domain socket bind address",
            ),
        }
        if let Some(mode) = enum_field(listener, "captureMode", CAPTURE_MODES)
            && mode == 1
        {
            p.add(
                at(listener, "captureMode"),
                "sidecar: captureMode must be DEFAULT/NONE for unix domain socket listeners",
            );
        }
    } else {
        p.add_err(at(port_node, "number"), port(number));
        if !bind.is_empty() {
            p.add_err(at(listener, "bind"), ip_address(bind));
        }
    }
}

fn egress_hosts<'a>(ns: &str, listener: &'a Node, p: &mut Problems<'a>) {
    let hosts = list(listener, "hosts");
    if hosts.is_empty() {
        p.add(
            key_of(listener, "hosts"),
            "sidecar: egress listener must contain at least one host",
        );
        return;
    }
    // namespace -> hosts seen for it, to warn about repeats.
    let mut seen: HashMap<&str, HashSet<&str>> = HashMap::new();
    for (entry, h) in string_items(listener, "hosts") {
        if let Some((host_ns, svc)) = entry.split_once('/')
            && !host_ns.starts_with('~')
        {
            let key = if host_ns == "." { ns } else { host_ns };
            let svcs = seen.entry(key).or_default();
            let repeated = if svc == "*" {
                !svcs.is_empty()
            } else {
                svcs.contains(svc) || svcs.contains("*")
            };
            if repeated {
                p.warn(h, format!("duplicated egress host: {entry}"));
            }
            svcs.insert(svc);
        }
        for e in namespaced_host(entry, false) {
            p.add(h, e);
        }
    }
    if seen.get("*").is_some_and(|s| s.contains("*")) && seen.len() != 1 {
        p.warn(
            key_of(listener, "hosts"),
            "`*/*` selects every host: no other hosts can be added",
        );
    }
}

fn outbound_policy<'a>(tp: &'a Node, p: &mut Problems<'a>) {
    let mode = enum_field(tp, "mode", OUTBOUND_MODES);
    if mode == Some(2) {
        p.add(
            at(tp, "mode"),
            "sidecar: ALLOW_ANY_DYNAMIC_DNS mode is only supported in MeshConfig, not in a Sidecar",
        );
        return;
    }
    let Some(proxy) = field(tp, "egressProxy") else {
        return;
    };
    if mode != Some(1) {
        p.add(
            proxy,
            "sidecar: egressProxy must be set only with ALLOW_ANY outboundTrafficPolicy mode",
        );
        return;
    }
    p.add_err(at(proxy, "host"), fqdn(text(proxy, "host")));
    if field(proxy, "port").is_none() {
        p.add(proxy, "sidecar: egressProxy port must be set");
        return;
    }
    destination(proxy, p);
}
