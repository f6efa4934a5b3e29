//! `mspack graph --format html` in a real browser: the food-delivery graph rendered, loaded in
//! headless Chromium (Debian's `chromium`; `bash scripts/chromium.sh` installs it), every node
//! and edge of the graph found in the DOM after rendering, and a screenshot taken.
//!
//! `MSPACK_GRAPH_SCREENSHOT=docs/graph-food-delivery.png` keeps the screenshot (README's picture).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn mspack_graph(format: &str) -> Vec<u8> {
    let out = Command::new(env!("CARGO_BIN_EXE_mspack"))
        .args(["graph", "--no-config", "--format", format])
        .arg(repo().join("examples/food-delivery/deploy"))
        .output()
        .unwrap_or_else(|e| panic!("mspack: {e}"));
    assert!(
        out.status.success(),
        "mspack graph --format {format}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn chromium() -> String {
    std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".into())
}

/// Run headless Chromium with `args` (a fresh profile in `profile`), give up after two minutes.
fn run_chromium(profile: &Path, args: &[String]) -> Vec<u8> {
    let mut child = Command::new(chromium())
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e} (install it with `bash scripts/chromium.sh`)",
                chromium()
            )
        });
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if started.elapsed() > Duration::from_secs(120) => {
                let _ = child.kill();
                panic!("chromium did not finish in 120 s: {args:?}");
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => panic!("chromium: {e}"),
        }
    }
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("chromium: {e}"));
    assert!(out.status.success(), "chromium {args:?}: {}", out.status);
    out.stdout
}

/// Width and height of the page's `<svg>`.
fn svg_size(html: &str) -> (u32, u32) {
    let attr = |name: &str| -> u32 {
        let tag = html.split("<svg ").nth(1).unwrap_or("");
        let tag = tag.split('>').next().unwrap_or("");
        tag.split(&format!(" {name}=\""))
            .nth(1)
            .and_then(|v| v.split('"').next())
            .and_then(|v| v.parse::<f64>().ok())
            .map_or(0, |v| v.ceil() as u32)
    };
    (attr("width"), attr("height"))
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[test]
#[ignore = "needs chromium: bash scripts/chromium.sh"]
fn food_delivery_graph_renders_in_headless_chromium() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let html = String::from_utf8(mspack_graph("html")).unwrap_or_else(|e| panic!("{e}"));
    let page = dir.path().join("graph.html");
    std::fs::write(&page, &html).unwrap_or_else(|e| panic!("{e}"));
    let url = format!("file://{}", page.display());

    // The DOM after Chromium parsed and rendered the page.
    let dom = run_chromium(
        &dir.path().join("profile-dom"),
        &["--dump-dom".into(), url.clone()],
    );
    let dom = String::from_utf8_lossy(&dom);
    assert!(
        dom.contains("<svg") && dom.contains("dependency graph"),
        "no SVG in the DOM:\n{dom}"
    );

    let graph: Value =
        serde_json::from_slice(&mspack_graph("json")).unwrap_or_else(|e| panic!("{e}"));
    let nodes = graph["nodes"].as_array().cloned().unwrap_or_default();
    let edges = graph["edges"].as_array().cloned().unwrap_or_default();
    assert!(
        nodes.len() >= 8 && edges.len() >= 8,
        "{} nodes, {} edges",
        nodes.len(),
        edges.len()
    );
    let mut missing = Vec::new();
    for n in &nodes {
        let id = n["id"].as_str().unwrap_or_default();
        let name = n["name"].as_str().unwrap_or_default();
        let label: String = name.chars().take(24).collect();
        if !dom.contains(&format!("data-id=\"{}\"", esc(id))) {
            missing.push(format!("node {id}"));
        }
        if !dom.contains(&format!("{}</text>", esc(&label))) {
            missing.push(format!("label of node {id}: {label}"));
        }
    }
    for e in &edges {
        let s = |k: &str| esc(e[k].as_str().unwrap_or_default());
        let needle = format!("class=\"edge {}", e["kind"].as_str().unwrap_or_default());
        let drawn = dom.lines().any(|line| {
            line.contains(&needle)
                && line.contains(&format!("data-from=\"{}\"", s("from")))
                && line.contains(&format!("data-to=\"{}\"", s("to")))
        });
        if !drawn {
            missing.push(format!("edge {} -> {} ({})", s("from"), s("to"), s("kind")));
        }
    }
    for context in graph["contexts"].as_array().into_iter().flatten() {
        let c = esc(context.as_str().unwrap_or_default());
        if !dom.contains(&format!(">{c}</text>")) {
            missing.push(format!("context {c}"));
        }
    }
    assert!(
        missing.is_empty(),
        "not on the page:\n{}",
        missing.join("\n")
    );

    // A screenshot of the whole picture.
    let (w, h) = svg_size(&html);
    assert!(w > 0 && h > 0, "no svg size");
    let png = dir.path().join("graph.png");
    run_chromium(
        &dir.path().join("profile-shot"),
        &[
            format!("--screenshot={}", png.display()),
            format!("--window-size={},{}", w + 40, h + 170),
            url,
        ],
    );
    let bytes = std::fs::read(&png).unwrap_or_else(|e| panic!("no screenshot: {e}"));
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "the screenshot is not a PNG"
    );
    assert!(
        bytes.len() > 20_000,
        "the screenshot is {} bytes: a blank page?",
        bytes.len()
    );
    if let Ok(keep) = std::env::var("MSPACK_GRAPH_SCREENSHOT") {
        std::fs::copy(&png, repo().join(keep)).unwrap_or_else(|e| panic!("{e}"));
    }
}
