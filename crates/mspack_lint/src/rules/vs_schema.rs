//! Rules mirroring Istio's `schema.ValidationAnalyzer`, the admission webhook's validation run as
//! an analyzer: the errors it rejects an Istio resource for (IST0106) and the warnings it accepts
//! it with (IST0133), for every Istio kind (one file of checks per kind, in `crate::istio::validation`), and the
//! two precise VirtualService warnings, rules that can never match (IST0130) and matches that
//! earlier matches already take (IST0131).

use std::collections::{BTreeMap, HashMap};

use mspack_yaml::{Node, Value};

use crate::declare_rule;
use crate::finding::{Findings, Seen};
use crate::istio::validation::{Problems, field, int_value, list, text};
use crate::resource::{Kind, Resource};
use crate::rule::{Each, Pass, Scope};
use crate::workspace::Workspace;

const MIRRORS: Option<&str> = Some("schema.ValidationAnalyzer");

declare_rule! {
    /// ## What it checks
    /// What Istio's validation (its admission webhook) rejects in an Istio resource, one finding
    /// per problem, for every Istio kind:
    /// - **VirtualService**: hosts (valid names, no `*` for sidecars, no overlaps), gateway
    ///   names, at least one of `http`/`tcp`/`tls`, each HTTP rule's route, redirect or direct
    ///   response and their incompatible pairs, destinations (host, subset, port, weights),
    ///   durations, retries, fault injection, CORS, rewrites, header operations, match header
    ///   names and RE2 regexes, TLS SNI hosts covered by the hosts, `exportTo`;
    /// - **DestinationRule**: host, subset names (unique DNS labels) and labels, traffic
    ///   policies at every level (not empty; connection pool limits and durations; outlier
    ///   detection percentages and intervals; consistent hash cookies and Maglev table sizes;
    ///   locality and zone-aware failover/distribute; warmup; client TLS modes and the fields
    ///   each needs or forbids, `configmap://` credentials; port-level settings with a port;
    ///   tunnel), `exportTo` (a workload-selector rule stays in its namespace), selector;
    /// - **Gateway**: a DNS-label name, at least one server, each with hosts in `ns/host` form
    ///   (no short names, no partial wildcards), a named port with a known protocol and a valid
    ///   number, unique port names, a valid bind; TLS that matches the protocol (HTTPS/TLS
    ///   need it, plain HTTP only a redirect), and per mode the certificates, keys, CA bundle
    ///   or credential it needs, no certificates with `ISTIO_MUTUAL`, one certificate source;
    /// - **ServiceEntry**: hosts (no `*`), addresses (IPs or CIDRs, CIDRs only for NONE/STATIC),
    ///   ports (unique names and numbers, known protocols), resolution against endpoints
    ///   (none for NONE, valid IP endpoints for STATIC, FQDN hosts or endpoints for DNS, one
    ///   endpoint for DNS_ROUND_ROBIN, wildcard hosts and HTTP/TLS ports for DYNAMIC_DNS),
    ///   endpoint ports declared by the entry, workloadSelector or endpoints, several hosts
    ///   only with HTTP/TLS ports, `exportTo`;
    /// - **Sidecar**: not empty; ingress ports, binds, default endpoints, TLS (no
    ///   `ISTIO_MUTUAL`, only on HTTPS/TLS ports) and connection pools; egress ports (unique,
    ///   `0` only with a `unix://` bind), one catch-all listener, last; egress hosts in
    ///   `ns/host` form; outbound traffic policy and egress proxy;
    /// - **AuthorizationPolicy**: one of selector/targetRef/targetRefs, provider only with
    ///   CUSTOM (and then required, without unsupported source fields), DENY and CUSTOM with
    ///   rules, each rule's `from.source` and `to.operation` not empty, no empty values, IP
    ///   blocks, ports, service accounts, trust domains and path templates well formed, `when`
    ///   keys known and values valid;
    /// - **PeerAuthentication**: `portLevelMtls` only with selector labels, ports 1..65535;
    /// - **RequestAuthentication**: issuer or jwksUri, an http(s) jwksUri, a parseable inline
    ///   JWKS, non-empty audiences and token locations, valid claim-to-header names;
    /// - **Telemetry**: provider names, tag overrides, sampling percentage, custom tags, access
    ///   log filters;
    /// - **WorkloadEntry**/**WorkloadGroup**: address (IP, host name or `unix://` path), ports,
    ///   labels; template, readiness probe;
    /// - **EnvoyFilter**: each patch's applyTo, operation and value, proxy version regex, a
    ///   match that fits what it applies to, filter and sub-filter names, no v2 Envoy types;
    /// - **WasmPlugin**, **ProxyConfig**: URL and scheme, sha256, env, ports; concurrency;
    /// - selectors without empty keys or wildcards, `targetRef` to a Service, ServiceEntry,
    ///   Gateway or GatewayClass in the policy's own namespace.
    ///
    /// A message Istio would repeat word for word on one resource is reported once.
    ///
    /// ## Why it matters
    /// The API server (through Istio's webhook) refuses such a resource: the deploy fails, or,
    /// where the webhook is not installed, Istio drops the configuration and traffic runs
    /// without it.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: VirtualService
    /// metadata: {name: orders, namespace: food}
    /// spec:
    ///   hosts: [orders]
    ///   http:
    ///   - route:
    ///     - destination: {host: orders, subset: v1}
    ///     - destination: {host: orders, subset: v2}
    ///     timeout: 2
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: VirtualService
    /// metadata: {name: orders, namespace: food}
    /// spec:
    ///   hosts: [orders]
    ///   http:
    ///   - route:
    ///     - destination: {host: orders, subset: v1}
    ///       weight: 90
    ///     - destination: {host: orders, subset: v2}
    ///       weight: 10
    ///     timeout: 2s
    /// ```
    pub static SCHEMA_VALIDATION_ERROR = Rule {
        code: "IST0106",
        name: "SchemaValidationError",
        severity: Error,
        summary: "an Istio resource has a field Istio's validation rejects",
        mirrors: MIRRORS,
        pass: VALIDATION,
    };
}

