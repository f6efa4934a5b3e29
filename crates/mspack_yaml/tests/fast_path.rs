//! The fast front end against saphyr-parser: wherever the fast path does not decline, it must give
//! the same documents (trees and spans), warnings and error as saphyr-parser alone. Checked on
//! generated manifests (and mutations of them), YAML-shaped noise, the repository's YAML files and
//! the real-world corpus next to the repository.

use std::path::Path;
use std::sync::Arc;

use mspack_yaml::{Limits, ParsedFile, SourceFile, parse_file_fast, parse_file_saphyr};
use proptest::prelude::*;

fn same(a: &ParsedFile, b: &ParsedFile) -> bool {
    a.error == b.error
        && a.warnings == b.warnings
        && a.documents.len() == b.documents.len()
        && a.documents
            .iter()
            .zip(&b.documents)
            .all(|(x, y)| x.index == y.index && x.root == y.root)
}

/// Whether the fast path took the text; panics where it took it and disagrees.
fn agree_bytes(name: &str, bytes: Vec<u8>) -> bool {
    let source = Arc::new(SourceFile::from_bytes(name, bytes));
    let limits = Limits::default();
    let Some(fast) = parse_file_fast(source.clone(), &limits) else {
        return false;
    };
    let slow = parse_file_saphyr(source.clone(), &limits);
    if !same(&fast, &slow) {
        let a = format!("{:?} {:?} {:?}", fast.documents, fast.warnings, fast.error);
        let b = format!("{:?} {:?} {:?}", slow.documents, slow.warnings, slow.error);
        let at = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
        let from = at.saturating_sub(300);
        panic!(
            "fast path disagrees with saphyr-parser on {name}:\n{}\n--- fast: ...{}\n--- saphyr: ...{}",
            source.text,
            a.get(from..(at + 200).min(a.len())).unwrap_or(""),
            b.get(from..(at + 200).min(b.len())).unwrap_or("")
        );
    }
    true
}

fn agree(text: &str) -> bool {
    agree_bytes("t.yaml", text.as_bytes().to_vec())
}

const MANIFEST: &str = r#"apiVersion: v1
kind: Service
metadata:
  name: svc-1
  namespace: team-1
  labels: {app: svc-1, team: "team-1"}
spec:
  selector: {app: svc-1}
  ports:
  - name: http
    port: 80
    targetPort: 8080
  - name: grpc-api
    port: 9090
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: svc-1
  labels: {app: svc-1, version: v1}
spec:
  template:
    metadata:
      annotations:
        sidecar.istio.io/inject: "true"
    spec:
      containers:
      - name: app
        image: registry.example.com/team-1/svc-1:1.1.0
        ports:
        - {containerPort: 8080, name: http}
        env:
        - {name: OTEL_EXPORTER_OTLP_ENDPOINT, value: "http://otel-collector.observability:4317"}
        resources:
          limits: {cpu: "1", memory: 512Mi}
        securityContext:
          runAsNonRoot: true
---
apiVersion: networking.istio.io/v1
kind: VirtualService
spec:
  hosts:
  - svc-1.team-1.svc.cluster.local
  exportTo: ["."]
  http:
  - route:
    - destination: {host: svc-1, subset: v1}
      weight: 100
"#;

#[test]
fn the_benchmark_shape_takes_the_fast_path_and_agrees() {
    assert!(agree(MANIFEST));
    for text in [
        "a: 1\n",
        "a: b",
        "---\na: b\n---\n# x\nc: d  \n\n\n",
        "a: 1\n---\n",
        "---\n---\na: 1\n",
        "a: 1\n# tail",
        "a: 1\n   ",
        "a:\n    - f\n    - name: x\n      port: 1\n\n    # c\n\ng:\n- name: h\n  # cc\n  v: \"a\"   \n",
        "a: 'x y' # c\nb: [p, \"q\", {r: s}]\nc: {}\nd: []\n",
        "a: 1\nb: 2\na: 3\n",
        "k: http://x:80/y\nl: a,b\nm: -1\nn: ~\n",
        "a: b # c\n# d\n",
        "a:   # c\n  b: c\n",
        "a:\n- b\n- c\nd: e\n",
        "a:\n  - b\n  - c\nd: e\n",
        "- a\n",
        "x: -\n",
    ] {
        agree(text);
    }
}

