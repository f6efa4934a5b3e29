//! `destinationrule.PodNotSelectedAnalyzer`: a DestinationRule's host must be a known service,
//! and each of its subsets must select at least one workload.

use std::collections::HashMap;

use mspack_yaml::Node;

use crate::declare_rule;
use crate::finding::Findings;
use crate::hosts::to_fqdn;
use crate::resource::{Kind, Resource};
use crate::workloads::{Labels, Selector, Values, Workload, WorkloadIndex, read_labels_as};
use crate::workspace::{MeshService, Workspace};

declare_rule! {
    /// ## What it checks
    /// A DestinationRule whose `host` is neither a Kubernetes Service nor a ServiceEntry host
    /// visible from the rule's namespace (with Istio's `exportTo` scoping and wildcard
    /// ServiceEntry hosts). A short host is read in the DestinationRule's namespace.
    /// Kiali: KIA0202 (`destinationrules.nodest.matchingregistry`).
    ///
    /// ## Why it matters
    /// A DestinationRule for an unknown host applies to nothing: its load balancing, TLS and
    /// subsets are silently ignored, usually because of a typo or a wrong namespace in the host.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: DestinationRule
    /// metadata: {name: kitchen, namespace: kitchen}
    /// spec:
    ///   host: kitchen-api.kitchen.svc.cluster.local
    ///   trafficPolicy: {loadBalancer: {simple: LEAST_REQUEST}}
    /// ---
    /// apiVersion: v1
    /// kind: Service
    /// metadata: {name: kitchen, namespace: kitchen}
    /// spec:
    ///   selector: {app: kitchen}
    ///   ports: [{name: http, port: 8080}]
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: DestinationRule
    /// metadata: {name: kitchen, namespace: kitchen}
    /// spec:
    ///   host: kitchen.kitchen.svc.cluster.local
    ///   trafficPolicy: {loadBalancer: {simple: LEAST_REQUEST}}
    /// ---
    /// apiVersion: v1
    /// kind: Service
    /// metadata: {name: kitchen, namespace: kitchen}
    /// spec:
    ///   selector: {app: kitchen}
    ///   ports: [{name: http, port: 8080}]
    /// ```
    /// The check only means something when the Services are among the linted files.
    pub static UNKNOWN_DESTINATION_RULE_HOST = Rule {
        code: "IST0174",
        name: "UnknownDestinationRuleHost",
        severity: Warning,
        summary: "a destination rule host matches no service in the mesh",
        mirrors: Some("destinationrule.PodNotSelectedAnalyzer"),
        context: &[Kind::Service],
        each: check_hosts on &[Kind::DestinationRule],
    };
}

