//! Structural schema validation of custom resources against CRD `openAPIV3Schema`s, the way the
//! API server validates them with strict field validation: unknown fields, wrong types, enums,
//! patterns, bounds, `required`, `oneOf`/`anyOf`/`allOf`/`not`, `nullable`,
//! `x-kubernetes-preserve-unknown-fields` and `x-kubernetes-int-or-string`. CEL rules
//! (`x-kubernetes-validations`) are not evaluated.
//!
//! Schemas come from CustomResourceDefinition objects in the analysed set and from files given
//! with `--crds` (CRD YAML, or a JSON bundle `{"kinds": {"group/version/Kind": {"schema": i}},
//! "schemas": [...]}`).

use std::collections::HashMap;

use mspack_yaml::{Node, Value};
use regex::Regex;

/// One compiled schema node.
#[derive(Debug, Default)]
pub struct Schema {
    pub ty: Option<String>,
    pub properties: Vec<(String, Schema)>,
    pub additional: Option<Box<Schema>>,
    /// `additionalProperties: true` or `x-kubernetes-preserve-unknown-fields: true`.
    pub any_fields: bool,
    pub items: Option<Box<Schema>>,
    pub required: Vec<String>,
    pub enumeration: Vec<String>,
    pub pattern: Option<Regex>,
    pub min_length: Option<i64>,
    pub max_length: Option<i64>,
    pub min_items: Option<i64>,
    pub max_items: Option<i64>,
    pub min_properties: Option<i64>,
    pub max_properties: Option<i64>,
    pub minimum: Option<f64>,
    pub maximum: Option<f64>,
    pub nullable: bool,
    pub int_or_string: bool,
    pub one_of: Vec<Schema>,
    pub any_of: Vec<Schema>,
    pub all_of: Vec<Schema>,
    pub not: Option<Box<Schema>>,
}

impl Schema {
    /// Compile a schema from its YAML/JSON tree. Unknown keywords are ignored.
    pub fn compile(node: &Node) -> Schema {
        let mut s = Schema::default();
        for (key, _, value) in node.entries() {
            match key {
                "type" => s.ty = value.as_str().map(String::from),
                "properties" => {
                    s.properties = value
                        .entries()
                        .map(|(k, _, v)| (k.to_string(), Schema::compile(v)))
                        .collect();
                }
                "additionalProperties" => match value.as_bool() {
                    Some(true) => s.any_fields = true,
                    Some(false) => {}
                    None => s.additional = Some(Box::new(Schema::compile(value))),
                },
                "x-kubernetes-preserve-unknown-fields" => {
                    s.any_fields |= value.as_bool() == Some(true);
                }
                "x-kubernetes-int-or-string" => s.int_or_string = value.as_bool() == Some(true),
                "nullable" => s.nullable = value.as_bool() == Some(true),
                "items" => s.items = Some(Box::new(Schema::compile(value))),
                "required" => {
                    s.required = value
                        .items()
                        .filter_map(Node::as_str)
                        .map(String::from)
                        .collect();
                }
                "enum" => {
                    s.enumeration = value
                        .items()
                        .filter_map(|v| v.scalar().map(|sc| sc.text.to_string()))
                        .collect();
                }
                "pattern" => s.pattern = value.as_str().and_then(|p| Regex::new(p).ok()),
                "minLength" => s.min_length = value.as_i64(),
                "maxLength" => s.max_length = value.as_i64(),
                "minItems" => s.min_items = value.as_i64(),
                "maxItems" => s.max_items = value.as_i64(),
                "minProperties" => s.min_properties = value.as_i64(),
                "maxProperties" => s.max_properties = value.as_i64(),
                "minimum" => s.minimum = value.as_f64(),
                "maximum" => s.maximum = value.as_f64(),
                "oneOf" => s.one_of = value.items().map(Schema::compile).collect(),
                "anyOf" => s.any_of = value.items().map(Schema::compile).collect(),
                "allOf" => s.all_of = value.items().map(Schema::compile).collect(),
                "not" => s.not = Some(Box::new(Schema::compile(value))),
                _ => {}
            }
        }
        s
    }

    fn property(&self, name: &str) -> Option<&Schema> {
        self.properties
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, s)| s)
    }
}

/// A schema violation: where (the node) and what.
#[derive(Debug)]
pub struct Violation<'a> {
    pub node: &'a Node,
    /// JSON-pointer-like path, e.g. `spec.http[0].route[0].destination.port`.
    pub path: String,
    pub message: String,
}

