//! Mirrors Istio's `maturity.AlphaAnalyzer` (not in Istio's default analyzer set, and off by
//! default here too): annotations of alpha-phase Istio features.

use mspack_yaml::Node;

use crate::declare_rule;
use crate::finding::Findings;
use crate::istio::annotations::{
    ALWAYS_IGNORED, ANNOTATED_KINDS, SET_BY_CNI, Status, annotated_kind, annotations,
    is_istio_annotation, lookup,
};
use crate::resource::{Kind, Resource};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// Every annotation of an alpha-phase Istio feature (per Istio's annotation catalogue) in
    /// the `metadata.annotations` of a Namespace, Service, Pod or Deployment, one finding per
    /// annotation. Annotations istiod and controllers set themselves are skipped, and so, on
    /// Pods without an `istio-init` init container (istio-cni sets them there), are
    /// `sidecar.istio.io/interceptionMode` and the inbound-port and outbound-IP-range traffic
    /// annotations. Off by default, as in `istioctl analyze`; select it with
    /// `--select IST0136`.
    ///
    /// ## Why it matters
    /// Alpha features may change or disappear between minor releases without the usual
    /// deprecation period; knowing where you depend on them makes upgrades less surprising.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: v1
    /// kind: Service
    /// metadata:
    ///   name: ledger
    ///   namespace: payments
    ///   annotations:
    ///     networking.istio.io/exportTo: "."
    /// spec:
    ///   ports: [{name: http, port: 8080}]
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: v1
    /// kind: Service
    /// metadata:
    ///   name: ledger
    ///   namespace: payments
    /// spec:
    ///   ports: [{name: http, port: 8080}]
    /// ```
    /// Without the annotation the Service is exported everywhere; scope it with the `exportTo`
    /// of the VirtualServices and DestinationRules that route to it instead.
    pub static ALPHA_ANNOTATION = Rule {
        code: "IST0136",
        name: "AlphaAnnotation",
        severity: Info,
        summary: "an annotation of an alpha-phase Istio feature is used",
        mirrors: Some("maturity.AlphaAnalyzer"),
        enabled_by_default: false,
        each: check on ANNOTATED_KINDS,
    };
}

fn check(_: &Workspace, resource: &Resource, out: &mut Findings) {
    if annotated_kind(resource).is_none() {
        return;
    }
    let set_by_cni = resource.kind == Kind::Pod
        && !resource
            .spec_at(&["initContainers"])
            .into_iter()
            .flat_map(Node::items)
            .any(|c| c.get("name").and_then(Node::as_str) == Some("istio-init"));
    for (key, key_node, _) in annotations(resource) {
        if !is_istio_annotation(key) || ALWAYS_IGNORED.contains(&key) {
            continue;
        }
        if !lookup(key).is_some_and(|d| d.status == Status::Alpha) {
            continue;
        }
        if set_by_cni && SET_BY_CNI.contains(&key) {
            continue;
        }
        out.report(
            resource,
            key_node,
            format!("annotation {key:?} belongs to an alpha-phase Istio feature"),
        )
        .help("alpha features may change without notice; prefer a stable API where one exists");
    }
}
