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
