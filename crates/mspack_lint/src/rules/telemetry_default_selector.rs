//! Mirrors Istio's `telemetry.DefaultSelectorAnalyzer`: several selector-less Telemetries in one
//! namespace.

use std::collections::HashMap;

use crate::declare_rule;
use crate::finding::{Findings, quoted_names};
use crate::resource::{Kind, Resource};
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
    let mut by_ns: HashMap<&str, Vec<&Resource>> = HashMap::new();
    let mut order = Vec::new();
    for telemetry in ws.of_kind(Kind::Telemetry) {
        if telemetry
            .spec_at(&["selector"])
            .is_some_and(|s| !s.is_null())
        {
            continue;
        }
        let list = by_ns.entry(telemetry.ns.as_str()).or_default();
        if list.is_empty() {
            order.push(telemetry.ns.as_str());
        }
        list.push(telemetry);
    }
    for ns in order {
        let Some(list) = by_ns.get(ns).filter(|l| l.len() > 1) else {
            continue;
        };
        let names = quoted_names(list.iter().copied());
        for &telemetry in list {
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
