//! Istio's validation of a Telemetry (for IST0106/IST0133): selector or target references,
//! provider references, metric tag overrides, tracing sampling and custom tags, access log
//! filters.

use mspack_yaml::Node;

use crate::istio::validation::common::{at, enum_field, key_of, policy_targets, wrapped};
use crate::istio::validation::{Problems, field, float_value, list, text};
use crate::resource::Resource;

const TAG_OPERATIONS: &[&str] = &["UPSERT", "REMOVE"];

/// Every problem Istio's validation finds in a Telemetry.
pub(crate) fn validate(t: &Resource) -> Problems<'_> {
    let mut p = Problems::new();
    let Some(spec) = t.spec() else {
        return p;
    };
    policy_targets(spec, &mut p);
    for m in list(spec, "metrics") {
        if !m.is_null() {
            metrics(m, &mut p);
        }
    }
    let tracing = list(spec, "tracing");
    if tracing.len() > 1 {
        p.warn(
            key_of(spec, "tracing"),
            "several tracing entries are not supported: Istio uses one",
        );
    }
    for t in tracing {
        if !t.is_null() {
            self::tracing(t, &mut p);
        }
    }
    for l in list(spec, "accessLogging") {
        if l.is_null() {
            continue;
        }
        if let Some(filter) = field(l, "filter") {
            p.add_err(
                at(filter, "expression"),
                cel_expression(text(filter, "expression")),
            );
        }
        providers(l, &mut p);
    }
    p
}

/// Provider references: each with a name (Istio reports the first missing one).
fn providers<'a>(parent: &'a Node, p: &mut Problems<'a>) {
    if let Some(bad) = list(parent, "providers")
        .iter()
        .find(|pr| pr.is_null() || text(pr, "name").is_empty())
    {
        p.add(bad, "providers.name may not be empty");
    }
}

fn metrics<'a>(m: &'a Node, p: &mut Problems<'a>) {
    providers(m, p);
    for o in list(m, "overrides") {
        if o.is_null() {
            p.add(o, "tagOverrides may not be null");
            continue;
        }
        for (tag, key, to) in field(o, "tagOverrides").into_iter().flat_map(Node::entries) {
            if tag.is_empty() {
                p.warn(key, "tagOverrides.name may not be empty");
            }
            if to.is_null() {
                p.add(key, "tagOverrides may not be null");
                continue;
            }
            let value = text(to, "value");
            match enum_field(to, "operation", TAG_OPERATIONS) {
                Some(0) if value.is_empty() => p.add(
                    to,
                    "tagOverrides.value must be set when operation is UPSERT",
                ),
                Some(1) if !value.is_empty() => p.add(
                    at(to, "value"),
                    "tagOverrides.value may only be set when operation is UPSERT",
                ),
                _ => {}
            }
        }
        if let Some(m) = field(o, "match")
            && let Some(custom) = m.get("customMetric")
            && custom.as_str().unwrap_or("").is_empty()
            && !custom.is_null()
        {
            p.add(custom, "customMetric may not be empty");
        }
    }
}

fn tracing<'a>(t: &'a Node, p: &mut Problems<'a>) {
    if list(t, "providers").len() > 1 {
        p.warn(
            key_of(t, "providers"),
            "several tracing providers are not supported: Istio uses one",
        );
    }
    providers(t, p);
    if let Some(pct) = wrapped(t, "randomSamplingPercentage") {
        let v = float_value(pct);
        if !(0.0..=100.0).contains(&v) {
            p.add(
                pct,
                "randomSamplingPercentage must be in range [0.0, 100.0]",
            );
        }
    }
    for (name, key, tag) in field(t, "customTags").into_iter().flat_map(Node::entries) {
        if name.is_empty() {
            p.add(key, "tag name may not be empty");
        }
        if tag.is_null() {
            p.add(key, format!("tag '{name}' may not have a nil value"));
            continue;
        }
        if let Some(literal) = field(tag, "literal") {
            if text(literal, "value").is_empty() {
                p.add(literal, "literal tag value may not be empty");
            }
        } else if let Some(header) = field(tag, "header") {
            if text(header, "name").is_empty() {
                p.add(header, "header tag name may not be empty");
            }
        } else if let Some(env) = field(tag, "environment")
            && text(env, "name").is_empty()
        {
            p.add(env, "environment tag name may not be empty");
        }
    }
}

/// An access log filter: a CEL expression. Checked as far as its shape goes: not empty, brackets
/// and quotes balanced.
fn cel_expression(expr: &str) -> Result<(), String> {
    if expr.trim().is_empty() {
        return Err(
            "the access log filter expression is empty: it must be a valid CEL expression".into(),
        );
    }
    let mut stack: Vec<char> = Vec::new();
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in expr.chars() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' => quote = Some(c),
            '(' | '[' | '{' => stack.push(c),
            ')' | ']' | '}' => {
                let open = match c {
                    ')' => '(',
                    ']' => '[',
                    _ => '{',
                };
                if stack.pop() != Some(open) {
                    return Err(format!(
                        "access log filter \"{expr}\" must be a valid CEL expression: unbalanced '{c}'"
                    ));
                }
            }
            _ => {}
        }
    }
    if quote.is_some() {
        return Err(format!(
            "access log filter \"{expr}\" must be a valid CEL expression: unterminated string"
        ));
    }
    if let Some(open) = stack.pop() {
        return Err(format!(
            "access log filter \"{expr}\" must be a valid CEL expression: unclosed '{open}'"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::cel_expression;

    #[test]
    fn access_log_filters() {
        assert!(cel_expression("response.code >= 400").is_ok());
        assert!(cel_expression("request.headers['x-debug'] == \"1\"").is_ok());
        assert!(cel_expression("").is_err());
        assert!(cel_expression("size(request.path) > 1)").is_err());
        assert!(cel_expression("request.path == '/menu").is_err());
    }
}
