//! Istio's validation of a DestinationRule (for IST0106/IST0133): host, subsets, exportTo,
//! workload selector and traffic policies (connection pool, outlier detection, load balancer,
//! client TLS, port-level settings, tunnel). The connection pool check is shared with Sidecar.

use std::collections::{HashMap, HashSet};

use mspack_yaml::Node;

use crate::istio::validation::common::{
    at, bool_field, enum_field, has_items, has_text, ip_address, key_of, workload_selector, wrapped,
};
use crate::istio::validation::{
    Problems, duration, export_to, field, float_value, fqdn, int, int_value, is_dns1123_label,
    labels, list, map_entries, parse_go_duration, port, text, wildcard_domain,
};
use crate::resource::Resource;

const CLIENT_TLS_MODES: &[&str] = &["DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL"];
const SIMPLE: usize = 1;
const MUTUAL: usize = 2;
const H2_UPGRADE: &[&str] = &["DEFAULT", "DO_NOT_UPGRADE", "UPGRADE"];
const TOPOLOGY_LABELS: &[&str] = &[
    "topology.kubernetes.io/region",
    "topology.kubernetes.io/zone",
    "topology.istio.io/subzone",
];

/// Every problem Istio's validation finds in a DestinationRule.
pub(crate) fn validate(dr: &Resource) -> Problems<'_> {
    let mut p = Problems::new();
    let Some(spec) = dr.spec() else {
        p.add(dr.anchor(), "empty domain name not allowed");
        return p;
    };
    p.add_err(at(spec, "host"), wildcard_domain(text(spec, "host")));
    if let Some(tp) = field(spec, "trafficPolicy") {
        traffic_policy(&dr.ns, tp, &mut p);
    }
    let mut names: HashSet<&str> = HashSet::new();
    for subset in list(spec, "subsets") {
        if subset.is_null() {
            p.add(subset, "subset may not be null");
            continue;
        }
        let name = text(subset, "name");
        let name_node = at(subset, "name");
        if !names.insert(name) {
            p.add(name_node, format!("duplicate subset names: {name}"));
        }
        // Istio keeps only the errors of a subset.
        p.errors_only(|p| {
            if name.is_empty() {
                p.add(name_node, "subset name cannot be empty");
            } else if !is_dns1123_label(name) {
                p.add(name_node, format!("subset name is invalid: {name}"));
            }
            labels(field(subset, "labels"), p);
            if let Some(tp) = field(subset, "trafficPolicy") {
                traffic_policy(&dr.ns, tp, p);
            }
        });
    }
    let selector = field(spec, "workloadSelector");
    export_to(&dr.ns, spec, false, selector.is_some(), &mut p);
    workload_selector(selector, &mut p);
    p
}

/// A `trafficPolicy` (of the rule or of a subset).
fn traffic_policy<'a>(ns: &str, tp: &'a Node, p: &mut Problems<'a>) {
    let has = |name: &str| field(tp, name).is_some();
    let port_level = list(tp, "portLevelSettings");
    if !has("outlierDetection")
        && !has("connectionPool")
        && !has("loadBalancer")
        && !has("tls")
        && port_level.is_empty()
        && !has("tunnel")
        && !has("proxyProtocol")
        && !has("retryBudget")
    {
        p.add(tp, "traffic policy must have at least one field");
        return;
    }
    if has("tunnel") && has("proxyProtocol") {
        p.add(tp, "tunnel and proxyProtocol must not be set together");
        return;
    }
    let outlier = field(tp, "outlierDetection");
    if let Some(od) = outlier {
        outlier_detection(od, p);
    }
    if let Some(cp) = field(tp, "connectionPool") {
        connection_pool(cp, p);
    }
    if let Some(lb) = field(tp, "loadBalancer") {
        load_balancer(lb, outlier, p);
    }
    if let Some(tls) = field(tp, "tls") {
        client_tls(ns, tls, p);
    }
    p.errors_only(|p| {
        for pl in port_level {
            port_traffic_policy(ns, pl, p);
        }
    });
    if let Some(tunnel) = field(tp, "tunnel") {
        tunnel_settings(tunnel, p);
    }
}

