//! Kiali's Sidecar checks: egress hosts no service declares (`sidecars.EgressHostChecker`), and
//! a root-namespace Sidecar with a workload selector, which is no mesh-wide default
//! (`sidecars.GlobalChecker`).

use crate::declare_rule;
use crate::finding::Findings;
use crate::hosts::split_fqdn;
use crate::refs::{HostRole, service_hosts};
use crate::resource::{Kind, Resource};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// Every `egress[].hosts` entry of a Sidecar whose host is a cluster FQDN
    /// (`name.namespace.svc.cluster.local`) of a namespace whose Services are in the analysed
    /// set (it has at least one): some Service, or ServiceEntry visible from the Sidecar's
    /// namespace, must declare that host. Wildcards (`ns/*`, `*/*`, `*.example.com`), external
    /// names and hosts of namespaces without Services in the set are not checked; short names
    /// are MSP101's. Kiali: KIA1004
    /// (`sidecar.egress.servicenotfound`).
    ///
    /// ## Why it matters
    /// A Sidecar's egress hosts are the only services its proxies learn about. A host that no
    /// service declares imports nothing, and if it was meant to name an existing service, calls
    /// to that service fail (`REGISTRY_ONLY`) or bypass the mesh's routing and policies.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: v1
    /// kind: Service
    /// metadata: {name: catalog, namespace: shop}
    /// spec:
    ///   ports:
    ///   - {port: 8080, name: http}
    /// ---
    /// apiVersion: networking.istio.io/v1
    /// kind: Sidecar
    /// metadata: {name: default, namespace: frontend}
    /// spec:
    ///   egress:
    ///   - hosts: ["./*", "shop/catalogue.shop.svc.cluster.local"]
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: v1
    /// kind: Service
    /// metadata: {name: catalog, namespace: shop}
    /// spec:
    ///   ports:
    ///   - {port: 8080, name: http}
    /// ---
    /// apiVersion: networking.istio.io/v1
    /// kind: Sidecar
    /// metadata: {name: default, namespace: frontend}
    /// spec:
    ///   egress:
    ///   - hosts: ["./*", "shop/catalog.shop.svc.cluster.local"]
    /// ```
    pub static EGRESS_HOST_NOT_FOUND = Rule {
        code: "KIA1004",
        name: "sidecar-egress-host-not-found",
        severity: Warning,
        summary: "a Sidecar egress host names a cluster service that does not exist",
        mirrors: Some("sidecars.EgressHostChecker"),
        context: &[Kind::Service],
        each: check_egress on &[Kind::Sidecar],
    };
}

declare_rule! {
    /// ## What it checks
    /// A Sidecar in the mesh root namespace (`istio-system`, or the mesh config's
    /// `rootNamespace`) with a `workloadSelector`. Kiali: KIA1006 (`sidecar.global.selector`).
    /// Off by default: a selector for a workload that does live in the root namespace is
    /// intended, and files rarely hold that namespace's workloads to tell.
    ///
    /// ## Why it matters
    /// A Sidecar in the root namespace is the mesh-wide default only without a selector. With
    /// one, it selects workloads of the root namespace alone: the egress and ingress limits
    /// meant for the whole mesh apply to (usually) none of the application workloads, which
    /// keep receiving the full service registry.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: Sidecar
    /// metadata: {name: default, namespace: istio-system}
    /// spec:
    ///   workloadSelector:
    ///     labels: {app: shop}
    ///   egress:
    ///   - hosts: ["./*", "istio-system/*"]
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: Sidecar
    /// metadata: {name: default, namespace: istio-system}
    /// spec:
    ///   egress:
    ///   - hosts: ["./*", "istio-system/*"]
    /// ```
    pub static GLOBAL_SIDECAR_SELECTOR = Rule {
        code: "KIA1006",
        name: "global-sidecar-with-selector",
        severity: Warning,
        summary: "a Sidecar in the mesh root namespace has a workload selector, so it is no mesh-wide default",
        mirrors: Some("sidecars.GlobalChecker"),
        enabled_by_default: false,
        each: check on &[Kind::Sidecar],
    };
}

fn check_egress(ws: &Workspace, sidecar: &Resource, out: &mut Findings) {
    let domain = ws.cluster_domain();
    for r in service_hosts(sidecar) {
        if r.role != HostRole::SidecarEgress || r.host.contains('*') {
            continue;
        }
        let Some((_, host_ns)) = split_fqdn(r.host, domain) else {
            continue;
        };
        if !ws.input_has_in(Kind::Service, host_ns) {
            continue;
        }
        if ws
            .hosts()
            .lookup(&sidecar.ns, &[], r.host, domain)
            .is_none()
        {
            out.report(
                sidecar,
                r.node,
                format!(
                    "egress host {:?} is declared by no Service or ServiceEntry visible from namespace {:?}: it imports nothing",
                    r.host,
                    sidecar.ns.as_str()
                ),
            )
            .help("name an existing service (check the name and namespace), or `namespace/*` for all of a namespace's services");
        }
    }
}

fn check(ws: &Workspace, sidecar: &Resource, out: &mut Findings) {
    let root = ws.root_namespace();
    if sidecar.ns != root {
        return;
    }
    let Some(selector) = sidecar
        .spec_at(&["workloadSelector"])
        .filter(|s| !s.is_null())
    else {
        return;
    };
    out.report(
        sidecar,
        selector,
        format!(
            "this Sidecar is in the root namespace {root:?} but has a workloadSelector: it applies to matching workloads of {root:?} only, not as the mesh-wide default"
        ),
    )
    .help("remove `workloadSelector` to make it the mesh-wide default, or move it to the namespace of the workloads it selects");
}
