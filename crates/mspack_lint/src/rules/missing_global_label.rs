use std::collections::BTreeSet;

use mspack_yaml::Node;

use crate::declare_rule;
use crate::finding::{Applicability, Findings, Fix};
use crate::fix::insert_entry;
use crate::hosts::{HostForm, classify_host, expand_host, host_matches};
use crate::refs::service_hosts;
use crate::resource::Kind;
use crate::workspace::Workspace;

/// The label that makes a Service global across the clusters of an Istio multicluster mesh.
pub const GLOBAL_LABEL: &str = "istio.io/global";

declare_rule! {
    /// ## What it checks
    /// In an ambient multicluster mesh (`--multicluster ambient`, or `[mesh] multicluster =
    /// "ambient"` in `.mspack.toml`), every Service that the mesh routes to (a VirtualService
    /// destination or a DestinationRule host resolves to it, wildcards included, or a Gateway
    /// API route's `backendRefs` names it) and lacks the label `istio.io/global: "true"`.
    ///
    /// The rule is silent in one cluster and in a sidecar multicluster mesh (`--multicluster
    /// sidecar`): there every Service is already mesh-wide (Istio merges the endpoints of the
    /// same namespace/name from all clusters), the label has no effect, and what keeps a Service
    /// local is `meshConfig.serviceSettings` with `clusterLocal: true`.
    ///
    /// ## Why it matters
    /// In ambient multicluster a Service is local to its cluster unless it is marked global:
    /// clients in the other clusters get no endpoints for it, and failover you designed for
    /// never happens. The label must be the string `"true"` (Kubernetes rejects an unquoted
    /// boolean label value).
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: v1
    /// kind: Service
    /// metadata: {name: orders, namespace: food}
    /// spec:
    ///   ports: [{name: http, port: 8080}]
    /// ---
    /// apiVersion: networking.istio.io/v1
    /// kind: DestinationRule
    /// metadata: {name: orders, namespace: food}
    /// spec:
    ///   host: orders.food.svc.cluster.local
    ///   exportTo: ["."]
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: v1
    /// kind: Service
    /// metadata:
    ///   name: orders
    ///   namespace: food
    ///   labels: {istio.io/global: "true"}
    /// spec:
    ///   ports: [{name: http, port: 8080}]
    /// ---
    /// apiVersion: networking.istio.io/v1
    /// kind: DestinationRule
    /// metadata: {name: orders, namespace: food}
    /// spec:
    ///   host: orders.food.svc.cluster.local
    ///   exportTo: ["."]
    /// ```
    pub static MISSING_GLOBAL_LABEL = Rule {
        code: "MSP103",
        name: "missing-global-label",
        severity: Warning,
        summary: "in ambient multicluster, a routed Service lacks the label istio.io/global: \"true\"",
        mirrors: None,
        check: check,
    };
}

fn check(ws: &Workspace, out: &mut Findings) {
    // The label is read by ambient multicluster only; sidecar meshes are mesh-wide already.
    if ws.options.multicluster != crate::config::Multicluster::Ambient {
        return;
    }
    let domain = ws.cluster_domain();
    let by_fqdn = ws.services_by_fqdn();
    let mut routed: BTreeSet<usize> = BTreeSet::new();
    let mut patterns: BTreeSet<String> = BTreeSet::new();
    let kinds = [Kind::VirtualService, Kind::DestinationRule];
    for resource in kinds.into_iter().flat_map(|k| ws.of_kind(k)) {
        for r in service_hosts(resource) {
            if r.role == crate::refs::HostRole::VirtualServiceHost {
                continue;
            }
            let form = classify_host(r.host, domain, |ns| ws.namespaces().contains(ns));
            let fqdn = match form {
                HostForm::Wildcard => {
                    patterns.insert(r.host.to_string());
                    continue;
                }
                HostForm::Short | HostForm::PartialCluster => {
                    expand_host(r.host, &resource.ns, domain, &form).unwrap_or_default()
                }
                _ => r.host.trim_end_matches('.').to_string(),
            };
            routed.extend(by_fqdn.get(&fqdn).into_iter().flatten());
        }
    }
    // Gateway API routes (GAMMA or at a gateway) route to Services through `backendRefs`.
    let routes = [
        Kind::HTTPRoute,
        Kind::GRPCRoute,
        Kind::TCPRoute,
        Kind::TLSRoute,
        Kind::UDPRoute,
    ];
    for route in routes.into_iter().flat_map(|k| ws.of_kind(k)) {
        let rules = route.spec_at(&["rules"]).into_iter().flat_map(Node::items);
        for backend in rules.flat_map(|r| r.get("backendRefs").into_iter().flat_map(Node::items)) {
            let group = backend.get("group").and_then(Node::as_str).unwrap_or("");
            let kind = backend
                .get("kind")
                .and_then(Node::as_str)
                .unwrap_or("Service");
            if !group.is_empty() || kind != "Service" {
                continue;
            }
            let Some(name) = backend.get("name").and_then(Node::as_str) else {
                continue;
            };
            let ns = backend
                .get("namespace")
                .and_then(Node::as_str)
                .unwrap_or(&route.ns);
            let fqdn = format!("{name}.{ns}.svc.{domain}");
            routed.extend(by_fqdn.get(&fqdn).into_iter().flatten());
        }
    }
    // Each distinct wildcard is matched against the services once.
    for pattern in &patterns {
        for (fqdn, ids) in by_fqdn {
            if host_matches(pattern, fqdn) {
                routed.extend(ids);
            }
        }
    }
    for id in routed {
        let service = &ws.resources[id];
        let label = service.labels().and_then(|l| l.get(GLOBAL_LABEL));
        if label.and_then(Node::as_string_value) == Some("true") {
            continue;
        }
        match label {
            Some(node) => {
                let finding = out.report(
                    service,
                    node,
                    format!(
                        "label {GLOBAL_LABEL} of routed Service {} must be the string \"true\"",
                        service.name
                    ),
                );
                finding.help(format!("write `{GLOBAL_LABEL}: \"true\"`"));
                finding.fix(Fix {
                    message: "set the label to \"true\"".into(),
                    applicability: Applicability::MachineApplicable,
                    edits: vec![crate::fix::replace_scalar(node, "true")],
                });
            }
            None => {
                let finding = out.report(
                    service,
                    service.anchor(),
                    format!(
                        "Service {} is routed to by the mesh but has no label {GLOBAL_LABEL}: \"true\"",
                        service.name
                    ),
                );
                finding.help(format!(
                    "label it `{GLOBAL_LABEL}: \"true\"` so clients in every cluster reach it"
                ));
                if let Some(edit) = global_label_edit(service) {
                    finding.fix(Fix {
                        message: format!("add the label {GLOBAL_LABEL}: \"true\""),
                        applicability: Applicability::MachineApplicable,
                        edits: vec![edit],
                    });
                }
            }
        }
    }
}

fn global_label_edit(service: &crate::resource::Resource) -> Option<crate::finding::Edit> {
    let entry = format!("{GLOBAL_LABEL}: \"true\"");
    match service.labels() {
        Some(labels) if labels.as_map().is_some_and(|m| !m.is_empty()) => {
            insert_entry(&service.file, labels, &[entry])
        }
        Some(_) => None,
        None => {
            let metadata = service.metadata()?;
            let opening = service.file.snippet(metadata.span);
            if opening.starts_with('{') {
                insert_entry(&service.file, metadata, &[format!("labels: {{{entry}}}")])
            } else {
                insert_entry(
                    &service.file,
                    metadata,
                    &["labels:".into(), format!("  {entry}")],
                )
            }
        }
    }
}