fn port_traffic_policy<'a>(ns: &str, pl: &'a Node, p: &mut Problems<'a>) {
    if pl.is_null() {
        p.add(pl, "traffic policy may not be null");
        return;
    }
    if field(pl, "port").is_none() {
        p.add(pl, "portTrafficPolicy must have valid port");
    }
    let outlier = field(pl, "outlierDetection");
    let pool = field(pl, "connectionPool");
    let lb = field(pl, "loadBalancer");
    let tls = field(pl, "tls");
    if outlier.is_none() && pool.is_none() && lb.is_none() && tls.is_none() {
        p.add(pl, "port traffic policy must have at least one field");
        return;
    }
    if let Some(od) = outlier {
        outlier_detection(od, p);
    }
    if let Some(cp) = pool {
        connection_pool(cp, p);
    }
    if let Some(lb) = lb {
        load_balancer(lb, outlier, p);
    }
    if let Some(tls) = tls {
        client_tls(ns, tls, p);
    }
}

fn percent<'a>(parent: &'a Node, name: &str, p: &mut Problems<'a>) {
    if let Some(node) = field(parent, name) {
        let v = int_value(node);
        if !(0..=100).contains(&v) {
            p.add(node, format!("percentage {v} is not in range 0..100"));
        }
    }
}

fn outlier_detection<'a>(od: &'a Node, p: &mut Problems<'a>) {
    if let Some(d) = field(od, "baseEjectionTime") {
        duration(d, p);
    }
    if int(od, "consecutiveErrors") != 0 {
        p.warn(
            at(od, "consecutiveErrors"),
            "outlier detection consecutiveErrors is deprecated: use consecutiveGatewayErrors or consecutive5xxErrors",
        );
    }
    let local_origin = wrapped(od, "consecutiveLocalOriginFailures").map_or(0, int_value);
    if !bool_field(od, "splitExternalLocalOriginErrors") && local_origin > 0 {
        p.add(
            at(od, "consecutiveLocalOriginFailures"),
            "outlier detection consecutiveLocalOriginFailures is set but splitExternalLocalOriginErrors is false",
        );
    }
    if let Some(d) = field(od, "interval") {
        duration(d, p);
    }
    percent(od, "maxEjectionPercent", p);
    percent(od, "minHealthPercent", p);
}

fn non_negative<'a>(parent: &'a Node, name: &str, what: &str, p: &mut Problems<'a>) {
    if let Some(node) = field(parent, name)
        && int_value(node) < 0
    {
        p.add(node, format!("{what} must be non-negative"));
    }
}

/// A `connectionPool` (DestinationRule, Sidecar inbound).
pub(crate) fn connection_pool<'a>(cp: &'a Node, p: &mut Problems<'a>) {
    let http = field(cp, "http");
    let tcp = field(cp, "tcp");
    if http.is_none() && tcp.is_none() {
        p.add(
            cp,
            "connection pool must have at least one field (http or tcp)",
        );
        return;
    }
    if let Some(h) = http {
        non_negative(
            h,
            "http1MaxPendingRequests",
            "http1 max pending requests",
            p,
        );
        non_negative(h, "http2MaxRequests", "http2 max requests", p);
        non_negative(
            h,
            "maxRequestsPerConnection",
            "max requests per connection",
            p,
        );
        non_negative(h, "maxRetries", "max retries", p);
        if let Some(d) = field(h, "idleTimeout") {
            duration(d, p);
        }
        if enum_field(h, "h2UpgradePolicy", H2_UPGRADE) == Some(2)
            && bool_field(h, "useClientProtocol")
        {
            p.add(
                at(h, "useClientProtocol"),
                "useClientProtocol must not be true when h2UpgradePolicy is UPGRADE",
            );
        }
        non_negative(h, "maxConcurrentStreams", "max concurrent streams", p);
        if let Some(ka) = field(h, "http2KeepAlive") {
            match field(ka, "interval") {
                Some(d) => duration(d, p),
                None => p.add(ka, "http2 keepalive interval is required"),
            }
            match field(ka, "timeout") {
                Some(d) => duration(d, p),
                None => p.add(ka, "http2 keepalive timeout is required"),
            }
        }
    }
    if let Some(t) = tcp {
        non_negative(t, "maxConnections", "max connections", p);
        for name in ["connectTimeout", "maxConnectionDuration"] {
            if let Some(d) = field(t, name) {
                duration(d, p);
            }
        }
        if let Some(d) = field(t, "idleTimeout") {
            // Under 1ms (such as 0s) turns the idle timeout off, which is allowed.
            let disabled = d
                .as_str()
                .and_then(parse_go_duration)
                .is_some_and(|n| n / 1_000_000 == 0);
            if !disabled {
                duration(d, p);
            }
        }
        if let Some(ka) = field(t, "tcpKeepalive") {
            for name in ["time", "interval"] {
                if let Some(d) = field(ka, name) {
                    duration(d, p);
                }
            }
        }
    }
}

