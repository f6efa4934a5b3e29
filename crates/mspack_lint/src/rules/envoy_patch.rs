//! Mirrors Istio's `envoyfilter.EnvoyPatchAnalyzer`: EnvoyFilter patch operations that are
//! ignored for their `applyTo`, and relative operations without a priority.

use std::collections::HashSet;

use mspack_yaml::Node;

use crate::declare_rule;
use crate::finding::{Findings, Issue, report_issues, scalar_line};
use crate::istio::validation::envoyfilter::{APPLY_TO, OPERATIONS};
use crate::resource::{Kind, Resource};
use crate::rule::Rule;
use crate::rule::{Pass, Scope};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// An EnvoyFilter without `priority` (or with priority 0) that has a patch with a relative
    /// operation: `INSERT_BEFORE`, `INSERT_AFTER`, `REPLACE` (where REPLACE is valid) or
    /// `REMOVE` (outside `ROUTE_CONFIGURATION` and `HTTP_ROUTE`). Reported once per EnvoyFilter.
    ///
    /// ## Why it matters
    /// A relative operation needs the filter it is relative to. EnvoyFilters without a priority
    /// are applied in creation order, so whether that filter is already there (for instance
    /// added by another EnvoyFilter) is a matter of chance, and the patch may be skipped.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: networking.istio.io/v1alpha3
    /// kind: EnvoyFilter
    /// metadata: {name: orders-lua, namespace: orders}
    /// spec:
    ///   workloadSelector:
    ///     labels: {app: orders}
    ///   configPatches:
    ///   - applyTo: HTTP_FILTER
    ///     match:
    ///       context: SIDECAR_INBOUND
    ///       listener:
    ///         filterChain:
    ///           filter:
    ///             name: envoy.filters.network.http_connection_manager
    ///             subFilter: {name: envoy.filters.http.router}
    ///     patch:
    ///       operation: INSERT_BEFORE
    ///       value:
    ///         name: orders.lua
    ///         typed_config:
    ///           "@type": type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua
    ///           inlineCode: "function envoy_on_request(h) end"
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: networking.istio.io/v1alpha3
    /// kind: EnvoyFilter
    /// metadata: {name: orders-lua, namespace: orders}
    /// spec:
    ///   workloadSelector:
    ///     labels: {app: orders}
    ///   priority: 10
    ///   configPatches:
    ///   - applyTo: HTTP_FILTER
    ///     match:
    ///       context: SIDECAR_INBOUND
    ///       listener:
    ///         filterChain:
    ///           filter:
    ///             name: envoy.filters.network.http_connection_manager
    ///             subFilter: {name: envoy.filters.http.router}
    ///     patch:
    ///       operation: INSERT_BEFORE
    ///       value:
    ///         name: orders.lua
    ///         typed_config:
    ///           "@type": type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua
    ///           inlineCode: "function envoy_on_request(h) end"
    /// ```
    pub static RELATIVE_OPERATION = Rule {
        code: "IST0151",
        name: "EnvoyFilterUsesRelativeOperation",
        severity: Warning,
        summary: "an EnvoyFilter without priority uses a relative patch operation",
        mirrors: Some("envoyfilter.EnvoyPatchAnalyzer"),
        pass: ENVOY_PATCH,
    };
}

