//! Mirrors Istio's `telemetry.ProviderAnalyzer`: access-logging entries that name no provider
//! while the mesh has no default access-logging provider.

use mspack_yaml::Node;

use crate::declare_rule;
use crate::finding::Findings;
use crate::resource::Kind;
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// A Telemetry `accessLogging` entry that is not `disabled: true` and lists no `providers`,
    /// when the MeshConfig sets no `defaultProviders.accessLogging` (Istio's default mesh
    /// config sets none). A Telemetry is reported once however many such entries it has.
    ///
    /// ## Why it matters
    /// Without a provider and without a mesh default, the entry has nowhere to send logs, so
    /// istiod ignores it: the access logs (or the filter you wrote for them) never appear.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: telemetry.istio.io/v1
    /// kind: Telemetry
    /// metadata: {name: orders-errors, namespace: orders}
    /// spec:
    ///   accessLogging:
    ///   - filter:
    ///       expression: "response.code >= 500"
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: telemetry.istio.io/v1
    /// kind: Telemetry
    /// metadata: {name: orders-errors, namespace: orders}
    /// spec:
    ///   accessLogging:
    ///   - providers:
    ///     - name: envoy
    ///     filter:
    ///       expression: "response.code >= 500"
    /// ```
    pub static TELEMETRY_EMPTY_PROVIDERS = Rule {
        code: "IST0157",
        name: "InvalidTelemetryProvider",
        severity: Warning,
        summary: "a Telemetry access-logging entry has no provider and the mesh sets no default",
        mirrors: Some("telemetry.ProviderAnalyzer"),
        check: check,
    };
}

fn check(ws: &Workspace, out: &mut Findings) {
    let has_default = ws
        .mesh
        .get("defaultProviders")
        .and_then(|d| d.get("accessLogging"))
        .is_some_and(|l| l.items().next().is_some());
    if has_default {
        return;
    }
    for telemetry in ws.of_kind(Kind::Telemetry) {
        let entries = telemetry.spec_at(&["accessLogging"]).into_iter();
        let offending = entries.flat_map(Node::items).find(|entry| {
            let disabled = entry.get("disabled").and_then(Node::as_bool) == Some(true);
            let providers = entry
                .get("providers")
                .is_some_and(|p| p.items().next().is_some());
            !disabled && !providers
        });
        if let Some(entry) = offending {
            out.report(
                telemetry,
                entry,
                format!(
                    "access-logging entry of Telemetry {:?} names no provider and the mesh has no \
                     default access-logging provider, so it is ignored",
                    telemetry.name
                ),
            )
            .help(
                "list a provider (e.g. `providers: [{name: envoy}]`), or set \
                 `defaultProviders.accessLogging` in the MeshConfig",
            );
        }
    }
}