declare_rule! {
    /// ## What it checks
    /// Each subset of a DestinationRule whose host is known: its `labels`, merged over the
    /// `workloadSelector` labels of a ServiceEntry host, must be carried by at least one Pod or
    /// pod template, in any namespace. Like Istio, a Pod's labels are completed with the topology
    /// labels of its node: `kubernetes.io/hostname` from `spec.nodeName`, and
    /// `topology.kubernetes.io/region`, `topology.kubernetes.io/zone` and
    /// `topology.istio.io/subzone` from that Node's labels when the Node is in the files.
    /// Subsets with the same name count once (the last one).
    /// Kiali: KIA0203 (`destinationrules.nodest.subsetlabels`).
    ///
    /// ## Why it matters
    /// Routing to a subset that selects no endpoint fails every request with 503
    /// `NoHealthyUpstream` (UH). It usually means a version label changed in the Deployment but
    /// not in the DestinationRule.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: DestinationRule
    /// metadata: {name: delivery, namespace: delivery}
    /// spec:
    ///   host: delivery.delivery.svc.cluster.local
    ///   subsets:
    ///   - name: v2
    ///     labels: {version: v2}
    /// ---
    /// apiVersion: v1
    /// kind: Service
    /// metadata: {name: delivery, namespace: delivery}
    /// spec:
    ///   selector: {app: delivery}
    ///   ports: [{name: http, port: 8080}]
    /// ---
    /// apiVersion: apps/v1
    /// kind: Deployment
    /// metadata: {name: delivery-v1, namespace: delivery}
    /// spec:
    ///   selector: {matchLabels: {app: delivery, version: v1}}
    ///   template:
    ///     metadata: {labels: {app: delivery, version: v1}}
    ///     spec: {containers: [{name: delivery, image: food/delivery:1.0}]}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: DestinationRule
    /// metadata: {name: delivery, namespace: delivery}
    /// spec:
    ///   host: delivery.delivery.svc.cluster.local
    ///   subsets:
    ///   - name: v1
    ///     labels: {version: v1}
    /// ---
    /// apiVersion: v1
    /// kind: Service
    /// metadata: {name: delivery, namespace: delivery}
    /// spec:
    ///   selector: {app: delivery}
    ///   ports: [{name: http, port: 8080}]
    /// ---
    /// apiVersion: apps/v1
    /// kind: Deployment
    /// metadata: {name: delivery-v1, namespace: delivery}
    /// spec:
    ///   selector: {matchLabels: {app: delivery, version: v1}}
    ///   template:
    ///     metadata: {labels: {app: delivery, version: v1}}
    ///     spec: {containers: [{name: delivery, image: food/delivery:1.0}]}
    /// ```
    /// The check only means something when the workloads are among the linted files.
    pub static SUBSET_SELECTS_NO_PODS = Rule {
        code: "IST0173",
        name: "DestinationRuleSubsetNotSelectPods",
        severity: Error,
        summary: "a destination rule subset selects no pods",
        mirrors: Some("destinationrule.PodNotSelectedAnalyzer"),
        context: Kind::WORKLOADS,
        each: check_subsets on &[Kind::DestinationRule],
    };
}

/// The service a DestinationRule's host resolves to, as Istio's analyzers look it up.
fn resolve<'a>(ws: &'a Workspace, dr: &Resource) -> Option<&'a MeshService> {
    let export_to = dr.export_to().unwrap_or_default();
    let host = dr.spec_at(&["host"]).and_then(Node::as_str).unwrap_or("");
    ws.hosts()
        .lookup(&dr.ns, &export_to, host, ws.cluster_domain())
}

fn check_hosts(ws: &Workspace, dr: &Resource, out: &mut Findings) {
    if resolve(ws, dr).is_some() {
        return;
    }
    let host_node = dr.spec_at(&["host"]);
    let host = host_node.and_then(Node::as_str).unwrap_or("");
    let fqdn = to_fqdn(&dr.ns, host, ws.cluster_domain());
    let read_as = if fqdn != host && !host.is_empty() && !dr.ns.is_empty() {
        format!(" (read as \"{fqdn}\")")
    } else {
        String::new()
    };
    out.report(
        dr,
        host_node
            .or_else(|| dr.spec())
            .unwrap_or_else(|| dr.anchor()),
        format!("host \"{host}\"{read_as} matches no Service or ServiceEntry host in the mesh"),
    )
    .help(
        "check the host's spelling and namespace, or add the Service or ServiceEntry it \
         refers to (and make sure its exportTo lets this namespace see it)",
    );
}

const REGION: &str = "topology.kubernetes.io/region";
const ZONE: &str = "topology.kubernetes.io/zone";
const SUBZONE: &str = "topology.istio.io/subzone";
const HOSTNAME: &str = "kubernetes.io/hostname";

