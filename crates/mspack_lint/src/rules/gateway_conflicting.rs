//! `gateway.ConflictingGatewayAnalyzer`: two Gateways for the same workloads and port that claim
//! the same host.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use mspack_yaml::Node;

use crate::declare_rule;
use crate::finding::Findings;
use crate::resource::{Kind, Resource, port_number};
use crate::workloads::{Labels, Selector, gateway_selector};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// An Istio Gateway with a selector but no servers, whose selector no other Gateway shares
    /// (written identically, or overlapping it and selecting a common workload). Istio's
    /// conflicting-gateway analysis only knows selectors from the servers Gateways declare, so such
    /// a Gateway is reported as selecting nothing.
    ///
    /// ## Why it matters
    /// A Gateway without servers configures no listener at all; when nothing else targets the
    /// same workloads it is dead configuration, usually a half-written or truncated manifest.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: Gateway
    /// metadata: {name: kitchen-display, namespace: kitchen}
    /// spec:
    ///   selector: {app: kitchen-gateway}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: Gateway
    /// metadata: {name: kitchen-display, namespace: kitchen}
    /// spec:
    ///   selector: {app: kitchen-gateway}
    ///   servers:
    ///   - port: {number: 80, name: http, protocol: HTTP}
    ///     hosts: ["kitchen.example.com"]
    /// ```
    pub static CONFLICTING_GATEWAY_SELECTOR_NOT_FOUND = Rule {
        code: "IST0101",
        name: "ReferencedResourceNotFound",
        severity: Error,
        summary: "a gateway without servers has a selector no other gateway targets",
        mirrors: Some("gateway.ConflictingGatewayAnalyzer"),
        check: check_selector,
    };
}

declare_rule! {
    /// ## What it checks
    /// Istio Gateways that target the same workloads on the same port and list the same host (with
    /// the same `bind`). Gateways target the same workloads when their selectors are written
    /// identically, or when one selector's text contains the other's and some Pod or pod template
    /// carries the labels of both. Hosts are compared as written (no wildcard matching), across
    /// namespaces. For a Gateway with several servers on one port, Istio remembers only the last
    /// of them, and so does this rule.
    /// Kiali: KIA0301 (`gateways.multimatch`).
    ///
    /// ## Why it matters
    /// Istio merges all Gateways of a workload into one listener per port. Two servers that claim
    /// the same host there collide: one of them is dropped, so part of the traffic goes to routes
    /// nobody expected, depending on which Gateway Istio saw first.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: Gateway
    /// metadata: {name: orders-public, namespace: orders}
    /// spec:
    ///   selector: {istio: ingressgateway}
    ///   servers:
    ///   - port: {number: 80, name: http, protocol: HTTP}
    ///     hosts: ["shop.example.com"]
    /// ---
    /// apiVersion: networking.istio.io/v1
    /// kind: Gateway
    /// metadata: {name: payments-public, namespace: payments}
    /// spec:
    ///   selector: {istio: ingressgateway}
    ///   servers:
    ///   - port: {number: 80, name: http, protocol: HTTP}
    ///     hosts: ["shop.example.com"]
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: Gateway
    /// metadata: {name: orders-public, namespace: orders}
    /// spec:
    ///   selector: {istio: ingressgateway}
    ///   servers:
    ///   - port: {number: 80, name: http, protocol: HTTP}
    ///     hosts: ["shop.example.com"]
    /// ---
    /// apiVersion: networking.istio.io/v1
    /// kind: Gateway
    /// metadata: {name: payments-public, namespace: payments}
    /// spec:
    ///   selector: {istio: ingressgateway}
    ///   servers:
    ///   - port: {number: 80, name: http, protocol: HTTP}
    ///     hosts: ["pay.example.com"]
    /// ```
    /// Or keep one Gateway per host and port and route the paths with VirtualServices.
    pub static CONFLICTING_GATEWAYS = Rule {
        code: "IST0145",
        name: "ConflictingGateways",
        severity: Error,
        summary: "gateways for the same workloads and port claim the same host",
        mirrors: Some("gateway.ConflictingGatewayAnalyzer"),
        check: check_conflicts,
    };
}

/// One Gateway as the analysis reads it.
struct Gw<'a> {
    res: &'a Resource,
    /// `ns/name`, or `name` without a namespace: Gateways are told apart by it.
    full_name: String,
    selector: Selector,
    selector_text: String,
    servers: Vec<Server<'a>>,
}

struct Server<'a> {
    node: &'a Node,
    /// The port number as text (`0` when missing), as the analysis keys it.
    port: String,
    hosts: Vec<(&'a str, &'a Node)>,
    bind: &'a str,
}

/// For each (selector text, port): host -> the Gateways (full name) that claim it, with their bind.
type HostIndex<'a> = HashMap<(String, String), HashMap<&'a str, Vec<(String, &'a str)>>>;

/// The (host, bind) pairs of one server.
type HostBinds<'a> = Vec<(&'a str, &'a str)>;

struct Analysis<'a> {
    gateways: Vec<Gw<'a>>,
    hosts: HostIndex<'a>,
    /// Selector text -> selector texts (of Gateways with servers) that target the same workloads.
    related: HashMap<String, Vec<String>>,
}

