//! Istio's validation of a WorkloadEntry and a WorkloadGroup (for IST0106/IST0133); the
//! WorkloadEntry checks also apply to the endpoints of a STATIC ServiceEntry.

use std::collections::HashSet;

use mspack_yaml::Node;

use crate::istio::validation::common::{at, port_name, unix_address};
use crate::istio::validation::{
    Problems, field, fqdn, int, int_value, is_ip, labels, list, map_entries, port, text,
};
use crate::resource::Resource;

/// A workload entry (a WorkloadEntry spec or a ServiceEntry endpoint). `service_ports` are the
/// port names of the ServiceEntry, `None` for a WorkloadEntry; `allow_fqdn` lets the address be
/// a host name.
pub(crate) fn workload_entry<'a>(
    we: &'a Node,
    service_ports: Option<&HashSet<&str>>,
    allow_fqdn: bool,
    p: &mut Problems<'a>,
) {
    let addr = text(we, "address");
    if addr.is_empty() {
        let network = text(we, "network");
        if network.is_empty() {
            p.add(we, "address is required");
            return;
        }
        p.warn(
            at(we, "network"),
            format!("address is unset with network \"{network}\""),
        );
    }
    let addr_node = at(we, "address");
    let ports = map_entries(we, "ports");
    let unix = if let Some(path) = addr.strip_prefix("unix://") {
        p.add_err(addr_node, unix_address(path));
        if !ports.is_empty() {
            p.add(
                at(we, "ports"),
                format!("unix endpoint {addr} must not include ports"),
            );
        }
        true
    } else {
        if !addr.is_empty() && !is_ip(addr) {
            if !allow_fqdn {
                p.add(
                    addr_node,
                    format!("endpoint address \"{addr}\" is not a valid IP address"),
                );
            } else if fqdn(addr).is_err() {
                p.add(
                    addr_node,
                    format!("endpoint address \"{addr}\" is not a valid FQDN or an IP address"),
                );
            }
        }
        false
    };
    endpoint_ports(&ports, service_ports, p);
    labels(field(we, "labels"), p);
    if unix && service_ports.is_some_and(|s| s.len() != 1) {
        p.add(
            addr_node,
            "exactly 1 service port required for unix endpoints",
        );
    }
}

/// `ports` of an endpoint: names known to the ServiceEntry (when there is one), valid names and
/// numbers.
pub(crate) fn endpoint_ports<'a>(
    ports: &[(&'a str, &'a Node, &'a Node)],
    service_ports: Option<&HashSet<&str>>,
    p: &mut Problems<'a>,
) {
    for &(name, key, number) in ports {
        let n = int_value(number);
        if service_ports.is_some_and(|s| !s.contains(name)) {
            p.add(
                key,
                format!("endpoint port {n} is not defined by the service entry"),
            );
        }
        p.add_err(key, port_name(name));
        p.add_err(number, port(n));
    }
}

/// Every problem Istio's validation finds in a WorkloadEntry.
pub(crate) fn validate_entry(we: &Resource) -> Problems<'_> {
    let mut p = Problems::new();
    match we.spec() {
        Some(spec) => workload_entry(spec, None, true, &mut p),
        None => p.add(we.anchor(), "address is required"),
    }
    p
}

/// Every problem Istio's validation finds in a WorkloadGroup.
pub(crate) fn validate_group(wg: &Resource) -> Problems<'_> {
    let mut p = Problems::new();
    let Some(spec) = wg.spec() else {
        p.add(wg.anchor(), "template is required");
        return p;
    };
    if field(spec, "template").is_none() {
        p.add(spec, "template is required");
        return p;
    }
    if let Some(meta) = field(spec, "metadata") {
        let mut label_problems = Problems::new();
        labels(field(meta, "labels"), &mut label_problems);
        if let Some((node, message)) = label_problems.items.into_iter().next() {
            p.add(node, format!("invalid labels: {message}"));
            return p;
        }
    }
    if let Some(probe) = field(spec, "probe") {
        readiness_probe(probe, &mut p);
    }
    p
}

fn readiness_probe<'a>(probe: &'a Node, p: &mut Problems<'a>) {
    for name in [
        "periodSeconds",
        "initialDelaySeconds",
        "timeoutSeconds",
        "successThreshold",
        "failureThreshold",
    ] {
        if int(probe, name) < 0 {
            p.add(at(probe, name), format!("{name} must be non-negative"));
        }
    }
    if let Some(get) = field(probe, "httpGet") {
        p.add_err(at(get, "port"), port(int(get, "port")));
        let scheme = text(get, "scheme");
        if !scheme.is_empty() && scheme != "HTTP" && scheme != "HTTPS" {
            p.add(
                at(get, "scheme"),
                "httpGet.scheme must be one of \"HTTPS\", \"HTTP\"",
            );
        }
        for header in list(get, "httpHeaders") {
            if header.is_null() {
                p.add(header, "invalid nil header");
                continue;
            }
            let name = text(header, "name");
            let ok =
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
            if name.is_empty() {
                p.add(header, "header name cannot be empty");
            } else if !ok {
                p.add(
                    at(header, "name"),
                    format!("header name {name} is not a valid header name"),
                );
            }
        }
    } else if let Some(tcp) = field(probe, "tcpSocket") {
        p.add_err(at(tcp, "port"), port(int(tcp, "port")));
    } else if let Some(exec) = field(probe, "exec") {
        if list(exec, "command").is_empty() {
            p.add(exec, "exec.command is required");
        }
    } else {
        let grpc = field(probe, "grpc");
        p.add(
            grpc.unwrap_or(probe),
            if grpc.is_some() {
                "Istio's validation does not accept grpc readiness probes: use httpGet, tcpSocket or exec"
            } else {
                "a readiness probe needs a health check method: httpGet, tcpSocket or exec"
            },
        );
    }
}