/// Validate `node` against `schema`. `structural` is false inside `oneOf`/`anyOf`/`not` branches,
/// which in Kubernetes schemas only add value validations (no unknown-field checks there).
pub fn validate<'a>(
    schema: &Schema,
    node: &'a Node,
    path: &str,
    structural: bool,
    out: &mut Vec<Violation<'a>>,
) {
    let violation = |out: &mut Vec<Violation<'a>>, message: String| {
        out.push(Violation {
            node,
            path: path.to_string(),
            message,
        });
    };
    if node.is_null() {
        // The API server drops nulls of non-nullable fields; not an error.
        return;
    }
    let type_ok = match (&node.value, schema.ty.as_deref()) {
        _ if schema.int_or_string => node.as_i64().is_some() || node.as_string_value().is_some(),
        (_, None) => true,
        (Value::Map(_), Some("object")) | (Value::Seq(_), Some("array")) => true,
        (Value::Scalar(_), Some("string")) => node.as_string_value().is_some(),
        (Value::Scalar(_), Some("integer")) => node.as_i64().is_some(),
        (Value::Scalar(_), Some("number")) => node.as_f64().is_some(),
        (Value::Scalar(_), Some("boolean")) => node.as_bool().is_some(),
        _ => false,
    };
    if !type_ok {
        let expected = if schema.int_or_string {
            "integer or string"
        } else {
            schema.ty.as_deref().unwrap_or("?")
        };
        violation(
            out,
            format!(
                "`{path}` must be {}, found {}",
                article(expected),
                node.type_name()
            ),
        );
        return;
    }
    match &node.value {
        Value::Map(entries) => {
            let count = entries.len() as i64;
            if let Some(p) = bound(
                count,
                schema.min_properties,
                schema.max_properties,
                " entries",
            ) {
                violation(out, format!("`{path}` {p}"));
            }
            for required in &schema.required {
                if node.get(required).is_none() {
                    violation(
                        out,
                        format!("`{path}` is missing the required field `{required}`"),
                    );
                }
            }
            for (key, key_node, value) in node.entries() {
                let child_path = if path.is_empty() {
                    key.to_string()
                } else {
                    format!("{path}.{key}")
                };
                if let Some(child) = schema.property(key) {
                    validate(child, value, &child_path, structural, out);
                } else if let Some(additional) = &schema.additional {
                    validate(additional, value, &child_path, structural, out);
                } else if structural && !schema.any_fields && schema.ty.as_deref() == Some("object")
                {
                    let known: Vec<&str> =
                        schema.properties.iter().map(|(k, _)| k.as_str()).collect();
                    let hint = closest(key, &known)
                        .map(|k| format!(" (did you mean `{k}`?)"))
                        .unwrap_or_default();
                    out.push(Violation {
                        node: key_node,
                        path: child_path,
                        message: format!(
                            "unknown field `{key}` in `{}`{hint}",
                            if path.is_empty() { "(root)" } else { path }
                        ),
                    });
                }
            }
        }
        Value::Seq(items) => {
            let count = items.len() as i64;
            if let Some(p) = bound(count, schema.min_items, schema.max_items, " items") {
                violation(out, format!("`{path}` {p}"));
            }
            if let Some(item_schema) = &schema.items {
                for (i, item) in items.iter().enumerate() {
                    validate(item_schema, item, &format!("{path}[{i}]"), structural, out);
                }
            }
        }
        Value::Scalar(scalar) => {
            if !schema.enumeration.is_empty()
                && !schema.enumeration.iter().any(|e| *e == scalar.text)
            {
                let allowed = schema.enumeration.join(", ");
                violation(
                    out,
                    format!("`{path}` is \"{}\", not one of: {allowed}", scalar.text),
                );
            }
            if node.as_string_value().is_some() {
                let len = scalar.text.chars().count() as i64;
                if let Some(p) = bound(len, schema.min_length, schema.max_length, " characters") {
                    violation(out, format!("`{path}` {p}"));
                }
                if let Some(pattern) = &schema.pattern
                    && !pattern.is_match(&scalar.text)
                {
                    violation(
                        out,
                        format!(
                            "`{path}` \"{}\" does not match `{}`",
                            scalar.text,
                            pattern.as_str()
                        ),
                    );
                }
            }
            if let Some(number) = node
                .as_f64()
                .filter(|_| schema.ty.as_deref() != Some("string"))
                && let Some(p) = bound(number, schema.minimum, schema.maximum, "")
            {
                violation(out, format!("`{path}` {p}"));
            }
        }
    }
    for sub in &schema.all_of {
        validate(sub, node, path, false, out);
    }
    let passes = |s: &Schema| {
        let mut scratch = Vec::new();
        validate(s, node, path, false, &mut scratch);
        scratch.is_empty()
    };
    if !schema.one_of.is_empty() {
        let matching = schema.one_of.iter().filter(|s| passes(s)).count();
        if matching != 1 {
            violation(
                out,
                format!(
                    "`{}` sets {}",
                    display_path(path),
                    one_of_problem(&schema.one_of, matching)
                ),
            );
        }
    }
    if !schema.any_of.is_empty() && !schema.any_of.iter().any(&passes) {
        violation(
            out,
            format!("`{}` matches none of the allowed forms", display_path(path)),
        );
    }
    if let Some(not) = &schema.not
        && passes(not)
    {
        violation(
            out,
            format!("`{}` has a form the schema forbids", display_path(path)),
        );
    }
}