/// Envoy's primality test for Maglev table sizes, exact for every `u64` (Miller-Rabin with the
/// bases that decide all 64-bit numbers), in constant time.
fn is_prime(x: u64) -> bool {
    if x < 4 {
        return x != 0;
    }
    if x.is_multiple_of(2) {
        return false;
    }
    let mul = |a: u64, b: u64| ((u128::from(a) * u128::from(b)) % u128::from(x)) as u64;
    let pow = |mut b: u64, mut e: u64| {
        let mut r = 1u64;
        b %= x;
        while e > 0 {
            if e & 1 == 1 {
                r = mul(r, b);
            }
            b = mul(b, b);
            e >>= 1;
        }
        r
    };
    let d = (x - 1) >> (x - 1).trailing_zeros();
    let s = (x - 1).trailing_zeros();
    'bases: for a in [2u64, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37] {
        if a % x == 0 {
            continue;
        }
        let mut v = pow(a, d);
        if v == 1 || v == x - 1 {
            continue;
        }
        for _ in 1..s {
            v = mul(v, v);
            if v == x - 1 {
                continue 'bases;
            }
        }
        return false;
    }
    true
}

fn load_balancer<'a>(lb: &'a Node, outlier: Option<&'a Node>, p: &mut Problems<'a>) {
    if let Some(ch) = field(lb, "consistentHash") {
        if let Some(cookie) = field(ch, "httpCookie") {
            if text(cookie, "name").is_empty() {
                p.add(cookie, "name required for httpCookie");
            }
            let mut names: HashSet<&str> = HashSet::new();
            for attr in list(cookie, "attributes") {
                let name = text(attr, "name");
                if name.is_empty() {
                    p.add(attr, "cookie attribute name cannot be empty");
                } else if !names.insert(name) {
                    p.add(
                        at(attr, "name"),
                        format!("duplicate cookie attribute name: {name}"),
                    );
                }
            }
        }
        let ring = int(ch, "minimumRingSize");
        if ring != 0 {
            p.warn(
                at(ch, "minimumRingSize"),
                "consistentHash.minimumRingSize is deprecated: use ringHash.minimumRingSize",
            );
            if field(ch, "ringHash").is_some() || field(ch, "maglev").is_some() {
                p.add(
                    at(ch, "minimumRingSize"),
                    "only one of minimumRingSize or maglev/ringHash can be specified",
                );
            }
        }
        if let Some(ml) = field(ch, "maglev") {
            let size_node = at(ml, "tableSize");
            let size = u64::try_from(int(ml, "tableSize")).unwrap_or(0);
            if size == 0 {
                p.add(size_node, "tableSize must be set for maglev");
            }
            if size >= 5_000_011 {
                p.add(size_node, "tableSize must be less than 5000011 for maglev");
            }
            if !is_prime(size) {
                p.add(size_node, "tableSize must be a prime number for maglev");
            }
        }
    }
    let locality = field(lb, "localityLbSetting");
    let zone_aware = field(lb, "zoneAwareLbSetting");
    if locality.is_some() && zone_aware.is_some() {
        p.add(
            lb,
            "only one of localityLbSetting and zoneAwareLbSetting can be set",
        );
    }
    if let Some(l) = locality {
        locality_lb(l, outlier, p);
    }
    if let Some(z) = zone_aware {
        zone_aware_lb(z, outlier, p);
    }
    if let Some(warm) = field(lb, "warmup") {
        match field(warm, "duration") {
            Some(d) => duration(d, p),
            None => p.add(warm, "warmup duration is required"),
        }
        if let Some(min) = wrapped(warm, "minimumPercent")
            && float_value(min) > 100.0
        {
            p.add(
                min,
                "minimumPercent value should be less than or equal to 100",
            );
        }
        if let Some(aggr) = wrapped(warm, "aggression")
            && float_value(aggr) <= 0.0
        {
            p.add(aggr, "aggression should be greater than 0");
        }
    }
}