declare_rule! {
    /// ## What it checks
    /// What Istio's validation accepts but warns about, for every Istio kind:
    /// - **DestinationRule**: deprecated `consecutiveErrors` and `minimumRingSize`, failover
    ///   without outlier detection (a failover that never triggers);
    /// - **Gateway** and **Sidecar** ingress TLS: `httpsRedirect` on a non-HTTP server, TLS
    ///   1.0/1.1 without cipher suites, invalid or repeated cipher suites, certificates on a
    ///   passthrough server, more than two `tlsCertificates`;
    /// - **Sidecar**: repeated egress hosts, `*/*` next to other hosts, HTTP pool settings on
    ///   a non-HTTP port;
    /// - **ServiceEntry**: partial wildcard hosts, a workloadSelector with resolution NONE,
    ///   several hosts with addresses and a TCP port;
    /// - **AuthorizationPolicy**: a DENY rule of HTTP-only attributes, which denies all TCP
    ///   traffic in its scope;
    /// - **RequestAuthentication**: private key material in an inline JWKS;
    /// - **Telemetry**: several tracing entries or providers, an unnamed tag override;
    /// - **WorkloadEntry**: no address but a network; **EnvoyFilter**: deprecated filter names,
    ///   filter matches with no effect, over-long proxy version patterns;
    /// - **VirtualService**: gateways in the legacy `name.namespace` form, IP addresses as SNI
    ///   hosts, the deprecated `mirrorPercent`, direct response bodies over 100KB;
    /// - workload selectors without labels (they select the whole namespace).
    ///
    /// Istio's blanket warning on every EnvoyFilter and its warning on ServiceEntries without
    /// addresses (IST0134 covers it) are left out.
    ///
    /// ## Why it matters
    /// Istio applies the resource, but not the way it reads: a setting is ignored, a policy
    /// reaches more traffic than intended, or a deprecated field will stop working.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: Sidecar
    /// metadata: {name: kitchen, namespace: kitchen}
    /// spec:
    ///   egress:
    ///   - hosts: ["./*", "./orders.food.svc.cluster.local"]
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: Sidecar
    /// metadata: {name: kitchen, namespace: kitchen}
    /// spec:
    ///   egress:
    ///   - hosts: ["./*", "istio-system/*"]
    /// ```
    pub static SCHEMA_WARNING = Rule {
        code: "IST0133",
        name: "SchemaWarning",
        severity: Warning,
        summary: "an Istio resource has a setting Istio's validation warns about",
        mirrors: MIRRORS,
        pass: VALIDATION,
    };
}