/// "needs at least N<unit>" / "allows at most N<unit>" when `value` is outside `[min, max]`.
fn bound<T: PartialOrd + std::fmt::Display + Copy>(
    value: T,
    min: Option<T>,
    max: Option<T>,
    unit: &str,
) -> Option<String> {
    match (min, max) {
        (Some(m), _) if value < m => Some(format!("needs at least {m}{unit}")),
        (_, Some(m)) if value > m => Some(format!("allows at most {m}{unit}")),
        _ => None,
    }
}

fn display_path(path: &str) -> &str {
    if path.is_empty() { "(root)" } else { path }
}

/// Kubernetes' oneOf idiom: `[{not: {anyOf: [{required: [a]}, {required: [b]}]}}, {required: [a]}, {required: [b]}]`
/// means "at most one of a, b".
fn one_of_problem(branches: &[Schema], matching: usize) -> String {
    let fields: Vec<&str> = branches
        .iter()
        .filter(|b| b.not.is_none())
        .flat_map(|b| b.required.iter().map(String::as_str))
        .collect();
    if matching > 1 && !fields.is_empty() {
        format!(
            "more than one of {}",
            fields
                .iter()
                .map(|f| format!("`{f}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    } else if !fields.is_empty() {
        format!(
            "none of {}",
            fields
                .iter()
                .map(|f| format!("`{f}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    } else {
        "a combination of fields the schema does not allow".into()
    }
}

fn article(ty: &str) -> String {
    match ty.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => format!("an {ty}"),
        _ => format!("a {ty}"),
    }
}

/// The known name closest to a misspelt one (edit distance ≤ 2).
fn closest<'k>(name: &str, known: &[&'k str]) -> Option<&'k str> {
    known
        .iter()
        .map(|k| {
            (
                edit_distance(&name.to_ascii_lowercase(), &k.to_ascii_lowercase()),
                *k,
            )
        })
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Schemas by `group/version/Kind`.
#[derive(Debug, Default)]
pub struct SchemaSet {
    by_gvk: HashMap<String, std::sync::Arc<Schema>>,
}

impl SchemaSet {
    pub fn get(&self, api_version: &str, kind: &str) -> Option<&Schema> {
        self.by_gvk
            .get(&format!("{api_version}/{kind}"))
            .map(|s| s.as_ref())
    }

    pub fn is_empty(&self) -> bool {
        self.by_gvk.is_empty()
    }

    pub fn len(&self) -> usize {
        self.by_gvk.len()
    }

    /// Add the served versions of a CustomResourceDefinition.
    pub fn add_crd(&mut self, crd: &Node) {
        let Some(spec) = crd.get("spec") else { return };
        let (Some(group), Some(kind)) = (
            spec.get("group").and_then(Node::as_str),
            spec.path(&["names", "kind"]).and_then(Node::as_str),
        ) else {
            return;
        };
        let shared = spec.path(&["validation", "openAPIV3Schema"]);
        for version in spec.get("versions").into_iter().flat_map(Node::items) {
            let Some(name) = version.get("name").and_then(Node::as_str) else {
                continue;
            };
            let schema = version.path(&["schema", "openAPIV3Schema"]).or(shared);
            if let Some(schema) = schema {
                self.by_gvk.insert(
                    format!("{group}/{name}/{kind}"),
                    std::sync::Arc::new(Schema::compile(schema)),
                );
            }
        }
    }

    /// Add a bundle `{"kinds": {"group/version/Kind": {"schema": index}}, "schemas": [...]}`.
    pub fn add_bundle(&mut self, bundle: &Node) {
        let compiled: Vec<std::sync::Arc<Schema>> = bundle
            .get("schemas")
            .into_iter()
            .flat_map(Node::items)
            .map(|s| std::sync::Arc::new(Schema::compile(s)))
            .collect();
        for (gvk, _, entry) in bundle.get("kinds").into_iter().flat_map(Node::entries) {
            let index = entry.get("schema").and_then(Node::as_i64);
            if let Some(schema) = index
                .and_then(|i| usize::try_from(i).ok())
                .and_then(|i| compiled.get(i))
            {
                self.by_gvk.insert(gvk.to_string(), schema.clone());
            }
        }
    }

    /// Add whatever a document holds: CRDs (also inside a List) or a bundle.
    pub fn add_document(&mut self, root: &Node) {
        if root.get("kinds").is_some() && root.get("schemas").is_some() {
            self.add_bundle(root);
            return;
        }
        match root.get("kind").and_then(Node::as_str) {
            Some("CustomResourceDefinition") => self.add_crd(root),
            Some(k) if k.ends_with("List") => {
                for item in root.get("items").into_iter().flat_map(Node::items) {
                    self.add_document(item);
                }
            }
            _ => {}
        }
    }
}
