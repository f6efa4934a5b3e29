//! Istio's validation of a VirtualService as its webhook makes it (the errors that reject the
//! resource): TLS and TCP routes, `exportTo`, and the whole resource.

use super::*;

// ---------------------------------------------------------------------------------------------
// TLS and TCP routes.

/// Istio's `host.Name.SubsetOf`: is `n` covered by `o`?
pub(crate) fn host_subset_of(n: &str, o: &str) -> bool {
    match (n.strip_prefix('*'), o.strip_prefix('*')) {
        (Some(ns), Some(os)) => n.len() >= o.len() && ns.ends_with(os),
        (Some(_), None) => false,
        (None, Some(os)) => n.ends_with(os),
        (None, None) => n == o,
    }
}

pub(crate) fn ip_subnet(s: &str) -> Result<(), String> {
    let ok = match s.split_once('/') {
        None => is_ip(s),
        Some((addr, bits)) => match (addr.parse::<std::net::IpAddr>(), bits.parse::<u8>()) {
            (Ok(std::net::IpAddr::V4(_)), Ok(b)) => b <= 32 && is_go_int(bits),
            (Ok(std::net::IpAddr::V6(_)), Ok(b)) => b <= 128 && is_go_int(bits),
            _ => false,
        },
    };
    if ok {
        Ok(())
    } else {
        Err(format!("\"{s}\" is not a valid IP address or CIDR subnet"))
    }
}

pub(crate) fn l4_match_common<'a>(m: &'a Node, p: &mut Problems<'a>) {
    for subnet in list(m, "destinationSubnets") {
        p.add_err(subnet, ip_subnet(subnet.as_str().unwrap_or("")));
    }
    if let Some(port_node) = field(m, "port") {
        let n = int_value(port_node);
        if n != 0 {
            p.add_err(port_node, port(n));
        }
    }
    labels(field(m, "sourceLabels"), p);
    gateway_names(list(m, "gateways"), false, p);
}

pub(crate) fn tls_route<'a>(
    route: &'a Node,
    vs_hosts: &[&str],
    vs_bound_to_gateway: bool,
    gateway_semantics: bool,
    p: &mut Problems<'a>,
) {
    let matches = list(route, "match");
    if matches.is_empty() {
        p.add(route, "TLS route must have at least one match condition");
    }
    for m in matches {
        if m.is_null() {
            p.add(m, "TLS match may not be null");
            continue;
        }
        let sni_hosts = list(m, "sniHosts");
        if sni_hosts.is_empty() {
            p.add(m, "TLS match must have at least one SNI host");
        }
        for sni_node in sni_hosts {
            let sni = sni_node.as_str().unwrap_or("");
            let skip_generated = vs_bound_to_gateway && sni.starts_with("outbound_");
            if !skip_generated && let Err(e) = wildcard_domain(sni) {
                // An IP is only a warning (against the SNI spec), not an error.
                if is_ip(sni) {
                    p.warn(
                        sni_node,
                        format!("SNI host \"{sni}\" is an IP address, which the SNI standard does not allow and most clients do not send"),
                    );
                } else {
                    p.add(sni_node, e);
                }
                continue;
            }
            if !vs_hosts.iter().any(|h| host_subset_of(sni, h)) {
                p.add(
                    sni_node,
                    format!(
                        "SNI host \"{sni}\" is not a compatible subset of any of the virtual service hosts: [{}]",
                        vs_hosts.join(", ")
                    ),
                );
            }
        }
        l4_match_common(m, p);
    }
    if list(route, "route").is_empty() {
        p.add(route, "TLS route is required");
    }
    route_destinations(route, false, gateway_semantics, p);
}

pub(crate) fn tcp_route<'a>(route: &'a Node, gateway_semantics: bool, p: &mut Problems<'a>) {
    for m in list(route, "match") {
        if m.is_null() {
            p.add(m, "tcp match may not be null");
            continue;
        }
        p.errors_only(|p| l4_match_common(m, p));
    }
    if list(route, "route").is_empty() {
        p.add(route, "TCP route is required");
    }
    route_destinations(route, false, gateway_semantics, p);
}

// ---------------------------------------------------------------------------------------------
// exportTo.

