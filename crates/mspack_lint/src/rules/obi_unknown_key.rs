use crate::declare_rule;
use crate::finding::Findings;
use crate::obi::obi_configs;
use crate::obi::schema::{OBI_KEYS, UnknownKey, unknown_keys};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// Every OpenTelemetry eBPF Instrumentation (OBI) Config v2 document in the input: a YAML
    /// mapping with `extensions.obi`, standalone or as a string in a ConfigMap's `data`. It
    /// reports a key under `extensions.obi` that OBI's Config v2 schema does not have at that
    /// place, at the key, naming the keys allowed there. The key tree is that of OBI's published
    /// schema (`obi-extension.schema.json`, OBI 0.14: `version`, `capture`, `enrich`,
    /// `correlation`, `daemon`); the objects the schema leaves open (a capture rule and its
    /// `match`, `capture.network.capture`, `enrich`) and filter maps are not checked.
    ///
    /// Off by default: OBI's Config v2 layout is young and still moves between releases, so a
    /// configuration written for another OBI version may use keys this table does not know.
    ///
    /// ## Why it matters
    /// A misplaced or misspelt key (a Config v1 name such as `context_propagation` directly under
    /// `extensions.obi`, `routes` outside `capture.instrumentation.http`) fails OBI's schema
    /// validation, or is not read at all: the setting it meant to change silently keeps its
    /// default, and context propagation, routes or exclusions are not what the file says.
    ///
    /// ## Example
    /// ```yaml
    /// file_format: '1.0'
    /// extensions:
    ///   obi:
    ///     version: '2.0'
    ///     context_propagation: headers
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// file_format: '1.0'
    /// extensions:
    ///   obi:
    ///     version: '2.0'
    ///     capture:
    ///       engine:
    ///         propagation:
    ///           context_propagation: headers
    /// ```
    pub static OBI_UNKNOWN_KEY = Rule {
        code: "MSP310",
        name: "obi-unknown-key",
        severity: Warning,
        summary: "an OBI Config v2 document has a key that OBI's schema does not have there",
        mirrors: None,
        enabled_by_default: false,
        check: check,
    };
}

fn check(ws: &Workspace, out: &mut Findings) {
    for config in obi_configs(ws).iter() {
        let Some(obi) = config.obi() else { continue };
        let mut unknown = Vec::new();
        unknown_keys(obi, &OBI_KEYS, "extensions.obi", &mut unknown);
        for UnknownKey { path, key, allowed } in unknown {
            let parent = path.rsplit_once('.').map_or("", |(p, _)| p);
            let names: Vec<&str> = allowed.iter().map(|(k, _)| *k).collect();
            config
                .report(
                    ws,
                    out,
                    key.span,
                    format!(
                        "`{path}` is not a key of OBI's Config v2 schema: `{parent}` takes {}",
                        names.join(", ")
                    ),
                )
                .help(
                    "move the setting to where OBI's Config v2 reference places it (`obi config \
                     validate` checks the file), or remove it",
                );
        }
    }
}
