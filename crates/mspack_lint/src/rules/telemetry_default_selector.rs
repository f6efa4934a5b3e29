//! Mirrors Istio's `telemetry.DefaultSelectorAnalyzer`: several selector-less Telemetries in one
//! namespace.

use crate::declare_rule;
use crate::finding::{Findings, quoted_names};
use crate::resource::Kind;
use crate::workloads::by_namespace;
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// Two or more Telemetry resources without a `selector` in the same namespace. As in Istio,
    /// only the presence of `selector` counts: a Telemetry that targets workloads with
    /// `targetRefs` but has no `selector` is counted as selector-less.
    ///
    /// ## Why it matters
    /// A Telemetry without a selector is the namespace default (or the mesh default in the root
    /// namespace), and there can be only one. With several, the one istiod uses is not defined,
    /// so metrics, logs or traces of the namespace may follow either.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: telemetry.istio.io/v1
    /// kind: Telemetry
    /// metadata: {name: delivery-metrics, namespace: delivery}
    /// spec:
    ///   metrics:
    ///   - providers: [{name: prometheus}]
    /// ---
    /// apiVersion: telemetry.istio.io/v1
    /// kind: Telemetry
    /// metadata: {name: delivery-tracing, namespace: delivery}
    /// spec:
    ///   tracing:
    ///   - randomSamplingPercentage: 10
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: telemetry.istio.io/v1
    /// kind: Telemetry
    /// metadata: {name: delivery-defaults, namespace: delivery}
    /// spec:
    ///   metrics:
    ///   - providers: [{name: prometheus}]
    ///   tracing:
    ///   - randomSamplingPercentage: 10
    /// ```
    pub static MULTIPLE_DEFAULT_TELEMETRIES = Rule {
        code: "IST0160",
        name: "MultipleTelemetriesWithoutWorkloadSelectors",
        severity: Error,
        summary: "a namespace has several Telemetry resources without a selector",
        mirrors: Some("telemetry.DefaultSelectorAnalyzer"),
        check: check,
    };
}

fn check(ws: &Workspace, out: &mut Findings) {
    let namespace_wide = ws
        .of_kind(Kind::Telemetry)
        .filter(|t| t.spec_at(&["selector"]).is_none_or(|s| s.is_null()));
    for (ns, list) in by_namespace(namespace_wide) {
        if list.len() < 2 {
            continue;
        }
        let names = quoted_names(list.iter().copied());
        for &telemetry in &list {
            out.report(
                telemetry,
                telemetry.anchor(),
                format!(
                    "Telemetries {names} in namespace {ns:?} have no selector; only one of them \
                     applies, and which is undefined"
                ),
            )
            .help("merge them into one namespace-wide Telemetry, or give the others a `selector`");
        }
    }
}