declare_rule! {
    /// ## What it checks
    /// A patch with operation `REPLACE` whose `applyTo` is not `HTTP_FILTER`, `NETWORK_FILTER`
    /// or `VIRTUAL_HOST`.
    ///
    /// ## Why it matters
    /// Istio replaces only filters and virtual hosts. Elsewhere the REPLACE patch does nothing,
    /// so the cluster, listener or route you meant to swap out stays as it was.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: networking.istio.io/v1alpha3
    /// kind: EnvoyFilter
    /// metadata: {name: kitchen-cluster, namespace: kitchen}
    /// spec:
    ///   priority: 5
    ///   configPatches:
    ///   - applyTo: CLUSTER
    ///     match:
    ///       context: SIDECAR_OUTBOUND
    ///       cluster: {service: printer.kitchen.svc.cluster.local}
    ///     patch:
    ///       operation: REPLACE
    ///       value: {name: printer, connect_timeout: 2s}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: networking.istio.io/v1alpha3
    /// kind: EnvoyFilter
    /// metadata: {name: kitchen-cluster, namespace: kitchen}
    /// spec:
    ///   priority: 5
    ///   configPatches:
    ///   - applyTo: CLUSTER
    ///     match:
    ///       context: SIDECAR_OUTBOUND
    ///       cluster: {service: printer.kitchen.svc.cluster.local}
    ///     patch:
    ///       operation: MERGE
    ///       value: {connect_timeout: 2s}
    /// ```
    pub static REPLACE_MISUSED = Rule {
        code: "IST0152",
        name: "EnvoyFilterUsesReplaceOperationIncorrectly",
        severity: Error,
        summary: "an EnvoyFilter uses REPLACE where Istio cannot replace",
        mirrors: Some("envoyfilter.EnvoyPatchAnalyzer"),
        pass: ENVOY_PATCH,
    };
}

declare_rule! {
    /// ## What it checks
    /// A patch with operation `ADD` whose `applyTo` is `ROUTE_CONFIGURATION` or `HTTP_ROUTE`.
    ///
    /// ## Why it matters
    /// Istio ignores ADD for route configurations and HTTP routes, so the route you meant to
    /// add is never created; traffic that needed it falls through to other routes or gets 404.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: networking.istio.io/v1alpha3
    /// kind: EnvoyFilter
    /// metadata: {name: delivery-health, namespace: delivery}
    /// spec:
    ///   configPatches:
    ///   - applyTo: HTTP_ROUTE
    ///     match:
    ///       context: SIDECAR_INBOUND
    ///     patch:
    ///       operation: ADD
    ///       value:
    ///         name: healthz
    ///         match: {prefix: /healthz}
    ///         direct_response: {status: 200}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: networking.istio.io/v1alpha3
    /// kind: EnvoyFilter
    /// metadata: {name: delivery-health, namespace: delivery}
    /// spec:
    ///   configPatches:
    ///   - applyTo: VIRTUAL_HOST
    ///     match:
    ///       context: SIDECAR_INBOUND
    ///     patch:
    ///       operation: MERGE
    ///       value:
    ///         routes:
    ///         - name: healthz
    ///           match: {prefix: /healthz}
    ///           direct_response: {status: 200}
    /// ```
    pub static ADD_MISUSED = Rule {
        code: "IST0153",
        name: "EnvoyFilterUsesAddOperationIncorrectly",
        severity: Error,
        summary: "an EnvoyFilter uses ADD on route configuration or HTTP routes, where it is ignored",
        mirrors: Some("envoyfilter.EnvoyPatchAnalyzer"),
        pass: ENVOY_PATCH,
    };
}

declare_rule! {
    /// ## What it checks
    /// A patch with operation `REMOVE` whose `applyTo` is `ROUTE_CONFIGURATION` or `HTTP_ROUTE`.
    ///
    /// ## Why it matters
    /// Istio ignores REMOVE for route configurations and HTTP routes: the route you meant to
    /// take away keeps serving traffic.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: networking.istio.io/v1alpha3
    /// kind: EnvoyFilter
    /// metadata: {name: orders-debug-route, namespace: orders}
    /// spec:
    ///   priority: 1
    ///   configPatches:
    ///   - applyTo: HTTP_ROUTE
    ///     match:
    ///       context: SIDECAR_INBOUND
    ///       routeConfiguration:
    ///         vhost:
    ///           route: {name: debug}
    ///     patch:
    ///       operation: REMOVE
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: VirtualService
    /// metadata: {name: orders, namespace: orders}
    /// spec:
    ///   hosts: [orders.orders.svc.cluster.local]
    ///   http:
    ///   - route:
    ///     - destination: {host: orders.orders.svc.cluster.local}
    /// ```
    /// Drop the debug route from the VirtualService that defines it instead of patching it out.
    pub static REMOVE_MISUSED = Rule {
        code: "IST0154",
        name: "EnvoyFilterUsesRemoveOperationIncorrectly",
        severity: Error,
        summary: "an EnvoyFilter uses REMOVE on route configuration or HTTP routes, where it is ignored",
        mirrors: Some("envoyfilter.EnvoyPatchAnalyzer"),
        pass: ENVOY_PATCH,
    };
}