fn locality_lb<'a>(lb: &'a Node, outlier: Option<&'a Node>, p: &mut Problems<'a>) {
    let distribute = list(lb, "distribute");
    let failover = list(lb, "failover");
    let priority = list(lb, "failoverPriority");
    if !distribute.is_empty() && !failover.is_empty() {
        p.add(
            lb,
            "can not simultaneously specify 'distribute' and 'failover'",
        );
        return;
    }
    if !failover.is_empty()
        && let Some(label) = priority
            .iter()
            .find(|l| TOPOLOGY_LABELS.contains(&l.as_str().unwrap_or("")))
    {
        p.add(
            label,
            format!(
                "can not simultaneously set 'failover' and topology label '{}' in 'failoverPriority'",
                label.as_str().unwrap_or("")
            ),
        );
        return;
    }
    let mut sources: Vec<(&str, &Node)> = Vec::new();
    for d in distribute {
        sources.push((text(d, "from"), at(d, "from")));
        let mut total: i64 = 0;
        let mut targets: Vec<(&str, &Node)> = Vec::new();
        for (loc, key, weight) in map_entries(d, "to") {
            targets.push((loc, key));
            let w = int_value(weight);
            if w <= 0 || w > 100 {
                p.add(weight, "locality weight must be in range [1, 100]");
                return;
            }
            total += w;
        }
        if total != 100 {
            p.add(at(d, "to"), format!("total locality weight {total} != 100"));
            return;
        }
        localities(&targets, p);
    }
    localities(&sources, p);
    if (!failover.is_empty() || !priority.is_empty()) && outlier.is_none() {
        p.warn(lb, "outlier detection policy must be provided for failover");
    }
    for f in failover {
        let (from, to) = (text(f, "from"), text(f, "to"));
        if from == to {
            p.add(
                f,
                "locality lb failover settings must specify different regions",
            );
        }
        if from.contains('/') || to.contains('/') {
            p.add(f, "locality lb failover only specify region");
        }
        if from.contains('*') || to.contains('*') {
            p.add(
                f,
                "locality lb failover region should not contain '*' wildcard",
            );
        }
    }
}

fn zone_aware_lb<'a>(lb: &'a Node, outlier: Option<&'a Node>, p: &mut Problems<'a>) {
    let failover = list(lb, "failover");
    let priority = list(lb, "failoverPriority");
    for label in priority {
        let l = label.as_str().unwrap_or("");
        if TOPOLOGY_LABELS.contains(&l) {
            p.add(
                label,
                format!(
                    "'failoverPriority' of zone aware lb must not use topology label '{l}': region and zone routing are automatic"
                ),
            );
        }
    }
    if (!failover.is_empty() || !priority.is_empty()) && outlier.is_none() {
        p.warn(lb, "outlier detection policy must be provided for failover");
    }
    for f in failover {
        let (from, to) = (text(f, "from"), text(f, "to"));
        if from == to {
            p.add(
                f,
                "zone aware lb failover settings must specify different regions",
            );
        }
        if from.contains('/') || to.contains('/') {
            p.add(
                f,
                "zone aware lb failover only specifies regions: zone and subzone failover are automatic",
            );
        }
        if from.contains('*') || to.contains('*') {
            p.add(
                f,
                "zone aware lb failover region should not contain '*' wildcard",
            );
        }
    }
}

/// Localities of one `distribute` list: `region[/zone[/subzone]]`, at most one trailing `*`, none
/// empty, none overlapping an earlier one. Istio stops at the first problem.
fn localities<'a>(items: &[(&str, &'a Node)], p: &mut Problems<'a>) {
    // region -> zone -> subzones; "*" marks "all".
    let mut seen: HashMap<&str, HashMap<&str, HashSet<&str>>> = HashMap::new();
    for &(locality, node) in items {
        let overlap = || format!("locality {locality} overlap with previous specified ones");
        let stars = locality.matches('*').count();
        if stars > 1 || (stars == 1 && !locality.ends_with('*')) {
            p.add(
                node,
                format!("locality {locality} wildcard '*' number can not exceed 1 and must be in the end"),
            );
            return;
        }
        if seen.contains_key("*") {
            p.add(node, overlap());
            return;
        }
        let parts: Vec<&str> = locality.splitn(3, '/').collect();
        if parts.iter().any(|s| s.is_empty()) {
            p.add(
                node,
                format!("locality {locality} must not contain empty region/zone/subzone info"),
            );
            return;
        }
        let region = parts[0];
        match parts.len() {
            1 => {
                if seen.contains_key(region) {
                    p.add(node, overlap());
                    return;
                }
                seen.insert(region, HashMap::from([("*", HashSet::from(["*"]))]));
            }
            2 => {
                let zone = parts[1];
                let zones = seen.entry(region).or_default();
                if zones.contains_key("*") || zones.contains_key(zone) {
                    p.add(node, overlap());
                    return;
                }
                zones.insert(zone, HashSet::from(["*"]));
            }
            _ => {
                let (zone, sub) = (parts[1], parts[2]);
                let zones = seen.entry(region).or_default();
                if zones.contains_key("*") {
                    p.add(node, overlap());
                    return;
                }
                let subs = zones.entry(zone).or_default();
                if subs.contains("*") || subs.contains(sub) {
                    p.add(node, overlap());
                    return;
                }
                subs.insert(sub);
            }
        }
    }
}

