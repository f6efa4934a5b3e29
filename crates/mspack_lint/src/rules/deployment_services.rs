use std::collections::{BTreeMap, BTreeSet};

use mspack_yaml::Node;

use crate::declare_rule;
use crate::fast_map::FastMap;
use crate::finding::Findings;
use crate::resource::{Kind, Resource, int_or_string};
use crate::workloads::{Selector, Values, deployment_in_mesh};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// Every Deployment in the mesh (it has an `istio-proxy` container, `sidecar.istio.io/inject:
    /// "true"` on its pod template, or its Namespace is labelled `istio-injection: enabled`)
    /// whose pods are selected by several Services of its namespace that declare the same port
    /// number with different protocols (`protocol`, `TCP` when absent). Waypoint Deployments
    /// are skipped.
    ///
    /// ## Why it matters
    /// The sidecar builds one inbound listener per port of the pod. When two Services disagree
    /// on the protocol of that port, only one protocol wins and traffic sent through the other
    /// Service is handled with the wrong one.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: v1
    /// kind: Namespace
    /// metadata: {name: delivery, labels: {istio-injection: enabled}}
    /// ---
    /// apiVersion: apps/v1
    /// kind: Deployment
    /// metadata: {name: courier, namespace: delivery}
    /// spec:
    ///   selector: {matchLabels: {app: courier}}
    ///   template:
    ///     metadata: {labels: {app: courier}}
    ///     spec:
    ///       containers: [{name: courier, image: food/courier:1.4}]
    /// ---
    /// apiVersion: v1
    /// kind: Service
    /// metadata: {name: courier, namespace: delivery}
    /// spec:
    ///   selector: {app: courier}
    ///   ports: [{name: http, port: 8080}]
    /// ---
    /// apiVersion: v1
    /// kind: Service
    /// metadata: {name: courier-dns, namespace: delivery}
    /// spec:
    ///   selector: {app: courier}
    ///   ports: [{name: udp-dns, port: 8080, protocol: UDP}]
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: v1
    /// kind: Namespace
    /// metadata: {name: delivery, labels: {istio-injection: enabled}}
    /// ---
    /// apiVersion: apps/v1
    /// kind: Deployment
    /// metadata: {name: courier, namespace: delivery}
    /// spec:
    ///   selector: {matchLabels: {app: courier}}
    ///   template:
    ///     metadata: {labels: {app: courier}}
    ///     spec:
    ///       containers: [{name: courier, image: food/courier:1.4}]
    /// ---
    /// apiVersion: v1
    /// kind: Service
    /// metadata: {name: courier, namespace: delivery}
    /// spec:
    ///   selector: {app: courier}
    ///   ports: [{name: http, port: 8080}]
    /// ---
    /// apiVersion: v1
    /// kind: Service
    /// metadata: {name: courier-dns, namespace: delivery}
    /// spec:
    ///   selector: {app: courier}
    ///   ports: [{name: udp-dns, port: 5353, protocol: UDP}]
    /// ```
    pub static ASSOCIATED_TO_MULTIPLE_SERVICES = Rule {
        code: "IST0116",
        name: "DeploymentAssociatedToMultipleServices",
        severity: Warning,
        summary: "services selecting one deployment give one port different protocols",
        mirrors: Some("deployment.ServiceAssociationAnalyzer"),
        check: check_protocols,
    };
}

declare_rule! {
    /// ## What it checks
    /// Every Deployment in the mesh (as for IST0116) whose pods are selected by Services of its
    /// namespace that send one `targetPort` (the `port` when none is given) from different
    /// service `port` numbers. Waypoint Deployments are skipped.
    ///
    /// ## Why it matters
    /// Istio keys a workload's inbound configuration by container port and expects every
    /// Service that reaches the same container port to use the same service port. With two,
    /// the inbound cluster and its protocol and policies come from one of them, and traffic
    /// through the other Service can be rejected or handled with the wrong settings.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: apps/v1
    /// kind: Deployment
    /// metadata: {name: menu, namespace: kitchen}
    /// spec:
    ///   selector: {matchLabels: {app: menu}}
    ///   template:
    ///     metadata:
    ///       labels: {app: menu, sidecar.istio.io/inject: "true"}
    ///     spec:
    ///       containers: [{name: menu, image: food/menu:2.0}]
    /// ---
    /// apiVersion: v1
    /// kind: Service
    /// metadata: {name: menu, namespace: kitchen}
    /// spec:
    ///   selector: {app: menu}
    ///   ports: [{name: http, port: 80, targetPort: 8080}]
    /// ---
    /// apiVersion: v1
    /// kind: Service
    /// metadata: {name: menu-internal, namespace: kitchen}
    /// spec:
    ///   selector: {app: menu}
    ///   ports: [{name: http, port: 8080}]
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: apps/v1
    /// kind: Deployment
    /// metadata: {name: menu, namespace: kitchen}
    /// spec:
    ///   selector: {matchLabels: {app: menu}}
    ///   template:
    ///     metadata:
    ///       labels: {app: menu, sidecar.istio.io/inject: "true"}
    ///     spec:
    ///       containers: [{name: menu, image: food/menu:2.0}]
    /// ---
    /// apiVersion: v1
    /// kind: Service
    /// metadata: {name: menu, namespace: kitchen}
    /// spec:
    ///   selector: {app: menu}
    ///   ports: [{name: http, port: 80, targetPort: 8080}]
    /// ---
    /// apiVersion: v1
    /// kind: Service
    /// metadata: {name: menu-internal, namespace: kitchen}
    /// spec:
    ///   selector: {app: menu}
    ///   ports: [{name: http, port: 80, targetPort: 8080}]
    /// ```
    pub static CONFLICTING_PORTS = Rule {
        code: "IST0137",
        name: "DeploymentConflictingPorts",
        severity: Warning,
        summary: "services selecting one deployment map one targetPort from different ports",
        mirrors: Some("deployment.ServiceAssociationAnalyzer"),
        check: check_target_ports,
    };
}

