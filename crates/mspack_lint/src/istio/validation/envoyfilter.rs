//! Istio's validation of an EnvoyFilter (for IST0106/IST0133): the workload selector and each
//! config patch (applyTo, patch operation and value, proxy version regex, whether the match
//! fits what the patch applies to, filter names) and the Envoy types its value references.

use mspack_yaml::{Node, Value};

use crate::istio::validation::common::{alpha_workload_selector, at, enum_field, key_of};
use crate::istio::validation::{Problems, field, list, regex, text};
use crate::resource::Resource;

/// `EnvoyFilter.ApplyTo` names, in enum order.
pub(crate) const APPLY_TO: &[&str] = &[
    "INVALID",
    "LISTENER",
    "FILTER_CHAIN",
    "NETWORK_FILTER",
    "HTTP_FILTER",
    "ROUTE_CONFIGURATION",
    "VIRTUAL_HOST",
    "HTTP_ROUTE",
    "CLUSTER",
    "EXTENSION_CONFIG",
    "BOOTSTRAP",
    "LISTENER_FILTER",
];
const LISTENER: usize = 1;
const FILTER_CHAIN: usize = 2;
const NETWORK_FILTER: usize = 3;
const HTTP_FILTER: usize = 4;
const ROUTE_CONFIGURATION: usize = 5;
const HTTP_ROUTE: usize = 7;
const CLUSTER: usize = 8;
const CONTEXTS: &[&str] = &[
    "ANY",
    "SIDECAR_INBOUND",
    "SIDECAR_OUTBOUND",
    "GATEWAY",
    "WAYPOINT",
];
const WAYPOINT: usize = 4;
/// `EnvoyFilter.Patch.Operation` names, in enum order.
pub(crate) const OPERATIONS: &[&str] = &[
    "INVALID",
    "MERGE",
    "ADD",
    "REMOVE",
    "INSERT_BEFORE",
    "INSERT_AFTER",
    "INSERT_FIRST",
    "REPLACE",
    "MERGE_AND_REPLACE_LIST",
];
const REMOVE: usize = 3;
const HTTP_CONNECTION_MANAGER: &str = "envoy.filters.network.http_connection_manager";

/// Filter names Envoy deprecated, with their canonical names.
const DEPRECATED_FILTER_NAMES: &[(&str, &str)] = &[
    ("envoy.buffer", "envoy.filters.http.buffer"),
    ("envoy.cors", "envoy.filters.http.cors"),
    ("envoy.csrf", "envoy.filters.http.csrf"),
    ("envoy.http_dynamo_filter", "envoy.filters.http.dynamo"),
    (
        "envoy.ext_authz",
        "envoy.filters.http.ext_authz or envoy.filters.network.ext_authz",
    ),
    ("envoy.fault", "envoy.filters.http.fault"),
    (
        "envoy.grpc_http1_bridge",
        "envoy.filters.http.grpc_http1_bridge",
    ),
    (
        "envoy.grpc_json_transcoder",
        "envoy.filters.http.grpc_json_transcoder",
    ),
    ("envoy.grpc_web", "envoy.filters.http.grpc_web"),
    ("envoy.gzip", "envoy.filters.http.gzip"),
    ("envoy.health_check", "envoy.filters.http.health_check"),
    ("envoy.ip_tagging", "envoy.filters.http.ip_tagging"),
    ("envoy.lua", "envoy.filters.http.lua"),
    ("envoy.rate_limit", "envoy.filters.http.ratelimit"),
    ("envoy.router", "envoy.filters.http.router"),
    ("envoy.squash", "envoy.filters.http.squash"),
    (
        "envoy.listener.http_inspector",
        "envoy.filters.listener.http_inspector",
    ),
    (
        "envoy.listener.original_dst",
        "envoy.filters.listener.original_dst",
    ),
    (
        "envoy.listener.original_src",
        "envoy.filters.listener.original_src",
    ),
    (
        "envoy.listener.proxy_protocol",
        "envoy.filters.listener.proxy_protocol",
    ),
    (
        "envoy.listener.tls_inspector",
        "envoy.filters.listener.tls_inspector",
    ),
    (
        "envoy.client_ssl_auth",
        "envoy.filters.network.client_ssl_auth",
    ),
    ("envoy.http_connection_manager", HTTP_CONNECTION_MANAGER),
    ("envoy.mongo_proxy", "envoy.filters.network.mongo_proxy"),
    ("envoy.ratelimit", "envoy.filters.network.ratelimit"),
    ("envoy.redis_proxy", "envoy.filters.network.redis_proxy"),
    ("envoy.tcp_proxy", "envoy.filters.network.tcp_proxy"),
];

