//! The dependency graph on real manifests: Online Boutique (read from the shared corpus at test
//! time) and the food-delivery example.

use std::path::{Path, PathBuf};

use mspack_lint::graph::{EdgeKind, Graph};
use mspack_lint::{LintOptions, load_inputs};

fn graph_of(paths: &[String]) -> Graph {
    let inputs =
        load_inputs(paths, &LintOptions::default().limits).unwrap_or_else(|e| panic!("{e}"));
    Graph::from_inputs(&inputs, &LintOptions::default())
        .unwrap_or_else(|e| panic!("{e}"))
        .0
}

/// The graph of one file given as text, which must load whole.
fn graph_of_text(name: &str, yaml: &str) -> Graph {
    let source = std::sync::Arc::new(mspack_yaml::SourceFile::new(name, yaml));
    let inputs = mspack_lint::Inputs {
        sources: vec![source],
        unreadable: Vec::new(),
    };
    let (graph, unloadable) =
        Graph::from_inputs(&inputs, &LintOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(unloadable, 0, "{name} loads");
    graph
}

fn targets(graph: &Graph, from: &str, kind: EdgeKind) -> Vec<String> {
    let Some(n) = graph.node(from) else {
        panic!(
            "no node {from}: {:?}",
            graph.nodes.iter().map(|n| &n.id).collect::<Vec<_>>()
        )
    };
    let mut out: Vec<String> = graph
        .outgoing(n, kind)
        .map(|e| graph.nodes[e.to].id.clone())
        .collect();
    out.sort();
    out
}

fn boutique() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(
        "../../../shared/corpus/realworld/microservices-demo/release/kubernetes-manifests.yaml",
    );
    dir.is_file().then_some(dir)
}

#[test]
fn online_boutique_call_graph_from_env_vars() {
    let Some(file) = boutique() else {
        eprintln!("corpus not present; skipped");
        return;
    };
    let graph = graph_of(&[file.display().to_string()]);
    // frontend's eight *_ADDR vars; shoppingassistantservice has no Service in the release
    // manifests, so seven resolve.
    assert_eq!(
        targets(&graph, "default/frontend", EdgeKind::Sync),
        [
            "default/adservice",
            "default/cartservice",
            "default/checkoutservice",
            "default/currencyservice",
            "default/productcatalogservice",
            "default/recommendationservice",
            "default/shippingservice",
        ]
    );
    assert_eq!(
        targets(&graph, "default/checkoutservice", EdgeKind::Sync),
        [
            "default/cartservice",
            "default/currencyservice",
            "default/emailservice",
            "default/paymentservice",
            "default/productcatalogservice",
            "default/shippingservice",
        ]
    );
    assert_eq!(
        targets(&graph, "default/recommendationservice", EdgeKind::Sync),
        ["default/productcatalogservice"]
    );
    assert_eq!(
        targets(&graph, "default/cartservice", EdgeKind::Data),
        ["default/redis-cart"]
    );
    assert_eq!(
        targets(&graph, "default/loadgenerator", EdgeKind::Sync),
        ["default/frontend"]
    );
}

fn food_delivery() -> Graph {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/food-delivery/deploy");
    graph_of(&[dir.display().to_string()])
}

#[test]
fn food_delivery_graph() {
    let graph = food_delivery();
    assert_eq!(
        targets(&graph, "orders/orders", EdgeKind::Async),
        [
            "delivery/delivery",
            "kitchen/kitchen",
            "messaging/nats",
            "payments/payments"
        ]
    );
    assert_eq!(
        targets(&graph, "payments/payments", EdgeKind::Async),
        ["messaging/nats", "orders/orders"]
    );
    assert_eq!(
        targets(&graph, "payments/payments", EdgeKind::Sync),
        ["payments/payment-provider"]
    );
    assert_eq!(
        targets(&graph, "orders/orders", EdgeKind::Data),
        ["db:orders/Secret/orders-db/url"]
    );
    // orders-v1 and orders-v2 are one node; the saga talks to payments over NATS only.
    assert!(targets(&graph, "orders/orders", EdgeKind::Sync).is_empty());
    let orders = graph.node("orders/orders").map(|n| &graph.nodes[n]);
    assert_eq!(
        orders.map(|n| (n.resources.len(), n.entry)),
        Some((2, true))
    );
}

