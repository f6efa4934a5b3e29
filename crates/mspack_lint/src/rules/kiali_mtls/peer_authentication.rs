//! Kiali's mTLS checks on the PeerAuthentication side (KIA0505, KIA0506, KIA0501, KIA0401).

use super::*;
use crate::declare_rule;
use crate::finding::Findings;
use crate::resource::Kind;
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// A selector-less PeerAuthentication outside the mesh root namespace with
    /// `mtls.mode: DISABLE`, while a namespace-wide DestinationRule for its namespace (host
    /// `*.<namespace>.svc.cluster.local`) sets `tls.mode` `ISTIO_MUTUAL` or `MUTUAL`, or, with
    /// no namespace-wide DestinationRule disabling TLS, the mesh-wide one (`*.local`) does.
    /// Kiali: KIA0505 (`peerauthentications.mtls.disabledestinationrulemissing`).
    ///
    /// ## Why it matters
    /// Clients keep originating mTLS to the namespace, but its sidecars no longer terminate it:
    /// the applications receive TLS bytes they cannot read and every call fails.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: security.istio.io/v1
    /// kind: PeerAuthentication
    /// metadata: {name: default, namespace: legacy}
    /// spec:
    ///   mtls: {mode: DISABLE}
    /// ---
    /// apiVersion: networking.istio.io/v1
    /// kind: DestinationRule
    /// metadata: {name: mtls, namespace: istio-system}
    /// spec:
    ///   host: "*.local"
    ///   trafficPolicy:
    ///     tls: {mode: ISTIO_MUTUAL}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: security.istio.io/v1
    /// kind: PeerAuthentication
    /// metadata: {name: default, namespace: legacy}
    /// spec:
    ///   mtls: {mode: DISABLE}
    /// ---
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
    /// metadata: {name: no-mtls, namespace: legacy}
    /// spec:
    ///   host: "*.legacy.svc.cluster.local"
    ///   trafficPolicy:
    ///     tls: {mode: DISABLE}
    /// ```
    pub static PA_DISABLES_NAMESPACE_MTLS = Rule {
        code: "KIA0505",
        name: "pa-disables-namespace-mtls",
        severity: Error,
        summary: "a namespace-wide PeerAuthentication disables mTLS that a DestinationRule still originates",
        mirrors: Some("peerauthentications.DisabledNamespaceWideChecker"),
        check: check_pa_namespace_disable,
    };
}

declare_rule! {
    /// ## What it checks
    /// A selector-less PeerAuthentication of the mesh root namespace with `mtls.mode: DISABLE`,
    /// while a mesh-wide DestinationRule (host `*.local`) sets `tls.mode` `ISTIO_MUTUAL` or
    /// `MUTUAL`. Kiali: KIA0506 (`peerauthentications.mtls.disablemeshdestinationrulemissing`).
    ///
    /// ## Why it matters
    /// Every client keeps originating mTLS, and no server terminates it any more: the
    /// applications receive TLS bytes and every call in the mesh fails.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: security.istio.io/v1
    /// kind: PeerAuthentication
    /// metadata: {name: default, namespace: istio-system}
    /// spec:
    ///   mtls: {mode: DISABLE}
    /// ---
    /// apiVersion: networking.istio.io/v1
    /// kind: DestinationRule
    /// metadata: {name: mtls, namespace: istio-system}
    /// spec:
    ///   host: "*.local"
    ///   trafficPolicy:
    ///     tls: {mode: ISTIO_MUTUAL}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: security.istio.io/v1
    /// kind: PeerAuthentication
    /// metadata: {name: default, namespace: istio-system}
    /// spec:
    ///   mtls: {mode: DISABLE}
    /// ---
    /// apiVersion: networking.istio.io/v1
    /// kind: DestinationRule
    /// metadata: {name: mtls, namespace: istio-system}
    /// spec:
    ///   host: "*.local"
    ///   trafficPolicy:
    ///     tls: {mode: DISABLE}
    /// ```
    pub static PA_DISABLES_MESH_MTLS = Rule {
        code: "KIA0506",
        name: "pa-disables-mesh-mtls",
        severity: Error,
        summary: "the mesh-wide PeerAuthentication disables mTLS that the mesh-wide DestinationRule still originates",
        mirrors: Some("peerauthentications.DisabledMeshWideChecker"),
        check: check_pa_mesh_disable,
    };
}

