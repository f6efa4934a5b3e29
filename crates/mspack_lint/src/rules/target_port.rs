use mspack_yaml::Node;

use crate::crossref::{CONTAINER_LISTS, containers, protocol};
use crate::declare_rule;
use crate::finding::{Findings, listed};
use crate::resource::{Kind, Resource, port_number};
use crate::workloads::{Selector, Values};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// Every Service with a selector whose pods are in the input (Pods or pod templates of its
    /// namespace that the selector selects), and each of its ports whose `targetPort` reaches no
    /// port of those pods:
    /// - a named `targetPort` that no container port of any selected pod template is named;
    /// - a numeric `targetPort` (or the `port`, when `targetPort` is absent) that no
    ///   `containerPort` of the same protocol declares, when every container of the selected
    ///   pods declares its ports (a container without `ports` may listen anywhere: undecidable).
    ///
    /// Services without a selector (ExternalName, manual Endpoints) and Services whose selector
    /// selects nothing in the input are not checked.
    /// Kiali: KIA0701 (`service.deployment.port.mismatch`).
    ///
    /// ## Why it matters
    /// The Service's endpoints are built from the pods' ports: a named targetPort that no pod
    /// declares gives no endpoint at all, and a numeric one that nothing listens on gives
    /// endpoints whose connections are refused. Either way the Service is applied cleanly and
    /// every call through it fails.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: apps/v1
    /// kind: Deployment
    /// metadata: {name: orders, namespace: food}
    /// spec:
    ///   selector: {matchLabels: {app: orders}}
    ///   template:
    ///     metadata: {labels: {app: orders}}
    ///     spec:
    ///       containers:
    ///       - name: orders
    ///         image: food/orders:1.0
    ///         ports: [{name: http, containerPort: 8080}]
    /// ---
    /// apiVersion: v1
    /// kind: Service
    /// metadata: {name: orders, namespace: food}
    /// spec:
    ///   selector: {app: orders}
    ///   ports: [{name: http, port: 80, targetPort: web}]
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: apps/v1
    /// kind: Deployment
    /// metadata: {name: orders, namespace: food}
    /// spec:
    ///   selector: {matchLabels: {app: orders}}
    ///   template:
    ///     metadata: {labels: {app: orders}}
    ///     spec:
    ///       containers:
    ///       - name: orders
    ///         image: food/orders:1.0
    ///         ports: [{name: http, containerPort: 8080}]
    /// ---
    /// apiVersion: v1
    /// kind: Service
    /// metadata: {name: orders, namespace: food}
    /// spec:
    ///   selector: {app: orders}
    ///   ports: [{name: http, port: 80, targetPort: http}]
    /// ```
    pub static TARGET_PORT_NOT_EXPOSED = Rule {
        code: "MSP403",
        name: "target-port-not-exposed",
        severity: Error,
        summary: "a service targetPort matches no container port of the pods it selects",
        mirrors: None,
        each: check on &[Kind::Service],
    };
}

/// The ports of the pod templates a Service selects.
struct Selected<'a> {
    workloads: Vec<&'a Resource>,
    /// (name, number, protocol) of every container port.
    ports: Vec<(Option<&'a str>, Option<i64>, &'a str)>,
    /// Whether some long-running container declares no ports.
    undeclared: bool,
}

fn selected<'a>(ws: &'a Workspace, svc: &Resource, selector: &Selector) -> Selected<'a> {
    let mut out = Selected {
        workloads: Vec::new(),
        ports: Vec::new(),
        undeclared: false,
    };
    for w in ws.select_workloads(Some(&svc.ns), selector) {
        let Some(workload) = ws.resources.get(w.resource) else {
            continue;
        };
        out.workloads.push(workload);
        for container in containers(workload) {
            let ports = container.node.get("ports").filter(|p| p.items().len() > 0);
            let long_running = container.list == CONTAINER_LISTS[0]
                || (container.list == CONTAINER_LISTS[1]
                    && container.node.get("restartPolicy").and_then(Node::as_str)
                        == Some("Always"));
            if ports.is_none() && long_running {
                out.undeclared = true;
            }
            for port in ports.into_iter().flat_map(Node::items) {
                out.ports.push((
                    port.get("name").and_then(Node::as_str),
                    port.get("containerPort").and_then(port_number),
                    protocol(port),
                ));
            }
        }
    }
    out
}

fn check(ws: &Workspace, svc: &Resource, out: &mut Findings) {
    if svc.spec_at(&["type"]).and_then(Node::as_str) == Some("ExternalName") {
        return;
    }
    let selector = Selector::read(svc.spec_at(&["selector"]), Values::AsWritten);
    if selector.is_empty() {
        return;
    }
    let pods = selected(ws, svc, &selector);
    if pods.workloads.is_empty() {
        return;
    }
    for port in svc.spec_at(&["ports"]).into_iter().flat_map(Node::items) {
        check_port(svc, port, &pods, out);
    }
}

fn check_port(svc: &Resource, port: &Node, pods: &Selected<'_>, out: &mut Findings) {
    let target_node = port.get("targetPort").filter(|t| !t.is_null());
    let Some(node) = target_node.or_else(|| port.get("port")) else {
        return;
    };
    let proto = protocol(port);
    let workloads = || {
        listed(
            &pods
                .workloads
                .iter()
                .map(|w| w.display_name())
                .collect::<Vec<_>>(),
        )
    };
    let port_name = port
        .get("name")
        .and_then(Node::as_str)
        .map_or_else(String::new, |n| format!(" {n:?}"));
    match port_number(node) {
        Some(number) => {
            if pods.undeclared
                || pods
                    .ports
                    .iter()
                    .any(|(_, n, p)| *n == Some(number) && *p == proto)
            {
                return;
            }
            let what = if target_node.is_some() {
                "targetPort"
            } else {
                "port (no targetPort given)"
            };
            out.report(
                svc,
                node,
                format!(
                    "{what} {number}/{proto} of service port{port_name} is no containerPort of \
                     the pods the service selects ({}); connections to it are refused",
                    workloads()
                ),
            )
            .help("set `targetPort` to a port the containers declare, or declare the port in the container");
        }
        None => {
            let Some(name) = node.as_str() else { return };
            if pods.ports.iter().any(|(n, _, _)| *n == Some(name)) {
                return;
            }
            out.report(
                svc,
                node,
                format!(
                    "targetPort {name:?} of service port{port_name} names no container port of \
                     the pods the service selects ({}); the service gets no endpoints for it",
                    workloads()
                ),
            )
            .help("use the `name` of a container port, or the port number");
        }
    }
}
