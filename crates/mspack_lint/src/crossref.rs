//! Cross-resource helpers of the MSP4xx rules, beside the index: the containers of a pod
//! template, resource quantities, and whether the NetworkPolicies and Istio
//! AuthorizationPolicies that select a workload admit callers from a namespace. Each answer is
//! [`Admits::Yes`], [`Admits::No`] or [`Admits::Unknown`]: rules report a definite `No` only.

use std::collections::HashMap;

use mspack_model::quantity::Quantity;
use mspack_yaml::Node;

use crate::resource::{Kind, Resource, port_number};
use crate::workloads::{Labels, Selector, Values, Workload, read_labels};
use crate::workspace::Workspace;

/// Container lists of a pod spec: app containers, init (and native sidecar) containers,
/// ephemeral containers.
pub const CONTAINER_LISTS: [&str; 3] = ["containers", "initContainers", "ephemeralContainers"];

/// One container of a pod template.
pub struct Container<'a> {
    /// `containers`, `initContainers` or `ephemeralContainers`.
    pub list: &'static str,
    pub node: &'a Node,
    /// `name`, or empty.
    pub name: &'a str,
}

/// The pod spec of a workload (`spec` of its pod template, or of the Pod).
pub fn pod_spec(r: &Resource) -> Option<&Node> {
    r.pod_template().and_then(|t| t.get("spec"))
}

/// Every container of a workload's pod template, list by list.
pub fn containers(r: &Resource) -> impl Iterator<Item = Container<'_>> {
    let spec = pod_spec(r);
    CONTAINER_LISTS.into_iter().flat_map(move |list| {
        spec.and_then(|s| s.get(list))
            .into_iter()
            .flat_map(Node::items)
            .filter(|c| c.as_map().is_some())
            .map(move |node| Container {
                list,
                node,
                name: node.get("name").and_then(Node::as_str).unwrap_or(""),
            })
    })
}

/// A quantity written as a string or a number (`cpu: 1`, `memory: 512Mi`).
pub fn quantity(node: &Node) -> Option<Quantity> {
    node.as_str().and_then(|t| Quantity::parse(t.trim()))
}

/// Protocol of a port entry, `TCP` when absent or empty.
pub fn protocol(port: &Node) -> &str {
    port.get("protocol")
        .and_then(Node::as_str)
        .filter(|p| !p.is_empty())
        .unwrap_or("TCP")
}

/// A decision that may depend on what the input does not say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admits {
    Yes,
    No,
    Unknown,
}

impl Admits {
    /// Any of several alternatives: `Yes` if one is, else `Unknown` if one is, else `No`.
    pub fn any(items: impl IntoIterator<Item = Admits>) -> Admits {
        let mut out = Admits::No;
        for a in items {
            match a {
                Admits::Yes => return Admits::Yes,
                Admits::Unknown => out = Admits::Unknown,
                Admits::No => {}
            }
        }
        out
    }

    fn from_bool(b: bool) -> Admits {
        if b { Admits::Yes } else { Admits::No }
    }
}

/// The label every Namespace carries with its own name.
const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// NetworkPolicies and AuthorizationPolicies by namespace (built once per run), so that asking
/// about one workload looks at its namespace's policies only.
struct PoliciesByNamespace(HashMap<(Kind, String), Vec<usize>>);

fn policies_in<'w>(ws: &'w Workspace, kind: Kind, ns: &str) -> impl Iterator<Item = &'w Resource> {
    let index = ws.shared(|| {
        let mut map: HashMap<(Kind, String), Vec<usize>> = HashMap::new();
        for kind in [Kind::NetworkPolicy, Kind::AuthorizationPolicy] {
            for r in ws.of_kind(kind) {
                map.entry((kind, r.ns.to_string())).or_default().push(r.id);
            }
        }
        PoliciesByNamespace(map)
    });
    let ids = index
        .0
        .get(&(kind, ns.to_string()))
        .cloned()
        .unwrap_or_default();
    ids.into_iter().filter_map(|id| ws.resources.get(id))
}

