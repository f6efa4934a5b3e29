use mspack_yaml::Node;

use crate::crossref::{
    Admits, Caller, authz_admits, containers, display_names, mesh_identity, mtls_mode,
    network_admits, pod_spec, target_container_port,
};
use crate::declare_rule;
use crate::finding::Findings;
use crate::resource::{Kind, Resource, port_number};
use crate::workloads::{Selector, Values, workload_in_ambient, workload_in_mesh};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// Every container env variable `OTEL_EXPORTER_OTLP_ENDPOINT` (or its `_TRACES_`,
    /// `_METRICS_`, `_LOGS_` variants) whose value is `http(s)://<service>[.<namespace>[.svc[.<cluster
    /// domain>]]]:<port>[/path]` naming a Service that is in the input (a short name means the
    /// sender's namespace). It reports when
    /// - the Service has no port of that number, or
    /// - the NetworkPolicies isolating the Collector pods the Service selects admit no ingress
    ///   from the sender's namespace to that port (as MSP404 decides it), or
    /// - the Collector pods are in the mesh (a sidecar, injection enabled for them or their
    ///   namespace, or ambient) and the Istio ALLOW AuthorizationPolicies applying to them admit
    ///   no request from the sender (its namespace and service account) to that port, or
    /// - the Collector pods are in the mesh and the sender has no sidecar, hence no mesh
    ///   identity, and sends plaintext: it runs with `hostNetwork` (OBI's DaemonSet), or its
    ///   pods say `sidecar.istio.io/inject: "false"` or its Namespace `istio-injection:
    ///   disabled`, the Namespace being in the input and not ambient. Such a sender is
    ///   refused when the PeerAuthentications make the Collector's port STRICT (port-level
    ///   mode, then the workload's, the namespace's, the root namespace's), and is admitted
    ///   by no ALLOW rule that asks for `principals` or `namespaces` (both come from the mTLS
    ///   certificate; `principals: ["*"]` too): a rule with only `to.operation.ports`, or one
    ///   on `ipBlocks` (undecided, never reported), is what admits it.
    ///
    /// What depends on labels or policies not in the input is never reported: a sender whose
    /// injection is neither asked for nor refused (the install decides) is reported only when
    /// it is admitted neither with its identity nor without one.
    ///
    /// ## Why it matters
    /// OpenTelemetry SDKs export in the background and drop what they cannot send: a wrong port
    /// or a Collector that admits OTLP only from its own namespace gives no error anywhere, only
    /// missing traces, metrics and logs.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: v1
    /// kind: Service
    /// metadata: {name: otel-collector, namespace: observability}
    /// spec:
    ///   selector: {app: otel-collector}
    ///   ports: [{name: grpc-otlp, port: 4317}]
    /// ---
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
    ///         env:
    ///         - {name: OTEL_EXPORTER_OTLP_ENDPOINT, value: "http://otel-collector.observability:4318"}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: v1
    /// kind: Service
    /// metadata: {name: otel-collector, namespace: observability}
    /// spec:
    ///   selector: {app: otel-collector}
    ///   ports: [{name: grpc-otlp, port: 4317}]
    /// ---
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
    ///         env:
    ///         - {name: OTEL_EXPORTER_OTLP_ENDPOINT, value: "http://otel-collector.observability:4317"}
    /// ```
    pub static OTLP_ENDPOINT_NOT_ADMITTED = Rule {
        code: "MSP405",
        name: "otlp-endpoint-not-admitted",
        severity: Error,
        summary: "an OTLP exporter endpoint names a service port that is missing or does not admit the sender",
        mirrors: None,
        each: check on Kind::WORKLOADS,
    };
}

const OTLP_VARIABLES: [&str; 4] = [
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
];

