//! Istio's annotation catalogue, as facts: every annotation istio.io/api defines (name, feature
//! status, whether it is deprecated, the resource kinds it belongs on), and the value checks the
//! sidecar injector applies to some of them. Read from istio/api `annotation/annotations.yaml`
//! (an annotation without a feature status there is Alpha) and istio/istio
//! `pkg/kube/inject/validate.go`; the checks below are our own code. Also how the annotation
//! analyzers read annotations off resources.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use mspack_yaml::{Limits, Node, SourceFile, parse_file};

use crate::resource::{Kind, Resource};

/// The kinds whose annotations Istio's annotation analyzers read.
pub const ANNOTATED_KINDS: &[Kind] = &[Kind::Namespace, Kind::Service, Kind::Pod, Kind::Deployment];

/// The kind name Istio's annotation analyzers know `resource` by, if they read its annotations
/// (a Deployment of group `apps` only).
pub fn annotated_kind(resource: &Resource) -> Option<&'static str> {
    match resource.kind {
        Kind::Namespace => Some("Namespace"),
        Kind::Service => Some("Service"),
        Kind::Pod => Some("Pod"),
        Kind::Deployment if resource.group == "apps" => Some("Deployment"),
        _ => None,
    }
}

/// The annotations of a resource as Kubernetes reads them (a later duplicate key wins).
pub fn annotations(resource: &Resource) -> Vec<(&str, &Node, &Node)> {
    let mut out: Vec<(&str, &Node, &Node)> = Vec::new();
    for (key, key_node, value) in resource.annotations().into_iter().flat_map(Node::entries) {
        out.retain(|(k, _, _)| *k != key);
        out.push((key, key_node, value));
    }
    out
}

/// Maturity of the feature an annotation belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Alpha,
    Beta,
    Stable,
}

use Status::{Alpha, Beta, Stable};

/// One annotation of the catalogue.
#[derive(Debug)]
pub struct AnnotationDef {
    pub name: &'static str,
    pub status: Status,
    pub deprecated: bool,
    /// Kinds it may be set on, in catalogue order; `Any` for every kind.
    pub resources: &'static [&'static str],
}

const fn def(
    name: &'static str,
    status: Status,
    deprecated: bool,
    resources: &'static [&'static str],
) -> AnnotationDef {
    AnnotationDef {
        name,
        status,
        deprecated,
        resources,
    }
}