/// Every problem Istio's validation finds in an EnvoyFilter.
pub(crate) fn validate(ef: &Resource) -> Problems<'_> {
    let mut p = Problems::new();
    let Some(spec) = ef.spec() else {
        return p;
    };
    if alpha_workload_selector(field(spec, "workloadSelector"), &mut p) {
        p.warnings.clear();
        return p;
    }
    for cp in list(spec, "configPatches") {
        if cp.is_null() {
            p.add(cp, "Envoy filter: null config patch");
            continue;
        }
        config_patch(cp, &mut p);
    }
    p
}

fn config_patch<'a>(cp: &'a Node, p: &mut Problems<'a>) {
    let m = field(cp, "match");
    if m.is_some_and(|m| enum_field(m, "context", CONTEXTS) == Some(WAYPOINT)) {
        return;
    }
    let Some(apply_to) = enum_field(cp, "applyTo", APPLY_TO) else {
        return;
    };
    if apply_to == 0 {
        p.add(cp, "Envoy filter: missing applyTo");
        return;
    }
    let Some(patch) = field(cp, "patch") else {
        p.add(cp, "Envoy filter: missing patch");
        return;
    };
    let Some(operation) = enum_field(patch, "operation", OPERATIONS) else {
        return;
    };
    if operation == 0 {
        p.add(patch, "Envoy filter: missing patch operation");
        return;
    }
    let value = field(patch, "value");
    if operation != REMOVE && value.is_none() {
        p.add(
            patch,
            "Envoy filter: missing patch value for non-remove operation",
        );
        return;
    }
    if let Some(version) = m
        .and_then(|m| field(m, "proxy"))
        .and_then(|pr| field(pr, "proxyVersion"))
    {
        let v = version.as_str().unwrap_or("");
        if v.len() > 1024 {
            p.warn(
                version,
                "Envoy filter: proxyVersion match exceeds 1024 characters and will be ignored",
            );
        } else if !v.is_empty()
            && let Err(e) = regex(v)
        {
            p.add(
                version,
                format!("Envoy filter: invalid regex for proxy version: {e}"),
            );
            return;
        }
    }
    // A match names one object type: listener, routeConfiguration or cluster.
    let object = m.and_then(|m| {
        ["listener", "routeConfiguration", "cluster"]
            .into_iter()
            .find_map(|k| field(m, k).map(|n| (k, n)))
    });
    let match_node = key_of(cp, "match");
    match (apply_to, object) {
        (LISTENER | FILTER_CHAIN | NETWORK_FILTER | HTTP_FILTER, Some((kind, listener))) => {
            if kind != "listener" {
                p.add(
                    match_node,
                    "Envoy filter: applyTo for listener class objects cannot have non listener match",
                );
                return;
            }
            if let Some(filter) = field(listener, "filterChain").and_then(|fc| field(fc, "filter"))
            {
                if apply_to == LISTENER || apply_to == FILTER_CHAIN {
                    p.warn(
                        filter,
                        format!(
                            "Envoy filter: a filter match has no effect with applyTo {}",
                            APPLY_TO[apply_to]
                        ),
                    );
                }
                let name = text(filter, "name");
                let sub = field(filter, "subFilter");
                if name.is_empty() {
                    p.add(filter, "Envoy filter: filter match has no name to match on");
                    return;
                }
                if let Some(sub) = sub {
                    if apply_to != HTTP_FILTER {
                        p.add(
                            sub,
                            "Envoy filter: subFilter match can be used with applyTo HTTP_FILTER only",
                        );
                        return;
                    }
                    if name != HTTP_CONNECTION_MANAGER && name != "envoy.http_connection_manager" {
                        p.add(
                            at(filter, "name"),
                            format!("Envoy filter: subFilter match requires filter match with {HTTP_CONNECTION_MANAGER}"),
                        );
                        return;
                    }
                    if text(sub, "name").is_empty() {
                        p.add(sub, "Envoy filter: subFilter match has no name to match on");
                        return;
                    }
                }
                deprecated_name(at(filter, "name"), p);
                if let Some(sub) = sub {
                    deprecated_name(at(sub, "name"), p);
                }
            }
        }
        (ROUTE_CONFIGURATION..=HTTP_ROUTE, Some((kind, _))) if kind != "routeConfiguration" => {
            p.add(
                match_node,
                "Envoy filter: applyTo for http route class objects cannot have non route configuration match",
            );
        }
        (CLUSTER, Some((kind, _))) if kind != "cluster" => {
            p.add(
                match_node,
                "Envoy filter: applyTo for cluster class objects cannot have non cluster match",
            );
        }
        _ => {}
    }
    if let Some(value) = value {
        unknown_types(value, p);
    }
}