declare_rule! {
    /// ## What it checks
    /// Like IST0151 (a relative patch operation in an EnvoyFilter without priority), for a patch
    /// whose filter name was already used by an earlier patch (in this EnvoyFilter or an earlier
    /// one in input order) that carries `match.proxy.proxyVersion`. The name is the `name` of
    /// the patch `value`, or else the `match.listener.filterChain.filter.name`.
    ///
    /// ## Why it matters
    /// Patches limited to a proxy version are typically kept in pairs across an upgrade. During
    /// the upgrade both versions' filters exist and, without a priority, the order in which they
    /// are applied is undefined, so the relative patch may find its anchor missing and be
    /// dropped exactly while the mesh is upgrading.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: networking.istio.io/v1alpha3
    /// kind: EnvoyFilter
    /// metadata: {name: payments-lua, namespace: payments}
    /// spec:
    ///   configPatches:
    ///   - applyTo: HTTP_FILTER
    ///     match:
    ///       context: SIDECAR_INBOUND
    ///       proxy: {proxyVersion: '^1\.24.*'}
    ///     patch:
    ///       operation: INSERT_FIRST
    ///       value: {name: payments.lua}
    ///   - applyTo: HTTP_FILTER
    ///     match:
    ///       context: SIDECAR_INBOUND
    ///     patch:
    ///       operation: INSERT_AFTER
    ///       value: {name: payments.lua}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: networking.istio.io/v1alpha3
    /// kind: EnvoyFilter
    /// metadata: {name: payments-lua, namespace: payments}
    /// spec:
    ///   priority: 20
    ///   configPatches:
    ///   - applyTo: HTTP_FILTER
    ///     match:
    ///       context: SIDECAR_INBOUND
    ///       proxy: {proxyVersion: '^1\.24.*'}
    ///     patch:
    ///       operation: INSERT_FIRST
    ///       value: {name: payments.lua}
    ///   - applyTo: HTTP_FILTER
    ///     match:
    ///       context: SIDECAR_INBOUND
    ///     patch:
    ///       operation: INSERT_AFTER
    ///       value: {name: payments.lua}
    /// ```
    pub static RELATIVE_OPERATION_WITH_PROXY_VERSION = Rule {
        code: "IST0155",
        name: "EnvoyFilterUsesRelativeOperationWithProxyVersion",
        severity: Warning,
        summary: "an EnvoyFilter without priority uses a relative operation on a filter also patched for a proxy version",
        mirrors: Some("envoyfilter.EnvoyPatchAnalyzer"),
        pass: ENVOY_PATCH,
    };
}

/// One run of Istio's `envoyfilter.EnvoyPatchAnalyzer` for all of its rules.
static ENVOY_PATCH: Pass = Pass {
    name: "envoyfilter.EnvoyPatchAnalyzer",
    check: Scope::Workspace(check),
};

fn check(ws: &Workspace, out: &mut Findings) {
    report_issues(out, analyze(ws));
}

/// Protobuf enums may be written by name or by number.
fn enum_name<'a>(node: Option<&'a Node>, names: &[&'a str]) -> &'a str {
    let Some(node) = node else { return "INVALID" };
    if let Some(i) = node.as_i64() {
        return usize::try_from(i)
            .ok()
            .and_then(|i| names.get(i).copied())
            .unwrap_or("INVALID");
    }
    node.as_str()
        .and_then(|s| names.iter().find(|n| **n == s).copied())
        .unwrap_or("INVALID")
}

/// The name Istio associates with a patch when it looks for proxy-version pairs. A `value.name`
/// is kept apart from a filter-chain filter name (Istio compares the former in its protobuf text
/// form, so the two never equal each other).
fn instance_name(patch: &Node, patch_body: &Node) -> String {
    let Some(value) = patch_body.get("value").filter(|v| v.as_map().is_some()) else {
        return String::new();
    };
    if let Some(name) = value.get("name") {
        let text = match name.scalar() {
            Some(s) => format!("{}:{}", name.type_name(), s.text),
            None => format!("{}:{:?}", name.type_name(), name.span),
        };
        return format!("value {text}");
    }
    patch
        .path(&["match", "listener", "filterChain", "filter", "name"])
        .and_then(Node::as_str)
        .unwrap_or("")
        .to_string()
}

fn analyze(ws: &Workspace) -> Vec<Issue<'_>> {
    let mut issues = Vec::new();
    // Names of patches (so far, in input order) that carry a proxyVersion.
    let mut versioned: HashSet<String> = HashSet::new();
    for filter in ws.of_kind(Kind::EnvoyFilter) {
        analyze_filter(filter, &mut versioned, &mut issues);
    }
    issues
}