/// Sorted by name (binary search).
static CATALOGUE: &[AnnotationDef] = &[
    def(
        "alpha.istio.io/canonical-serviceaccounts",
        Alpha,
        true,
        &["Service"],
    ),
    def(
        "alpha.istio.io/kubernetes-serviceaccounts",
        Alpha,
        true,
        &["Service"],
    ),
    def(
        "ambient.istio.io/bypass-inbound-capture",
        Alpha,
        false,
        &["Pod"],
    ),
    def("ambient.istio.io/dns-capture", Alpha, false, &["Pod"]),
    def("ambient.istio.io/redirection", Beta, false, &["Pod"]),
    def(
        "ambient.istio.io/waypoint-inbound-binding",
        Alpha,
        false,
        &["GatewayClass", "Gateway"],
    ),
    def("galley.istio.io/analyze-suppress", Alpha, false, &["Any"]),
    def(
        "gateway.istio.io/controller-version",
        Alpha,
        false,
        &["Any"],
    ),
    def("gateway.istio.io/name-override", Alpha, false, &["Gateway"]),
    def(
        "gateway.istio.io/service-account",
        Alpha,
        false,
        &["Gateway"],
    ),
    def("inject.istio.io/templates", Alpha, false, &["Pod"]),
    def(
        "istio.io/autoRegistrationGroup",
        Alpha,
        false,
        &["WorkloadEntry"],
    ),
    def("istio.io/connectedAt", Alpha, false, &["WorkloadEntry"]),
    def("istio.io/disconnectedAt", Alpha, false, &["WorkloadEntry"]),
    def("istio.io/dry-run", Alpha, false, &["AuthorizationPolicy"]),
    def(
        "istio.io/reroute-virtual-interfaces",
        Alpha,
        false,
        &["Pod"],
    ),
    def("istio.io/rev", Alpha, false, &["Pod"]),
    def(
        "istio.io/use-waypoint-canary-weight",
        Alpha,
        false,
        &["Service", "ServiceEntry", "Namespace"],
    ),
    def(
        "istio.io/workloadController",
        Alpha,
        false,
        &["WorkloadEntry"],
    ),
    def("kubernetes.io/ingress.class", Stable, false, &["Ingress"]),
    def("networking.istio.io/exportTo", Alpha, false, &["Service"]),
    def(
        "networking.istio.io/service-type",
        Alpha,
        false,
        &["Gateway"],
    ),
    def(
        "networking.istio.io/traffic-distribution",
        Alpha,
        false,
        &["Namespace", "Service", "ServiceEntry"],
    ),
    def("prometheus.istio.io/merge-metrics", Alpha, false, &["Pod"]),
    def("proxy.istio.io/config", Beta, false, &["Pod"]),
    def("proxy.istio.io/overrides", Alpha, false, &["Pod"]),
    def(
        "readiness.status.sidecar.istio.io/applicationPorts",
        Alpha,
        false,
        &["Pod"],
    ),
    def(
        "readiness.status.sidecar.istio.io/failureThreshold",
        Alpha,
        false,
        &["Pod"],
    ),
    def(
        "readiness.status.sidecar.istio.io/initialDelaySeconds",
        Alpha,
        false,
        &["Pod"],
    ),
    def(
        "readiness.status.sidecar.istio.io/periodSeconds",
        Alpha,
        false,
        &["Pod"],
    ),
    def("sidecar.istio.io/agentLogLevel", Alpha, false, &["Pod"]),
    def("sidecar.istio.io/bootstrapOverride", Alpha, false, &["Pod"]),
    def("sidecar.istio.io/componentLogLevel", Alpha, false, &["Pod"]),
    def("sidecar.istio.io/discoveryAddress", Alpha, true, &["Pod"]),
    def("sidecar.istio.io/extraStatTags", Alpha, true, &["Pod"]),
    def("sidecar.istio.io/inject", Beta, true, &["Pod"]),
    def("sidecar.istio.io/interceptionMode", Alpha, false, &["Pod"]),
    def("sidecar.istio.io/logLevel", Alpha, false, &["Pod"]),
    def("sidecar.istio.io/nativeSidecar", Alpha, false, &["Pod"]),
    def("sidecar.istio.io/proxyCPU", Alpha, false, &["Pod"]),
    def("sidecar.istio.io/proxyCPULimit", Alpha, false, &["Pod"]),
    def("sidecar.istio.io/proxyImage", Alpha, false, &["Pod"]),
    def("sidecar.istio.io/proxyImageType", Alpha, false, &["Pod"]),
    def("sidecar.istio.io/proxyMemory", Alpha, false, &["Pod"]),
    def("sidecar.istio.io/proxyMemoryLimit", Alpha, false, &["Pod"]),
    def(
        "sidecar.istio.io/rewriteAppHTTPProbers",
        Alpha,
        false,
        &["Pod"],
    ),
    def("sidecar.istio.io/statsCompression", Alpha, true, &["Pod"]),
    def(
        "sidecar.istio.io/statsEvictionInterval",
        Alpha,
        false,
        &["Pod"],
    ),
    def(
        "sidecar.istio.io/statsFlushInterval",
        Alpha,
        false,
        &["Pod"],
    ),
    def(
        "sidecar.istio.io/statsHistogramBins",
        Alpha,
        false,
        &["Pod"],
    ),
    def(
        "sidecar.istio.io/statsHistogramBuckets",
        Alpha,
        false,
        &["Pod"],
    ),
    def(
        "sidecar.istio.io/statsInclusionPrefixes",
        Alpha,
        true,
        &["Pod"],
    ),
    def(
        "sidecar.istio.io/statsInclusionRegexps",
        Alpha,
        true,
        &["Pod"],
    ),
    def(
        "sidecar.istio.io/statsInclusionSuffixes",
        Alpha,
        true,
        &["Pod"],
    ),
    def("sidecar.istio.io/status", Alpha, false, &["Pod"]),
    def("sidecar.istio.io/userVolume", Alpha, false, &["Pod"]),
    def("sidecar.istio.io/userVolumeMount", Alpha, false, &["Pod"]),
    def("status.sidecar.istio.io/port", Alpha, false, &["Pod"]),
    def(
        "topology.istio.io/controlPlaneClusters",
        Alpha,
        false,
        &["Namespace"],
    ),
    def("traffic.istio.io/nodeSelector", Stable, false, &["Service"]),
    def(
        "traffic.sidecar.istio.io/excludeInboundPorts",
        Alpha,
        false,
        &["Pod"],
    ),
    def(
        "traffic.sidecar.istio.io/excludeInterfaces",
        Alpha,
        false,
        &["Pod"],
    ),
    def(
        "traffic.sidecar.istio.io/excludeOutboundIPRanges",
        Alpha,
        false,
        &["Pod"],
    ),
    def(
        "traffic.sidecar.istio.io/excludeOutboundPorts",
        Alpha,
        false,
        &["Pod"],
    ),
    def(
        "traffic.sidecar.istio.io/includeInboundPorts",
        Alpha,
        false,
        &["Pod"],
    ),
    def(
        "traffic.sidecar.istio.io/includeOutboundIPRanges",
        Alpha,
        false,
        &["Pod"],
    ),
    def(
        "traffic.sidecar.istio.io/includeOutboundPorts",
        Alpha,
        false,
        &["Pod"],
    ),
    def(
        "traffic.sidecar.istio.io/kubevirtInterfaces",
        Alpha,
        true,
        &["Pod"],
    ),
];