/// A workload's labels completed with its node's topology, as Istio's service registry does.
fn augmented_labels(ws: &Workspace, resource: &Resource, labels: Labels) -> Labels {
    let mut out = labels;
    let node_name = resource
        .pod_template()
        .and_then(|t| t.str_at(&["spec", "nodeName"]))
        .unwrap_or("");
    if node_name.is_empty() {
        return out;
    }
    if let Some(node) = ws.find(Kind::Node, "", node_name) {
        let node_labels = read_labels_as(node.labels(), Values::NullAsEmpty);
        let get = |k: &str| node_labels.get(k).map(String::as_str).unwrap_or("");
        // The locality travels as `region/zone/subzone` text, where an empty zone ends it.
        let mut locality = get(REGION).to_string();
        if !get(ZONE).is_empty() {
            locality.push('/');
            locality.push_str(get(ZONE));
            if !get(SUBZONE).is_empty() {
                locality.push('/');
                locality.push_str(get(SUBZONE));
            }
        }
        let parts: Vec<&str> = locality.split('/').collect();
        let (region, zone, subzone) = match parts.as_slice() {
            [r] => (*r, "", ""),
            [r, z] => (*r, *z, ""),
            [r, z, s, ..] => (*r, *z, *s),
            [] => ("", "", ""),
        };
        for (key, value) in [(REGION, region), (ZONE, zone), (SUBZONE, subzone)] {
            if !value.is_empty() {
                out.insert(key.to_string(), value.to_string());
            }
        }
    }
    out.insert(HOSTNAME.to_string(), node_name.to_string());
    out
}

/// The workloads with their labels completed by their node's topology, when a workload names a
/// node (else the plain labels are the ones to match).
/// Workloads with their node's topology labels; `None` when no workload names a node.
struct Topology(Option<WorkloadIndex>);

fn topology_index(ws: &Workspace) -> Option<WorkloadIndex> {
    let on_node = |w: &Workload| {
        ws.resources
            .get(w.resource)
            .and_then(Resource::pod_template)
            .and_then(|t| t.str_at(&["spec", "nodeName"]))
            .is_some_and(|n| !n.is_empty())
    };
    if !ws.workloads().iter().any(on_node) {
        return None;
    }
    Some(WorkloadIndex::from_workloads(ws.workloads().iter().map(
        |w| Workload {
            labels: augmented_labels(ws, &ws.resources[w.resource], w.labels.clone()),
            ..w.clone()
        },
    )))
}

fn check_subsets(ws: &Workspace, dr: &Resource, out: &mut Findings) {
    let Some(service) = resolve(ws, dr) else {
        return;
    };
    let subsets: Vec<&Node> = dr
        .spec_at(&["subsets"])
        .into_iter()
        .flat_map(Node::items)
        .collect();
    if subsets.is_empty() {
        return;
    }
    let topology = ws.shared(|| Topology(topology_index(ws)));
    let index = topology.0.as_ref().unwrap_or_else(|| ws.workload_index());
    let base = match ws.resources.get(service.resource) {
        Some(r) if r.kind == Kind::ServiceEntry => read_labels_as(
            r.spec_at(&["workloadSelector", "labels"]),
            Values::NullAsEmpty,
        ),
        _ => Labels::new(),
    };
    // Subsets are known by name: a repeated name keeps the last definition.
    let mut by_name: Vec<(&str, &Node)> = Vec::new();
    let mut position: HashMap<&str, usize> = HashMap::new();
    for subset in subsets {
        let name = subset.get("name").and_then(Node::as_str).unwrap_or("");
        match position.get(name) {
            Some(&i) => by_name[i].1 = subset,
            None => {
                position.insert(name, by_name.len());
                by_name.push((name, subset));
            }
        }
    }
    for (name, subset) in by_name {
        let mut labels = base.clone();
        labels.extend(read_labels_as(subset.get("labels"), Values::NullAsEmpty));
        if index
            .select(None, &Selector::from_labels(labels))
            .next()
            .is_some()
        {
            continue;
        }
        out.report(
            dr,
            subset.get("name").unwrap_or(subset),
            format!("subset \"{name}\" selects no pods, so requests routed to it fail with 503 (no healthy upstream)"),
        )
        .help(
            "make the subset labels match the labels of the service's pods (for example the \
             `version` label of the Deployment's pod template)",
        );
    }
}
