//! Istio's validation of a VirtualService's destinations and HTTP routes (matches, faults, CORS,
//! retries, redirects, rewrites).

use super::*;

// ---------------------------------------------------------------------------------------------
// Destinations.

pub(crate) fn destination<'a>(dest: &'a Node, p: &mut Problems<'a>) {
    let host_node = field(dest, "host").unwrap_or(dest);
    let host = text(dest, "host");
    if host == "*" {
        p.add(host_node, "invalid destination host *");
    } else {
        p.add_err(host_node, wildcard_domain(host));
    }
    if let Some(subset) = field(dest, "subset") {
        let name = subset.as_str().unwrap_or("");
        if !name.is_empty() && !is_dns1123_label(name) {
            p.add(subset, format!("subset name is invalid: {name}"));
        }
    }
    if let Some(port_node) = field(dest, "port") {
        let number = field(port_node, "number").unwrap_or(port_node);
        p.add_err(number, port(int(port_node, "number")));
    }
}

/// `route` of an http, tcp or tls rule.
pub(crate) fn route_destinations<'a>(
    rule: &'a Node,
    http: bool,
    gateway_semantics: bool,
    p: &mut Problems<'a>,
) {
    let items = list(rule, "route");
    let mut total: i64 = 0;
    for item in items {
        if item.is_null() {
            p.add(item, "route destination may not be null");
            continue;
        }
        let dest = field(item, "destination");
        if dest.is_none() {
            p.add(item, "destination is required");
        }
        if http {
            header_operations(field(item, "headers"), p);
        }
        if let (Some(dest), false) = (dest, gateway_semantics) {
            destination(dest, p);
        }
        let weight = int(item, "weight");
        if weight < 0 {
            let node = field(item, "weight").unwrap_or(item);
            p.add(node, format!("weight {weight} < 0"));
        }
        total = total.saturating_add(weight);
    }
    if items.len() > 1 && total == 0 {
        let node = rule.get_entry("route").map_or(rule, |(key, _)| key);
        p.add(
            node,
            "total destination weight = 0: give the destinations weights that add up to 100",
        );
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP routes.

pub(crate) fn percentage<'a>(node: Option<&'a Node>, p: &mut Problems<'a>) {
    let Some(node) = node else { return };
    let value = field(node, "value").map(float_value).unwrap_or(0.0);
    if !(0.0..=100.0).contains(&value) || (value > 0.0 && value < 0.0001) {
        p.add(
            node,
            format!("percentage {value} is neither 0.0, nor in range [0.0001, 100.0]"),
        );
    }
}

pub(crate) const GRPC_STATUSES: &[&str] = &[
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

pub(crate) fn http_status(status: i64) -> Result<(), String> {
    if (200..=600).contains(&status) {
        Ok(())
    } else {
        Err(format!("HTTP status {status} is not in range 200-599"))
    }
}

pub(crate) fn fault<'a>(fault: Option<&'a Node>, p: &mut Problems<'a>) {
    let Some(fault) = fault else { return };
    let abort = field(fault, "abort");
    let delay = field(fault, "delay");
    if abort.is_none() && delay.is_none() {
        p.add(
            fault,
            "HTTP fault injection must have an abort and/or a delay",
        );
    }
    if let Some(abort) = abort {
        percentage(field(abort, "percentage"), p);
        if let Some(status) = field(abort, "grpcStatus") {
            let s = status.as_str().unwrap_or("");
            if !GRPC_STATUSES.contains(&s) {
                p.add(
                    status,
                    format!("gRPC status \"{s}\" is not supported; use a name such as NOT_FOUND"),
                );
            }
        } else if let Some(h2) = field(abort, "http2Error") {
            p.add(h2, "HTTP/2 abort fault injection is not supported yet");
        } else if let Some(status) = field(abort, "httpStatus") {
            p.add_err(status, http_status(int_value(status)));
        }
    }
    if let Some(delay) = delay {
        percentage(field(delay, "percentage"), p);
        if let Some(fixed) = field(delay, "fixedDelay") {
            duration(fixed, p);
        } else if let Some(exp) = field(delay, "exponentialDelay") {
            duration(exp, p);
            p.add(exp, "exponentialDelay is not supported yet");
        }
    }
}

pub(crate) const CORS_METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE", "*",
];

