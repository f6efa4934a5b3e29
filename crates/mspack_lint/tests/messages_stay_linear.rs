//! Regression: findings whose message lists the other resources involved grew quadratically with
//! the input (240k VirtualServices sharing one host gave 344 MB of output). Messages now list a
//! few names and count the rest, so the output grows linearly.

use std::sync::Arc;

use mspack_lint::output::{Format, render};
use mspack_lint::{LintOptions, lint_sources};
use mspack_yaml::SourceFile;

/// `n` VirtualServices for one host, `n` default Sidecars in one namespace, `n` Services giving
/// port 80 of one Deployment different protocols.
fn crowded(n: usize) -> String {
    let mut docs = Vec::new();
    for i in 0..n {
        docs.push(format!(
            "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: vs-{i}, namespace: a}}\n\
             spec: {{hosts: [shared.a.svc.cluster.local], http: [{{route: [{{destination: {{host: shared.a.svc.cluster.local}}}}]}}]}}\n"
        ));
        docs.push(format!(
            "apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {{name: sc-{i}, namespace: a}}\nspec: {{egress: [{{hosts: [\"./*\"]}}]}}\n"
        ));
        let protocol = if i % 2 == 0 { "http" } else { "tcp" };
        docs.push(format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: svc-{i}, namespace: a}}\n\
             spec: {{selector: {{app: shared}}, ports: [{{name: {protocol}-web, port: 80}}]}}\n"
        ));
    }
    docs.push(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: shared, namespace: a}\n\
         spec: {selector: {matchLabels: {app: shared}}, template: {metadata: {labels: {app: shared}}, spec: {containers: [{name: app, image: x}]}}}\n"
            .into(),
    );
    docs.join("---\n")
}

fn output_bytes(n: usize) -> (usize, usize) {
    let source = Arc::new(SourceFile::new("crowded.yaml", crowded(n)));
    let report =
        lint_sources(vec![source], &LintOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let longest = report
        .findings
        .iter()
        .map(|f| f.message.len())
        .max()
        .unwrap_or(0);
    (render(&report, Format::Json, false).len(), longest)
}

#[test]
fn messages_listing_other_resources_are_capped_and_output_grows_linearly() {
    let (small, _) = output_bytes(50);
    let (large, longest) = output_bytes(400);
    assert!(longest < 600, "a message of {longest} bytes");
    // 8x the resources: linear output is about 8x; quadratic would be about 64x.
    let ratio = large as f64 / small as f64;
    assert!(ratio < 12.0, "output grew {ratio:.1}x for 8x the resources");
}
