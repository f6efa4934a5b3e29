//! Mermaid, Graphviz DOT and JSON.

use std::fmt::Write;

use serde_json::json;

use crate::View;

/// Mermaid `flowchart LR`: a subgraph per context; sync `-->`, async `-.->`, data `==>`,
/// external `--o`; nodes and edges with findings in the `finding` class (red).
pub fn mermaid(view: &View) -> String {
    let mut out = String::from("flowchart LR\n");
    for (c, (context, nodes)) in view.contexts().into_iter().enumerate() {
        let _ = writeln!(out, "  subgraph c{c}[\"{}\"]", mermaid_text(context));
        for n in nodes {
            let node = &view.nodes[n];
            let (open, close) = match node.kind {
                "database" => ("[(", ")]"),
                "volume" => ("[/", "/]"),
                "external" => ("([", "])"),
                _ => ("[", "]"),
            };
            let _ = writeln!(
                out,
                "    n{n}{open}\"{}\"{close}",
                mermaid_text(&node.label)
            );
        }
        out.push_str("  end\n");
    }
    let mut flagged_links = Vec::new();
    for (i, e) in view.edges.iter().enumerate() {
        let arrow = match e.kind {
            "async" => "-.->",
            "data" => "==>",
            "external" => "--o",
            "observed" => "-.-o",
            _ => "-->",
        };
        let label = if e.label.is_empty() {
            String::new()
        } else {
            format!("|\"{}\"|", mermaid_text(&e.label))
        };
        let _ = writeln!(out, "  n{} {arrow}{label} n{}", e.from, e.to);
        if !e.findings.is_empty() {
            flagged_links.push(i.to_string());
        }
    }
    out.push_str("  classDef finding stroke:#d00,stroke-width:3px,color:#d00\n");
    let flagged: Vec<String> = (0..view.nodes.len())
        .filter(|&n| !view.nodes[n].findings.is_empty())
        .map(|n| format!("n{n}"))
        .collect();
    if !flagged.is_empty() {
        let _ = writeln!(out, "  class {} finding", flagged.join(","));
    }
    if !flagged_links.is_empty() {
        let _ = writeln!(
            out,
            "  linkStyle {} stroke:#d00,stroke-width:3px",
            flagged_links.join(",")
        );
    }
    out
}

fn mermaid_text(s: &str) -> String {
    s.replace('"', "#quot;")
}

/// Graphviz: a cluster per context; sync solid, async dashed, data dotted, external bold;
/// findings red.
pub fn dot(view: &View) -> String {
    let mut out =
        String::from("digraph mspack {\n  rankdir=LR;\n  node [shape=box, style=rounded];\n");
    for (c, (context, nodes)) in view.contexts().into_iter().enumerate() {
        let _ = writeln!(
            out,
            "  subgraph cluster_{c} {{\n    label={};",
            dot_text(context)
        );
        for n in nodes {
            let node = &view.nodes[n];
            let shape = match node.kind {
                "database" => "cylinder",
                "volume" => "folder",
                "external" => "ellipse",
                _ => "box",
            };
            let color = if node.findings.is_empty() {
                "black"
            } else {
                "red"
            };
            let _ = writeln!(
                out,
                "    n{n} [label={}, shape={shape}, color={color}, tooltip={}];",
                dot_text(&node.label),
                dot_text(&node.id)
            );
        }
        out.push_str("  }\n");
    }
    for e in &view.edges {
        let style = match e.kind {
            "async" => "dashed",
            "data" => "dotted",
            "external" => "bold",
            _ => "solid",
        };
        let color = if e.findings.is_empty() {
            "black"
        } else {
            "red"
        };
        let _ = writeln!(
            out,
            "  n{} -> n{} [style={style}, color={color}, label={}];",
            e.from,
            e.to,
            dot_text(&e.label)
        );
    }
    out.push_str("}\n");
    out
}

fn dot_text(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// JSON: `{contexts, nodes, edges}`; edges name their nodes by id.
pub fn json(view: &View) -> String {
    let nodes: Vec<_> = view
        .nodes
        .iter()
        .map(|n| {
            json!({
                "id": n.id, "name": n.label, "context": n.context, "kind": n.kind,
                "entry": n.entry, "location": n.location, "findings": n.findings,
            })
        })
        .collect();
    let edges: Vec<_> = view
        .edges
        .iter()
        .map(|e| {
            json!({
                "from": view.nodes[e.from].id, "to": view.nodes[e.to].id, "kind": e.kind,
                "label": e.label, "evidence": e.evidence, "findings": e.findings,
            })
        })
        .collect();
    let contexts: Vec<&str> = view.contexts().into_keys().collect();
    let value = json!({"contexts": contexts, "nodes": nodes, "edges": edges});
    let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
    text.push('\n');
    text
}