pub(crate) fn cors<'a>(policy: Option<&'a Node>, p: &mut Problems<'a>) {
    let Some(policy) = policy else { return };
    for origin in list(policy, "allowOrigins") {
        match string_match_kind(origin) {
            Some((_, v)) if !v.as_str().unwrap_or("").is_empty() => {
                string_match(origin, "corsPolicy.allowOrigins", true, p);
            }
            _ => p.add(
                origin,
                "a CORS allowOrigins entry needs a non-empty exact, prefix or regex",
            ),
        }
    }
    for method in list(policy, "allowMethods") {
        let m = method.as_str().unwrap_or("");
        if !CORS_METHODS.contains(&m) {
            p.add(method, format!("\"{m}\" is not a supported HTTP method"));
        }
    }
    for key in ["allowHeaders", "exposeHeaders"] {
        for name in list(policy, key) {
            let n = name.as_str().unwrap_or("");
            if n.is_empty() {
                p.add(name, "header name cannot be empty");
            } else if n != "*" && !n.bytes().all(is_tchar) {
                p.add(name, format!("header name {n} is not a valid header name"));
            }
        }
    }
    if let Some(max_age) = field(policy, "maxAge") {
        duration(max_age, p);
        if let Some(nanos) = parse_go_duration(max_age.as_str().unwrap_or(""))
            && nanos % 1_000_000_000 != 0
        {
            p.add(max_age, "maxAge is accurate only to seconds precision");
        }
    }
}

pub(crate) fn is_http_status_text(code: i64) -> bool {
    matches!(code,
        100..=103 | 200..=208 | 226 | 300..=305 | 307 | 308 | 400..=418 | 421..=426 | 428 | 429
        | 431 | 451 | 500..=508 | 510 | 511)
}

pub(crate) const RETRY_ON: &[&str] = &[
    "5xx",
    "gateway-error",
    "reset",
    "reset-before-request",
    "connect-failure",
    "retriable-4xx",
    "refused-stream",
    "retriable-status-codes",
    "retriable-headers",
    "envoy-ratelimited",
    "http3-post-connect-failure",
    "cancelled",
    "deadline-exceeded",
    "internal",
    "resource-exhausted",
    "unavailable",
];

/// Whether one comma-separated part of a VirtualService `retries.retryOn` is accepted by Istio:
/// an Envoy retry condition or an HTTP status code Go's `net/http` knows.
pub fn retry_on_policy_is_valid(policy: &str) -> bool {
    let code = if is_go_int(policy) {
        policy.parse::<i64>().unwrap_or(0)
    } else {
        0
    };
    is_http_status_text(code) || RETRY_ON.contains(&policy)
}

pub(crate) fn retries<'a>(retries: Option<&'a Node>, p: &mut Problems<'a>) {
    let Some(retries) = retries else { return };
    let attempts = int(retries, "attempts");
    let attempts_node = field(retries, "attempts").unwrap_or(retries);
    if attempts < 0 {
        p.add(attempts_node, "attempts cannot be negative");
    }
    let retry_on = text(retries, "retryOn");
    if attempts == 0
        && (field(retries, "perTryTimeout").is_some()
            || !retry_on.is_empty()
            || field(retries, "retryRemoteLocalities").is_some())
    {
        p.add(
            attempts_node,
            "http retry policy configured when attempts are set to 0 (disabled)",
        );
    }
    if let Some(t) = field(retries, "perTryTimeout") {
        duration(t, p);
    }
    if !retry_on.is_empty() {
        let node = field(retries, "retryOn").unwrap_or(retries);
        for policy in retry_on.split(',') {
            if !retry_on_policy_is_valid(policy) {
                p.add(node, format!("\"{policy}\" is not a valid retryOn policy"));
            }
        }
    }
    if let Some(b) = field(retries, "backoff") {
        duration(b, p);
    }
}

pub(crate) fn redirect<'a>(redirect: Option<&'a Node>, matches: &'a [Node], p: &mut Problems<'a>) {
    let Some(redirect) = redirect else { return };
    let uri = text(redirect, "uri");
    let prefix_rewrite = text(redirect, "prefixRewrite");
    if !uri.is_empty() && !prefix_rewrite.is_empty() {
        p.add(
            redirect,
            "redirect may only specify one of uri or prefixRewrite",
        );
        return;
    }
    if !prefix_rewrite.is_empty() {
        let non_prefix = matches.iter().any(|m| {
            field(m, "uri").is_some_and(|u| !matches!(string_match_kind(u), Some(("prefix", _))))
        });
        if non_prefix {
            p.add(
                redirect,
                "redirect prefixRewrite requires all URI matches to use prefix match type",
            );
            return;
        }
    }
    let port_set = field(redirect, "port").is_some() || field(redirect, "derivePort").is_some();
    let scheme = text(redirect, "scheme");
    if uri.is_empty()
        && prefix_rewrite.is_empty()
        && text(redirect, "authority").is_empty()
        && !port_set
        && scheme.is_empty()
    {
        p.add(
            redirect,
            "redirect must specify URI, authority, scheme, or port",
        );
        return;
    }
    let code = int(redirect, "redirectCode");
    if code != 0 && !(300..=399).contains(&code) {
        let node = field(redirect, "redirectCode").unwrap_or(redirect);
        p.add(
            node,
            format!("{code} is not a valid redirect code, must be 3xx"),
        );
        return;
    }
    if !scheme.is_empty() && scheme != "http" && scheme != "https" {
        let node = field(redirect, "scheme").unwrap_or(redirect);
        p.add(
            node,
            "invalid redirect scheme, must be \"http\" or \"https\"",
        );
        return;
    }
    let redirect_port = int(redirect, "port");
    if redirect_port > 0 {
        let node = field(redirect, "port").unwrap_or(redirect);
        p.add_err(node, port(redirect_port));
    }
}