/// The catalogue entry of an annotation.
pub fn lookup(name: &str) -> Option<&'static AnnotationDef> {
    CATALOGUE
        .binary_search_by(|d| d.name.cmp(name))
        .ok()
        .map(|i| &CATALOGUE[i])
}

/// Whether Istio's analyzers treat an annotation key as Istio's: `kubernetes.io/ingress.class`
/// (which Istio documents) and every key whose prefix (before `/`) ends in `istio.io`.
pub fn is_istio_annotation(key: &str) -> bool {
    key == "kubernetes.io/ingress.class"
        || key
            .split('/')
            .next()
            .is_some_and(|prefix| prefix.ends_with("istio.io"))
}

/// Annotations istiod or controllers set themselves; the analyzers never report them.
pub const ALWAYS_IGNORED: &[&str] = &[
    "sidecar.istio.io/status",
    "gateway.istio.io/controller-version",
    "istio.io/rev",
];

/// Annotations istio-cni sets on Pods; not reported as alpha on Pods without an `istio-init`
/// init container.
pub const SET_BY_CNI: &[&str] = &[
    "sidecar.istio.io/interceptionMode",
    "traffic.sidecar.istio.io/includeInboundPorts",
    "traffic.sidecar.istio.io/excludeInboundPorts",
    "traffic.sidecar.istio.io/includeOutboundIPRanges",
];

/// Check an annotation value as the sidecar injector does. `None` when the annotation has no
/// value check; `Some(Err(problem))` when the value is rejected.
pub fn validate(name: &str, value: &str) -> Option<Result<(), String>> {
    let result = match name {
        "sidecar.istio.io/interceptionMode" => match value {
            "REDIRECT" | "TPROXY" | "NONE" => Ok(()),
            _ => Err(format!(
                "interception mode must be REDIRECT, TPROXY or NONE, not {value:?}"
            )),
        },
        "status.sidecar.istio.io/port" => parse_port(value).map(|_| ()),
        "readiness.status.sidecar.istio.io/initialDelaySeconds"
        | "readiness.status.sidecar.istio.io/periodSeconds"
        | "readiness.status.sidecar.istio.io/failureThreshold" => parse_u32(value),
        "traffic.sidecar.istio.io/includeOutboundIPRanges" if value == "*" => Ok(()),
        "traffic.sidecar.istio.io/includeOutboundIPRanges"
        | "traffic.sidecar.istio.io/excludeOutboundIPRanges" => cidr_list(value),
        "traffic.sidecar.istio.io/includeInboundPorts" if value == "*" => Ok(()),
        "traffic.sidecar.istio.io/includeInboundPorts"
        | "traffic.sidecar.istio.io/excludeInboundPorts"
        | "traffic.sidecar.istio.io/excludeOutboundPorts" => port_list(value),
        "traffic.sidecar.istio.io/excludeInterfaces"
        | "traffic.sidecar.istio.io/kubevirtInterfaces"
        | "istio.io/reroute-virtual-interfaces" => interface_names(value),
        "prometheus.istio.io/merge-metrics" => match value {
            "1" | "t" | "T" | "TRUE" | "true" | "True" | "0" | "f" | "F" | "FALSE" | "false"
            | "False" => Ok(()),
            _ => Err(format!("{value:?} is not a boolean")),
        },
        "proxy.istio.io/config" => proxy_config(value),
        "sidecar.istio.io/proxyCPU"
        | "sidecar.istio.io/proxyMemory"
        | "sidecar.istio.io/proxyCPULimit"
        | "sidecar.istio.io/proxyMemoryLimit" => quantity(value),
        _ => return None,
    };
    Some(result)
}