declare_rule! {
    /// ## What it checks
    /// Where the mesh config sets `enableAutoMtls: false`: a selector-less PeerAuthentication
    /// outside the mesh root namespace with `mtls.mode: STRICT`, and no DestinationRule making
    /// clients use mTLS: neither a namespace-wide one (`*.<namespace>.svc.cluster.local`) nor the
    /// mesh-wide one (`*.local`) with `tls.mode: ISTIO_MUTUAL`. With auto mTLS on (Istio's
    /// default) clients upgrade to mTLS by themselves and nothing is reported. Kiali: KIA0501
    /// (`peerauthentications.mtls.destinationrulemissing`); KIA0401 is its mesh-wide twin.
    ///
    /// ## Why it matters
    /// Without auto mTLS, clients send plain text unless a DestinationRule tells them otherwise,
    /// and STRICT servers refuse plain text: every call to the workloads the policy covers fails.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: security.istio.io/v1
    /// kind: PeerAuthentication
    /// metadata: {name: default, namespace: shop}
    /// spec:
    ///   mtls: {mode: STRICT}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: security.istio.io/v1
    /// kind: PeerAuthentication
    /// metadata: {name: default, namespace: shop}
    /// spec:
    ///   mtls: {mode: STRICT}
    /// ---
    /// apiVersion: networking.istio.io/v1
    /// kind: DestinationRule
    /// metadata: {name: mtls, namespace: shop}
    /// spec:
    ///   host: "*.shop.svc.cluster.local"
    ///   trafficPolicy:
    ///     tls: {mode: ISTIO_MUTUAL}
    /// ```
    pub static STRICT_WITHOUT_MTLS_DR = Rule {
        code: "KIA0501",
        name: "strict-mtls-without-destination-rule",
        severity: Error,
        summary: "with auto mTLS off, a STRICT PeerAuthentication has no DestinationRule making clients use mTLS",
        mirrors: Some("peerauthentications.NamespaceMtlsChecker"),
        check: check_strict_namespace,
    };
}

declare_rule! {
    /// ## What it checks
    /// Where the mesh config sets `enableAutoMtls: false`: a selector-less PeerAuthentication of
    /// the mesh root namespace (`istio-system`, or the mesh config's `rootNamespace`) with
    /// `mtls.mode: STRICT`, and no mesh-wide DestinationRule (host `*.local`) with
    /// `tls.mode: ISTIO_MUTUAL`. With auto mTLS on (Istio's default) nothing is reported.
    /// Kiali: KIA0401 (`peerauthentication.mtls.destinationrulemissing`).
    ///
    /// ## Why it matters
    /// Without auto mTLS, clients send plain text unless a DestinationRule tells them otherwise,
    /// and the mesh-wide STRICT policy makes every server refuse it: calls fail across the mesh
    /// except where a namespace DestinationRule happens to enable mTLS.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: security.istio.io/v1
    /// kind: PeerAuthentication
    /// metadata: {name: default, namespace: istio-system}
    /// spec:
    ///   mtls: {mode: STRICT}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: security.istio.io/v1
    /// kind: PeerAuthentication
    /// metadata: {name: default, namespace: istio-system}
    /// spec:
    ///   mtls: {mode: STRICT}
    /// ---
    /// apiVersion: networking.istio.io/v1
    /// kind: DestinationRule
    /// metadata: {name: mtls, namespace: istio-system}
    /// spec:
    ///   host: "*.local"
    ///   trafficPolicy:
    ///     tls: {mode: ISTIO_MUTUAL}
    /// ```
    pub static MESH_STRICT_WITHOUT_MTLS_DR = Rule {
        code: "KIA0401",
        name: "mesh-strict-mtls-without-destination-rule",
        severity: Error,
        summary: "with auto mTLS off, the mesh-wide STRICT PeerAuthentication has no DestinationRule making clients use mTLS",
        mirrors: Some("peerauthentications.MeshMtlsChecker"),
        check: check_strict_mesh,
    };
}

