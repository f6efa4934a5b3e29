use crate::declare_rule;
use crate::finding::{Applicability, Findings, Fix};
use crate::fix::replace_scalar;
use crate::hosts::{HostForm, classify_host, expand_host};
use crate::refs::{HostRole, service_hosts};
use crate::resource::{Kind, Resource};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// A service host that is not fully qualified where Istio takes one: VirtualService `hosts`
    /// and every route and mirror `destination.host`, DestinationRule `host`, the `dnsName` of
    /// Sidecar egress hosts, and EnvoyFilter cluster matches. A name without a dot (`orders`) and
    /// a partial cluster name (`orders.food`, `orders.food.svc`) are flagged; `*`, wildcards and
    /// external DNS names are not (a two-label name is external when its last label is a public
    /// top-level domain that is not a namespace of the analysed set, or a ServiceEntry declares it).
    ///
    /// ## Why it matters
    /// Istio expands a short name in the namespace of the *rule*, not of the service: the same
    /// `orders` means `orders.food.svc.cluster.local` in one namespace and
    /// `orders.payments.svc.cluster.local` in another. Rules silently stop matching when they are
    /// moved, copied or exported, and `name.ns` forms are not expanded at all by Istio's host
    /// matching, so they match nothing.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: DestinationRule
    /// metadata: {name: orders, namespace: food}
    /// spec:
    ///   host: orders
    ///   exportTo: ["."]
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
    /// ```
    /// `mspack lint --fix` writes the FQDN in place (`name.<namespace>.svc.<cluster-domain>`,
    /// cluster domain from `--cluster-domain` or `[mesh] cluster-domain`).
    pub static SHORT_HOST_NAME = Rule {
        code: "MSP101",
        name: "short-host-name",
        severity: Warning,
        summary: "a service host is a short or partial name instead of an FQDN",
        mirrors: None,
        each: check on &[
            Kind::VirtualService,
            Kind::DestinationRule,
            Kind::Sidecar,
            Kind::EnvoyFilter,
        ],
    };
}

fn check(ws: &Workspace, resource: &Resource, out: &mut Findings) {
    let domain = ws.cluster_domain();
    for r in service_hosts(resource) {
        let form = classify_host(r.host, domain, |ns| ws.namespaces().contains(ns));
        let flagged = match form {
            HostForm::Short => true,
            // `db.corp` declared by a ServiceEntry is an external name, used as written.
            HostForm::PartialCluster => !ws.shared(|| DeclaredHosts::read(ws)).0.contains(r.host),
            _ => false,
        };
        if !flagged {
            continue;
        }
        let (scope, ns) = match r.role {
            HostRole::SidecarEgress => {
                let scope = r
                    .node
                    .as_str()
                    .and_then(|s| s.split_once('/'))
                    .map(|(s, _)| s);
                match scope {
                    Some(".") => (Some("."), resource.ns.as_str()),
                    Some(s) if s != "*" && s != "~" => (Some(s), s),
                    other => (other, ""),
                }
            }
            _ => (None, resource.ns.as_str()),
        };
        let what = match form {
            HostForm::Short => "a short name",
            _ => "a partial cluster name",
        };
        let message = format!("host \"{}\" is {what}, not fully qualified", r.host);
        let fqdn = (!ns.is_empty() || form == HostForm::PartialCluster)
            .then(|| expand_host(r.host, ns, domain, &form))
            .flatten();
        let finding = out.report(resource, r.node, message);
        let Some(fqdn) = fqdn else {
            finding.help(format!(
                "write the FQDN `{}.<namespace>.svc.{domain}` of the service this means",
                r.host
            ));
            continue;
        };
        let assumed = resource.namespace.is_none() && form == HostForm::Short;
        let written = match scope {
            Some(scope) => format!("{scope}/{fqdn}"),
            None => fqdn.clone(),
        };
        finding.help(if assumed {
            format!("use `{fqdn}` (the resource names no namespace; this assumes `{ns}`)")
        } else {
            format!("use the fully qualified name `{fqdn}`")
        });
        finding.fix(Fix {
            message: format!("replace with `{written}`"),
            applicability: if assumed {
                Applicability::MaybeIncorrect
            } else {
                Applicability::MachineApplicable
            },
            edits: vec![replace_scalar(r.node, &written)],
        });
    }
}

/// Hosts that ServiceEntries declare: written exactly so, they resolve as written.
/// The hosts ServiceEntries declare: `db.corp` declared there is an external name, used as written.
struct DeclaredHosts(std::collections::HashSet<String>);

impl DeclaredHosts {
    fn read(ws: &Workspace) -> DeclaredHosts {
        DeclaredHosts(
            ws.of_kind(Kind::ServiceEntry)
                .flat_map(|se| {
                    se.spec_at(&["hosts"])
                        .into_iter()
                        .flat_map(mspack_yaml::Node::items)
                })
                .filter_map(mspack_yaml::Node::as_str)
                .map(str::to_string)
                .collect(),
        )
    }
}
