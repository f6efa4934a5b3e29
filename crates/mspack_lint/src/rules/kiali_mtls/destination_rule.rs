//! Kiali's mTLS checks on the DestinationRule side (KIA0207, KIA0208, KIA0204).

use mspack_yaml::Node;

use super::*;
use crate::declare_rule;
use crate::finding::Findings;
use crate::resource::{Kind, Resource};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// A namespace-wide DestinationRule (host `*.<its namespace>.svc.cluster.local`) whose
    /// `trafficPolicy.tls.mode` is `DISABLE`, while a selector-less PeerAuthentication of the
    /// same namespace sets `mtls.mode: STRICT` (and none before it sets `PERMISSIVE`).
    /// Kiali: KIA0207 (`destinationrules.mtls.policymtlsenabled`).
    ///
    /// ## Why it matters
    /// The DestinationRule makes every client of the namespace's services send plain text, and
    /// the PeerAuthentication makes every server there refuse anything but mTLS: every call into
    /// the namespace fails with a connection reset.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: DestinationRule
    /// metadata: {name: no-mtls, namespace: shop}
    /// spec:
    ///   host: "*.shop.svc.cluster.local"
    ///   trafficPolicy:
    ///     tls: {mode: DISABLE}
    /// ---
    /// apiVersion: security.istio.io/v1
    /// kind: PeerAuthentication
    /// metadata: {name: default, namespace: shop}
    /// spec:
    ///   mtls: {mode: STRICT}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: DestinationRule
    /// metadata: {name: no-mtls, namespace: shop}
    /// spec:
    ///   host: "*.shop.svc.cluster.local"
    ///   trafficPolicy:
    ///     tls: {mode: DISABLE}
    /// ---
    /// apiVersion: security.istio.io/v1
    /// kind: PeerAuthentication
    /// metadata: {name: default, namespace: shop}
    /// spec:
    ///   mtls: {mode: PERMISSIVE}
    /// ```
    pub static DR_DISABLES_NAMESPACE_STRICT = Rule {
        code: "KIA0207",
        name: "dr-disables-namespace-strict-mtls",
        severity: Error,
        summary: "a namespace-wide DestinationRule disables mTLS where a PeerAuthentication enforces STRICT",
        mirrors: Some("destinationrules.DisabledNamespaceWideMTLSChecker"),
        each: check_dr_namespace_disable on &[Kind::DestinationRule],
    };
}

declare_rule! {
    /// ## What it checks
    /// A mesh-wide DestinationRule (host `*.local`) with `trafficPolicy.tls.mode: DISABLE`, or a
    /// namespace-wide one (host `*.<its namespace>.svc.cluster.local`) whose namespace has no
    /// selector-less PeerAuthentication of its own deciding the mode, while a selector-less
    /// PeerAuthentication of the mesh root namespace (`istio-system`, or the mesh config's
    /// `rootNamespace`) sets `mtls.mode: STRICT`. Kiali: KIA0208
    /// (`destinationrules.mtls.meshpolicymtlsenabled`).
    ///
    /// ## Why it matters
    /// The DestinationRule makes clients send plain text and the mesh-wide policy makes every
    /// server refuse it: every call the DestinationRule covers fails.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: DestinationRule
    /// metadata: {name: no-mtls, namespace: istio-system}
    /// spec:
    ///   host: "*.local"
    ///   trafficPolicy:
    ///     tls: {mode: DISABLE}
    /// ---
    /// apiVersion: security.istio.io/v1
    /// kind: PeerAuthentication
    /// metadata: {name: default, namespace: istio-system}
    /// spec:
    ///   mtls: {mode: STRICT}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: DestinationRule
    /// metadata: {name: mtls, namespace: istio-system}
    /// spec:
    ///   host: "*.local"
    ///   trafficPolicy:
    ///     tls: {mode: ISTIO_MUTUAL}
    /// ---
    /// apiVersion: security.istio.io/v1
    /// kind: PeerAuthentication
    /// metadata: {name: default, namespace: istio-system}
    /// spec:
    ///   mtls: {mode: STRICT}
    /// ```
    pub static DR_DISABLES_MESH_STRICT = Rule {
        code: "KIA0208",
        name: "dr-disables-mesh-strict-mtls",
        severity: Error,
        summary: "a mesh- or namespace-wide DestinationRule disables mTLS where the mesh-wide PeerAuthentication enforces STRICT",
        mirrors: Some("destinationrules.DisabledMeshWideMTLSChecker"),
        check: check_dr_mesh_disable,
    };
}

