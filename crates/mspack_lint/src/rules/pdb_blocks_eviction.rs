use std::collections::HashMap;

use mspack_yaml::Node;

use crate::declare_rule;
use crate::finding::Findings;
use crate::pod_security::others;
use crate::resource::{Kind, Resource};
use crate::workloads::Selector;
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// PodDisruptionBudgets that allow no voluntary eviction:
    /// - `maxUnavailable` of `0` or `"0%"`, or `minAvailable` of `"100%"` (whatever it
    ///   selects);
    /// - `minAvailable` at least the number of pods it selects in the input: the `replicas`
    ///   (default 1) of the Deployments, StatefulSets, ReplicaSets, ReplicationControllers and
    ///   Argo Rollouts of its namespace that its selector selects, and one per selected Pod. A
    ///   HorizontalPodAutoscaler of the input that scales a workload counts with its
    ///   `minReplicas` (default 1). A percentage is rounded up as the eviction API does (50% of
    ///   one pod is one pod). Not decided when the budget selects a DaemonSet, a Job or a
    ///   workload whose replica count is not a number, or selects nothing in the input.
    ///
    /// kube-linter's `pdb-min-available` and `pdb-max-unavailable` (which compare each
    /// workload alone) and Polaris' `pdbMinAvailableGreaterThanOrEqualToHPAMinReplicas` cover
    /// the same ground.
    ///
    /// Off by default; enable the MSP2xx rules with `--extend-select MSP2` (on top of the
    /// default set) or `--select MSP2` (alone).
    ///
    /// ## Why it matters
    /// Draining a node evicts its pods through the eviction API, which refuses any eviction
    /// that would break a budget. A budget that allows none makes `kubectl drain`, node
    /// upgrades and the cluster autoscaler's scale-down wait forever (or until an operator
    /// deletes the pods by force, with no budget at all).
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: policy/v1
    /// kind: PodDisruptionBudget
    /// metadata: {name: orders, namespace: food}
    /// spec:
    ///   minAvailable: 2
    ///   selector: {matchLabels: {app: orders}}
    /// ---
    /// apiVersion: apps/v1
    /// kind: Deployment
    /// metadata: {name: orders, namespace: food}
    /// spec:
    ///   replicas: 2
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
    /// apiVersion: policy/v1
    /// kind: PodDisruptionBudget
    /// metadata: {name: orders, namespace: food}
    /// spec:
    ///   maxUnavailable: 1
    ///   selector: {matchLabels: {app: orders}}
    /// ---
    /// apiVersion: apps/v1
    /// kind: Deployment
    /// metadata: {name: orders, namespace: food}
    /// spec:
    ///   replicas: 2
    ///   selector: {matchLabels: {app: orders}}
    ///   template:
    ///     metadata: {labels: {app: orders}}
    ///     spec:
    ///       containers:
    ///       - name: orders
    ///         image: food/orders:1.0
    /// ```
    /// Use `maxUnavailable: 1`, or a `minAvailable` below the replica count.
    pub static PDB_BLOCKS_EVICTION = Rule {
        code: "MSP216",
        name: "pdb-blocks-eviction",
        severity: Warning,
        summary: "a PodDisruptionBudget allows no pod to be evicted",
        mirrors: None,
        enabled_by_default: false,
        check: check,
    };
}

const HELP: &str = "use `maxUnavailable: 1`, or a `minAvailable` below the number of pods";

/// A budget value: a count, or a percentage.
enum Amount {
    Count(i64),
    Percent(i64),
}

fn amount(node: &Node) -> Option<Amount> {
    if let Some(n) = node.as_i64() {
        return Some(Amount::Count(n));
    }
    let text = node.as_str()?.trim();
    match text.strip_suffix('%') {
        Some(p) => p.trim().parse().ok().map(Amount::Percent),
        None => text.parse().ok().map(Amount::Count),
    }
}

/// The `minReplicas` (node, if written) of the HorizontalPodAutoscalers of the input, by the
/// namespace, kind and name of the workload they scale.
type Autoscaled<'w> = HashMap<(&'w str, &'w str, &'w str), Option<&'w Node>>;