fn read_gateway(res: &Resource) -> Gw<'_> {
    let selector = gateway_selector(res);
    let servers = res
        .spec_at(&["servers"])
        .into_iter()
        .flat_map(Node::items)
        .map(|node| Server {
            node,
            port: node
                .path(&["port", "number"])
                .and_then(port_number)
                .unwrap_or(0)
                .to_string(),
            hosts: node
                .get("hosts")
                .into_iter()
                .flat_map(Node::items)
                .filter_map(|h| h.as_str().map(|s| (s, h)))
                .collect(),
            bind: node.get("bind").and_then(Node::as_str).unwrap_or(""),
        })
        .collect();
    Gw {
        res,
        full_name: res.full_name(),
        selector_text: selector.text(),
        selector,
        servers,
    }
}

/// Re-read a selector from its text, as the analysis does for the selectors it compares with.
fn parse_selector_text(text: &str) -> Labels {
    text.split(',')
        .filter_map(|pair| {
            let parts: Vec<&str> = pair.split('=').collect();
            match parts.as_slice() {
                [k, v] => Some((k.to_string(), v.to_string())),
                _ => None,
            }
        })
        .collect()
}

fn analyze(ws: &Workspace) -> Analysis<'_> {
    let gateways: Vec<Gw> = ws.of_kind(Kind::Gateway).map(read_gateway).collect();
    // (selector, port) -> gateway full name -> the hosts of its last server on that port.
    let mut claimed: BTreeMap<(String, String), BTreeMap<String, HostBinds>> = BTreeMap::new();
    for gw in &gateways {
        for server in &gw.servers {
            let hosts = server
                .hosts
                .iter()
                .map(|(h, _)| (*h, server.bind))
                .collect();
            claimed
                .entry((gw.selector_text.clone(), server.port.clone()))
                .or_default()
                .insert(gw.full_name.clone(), hosts);
        }
    }
    let mut hosts: HostIndex = HashMap::new();
    for (key, by_gateway) in &claimed {
        let index = hosts.entry(key.clone()).or_default();
        for (name, list) in by_gateway {
            // A host listed twice in one server counts once (the analysis keeps a host map).
            let mut seen = BTreeMap::new();
            for (host, bind) in list {
                seen.insert(*host, *bind);
            }
            for (host, bind) in seen {
                index.entry(host).or_default().push((name.clone(), bind));
            }
        }
    }
    let known: BTreeSet<&str> = claimed.keys().map(|(s, _)| s.as_str()).collect();
    let mut related: HashMap<String, Vec<String>> = HashMap::new();
    for gw in &gateways {
        if related.contains_key(&gw.selector_text) {
            continue;
        }
        let own = gw.selector_text.as_str();
        let list = known
            .iter()
            .filter(|other| {
                **other == own
                    || ((other.contains(own) || own.contains(**other))
                        && share_workload(ws, gw.selector.labels(), &parse_selector_text(other)))
            })
            .map(|s| s.to_string())
            .collect();
        related.insert(gw.selector_text.clone(), list);
    }
    Analysis {
        gateways,
        hosts,
        related,
    }
}

/// Does some workload carry the labels of both selectors?
fn share_workload(ws: &Workspace, a: &Labels, b: &Labels) -> bool {
    let mut both = a.clone();
    for (k, v) in b {
        match both.get(k) {
            Some(existing) if existing != v => return false,
            _ => {
                both.insert(k.clone(), v.clone());
            }
        }
    }
    ws.select_workloads(None, &Selector::from_labels(both))
        .next()
        .is_some()
}

fn check_selector(ws: &Workspace, out: &mut Findings) {
    let analysis = analyze(ws);
    for gw in &analysis.gateways {
        let unrelated = analysis
            .related
            .get(&gw.selector_text)
            .is_none_or(Vec::is_empty);
        if gw.selector_text.is_empty() || !unrelated {
            continue;
        }
        out.report(
            gw.res,
            gw.res.spec_anchor(&["selector"]),
            format!(
                "the gateway declares no servers and no other gateway targets its selector \"{}\"",
                gw.selector_text
            ),
        )
        .help("add the gateway's servers, or delete the gateway if it is not needed");
    }
}

fn check_conflicts(ws: &Workspace, out: &mut Findings) {
    let analysis = analyze(ws);
    for gw in &analysis.gateways {
        let Some(related) = analysis.related.get(&gw.selector_text) else {
            continue;
        };
        if related.is_empty() {
            continue;
        }
        for server in &gw.servers {
            let mut others = BTreeSet::new();
            let mut first_host: Option<&Node> = None;
            for selector in related {
                let Some(index) = analysis.hosts.get(&(selector.clone(), server.port.clone()))
                else {
                    continue;
                };
                for (host, node) in &server.hosts {
                    for (name, bind) in index.get(host).into_iter().flatten() {
                        if *name != gw.full_name && *bind == server.bind {
                            others.insert(name.as_str());
                            first_host.get_or_insert(node);
                        }
                    }
                }
            }
            if others.is_empty() {
                continue;
            }
            let others: Vec<&str> = others.into_iter().collect();
            let hosts: Vec<&str> = server.hosts.iter().map(|(h, _)| *h).collect();
            out.report(
                gw.res,
                first_host.unwrap_or(server.node),
                format!(
                    "conflicts with {} {} (workload selector \"{}\", port {}, hosts {})",
                    if others.len() == 1 {
                        "gateway"
                    } else {
                        "gateways"
                    },
                    crate::finding::listed(&others),
                    gw.selector_text,
                    server.port,
                    hosts.join(", ")
                ),
            )
            .help(
                "serve each host on a port from one gateway per workload, or give the gateways \
                 selectors that target different workloads",
            );
        }
    }
}