#[test]
fn odd_input_declines_or_agrees() {
    for text in [
        "a: b\n  c: d\n",
        "a: b: c\n",
        "a:\n  b: 1\n c: 2\n",
        "a:\nb: 1\n",
        "a: &x 1\nb: *x\n",
        "a: !!str 1\n",
        "a: |\n  x\n",
        "a: \"x\\ty\"\n",
        "a: 'it''s'\n",
        "a:\tb\n",
        "a: b\r\n",
        "a: é\n",
        "<<: {a: 1}\n",
        "? a\n: b\n",
        "a: [b,\n  c]\n",
        "a: {b}\n",
        "a: [b, ]\n",
        "  a: 1\n",
        "a: 1\n...\n",
        "--- a: 1\n",
        "a: x#y\n",
        "a: [b: c]\n",
        "a: {b: c d, e: 'f'}\n",
        "a:\n  - b\n  c: d\n",
        "a: \"unterminated\n",
        "a: b\n- c\n",
        "",
        "# only a comment\n",
        "\n\n",
    ] {
        agree(text);
    }
}

fn yaml_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if path.is_dir() {
            if name != "target" && !name.starts_with('.') {
                yaml_files(&path, out);
            }
        } else if name.ends_with(".yaml") || name.ends_with(".yml") {
            out.push(path);
        }
    }
}

#[test]
fn deep_nesting_declines_whatever_the_limit() {
    let limits = Limits {
        max_depth: 1_000_000,
        ..Limits::default()
    };
    let flow = format!("a: {}{}\n", "[".repeat(50_000), "]".repeat(50_000));
    let block: String = (0..5_000)
        .map(|d| format!("{}k:\n", " ".repeat(d)))
        .collect::<String>()
        + &" ".repeat(5_000)
        + "k: v\n";
    for text in [flow, block] {
        let source = Arc::new(SourceFile::new("deep.yaml", text));
        assert!(parse_file_fast(source, &limits).is_none());
    }
}

#[test]
fn repository_and_real_world_files_agree() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = Vec::new();
    yaml_files(&root, &mut files);
    yaml_files(&root.join("../shared/corpus"), &mut files);
    let mut taken = 0;
    for path in &files {
        let Ok(bytes) = std::fs::read(path) else {
            continue;
        };
        if agree_bytes(&path.display().to_string(), bytes) {
            taken += 1;
        }
    }
    eprintln!("fast path took {taken} of {} files", files.len());
    assert!(files.len() < 50 || taken > 0);
}

/// A tiny deterministic generator, so one proptest seed renders one manifest.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
    /// Mostly from `common`, now and then from `odd`.
    fn mostly<'a>(&mut self, common: &[&'a str], odd: &[&'a str]) -> &'a str {
        if self.below(80) == 0 {
            self.pick(odd)
        } else {
            self.pick(common)
        }
    }
}

const KEYS: &[&str] = &[
    "name",
    "kind",
    "spec",
    "a",
    "b",
    "app",
    "sidecar.istio.io/inject",
    "x-y",
    "port",
    "k8s_v",
    "on",
    "yes",
    "1",
    "a",
    "name",
];
const ODD_KEYS: &[&str] = &["a b", "\"q\"", "<<", "-k", "'k'", "? a", "a:b"];
const SCALARS: &[&str] = &[
    "v1",
    "svc-0",
    "80",
    "\"true\"",
    "'x y'",
    "~",
    "null",
    "yes",
    "http://x.y:80/z",
    "a b  c",
    "-1",
    "1.5",
    "a,b",
    "\"\"",
    "''",
    "\"a'b\"",
    "'a\"b'",
    "(x)",
    "$V",
    ".inf",
    "/ready",
    "100m",
    "~x",
    "x\"y",
    "a|b",
];
const ODD_SCALARS: &[&str] = &[
    "x#y", "a: b", "*a", "&a x", "!!str 1", "|", "\"e\\n\"", "'it''s'", "@x", "`x", "%x", "? x",
    "a [b]", ">", "-", "- x",
];
const FLOW: &[&str] = &[
    "{}",
    "[]",
    "{app: x, team: \"t\"}",
    "[\".\"]",
    "[a, b]",
    "{a: [b, c], d: {e: f}}",
    "[a b, c]",
    "{a: b c}",
    "[a, [b]]",
    "{ a: b }",
    "[ a ]",
    "{a: [b] , c: {d: e}  }",
];
const ODD_FLOW: &[&str] = &[
    "{a: 1,}",
    "{a:b}",
    "{\"a\": 1}",
    "[a: b]",
    "{a}",
    "[a,\n b]",
    "[*a]",
];

fn comment(rng: &mut Rng) -> &'static str {
    match rng.below(12) {
        0 => " # note",
        1 => "  ",
        2 => "#x",
        _ => "",
    }
}

fn blank(rng: &mut Rng, out: &mut String, indent: usize) {
    match rng.below(14) {
        0 => out.push('\n'),
        1 => {
            out.push_str(&" ".repeat(indent));
            out.push_str("# c\n");
        }
        2 => out.push_str("   \n"),
        _ => {}
    }
}