fn check_pa_namespace_disable(ws: &Workspace, out: &mut Findings) {
    let root = ws.root_namespace();
    for pa in ws
        .of_kind(Kind::PeerAuthentication)
        .filter(|pa| pa.ns != root)
    {
        let Some((mode, node)) = pa_mode(pa) else {
            continue;
        };
        if mode != "DISABLE" {
            continue;
        }
        let ns_drs: Vec<_> = scoped_drs(ws, Scope::Namespace, &pa.ns).collect();
        let culprit = match ns_drs
            .iter()
            .find(|(_, m, _)| is_mutual(m) || m == "DISABLE")
        {
            Some((dr, m, _)) if is_mutual(m) => Some(*dr),
            Some(_) => None,
            None => scoped_drs(ws, Scope::Mesh, "")
                .find(|(_, m, _)| is_mutual(m))
                .map(|(dr, _, _)| dr),
        };
        if let Some(dr) = culprit {
            out.report(
                pa,
                node,
                format!(
                    "this PeerAuthentication turns mTLS off in namespace {:?}, but {} still makes clients originate mTLS to it; the applications receive TLS they cannot read",
                    pa.ns.as_str(),
                    dr.display_name()
                ),
            )
            .help(format!(
                "add a DestinationRule for host `*.{}.svc.{}` with `tls.mode: DISABLE`",
                pa.ns,
                ws.cluster_domain()
            ));
        }
    }
}

fn check_pa_mesh_disable(ws: &Workspace, out: &mut Findings) {
    let root = ws.root_namespace();
    for (pa, mode, node) in ns_pas(ws, root) {
        if mode != "DISABLE" {
            continue;
        }
        if let Some((dr, _, _)) = scoped_drs(ws, Scope::Mesh, "").find(|(_, m, _)| is_mutual(m)) {
            out.report(
                pa,
                node,
                format!(
                    "this PeerAuthentication turns mTLS off mesh-wide, but {} still makes every client originate mTLS; the applications receive TLS they cannot read",
                    dr.display_name()
                ),
            )
            .help("set the mesh-wide DestinationRule's `tls.mode` to DISABLE as well, or keep mTLS PERMISSIVE");
        }
    }
}

fn check_strict_mesh(ws: &Workspace, out: &mut Findings) {
    check_strict_without_dr(ws, true, out);
}

fn check_strict_namespace(ws: &Workspace, out: &mut Findings) {
    check_strict_without_dr(ws, false, out);
}

fn check_strict_without_dr(ws: &Workspace, mesh_wide: bool, out: &mut Findings) {
    if !auto_mtls_off(ws) {
        return;
    }
    let root = ws.root_namespace();
    let mesh_dr = scoped_drs(ws, Scope::Mesh, "").any(|(_, m, _)| m == "ISTIO_MUTUAL");
    for pa in ws.of_kind(Kind::PeerAuthentication) {
        let Some((mode, node)) = pa_mode(pa) else {
            continue;
        };
        if mode != "STRICT" || mesh_dr || (pa.ns == root) != mesh_wide {
            continue;
        }
        let (what, host) = if pa.ns == root {
            ("mesh-wide", "*.local".to_string())
        } else {
            if scoped_drs(ws, Scope::Namespace, &pa.ns).any(|(_, m, _)| m == "ISTIO_MUTUAL") {
                continue;
            }
            (
                "namespace-wide",
                format!("*.{}.svc.{}", pa.ns, ws.cluster_domain()),
            )
        };
        out.report(
            pa,
            node,
            format!(
                "this PeerAuthentication requires mTLS {what}, but the mesh config turns auto mTLS off and no DestinationRule makes clients originate it; plain-text calls are refused"
            ),
        )
        .help(format!(
            "add a DestinationRule for host `{host}` with `trafficPolicy.tls.mode: ISTIO_MUTUAL`, or turn `enableAutoMtls` back on"
        ));
    }
}
