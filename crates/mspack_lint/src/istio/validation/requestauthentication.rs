//! Istio's validation of a RequestAuthentication (for IST0106/IST0133): selector or target
//! references, and each JWT rule (issuer or jwksUri, the jwksUri's URL and scheme, inline JWKS,
//! token locations, claim-to-header outputs, timeout).

use mspack_yaml::Node;
use serde_json::Value;

use crate::istio::validation::common::{at, parse_go_url, policy_targets};
use crate::istio::validation::{Problems, duration, field, list, text};
use crate::resource::Resource;

/// Every problem Istio's validation finds in a RequestAuthentication.
pub(crate) fn validate(ra: &Resource) -> Problems<'_> {
    let mut p = Problems::new();
    let Some(spec) = ra.spec() else {
        return p;
    };
    policy_targets(spec, &mut p);
    for rule in list(spec, "jwtRules") {
        if !rule.is_null() {
            jwt_rule(rule, &mut p);
        }
    }
    p
}

fn jwt_rule<'a>(rule: &'a Node, p: &mut Problems<'a>) {
    for aud in list(rule, "audiences") {
        if aud.as_str().unwrap_or("").is_empty() {
            p.add(aud, "audience must be non-empty string");
        }
    }
    let issuer = text(rule, "issuer");
    let uri = text(rule, "jwksUri");
    if issuer.is_empty() && uri.is_empty() {
        p.add(rule, "issuer or jwksUri must be non-empty string");
    }
    if !uri.is_empty()
        && let Err(e) = jwks_uri(uri)
    {
        p.add(at(rule, "jwksUri"), format!("jwksUri: {e}"));
    }
    let jwks = text(rule, "jwks");
    if !jwks.is_empty() {
        match parse_jwks(jwks) {
            Err(e) => p.add(at(rule, "jwks"), format!("jwks parse error: {e}")),
            Ok(private) => {
                for i in private {
                    p.warn(
                        at(rule, "jwks"),
                        format!(
                            "jwks key at index {i} contains private key material; only public keys are used for verification"
                        ),
                    );
                }
            }
        }
    }
    for location in list(rule, "fromHeaders") {
        if location.is_null() {
            p.add(location, "location header name must be non-null");
        } else if text(location, "name").is_empty() {
            p.add(location, "location header name must be non-empty string");
        }
    }
    for param in list(rule, "fromParams") {
        if param.as_str().unwrap_or("").is_empty() {
            p.add(param, "location query must be non-empty string");
        }
    }
    for cookie in list(rule, "fromCookies") {
        if cookie.as_str().unwrap_or("").is_empty() {
            p.add(cookie, "cookie name must be non-empty string");
        }
    }
    for output in list(rule, "outputClaimToHeaders") {
        if output.is_null() {
            p.add(output, "outputClaimToHeaders must not be null");
            continue;
        }
        let header = text(output, "header");
        if text(output, "claim").is_empty() || header.is_empty() {
            p.add(
                output,
                "outputClaimToHeaders header and claim value must be non-empty string",
            );
            continue;
        }
        if !header
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            p.add(
                at(output, "header"),
                format!("header name {header} is not a valid header name"),
            );
        }
    }
    if let Some(t) = field(rule, "timeout") {
        duration(t, p);
    }
}

/// A jwksUri: a URL with the http or https scheme.
fn jwks_uri(uri: &str) -> Result<(), String> {
    let url = parse_go_url(uri, false)?;
    match url.scheme.as_str() {
        "http" | "https" => Ok(()),
        s => Err(format!(
            "URI scheme \"{s}\" is not supported: use http or https"
        )),
    }
}

/// An inline JWKS: a JSON key set (or a single key), every key of a known type. Returns the
/// indexes of keys that carry private material.
fn parse_jwks(jwks: &str) -> Result<Vec<usize>, String> {
    let value: Value = serde_json::from_str(jwks).map_err(|e| format!("invalid JSON: {e}"))?;
    let keys: Vec<&Value> = match value.get("keys") {
        Some(Value::Array(keys)) => keys.iter().collect(),
        Some(_) => return Err("\"keys\" must be an array".into()),
        None if value.is_object() => vec![&value],
        None => return Err("a JWKS must be a JSON object".into()),
    };
    let mut private = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let kty = key.get("kty").and_then(Value::as_str).unwrap_or("");
        match kty {
            "RSA" | "EC" | "OKP" => {
                if key.get("d").is_some() {
                    private.push(i);
                }
            }
            "oct" => private.push(i),
            "" => return Err(format!("key at index {i} has no \"kty\"")),
            other => {
                return Err(format!(
                    "key at index {i} has an unknown key type \"{other}\""
                ));
            }
        }
    }
    Ok(private)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwks_uris() {
        assert!(jwks_uri("https://auth.fooddelivery.example/.well-known/jwks.json").is_ok());
        assert!(jwks_uri("http://keycloak.auth:8080/realms/food/certs").is_ok());
        assert!(jwks_uri("HTTPS://auth.example.com/jwks").is_ok());
        assert!(jwks_uri("auth.example.com/jwks").is_err());
        assert!(jwks_uri("ftp://auth.example.com/jwks").is_err());
        assert!(jwks_uri("https://auth.example.com:port/jwks").is_err());
        assert!(jwks_uri("https://auth example.com/jwks").is_err());
        assert!(jwks_uri("hTPp\\\u{8}lah").is_err());
    }

    #[test]
    fn inline_jwks() {
        assert_eq!(
            parse_jwks(r#"{"keys":[{"kty":"RSA","n":"x","e":"AQAB"}]}"#),
            Ok(vec![])
        );
        assert_eq!(
            parse_jwks(r#"{"keys":[{"kty":"oct","k":"x"}]}"#),
            Ok(vec![0])
        );
        assert!(parse_jwks("{keys: []}").is_err());
        assert!(parse_jwks(r#"{"keys":[{"kty":"DSA"}]}"#).is_err());
    }
}
