use mspack_yaml::Node;

use crate::declare_rule;
use crate::finding::Findings;
use crate::pod_security::{
    checked_containers, container_anchor, container_field, describe, security_fix,
    skips_linux_checks,
};
use crate::resource::{Kind, Resource};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// Every container, init container and ephemeral container of Pods and of the pod templates
    /// of Deployments, StatefulSets, DaemonSets, ReplicaSets, ReplicationControllers, Jobs,
    /// CronJobs and Argo Rollouts whose `securityContext.capabilities`:
    /// - do not drop `ALL` (`drop` absent, or a list without `ALL`): the container keeps the
    ///   runtime's default set, which includes `NET_RAW`, `CHOWN`, `SETUID` and others;
    /// - add any capability other than `NET_BIND_SERVICE` (the one the Pod Security Standards'
    ///   `restricted` profile allows), such as `SYS_ADMIN`, `NET_ADMIN`, `NET_RAW` or `ALL`.
    ///   A `CAP_` prefix is ignored.
    ///
    /// Windows pods (`spec.os.name: windows`), where capabilities cannot be set, are not checked.
    ///
    /// The same ground is covered by kube-linter's `drop-net-raw-capability` and related
    /// capability checks and Polaris' `dangerousCapabilities` and `insecureCapabilities`.
    ///
    /// Istio is understood, not reported: the `istio-init` and `istio-validation` containers
    /// need `NET_ADMIN` and `NET_RAW` to program the pod's iptables, and `istio-proxy` gets its
    /// capabilities from Istio's injection template, so containers of those names are not
    /// checked; nor are the pods of Istio's own charts (the `istio-cni-node` and `ztunnel`
    /// DaemonSets, anything labelled `app.kubernetes.io/part-of: istio`).
    ///
    /// Off by default (a hygiene check that most published manifests fail); enable the MSP2xx
    /// rules with `--extend-select MSP2` (on top of the default set) or `--select MSP2` (alone).
    ///
    /// ## Why it matters
    /// Capabilities are slices of root's power. The default set lets a compromised process
    /// forge packets (`NET_RAW`) or change file ownership; `SYS_ADMIN` is close to full root and
    /// `NET_ADMIN` lets it rewrite the pod's network. Dropping `ALL` and adding back only what
    /// the process needs keeps a compromise contained.
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
    ///         securityContext:
    ///           capabilities: {add: [SYS_ADMIN]}
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
    ///         securityContext:
    ///           capabilities: {drop: [ALL], add: [NET_BIND_SERVICE]}
    /// ```
    /// Drop `ALL` and add back only `NET_BIND_SERVICE` if the process binds a port below 1024.
    ///
    /// `mspack lint --fix` adds `capabilities: {drop: [ALL]}` (block style) to a container that
    /// has no `drop` list, creating `securityContext` and `capabilities` where absent and
    /// keeping comments and the rest of the file; a `drop` list without `ALL`, and mappings
    /// written in flow style (`{...}`), are left as written.
    pub static CAPABILITIES_NOT_DROPPED = Rule {
        code: "MSP204",
        name: "capabilities-not-dropped",
        severity: Warning,
        summary: "a container does not drop all capabilities or adds a dangerous one",
        mirrors: None,
        enabled_by_default: false,
        each: check on Kind::WORKLOADS,
    };
}

/// The one capability that the Pod Security Standards' `restricted` profile lets a container add.
const ALLOWED_ADD: &str = "NET_BIND_SERVICE";

/// A capability name without its `CAP_` prefix, upper-cased.
fn capability(node: &Node) -> Option<String> {
    let name = node.as_str()?.trim().to_ascii_uppercase();
    Some(
        name.strip_prefix("CAP_")
            .map(str::to_string)
            .unwrap_or(name),
    )
}

fn check(_: &Workspace, workload: &Resource, out: &mut Findings) {
    if skips_linux_checks(workload) {
        return;
    }
    for c in checked_containers(workload) {
        let caps = container_field(&c, "capabilities");
        let drop = caps.and_then(|n| n.get("drop")).filter(|n| !n.is_null());
        let drops_all = drop
            .into_iter()
            .flat_map(Node::items)
            .any(|n| capability(n).as_deref() == Some("ALL"));
        if !drops_all {
            let fix = drop
                .is_none()
                .then(|| {
                    security_fix(
                        workload,
                        &c,
                        &["securityContext", "capabilities"],
                        "drop: [ALL]",
                    )
                })
                .flatten();
            let finding = out
                .report(
                    workload,
                    drop.unwrap_or_else(|| container_anchor(&c)),
                    format!(
                        "{} does not drop ALL capabilities; it keeps the runtime's default set \
                     (NET_RAW, CHOWN, SETUID, ...)",
                        describe(&c)
                    ),
                )
                .help("add `securityContext.capabilities.drop: [ALL]`");
            if let Some(fix) = fix {
                finding.fix(fix);
            }
        }
        let added = caps.and_then(|n| n.get("add"));
        for item in added.into_iter().flat_map(Node::items) {
            let Some(name) = capability(item) else {
                continue;
            };
            if name == ALLOWED_ADD {
                continue;
            }
            out.report(
                workload,
                item,
                format!(
                    "{} adds capability {name}; only {ALLOWED_ADD} is safe to add back",
                    describe(&c)
                ),
            )
            .help(format!(
                "remove {name} from `capabilities.add`; if the process truly needs it, \
                 suppress this finding with the reason"
            ));
        }
    }
}