declare_rule! {
    /// ## What it checks
    /// `http`, `tcp` and `tls` rules of a VirtualService that can never be chosen: a rule after
    /// a rule without `match` (which takes every request), a second rule without `match`, and a
    /// rule all of whose matches repeat matches of earlier rules (match `name`s aside).
    ///
    /// ## Why it matters
    /// Rules are tried in order and the first that matches wins: the unreachable rule's routes,
    /// retries or faults never apply, which is rarely what its author intended.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: VirtualService
    /// metadata: {name: menu, namespace: food}
    /// spec:
    ///   hosts: [menu]
    ///   http:
    ///   - route:
    ///     - destination: {host: menu}
    ///   - match:
    ///     - uri: {prefix: /specials}
    ///     route:
    ///     - destination: {host: specials}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: VirtualService
    /// metadata: {name: menu, namespace: food}
    /// spec:
    ///   hosts: [menu]
    ///   http:
    ///   - match:
    ///     - uri: {prefix: /specials}
    ///     route:
    ///     - destination: {host: specials}
    ///   - route:
    ///     - destination: {host: menu}
    /// ```
    pub static UNREACHABLE_RULE = Rule {
        code: "IST0130",
        name: "VirtualServiceUnreachableRule",
        severity: Warning,
        summary: "a VirtualService rule can never match because earlier rules take its traffic",
        mirrors: MIRRORS,
        pass: RULE_ORDER,
    };
}

declare_rule! {
    /// ## What it checks
    /// Matches of `http`, `tcp` and `tls` rules that an earlier match already takes: an identical
    /// match (match `name`s aside), and for HTTP a `uri.prefix` match covered by an earlier
    /// prefix match with the same port, method (GET when none), authority, headers, query
    /// parameters and `withoutHeaders` (equal, or the earlier value a prefix-wise extension as
    /// Istio compares them).
    ///
    /// ## Why it matters
    /// The later match never sees a request, so the routing it was written for (a different
    /// backend for `/api/v2`, say) silently does not happen.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: VirtualService
    /// metadata: {name: orders-api, namespace: food}
    /// spec:
    ///   hosts: [orders]
    ///   http:
    ///   - match:
    ///     - uri: {prefix: /api}
    ///     route:
    ///     - destination: {host: orders}
    ///   - match:
    ///     - uri: {prefix: /api/v2}
    ///     route:
    ///     - destination: {host: orders-v2}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: VirtualService
    /// metadata: {name: orders-api, namespace: food}
    /// spec:
    ///   hosts: [orders]
    ///   http:
    ///   - match:
    ///     - uri: {prefix: /api/v2}
    ///     route:
    ///     - destination: {host: orders-v2}
    ///   - match:
    ///     - uri: {prefix: /api}
    ///     route:
    ///     - destination: {host: orders}
    /// ```
    pub static INEFFECTIVE_MATCH = Rule {
        code: "IST0131",
        name: "VirtualServiceIneffectiveMatch",
        severity: Info,
        summary: "a VirtualService match duplicates or is covered by an earlier match",
        mirrors: MIRRORS,
        pass: RULE_ORDER,
    };
}