fn autoscaled(ws: &Workspace) -> Autoscaled<'_> {
    let mut out = Autoscaled::new();
    for h in others(ws, "autoscaling", "HorizontalPodAutoscaler") {
        let target = |key: &str| h.spec_at(&["scaleTargetRef", key]).and_then(Node::as_str);
        if let (Some(kind), Some(name)) = (target("kind"), target("name")) {
            out.insert((h.ns.as_str(), kind, name), h.spec_at(&["minReplicas"]));
        }
    }
    out
}

fn check(ws: &Workspace, out: &mut Findings) {
    let autoscaled = autoscaled(ws);
    for pdb in others(ws, "policy", "PodDisruptionBudget") {
        if let Some(node) = pdb.spec_at(&["maxUnavailable"]).filter(|n| !n.is_null()) {
            if matches!(amount(node), Some(Amount::Count(0) | Amount::Percent(0))) {
                out.report(
                    pdb,
                    node,
                    format!(
                        "maxUnavailable {}: no pod it selects can ever be evicted, so node \
                         drains and upgrades wait forever",
                        node.as_str().unwrap_or("0")
                    ),
                )
                .help(HELP);
            }
            continue;
        }
        let Some(node) = pdb.spec_at(&["minAvailable"]).filter(|n| !n.is_null()) else {
            continue;
        };
        let Some(min) = amount(node) else { continue };
        if matches!(min, Amount::Percent(p) if p >= 100) {
            out.report(
                pdb,
                node,
                format!(
                    "minAvailable {}: every pod it selects must stay available, so none can be \
                     evicted and node drains and upgrades wait forever",
                    node.as_str().unwrap_or("100%")
                ),
            )
            .help(HELP);
            continue;
        }
        let Some((pods, names)) = selected_pods(ws, &autoscaled, pdb) else {
            continue;
        };
        let needed = match min {
            Amount::Count(n) => n,
            // Rounded up, as the eviction API computes it.
            Amount::Percent(p) => (p.saturating_mul(pods) + 99) / 100,
        };
        if pods == 0 || needed < pods {
            continue;
        }
        out.report(
            pdb,
            node,
            format!(
                "minAvailable {} keeps all {pods} pod(s) of {names} available: none can be \
                 evicted, so node drains and upgrades wait forever",
                node.as_str().unwrap_or("?")
            ),
        )
        .help(HELP);
    }
}

/// The number of pods the budget's selector selects in the input, and the workloads, or `None`
/// when it cannot be told.
fn selected_pods(
    ws: &Workspace,
    autoscaled: &Autoscaled<'_>,
    pdb: &Resource,
) -> Option<(i64, String)> {
    let selector = Selector::parse(pdb.spec_at(&["selector"]));
    if selector.is_invalid() {
        return None;
    }
    let mut total = 0i64;
    let mut names = Vec::new();
    for w in ws.select_workloads(Some(pdb.ns.as_str()), &selector) {
        let r = ws.resources.get(w.resource)?;
        if r.assumed {
            continue;
        }
        total = total.saturating_add(replicas(autoscaled, r)?);
        names.push(r.display_name());
    }
    (!names.is_empty()).then(|| (total, crate::finding::listed(&names)))
}

/// Pods a workload runs at its smallest: `minReplicas` of an HPA that scales it, else
/// `replicas` (default 1); `None` for kinds without a fixed count.
fn replicas(autoscaled: &Autoscaled<'_>, r: &Resource) -> Option<i64> {
    match r.kind {
        Kind::Pod => return Some(1),
        Kind::Deployment
        | Kind::StatefulSet
        | Kind::ReplicaSet
        | Kind::ReplicationController
        | Kind::Rollout => {}
        _ => return None,
    }
    let hpa = autoscaled.get(&(r.ns.as_str(), r.kind_name.as_str(), r.name.as_str()));
    let count = match hpa {
        Some(min) => *min,
        None => r.spec_at(&["replicas"]),
    };
    match count.filter(|n| !n.is_null()) {
        None => Some(1),
        Some(n) => n.as_i64(),
    }
}