/// `(service, namespace, port)` of an in-cluster URL; `None` for anything else.
fn parse_endpoint<'a>(
    url: &'a str,
    sender_ns: &'a str,
    domain: &str,
) -> Option<(&'a str, &'a str, i64)> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let (host, port) = authority.rsplit_once(':')?;
    let port: i64 = port.parse().ok().filter(|p| (1..=65535).contains(p))?;
    let host = host.strip_suffix('.').unwrap_or(host);
    let mut labels = host.splitn(4, '.');
    let service = labels.next().filter(|s| !s.is_empty())?;
    let namespace = labels.next();
    let svc = labels.next();
    let tail = labels.next();
    let ok = match (namespace, svc, tail) {
        (None, _, _) => true,
        (Some(_), None, _) => true,
        (Some(_), Some("svc"), None) => true,
        (Some(_), Some("svc"), Some(d)) => d == domain,
        _ => false,
    };
    ok.then_some((service, namespace.unwrap_or(sender_ns), port))
}

fn check(ws: &Workspace, sender: &Resource, out: &mut Findings) {
    for container in containers(sender) {
        for env in container.node.get("env").into_iter().flat_map(Node::items) {
            let name = env.get("name").and_then(Node::as_str);
            if !name.is_some_and(|n| OTLP_VARIABLES.contains(&n)) {
                continue;
            }
            let Some(value) = env.get("value") else {
                continue;
            };
            check_endpoint(ws, sender, name.unwrap_or_default(), value, out);
        }
    }
}

