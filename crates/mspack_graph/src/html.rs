//! One self-contained HTML page: inline SVG and CSS, no script, nothing fetched. Contexts are
//! boxes, sync edges solid, async dashed, data dotted, external dash-dot; nodes and edges with
//! findings red, their messages in the tooltip and listed under the picture.

use std::fmt::Write;

use crate::View;
use crate::layout::{HEADER, NODE_H, NODE_W, layout};

const RED: &str = "#d00";
/// Calls observed in traces.
const BLUE: &str = "#2a6fdb";
/// Evidence lines in an edge's tooltip (a collapsed edge can stand for thousands).
const TITLE_LINES: usize = 12;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn dash(kind: &str) -> &'static str {
    match kind {
        "async" => "8 5",
        "data" => "2 4",
        "external" => "10 4 2 4",
        _ => "none",
    }
}

pub fn page(view: &View) -> String {
    let l = layout(view);
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" \
         font-family=\"sans-serif\" font-size=\"13\" role=\"img\" aria-label=\"dependency graph\">",
        w = l.width,
        h = l.height
    );
    svg.push_str(
        "<defs>\
         <marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#444\"/></marker>\
         <marker id=\"arrow-red\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#d00\"/></marker>\
         </defs>\n",
    );
    legend(&mut svg);
    for c in &l.columns {
        let _ = writeln!(
            svg,
            "<g class=\"context\"><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"8\" fill=\"#f4f6fa\" stroke=\"#99a\"/>\
             <text x=\"{}\" y=\"{}\" font-weight=\"bold\">{}</text></g>",
            c.x,
            c.y,
            c.width,
            c.height,
            c.x + 10.0,
            c.y + HEADER - 10.0,
            esc(c.context)
        );
    }
    for e in &view.edges {
        let (fx, fy) = l.positions[e.from];
        let (tx, ty) = l.positions[e.to];
        let (x1, x2) = if tx >= fx + NODE_W {
            (fx + NODE_W, tx)
        } else if tx + NODE_W <= fx {
            (fx, tx + NODE_W)
        } else {
            (fx + NODE_W, tx + NODE_W)
        };
        // Rightward edges leave and arrive a little above the middle, leftward ones below, so
        // a pair of opposite edges stays two lines.
        let side = if x2 >= x1 { -1.0 } else { 1.0 };
        let (y1, y2) = (
            fy + NODE_H / 2.0 + side * 6.0,
            ty + NODE_H / 2.0 + side * 6.0,
        );
        let bend = if (x1 - x2).abs() < 1.0 {
            60.0
        } else {
            (x2 - x1) / 2.0
        };
        // Level edges that cross other boxes arch over them.
        let lift = if (y1 - y2).abs() < 1.0 && (x2 - x1).abs() > NODE_W + 80.0 {
            -side * ((x2 - x1).abs() * 0.2).min(110.0)
        } else {
            0.0
        };
        let red = !e.findings.is_empty();
        let mut title = format!(
            "{} → {} ({})",
            view.nodes[e.from].id, view.nodes[e.to].id, e.kind
        );
        if !e.label.is_empty() {
            let _ = write!(title, ": {}", e.label);
        }
        for line in e.evidence.iter().take(TITLE_LINES).chain(&e.findings) {
            let _ = write!(title, "\n{line}");
        }
        if e.evidence.len() > TITLE_LINES {
            let _ = write!(title, "\n… {} more", e.evidence.len() - TITLE_LINES);
        }
        let _ = writeln!(
            svg,
            "<path class=\"edge {kind}{flag}\" data-from=\"{from}\" data-to=\"{to}\" d=\"M{x1},{y1} C{c1},{cy1} {c2},{cy2} {x2},{y2}\" \
             fill=\"none\" stroke=\"{color}\" stroke-width=\"{width}\" stroke-dasharray=\"{dash}\" marker-end=\"url(#{marker})\"><title>{title}</title></path>",
            kind = e.kind,
            flag = if red { " finding" } else { "" },
            from = esc(&view.nodes[e.from].id),
            to = esc(&view.nodes[e.to].id),
            c1 = x1 + bend,
            c2 = x2 - bend,
            cy1 = y1 - lift,
            cy2 = y2 - lift,
            color = if red {
                RED
            } else if e.kind == "observed" {
                BLUE
            } else {
                "#444"
            },
            width = if red { 2.5 } else { 1.4 },
            dash = dash(e.kind),
            marker = if red { "arrow-red" } else { "arrow" },
            title = esc(&title),
        );
    }
    for (i, n) in view.nodes.iter().enumerate() {
        let (x, y) = l.positions[i];
        let red = !n.findings.is_empty();
        let fill = match n.kind {
            "database" | "volume" => "#fff7e0",
            "external" => "#eef",
            _ => "#fff",
        };
        let mut title = format!("{} ({})", n.id, n.kind);
        if let Some(at) = &n.location {
            let _ = write!(title, "\n{at}");
        }
        if n.entry {
            title.push_str("\nentry point");
        }
        for f in &n.findings {
            let _ = write!(title, "\n{f}");
        }
        let label: String = n.label.chars().take(24).collect();
        let _ = writeln!(
            svg,
            "<g class=\"node {kind}{flag}\" data-id=\"{id}\"><title>{title}</title>\
             <rect x=\"{x}\" y=\"{y}\" width=\"{NODE_W}\" height=\"{NODE_H}\" rx=\"{rx}\" fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"{sw}\"/>\
             <text x=\"{tx}\" y=\"{ty}\" text-anchor=\"middle\" fill=\"{text}\">{entry}{label}</text></g>",
            kind = n.kind,
            flag = if red { " finding" } else { "" },
            id = esc(&n.id),
            title = esc(&title),
            rx = if n.kind == "workload" || n.kind == "context" {
                6
            } else {
                16
            },
            stroke = if red { RED } else { "#333" },
            sw = if red { 3 } else { 1 },
            tx = x + NODE_W / 2.0,
            ty = y + NODE_H / 2.0 + 4.0,
            text = if red { RED } else { "#111" },
            entry = if n.entry { "▶ " } else { "" },
            label = esc(&label),
        );
    }
    svg.push_str("</svg>\n");

    let mut findings = String::new();
    for n in &view.nodes {
        for f in &n.findings {
            let _ = writeln!(findings, "<li><b>{}</b>: {}</li>", esc(&n.id), esc(f));
        }
    }
    for e in &view.edges {
        for f in &e.findings {
            let _ = writeln!(
                findings,
                "<li><b>{} → {}</b>: {}</li>",
                esc(&view.nodes[e.from].id),
                esc(&view.nodes[e.to].id),
                esc(f)
            );
        }
    }
    let findings = if findings.is_empty() {
        "<p>No MSP5xx finding.</p>".to_string()
    } else {
        format!("<h2>Findings</h2>\n<ul class=\"findings\">\n{findings}</ul>")
    };
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>mspack graph</title>\n\
         <style>body{{font-family:sans-serif;margin:16px;color:#111}} .findings li{{color:{RED}}} svg{{max-width:none}}</style>\n\
         </head>\n<body>\n<h1>mspack graph</h1>\n<p>{} nodes, {} edges, {} contexts. Hover a node or an edge for its evidence (file:line).</p>\n\
         {svg}{findings}\n</body>\n</html>\n",
        view.nodes.len(),
        view.edges.len(),
        l.columns.len()
    )
}