fn parse_u32(value: &str) -> Result<(), String> {
    let ok = !value.is_empty()
        && value.bytes().all(|b| b.is_ascii_digit())
        && value.parse::<u32>().is_ok();
    if ok {
        Ok(())
    } else {
        Err(format!("{value:?} is not an unsigned 32-bit integer"))
    }
}

fn parse_port(value: &str) -> Result<u16, String> {
    let v = value.trim();
    if !v.is_empty()
        && v.bytes().all(|b| b.is_ascii_digit())
        && let Ok(port) = v.parse::<u16>()
    {
        return Ok(port);
    }
    Err(format!("{value:?} is not a port number"))
}

fn port_list(value: &str) -> Result<(), String> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(());
    }
    v.split(',').try_for_each(|p| parse_port(p).map(|_| ()))
}

fn cidr_list(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Ok(());
    }
    value.split(',').try_for_each(|c| {
        if parse_prefix(c) {
            Ok(())
        } else {
            Err(format!("{c:?} is not a CIDR range"))
        }
    })
}

/// Go's `netip.ParsePrefix`: an address, `/`, and a bit count without sign or leading zeros.
fn parse_prefix(text: &str) -> bool {
    let Some((addr, bits)) = text.rsplit_once('/') else {
        return false;
    };
    if bits.is_empty()
        || !bits.bytes().all(|b| b.is_ascii_digit())
        || (bits.len() > 1 && bits.starts_with('0'))
    {
        return false;
    }
    let Ok(bits) = bits.parse::<u32>() else {
        return false;
    };
    if addr.parse::<Ipv4Addr>().is_ok() {
        return bits <= 32 && !addr.split('.').any(|o| o.len() > 1 && o.starts_with('0'));
    }
    addr.parse::<Ipv6Addr>().is_ok() && bits <= 128
}

fn interface_names(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Ok(());
    }
    for name in value.split(',').map(str::trim) {
        if name.is_empty() {
            return Err("empty interface name".into());
        }
        if name.len() > 15 {
            return Err(format!(
                "interface name {name:?} is longer than 15 characters"
            ));
        }
        let mut chars = name.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
        if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')) {
            return Err(format!("interface name {name:?} has invalid characters"));
        }
    }
    Ok(())
}

/// A Kubernetes resource quantity: a signed decimal number and an optional suffix (binary
/// `Ki`..`Ei`, decimal `n u m k M G T P E`, or an exponent `e3`/`E-2`).
fn quantity(value: &str) -> Result<(), String> {
    let bad = || Err(format!("{value:?} is not a resource quantity"));
    let rest = value.strip_prefix(['+', '-']).unwrap_or(value);
    let number_len = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let (number, suffix) = rest.split_at(number_len);
    let valid_number =
        number.matches('.').count() <= 1 && number.bytes().any(|b| b.is_ascii_digit());
    if !valid_number {
        return bad();
    }
    const SUFFIXES: &[&str] = &[
        "", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "n", "u", "m", "k", "M", "G", "T", "P", "E",
    ];
    if SUFFIXES.contains(&suffix) {
        return Ok(());
    }
    let exponent = suffix
        .strip_prefix(['e', 'E'])
        .map(|e| e.strip_prefix(['+', '-']).unwrap_or(e));
    match exponent {
        Some(e) if !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()) => Ok(()),
        _ => bad(),
    }
}