/// `gateway.istio.io/managed` value of waypoint Deployments.
const WAYPOINT_CONTROLLER: &str = "istio.io-mesh-controller";

/// A Service with a non-empty selector, as the deployment rules read it.
struct SelectingService<'a> {
    /// `namespace/name` (or `name` without a namespace), as Istio prints it.
    name: String,
    ports: Vec<&'a Node>,
}

/// Deployments in the mesh selected by two or more Services of their namespace, with those
/// Services' resource ids in input order. Both rules of this analyzer read it; it is computed once.
struct Associations(Vec<(usize, Vec<usize>)>);

fn associations(ws: &Workspace) -> Associations {
    // Deployment (resource id) -> the Services selecting its pods, in input order.
    let mut selected_by: FastMap<usize, Vec<usize>> = FastMap::default();
    for svc in ws.of_kind(Kind::Service) {
        let selector = Selector::read(svc.spec_at(&["selector"]), Values::AsWritten);
        if selector.is_empty() {
            continue;
        }
        let deployments = ws
            .select_workloads(Some(&svc.ns), &selector)
            .filter(|w| ws.resources[w.resource].kind == Kind::Deployment);
        for w in deployments {
            selected_by.entry(w.resource).or_default().push(svc.id);
        }
    }
    let mut out = Vec::new();
    for deployment in ws.of_kind(Kind::Deployment) {
        let Some(ids) = selected_by
            .remove(&deployment.id)
            .filter(|ids| ids.len() > 1)
        else {
            continue;
        };
        if deployment.label("gateway.istio.io/managed") == Some(WAYPOINT_CONTROLLER)
            || !deployment_in_mesh(ws, deployment)
        {
            continue;
        }
        out.push((deployment.id, ids));
    }
    Associations(out)
}

/// Call `visit` with every Deployment in the mesh and the Services of its namespace that select
/// its pods (in input order), when there are at least two.
fn for_each_deployment<'w>(
    ws: &'w Workspace,
    mut visit: impl FnMut(&'w Resource, &[&SelectingService<'w>]),
) {
    let shared = ws.shared(|| associations(ws));
    for (deployment, ids) in &shared.0 {
        let services: Vec<SelectingService<'w>> = ids
            .iter()
            .map(|&id| {
                let svc = &ws.resources[id];
                SelectingService {
                    name: svc.full_name(),
                    ports: svc
                        .spec_at(&["ports"])
                        .into_iter()
                        .flat_map(Node::items)
                        .collect(),
                }
            })
            .collect();
        let selecting: Vec<&SelectingService<'w>> = services.iter().collect();
        visit(&ws.resources[*deployment], &selecting);
    }
}

fn port_number(port: &Node) -> i64 {
    port.get("port").and_then(Node::as_i64).unwrap_or(0)
}

fn check_protocols(ws: &Workspace, out: &mut Findings) {
    for_each_deployment(ws, |deployment, services| {
        // port -> protocol -> services
        let mut ports: BTreeMap<i64, BTreeMap<&str, Vec<&str>>> = BTreeMap::new();
        for svc in services {
            for port in &svc.ports {
                let protocol = port
                    .get("protocol")
                    .and_then(Node::as_str)
                    .filter(|p| !p.is_empty())
                    .unwrap_or("TCP");
                ports
                    .entry(port_number(port))
                    .or_default()
                    .entry(protocol)
                    .or_default()
                    .push(&svc.name);
            }
        }
        for (port, protocols) in ports {
            if protocols.len() < 2 {
                continue;
            }
            let mut names: Vec<&str> = protocols.values().flatten().copied().collect();
            names.sort_unstable();
            let listed = protocols.keys().copied().collect::<Vec<_>>().join(", ");
            out.report(
                deployment,
                deployment.anchor(),
                format!(
                    "deployment \"{}\" is selected by services that give port {port} different protocols ({listed}): {}",
                    deployment.name,
                    crate::finding::listed(&names)
                ),
            )
            .help("use one protocol for the port in every Service selecting these pods, or move one Service to another port");
        }
    });
}

fn check_target_ports(ws: &Workspace, out: &mut Findings) {
    for_each_deployment(ws, |deployment, services| {
        // targetPort -> port -> service (the last one seen)
        let mut targets: BTreeMap<String, BTreeMap<i64, &str>> = BTreeMap::new();
        for svc in services {
            for port in &svc.ports {
                let number = port_number(port);
                let mut target = int_or_string(port.get("targetPort"));
                if target == "0" || target.is_empty() {
                    target = number.to_string();
                }
                targets.entry(target).or_default().insert(number, &svc.name);
            }
        }
        for (target, ports) in targets {
            if ports.len() < 2 {
                continue;
            }
            let names: BTreeSet<&str> = ports.values().copied().collect();
            let numbers: Vec<String> = ports.keys().map(i64::to_string).collect();
            out.report(
                deployment,
                deployment.anchor(),
                format!(
                    "deployment \"{}\" is selected by services {} that send targetPort {target} from different ports: {}",
                    deployment.name,
                    crate::finding::listed(&names.into_iter().collect::<Vec<_>>()),
                    numbers.join(", ")
                ),
            )
            .help("give the Services the same `port` for this targetPort");
        }
    });
}
