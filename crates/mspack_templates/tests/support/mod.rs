//! Test support: rendered YAML as JSON, a strict structural schema validator (Istio and Gateway
//! API CRD schemas from `../shared/schemas`, Kubernetes built-in kinds from kubernetes-validate's
//! `v1.34.0-local-strict` JSON schemas), and API-server rules the schemas do not express.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mspack_yaml::{Node, SourceFile, Value as YamlValue, parse_file};
use serde_json::{Map, Value};

/// The project root (two levels above this crate).
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `shared/` beside the project root (where CI puts it); a worktree nested deeper finds it in
/// the nearest ancestor that has one. `MSPACK_SHARED_DIR` overrides.
pub fn shared_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("MSPACK_SHARED_DIR") {
        return PathBuf::from(dir);
    }
    let root = project_root();
    root.ancestors()
        .skip(1)
        .map(|a| a.join("shared"))
        .find(|s| s.join("schemas").is_dir())
        .unwrap_or_else(|| root.join("../shared"))
}

/// Every document of a rendered file, read as Kubernetes reads YAML (plain `yes` is a bool).
pub fn documents(text: &str) -> Vec<Value> {
    let parsed = parse_file(
        Arc::new(SourceFile::new("rendered.yaml", text)),
        &mspack_yaml::Limits::default(),
    );
    assert!(
        parsed.error.is_none(),
        "rendered YAML does not parse: {:?}",
        parsed.error
    );
    parsed
        .documents
        .iter()
        .filter(|d| !d.root.is_null())
        .map(|d| to_json(&d.root))
        .collect()
}

fn to_json(node: &Node) -> Value {
    match &node.value {
        YamlValue::Scalar(s) => {
            if s.is_null() {
                Value::Null
            } else if let Some(b) = s.as_bool() {
                Value::Bool(b)
            } else if let Some(i) = s.as_i64() {
                Value::from(i)
            } else if let Some(f) = s.as_f64().filter(|_| !s.is_string()) {
                serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
            } else {
                Value::String(s.text.to_string())
            }
        }
        YamlValue::Seq(items) => Value::Array(items.iter().map(to_json).collect()),
        YamlValue::Map(entries) => {
            let mut map = Map::new();
            for (k, v) in entries {
                let key = k.scalar().map(|s| s.text.to_string()).unwrap_or_default();
                map.insert(key, to_json(v));
            }
            Value::Object(map)
        }
    }
}

/// `Kind namespace/name` of a document, for messages.
pub fn describe(doc: &Value) -> String {
    format!(
        "{} {}/{}",
        doc["kind"].as_str().unwrap_or("?"),
        doc["metadata"]["namespace"].as_str().unwrap_or(""),
        doc["metadata"]["name"].as_str().unwrap_or("?")
    )
}

/// Where the schemas come from.
pub struct Schemas {
    crd: Option<Value>,
    k8s_dir: Option<PathBuf>,
    k8s_defs: Option<Value>,
    cache: std::cell::RefCell<BTreeMap<String, Option<Value>>>,
}