/// `proxy.istio.io/config`: YAML for a ProxyConfig, applied over the defaults and validated. We
/// check that it parses as a mapping and the fields the validation most often rejects: paths and
/// service cluster set, ports in range, addresses of the form `host:port`, the drain duration,
/// the control-plane auth policy.
fn proxy_config(value: &str) -> Result<(), String> {
    let source = Arc::new(SourceFile::new("proxy.istio.io/config", value));
    let parsed = parse_file(source, &Limits::default());
    if let Some(e) = parsed.error {
        return Err(format!("not valid YAML: {}", e.message));
    }
    let Some(root) = parsed
        .documents
        .into_iter()
        .map(|d| d.root)
        .find(|r| !r.is_null())
    else {
        return Ok(());
    };
    if root.as_map().is_none() {
        return Err(format!(
            "must be a mapping of ProxyConfig fields, found {}",
            root.type_name()
        ));
    }
    let string = |key: &str| -> Result<Option<&str>, String> {
        match root.get(key) {
            None => Ok(None),
            Some(n) if n.is_null() => Ok(None),
            Some(n) => n
                .scalar()
                .map(|s| Some(s.text.as_str()))
                .ok_or_else(|| format!("{key} must be a string")),
        }
    };
    for key in ["configPath", "binaryPath", "serviceCluster"] {
        if string(key)? == Some("") {
            return Err(format!("{key} must not be empty"));
        }
    }
    match string("discoveryAddress")? {
        Some("") => return Err("discoveryAddress must be set".into()),
        Some(addr) => proxy_address(addr).map_err(|e| format!("invalid discoveryAddress: {e}"))?,
        None => {}
    }
    for key in ["statsdUdpAddress", "envoyMetricsServiceAddress"] {
        if let Some(addr) = string(key)?.filter(|a| !a.is_empty()) {
            proxy_address(addr).map_err(|e| format!("invalid {key}: {e}"))?;
        }
    }
    for key in ["envoyMetricsService", "envoyAccessLogService"] {
        if let Some(addr) = root
            .path(&[key, "address"])
            .and_then(Node::as_str)
            .filter(|a| !a.is_empty())
        {
            proxy_address(addr).map_err(|e| format!("invalid {key}.address: {e}"))?;
        }
    }
    for key in ["proxyAdminPort", "statusPort"] {
        if let Some(n) = root.get(key).filter(|n| !n.is_null()) {
            let port = n
                .as_i64()
                .or_else(|| n.as_str().and_then(|s| s.parse().ok()))
                .ok_or_else(|| format!("{key} must be an integer"))?;
            if !(1..=65535).contains(&port) {
                return Err(format!("{key} {port} is not in 1..65535"));
            }
        }
    }
    if let Some(policy) = string("controlPlaneAuthPolicy")?
        && !matches!(policy, "NONE" | "MUTUAL_TLS" | "0" | "1")
    {
        return Err(format!("unrecognized controlPlaneAuthPolicy {policy:?}"));
    }
    if let Some(drain) = string("drainDuration")? {
        drain_duration(drain)?;
    }
    if let Some(n) = root.get("concurrency").filter(|n| !n.is_null())
        && n.as_i64().is_none()
        && n.as_str().and_then(|s| s.parse::<i64>().ok()).is_none()
    {
        return Err("concurrency must be an integer".into());
    }
    Ok(())
}

/// A protobuf JSON duration (`45s`, `1.5s`) of at least 1ms, in whole seconds.
fn drain_duration(text: &str) -> Result<(), String> {
    let bad = || {
        Err(format!(
            "drainDuration {text:?} is not a duration such as \"45s\""
        ))
    };
    let Some(number) = text.strip_suffix('s') else {
        return bad();
    };
    let negative = number.starts_with('-');
    let digits = number.trim_start_matches('-');
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() && fraction.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
        || fraction.len() > 9
    {
        return bad();
    }
    let seconds: u64 = if whole.is_empty() {
        0
    } else {
        whole
            .parse()
            .map_err(|_| "drainDuration is too large".to_string())?
    };
    let nanos: u64 = format!("{fraction:0<9}").parse().unwrap_or(0);
    if negative || (seconds == 0 && nanos < 1_000_000) {
        return Err("drainDuration must be at least 1ms".into());
    }
    if nanos != 0 {
        return Err("drainDuration supports whole seconds only".into());
    }
    Ok(())
}

/// `host:port` with a port in 1..65535 and a DNS name or IP address as host.
fn proxy_address(addr: &str) -> Result<(), String> {
    let (host, port) = if let Some(rest) = addr.strip_prefix('[') {
        let (host, rest) = rest
            .split_once(']')
            .ok_or_else(|| format!("cannot split {addr:?} into host and port"))?;
        let port = rest
            .strip_prefix(':')
            .ok_or_else(|| format!("cannot split {addr:?} into host and port"))?;
        (host, port)
    } else {
        let (host, port) = addr
            .rsplit_once(':')
            .ok_or_else(|| format!("cannot split {addr:?} into host and port"))?;
        if host.contains(':') {
            return Err(format!("cannot split {addr:?} into host and port"));
        }
        (host, port)
    };
    let port: i64 = port
        .parse()
        .map_err(|_| format!("port {port:?} is not a number"))?;
    if !(1..=65535).contains(&port) {
        return Err(format!("port {port} is not in 1..65535"));
    }
    if dns_name(host) || host.parse::<IpAddr>().is_ok() {
        Ok(())
    } else {
        Err(format!("{host:?} is not a host name or an IP address"))
    }
}