fn legend(svg: &mut String) {
    svg.push_str("<g class=\"legend\" transform=\"translate(20,14)\">\
                  <rect x=\"0\" y=\"0\" width=\"680\" height=\"70\" rx=\"6\" fill=\"#fff\" stroke=\"#ccc\"/>\
                  <text x=\"10\" y=\"18\" font-weight=\"bold\">Legend</text>\n");
    for (i, (kind, label)) in [
        ("sync", "sync call"),
        ("async", "async (events)"),
        ("data", "data store"),
        ("external", "external host"),
    ]
    .into_iter()
    .enumerate()
    {
        let x = 10.0 + i as f64 * 165.0;
        let _ = write!(
            svg,
            "<line x1=\"{x}\" y1=\"38\" x2=\"{}\" y2=\"38\" stroke=\"#444\" stroke-width=\"1.6\" stroke-dasharray=\"{}\"/>\
             <text x=\"{}\" y=\"42\">{label}</text>",
            x + 40.0,
            dash(kind),
            x + 48.0
        );
    }
    let _ = writeln!(
        svg,
        "<rect x=\"10\" y=\"50\" width=\"14\" height=\"12\" fill=\"#fff\" stroke=\"{RED}\" stroke-width=\"3\"/>\
         <text x=\"30\" y=\"60\" fill=\"{RED}\">finding (MSP5xx)</text>\
         <text x=\"175\" y=\"60\">▶ entry point · boxes: bounded contexts</text>\
         <line x1=\"505\" y1=\"56\" x2=\"545\" y2=\"56\" stroke=\"{BLUE}\" stroke-width=\"1.6\"/>\
         <text x=\"553\" y=\"60\">observed (--traces)</text></g>"
    );
}