impl Schemas {
    /// CRD schemas from `../shared/schemas/crd-schemas.json` and Kubernetes schemas from the
    /// manifest-tools venv (`scripts/manifest-tools.sh`), each `None` with the reason printed
    /// when absent.
    pub fn load() -> Schemas {
        let crd_path = shared_dir().join("schemas/crd-schemas.json");
        let crd = match std::fs::read_to_string(&crd_path) {
            Ok(text) => serde_json::from_str(&text).ok(),
            Err(e) => {
                println!("skipped: CRD schema checks: {}: {e}", crd_path.display());
                None
            }
        };
        let k8s_dir = kubernetes_validate_dir();
        let k8s_defs = k8s_dir.as_ref().and_then(|d| {
            std::fs::read_to_string(d.join("_definitions.json"))
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok())
        });
        Schemas {
            crd,
            k8s_dir,
            k8s_defs,
            cache: Default::default(),
        }
    }

    pub fn has_crds(&self) -> bool {
        self.crd.is_some()
    }

    pub fn has_kubernetes(&self) -> bool {
        self.k8s_defs.is_some()
    }

    /// Validate one document; `Ok(false)` when no schema covers its kind.
    pub fn validate(&self, doc: &Value) -> Result<bool, Vec<String>> {
        let api_version = doc["apiVersion"].as_str().unwrap_or_default();
        let kind = doc["kind"].as_str().unwrap_or_default();
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let mut errors = Vec::new();
        if let Some(crd) = &self.crd {
            let key = format!("{group}/{version}/{kind}");
            if let Some(entry) = crd["kinds"].get(&key) {
                let index = entry["schema"].as_u64().unwrap_or(0) as usize;
                let schema = &crd["schemas"][index];
                let schema = schema.get("openAPIV3Schema").unwrap_or(schema);
                // The API server itself owns apiVersion, kind and metadata (ObjectMeta); the
                // CRD schema covers the rest.
                let mut body = doc.clone();
                if let Some(map) = body.as_object_mut() {
                    for key in ["apiVersion", "kind", "metadata"] {
                        if schema["properties"].get(key).is_none() {
                            map.remove(key);
                        }
                    }
                }
                check(schema, &body, "", &Value::Null, &mut errors);
                if let Some(defs) = &self.k8s_defs {
                    let meta = serde_json::json!({"$ref": "/api/_definitions.json#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"});
                    check(&meta, &doc["metadata"], "metadata", defs, &mut errors);
                }
                return if errors.is_empty() {
                    Ok(true)
                } else {
                    Err(errors)
                };
            }
        }
        if group.contains("istio.io") || group.contains("gateway.networking.k8s.io") {
            return Ok(false);
        }
        let (Some(dir), Some(defs)) = (&self.k8s_dir, &self.k8s_defs) else {
            return Ok(false);
        };
        let group_part = group.split('.').next().unwrap_or_default();
        let file = if group.is_empty() {
            format!("{}-{version}.json", kind.to_lowercase())
        } else {
            format!("{}-{group_part}-{version}.json", kind.to_lowercase())
        };
        let schema = self
            .cache
            .borrow_mut()
            .entry(file.clone())
            .or_insert_with(|| {
                std::fs::read_to_string(dir.join(&file))
                    .ok()
                    .and_then(|t| serde_json::from_str(&t).ok())
            })
            .clone();
        let Some(schema) = schema else {
            return Err(vec![format!(
                "no Kubernetes schema {file} for {api_version} {kind}"
            )]);
        };
        check(&schema, doc, "", defs, &mut errors);
        if errors.is_empty() {
            Ok(true)
        } else {
            Err(errors)
        }
    }
}