pub(crate) fn direct_response<'a>(response: Option<&'a Node>, p: &mut Problems<'a>) {
    let Some(response) = response else { return };
    if let Some(body) = field(response, "body") {
        let size = text(body, "string").len();
        if size > 1 << 20 {
            p.add(
                body,
                "large directResponse bodies may impact control plane performance, must be less than 1MB",
            );
        } else if size > 100 << 10 {
            p.warn(
                body,
                "a directResponse body over 100KB may impact control plane performance",
            );
        }
    }
    let status_node = field(response, "status").unwrap_or(response);
    p.add_err(status_node, http_status(int(response, "status")));
}

pub(crate) fn rewrite<'a>(rewrite: Option<&'a Node>, p: &mut Problems<'a>) {
    let Some(rewrite) = rewrite else { return };
    let uri = text(rewrite, "uri");
    let regex_rewrite = field(rewrite, "uriRegexRewrite");
    if !uri.is_empty() && regex_rewrite.is_some() {
        p.add(
            rewrite,
            "rewrite may only contain one of uri or uriRegexRewrite",
        );
        return;
    }
    if uri.is_empty() && regex_rewrite.is_none() && text(rewrite, "authority").is_empty() {
        p.add(
            rewrite,
            "rewrite must specify at least one of uri, uriRegexRewrite or authority",
        );
        return;
    }
    if let Some(rr) = regex_rewrite {
        let m = text(rr, "match");
        if m.is_empty() || text(rr, "rewrite").is_empty() {
            p.add(rr, "uriRegexRewrite requires both rewrite and match fields");
        } else if let Err(e) = regex(m) {
            p.add(
                field(rr, "match").unwrap_or(rr),
                format!("uriRegexRewrite has errors: {e}"),
            );
        }
    }
}

pub(crate) fn authority_rewrite<'a>(route: &'a Node, p: &mut Problems<'a>) {
    let mut current = field(route, "rewrite")
        .map(|r| text(r, "authority"))
        .unwrap_or("");
    let request = field(route, "headers").and_then(|h| field(h, "request"));
    let Some(request) = request else { return };
    for op in ["set", "add"] {
        for (name, key, value) in map_entries(request, op) {
            if !is_authority_header(name) {
                continue;
            }
            let v = value.as_str().unwrap_or("");
            if !current.is_empty() {
                p.add(
                    key,
                    format!(
                        "authority header cannot be set multiple times: have \"{current}\", attempting to set \"{v}\""
                    ),
                );
                return;
            }
            current = v;
        }
    }
}

pub(crate) fn http_matches<'a>(route: &'a Node, p: &mut Problems<'a>) {
    for m in list(route, "match") {
        if m.is_null() {
            continue;
        }
        for (name, key, value) in map_entries(m, "headers") {
            if value.is_null() {
                p.add(key, format!("header match {name} cannot be null"));
            }
            p.add_err(key, header_name_for_match(name));
            string_match(value, "headers", false, p);
        }
        for (name, key, value) in map_entries(m, "withoutHeaders") {
            p.add_err(key, header_name_for_match(name));
            let star_regex = value.get("regex").and_then(Node::as_str) == Some("*");
            if !star_regex {
                string_match(value, "withoutHeaders", false, p);
            }
        }
        if let Some(uri) = field(m, "uri") {
            string_match(uri, "uri", true, p);
        }
        for key in ["scheme", "method", "authority"] {
            if let Some(sm) = field(m, key) {
                string_match(sm, key, false, p);
            }
        }
        for (_, _, value) in map_entries(m, "queryParams") {
            string_match(value, "queryParams", false, p);
        }
        if let Some(port_node) = field(m, "port") {
            let n = int_value(port_node);
            if n != 0 {
                p.add_err(port_node, port(n));
            }
        }
        labels(field(m, "sourceLabels"), p);
        gateway_names(list(m, "gateways"), false, p);
        if let Some(ns) = field(m, "sourceNamespace") {
            let s = ns.as_str().unwrap_or("");
            if !s.is_empty() && !is_dns1123_label(s) {
                p.add(ns, format!("sourceNamespace match {s} is invalid"));
            }
        }
    }
}