/// The Istio kinds Istio validates, in the order they are checked.
const KINDS: &[Kind] = &[
    Kind::VirtualService,
    Kind::DestinationRule,
    Kind::Gateway,
    Kind::ServiceEntry,
    Kind::Sidecar,
    Kind::WorkloadEntry,
    Kind::WorkloadGroup,
    Kind::EnvoyFilter,
    Kind::ProxyConfig,
    Kind::AuthorizationPolicy,
    Kind::PeerAuthentication,
    Kind::RequestAuthentication,
    Kind::Telemetry,
    Kind::WasmPlugin,
];

fn problems(res: &Resource) -> Option<Problems<'_>> {
    crate::istio::validation::validate(res)
}

/// Istio's validation of every Istio resource, one resource at a time, for both IST0106
/// (errors) and IST0133 (warnings).
static VALIDATION: Pass = Pass {
    name: "schema.ValidationAnalyzer",
    check: Scope::Each(Each {
        kinds: KINDS,
        check: check_validation,
    }),
};

/// Report each problem once per resource (Istio folds messages that repeat word for word).
fn check_validation(_: &Workspace, res: &Resource, out: &mut Findings) {
    let Some(problems) = problems(res) else {
        return;
    };
    for (rule, items) in [
        (&SCHEMA_VALIDATION_ERROR, problems.items),
        (&SCHEMA_WARNING, problems.warnings),
    ] {
        let mut seen = Seen::default();
        for (node, message) in items {
            if seen.first(res, &message) {
                out.report_as(rule, res, node, message);
            }
        }
    }
}

/// A VirtualService's rule-order problems, for the two rules that report them.
static RULE_ORDER: Pass = Pass {
    name: "schema.ValidationAnalyzer (rule order)",
    check: Scope::Each(Each {
        kinds: &[Kind::VirtualService],
        check: check_rule_order,
    }),
};

fn check_rule_order(_: &Workspace, vs: &Resource, out: &mut Findings) {
    for issue in rule_order_issues(vs) {
        match issue {
            Issue::Unreachable { node, message } => {
                out.report_as(&UNREACHABLE_RULE, vs, node, message).help(
                    "move the rule without match to the end, and drop or change matches that earlier rules already take",
                );
            }
            Issue::Ineffective { node, message } => {
                out.report_as(&INEFFECTIVE_MATCH, vs, node, message)
                    .help("put the more specific match first, or remove the duplicate");
            }
        }
    }
}

enum Issue<'a> {
    Unreachable { node: &'a Node, message: String },
    Ineffective { node: &'a Node, message: String },
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum RouteKind {
    Http,
    Tcp,
    Tls,
}

impl RouteKind {
    fn key(self) -> &'static str {
        match self {
            RouteKind::Http => "http",
            RouteKind::Tcp => "tcp",
            RouteKind::Tls => "tls",
        }
    }
}

/// `"name"` for a named HTTP rule or match, else `#index`.
fn label(node: &Node, index: usize, kind: RouteKind) -> String {
    let name = if kind == RouteKind::Http && !node.is_null() {
        text(node, "name")
    } else {
        ""
    };
    if name.is_empty() {
        format!("#{index}")
    } else {
        format!("{name:?}")
    }
}

/// The rule-order problems of a VirtualService, in the order Istio finds them.
fn rule_order_issues(vs: &Resource) -> Vec<Issue<'_>> {
    let mut issues = Vec::new();
    let Some(spec) = vs.spec() else {
        return issues;
    };
    for kind in [RouteKind::Http, RouteKind::Tcp, RouteKind::Tls] {
        analyze_rules(list(spec, kind.key()), kind, &mut issues);
    }
    issues
}