use mspack_model::names::is_dns_name as dns_name;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_is_sorted_and_found() {
        assert!(CATALOGUE.windows(2).all(|w| w[0].name < w[1].name));
        assert_eq!(
            lookup("proxy.istio.io/config").map(|d| d.status),
            Some(Beta)
        );
        assert!(lookup("sidecar.istio.io/statsInclusionPrefixes").is_some_and(|d| d.deprecated));
        assert!(lookup("networking.istio.io/exportThree").is_none());
        assert_eq!(
            lookup("kubernetes.io/ingress.class").map(|d| d.resources),
            Some(&["Ingress"][..])
        );
        let _ = Stable;
    }

    #[test]
    fn values_are_checked_like_the_injector() {
        let ok = |n: &str, v: &str| validate(n, v) == Some(Ok(()));
        assert!(ok("readiness.status.sidecar.istio.io/periodSeconds", "10"));
        assert!(!ok(
            "readiness.status.sidecar.istio.io/initialDelaySeconds",
            "bar"
        ));
        assert!(!ok(
            "readiness.status.sidecar.istio.io/initialDelaySeconds",
            "+5"
        ));
        assert!(ok(
            "traffic.sidecar.istio.io/excludeInboundPorts",
            "15020, 8080"
        ));
        assert!(ok("traffic.sidecar.istio.io/includeInboundPorts", "*"));
        assert!(!ok("traffic.sidecar.istio.io/excludeInboundPorts", "*"));
        assert!(!ok(
            "traffic.sidecar.istio.io/excludeOutboundPorts",
            "70000"
        ));
        assert!(ok("traffic.sidecar.istio.io/includeOutboundIPRanges", "*"));
        assert!(ok(
            "traffic.sidecar.istio.io/excludeOutboundIPRanges",
            "10.0.0.0/8,fd00::/8"
        ));
        assert!(!ok(
            "traffic.sidecar.istio.io/excludeOutboundIPRanges",
            "10.0.0.0/8, 10.1.0.0/16"
        ));
        assert!(!ok(
            "traffic.sidecar.istio.io/excludeOutboundIPRanges",
            "10.0.0.0/08"
        ));
        assert!(!ok(
            "traffic.sidecar.istio.io/excludeOutboundIPRanges",
            "010.0.0.0/8"
        ));
        assert!(ok(
            "traffic.sidecar.istio.io/excludeInterfaces",
            "eth1, veth_2"
        ));
        assert!(!ok("traffic.sidecar.istio.io/excludeInterfaces", "eth1,"));
        assert!(ok("sidecar.istio.io/interceptionMode", "TPROXY"));
        assert!(!ok("sidecar.istio.io/interceptionMode", "redirect"));
        assert!(ok("sidecar.istio.io/proxyCPU", "100m"));
        assert!(ok("sidecar.istio.io/proxyMemory", "1.5Gi"));
        assert!(ok("sidecar.istio.io/proxyMemoryLimit", "1e3"));
        assert!(!ok("sidecar.istio.io/proxyMemory", "1GB"));
        assert!(!ok("sidecar.istio.io/proxyCPU", ""));
        assert!(ok("prometheus.istio.io/merge-metrics", "false"));
        assert!(!ok("prometheus.istio.io/merge-metrics", "no"));
        assert!(ok("proxy.istio.io/config", "{}"));
        assert!(ok(
            "proxy.istio.io/config",
            "concurrency: 2\ndrainDuration: 30s\n"
        ));
        assert!(!ok("proxy.istio.io/config", "drainDuration: 1.5s"));
        assert!(!ok("proxy.istio.io/config", "statusPort: 0"));
        assert!(!ok("proxy.istio.io/config", "discoveryAddress: istiod"));
        assert!(ok(
            "proxy.istio.io/config",
            "discoveryAddress: istiod.istio-system.svc:15012"
        ));
        assert!(!ok("proxy.istio.io/config", "just text"));
        assert_eq!(validate("networking.istio.io/exportTo", "anything"), None);
    }
}
