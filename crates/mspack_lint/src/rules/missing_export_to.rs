use crate::declare_rule;
use crate::finding::{Applicability, Findings, Fix};
use crate::fix::insert_entry;
use crate::resource::{Kind, Resource};
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
    /// (a DestinationRule that sets mTLS must reach every client namespace). A VirtualService
    /// bound to a gateway in another namespace must also be exported to that namespace, since the
    /// gateway reads it from there (`exportTo: [".", "istio-system"]`). `exportTo: []` and
    /// `exportTo: ~` mean every namespace, as no `exportTo` does.
    pub static MISSING_EXPORT_TO = Rule {
        code: "MSP102",
        name: "missing-export-to",
        severity: Warning,
        summary: "a VirtualService, DestinationRule or ServiceEntry has no exportTo in a multi-namespace set",
        mirrors: None,
        each: check on &[Kind::VirtualService, Kind::DestinationRule, Kind::ServiceEntry],
    };
}

/// The namespaces of the set, listed for the message (once per run, not per resource).
struct Namespaces(String);

fn check(ws: &Workspace, resource: &Resource, out: &mut Findings) {
    if ws.namespaces().len() < 2 || resource.export_to().is_some() {
        return;
    }
    let listed = ws.shared(|| {
        Namespaces(crate::finding::listed(
            &ws.namespaces().iter().collect::<Vec<_>>(),
        ))
    });
    let listed = &listed.0;
    let message = format!(
        "{} {} has no exportTo and is visible in every namespace (the set spans {listed})",
        resource.kind_name, resource.name
    );
    let scopes = export_scopes(resource);
    let list = scopes
        .iter()
        .map(|s| format!("{s:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    let finding = out.report(resource, resource.anchor(), message);
    if scopes.len() > 1 {
        finding.help(format!(
            "add `exportTo: [{list}]`: gateways read a VirtualService from their own namespace, \
             so it must stay visible to {}",
            scopes[1..].join(", ")
        ));
    } else {
        finding.help(format!(
            "add `exportTo: [{list}]`, or list the namespaces that need this rule"
        ));
    }
    if let Some(edit) = resource
        .spec()
        .and_then(|spec| insert_entry(&resource.file, spec, &[format!("exportTo: [{list}]")]))
    {
        finding.fix(Fix {
            message: "export to this namespace (and its gateways') only".into(),
            applicability: Applicability::MaybeIncorrect,
            edits: vec![edit],
        });
    }
}

/// The scopes a resource needs: its own namespace (`.`), plus, for a VirtualService bound to
/// gateways in other namespaces, those namespaces (a gateway reads VirtualServices from its own).
fn export_scopes(resource: &Resource) -> Vec<String> {
    let mut scopes = vec![".".to_string()];
    if resource.kind != Kind::VirtualService {
        return scopes;
    }
    let mut others: Vec<String> = resource
        .spec_at(&["gateways"])
        .into_iter()
        .flat_map(mspack_yaml::Node::items)
        .filter_map(mspack_yaml::Node::as_str)
        .filter(|g| *g != "mesh")
        .filter_map(|g| g.split_once('/').map(|(ns, _)| ns))
        .filter(|ns| !ns.is_empty() && *ns != resource.ns && *ns != ".")
        .map(str::to_string)
        .collect();
    others.sort();
    others.dedup();
    scopes.extend(others);
    scopes
}
