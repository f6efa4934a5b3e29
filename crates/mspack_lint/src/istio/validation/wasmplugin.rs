//! Istio's validation of a WasmPlugin (for IST0106/IST0133): selector or target references,
//! the module URL and its scheme, sha256, name lengths, VM environment, traffic selectors.

use std::collections::HashSet;

use crate::istio::validation::common::{at, enum_field, parse_go_url, policy_targets};
use crate::istio::validation::{Problems, field, int, list, text};
use crate::resource::Resource;

const VALUE_SOURCES: &[&str] = &["INLINE", "HOST"];

/// Every problem Istio's validation finds in a WasmPlugin.
pub(crate) fn validate(wp: &Resource) -> Problems<'_> {
    let mut p = Problems::new();
    let Some(spec) = wp.spec() else {
        p.add(wp.anchor(), "url field needs to be set");
        return p;
    };
    policy_targets(spec, &mut p);
    let url = text(spec, "url");
    if url.is_empty() {
        p.add(at(spec, "url"), "url field needs to be set");
    } else if let Err(e) = module_url(url) {
        p.add(at(spec, "url"), e);
    }
    let sha = text(spec, "sha256");
    if !sha.is_empty() {
        if sha.len() != 64 {
            p.add(
                at(spec, "sha256"),
                "sha256 field must be 64 characters long",
            );
        } else if !sha
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            p.add(
                at(spec, "sha256"),
                "sha256 field must match [a-f0-9]{64} pattern",
            );
        }
    }
    if text(spec, "imagePullSecret").len() > 253 {
        p.add(
            at(spec, "imagePullSecret"),
            "imagePullSecret field must be less than 253 characters long",
        );
    }
    if text(spec, "pluginName").len() > 256 {
        p.add(
            at(spec, "pluginName"),
            "pluginName field must be less than 255 characters long",
        );
    }
    if let Some(vm) = field(spec, "vmConfig") {
        let mut names: HashSet<&str> = HashSet::new();
        for env in list(vm, "env") {
            if env.is_null() {
                continue;
            }
            let name = text(env, "name");
            let problem = if name.is_empty() {
                Some("vmConfig.env entry has no name")
            } else if name.len() > 256 {
                Some("env.name field must be less than 255 characters long")
            } else if !names.insert(name) {
                Some("duplicate env")
            } else if enum_field(env, "valueFrom", VALUE_SOURCES) != Some(0)
                && !text(env, "value").is_empty()
            {
                Some("value may only be set when valueFrom is INLINE")
            } else {
                None
            };
            if let Some(message) = problem {
                // Istio stops at the first bad entry.
                p.add(env, message);
                break;
            }
        }
    }
    'selectors: for (i, sel) in list(spec, "match").iter().enumerate() {
        if sel.is_null() {
            p.add(sel, format!("spec.match[{i}] is nil"));
            break;
        }
        for (j, port) in list(sel, "ports").iter().enumerate() {
            if port.is_null() {
                p.add(port, format!("spec.match[{i}].ports[{j}] is nil"));
                break 'selectors;
            }
            let n = int(port, "number");
            if n <= 0 || n > 65535 {
                p.add(
                    at(port, "number"),
                    format!("spec.match[{i}].ports[{j}] is out of range: {n}"),
                );
                break 'selectors;
            }
        }
    }
    p
}

/// The module URL: parsed as a request URI (or as a host with `http://` in front), with an empty,
/// `file`, `http`, `https` or `oci` scheme.
fn module_url(url: &str) -> Result<(), String> {
    let parsed = match parse_go_url(url, true) {
        Ok(u) if !u.scheme.is_empty() || u.rest.starts_with('/') => Ok(u.scheme),
        first => {
            let retry = format!("http://{url}");
            match parse_go_url(&retry, true) {
                Ok(u) => Ok(u.scheme),
                Err(e) => Err(first.err().unwrap_or(e)),
            }
        }
    };
    let scheme = parsed.map_err(|e| format!("failed to parse url: {e}"))?;
    match scheme.as_str() {
        "" | "file" | "http" | "https" | "oci" => Ok(()),
        s => Err(format!("url contains unsupported scheme: {s}")),
    }
}

#[cfg(test)]
mod tests {
    use super::module_url;

    #[test]
    fn module_urls() {
        assert!(module_url("oci://ghcr.io/fooddelivery/ratelimit:1.2").is_ok());
        assert!(module_url("ghcr.io/fooddelivery/ratelimit:1.2").is_ok());
        assert!(module_url("file:///opt/filters/ratelimit.wasm").is_ok());
        assert!(module_url("/opt/filters/ratelimit.wasm").is_ok());
        assert!(module_url("registry:5000/ratelimit").is_err());
        assert!(module_url("s3://bucket/ratelimit.wasm").is_err());
    }
}