/// `exportTo` of a VirtualService, DestinationRule or ServiceEntry (`~` allowed for the latter),
/// with the extra limits of a DestinationRule that has a workload selector.
pub(crate) fn export_to<'a>(
    ns: &str,
    spec: &'a Node,
    service_entry: bool,
    dr_with_selector: bool,
    p: &mut Problems<'a>,
) {
    let items = list(spec, "exportTo");
    if items.is_empty() {
        return;
    }
    let node = field(spec, "exportTo").unwrap_or(spec);
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    for item in items {
        let e = item.as_str().unwrap_or("");
        let key = if e == "." { ns } else { e };
        if seen.contains(key) {
            if key != e {
                p.add(
                    item,
                    format!("duplicate entries in exportTo: . and current namespace {ns}"),
                );
            } else {
                p.add(item, format!("duplicate entries in exportTo for entry {e}"));
            }
            continue;
        }
        match key {
            "~" if service_entry => {
                seen.insert(key);
            }
            "*" | "." => {
                seen.insert(key);
            }
            "~" => p.add(
                item,
                "exportTo ~ (none) is not allowed for Istio configuration objects",
            ),
            _ if is_dns1123_label(key) => {
                seen.insert(key);
            }
            _ => p.add(
                item,
                "only ., *, or a valid DNS 1123 label is allowed as exportTo entry",
            ),
        }
    }
    if dr_with_selector && !seen.is_empty() {
        if !seen.contains(ns) {
            p.add(
                node,
                "a DestinationRule with a workloadSelector cannot be exported beyond its own namespace",
            );
        } else if seen.len() > 1 {
            p.add(
                node,
                "a DestinationRule with a workloadSelector cannot have several exportTo entries",
            );
        }
    }
    if seen.contains("*") && items.len() > 1 {
        p.add(
            node,
            "cannot have both public (*) and non-public exportTo values for a resource",
        );
    }
    if seen.contains("~") && items.len() > 1 {
        p.add(
            node,
            "a ServiceEntry cannot be exported to no one (~) and to someone at once",
        );
    }
}

// ---------------------------------------------------------------------------------------------

