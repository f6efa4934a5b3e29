use mspack_yaml::Node;

use crate::declare_rule;
use crate::finding::Findings;
use crate::schema::{Violation, validate};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// A custom resource (Istio, Gateway API, or any kind whose CRD is known) that its CRD's
    /// `openAPIV3Schema` rejects under strict field validation: an unknown field (with a "did you
    /// mean" for typos), a wrong type, a value outside an enum, a pattern, length, item-count or
    /// numeric bound violated, a required field missing, a `oneOf` broken (two mutually exclusive
    /// fields set). Schemas come from CustomResourceDefinition objects among the linted files and
    /// from `--crds FILE` (CRD YAML, e.g. Istio's `crd-all.gen.yaml`, or a JSON schema bundle).
    /// CEL rules (`x-kubernetes-validations`) are not evaluated. Without a schema for a kind the
    /// rule is silent.
    ///
    /// ## Why it matters
    /// `kubectl apply` rejects the whole manifest (strict validation), or with older clients the
    /// API server silently drops the unknown field: a `timout: 2s` that nobody notices is a route
    /// with no timeout at all.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: apiextensions.k8s.io/v1
    /// kind: CustomResourceDefinition
    /// metadata: {name: widgets.example.com}
    /// spec:
    ///   group: example.com
    ///   names: {kind: Widget, plural: widgets}
    ///   scope: Namespaced
    ///   versions:
    ///   - name: v1
    ///     served: true
    ///     storage: true
    ///     schema:
    ///       openAPIV3Schema:
    ///         type: object
    ///         properties:
    ///           spec:
    ///             type: object
    ///             properties:
    ///               timeout: {type: string}
    /// ---
    /// apiVersion: example.com/v1
    /// kind: Widget
    /// metadata: {name: w, namespace: food}
    /// spec:
    ///   timout: 2s
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: apiextensions.k8s.io/v1
    /// kind: CustomResourceDefinition
    /// metadata: {name: widgets.example.com}
    /// spec:
    ///   group: example.com
    ///   names: {kind: Widget, plural: widgets}
    ///   scope: Namespaced
    ///   versions:
    ///   - name: v1
    ///     served: true
    ///     storage: true
    ///     schema:
    ///       openAPIV3Schema:
    ///         type: object
    ///         properties:
    ///           spec:
    ///             type: object
    ///             properties:
    ///               timeout: {type: string}
    /// ---
    /// apiVersion: example.com/v1
    /// kind: Widget
    /// metadata: {name: w, namespace: food}
    /// spec:
    ///   timeout: 2s
    /// ```
    pub static CRD_SCHEMA_VIOLATION = Rule {
        code: "MSP003",
        name: "crd-schema-violation",
        severity: Error,
        summary: "a custom resource breaks its CRD's schema (unknown field, wrong type, enum, bound)",
        mirrors: None,
        check: check,
    };
}

fn check(ws: &Workspace, out: &mut Findings) {
    let schemas = ws.schemas();
    if schemas.is_empty() {
        return;
    }
    for resource in &ws.resources {
        let Some(schema) = schemas.get(&resource.api_version, &resource.kind_name) else {
            continue;
        };
        let mut violations: Vec<Violation<'_>> = Vec::new();
        for (key, key_node, value) in resource.root.entries() {
            if matches!(key, "apiVersion" | "kind" | "metadata") {
                continue;
            }
            match schema.properties.iter().find(|(k, _)| k == key) {
                Some((_, child)) => validate(child, value, key, true, &mut violations),
                None if !schema.any_fields => violations.push(Violation {
                    node: key_node,
                    path: key.to_string(),
                    message: format!("unknown top-level field `{key}`"),
                }),
                None => {}
            }
        }
        for required in &schema.required {
            if resource.root.get(required).is_none() {
                out.report(
                    resource,
                    resource.anchor(),
                    format!(
                        "{} {} is missing the required field `{required}`",
                        resource.kind_name, resource.name
                    ),
                );
            }
        }
        for v in violations {
            let node: &Node = v.node;
            out.report(resource, node, v.message).help(format!(
                "see the {} schema of {}",
                resource.kind_name, resource.api_version
            ));
        }
    }
}