const MESH: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: edge}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {serviceAccountName: web, containers: [{name: web, image: web}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: reviews, namespace: shop}
spec:
  selector: {matchLabels: {app: reviews}}
  template:
    metadata: {labels: {app: reviews}}
    spec:
      containers:
      - name: reviews
        image: reviews
        args: ["--ratings=http://ratings.shop.svc.cluster.local:9080", "--cache=redis://cache:6379"]
      - {name: istio-proxy, image: proxyv2, args: [proxy, "--discoveryAddress", "istiod.istio-system.svc:15012"]}
      volumes:
      - {name: data, persistentVolumeClaim: {claimName: reviews-data}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: ratings, namespace: shop}
spec:
  selector: {matchLabels: {app: ratings}}
  template:
    metadata: {labels: {app: ratings}}
    spec: {containers: [{name: ratings, image: ratings}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: ratings-v2, namespace: shop}
spec:
  selector: {matchLabels: {app: ratings-v2}}
  template:
    metadata: {labels: {app: ratings-v2}}
    spec: {containers: [{name: ratings, image: ratings}]}
---
{apiVersion: v1, kind: Service, metadata: {name: reviews, namespace: shop}, spec: {selector: {app: reviews}, ports: [{port: 9080}]}}
---
{apiVersion: v1, kind: Service, metadata: {name: ratings, namespace: shop}, spec: {selector: {app: ratings}, ports: [{port: 9080}]}}
---
{apiVersion: v1, kind: Service, metadata: {name: ratings-v2, namespace: shop}, spec: {selector: {app: ratings-v2}, ports: [{port: 9080}]}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ratings, namespace: shop}
spec:
  hosts: [ratings]
  http:
  - route: [{destination: {host: ratings}}]
    mirror: {host: ratings-v2}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: reviews, namespace: shop}
spec:
  parentRefs: [{name: public, namespace: edge}]
  rules: [{backendRefs: [{name: reviews, port: 9080}]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ratings, namespace: shop}
spec:
  selector: {matchLabels: {app: ratings}}
  action: ALLOW
  rules:
  - from: [{source: {principals: ["cluster.local/ns/edge/sa/web", "cluster.local/ns/shop/sa/*"]}}]
"#;

#[test]
fn mesh_resources_args_and_volumes_make_edges() {
    let graph = graph_of_text("mesh.yaml", MESH);
    // args (the proxy's istiod address is no edge); the mirror of the ratings VirtualService.
    assert_eq!(
        targets(&graph, "shop/reviews", EdgeKind::Sync),
        ["shop/ratings"]
    );
    assert_eq!(
        targets(&graph, "shop/ratings", EdgeKind::Sync),
        ["shop/ratings-v2"]
    );
    // redis:// to a host with no Service, and the volume claim.
    assert_eq!(
        targets(&graph, "shop/reviews", EdgeKind::Data),
        ["db:cache", "pvc:shop/reviews-data"]
    );
    // The AuthorizationPolicy's principal: web may call ratings (a wildcard account is no caller).
    assert_eq!(
        targets(&graph, "edge/web", EdgeKind::Sync),
        ["shop/ratings"]
    );
    // The HTTPRoute's Gateway parent makes reviews an entry point.
    let entry = |id: &str| graph.node(id).is_some_and(|n| graph.nodes[n].entry);
    assert!(entry("shop/reviews") && !entry("shop/ratings"));
    let mut entries: Vec<&str> = graph
        .entry_points()
        .into_iter()
        .map(|n| graph.nodes[n].id.as_str())
        .collect();
    entries.sort();
    assert_eq!(entries, ["edge/web", "shop/reviews"]);
}

const NETPOL: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata: {name: orders, namespace: orders}
spec:
  selector: {matchLabels: {app: orders}}
  template:
    metadata: {labels: {app: orders}}
    spec:
      containers: [{name: app, image: orders:1, ports: [{name: http, containerPort: 8080}]}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: payments, namespace: payments}
spec:
  selector: {matchLabels: {app: payments}}
  template:
    metadata: {labels: {app: payments}}
    spec:
      containers: [{name: app, image: payments:1, ports: [{name: http, containerPort: 8080}]}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: nats, namespace: messaging}
spec:
  selector: {matchLabels: {app: nats}}
  template:
    metadata: {labels: {app: nats}}
    spec:
      containers: [{name: nats, image: nats:2, ports: [{name: client, containerPort: 4222}]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: orders-egress, namespace: orders}
spec:
  podSelector: {matchLabels: {app: orders}}
  policyTypes: [Egress]
  egress:
  - to:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: payments}}
      podSelector: {matchLabels: {app: payments}}
    ports: [{protocol: TCP, port: 8080}]
  - to:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: messaging}}
      podSelector: {matchLabels: {app: nats}}
    ports: [{protocol: TCP, port: 4222}]
";

/// Issue 14: NetworkPolicy egress is evidence of a call. To an HTTP port of specific pods it is a
/// synchronous edge, with the policy as evidence; to a broker's client port it says nothing about
/// the kind of traffic, so it adds no edge of its own.
#[test]
fn network_policy_egress_to_an_http_port_is_a_sync_edge() {
    let graph = graph_of_text("netpol.yaml", NETPOL);
    assert_eq!(
        targets(&graph, "orders/orders", EdgeKind::Sync),
        ["payments/payments"]
    );
    let from = graph
        .node("orders/orders")
        .unwrap_or_else(|| panic!("orders"));
    let edge = graph
        .outgoing(from, EdgeKind::Sync)
        .next()
        .unwrap_or_else(|| panic!("the edge"));
    assert!(
        edge.evidence
            .iter()
            .any(|e| e.what == "NetworkPolicy egress" && e.location.starts_with("netpol.yaml:")),
        "{:?}",
        edge.evidence
    );
    for kind in [EdgeKind::Async, EdgeKind::Data] {
        assert!(targets(&graph, "orders/orders", kind).is_empty());
    }
}
