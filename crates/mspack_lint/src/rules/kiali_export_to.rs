//! Kiali's `common.ExportToNamespaceChecker`: an `exportTo` entry of a VirtualService,
//! DestinationRule or ServiceEntry that names a namespace the analysed set does not have.

use mspack_yaml::Node;

use crate::declare_rule;
use crate::finding::Findings;
use crate::resource::{Kind, Resource};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// Every `exportTo` entry of a VirtualService, DestinationRule or ServiceEntry other than
    /// `.` and `*`: it must name a namespace of the analysed set (a Namespace object, or the
    /// namespace of one of its resources). It runs only when the set has Namespace objects,
    /// and is off by default: a namespace the files do not mention may well exist in the
    /// cluster. Select it (`--select KIA0005`) when the files hold every namespace of the mesh.
    /// Kiali: KIA0005 (`generic.exportto.namespacenotfound`).
    ///
    /// ## Why it matters
    /// Exporting to a namespace that does not exist exports to nobody: the clients the entry
    /// was written for (often in a namespace whose name is misspelled) do not see the service,
    /// route or policy, and fall back to defaults without any error.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: v1
    /// kind: Namespace
    /// metadata: {name: shop}
    /// ---
    /// apiVersion: v1
    /// kind: Namespace
    /// metadata: {name: frontend}
    /// ---
    /// apiVersion: networking.istio.io/v1
    /// kind: DestinationRule
    /// metadata: {name: catalog, namespace: shop}
    /// spec:
    ///   host: catalog
    ///   exportTo: [".", "fronted"]
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: v1
    /// kind: Namespace
    /// metadata: {name: shop}
    /// ---
    /// apiVersion: v1
    /// kind: Namespace
    /// metadata: {name: frontend}
    /// ---
    /// apiVersion: networking.istio.io/v1
    /// kind: DestinationRule
    /// metadata: {name: catalog, namespace: shop}
    /// spec:
    ///   host: catalog
    ///   exportTo: [".", "frontend"]
    /// ```
    pub static EXPORT_TO_NAMESPACE_NOT_FOUND = Rule {
        code: "KIA0005",
        name: "export-to-namespace-not-found",
        severity: Error,
        summary: "an exportTo entry names a namespace the analysed set does not have",
        mirrors: Some("common.ExportToNamespaceChecker"),
        enabled_by_default: false,
        context: &[Kind::Namespace],
        each: check on &[Kind::VirtualService, Kind::DestinationRule, Kind::ServiceEntry],
    };
}

fn check(ws: &Workspace, r: &Resource, out: &mut Findings) {
    for node in r.spec_at(&["exportTo"]).into_iter().flat_map(Node::items) {
        let Some(ns) = node.as_str() else { continue };
        if ns == "." || ns == "*" || ws.namespaces().contains(ns) {
            continue;
        }
        out.report(
            r,
            node,
            format!("exportTo names namespace {ns:?}, which is not a namespace of the analysed set: nothing is exported there"),
        )
        .help("name an existing namespace (check its spelling), `.` for the resource's own, or `*` for all");
    }
}
