use mspack_yaml::Node;

use crate::crossref::{containers, protocol};
use crate::declare_rule;
use crate::fast_map::FastMap;
use crate::finding::Findings;
use crate::resource::{Kind, Resource, port_number};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// Ports declared twice:
    /// - in one pod template (a Pod or the template of a workload controller), two container
    ///   ports with the same `containerPort` and `protocol` (`TCP` when absent), in one
    ///   container or across its containers, init and sidecar containers;
    /// - in one container, two ports with the same `name`;
    /// - in a Service, two ports with the same `port` and `protocol`, or the same `name`.
    ///
    /// ## Why it matters
    /// The API server rejects a Service with a repeated port or port name, and a container with a
    /// repeated port name. Two containers of a pod cannot both listen on one port of the pod's
    /// network namespace: one of them fails to bind, and a Service or a sidecar sending to that
    /// port reaches whichever bound first. Kubernetes only warns about the duplicate
    /// `containerPort`; in Istio the sidecar builds one inbound listener per port and keeps one.
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
    ///       - name: metrics
    ///         image: food/exporter:1.0
    ///         ports: [{name: metrics, containerPort: 8080}]
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
    ///       - name: metrics
    ///         image: food/exporter:1.0
    ///         ports: [{name: metrics, containerPort: 9090}]
    /// ```
    /// Give each port its own number (and each port of a container or Service its own name).
    pub static DUPLICATE_PORTS = Rule {
        code: "MSP402",
        name: "duplicate-ports",
        severity: Error,
        summary: "a port number or port name is declared twice in one pod template or service",
        mirrors: None,
        each: check on Kind::WORKLOADS_AND_SERVICE,
    };
}

fn check(_: &Workspace, resource: &Resource, out: &mut Findings) {
    if resource.kind == Kind::Service {
        check_service(resource, out);
    } else {
        check_pod(resource, out);
    }
}

fn line(node: &Node) -> u32 {
    node.span.start.line
}

fn check_pod(workload: &Resource, out: &mut Findings) {
    // (number, protocol) -> (container, node) of the first declaration in the pod.
    let mut numbers: FastMap<(i64, &str), (&str, &Node)> = FastMap::default();
    for container in containers(workload) {
        let mut names: FastMap<&str, &Node> = FastMap::default();
        for port in container
            .node
            .get("ports")
            .into_iter()
            .flat_map(Node::items)
        {
            if let Some(name) = port.get("name").and_then(Node::as_str) {
                if let Some(first) = names.get(name) {
                    out.report(
                        workload,
                        port.get("name").unwrap_or(port),
                        format!(
                            "container {:?} names two ports {name:?} (the first at line {}); the \
                             API server rejects the pod",
                            container.name,
                            line(first)
                        ),
                    )
                    .help("give each port of the container its own name");
                } else {
                    names.insert(name, port);
                }
            }
            let Some(number_node) = port.get("containerPort") else {
                continue;
            };
            let Some(number) = port_number(number_node) else {
                continue;
            };
            let proto = protocol(port);
            match numbers.get(&(number, proto)) {
                Some((first_container, first)) => {
                    let place = if *first_container == container.name {
                        format!("container {:?} declares it twice", container.name)
                    } else {
                        format!(
                            "container {:?} declares it and so does container {first_container:?}",
                            container.name
                        )
                    };
                    out.report(
                        workload,
                        number_node,
                        format!(
                            "containerPort {number}/{proto} is declared again (first at line {}): \
                             {place}; only one process of the pod can listen on it",
                            line(first)
                        ),
                    )
                    .help("give each container port of the pod its own number");
                }
                None => {
                    numbers.insert((number, proto), (container.name, port));
                }
            }
        }
    }
}

fn check_service(svc: &Resource, out: &mut Findings) {
    let mut numbers: FastMap<(i64, &str), &Node> = FastMap::default();
    let mut names: FastMap<&str, &Node> = FastMap::default();
    for port in svc.spec_at(&["ports"]).into_iter().flat_map(Node::items) {
        if let Some(name_node) = port.get("name")
            && let Some(name) = name_node.as_str()
        {
            match names.get(name) {
                Some(first) => {
                    out.report(
                        svc,
                        name_node,
                        format!(
                            "service {:?} names two ports {name:?} (the first at line {}); the \
                             API server rejects it",
                            svc.name,
                            line(first)
                        ),
                    )
                    .help("give each port of the Service its own name");
                }
                None => {
                    names.insert(name, port);
                }
            }
        }
        let Some(number_node) = port.get("port") else {
            continue;
        };
        let Some(number) = port_number(number_node) else {
            continue;
        };
        let proto = protocol(port);
        match numbers.get(&(number, proto)) {
            Some(first) => {
                out.report(
                    svc,
                    number_node,
                    format!(
                        "service {:?} declares port {number}/{proto} twice (the first at line \
                         {}); the API server rejects it",
                        svc.name,
                        line(first)
                    ),
                )
                .help("give each port of the Service its own number");
            }
            None => {
                numbers.insert((number, proto), port);
            }
        }
    }
}