/// The `v1.34.0-local-strict` schema folder of kubernetes-validate in the manifest-tools venv.
pub fn kubernetes_validate_dir() -> Option<PathBuf> {
    let venv = std::env::var_os("MSPACK_TOOLS_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| project_root().join("target/manifest-tools"));
    let lib = venv.join("lib");
    let found = std::fs::read_dir(&lib).ok().and_then(|entries| {
        entries
            .filter_map(Result::ok)
            .map(|e| {
                e.path().join(
                    "site-packages/kubernetes_validate/kubernetes-json-schema/v1.34.0-local-strict",
                )
            })
            .find(|p| p.is_dir())
    });
    if found.is_none() {
        println!(
            "skipped: Kubernetes schema checks: kubernetes-validate not found under {} (run scripts/manifest-tools.sh)",
            venv.display()
        );
    }
    found
}

fn resolve<'a>(schema: &'a Value, defs: &'a Value) -> &'a Value {
    let mut current = schema;
    for _ in 0..32 {
        let Some(reference) = current.get("$ref").and_then(Value::as_str) else {
            return current;
        };
        let name = reference.rsplit('/').next().unwrap_or_default();
        match defs.get("$defs").and_then(|d| d.get(name)) {
            Some(next) => current = next,
            None => return current,
        }
    }
    current
}

fn type_matches(ty: &str, value: &Value) -> bool {
    match ty {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        _ => true,
    }
}

/// Strict structural validation: unknown fields are errors unless the schema preserves them.
pub fn check(schema: &Value, value: &Value, path: &str, defs: &Value, errors: &mut Vec<String>) {
    let schema = resolve(schema, defs);
    let at = if path.is_empty() { "<root>" } else { path };
    if value.is_null() && schema.get("nullable").and_then(Value::as_bool) == Some(true) {
        return;
    }
    let int_or_string = schema
        .get("x-kubernetes-int-or-string")
        .and_then(Value::as_bool)
        == Some(true);
    if int_or_string {
        if !(value.is_string() || value.is_i64() || value.is_u64()) {
            errors.push(format!(
                "{at}: expected an integer or a string, found {value}"
            ));
        }
    } else if let Some(ty) = schema.get("type") {
        let ok = match ty {
            Value::String(t) => type_matches(t, value),
            Value::Array(ts) => ts
                .iter()
                .filter_map(Value::as_str)
                .any(|t| type_matches(t, value)),
            _ => true,
        };
        if !ok {
            errors.push(format!("{at}: expected type {ty}, found {value}"));
            return;
        }
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array)
        && !value.is_null()
        && !options.contains(value)
    {
        errors.push(format!(
            "{at}: {value} is not one of {}",
            Value::Array(options.clone())
        ));
    }
    if let (Some(pattern), Some(text)) = (
        schema.get("pattern").and_then(Value::as_str),
        value.as_str(),
    ) && let Ok(re) = regex::Regex::new(pattern)
        && !re.is_match(text)
    {
        errors.push(format!("{at}: {text:?} does not match {pattern}"));
    }
    if let Some(text) = value.as_str() {
        if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
            && text.chars().count() as u64 > max
        {
            errors.push(format!("{at}: longer than {max} characters"));
        }
        if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
            && (text.chars().count() as u64) < min
        {
            errors.push(format!("{at}: shorter than {min} characters"));
        }
    }
    if let Some(n) = value.as_f64() {
        if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
            && n > max
        {
            errors.push(format!("{at}: {n} is above the maximum {max}"));
        }
        if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
            && n < min
        {
            errors.push(format!("{at}: {n} is below the minimum {min}"));
        }
    }
    for (keyword, exactly_one) in [("oneOf", true), ("anyOf", false)] {
        if let Some(options) = schema.get(keyword).and_then(Value::as_array) {
            let matching = options
                .iter()
                .filter(|option| {
                    let mut sub = Vec::new();
                    check(option, value, path, defs, &mut sub);
                    sub.is_empty()
                })
                .count();
            if (exactly_one && matching != 1) || (!exactly_one && matching == 0) {
                errors.push(format!(
                    "{at}: {keyword} matched {matching} of {} schemas",
                    options.len()
                ));
            }
        }
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for option in all {
            check(option, value, path, defs, errors);
        }
    }
    if let Some(not) = schema.get("not") {
        let mut sub = Vec::new();
        check(not, value, path, defs, &mut sub);
        if sub.is_empty() {
            errors.push(format!("{at}: matches a schema it must not match"));
        }
    }
    if let Some(object) = value.as_object() {
        if let Some(required) = schema.get("required").and_then(Value::as_array) {
            for key in required.iter().filter_map(Value::as_str) {
                if !object.contains_key(key) {
                    errors.push(format!("{at}: missing required field `{key}`"));
                }
            }
        }
        let preserve = schema
            .get("x-kubernetes-preserve-unknown-fields")
            .and_then(Value::as_bool)
            == Some(true);
        let properties = schema.get("properties").and_then(Value::as_object);
        let additional = schema.get("additionalProperties");
        for (key, child) in object {
            let child_path = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            if let Some(prop) = properties.and_then(|p| p.get(key)) {
                check(prop, child, &child_path, defs, errors);
            } else if let Some(extra) = additional.filter(|a| a.is_object()) {
                check(extra, child, &child_path, defs, errors);
            } else if additional == Some(&Value::Bool(true)) || preserve {
                // allowed
            } else if properties.is_some() || additional == Some(&Value::Bool(false)) {
                errors.push(format!("{child_path}: unknown field"));
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, item) in array.iter().enumerate() {
            check(items, item, &format!("{path}[{i}]"), defs, errors);
        }
    }
}

fn dns_label(text: &str) -> bool {
    mspack_model::names::is_dns1123_label(text)
}

/// Kubernetes' DNS-1123 subdomain: at most 253 characters of dot-separated labels.
fn dns_subdomain(text: &str) -> bool {
    mspack_model::names::is_dns1123_subdomain(text)
}

fn qualified_name(key: &str) -> bool {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    let name_ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric();
    name_ok && prefix.is_none_or(dns_subdomain)
}

fn label_value(value: &str) -> bool {
    value.is_empty()
        || (value.len() <= 63
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            && value.as_bytes()[0].is_ascii_alphanumeric()
            && value.as_bytes()[value.len() - 1].is_ascii_alphanumeric())
}

/// Rules the API server applies that JSON schemas do not carry: object names, label keys and
/// values, annotation keys, container and port names.
pub fn api_server_rules(doc: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    let what = describe(doc);
    let kind = doc["kind"].as_str().unwrap_or_default();
    let name = doc["metadata"]["name"].as_str().unwrap_or_default();
    let name_ok = match kind {
        "Service" | "Namespace" => {
            dns_label(name) && name.as_bytes().first().is_some_and(u8::is_ascii_lowercase)
        }
        _ => dns_subdomain(name) && !name.is_empty(),
    };
    if !name_ok {
        errors.push(format!("{what}: invalid metadata.name {name:?}"));
    }
    if let Some(ns) = doc["metadata"]["namespace"].as_str()
        && !dns_label(ns)
    {
        errors.push(format!("{what}: invalid namespace {ns:?}"));
    }
    let mut label_maps = vec![("metadata.labels", &doc["metadata"]["labels"])];
    label_maps.push((
        "spec.template.metadata.labels",
        &doc["spec"]["template"]["metadata"]["labels"],
    ));
    label_maps.push((
        "spec.selector.matchLabels",
        &doc["spec"]["selector"]["matchLabels"],
    ));
    for (where_, labels) in label_maps {
        if let Some(map) = labels.as_object() {
            for (k, v) in map {
                if !qualified_name(k) {
                    errors.push(format!("{what}: {where_}: invalid label key {k:?}"));
                }
                match v.as_str() {
                    Some(v) if label_value(v) => {}
                    _ => errors.push(format!("{what}: {where_}: invalid label value {v} for {k}")),
                }
            }
        }
    }
    for annotations in [
        &doc["metadata"]["annotations"],
        &doc["spec"]["template"]["metadata"]["annotations"],
    ] {
        if let Some(map) = annotations.as_object() {
            for (k, v) in map {
                if !qualified_name(k) || !v.is_string() {
                    errors.push(format!("{what}: invalid annotation {k:?}: {v}"));
                }
            }
        }
    }
    if let Some(containers) = doc["spec"]["template"]["spec"]["containers"].as_array() {
        for c in containers {
            let cname = c["name"].as_str().unwrap_or_default();
            if !dns_label(cname) {
                errors.push(format!("{what}: invalid container name {cname:?}"));
            }
            for p in c["ports"].as_array().into_iter().flatten() {
                if let Some(pname) = p["name"].as_str() {
                    let ok = pname.len() <= 15
                        && pname
                            .bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                        && pname.bytes().any(|b| b.is_ascii_lowercase());
                    if !ok {
                        errors.push(format!(
                            "{what}: container port name {pname:?} is not an IANA_SVC_NAME"
                        ));
                    }
                }
            }
        }
    }
    if kind == "Service" {
        for p in doc["spec"]["ports"].as_array().into_iter().flatten() {
            if let Some(pname) = p["name"].as_str()
                && !dns_label(pname)
            {
                errors.push(format!("{what}: invalid Service port name {pname:?}"));
            }
        }
    }
    errors
}
