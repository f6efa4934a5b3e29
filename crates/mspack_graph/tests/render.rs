//! Rendering of a small graph in every format, `--focus` and `--collapse`, and findings shown
//! in red.

use std::sync::Arc;

use mspack_graph::{Format, View, render};
use mspack_lint::graph::Graph;
use mspack_lint::graph::traces::Observed;
use mspack_lint::{Inputs, LintOptions, lint_sources};
use mspack_yaml::SourceFile;

const SHOP: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: edge, labels: {app: web}}
spec: {containers: [{name: web, image: web, env: [{name: A, value: "http://orders.shop:80"}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: orders, namespace: shop, labels: {app: orders}}
spec:
  containers:
  - name: orders
    image: orders
    env:
    - {name: B, value: "http://billing:80"}
    - {name: DATABASE_URL, value: "postgres://pg.data:5432/shop"}
    - {name: NATS_URL, value: "nats://nats.messaging:4222"}
---
apiVersion: v1
kind: Pod
metadata: {name: billing, namespace: shop, labels: {app: billing}}
spec: {containers: [{name: billing, image: billing, env: [{name: C, value: "http://orders:80"}, {name: P, value: "https://api.stripe.com/v1"}]}]}
---
{apiVersion: v1, kind: Service, metadata: {name: orders, namespace: shop}, spec: {selector: {app: orders}, ports: [{port: 80}]}}
---
{apiVersion: v1, kind: Service, metadata: {name: billing, namespace: shop}, spec: {selector: {app: billing}, ports: [{port: 80}]}}
"#;

fn view(focus: Option<&str>, collapse: bool) -> View {
    let sources = vec![Arc::new(SourceFile::new("shop.yaml", SHOP))];
    let options = LintOptions {
        select: vec!["MSP5".into()],
        ..LintOptions::default()
    };
    let inputs = Inputs {
        sources: sources.clone(),
        unreadable: Vec::new(),
    };
    let (graph, unloadable) =
        Graph::from_inputs(&inputs, &options).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(unloadable, 0);
    let report = lint_sources(sources, &options).unwrap_or_else(|e| panic!("{e}"));
    View::new(&graph, &report.findings, &[], focus, collapse).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn every_format_names_every_node_and_edge() {
    let view = view(None, false);
    let ids: Vec<&str> = view.nodes.iter().map(|n| n.id.as_str()).collect();
    assert!(
        ids.contains(&"edge/web") && ids.contains(&"shop/orders") && ids.contains(&"shop/billing")
    );
    assert!(ids.contains(&"db:pg.data") && ids.contains(&"external:api.stripe.com"));
    let mermaid = render(&view, Format::Mermaid);
    assert!(
        mermaid.starts_with("flowchart LR\n")
            && mermaid.contains("subgraph")
            && mermaid.contains("==>")
    );
    let dot = render(&view, Format::Dot);
    assert!(
        dot.contains("digraph mspack") && dot.contains("style=dotted") && dot.contains("color=red")
    );
    let json: serde_json::Value =
        serde_json::from_str(&render(&view, Format::Json)).unwrap_or_else(|e| panic!("{e}"));
    let edges = json["edges"].as_array().map_or(0, Vec::len);
    assert_eq!(edges, view.edges.len());
    assert!(
        json["edges"]
            .as_array()
            .is_some_and(|e| e.iter().any(|e| e["from"] == "shop/orders"
                && e["to"] == "shop/billing"
                && e["kind"] == "sync"))
    );
}

#[test]
fn html_is_self_contained_with_legend_and_findings_in_red() {
    let html = render(&view(None, false), Format::Html);
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("<svg"));
    // Nothing fetched: no script, no external reference but the SVG namespace.
    assert!(!html.contains("<script") && !html.contains("src=") && !html.contains("<link"));
    assert_eq!(
        html.matches("http://").count(),
        html.matches("http://www.w3.org/2000/svg").count()
    );
    assert!(html.contains("Legend") && html.contains("stroke-dasharray=\"8 5\""));
    // orders -> billing -> orders is a cycle (MSP502): that edge is red.
    assert!(html.contains("class=\"edge sync finding\""));
    assert!(html.contains("MSP502"));
    for id in ["edge/web", "shop/orders", "shop/billing"] {
        assert!(
            html.contains(&format!("data-id=\"{id}\"")),
            "{id} not drawn"
        );
    }
}

#[test]
fn focus_keeps_two_hops_and_collapse_one_node_per_context() {
    let focused = view(Some("web"), false);
    let ids: Vec<&str> = focused.nodes.iter().map(|n| n.id.as_str()).collect();
    // web -> orders (1) -> billing, pg, nats? (2); stripe is 3 hops away.
    assert!(ids.contains(&"shop/billing") && ids.contains(&"db:pg.data"));
    assert!(!ids.contains(&"external:api.stripe.com"));
    let collapsed = view(None, true);
    let contexts: Vec<&str> = collapsed.nodes.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(contexts, ["data", "edge", "external", "shop"]);
    assert!(collapsed.edges.iter().all(|e| e.from != e.to));
    assert!(View::new(&Graph::default(), &[], &[], Some("nope"), false).is_err());
}

#[test]
fn observed_calls_are_drawn_and_undeclared_ones_said() {
    let sources = vec![Arc::new(SourceFile::new("shop.yaml", SHOP))];
    let inputs = Inputs {
        sources,
        unreadable: Vec::new(),
    };
    let (graph, _) =
        Graph::from_inputs(&inputs, &LintOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let observed = |from: &str, to: &str| Observed {
        from: from.into(),
        to: to.into(),
        count: 12,
        p50_ms: 3.0,
        p99_ms: 40.0,
    };
    let view = View::new(
        &graph,
        &[],
        &[observed("orders", "billing"), observed("billing", "fraud")],
        None,
        false,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let labels: Vec<&str> = view
        .edges
        .iter()
        .filter(|e| e.kind == "observed")
        .map(|e| e.label.as_str())
        .collect();
    assert_eq!(
        labels,
        [
            "12 calls, p50 3.0 ms, p99 40.0 ms",
            "12 calls, p50 3.0 ms, p99 40.0 ms (undeclared)"
        ]
    );
    assert!(
        view.nodes
            .iter()
            .any(|n| n.id == "service:fraud" && n.context == "traces")
    );
    let html = render(&view, Format::Html);
    assert!(html.contains("class=\"edge observed\"") && html.contains("observed (--traces)"));
}