fn deprecated_name<'a>(node: &'a Node, p: &mut Problems<'a>) {
    let name = node.as_str().unwrap_or("");
    if let Some((_, canonical)) = DEPRECATED_FILTER_NAMES.iter().find(|(old, _)| *old == name) {
        p.warn(
            node,
            format!("using deprecated filter name \"{name}\"; use \"{canonical}\" instead"),
        );
    }
}

/// `@type` URLs of Envoy's removed v2 API (`envoy.api.v2.*`, `envoy.config.filter.*.v2.*`,
/// `*.v2alpha.*`) in typed configs: Istio cannot resolve them, so the patch is rejected. Walks
/// the value once; the contents of a TypedStruct's `value` and of legacy `config` fields are plain
/// data, not typed messages, and are left alone.
fn unknown_types<'a>(value: &'a Node, p: &mut Problems<'a>) {
    const TYPED: &[&str] = &["typed_config", "typedConfig"];
    const TYPED_MAPS: &[&str] = &[
        "typed_per_filter_config",
        "typedPerFilterConfig",
        "typed_extension_protocol_options",
        "typedExtensionProtocolOptions",
    ];
    // (node, whether it sits where Envoy expects a typed message)
    let mut stack = vec![(value, false)];
    while let Some((node, typed)) = stack.pop() {
        match &node.value {
            Value::Map(entries) => {
                let type_url = node.get("@type").and_then(Node::as_str).unwrap_or("");
                let typed_struct = type_url.ends_with(".TypedStruct");
                for (k, v) in entries {
                    let key = k.as_str().unwrap_or("");
                    if key == "@type" {
                        if typed && is_v2_type(type_url) {
                            p.add(
                                v,
                                format!(
                                    "Envoy filter: referenced type unknown (hint: try using the v3 XDS API): {type_url}"
                                ),
                            );
                        }
                        continue;
                    }
                    if (typed_struct && key == "value") || key == "config" {
                        continue;
                    }
                    if TYPED_MAPS.contains(&key) {
                        for (_, _, item) in v.entries() {
                            stack.push((item, true));
                        }
                    } else {
                        stack.push((v, TYPED.contains(&key)));
                    }
                }
            }
            Value::Seq(items) => stack.extend(items.iter().map(|i| (i, false))),
            Value::Scalar(_) => {}
        }
    }
}

fn is_v2_type(url: &str) -> bool {
    let name = url.rsplit('/').next().unwrap_or(url);
    name.starts_with("envoy.")
        && name
            .split('.')
            .any(|segment| segment == "v2" || segment == "v2alpha" || segment == "v2alpha1")
}

#[cfg(test)]
mod tests {
    use super::is_v2_type;

    #[test]
    fn v2_type_urls() {
        assert!(is_v2_type(
            "type.googleapis.com/envoy.config.filter.network.http_connection_manager.v2.HttpConnectionManager"
        ));
        assert!(is_v2_type("type.googleapis.com/envoy.api.v2.Cluster"));
        assert!(!is_v2_type(
            "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua"
        ));
        assert!(!is_v2_type("type.googleapis.com/udpa.type.v1.TypedStruct"));
    }
}