/// NetworkPolicies of the workload's namespace that select its pods and isolate them for ingress
/// (`policyTypes` absent or listing `Ingress`), in input order.
pub fn ingress_policies<'w>(ws: &'w Workspace, w: &Workload) -> Vec<&'w Resource> {
    policies_in(ws, Kind::NetworkPolicy, &w.ns)
        .filter(|np| {
            np.spec_at(&["policyTypes"]).is_none_or(|types| {
                types.is_null() || types.items().any(|t| t.as_str() == Some("Ingress"))
            })
        })
        .filter(|np| Selector::parse(np.spec_at(&["podSelector"])).matches(&w.labels))
        .collect()
}

/// Whether `selector` (a NetworkPolicy `namespaceSelector`, a Gateway listener's
/// `allowedRoutes.namespaces.selector`) selects namespace `ns`: decidable when it asks for the
/// namespace name label only, or when the Namespace object is in the input.
pub fn namespace_selected(ws: &Workspace, selector: &Node, ns: &str) -> Admits {
    let parsed = Selector::parse(Some(selector));
    if parsed.is_empty() {
        return Admits::Yes;
    }
    let mut own = Labels::new();
    own.insert(NAMESPACE_NAME_LABEL.to_string(), ns.to_string());
    let only_name = parsed.labels().keys().all(|k| k == NAMESPACE_NAME_LABEL)
        && selector
            .get("matchExpressions")
            .into_iter()
            .flat_map(Node::items)
            .all(|e| e.get("key").and_then(Node::as_str) == Some(NAMESPACE_NAME_LABEL));
    if only_name {
        return Admits::from_bool(parsed.matches(&own));
    }
    match ws.find(Kind::Namespace, "", ns) {
        Some(namespace) => {
            let mut labels = read_labels(namespace.labels());
            labels.extend(own);
            Admits::from_bool(parsed.matches(&labels))
        }
        None => Admits::Unknown,
    }
}

/// Whether one `from` peer of a NetworkPolicy in namespace `policy_ns` admits pods of `caller_ns`.
fn peer_admits(ws: &Workspace, peer: &Node, policy_ns: &str, caller_ns: &str) -> Admits {
    if peer.get("ipBlock").is_some() || peer.as_map().is_none() {
        return Admits::Unknown;
    }
    let pods = peer.get("podSelector").filter(|p| !p.is_null());
    let all_pods = pods.is_none_or(|p| Selector::parse(Some(p)).is_empty());
    let namespace = match peer.get("namespaceSelector").filter(|n| !n.is_null()) {
        Some(selector) => namespace_selected(ws, selector, caller_ns),
        None if pods.is_none() => return Admits::Unknown,
        None => Admits::from_bool(policy_ns == caller_ns),
    };
    match namespace {
        Admits::Yes if all_pods => Admits::Yes,
        Admits::Yes => Admits::Unknown,
        other => other,
    }
}

/// Whether an ingress rule's `ports` let TCP traffic to `port` through (all when absent; a named
/// port is taken to match).
fn ports_admit(rule: &Node, port: Option<i64>) -> bool {
    let (Some(port), Some(ports)) = (port, rule.get("ports").filter(|p| !p.is_null())) else {
        return true;
    };
    let mut list = ports.items().peekable();
    if list.peek().is_none() {
        return true;
    }
    list.any(|p| {
        if protocol(p) != "TCP" {
            return false;
        }
        let Some(number) = p.get("port").filter(|n| !n.is_null()) else {
            return true;
        };
        match port_number(number) {
            Some(n) => {
                let end = p.get("endPort").and_then(Node::as_i64).unwrap_or(n);
                (n..=end.max(n)).contains(&port)
            }
            None => true,
        }
    })
}

/// Whether one NetworkPolicy's ingress rules admit pods of `caller_ns` (to `port` when known).
fn policy_admits(ws: &Workspace, np: &Resource, caller_ns: &str, port: Option<i64>) -> Admits {
    Admits::any(
        np.spec_at(&["ingress"])
            .into_iter()
            .flat_map(Node::items)
            .filter(|rule| ports_admit(rule, port))
            .map(|rule| match rule.get("from").filter(|f| !f.is_null()) {
                None => Admits::Yes,
                Some(from) if from.items().len() == 0 => Admits::Yes,
                Some(from) => Admits::any(
                    from.items()
                        .map(|peer| peer_admits(ws, peer, &np.ns, caller_ns)),
                ),
            }),
    )
}

