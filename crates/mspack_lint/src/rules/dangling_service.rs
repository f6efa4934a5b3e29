use std::collections::HashSet;

use crate::declare_rule;
use crate::finding::Findings;
use crate::resource::{Kind, Resource};
use crate::workloads::{Selector, Values, namespace_phrase};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// Services with a selector whose namespace has workloads in the input (Pods or pod
    /// templates of Deployments, StatefulSets, DaemonSets, ReplicaSets, ReplicationControllers,
    /// Jobs, CronJobs or Argo Rollouts) but none that the selector selects. For a Service that
    /// names no namespace, only workloads without one in the same directory count (such files
    /// may be applied to different namespaces). The finding points
    /// at the selector. Services without a selector (ExternalName, manually managed
    /// Endpoints) are not checked, and neither is a Service in a namespace with no workload in
    /// the input: a partial set (Services linted apart from their Deployments, pods created by
    /// an operator) cannot say that nothing matches.
    ///
    /// kube-linter's `dangling-service` covers the same ground (it reports a Service in a
    /// namespace with no workload in the input too).
    ///
    /// Off by default; enable the MSP2xx rules with `--extend-select MSP2` (on top of the
    /// default set) or `--select MSP2` (alone).
    ///
    /// ## Why it matters
    /// The Service gets no endpoints: its ClusterIP accepts connections that fail, and in the
    /// mesh every request to it ends in `503 no healthy upstream`. A typo in a label or a
    /// label renamed in the Deployment but not in the Service is the usual cause.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: v1
    /// kind: Service
    /// metadata: {name: orders, namespace: food}
    /// spec:
    ///   selector: {app: order}
    ///   ports: [{name: http, port: 80, targetPort: 8080}]
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
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: v1
    /// kind: Service
    /// metadata: {name: orders, namespace: food}
    /// spec:
    ///   selector: {app: orders}
    ///   ports: [{name: http, port: 80, targetPort: 8080}]
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
    /// ```
    /// Make the selector name labels the pods carry.
    pub static DANGLING_SERVICE = Rule {
        code: "MSP215",
        name: "dangling-service",
        severity: Warning,
        summary: "a Service's selector matches no workload of its namespace",
        mirrors: None,
        enabled_by_default: false,
        check: check,
    };
}

/// The directory of a resource's file (workloads of the unknown namespace count only beside
/// the Service: files without a namespace may be applied to different ones).
fn directory(r: &Resource) -> &str {
    r.file.path.rsplit_once('/').map_or("", |(dir, _)| dir)
}

fn check(ws: &Workspace, out: &mut Findings) {
    let real = |i: usize| ws.resources.get(i).filter(|r| !r.assumed);
    // Where workloads are: namespaces, and (namespace, directory) for the directory test of
    // Services that name no namespace. Built once: Services times workloads would be quadratic.
    let mut namespaces: HashSet<&str> = HashSet::new();
    let mut directories: HashSet<(&str, &str)> = HashSet::new();
    for r in ws.workloads().iter().filter_map(|w| real(w.resource)) {
        namespaces.insert(r.ns.as_str());
        directories.insert((r.ns.as_str(), directory(r)));
    }
    for svc in ws.of_kind(Kind::Service).filter(|s| !s.assumed) {
        let Some(node) = svc.spec_at(&["selector"]).filter(|n| !n.is_null()) else {
            continue;
        };
        if svc.spec_at(&["type"]).and_then(|t| t.as_str()) == Some("ExternalName") {
            continue;
        }
        let selector = Selector::read(Some(node), Values::AsWritten);
        if selector.is_empty() {
            continue;
        }
        let ns = svc.ns.as_str();
        // Workloads that can be the Service's: of its namespace, and beside it when the
        // namespace is not written.
        let has_workloads = if svc.namespace.is_some() {
            namespaces.contains(ns)
        } else {
            directories.contains(&(ns, directory(svc)))
        };
        if !has_workloads
            || ws
                .select_workloads(Some(ns), &selector)
                .filter_map(|w| real(w.resource))
                .next()
                .is_some()
        {
            continue;
        }
        let place = if svc.namespace.is_some() {
            namespace_phrase(ns)
        } else {
            "its directory".to_string()
        };
        out.report(
            svc,
            node,
            format!(
                "selector {} matches no pod of the workloads in {place}: the Service has no \
                 endpoints and every connection to it fails",
                selector.text()
            ),
        )
        .help("make the selector name labels that the pods of the intended workload carry");
    }
}