/// Every validation error of a VirtualService, as Istio's webhook would reject it.
pub(crate) fn validate(vs: &Resource) -> Problems<'_> {
    let mut p = Problems::new();
    let Some(spec) = vs.spec() else {
        p.add(
            vs.anchor(),
            "http, tcp or tls must be provided in virtual service",
        );
        return p;
    };
    if !matches!(spec.value, Value::Map(_)) {
        return p;
    }
    let hosts_nodes = list(spec, "hosts");
    let hosts: Vec<&str> = hosts_nodes
        .iter()
        .map(|h| h.as_str().unwrap_or(""))
        .collect();
    let gateways = list(spec, "gateways");
    let http = list(spec, "http");
    let tcp = list(spec, "tcp");
    let tls = list(spec, "tls");
    let anchor = vs.anchor();
    if hosts.is_empty() {
        let spec_node = vs.spec().unwrap_or(anchor);
        if !gateways.is_empty() {
            p.add(
                spec_node,
                "a delegate VirtualService (no hosts) must not specify gateways",
            );
        }
        if !tls.is_empty() {
            p.add(
                spec_node,
                "a delegate VirtualService (no hosts) must not specify tls routes",
            );
        }
        if !tcp.is_empty() {
            p.add(
                spec_node,
                "a delegate VirtualService (no hosts) must not specify tcp routes",
            );
        }
    }
    let gateway_semantics = vs.annotation("internal.istio.io/route-semantics") == Some("gateway");
    let has_mesh = gateways.iter().any(|g| g.as_str() == Some("mesh"));
    let applies_to_gateway = !gateways.is_empty() && !has_mesh;
    let applies_to_mesh = !applies_to_gateway;
    gateway_names(gateways, gateway_semantics, &mut p);

    if !applies_to_gateway {
        for route in http {
            for m in list(route, "match") {
                for field_name in ["headers", "withoutHeaders"] {
                    for (key, key_node, _) in map_entries(m, field_name) {
                        if is_claim_header(key) {
                            p.add(
                                key_node,
                                format!(
                                    "JWT claim based routing (key: {key}) is only supported for gateways, and this VirtualService applies to sidecars"
                                ),
                            );
                        }
                    }
                }
            }
        }
    }

    let sni = tls.iter().any(|t| {
        list(t, "match")
            .iter()
            .any(|m| !list(m, "sniHosts").is_empty())
    });
    let mut all_hosts_valid = true;
    for (node, host) in hosts_nodes.iter().zip(&hosts) {
        let generated_sni = applies_to_gateway && sni && host.starts_with("outbound_");
        let result = if generated_sni {
            dns_preconditions(host)
        } else {
            wildcard_domain(host)
        };
        match result {
            Err(e) => {
                if !is_ip(host) {
                    p.add(node, e);
                    all_hosts_valid = false;
                }
            }
            Ok(()) if applies_to_mesh && *host == "*" => {
                p.add(
                    node,
                    "wildcard host * is not allowed for virtual services bound to the mesh gateway",
                );
                all_hosts_valid = false;
            }
            Ok(()) => {}
        }
    }
    if all_hosts_valid && hosts.len() > 1 {
        // Pairwise within one resource; hosts lists are short.
        for i in 0..hosts.len() {
            for j in i + 1..hosts.len() {
                if crate::hosts::hosts_intersect(hosts[i], hosts[j]) {
                    p.add(
                        &hosts_nodes[j],
                        format!(
                            "duplicate hosts in virtual service: {} & {}",
                            hosts[i], hosts[j]
                        ),
                    );
                }
            }
        }
    }

    if http.is_empty() && tcp.is_empty() && tls.is_empty() {
        p.add(
            vs.spec().unwrap_or(anchor),
            "http, tcp or tls must be provided in virtual service",
        );
    }
    for route in http {
        if route.is_null() {
            p.add(route, "http route may not be null");
            continue;
        }
        http_route(route, hosts.is_empty(), gateway_semantics, &mut p);
    }
    let bound_to_gateway = !has_mesh;
    for route in tls {
        if route.is_null() {
            continue;
        }
        tls_route(route, &hosts, bound_to_gateway, gateway_semantics, &mut p);
    }
    for route in tcp {
        if route.is_null() {
            continue;
        }
        tcp_route(route, gateway_semantics, &mut p);
    }
    export_to(&vs.ns, spec, false, false, &mut p);
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("1.5s"), Some(1_500_000_000));
        assert_eq!(parse_go_duration("300ms"), Some(300_000_000));
        assert_eq!(parse_go_duration("1m30s"), Some(90_000_000_000));
        assert_eq!(parse_go_duration("0"), Some(0));
        assert_eq!(parse_go_duration("-2s"), Some(-2_000_000_000));
        assert_eq!(parse_go_duration(".5h"), Some(1_800_000_000_000));
        assert_eq!(parse_go_duration("5"), None);
        assert_eq!(parse_go_duration("5 s"), None);
        assert_eq!(parse_go_duration("s"), None);
        assert_eq!(parse_go_duration(""), None);
    }

    #[test]
    fn domains_and_labels() {
        assert!(wildcard_domain("*.fooddelivery.example").is_ok());
        assert!(wildcard_domain("*").is_ok());
        assert!(wildcard_domain("orders").is_ok());
        assert!(wildcard_domain("Orders.food").is_ok());
        assert!(wildcard_domain("").is_err());
        assert!(wildcard_domain("orders..food").is_err());
        assert!(wildcard_domain("a.*.com").is_err());
        assert!(wildcard_domain("10.0.0.1").is_err());
        assert!(wildcard_domain("orders.food.").is_ok());
        assert!(is_dns1123_label("v1") && !is_dns1123_label("v1.0") && !is_dns1123_label("-a"));
    }

    #[test]
    fn stacked_repetitions_are_re2_errors() {
        assert!(regex("a++").is_err() && regex("a**").is_err() && regex("a{2}*").is_err());
        assert!(regex("%#@~++==`24c234`").is_err());
        assert!(regex("a+?b*?c??").is_ok() && regex("(a+)+").is_ok() && regex("[+*]+").is_ok());
        assert!(regex(r"\++").is_ok() && regex("(?i)orders").is_ok() && regex("a{2}b{3,}").is_ok());
        assert!(regex("caf\\é+").is_err() && regex("é**").is_err());
    }

    #[test]
    fn header_values() {
        assert!(header_value("100%%").is_ok());
        assert!(header_value("%HOSTNAME%").is_ok());
        assert!(header_value("x %REQ(:path)% y").is_ok());
        assert!(header_value("100%").is_err());
        assert!(header_value("%START_TIME").is_err());
        assert!(header_value("a\u{1}b").is_err());
    }

    #[test]
    fn sni_subsets() {
        assert!(host_subset_of("a.foo.com", "*.foo.com"));
        assert!(host_subset_of("*.a.foo.com", "*.foo.com"));
        assert!(!host_subset_of("*.foo.com", "a.foo.com"));
        assert!(!host_subset_of("*.com", "*.foo.com"));
    }
}