/// Whether the NetworkPolicies isolating `w` admit ingress from pods of `caller_ns` (to `port`
/// when known), with the policies that isolate it. No isolating policy: `Yes`.
pub fn network_admits<'w>(
    ws: &'w Workspace,
    w: &Workload,
    caller_ns: &str,
    port: Option<i64>,
) -> (Admits, Vec<&'w Resource>) {
    let policies = ingress_policies(ws, w);
    if policies.is_empty() {
        return (Admits::Yes, policies);
    }
    let admits = Admits::any(
        policies
            .iter()
            .map(|np| policy_admits(ws, np, caller_ns, port)),
    );
    (admits, policies)
}

/// The namespace a SPIFFE-style principal `<trust domain>/ns/<ns>/sa/<sa>` names, with the
/// service account part; `None` for other principals or a wildcard in the namespace.
pub fn principal_namespace(principal: &str) -> Option<(&str, &str)> {
    let (_, rest) = principal.split_once("/ns/")?;
    let (ns, sa) = rest.split_once("/sa/")?;
    (!ns.is_empty() && !ns.contains('*') && !sa.is_empty()).then_some((ns, sa))
}

/// Istio's string match: exact, `*`, `prefix*` or `*suffix`.
fn istio_match(pattern: &str, value: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    if let Some(prefix) = pattern.strip_suffix('*') {
        return value.starts_with(prefix);
    }
    if let Some(suffix) = pattern.strip_prefix('*') {
        return value.ends_with(suffix);
    }
    pattern == value
}

/// The ALLOW AuthorizationPolicies that apply to `w`: of its namespace or the root namespace,
/// without a selector or with one matching its labels.
pub fn allow_policies<'w>(ws: &'w Workspace, w: &Workload) -> Vec<&'w Resource> {
    let root = ws.root_namespace();
    let mut namespaces = vec![w.ns.as_str()];
    if root != w.ns {
        namespaces.push(root);
    }
    namespaces
        .into_iter()
        .flat_map(|ns| policies_in(ws, Kind::AuthorizationPolicy, ns))
        .filter(|ap| {
            ap.spec_at(&["action"])
                .and_then(Node::as_str)
                .is_none_or(|a| a == "ALLOW")
        })
        .filter(|ap| {
            ap.spec_at(&["selector"])
                .filter(|s| !s.is_null())
                .is_none_or(|s| {
                    Selector::read(s.get("matchLabels"), Values::OtherAsEmpty).matches(&w.labels)
                })
        })
        .collect()
}

/// A caller: its namespace and, when known, its service account.
#[derive(Clone, Copy)]
pub struct Caller<'a> {
    pub ns: &'a str,
    pub service_account: Option<&'a str>,
    /// Without a sidecar (or ztunnel) the caller sends plaintext and has no mesh identity: no
    /// `principals` (not even `*`) and no `namespaces` match it.
    pub plaintext: bool,
}

/// Whether one `from.source` admits the caller.
fn source_admits(source: &Node, caller: Caller<'_>) -> Admits {
    let mut result = Admits::Yes;
    for (key, _, value) in source.entries() {
        let patterns = || value.items().filter_map(Node::as_str);
        let field = match key {
            // Both come from the peer certificate, which a plaintext request does not have.
            "namespaces" | "principals" if caller.plaintext => Admits::No,
            "namespaces" => Admits::from_bool(patterns().any(|p| istio_match(p, caller.ns))),
            "principals" => Admits::any(patterns().map(|p| principal_admits(p, caller))),
            _ => Admits::Unknown,
        };
        match field {
            Admits::No => return Admits::No,
            Admits::Unknown => result = Admits::Unknown,
            Admits::Yes => {}
        }
    }
    result
}

fn principal_admits(pattern: &str, caller: Caller<'_>) -> Admits {
    if pattern == "*" {
        return Admits::Yes;
    }
    let Some((ns_pattern, sa_pattern)) = pattern
        .split_once("/ns/")
        .and_then(|(_, rest)| rest.split_once("/sa/"))
    else {
        return Admits::Unknown;
    };
    if !istio_match(ns_pattern, caller.ns) {
        return Admits::No;
    }
    match caller.service_account {
        Some(sa) => Admits::from_bool(istio_match(sa_pattern, sa)),
        None if sa_pattern == "*" => Admits::Yes,
        None => Admits::Unknown,
    }
}

