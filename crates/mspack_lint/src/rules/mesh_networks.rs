use std::collections::HashSet;

use mspack_yaml::Node;

use crate::declare_rule;
use crate::finding::Findings;
use crate::resource::Kind;
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// With a mesh networks file (`--mesh-networks`, or `[mesh] mesh-networks` in
    /// `.mspack.toml`), every `networks.<name>.endpoints[].fromRegistry` that names no known
    /// service registry. Known registries are `Kubernetes`, `External` and `Mock` (exactly so
    /// spelt) and the cluster names that remote-cluster Secrets (label
    /// `istio/multiCluster: "true"`) carry as keys of `data` or `stringData`. Findings name the
    /// resource `MeshNetworks <root namespace>/meshnetworks`, as Istio does.
    ///
    /// ## Why it matters
    /// `fromRegistry` ties a network to the endpoints of one cluster. A name that matches no
    /// registry (a typo, a wrong case, a cluster whose remote secret is missing) leaves the
    /// network without endpoints, so cross-network traffic is not routed through its gateway.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: v1
    /// kind: Secret
    /// metadata:
    ///   name: istio-remote-secret-delivery-west
    ///   namespace: istio-system
    /// stringData:
    ///   delivery-west: "kubeconfig of the west cluster"
    /// ```
    /// with the mesh networks file
    /// ```yaml
    /// networks:
    ///   net-east:
    ///     endpoints: [{fromRegistry: Kubernetes}]
    ///     gateways: [{address: 198.51.100.10, port: 15443}]
    ///   net-west:
    ///     endpoints: [{fromRegistry: delivery-west}]
    ///     gateways: [{address: 198.51.100.20, port: 15443}]
    /// ```
    ///
    /// ## Fix
    /// Label the remote secret so Istio reads it:
    /// ```yaml
    /// apiVersion: v1
    /// kind: Secret
    /// metadata:
    ///   name: istio-remote-secret-delivery-west
    ///   namespace: istio-system
    ///   labels: {istio/multiCluster: "true"}
    /// stringData:
    ///   delivery-west: "kubeconfig of the west cluster"
    /// ```
    pub static UNKNOWN_SERVICE_REGISTRY = Rule {
        code: "IST0126",
        name: "UnknownMeshNetworksServiceRegistry",
        severity: Error,
        summary: "a mesh network's fromRegistry names no known service registry",
        mirrors: Some("multicluster.MeshNetworksAnalyzer"),
        check: check,
    };
}

/// Registries every istiod knows.
const BUILT_IN_REGISTRIES: [&str; 3] = ["Mock", "Kubernetes", "External"];

fn check(ws: &Workspace, out: &mut Findings) {
    let Some(networks) = &ws.networks else {
        return;
    };
    let mut known: HashSet<&str> = BUILT_IN_REGISTRIES.into_iter().collect();
    for secret in ws.of_kind(Kind::Secret) {
        if secret.label("istio/multiCluster") != Some("true") {
            continue;
        }
        for field in ["data", "stringData"] {
            if let Some(data) = secret.root.get(field) {
                known.extend(data.entries().map(|(k, _, _)| k));
            }
        }
    }
    let resource = format!("MeshNetworks {}/meshnetworks", ws.root_namespace());
    let Some(map) = networks.root.get("networks") else {
        return;
    };
    for (network, _, spec) in map.entries() {
        for endpoint in spec.get("endpoints").into_iter().flat_map(Node::items) {
            let Some(registry_node) = endpoint
                .get("fromRegistry")
                .or_else(|| endpoint.get("from_registry"))
                .filter(|n| !n.is_null())
            else {
                continue;
            };
            let registry = registry_node.as_str().unwrap_or("");
            if known.contains(registry) {
                continue;
            }
            let hint = BUILT_IN_REGISTRIES
                .iter()
                .find(|b| b.eq_ignore_ascii_case(registry))
                .map(|b| format!("registry names are case-sensitive: write `{b}`"))
                .unwrap_or_else(|| {
                    format!(
                        "use `Kubernetes` for this cluster, or add the remote secret of cluster `{registry}` (label `istio/multiCluster: \"true\"`)"
                    )
                });
            out.report_named(
                resource.clone(),
                &networks.file,
                registry_node.span,
                format!("unknown service registry \"{registry}\" in network \"{network}\""),
            )
            .help(hint);
        }
    }
}
