//! Mirrors Istio's `telemetry.LightstepAnalyzer`: tracing through a Lightstep extension provider.

use std::collections::HashSet;

use mspack_yaml::Node;

use crate::declare_rule;
use crate::finding::Findings;
use crate::resource::Kind;
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// A Telemetry `tracing` provider that names a MeshConfig extension provider of type
    /// `lightstep`. Each such provider name is reported once per Telemetry.
    ///
    /// ## Why it matters
    /// Istio deprecated its Lightstep provider; Lightstep (now ServiceNow Cloud Observability)
    /// takes OpenTelemetry. Traces sent through the old provider stop when it is removed in a
    /// later Istio release.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: telemetry.istio.io/v1
    /// kind: Telemetry
    /// metadata: {name: mesh-default, namespace: istio-system}
    /// spec:
    ///   tracing:
    ///   - providers: [{name: lightstep}]
    /// ```
    /// with a MeshConfig that declares the provider:
    /// ```text
    /// extensionProviders:
    /// - name: lightstep
    ///   lightstep: {address: ingest.lightstep.com:443, accessToken: token}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: telemetry.istio.io/v1
    /// kind: Telemetry
    /// metadata: {name: mesh-default, namespace: istio-system}
    /// spec:
    ///   tracing:
    ///   - providers: [{name: otel-tracing}]
    /// ```
    /// with an `opentelemetry` extension provider named `otel-tracing` in the MeshConfig.
    pub static LIGHTSTEP_DEPRECATED = Rule {
        code: "IST0002",
        name: "Deprecated",
        severity: Warning,
        summary: "a Telemetry traces through the deprecated Lightstep provider",
        mirrors: Some("telemetry.LightstepAnalyzer"),
        check: check,
    };
}

fn check(ws: &Workspace, out: &mut Findings) {
    let lightstep: HashSet<&str> = ws
        .mesh
        .extension_providers()
        .filter(|(_, p)| p.get("lightstep").is_some_and(|l| !l.is_null()))
        .map(|(name, _)| name)
        .collect();
    if lightstep.is_empty() {
        return;
    }
    for telemetry in ws.of_kind(Kind::Telemetry) {
        let mut reported = HashSet::new();
        let tracing = telemetry
            .spec_at(&["tracing"])
            .into_iter()
            .flat_map(Node::items);
        for provider in tracing.flat_map(|t| t.get("providers").into_iter().flat_map(Node::items)) {
            let Some(name_node) = provider.get("name") else {
                continue;
            };
            let Some(name) = name_node.as_str() else {
                continue;
            };
            if !lightstep.contains(name) || !reported.insert(name) {
                continue;
            }
            out.report(
                telemetry,
                name_node,
                format!("tracing provider {name:?} is a Lightstep provider, which is deprecated"),
            )
            .help("migrate to an `opentelemetry` extension provider and name it here");
        }
    }
}
