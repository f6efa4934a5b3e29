//! Istio's validation of a ServiceEntry (for IST0106/IST0133): hosts, addresses, ports,
//! resolution against endpoints and addresses, workload selector against endpoints, exportTo.

use std::collections::HashSet;

use crate::istio::validation::common::{
    Protocol, alpha_workload_selector, at, enum_field, key_of, partial_wildcard, port_name,
    protocol_name, string_items,
};
use crate::istio::validation::workloadentry::{endpoint_ports, workload_entry};
use crate::istio::validation::{
    Problems, export_to, field, fqdn, int, ip_subnet, is_ip, labels, list, map_entries, port, text,
    wildcard_domain,
};
use crate::resource::Resource;

const RESOLUTIONS: &[&str] = &["NONE", "STATIC", "DNS", "DNS_ROUND_ROBIN", "DYNAMIC_DNS"];
const NONE: usize = 0;
const STATIC: usize = 1;
const DNS: usize = 2;
const DNS_ROUND_ROBIN: usize = 3;
const DYNAMIC_DNS: usize = 4;

/// Every problem Istio's validation finds in a ServiceEntry.
pub(crate) fn validate(se: &Resource) -> Problems<'_> {
    let mut p = Problems::new();
    let Some(spec) = se.spec() else {
        p.add(se.anchor(), "service entry must have at least one host");
        return p;
    };
    let selector = field(spec, "workloadSelector");
    if alpha_workload_selector(selector, &mut p) {
        // Istio reports a broken selector alone.
        p.warnings.clear();
        return p;
    }
    let endpoints = list(spec, "endpoints");
    if let Some(sel) = selector
        && !endpoints.is_empty()
    {
        p.add(
            sel,
            "only one of workloadSelector or endpoints is allowed in a ServiceEntry",
        );
    }
    let resolution = enum_field(spec, "resolution", RESOLUTIONS);
    let hosts = list(spec, "hosts");
    if hosts.is_empty() {
        p.add(
            key_of(spec, "hosts"),
            "service entry must have at least one host",
        );
    }
    for (host, h) in string_items(spec, "hosts") {
        if host == "*" {
            p.add(h, "invalid host *");
            continue;
        }
        p.add_err(h, wildcard_domain(host));
        if resolution != Some(DYNAMIC_DNS)
            && let Err(e) = partial_wildcard(host)
        {
            p.warn(h, e);
        }
    }
    let addresses = list(spec, "addresses");
    let mut cidr = false;
    for (addr, a) in string_items(spec, "addresses") {
        cidr |= addr.contains('/');
        p.add_err(a, ip_subnet(addr));
    }
    if cidr && !matches!(resolution, Some(NONE | STATIC) | None) {
        p.add(
            at(spec, "resolution"),
            "CIDR addresses are allowed only for NONE/STATIC resolution types",
        );
    }
    let ports = list(spec, "ports");
    let mut port_names: HashSet<&str> = HashSet::new();
    let mut port_numbers: HashSet<i64> = HashSet::new();
    for pn in ports {
        if pn.is_null() {
            p.add(pn, "service entry port may not be null");
            continue;
        }
        let name = text(pn, "name");
        let number = int(pn, "number");
        if !port_names.insert(name) {
            p.add(
                at(pn, "name"),
                format!("service entry port name \"{name}\" already defined"),
            );
        }
        if !port_numbers.insert(number) {
            p.add(
                at(pn, "number"),
                format!("service entry port {number} already defined"),
            );
        }
        let target = int(pn, "targetPort");
        if target != 0 {
            p.add_err(at(pn, "targetPort"), port(target));
        }
        p.add_err(at(pn, "name"), port_name(name));
        p.add_err(at(pn, "protocol"), protocol_name(text(pn, "protocol")));
        p.add_err(at(pn, "number"), port(number));
    }
    let resolution_node = at(spec, "resolution");
    match resolution {
        Some(NONE) => {
            if !endpoints.is_empty() {
                p.add(
                    key_of(spec, "endpoints"),
                    "no endpoints should be provided for resolution type NONE",
                );
            }
            if let Some(sel) = selector {
                p.warn(
                    sel,
                    "workloadSelector should not be set when resolution mode is NONE",
                );
            }
        }
        Some(STATIC) => {
            for ep in endpoints {
                if ep.is_null() {
                    p.add(ep, "endpoint cannot be nil");
                    continue;
                }
                workload_entry(ep, Some(&port_names), false, &mut p);
            }
        }
        Some(r @ (DNS | DNS_ROUND_ROBIN)) => {
            let mode = RESOLUTIONS[r];
            if endpoints.is_empty()
                && let Some((h, e)) = string_items(spec, "hosts")
                    .into_iter()
                    .find_map(|(host, h)| fqdn(host).err().map(|e| (h, e)))
            {
                p.add(
                    h,
                    format!(
                        "hosts must be FQDN or contain only prefix wildcards if no endpoints are provided for resolution mode {mode}, {e}"
                    ),
                );
            }
            if r == DNS_ROUND_ROBIN && endpoints.len() > 1 {
                p.add(
                    key_of(spec, "endpoints"),
                    format!("there must only be 0 or 1 endpoint for resolution mode {mode}"),
                );
            }
            for ep in endpoints {
                if ep.is_null() {
                    p.add(ep, "endpoint cannot be nil");
                    continue;
                }
                let addr = text(ep, "address");
                if !is_ip(addr) && fqdn(addr).is_err() {
                    p.add(
                        at(ep, "address"),
                        format!("endpoint address \"{addr}\" is not a valid FQDN or an IP address"),
                    );
                }
                labels(field(ep, "labels"), &mut p);
                endpoint_ports(&map_entries(ep, "ports"), Some(&port_names), &mut p);
            }
            if !addresses.is_empty() {
                for pn in ports {
                    if pn.is_null() {
                        p.add(pn, "ports cannot be nil");
                        continue;
                    }
                    if Protocol::parse(text(pn, "protocol")).is_tcp() {
                        if hosts.len() > 1 {
                            p.warn(
                                key_of(spec, "hosts"),
                                "a service entry with addresses and a TCP port should have a single host",
                            );
                        }
                        break;
                    }
                }
            }
        }
        Some(DYNAMIC_DNS) => {
            if hosts.is_empty() {
                p.add(
                    resolution_node,
                    "at least one wildcard host must be provided for resolution type DYNAMIC_DNS",
                );
            }
            for (host, h) in string_items(spec, "hosts") {
                if !host.starts_with('*') {
                    p.add(h, "host must be wildcarded for resolution mode DYNAMIC_DNS");
                }
            }
            if !addresses.is_empty() {
                p.add(
                    key_of(spec, "addresses"),
                    "addresses cannot be set for resolution type DYNAMIC_DNS: routes are built from the hosts",
                );
            }
            if !endpoints.is_empty() {
                p.add(
                    key_of(spec, "endpoints"),
                    "endpoints cannot be set for resolution type DYNAMIC_DNS: the destination comes from the host",
                );
            }
            for pn in ports {
                if pn.is_null() {
                    p.add(pn, "port cannot be nil");
                    continue;
                }
                let proto = Protocol::parse(text(pn, "protocol"));
                if !matches!(
                    proto,
                    Protocol::Http | Protocol::Tls | Protocol::Grpc | Protocol::Http2
                ) {
                    p.add(
                        at(pn, "protocol"),
                        "only HTTP, TLS, GRPC, and HTTP2 protocols are supported for resolution type DYNAMIC_DNS",
                    );
                }
            }
        }
        _ => {}
    }
    if resolution.is_some_and(|r| r != NONE) && hosts.len() > 1 {
        for pn in ports {
            if pn.is_null() {
                p.add(pn, "ports cannot be nil");
                continue;
            }
            let proto = Protocol::parse(text(pn, "protocol"));
            if !proto.is_http() && !proto.is_tls() {
                p.add(
                    at(pn, "protocol"),
                    "multiple hosts provided with non-HTTP, non-TLS ports",
                );
                break;
            }
        }
    }
    export_to(&se.ns, spec, true, false, &mut p);
    p
}