/// Whether a rule's `to` admits requests to `port` (other conditions: `Unknown`).
fn to_admits(rule: &Node, port: Option<i64>) -> Admits {
    let Some(to) = rule.get("to").filter(|t| !t.is_null()) else {
        return Admits::Yes;
    };
    if to.items().len() == 0 {
        return Admits::Yes;
    }
    Admits::any(to.items().map(|item| {
        let Some(operation) = item.get("operation") else {
            return Admits::Unknown;
        };
        let mut result = Admits::Yes;
        for (key, _, value) in operation.entries() {
            let field = match (key, port) {
                ("ports", Some(port)) => {
                    Admits::from_bool(value.items().filter_map(port_number).any(|p| p == port))
                }
                _ => Admits::Unknown,
            };
            match field {
                Admits::No => return Admits::No,
                Admits::Unknown => result = Admits::Unknown,
                Admits::Yes => {}
            }
        }
        result
    }))
}

/// Whether one ALLOW policy admits requests from `caller` (to `port` when known).
fn authz_policy_admits(ap: &Resource, caller: Caller<'_>, port: Option<i64>) -> Admits {
    Admits::any(
        ap.spec_at(&["rules"])
            .into_iter()
            .flat_map(Node::items)
            .map(|rule| {
                if rule.get("when").is_some() {
                    return Admits::Unknown;
                }
                let from = match rule.get("from").filter(|f| !f.is_null()) {
                    None => Admits::Yes,
                    Some(from) if from.items().len() == 0 => Admits::Yes,
                    Some(from) => Admits::any(from.items().map(|f| match f.get("source") {
                        Some(source) => source_admits(source, caller),
                        None => Admits::Unknown,
                    })),
                };
                match from {
                    Admits::Yes => to_admits(rule, port),
                    other => other,
                }
            }),
    )
}

/// Whether Istio's ALLOW policies applying to `w` admit `caller` (to `port` when known), with
/// those policies. No ALLOW policy: `Yes`.
pub fn authz_admits<'w>(
    ws: &'w Workspace,
    w: &Workload,
    caller: Caller<'_>,
    port: Option<i64>,
) -> (Admits, Vec<&'w Resource>) {
    let policies = allow_policies(ws, w);
    if policies.is_empty() {
        return (Admits::Yes, policies);
    }
    let admits = Admits::any(
        policies
            .iter()
            .map(|ap| authz_policy_admits(ap, caller, port)),
    );
    (admits, policies)
}

/// Whether a workload's pods get a mesh identity (an Istio sidecar, or ambient's ztunnel), the
/// reason when they do not. `No` only when Istio gives them none whatever the cluster holds
/// beside the input: `hostNetwork` pods (never injected, never captured by ztunnel), or
/// injection turned off by the pod's `sidecar.istio.io/inject: "false"` or its Namespace's
/// `istio-injection: disabled` when the Namespace is in the input and not ambient (or the pod
/// opts out of ambient). Injection neither asked for nor refused depends on the install:
/// `Unknown`.
pub fn mesh_identity(ws: &Workspace, r: &Resource) -> (Admits, &'static str) {
    let template = r.pod_template();
    let spec = template.and_then(|t| t.get("spec"));
    if crate::workloads::has_proxy_container(spec, &["containers", "initContainers"]) {
        return (Admits::Yes, "");
    }
    if spec
        .and_then(|s| s.get("hostNetwork"))
        .and_then(Node::as_bool)
        == Some(true)
    {
        return (
            Admits::No,
            "it runs with hostNetwork, which Istio never meshes",
        );
    }
    let meta = template.and_then(|t| t.get("metadata"));
    let pod_label = |key: &str| {
        meta.and_then(|m| m.path(&["labels", key]))
            .and_then(Node::as_str)
    };
    let redirected = meta
        .and_then(|m| m.path(&["annotations", crate::workloads::AMBIENT_REDIRECTION]))
        .and_then(Node::as_str);
    if redirected == Some("enabled") {
        return (Admits::Yes, "");
    }
    // The label wins over the legacy annotation.
    let pod_inject = pod_label(crate::workloads::SIDECAR_INJECT).or_else(|| {
        meta.and_then(|m| m.path(&["annotations", crate::workloads::SIDECAR_INJECT]))
            .and_then(Node::as_str)
    });
    let namespace = ws.find(Kind::Namespace, "", &r.ns);
    let ns_inject = namespace.and_then(|n| n.label(crate::workloads::INJECTION_LABEL));
    let ns_revision = namespace
        .and_then(|n| n.label(crate::workloads::REVISION_LABEL))
        .filter(|v| !v.is_empty());
    // Istio's injection policy: either side disabled wins, then either side enabled.
    let (sidecar, reason) = if pod_inject == Some("false") {
        (
            Admits::No,
            "its pods are labelled `sidecar.istio.io/inject: \"false\"`",
        )
    } else if ns_inject == Some("disabled") {
        (
            Admits::No,
            "its Namespace is labelled `istio-injection: disabled`",
        )
    } else if pod_inject == Some("true") || ns_inject == Some("enabled") || ns_revision.is_some() {
        (Admits::Yes, "")
    } else {
        (Admits::Unknown, "")
    };
    if sidecar == Admits::Yes {
        return (Admits::Yes, "");
    }
    let ambient = match pod_label(crate::workloads::DATAPLANE_MODE_LABEL) {
        Some("none") => Admits::No,
        Some("ambient") => Admits::Yes,
        _ => match namespace {
            Some(_) => Admits::from_bool(crate::workloads::namespace_in_ambient(ws, &r.ns)),
            None => Admits::Unknown,
        },
    };
    match (sidecar, ambient) {
        (_, Admits::Yes) => (Admits::Yes, ""),
        (Admits::No, Admits::No) => (Admits::No, reason),
        _ => (Admits::Unknown, ""),
    }
}