/// Client TLS settings of a DestinationRule (`tls`).
fn client_tls<'a>(ns: &str, tls: &'a Node, p: &mut Problems<'a>) {
    let credential = text(tls, "credentialName");
    if let Some(rest) = credential.strip_prefix("configmap://") {
        let cred_node = at(tls, "credentialName");
        let mut parts = rest.split('/');
        let (cm_ns, name) = (parts.next().unwrap_or(""), parts.next());
        match name {
            None => p.add(
                cred_node,
                format!("invalid configmap:// credentialName \"{credential}\": expected a namespace and a name"),
            ),
            Some(_) if cm_ns.is_empty() => p.add(
                cred_node,
                format!("invalid configmap:// credentialName \"{credential}\": expected a namespace"),
            ),
            Some("") => p.add(
                cred_node,
                format!("invalid configmap:// credentialName \"{credential}\": expected a name"),
            ),
            Some(_) if cm_ns != ns || ns.is_empty() => p.add(
                cred_node,
                format!("invalid configmap:// credentialName: its namespace must be the DestinationRule's namespace \"{ns}\""),
            ),
            Some(_) => {}
        }
    }
    let Some(mode) = enum_field(tls, "mode", CLIENT_TLS_MODES) else {
        return;
    };
    let has = |name: &str| has_text(tls, name);
    let sans = has_items(tls, "subjectAltNames");
    let skip_verify = wrapped(tls, "insecureSkipVerify")
        .is_some_and(|v| v.as_bool() == Some(true) || v.as_str() == Some("true"));
    if skip_verify {
        let node = key_of(tls, "insecureSkipVerify");
        if mode == SIMPLE && (has("caCertificates") || has("credentialName") || sans) {
            p.add(
                node,
                "cannot specify caCertificates, credentialName or subjectAltNames when insecureSkipVerify is true",
            );
        }
        if mode == MUTUAL && (has("caCertificates") || sans) {
            p.add(
                node,
                "cannot specify caCertificates or subjectAltNames when insecureSkipVerify is true",
            );
        }
    }
    if (mode == SIMPLE || mode == MUTUAL) && has("credentialName") {
        if has("clientCertificate") || has("caCertificates") || has("privateKey") || has("caCrl") {
            p.add(
                at(tls, "credentialName"),
                "cannot specify client certificates, CA certificate or CA CRL when credentialName is set",
            );
        }
        return;
    }
    if mode == MUTUAL {
        if !has("clientCertificate") {
            p.add(
                at(tls, "mode"),
                "client certificate required for mutual tls",
            );
        }
        if !has("privateKey") {
            p.add(at(tls, "mode"), "private key required for mutual tls");
        }
    }
}

fn tunnel_settings<'a>(tunnel: &'a Node, p: &mut Problems<'a>) {
    let protocol = text(tunnel, "protocol");
    if !protocol.is_empty() && protocol != "CONNECT" && protocol != "POST" {
        p.add(
            at(tunnel, "protocol"),
            "tunnel protocol must be \"CONNECT\" or \"POST\"",
        );
    }
    let host = text(tunnel, "targetHost");
    if let (Err(f), Err(i)) = (fqdn(host), ip_address(host)) {
        p.add(
            at(tunnel, "targetHost"),
            format!("tunnel target host must be valid FQDN or IP address: {f}; {i}"),
        );
    }
    if let Err(e) = port(int(tunnel, "targetPort")) {
        p.add(
            at(tunnel, "targetPort"),
            format!("tunnel target port is invalid: {e}"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::is_prime;

    #[test]
    fn maglev_table_sizes() {
        assert!(is_prime(65537) && is_prime(2) && is_prime(3) && is_prime(5_000_011));
        assert!(!is_prime(0) && !is_prime(65536) && !is_prime(65535) && !is_prime(4));
        assert!(is_prime(18_446_744_073_709_551_557) && !is_prime(u64::MAX));
    }
}