declare_rule! {
    /// ## What it checks
    /// Where the mesh config sets `enableAutoMtls: false`: a DestinationRule for a host that a
    /// mesh-wide (`*.local`) or namespace-wide (`*.<namespace>.svc.cluster.local` of the host's
    /// namespace) DestinationRule puts on `ISTIO_MUTUAL`, while it sets no TLS itself (no
    /// `trafficPolicy.tls`, no port-level `tls`). With auto mTLS on (Istio's default) clients
    /// still upgrade to mTLS and nothing is reported. Kiali: KIA0204
    /// (`destinationrules.trafficpolicy.notlssettings`).
    ///
    /// ## Why it matters
    /// Istio applies only the most specific DestinationRule for a host; the wide rule's TLS
    /// settings are not merged in. Without auto mTLS, clients of this host send plain text:
    /// STRICT servers refuse it, and PERMISSIVE ones lose the peer identity policies rely on.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: DestinationRule
    /// metadata: {name: mtls, namespace: istio-system}
    /// spec:
    ///   host: "*.local"
    ///   trafficPolicy:
    ///     tls: {mode: ISTIO_MUTUAL}
    /// ---
    /// apiVersion: networking.istio.io/v1
    /// kind: DestinationRule
    /// metadata: {name: reviews, namespace: shop}
    /// spec:
    ///   host: reviews
    ///   trafficPolicy:
    ///     loadBalancer: {simple: LEAST_REQUEST}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: DestinationRule
    /// metadata: {name: mtls, namespace: istio-system}
    /// spec:
    ///   host: "*.local"
    ///   trafficPolicy:
    ///     tls: {mode: ISTIO_MUTUAL}
    /// ---
    /// apiVersion: networking.istio.io/v1
    /// kind: DestinationRule
    /// metadata: {name: reviews, namespace: shop}
    /// spec:
    ///   host: reviews
    ///   trafficPolicy:
    ///     loadBalancer: {simple: LEAST_REQUEST}
    ///     tls: {mode: ISTIO_MUTUAL}
    /// ```
    pub static MTLS_OVERRIDDEN = Rule {
        code: "KIA0204",
        name: "destination-rule-overrides-mtls",
        severity: Warning,
        summary: "with auto mTLS off, a DestinationRule without TLS settings overrides a mesh- or namespace-wide mTLS DestinationRule",
        mirrors: Some("destinationrules.TrafficPolicyChecker"),
        check: check_overridden,
    };
}

fn check_overridden(ws: &Workspace, out: &mut Findings) {
    if !auto_mtls_off(ws) {
        return;
    }
    let domain = ws.cluster_domain();
    let mesh = scoped_drs(ws, Scope::Mesh, "").find(|(_, m, _)| m == "ISTIO_MUTUAL");
    for dr in ws.of_kind(Kind::DestinationRule) {
        if dr_scope(ws, dr).is_some() {
            continue;
        }
        let Some(node) = dr.spec_at(&["host"]) else {
            continue;
        };
        let Some(written) = node.as_str() else {
            continue;
        };
        let host = crate::hosts::canonical_host(written, &dr.ns, domain, |ns| {
            ws.namespaces().contains(ns)
        });
        let host_ns = crate::hosts::split_fqdn(&host, domain).map(|(_, ns)| ns);
        let wide = host_ns
            .and_then(|ns| scoped_drs(ws, Scope::Namespace, ns).next())
            .map(|(w, m, _)| (w, m))
            .or_else(|| mesh.as_ref().map(|(w, m, _)| (*w, m.clone())));
        let Some((wide, mode)) = wide else { continue };
        if mode != "ISTIO_MUTUAL" {
            continue;
        }
        let own_tls = dr.spec_at(&["trafficPolicy", "tls"]).is_some()
            || dr
                .spec_at(&["trafficPolicy", "portLevelSettings"])
                .into_iter()
                .flat_map(Node::items)
                .any(|p| p.get("tls").is_some());
        if own_tls {
            continue;
        }
        out.report(
            dr,
            node,
            format!(
                "this DestinationRule replaces {} for host {written:?} and sets no TLS: with auto mTLS off, clients of the host send plain text",
                wide.display_name()
            ),
        )
        .help("add `trafficPolicy.tls.mode: ISTIO_MUTUAL` to this DestinationRule");
    }
}

fn check_dr_namespace_disable(ws: &Workspace, dr: &Resource, out: &mut Findings) {
    if dr_scope(ws, dr) != Some(Scope::Namespace) {
        return;
    }
    let Some((mode, node)) = dr_tls_mode(dr) else {
        return;
    };
    if mode != "DISABLE" {
        return;
    }
    let decided = ns_pas(ws, &dr.ns).find(|(_, m, _)| enables(m));
    if let Some((pa, m, _)) = decided
        && m == "STRICT"
    {
        out.report(
            dr,
            node,
            format!(
                "this DestinationRule makes clients send plain text to namespace {:?}, but {} requires mTLS there (STRICT); every call into the namespace is refused",
                dr.ns.as_str(),
                pa.display_name()
            ),
        )
        .help(format!(
            "set `tls.mode: ISTIO_MUTUAL` here, or make {} PERMISSIVE",
            pa.display_name()
        ));
    }
}

fn check_dr_mesh_disable(ws: &Workspace, out: &mut Findings) {
    let root = ws.root_namespace();
    let Some((mesh_pa, _, _)) = ns_pas(ws, root).find(|(_, m, _)| m == "STRICT") else {
        return;
    };
    for (dr, mode, node) in ws
        .of_kind(Kind::DestinationRule)
        .filter_map(|dr| dr_tls_mode(dr).map(|(m, n)| (dr, m, n)))
    {
        if mode != "DISABLE" {
            continue;
        }
        let covered = match dr_scope(ws, dr) {
            Some(Scope::Mesh) => "the mesh",
            // A namespace policy of its own decides (KIA0207 reports a STRICT one).
            Some(Scope::Namespace)
                if dr.ns != root
                    && !ns_pas(ws, &dr.ns).any(|(_, m, _)| enables(&m) || m == "DISABLE") =>
            {
                "its namespace"
            }
            _ => continue,
        };
        out.report(
            dr,
            node,
            format!(
                "this DestinationRule makes clients in {covered} send plain text, but the mesh-wide {} requires mTLS (STRICT); those calls are refused",
                mesh_pa.display_name()
            ),
        )
        .help("set `tls.mode: ISTIO_MUTUAL` here, or give the namespaces that need plain text a PERMISSIVE PeerAuthentication");
    }
}