/// The mTLS mode (`STRICT`, `PERMISSIVE`, `DISABLE`) of the PeerAuthentications in the input
/// for container port `port` of `w`, with the policy that decides it: the workload's policy
/// (its `portLevelMtls` for the port, then its `mtls`), then its namespace's, then the root
/// namespace's; `UNSET` or absent modes inherit. `None` when no policy of the input decides
/// it (Istio's default is PERMISSIVE, but a mesh-wide policy may be outside the input) or
/// when policies of one level disagree (Istio takes the oldest).
pub fn mtls_mode<'w>(
    ws: &'w Workspace,
    w: &Workload,
    port: Option<i64>,
) -> Option<(String, &'w Resource)> {
    let mode_of = |node: Option<&Node>| -> Option<String> {
        node.and_then(|m| m.get("mode"))
            .and_then(Node::as_str)
            .map(str::to_ascii_uppercase)
            .filter(|m| matches!(m.as_str(), "STRICT" | "PERMISSIVE" | "DISABLE"))
    };
    let has_selector = |pa: &Resource| {
        pa.spec_at(&["selector", "matchLabels"])
            .is_some_and(|m| m.entries().next().is_some())
    };
    let workload_level = |pa: &Resource| -> Option<String> {
        let port_level = port.and_then(|port| {
            pa.spec_at(&["portLevelMtls"])?
                .entries()
                .find(|(key, _, _)| key.trim().parse::<i64>().ok() == Some(port))
                .and_then(|(_, _, v)| mode_of(Some(v)))
        });
        port_level.or_else(|| mode_of(pa.spec_at(&["mtls"])))
    };
    let root = ws.root_namespace().to_owned();
    let in_ns = |ns: &str| {
        ws.of_kind(Kind::PeerAuthentication)
            .filter(|pa| pa.ns == ns)
            .collect::<Vec<_>>()
    };
    // One level: the modes its policies decide; agreeing ones decide, disagreeing ones do not.
    let decide = |policies: Vec<(&'w Resource, Option<String>)>| -> Result<Option<(String, &'w Resource)>, ()> {
        let decided: Vec<(&'w Resource, String)> = policies
            .into_iter()
            .filter_map(|(pa, mode)| mode.map(|m| (pa, m)))
            .collect();
        match decided.first() {
            None => Ok(None),
            Some((pa, mode)) if decided.iter().all(|(_, m)| m == mode) => {
                Ok(Some((mode.clone(), *pa)))
            }
            Some(_) => Err(()),
        }
    };
    let own = in_ns(&w.ns);
    let workload: Vec<_> = own
        .iter()
        .filter(|pa| has_selector(pa))
        .filter(|pa| {
            Selector::read(
                pa.spec_at(&["selector", "matchLabels"]),
                Values::OtherAsEmpty,
            )
            .matches(&w.labels)
        })
        .map(|pa| (*pa, workload_level(pa)))
        .collect();
    let namespace: Vec<_> = own
        .iter()
        .filter(|pa| !has_selector(pa))
        .map(|pa| (*pa, mode_of(pa.spec_at(&["mtls"]))))
        .collect();
    let mesh: Vec<_> = if root == w.ns {
        Vec::new()
    } else {
        in_ns(&root)
            .into_iter()
            .filter(|pa| !has_selector(pa))
            .map(|pa| (pa, mode_of(pa.spec_at(&["mtls"]))))
            .collect()
    };
    for level in [workload, namespace, mesh] {
        match decide(level) {
            Ok(Some(found)) => return Some(found),
            Ok(None) => {}
            Err(()) => return None,
        }
    }
    None
}

/// `Kind ns/name` of each resource, capped (see [`crate::finding::listed`]).
pub fn display_names(resources: &[&Resource]) -> String {
    crate::finding::listed(
        &resources
            .iter()
            .map(|r| r.display_name())
            .collect::<Vec<_>>(),
    )
}

/// The container port a Service port reaches on a workload: `targetPort` as a number, a named
/// port looked up in the workload's containers, or the `port` itself.
pub fn target_container_port(svc_port: &Node, workload: &Resource) -> Option<i64> {
    let target = svc_port.get("targetPort").filter(|t| !t.is_null());
    match target {
        None => svc_port.get("port").and_then(port_number),
        Some(t) => match port_number(t) {
            Some(n) => Some(n),
            None => {
                let name = t.as_str()?;
                containers(workload)
                    .flat_map(|c| c.node.get("ports").into_iter().flat_map(Node::items))
                    .find(|p| p.get("name").and_then(Node::as_str) == Some(name))
                    .and_then(|p| p.get("containerPort"))
                    .and_then(port_number)
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principals_name_their_namespace() {
        assert_eq!(
            principal_namespace("cluster.local/ns/orders/sa/api"),
            Some(("orders", "api"))
        );
        assert_eq!(principal_namespace("cluster.local/ns/*/sa/api"), None);
        assert_eq!(principal_namespace("spiffe-less"), None);
    }

    fn source(yaml: &str) -> mspack_yaml::Node {
        let parsed = mspack_yaml::parse_file(
            std::sync::Arc::new(mspack_yaml::SourceFile::new("source.yaml", yaml)),
            &mspack_yaml::Limits::default(),
        );
        match parsed.documents.into_iter().next() {
            Some(doc) => doc.root,
            None => panic!("no document in {yaml}"),
        }
    }

    #[test]
    fn plaintext_callers_match_no_principal_or_namespace() {
        let meshed = Caller {
            ns: "ebpf",
            service_account: Some("obi"),
            plaintext: false,
        };
        let plaintext = Caller {
            plaintext: true,
            ..meshed
        };
        for yaml in [
            "principals: [\"*\"]",
            "principals: [cluster.local/ns/ebpf/sa/obi]",
            "namespaces: [ebpf]",
        ] {
            let s = source(yaml);
            assert_eq!(source_admits(&s, meshed), Admits::Yes, "{yaml}");
            assert_eq!(source_admits(&s, plaintext), Admits::No, "{yaml}");
        }
        // Addresses are not decided either way.
        let s = source("ipBlocks: [10.0.0.0/16]");
        assert_eq!(source_admits(&s, plaintext), Admits::Unknown);
    }

    #[test]
    fn principal_patterns() {
        let caller = Caller {
            ns: "orders",
            service_account: Some("api"),
            plaintext: false,
        };
        assert_eq!(
            principal_admits("cluster.local/ns/orders/sa/*", caller),
            Admits::Yes
        );
        assert_eq!(
            principal_admits("cluster.local/ns/pay/sa/*", caller),
            Admits::No
        );
        assert_eq!(
            principal_admits("cluster.local/ns/orders/sa/web", caller),
            Admits::No
        );
        assert_eq!(principal_admits("someone", caller), Admits::Unknown);
    }
}