/// A value after `key:` or `- `, possibly nested (on the next lines at `indent`).
fn value(rng: &mut Rng, out: &mut String, indent: usize, depth: usize, in_seq: bool) {
    let kind = if depth > 4 {
        rng.below(2)
    } else {
        rng.below(5)
    };
    match kind {
        0 => {
            out.push(' ');
            out.push_str(rng.mostly(SCALARS, ODD_SCALARS));
            out.push_str(comment(rng));
            out.push('\n');
        }
        1 => {
            out.push(' ');
            out.push_str(rng.mostly(FLOW, ODD_FLOW));
            out.push_str(comment(rng));
            out.push('\n');
        }
        2 => {
            out.push_str(comment(rng));
            out.push('\n');
            let step = [1, 2, 2, 4][rng.below(4) as usize];
            mapping(rng, out, indent + step, depth + 1);
        }
        3 if !in_seq || rng.below(2) == 0 => {
            out.push_str(comment(rng));
            out.push('\n');
            let at = if rng.below(2) == 0 {
                indent.saturating_sub(if in_seq { 0 } else { 2 })
            } else {
                indent
            };
            sequence(rng, out, at, depth + 1);
        }
        _ => {
            if rng.below(30) == 0 {
                out.push('\n');
            } else {
                out.push(' ');
                out.push_str(rng.mostly(SCALARS, ODD_SCALARS));
                out.push('\n');
            }
        }
    }
}

fn mapping(rng: &mut Rng, out: &mut String, indent: usize, depth: usize) {
    let n = 1 + rng.below(4);
    for _ in 0..n {
        blank(rng, out, indent);
        out.push_str(&" ".repeat(indent));
        out.push_str(rng.mostly(KEYS, ODD_KEYS));
        out.push(':');
        value(rng, out, indent + 2, depth, false);
    }
}

fn sequence(rng: &mut Rng, out: &mut String, indent: usize, depth: usize) {
    let n = 1 + rng.below(3);
    for _ in 0..n {
        blank(rng, out, indent);
        out.push_str(&" ".repeat(indent));
        out.push('-');
        if rng.below(2) == 0 && depth < 5 {
            // A compact mapping: first key on the `-` line.
            let spaces = 1 + rng.below(2) as usize;
            out.push_str(&" ".repeat(spaces));
            let inner = indent + 1 + spaces;
            out.push_str(rng.mostly(KEYS, ODD_KEYS));
            out.push(':');
            value(rng, out, inner + 2, depth + 1, false);
            for _ in 0..rng.below(3) {
                blank(rng, out, inner);
                out.push_str(&" ".repeat(inner));
                out.push_str(rng.mostly(KEYS, ODD_KEYS));
                out.push(':');
                value(rng, out, inner + 2, depth + 1, false);
            }
        } else {
            value(rng, out, indent + 2, depth, true);
        }
    }
}

fn manifest(seed: u64) -> String {
    let mut rng = Rng(seed | 1);
    let mut out = String::new();
    let docs = 1 + rng.below(3);
    for d in 0..docs {
        if d > 0 || rng.below(3) == 0 {
            out.push_str(["---\n", "---\n", "---\n", "--- \n", "---\n\n"][rng.below(5) as usize]);
        }
        if rng.below(20) > 0 {
            mapping(&mut rng, &mut out, 0, 0);
        }
    }
    if rng.below(4) == 0 {
        out.pop();
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn generated_manifests_agree(seed in any::<u64>()) {
        agree(&manifest(seed));
    }

    #[test]
    fn mutated_manifests_agree(seed in any::<u64>(), at in any::<usize>(), edit in 0usize..12) {
        let mut text = manifest(seed).into_bytes();
        let at = if text.is_empty() { 0 } else { at % text.len() };
        let inserts: &[&[u8]] = &[b" ", b"\n", b"-", b":", b"#", b"  ", b"- ", b"\"", b"{", b"]", b"\t"];
        if edit == 11 {
            if !text.is_empty() {
                text.remove(at);
            }
        } else {
            for (k, &b) in inserts[edit].iter().enumerate() {
                text.insert(at + k, b);
            }
        }
        agree_bytes("m.yaml", text);
    }

    #[test]
    fn arbitrary_bytes_decline_or_agree(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        agree_bytes("b.yaml", bytes);
    }
}

#[test]
fn generated_manifests_often_take_the_fast_path() {
    let taken = (1..400u64).filter(|&s| agree(&manifest(s * 7919))).count();
    eprintln!("fast path took {taken} of 399 generated manifests");
    assert!(taken > 40, "{taken}");
}
