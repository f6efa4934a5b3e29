//! Gateway API references as the API server defaults them: a route's `parentRefs` (group
//! `gateway.networking.k8s.io`, kind `Gateway` when unset) and `backendRefs` (core group, kind
//! `Service` when unset), each with the namespace it resolves in, and the ReferenceGrants that
//! admit a cross-namespace reference.

use mspack_yaml::Node;

use crate::crossref::{Admits, namespace_selected};
use crate::resource::{Kind, Resource};
use crate::workspace::Workspace;

/// The API group of Gateway API resources.
pub const GROUP: &str = "gateway.networking.k8s.io";

/// A `parentRefs[]` or `backendRefs[]` entry with its defaults applied.
#[derive(Clone, Copy, Debug)]
pub struct ObjectRef<'a> {
    /// The whole entry.
    pub node: &'a Node,
    /// The `name` node (absent or not a string: the ref is skipped).
    pub name_node: &'a Node,
    pub name: &'a str,
    pub group: &'a str,
    pub kind: &'a str,
    /// The namespace it resolves in: as written, else the route's.
    pub namespace: &'a str,
    /// Whether `namespace` was written and differs from the route's.
    pub cross_namespace: bool,
    pub port: Option<&'a Node>,
}

impl ObjectRef<'_> {
    /// A Gateway API `Gateway`.
    pub fn is_gateway(&self) -> bool {
        self.group == GROUP && self.kind == "Gateway"
    }

    /// A core `Service`.
    pub fn is_service(&self) -> bool {
        self.group.is_empty() && self.kind == "Service"
    }
}

fn read_ref<'a>(
    route: &'a Resource,
    node: &'a Node,
    default_group: &'a str,
    default_kind: &'a str,
) -> Option<ObjectRef<'a>> {
    let text = |key: &str| node.get(key).and_then(Node::as_str);
    let name_node = node.get("name")?;
    let name = name_node.as_str()?;
    let namespace = text("namespace").filter(|ns| !ns.is_empty());
    Some(ObjectRef {
        node,
        name_node,
        name,
        // An explicit `group: ""` is the core group.
        group: node
            .get("group")
            .map_or(Some(default_group), Node::as_str)
            .unwrap_or(default_group),
        kind: text("kind").unwrap_or(default_kind),
        namespace: namespace.unwrap_or(&route.ns),
        cross_namespace: namespace.is_some_and(|ns| ns != route.ns.as_str()),
        port: node.get("port").filter(|p| !p.is_null()),
    })
}

/// `spec.parentRefs[]` of a route.
pub fn parent_refs(route: &Resource) -> Vec<ObjectRef<'_>> {
    route
        .spec_at(&["parentRefs"])
        .into_iter()
        .flat_map(Node::items)
        .filter_map(|n| read_ref(route, n, GROUP, "Gateway"))
        .collect()
}

/// `spec.rules[].backendRefs[]` of a route.
pub fn backend_refs(route: &Resource) -> Vec<ObjectRef<'_>> {
    route
        .spec_at(&["rules"])
        .into_iter()
        .flat_map(Node::items)
        .flat_map(|r| r.get("backendRefs").into_iter().flat_map(Node::items))
        .filter_map(|n| read_ref(route, n, "", "Service"))
        .collect()
}

/// The route kinds whose references are read here.
pub const ROUTE_KINDS: [Kind; 5] = [
    Kind::HTTPRoute,
    Kind::GRPCRoute,
    Kind::TCPRoute,
    Kind::TLSRoute,
    Kind::UDPRoute,
];

fn field<'a>(n: &'a Node, key: &str) -> &'a str {
    n.get(key).and_then(Node::as_str).unwrap_or("")
}

/// Whether a ReferenceGrant of the input, in namespace `to_ns`, lets objects of `from_kind`
/// (a Gateway API kind) in `from_ns` refer to the core `Service` named `name`.
pub fn service_reference_granted(
    ws: &Workspace,
    from_kind: &str,
    from_ns: &str,
    to_ns: &str,
    name: &str,
) -> bool {
    ws.of_kind(Kind::ReferenceGrant)
        .filter(|g| g.ns == to_ns)
        .any(|g| {
            let from = g.spec_at(&["from"]).into_iter().flat_map(Node::items);
            let to = g.spec_at(&["to"]).into_iter().flat_map(Node::items);
            from.clone().any(|f| {
                field(f, "group") == GROUP
                    && field(f, "kind") == from_kind
                    && field(f, "namespace") == from_ns
            }) && to.clone().any(|t| {
                field(t, "group").is_empty()
                    && field(t, "kind") == "Service"
                    && t.get("name")
                        .and_then(Node::as_str)
                        .is_none_or(|n| n.is_empty() || n == name)
            })
        })
}

/// Whether a Gateway's listeners admit routes from namespace `route_ns`
/// (`allowedRoutes.namespaces.from`: `Same` by default, `All`, or `Selector` over the
/// Namespace's labels). `None` when a `Selector` decides and the Namespace is not in the input.
pub fn gateway_admits_namespace(
    ws: &Workspace,
    gateway: &Resource,
    route_ns: &str,
) -> Option<bool> {
    if gateway.ns == route_ns {
        return Some(true);
    }
    let mut undecided = false;
    for listener in gateway
        .spec_at(&["listeners"])
        .into_iter()
        .flat_map(Node::items)
    {
        let namespaces = listener.path(&["allowedRoutes", "namespaces"]);
        let from = namespaces
            .and_then(|n| n.get("from"))
            .and_then(Node::as_str)
            .unwrap_or("Same");
        match from {
            "All" => return Some(true),
            "Selector" => match namespaces.and_then(|n| n.get("selector")) {
                None => return Some(true),
                Some(selector) => match namespace_selected(ws, selector, route_ns) {
                    Admits::Yes => return Some(true),
                    Admits::No => {}
                    Admits::Unknown => undecided = true,
                },
            },
            _ => {}
        }
    }
    if undecided { None } else { Some(false) }
}
