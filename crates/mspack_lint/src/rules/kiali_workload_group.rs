//! Kiali's `workloadgroups.DuplicateLabelsChecker`: WorkloadGroups of one namespace whose
//! template labels are the same.

use crate::declare_rule;
use crate::finding::Findings;
use crate::resource::{Kind, Resource};
use crate::workloads::{Labels, read_labels};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// WorkloadGroups of one namespace whose `spec.metadata.labels` are the same set of labels
    /// (WorkloadGroups without `spec.metadata` are left out). The later one is reported, naming
    /// the earlier. Kiali: KIA1702 (`workloadgroup.labels.duplicate`).
    ///
    /// ## Why it matters
    /// The WorkloadEntries Istio creates for VMs carry their group's labels; with two groups of
    /// the same labels, every selector (Services, policies, subsets) picks the VMs of both, and
    /// the groups' different ports, service accounts or probes get mixed behind one name.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: WorkloadGroup
    /// metadata: {name: ledger-vms, namespace: billing}
    /// spec:
    ///   metadata:
    ///     labels: {app: ledger}
    ///   template:
    ///     serviceAccount: ledger
    /// ---
    /// apiVersion: networking.istio.io/v1
    /// kind: WorkloadGroup
    /// metadata: {name: ledger-vms-eu, namespace: billing}
    /// spec:
    ///   metadata:
    ///     labels: {app: ledger}
    ///   template:
    ///     serviceAccount: ledger
    ///     network: eu
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: WorkloadGroup
    /// metadata: {name: ledger-vms, namespace: billing}
    /// spec:
    ///   metadata:
    ///     labels: {app: ledger, region: us}
    ///   template:
    ///     serviceAccount: ledger
    /// ---
    /// apiVersion: networking.istio.io/v1
    /// kind: WorkloadGroup
    /// metadata: {name: ledger-vms-eu, namespace: billing}
    /// spec:
    ///   metadata:
    ///     labels: {app: ledger, region: eu}
    ///   template:
    ///     serviceAccount: ledger
    ///     network: eu
    /// ```
    pub static DUPLICATE_WORKLOAD_GROUP_LABELS = Rule {
        code: "KIA1702",
        name: "duplicate-workload-group-labels",
        severity: Warning,
        summary: "several WorkloadGroups of one namespace carry the same labels",
        mirrors: Some("workloadgroups.DuplicateLabelsChecker"),
        check: check,
    };
}

fn check(ws: &Workspace, out: &mut Findings) {
    let mut seen: Vec<(&Resource, Labels)> = Vec::new();
    for wg in ws.of_kind(Kind::WorkloadGroup) {
        let Some(metadata) = wg.spec_at(&["metadata"]).filter(|m| !m.is_null()) else {
            continue;
        };
        let labels = read_labels(metadata.get("labels"));
        if let Some((other, _)) = seen
            .iter()
            .find(|(other, l)| other.ns == wg.ns && *l == labels)
        {
            out.report(
                wg,
                metadata.get("labels").unwrap_or(metadata),
                format!(
                    "{} carries the same labels: selectors pick the VMs of both groups alike",
                    other.display_name()
                ),
            )
            .help("give each WorkloadGroup a label that tells its workloads apart");
        }
        seen.push((wg, labels));
    }
}
