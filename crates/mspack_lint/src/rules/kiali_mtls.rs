//! Kiali's mTLS consistency checks between mesh-wide and namespace-wide DestinationRules
//! (`*.local`, `*.<ns>.svc.<domain>`) and selector-less PeerAuthentications (of the root
//! namespace: mesh-wide; of another namespace: namespace-wide). Each pair only looks at what both
//! sides write; the checks about a missing side run only where the mesh config turns auto mTLS off.

use mspack_yaml::Node;

use crate::declare_rule;
use crate::finding::Findings;
use crate::resource::{Kind, Resource};
use crate::workspace::Workspace;

/// The TLS mode of a DestinationRule's `trafficPolicy.tls`, upper-cased.
pub(crate) fn dr_tls_mode(dr: &Resource) -> Option<(String, &Node)> {
    let node = dr.spec_at(&["trafficPolicy", "tls", "mode"])?;
    Some((node.as_str()?.to_ascii_uppercase(), node))
}

/// Mesh-wide (`*.local`) or namespace-wide (`*.<ns>.svc.<domain>` of its own namespace).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    Mesh,
    Namespace,
}

pub(crate) fn dr_scope(ws: &Workspace, dr: &Resource) -> Option<Scope> {
    let host = dr.spec_at(&["host"]).and_then(Node::as_str)?;
    if host == "*.local" {
        Some(Scope::Mesh)
    } else if host == format!("*.{}.svc.{}", dr.ns, ws.cluster_domain()) {
        Some(Scope::Namespace)
    } else {
        None
    }
}

/// DestinationRules of one scope (a namespace-wide one for namespace `ns`) with their TLS mode.
pub(crate) fn scoped_drs<'w>(
    ws: &'w Workspace,
    scope: Scope,
    ns: &'w str,
) -> impl Iterator<Item = (&'w Resource, String, &'w Node)> {
    ws.of_kind(Kind::DestinationRule)
        .filter(move |dr| dr_scope(ws, dr) == Some(scope) && (scope == Scope::Mesh || dr.ns == ns))
        .filter_map(|dr| dr_tls_mode(dr).map(|(mode, node)| (dr, mode, node)))
}

/// The mode of a PeerAuthentication without a `selector` (one with a selector is workload-wide).
fn pa_mode(pa: &Resource) -> Option<(String, &Node)> {
    if pa.spec_at(&["selector"]).is_some_and(|s| !s.is_null()) {
        return None;
    }
    let node = pa.spec_at(&["mtls", "mode"])?;
    Some((node.as_str()?.to_ascii_uppercase(), node))
}

/// Selector-less PeerAuthentications of namespace `ns` with their mode.
fn ns_pas<'w>(
    ws: &'w Workspace,
    ns: &'w str,
) -> impl Iterator<Item = (&'w Resource, String, &'w Node)> {
    ws.of_kind(Kind::PeerAuthentication)
        .filter(move |pa| pa.ns == ns)
        .filter_map(|pa| pa_mode(pa).map(|(mode, node)| (pa, mode, node)))
}

fn is_mutual(mode: &str) -> bool {
    matches!(mode, "ISTIO_MUTUAL" | "MUTUAL")
}

fn enables(mode: &str) -> bool {
    matches!(mode, "STRICT" | "PERMISSIVE")
}

/// Whether the mesh config turns automatic mTLS off (`enableAutoMtls: false`; Istio's default is on).
fn auto_mtls_off(ws: &Workspace) -> bool {
    ws.mesh.get("enableAutoMtls").and_then(Node::as_bool) == Some(false)
}

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
        check: check_dr_namespace_disable,
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

fn check_dr_namespace_disable(ws: &Workspace, out: &mut Findings) {
    for (dr, mode, node) in ws
        .of_kind(Kind::DestinationRule)
        .filter(|dr| dr_scope(ws, dr) == Some(Scope::Namespace))
        .filter_map(|dr| dr_tls_mode(dr).map(|(m, n)| (dr, m, n)))
    {
        if mode != "DISABLE" {
            continue;
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