fn check_endpoint(
    ws: &Workspace,
    sender: &Resource,
    variable: &str,
    value: &Node,
    out: &mut Findings,
) {
    let Some(url) = value.as_str() else { return };
    let Some((service, ns, port)) = parse_endpoint(url.trim(), &sender.ns, ws.cluster_domain())
    else {
        return;
    };
    let Some(svc) = ws.find(Kind::Service, ns, service) else {
        return;
    };
    let ports: Vec<&Node> = svc
        .spec_at(&["ports"])
        .into_iter()
        .flat_map(Node::items)
        .collect();
    let Some(svc_port) = ports
        .iter()
        .find(|p| p.get("port").and_then(port_number) == Some(port))
    else {
        let declared: Vec<String> = ports
            .iter()
            .filter_map(|p| p.get("port").and_then(port_number))
            .map(|p| p.to_string())
            .collect();
        out.report(
            sender,
            value,
            format!(
                "{variable} sends to port {port} of {}, which has no such port (it has {}); \
                 telemetry export fails silently",
                svc.display_name(),
                if declared.is_empty() { "none".to_string() } else { crate::finding::listed(&declared) }
            ),
        )
        .help("use a port the Collector's Service declares (4317 for OTLP/gRPC, 4318 for OTLP/HTTP by convention)");
        return;
    };
    let selector = Selector::read(svc.spec_at(&["selector"]), Values::AsWritten);
    if selector.is_empty() {
        return;
    }
    let service_account = pod_spec(sender)
        .and_then(|s| {
            s.get("serviceAccountName")
                .or_else(|| s.get("serviceAccount"))
        })
        .and_then(Node::as_str)
        .unwrap_or("default");
    let (identity, no_identity_reason) = mesh_identity(ws, sender);
    let caller = |plaintext| Caller {
        ns: &sender.ns,
        service_account: Some(service_account),
        plaintext,
    };
    for w in ws.select_workloads(Some(&svc.ns), &selector) {
        let Some(collector) = ws.resources.get(w.resource) else {
            continue;
        };
        let target = target_container_port(svc_port, collector);
        let (network, policies) = network_admits(ws, w, &sender.ns, target);
        if network == Admits::No {
            out.report(
                sender,
                value,
                format!(
                    "{variable} sends to {} port {port}, but {} admit{} no ingress from \
                     namespace {:?} to the Collector {}; telemetry export fails silently",
                    svc.display_name(),
                    display_names(&policies),
                    if policies.len() == 1 { "s" } else { "" },
                    sender.ns.as_str(),
                    collector.display_name()
                ),
            )
            .help(format!(
                "admit namespace {:?} in the Collector's NetworkPolicy",
                sender.ns.as_str()
            ));
            return;
        }
        // AuthorizationPolicies (and mTLS) are enforced by the Collector's proxy only.
        let in_mesh = workload_in_mesh(ws, w) || workload_in_ambient(ws, w);
        if !in_mesh {
            continue;
        }
        // A sender without a sidecar sends plaintext, which a STRICT port refuses.
        if identity == Admits::No
            && let Some((mode, pa)) = mtls_mode(ws, w, target)
            && mode == "STRICT"
        {
            out.report(
                sender,
                value,
                format!(
                    "{variable} sends to {} port {port} in plaintext ({} {:?} has no sidecar: \
                     {no_identity_reason}), but {} makes that port of the Collector {} STRICT \
                     mTLS; telemetry export fails silently",
                    svc.display_name(),
                    sender.kind_name,
                    sender.name.as_str(),
                    pa.display_name(),
                    collector.display_name()
                ),
            )
            .help(
                "give the Collector a port for senders without a sidecar, PERMISSIVE in a \
                 PeerAuthentication's `portLevelMtls` (with a selector), or mesh the sender",
            );
            return;
        }
        let (with_identity, policies) = authz_admits(ws, w, caller(false), target);
        let (without_identity, _) = authz_admits(ws, w, caller(true), target);
        let authz = match identity {
            Admits::Yes => with_identity,
            Admits::No => without_identity,
            Admits::Unknown => Admits::any([with_identity, without_identity]),
        };
        if authz == Admits::No && identity == Admits::No {
            out.report(
                sender,
                value,
                format!(
                    "{variable} sends to {} port {port}, but {} {:?} has no sidecar \
                     ({no_identity_reason}), hence no mesh identity, and {} allow{} no request \
                     without one to the Collector {}; telemetry export fails silently",
                    svc.display_name(),
                    sender.kind_name,
                    sender.name.as_str(),
                    display_names(&policies),
                    if policies.len() == 1 { "s" } else { "" },
                    collector.display_name()
                ),
            )
            .help(format!(
                "principals and namespaces match mTLS identities only: admit the port without \
                 one (a rule with `to.operation.ports: [\"{}\"]` only, or `from.source.ipBlocks`) \
                 and keep that port PERMISSIVE, or mesh the sender",
                target.unwrap_or(port)
            ));
            return;
        }
        if authz == Admits::No {
            out.report(
                sender,
                value,
                format!(
                    "{variable} sends to {} port {port}, but {} allow{} no request from \
                     {}/sa/{service_account} to the Collector {}; telemetry export fails silently",
                    svc.display_name(),
                    display_names(&policies),
                    if policies.len() == 1 { "s" } else { "" },
                    sender.ns.as_str(),
                    collector.display_name()
                ),
            )
            .help(format!(
                "allow principal `<trust domain>/ns/{}/sa/{service_account}` (or the namespace) in \
                 the Collector's AuthorizationPolicy",
                sender.ns.as_str()
            ));
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_endpoint;

    #[test]
    fn endpoints_in_the_cluster() {
        let p = |u| parse_endpoint(u, "food", "cluster.local");
        assert_eq!(p("http://otel:4317"), Some(("otel", "food", 4317)));
        assert_eq!(
            p("http://otel.obs:4318/v1/traces"),
            Some(("otel", "obs", 4318))
        );
        assert_eq!(p("https://otel.obs.svc:4317"), Some(("otel", "obs", 4317)));
        assert_eq!(
            p("http://otel.obs.svc.cluster.local:4317"),
            Some(("otel", "obs", 4317))
        );
        assert_eq!(p("http://otel.obs.svc.other.domain:4317"), None);
        assert_eq!(p("http://otel.example.com:4317"), None);
        assert_eq!(p("http://otel.obs"), None);
        assert_eq!(p("otel.obs:4317"), None);
        assert_eq!(p("http://otel:99999"), None);
        assert_eq!(p("http://:4317"), None);
    }
}