fn analyze_filter<'a>(
    filter: &'a Resource,
    versioned: &mut HashSet<String>,
    issues: &mut Vec<Issue<'a>>,
) {
    let priority = filter
        .spec_at(&["priority"])
        .and_then(Node::as_i64)
        .unwrap_or(0);
    // Istio folds identical messages of one resource unless their lines differ; it finds a line
    // only when the patch value is a scalar.
    let mut seen: HashSet<(&str, Option<u32>)> = HashSet::new();
    let patches = filter
        .spec_at(&["configPatches"])
        .into_iter()
        .flat_map(Node::items);
    for patch in patches {
        // Istio stops at the first patch without a `patch` section.
        let Some(body) = patch.get("patch").filter(|p| !p.is_null()) else {
            break;
        };
        let name = instance_name(patch, body);
        let operation = enum_name(body.get("operation"), OPERATIONS);
        let apply_to = enum_name(patch.get("applyTo"), APPLY_TO);
        let route_level = matches!(apply_to, "ROUTE_CONFIGURATION" | "HTTP_ROUTE");
        let line = scalar_line(body.get("value"));
        let node = body.get("operation").unwrap_or(patch);
        let mut push = |rule: &'static Rule, message: String, help: &str| {
            if seen.insert((rule.code, line)) {
                issues.push(Issue::new(rule, filter, node, message).help(help));
            }
        };
        let relative = match operation {
            "ADD" => {
                if route_level {
                    push(
                        &ADD_MISUSED,
                        format!("ADD patch on {apply_to} is ignored by Istio"),
                        "add routes by MERGE on the enclosing VIRTUAL_HOST, or through a \
                         VirtualService",
                    );
                }
                false
            }
            "REMOVE" if route_level => {
                push(
                    &REMOVE_MISUSED,
                    format!("REMOVE patch on {apply_to} is ignored by Istio"),
                    "remove the route where it is defined (VirtualService, Gateway route)",
                );
                false
            }
            "REMOVE" => true,
            "REPLACE" if !matches!(apply_to, "NETWORK_FILTER" | "HTTP_FILTER" | "VIRTUAL_HOST") => {
                push(
                    &REPLACE_MISUSED,
                    format!(
                        "REPLACE patch on {apply_to} is ignored: Istio replaces only \
                         HTTP_FILTER, NETWORK_FILTER and VIRTUAL_HOST"
                    ),
                    "use MERGE to change the object, or REMOVE and ADD to swap it",
                );
                false
            }
            "REPLACE" | "INSERT_BEFORE" | "INSERT_AFTER" => true,
            _ => false,
        };
        if relative && priority == 0 {
            let (code, consequence, help) = if versioned.contains(&name) {
                (
                    &RELATIVE_OPERATION_WITH_PROXY_VERSION,
                    "while a patch of the same filter is limited to a proxy version",
                    "set `priority`, or use INSERT_FIRST or ADD, so the patch still applies \
                     while two proxy versions coexist",
                )
            } else {
                (
                    &RELATIVE_OPERATION,
                    "so it may be applied before the filter it is relative to exists",
                    "set `priority`, or use INSERT_FIRST or ADD",
                )
            };
            push(
                code,
                format!(
                    "{operation} patch is relative and the EnvoyFilter has no priority, \
                     {consequence}"
                ),
                help,
            );
        }
        let has_version = patch
            .path(&["match", "proxy", "proxyVersion"])
            .and_then(Node::as_str)
            .is_some_and(|v| !v.is_empty());
        if has_version {
            versioned.insert(name);
        }
    }
}
