use crate::declare_rule;
use crate::finding::{Applicability, Findings, Fix};
use crate::fix::insert_entry;
use crate::resource::Kind;
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// When the analysed set spans two or more namespaces (of its namespaced resources and
    /// Namespace objects), every VirtualService, DestinationRule and ServiceEntry without
    /// `spec.exportTo`.
    ///
    /// ## Why it matters
    /// Istio exports these to every namespace by default. A VirtualService written for one team's
    /// clients then also applies to everybody else's, and two teams' rules for the same host
    /// merge or fight in an order nobody chose; a DestinationRule from another namespace can
    /// override the traffic policy a service owner set. Scoping each rule makes its reach explicit.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: DestinationRule
    /// metadata: {name: orders, namespace: food}
    /// spec:
    ///   host: orders.food.svc.cluster.local
    /// ---
    /// apiVersion: v1
    /// kind: Namespace
    /// metadata: {name: payments}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: DestinationRule
    /// metadata: {name: orders, namespace: food}
    /// spec:
    ///   host: orders.food.svc.cluster.local
    ///   exportTo: ["."]
    /// ---
    /// apiVersion: v1
    /// kind: Namespace
    /// metadata: {name: payments}
    /// ```
    /// Use `["."]` for the resource's own namespace, or list the namespaces whose clients need it
    /// (a DestinationRule that sets mTLS must reach every client namespace).
    pub static MISSING_EXPORT_TO = Rule {
        code: "MSP102",
        name: "missing-export-to",
        severity: Warning,
        summary: "a VirtualService, DestinationRule or ServiceEntry has no exportTo in a multi-namespace set",
        mirrors: None,
        check: check,
    };
}

fn check(ws: &Workspace, out: &mut Findings) {
    let namespaces = ws.namespaces();
    if namespaces.len() < 2 {
        return;
    }
    let listed = namespaces
        .iter()
        .map(|n| if n.is_empty() { "<none>" } else { n.as_str() })
        .collect::<Vec<_>>()
        .join(", ");
    let kinds = [
        Kind::VirtualService,
        Kind::DestinationRule,
        Kind::ServiceEntry,
    ];
    for resource in kinds.into_iter().flat_map(|k| ws.of_kind(k)) {
        if resource.spec_at(&["exportTo"]).is_some() {
            continue;
        }
        let message = format!(
            "{} {} has no exportTo and is visible in every namespace (the set spans {listed})",
            resource.kind_name, resource.name
        );
        let finding = out.report(resource, resource.anchor(), message);
        finding.help("add `exportTo: [\".\"]`, or list the namespaces that need this rule");
        if let Some(edit) = resource
            .spec()
            .and_then(|spec| insert_entry(&resource.file, spec, &["exportTo: [\".\"]".into()]))
        {
            finding.fix(Fix {
                message: "export to this namespace only".into(),
                applicability: Applicability::MaybeIncorrect,
                edits: vec![edit],
            });
        }
    }
}