pub(crate) fn http_route<'a>(
    route: &'a Node,
    delegate_vs: bool,
    gateway_semantics: bool,
    p: &mut Problems<'a>,
) {
    let has = |name: &str| field(route, name).is_some();
    let route_list = field(route, "route");
    let route_len = route_list.and_then(Node::as_seq).map_or(0, <[Node]>::len);
    let name = text(route, "name");
    if !delegate_vs && has("delegate") {
        // A root route only delegates.
        if has("redirect") {
            p.add(
                route,
                format!("root HTTP route {name} must not specify redirect"),
            );
        }
        if route_list.is_some() {
            p.add(
                route,
                format!("root HTTP route {name} must not specify route"),
            );
        }
    } else {
        if delegate_vs && has("delegate") {
            p.add(route, "delegate HTTP route cannot contain delegate");
        }
        if has("redirect") {
            for (other, what) in [
                ("fault", "fault"),
                ("rewrite", "rewrite"),
                ("directResponse", "directResponse"),
            ] {
                if has(other) {
                    p.add(
                        route,
                        format!("HTTP route cannot contain both {what} and redirect"),
                    );
                }
            }
            if route_len > 0 {
                p.add(route, "HTTP route cannot contain both route and redirect");
            }
        } else if has("directResponse") {
            if route_len > 0 {
                p.add(
                    route,
                    "HTTP route cannot contain both route and directResponse",
                );
            }
            for other in ["fault", "rewrite"] {
                if has(other) {
                    p.add(
                        route,
                        format!("HTTP route cannot contain both {other} and directResponse"),
                    );
                }
            }
        } else if route_len == 0 {
            p.add(
                route,
                "HTTP route needs a route, a redirect or a directResponse",
            );
        }
        if has("mirror") && !list(route, "mirrors").is_empty() {
            p.add(route, "HTTP route cannot contain both mirror and mirrors");
        }
    }

    p.errors_only(|p| http_matches(route, p));
    header_operations(field(route, "headers"), p);
    cors(field(route, "corsPolicy"), p);
    fault(field(route, "fault"), p);

    if let Some(mp) = field(route, "mirrorPercent") {
        let v = int_value(field(mp, "value").unwrap_or(mp));
        if v > 100 {
            p.add(
                mp,
                format!("mirrorPercent must have a max value of 100 (it has {v})"),
            );
        }
        p.warn(
            mp,
            "mirrorPercent is deprecated: use mirrorPercentage instead",
        );
    }
    if let Some(mp) = field(route, "mirrorPercentage") {
        let v = field(mp, "value").map(float_value).unwrap_or(0.0);
        if v > 100.0 {
            p.add(
                mp,
                format!("mirrorPercentage must have a max value of 100 (it has {v})"),
            );
        }
        if v < 0.0 {
            p.add(
                mp,
                format!("mirrorPercentage must have a min value of 0 (it has {v})"),
            );
        }
    }
    if let Some(mirror) = field(route, "mirror") {
        destination(mirror, p);
    }
    for m in list(route, "mirrors") {
        if m.is_null() {
            p.add(m, "mirror cannot be null");
            continue;
        }
        let Some(dest) = field(m, "destination") else {
            p.add(m, "destination is required for mirrors");
            continue;
        };
        destination(dest, p);
        if let Some(pct) = field(m, "percentage") {
            let v = field(pct, "value").map(float_value).unwrap_or(0.0);
            if v > 100.0 {
                p.add(
                    pct,
                    format!("mirror percentage must have a max value of 100 (it has {v})"),
                );
            }
            if v < 0.0 {
                p.add(
                    pct,
                    format!("mirror percentage must have a min value of 0 (it has {v})"),
                );
            }
        }
    }
    redirect(field(route, "redirect"), list(route, "match"), p);
    direct_response(field(route, "directResponse"), p);
    retries(field(route, "retries"), p);
    rewrite(field(route, "rewrite"), p);
    authority_rewrite(route, p);
    route_destinations(route, true, gateway_semantics, p);
    if let Some(timeout) = field(route, "timeout") {
        duration(timeout, p);
    }
}
