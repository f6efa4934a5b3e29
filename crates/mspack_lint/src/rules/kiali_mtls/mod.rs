//! Kiali's mTLS consistency checks between mesh-wide and namespace-wide DestinationRules
//! (`*.local`, `*.<ns>.svc.<domain>`) and selector-less PeerAuthentications (of the root
//! namespace: mesh-wide; of another namespace: namespace-wide). Each pair only looks at what both
//! sides write; the checks about a missing side run only where the mesh config turns auto mTLS off.
//! The DestinationRule side's rules are in [`destination_rule`], the PeerAuthentication side's in
//! [`peer_authentication`]; this module holds what both read.

use mspack_yaml::Node;

use crate::resource::{Kind, Resource};
use crate::workspace::Workspace;

mod destination_rule;
mod peer_authentication;

pub use destination_rule::{
    DR_DISABLES_MESH_STRICT, DR_DISABLES_NAMESPACE_STRICT, MTLS_OVERRIDDEN,
};
pub use peer_authentication::{
    MESH_STRICT_WITHOUT_MTLS_DR, PA_DISABLES_MESH_MTLS, PA_DISABLES_NAMESPACE_MTLS,
    STRICT_WITHOUT_MTLS_DR,
};

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