fn analyze_rules<'a>(rules: &'a [Node], kind: RouteKind, issues: &mut Vec<Issue<'a>>) {
    let what = kind.key();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut catch_all: Option<usize> = None;
    let mut prefixes: Vec<PrefixMatch<'a>> = Vec::new();
    for (rule_index, rule) in rules.iter().enumerate() {
        if rule.is_null() {
            continue;
        }
        let rule_name = label(rule, rule_index, kind);
        let matches = list(rule, "match");
        let unreachable = |reason: &str| Issue::Unreachable {
            node: rule,
            message: format!("{what} rule {rule_name} is never used ({reason})"),
        };
        if matches.is_empty() {
            if catch_all.is_some() {
                issues.push(unreachable("only the last rule can have no matches"));
            }
            catch_all = Some(rule_index);
            continue;
        }
        let mut duplicates = 0;
        for (match_index, m) in matches.iter().enumerate() {
            if catch_all.is_some() {
                issues.push(unreachable("a rule without matches comes before it"));
                continue;
            }
            let key = canonical_match(m, kind);
            if let Some(&earlier) = seen.get(&key) {
                issues.push(Issue::Ineffective {
                    node: m,
                    message: format!(
                        "{what} rule {rule_name} match {} is never used (duplicate of a match in rule {})",
                        label(m, match_index, kind),
                        label(&rules[earlier], earlier, kind)
                    ),
                });
                duplicates += 1;
                continue;
            }
            seen.insert(key, rule_index);
            if kind == RouteKind::Http
                && let Some(p) =
                    PrefixMatch::read(m, rule_name.clone(), label(m, match_index, kind))
            {
                prefixes.push(p);
            }
        }
        if duplicates == matches.len() {
            issues.push(unreachable("all its matches are taken by earlier rules"));
        }
    }
    // Prefix matches covered by an earlier prefix match; pairs within one resource.
    for (i, a) in prefixes.iter().enumerate() {
        for b in &prefixes[i + 1..] {
            if a.prefix != b.prefix && a.covers(b) {
                issues.push(Issue::Ineffective {
                    node: b.node,
                    message: format!(
                        "{what} rule {} match {} of prefix {} is never used (overlapped by match {} of prefix {} in rule {})",
                        b.rule, b.name, b.prefix, a.name, a.prefix, a.rule
                    ),
                });
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Match identity: two matches are the same when their fields are, whatever the order of keys,
// the spelling of field names (`camelCase`/`snake_case`) or fields left at their zero value.

const USER_KEYED_MAPS: &[&str] = &["headers", "queryParams", "withoutHeaders", "sourceLabels"];
const STRING_MATCH_FIELDS: &[&str] = &["uri", "scheme", "method", "authority"];

fn camel(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut upper = false;
    for c in key.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// A scalar's canonical text and whether it is its type's zero value.
fn canonical_scalar(node: &Node) -> (String, bool) {
    if let Some(b) = node.as_bool() {
        return (format!("b:{b}"), !b);
    }
    let text = node.as_str().unwrap_or("");
    if let Ok(i) = text.trim().parse::<i64>() {
        return (format!("i:{i}"), i == 0);
    }
    (format!("s:{text:?}"), text.is_empty())
}

fn canonical_value(key: &str, value: &Node, in_string_match: bool) -> Option<String> {
    if value.is_null() {
        return None;
    }
    if USER_KEYED_MAPS.contains(&key) {
        let entries: BTreeMap<&str, String> = value
            .entries()
            .map(|(k, _, v)| {
                let c = if key == "sourceLabels" {
                    canonical_scalar(v).0
                } else if v.is_null() {
                    "null".to_string()
                } else {
                    canonical_map(v, false, true)
                };
                (k, c)
            })
            .collect();
        if entries.is_empty() {
            return None;
        }
        let body: Vec<String> = entries.iter().map(|(k, v)| format!("{k:?}={v}")).collect();
        return Some(format!("{{{}}}", body.join(",")));
    }
    match &value.value {
        Value::Map(_) => Some(canonical_map(
            value,
            false,
            STRING_MATCH_FIELDS.contains(&key),
        )),
        Value::Seq(items) if items.is_empty() => None,
        Value::Seq(items) => {
            let body: Vec<String> = items.iter().map(|i| canonical_scalar(i).0).collect();
            Some(format!("[{}]", body.join(",")))
        }
        Value::Scalar(_) => {
            let (c, zero) = canonical_scalar(value);
            (!zero || in_string_match).then_some(c)
        }
    }
}

fn canonical_map(node: &Node, drop_name: bool, in_string_match: bool) -> String {
    let mut fields: BTreeMap<String, String> = BTreeMap::new();
    for (k, _, v) in node.entries() {
        let key = camel(k);
        if drop_name && key == "name" {
            continue;
        }
        if let Some(c) = canonical_value(&key, v, in_string_match) {
            fields.insert(key, c);
        }
    }
    let body: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{{{}}}", body.join(","))
}

fn canonical_match(m: &Node, kind: RouteKind) -> String {
    match &m.value {
        Value::Map(_) => canonical_map(m, kind == RouteKind::Http, false),
        _ if m.is_null() => "null".to_string(),
        _ => canonical_scalar(m).0,
    }
}

// ---------------------------------------------------------------------------------------------
// Prefix overlap, as Istio compares HTTP matches with a `uri.prefix`.

/// `exact:<v>` or `prefix:<v>` of a StringMatch; empty for a regex or nothing.
fn exact_or_prefix(node: Option<&Node>) -> String {
    let Some(node) = node else {
        return String::new();
    };
    let exact = text(node, "exact");
    if !exact.is_empty() {
        return format!("exact:{exact}");
    }
    let prefix = text(node, "prefix");
    if !prefix.is_empty() {
        return format!("prefix:{prefix}");
    }
    String::new()
}

struct PrefixMatch<'a> {
    node: &'a Node,
    rule: String,
    name: String,
    prefix: &'a str,
    port: i64,
    method: String,
    authority: String,
    headers: BTreeMap<&'a str, String>,
    query: BTreeMap<&'a str, String>,
    without_headers: BTreeMap<&'a str, String>,
}

impl<'a> PrefixMatch<'a> {
    fn read(m: &'a Node, rule: String, name: String) -> Option<PrefixMatch<'a>> {
        if m.is_null() {
            return None;
        }
        let prefix = text(field(m, "uri")?, "prefix");
        if prefix.is_empty() {
            return None;
        }
        let mut method = exact_or_prefix(field(m, "method"));
        if method.is_empty() {
            method = "exact:GET".to_string();
        }
        let map = |key: &str| -> BTreeMap<&'a str, String> {
            field(m, key)
                .into_iter()
                .flat_map(Node::entries)
                .map(|(k, _, v)| (k, exact_or_prefix(Some(v).filter(|v| !v.is_null()))))
                .collect()
        };
        Some(PrefixMatch {
            node: m,
            rule,
            name,
            prefix,
            port: field(m, "port").map(int_value).unwrap_or(0),
            method,
            authority: exact_or_prefix(field(m, "authority")),
            headers: map("headers"),
            query: map("queryParams"),
            without_headers: map("withoutHeaders"),
        })
    }

    /// Does this (earlier) match take every request `later` would?
    fn covers(&self, later: &PrefixMatch<'_>) -> bool {
        let narrower = |mine: &str, theirs: &str| mine == theirs || mine.starts_with(theirs);
        let same_keys = |mine: &BTreeMap<&str, String>, theirs: &BTreeMap<&str, String>| {
            mine.len() == theirs.len()
                && mine
                    .iter()
                    .all(|(k, v)| theirs.get(k).is_some_and(|t| narrower(v, t)))
        };
        later.prefix.starts_with(self.prefix)
            && later.port == self.port
            && narrower(&self.method, &later.method)
            && narrower(&self.authority, &later.authority)
            && same_keys(&self.headers, &later.headers)
            && same_keys(&self.query, &later.query)
            && same_keys(&self.without_headers, &later.without_headers)
    }
}
