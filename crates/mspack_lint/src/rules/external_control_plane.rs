use std::net::IpAddr;

use mspack_yaml::Node;

use crate::declare_rule;
use crate::finding::{Findings, Seen};
use crate::resource::{Kind, Resource};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// The webhooks of Istio's own webhook configurations (ValidatingWebhookConfigurations
    /// named `istiod-default-validator` or `istio-validator*`, MutatingWebhookConfigurations
    /// named `istio-sidecar-injector*`): a webhook whose `clientConfig` has neither a `url` nor
    /// a `service`, or whose `url` cannot be parsed as a URL.
    ///
    /// ## Why it matters
    /// In a remote cluster of an external control plane these webhooks are how the API server
    /// reaches istiod. Without an address, validation and sidecar injection stop working: pods
    /// start without proxies, or admission fails, depending on the failure policy.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: admissionregistration.k8s.io/v1
    /// kind: MutatingWebhookConfiguration
    /// metadata: {name: istio-sidecar-injector-external-istiod}
    /// webhooks:
    /// - name: namespace.sidecar-injector.istio.io
    ///   admissionReviewVersions: [v1]
    ///   clientConfig:
    ///     url:
    ///   sideEffects: None
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: admissionregistration.k8s.io/v1
    /// kind: MutatingWebhookConfiguration
    /// metadata: {name: istio-sidecar-injector-external-istiod}
    /// webhooks:
    /// - name: namespace.sidecar-injector.istio.io
    ///   admissionReviewVersions: [v1]
    ///   clientConfig:
    ///     url: https://istiod.mesh.food.example:15017/inject/cluster/delivery-east/net/net1
    ///   sideEffects: None
    /// ```
    pub static INVALID_EXTERNAL_CONTROL_PLANE_CONFIG = Rule {
        code: "IST0163",
        name: "InvalidExternalControlPlaneConfig",
        severity: Warning,
        summary: "an istio webhook has no address or an unparsable url for the external control plane",
        mirrors: Some("externalcontrolplane.ExternalControlPlaneAnalyzer"),
        check: check_invalid,
    };
}

declare_rule! {
    /// ## What it checks
    /// The webhooks of Istio's own webhook configurations (as for IST0163) whose
    /// `clientConfig.url` reaches the external control plane at an IP address instead of a
    /// host name.
    ///
    /// ## Why it matters
    /// An IP address ties the remote cluster to one load balancer instance: when the address
    /// changes, injection and validation break in every remote cluster, and the serving
    /// certificate has to carry the IP. A DNS name can move.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: admissionregistration.k8s.io/v1
    /// kind: ValidatingWebhookConfiguration
    /// metadata: {name: istio-validator-external-istiod}
    /// webhooks:
    /// - name: rev.validation.istio.io
    ///   admissionReviewVersions: [v1]
    ///   clientConfig:
    ///     url: https://203.0.113.20:15017/validate
    ///   sideEffects: None
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: admissionregistration.k8s.io/v1
    /// kind: ValidatingWebhookConfiguration
    /// metadata: {name: istio-validator-external-istiod}
    /// webhooks:
    /// - name: rev.validation.istio.io
    ///   admissionReviewVersions: [v1]
    ///   clientConfig:
    ///     url: https://istiod.mesh.food.example:15017/validate
    ///   sideEffects: None
    /// ```
    pub static ADDRESS_IS_NOT_A_HOSTNAME = Rule {
        code: "IST0164",
        name: "ExternalControlPlaneAddressIsNotAHostname",
        severity: Info,
        summary: "an istio webhook reaches the external control plane at an ip address",
        mirrors: Some("externalcontrolplane.ExternalControlPlaneAnalyzer"),
        check: check_ip_address,
    };
}

/// What a webhook's client configuration says about the control plane's address.
enum Address<'a> {
    /// Neither `url` nor `service`.
    Blank(&'a Node),
    /// A `url` that does not parse; the reason.
    Invalid(&'a Node, &'a str, &'static str),
    /// A `url` whose host is an IP address.
    Ip(&'a Node, &'a str),
}

/// Webhooks of Istio's validating and injection webhook configurations, with their name.
fn istio_webhooks(ws: &Workspace) -> impl Iterator<Item = (&Resource, &str, &Node)> {
    let validating = ws
        .of_kind(Kind::ValidatingWebhookConfiguration)
        .filter(|r| r.name == "istiod-default-validator" || r.name.starts_with("istio-validator"));
    let mutating = ws
        .of_kind(Kind::MutatingWebhookConfiguration)
        .filter(|r| r.name.starts_with("istio-sidecar-injector"));
    validating.chain(mutating).flat_map(|r| {
        r.root
            .get("webhooks")
            .into_iter()
            .flat_map(Node::items)
            .map(move |wh| (r, wh.get("name").and_then(Node::as_str).unwrap_or(""), wh))
    })
}

fn address(webhook: &Node) -> Option<Address<'_>> {
    let config = webhook.get("clientConfig");
    if let Some(url_node) = config.and_then(|c| c.get("url")).filter(|u| !u.is_null()) {
        let url = url_node.as_str().unwrap_or("");
        return match url_hostname(url) {
            Err(reason) => Some(Address::Invalid(url_node, url, reason)),
            Ok(host) if host.parse::<IpAddr>().is_ok() => Some(Address::Ip(url_node, url)),
            Ok(_) => None,
        };
    }
    if config
        .and_then(|c| c.get("service"))
        .is_some_and(|s| !s.is_null())
    {
        return None;
    }
    Some(Address::Blank(config.unwrap_or(webhook)))
}

fn check_invalid(ws: &Workspace, out: &mut Findings) {
    let mut seen = Seen::default();
    for (resource, name, webhook) in istio_webhooks(ws) {
        let (node, message) = match address(webhook) {
            Some(Address::Blank(node)) => (
                node,
                format!(
                    "webhook \"{name}\" has neither a clientConfig url nor a service to reach the control plane"
                ),
            ),
            Some(Address::Invalid(node, url, reason)) => (
                node,
                format!(
                    "webhook \"{name}\" has clientConfig url \"{url}\", which is not a valid URL: {reason}"
                ),
            ),
            _ => continue,
        };
        if seen.first(resource, &message) {
            out.report(resource, node, message).help(
                "set `clientConfig.url` to the external istiod's address, e.g. `https://istiod.example.com:15017/...`",
            );
        }
    }
}

fn check_ip_address(ws: &Workspace, out: &mut Findings) {
    let mut seen = Seen::default();
    for (resource, name, webhook) in istio_webhooks(ws) {
        let Some(Address::Ip(node, url)) = address(webhook) else {
            continue;
        };
        let message = format!(
            "webhook \"{name}\" reaches the external control plane at an IP address ({url})"
        );
        if seen.first(resource, &message) {
            out.report(resource, node, message).help(
                "use a DNS name for the external control plane's ingress; an IP address is not recommended in production",
            );
        }
    }
}

/// The host name of a URL as Go's `net/url` parses it (`Parse` then `Hostname`), or why Go
/// rejects the URL.
fn url_hostname(raw: &str) -> Result<String, &'static str> {
    if raw.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err("it contains a control character");
    }
    let (raw, fragment) = raw.split_once('#').unwrap_or((raw, ""));
    check_escapes(fragment)?;
    if raw == "*" {
        return Ok(String::new());
    }
    let (scheme, rest) = split_scheme(raw)?;
    let rest = match rest.strip_suffix('?') {
        Some(r) if !r.contains('?') => r,
        _ => rest.split_once('?').map_or(rest, |(r, _)| r),
    };
    if !rest.starts_with('/') {
        if !scheme.is_empty() {
            return Ok(String::new());
        }
        if rest.split('/').next().unwrap_or("").contains(':') {
            return Err("its first path segment contains a colon");
        }
    }
    let mut host = String::new();
    let mut path = rest;
    if (!scheme.is_empty() || !rest.starts_with("///")) && rest.starts_with("//") {
        let authority = &rest[2..];
        let (authority, tail) = match authority.find('/') {
            Some(i) => (&authority[..i], &authority[i..]),
            None => (authority, ""),
        };
        path = tail;
        host = parse_authority(authority)?;
    }
    check_escapes(path)?;
    Ok(hostname(&host))
}

/// Go's scheme split: letters first, then letters, digits, `+`, `-`, `.` up to a `:`.
fn split_scheme(raw: &str) -> Result<(&str, &str), &'static str> {
    for (i, c) in raw.bytes().enumerate() {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' if i > 0 => {}
            b':' if i == 0 => return Err("it has no scheme before `:`"),
            b':' => return Ok((&raw[..i], &raw[i + 1..])),
            _ => return Ok(("", raw)),
        }
    }
    Ok(("", raw))
}

fn parse_authority(authority: &str) -> Result<String, &'static str> {
    let (userinfo, host) = match authority.rfind('@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    let host = parse_host(host)?;
    if let Some(userinfo) = userinfo {
        let valid = userinfo
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-._:~!$&'()*+,;=%@".contains(&c));
        if !valid {
            return Err("its user information has invalid characters");
        }
        check_escapes(userinfo)?;
    }
    Ok(host)
}

fn valid_optional_port(port: &str) -> bool {
    port.is_empty()
        || port
            .strip_prefix(':')
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

fn parse_host(host: &str) -> Result<String, &'static str> {
    if host.starts_with('[') {
        let Some(i) = host.rfind(']') else {
            return Err("its host lacks the closing `]`");
        };
        if !valid_optional_port(&host[i + 1..]) {
            return Err("its port is not a number");
        }
    } else if let Some(i) = host.rfind(':')
        && !valid_optional_port(&host[i..])
    {
        return Err("its port is not a number");
    }
    unescape_host(host)
}

/// Percent-decoding of a host: only non-ASCII bytes (and `%25`) may be escaped, and a few
/// ASCII characters may not appear at all.
fn unescape_host(host: &str) -> Result<String, &'static str> {
    let bytes = host.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'%' {
            let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).and_then(|b| hex(*b)),
                bytes.get(i + 2).and_then(|b| hex(*b)),
            ) else {
                return Err("it has an invalid percent escape");
            };
            if hi < 8 && &bytes[i..i + 3] != b"%25" {
                return Err("its host has an invalid percent escape");
            }
            out.push(hi * 16 + lo);
            i += 3;
            continue;
        }
        let allowed =
            c >= 0x80 || c.is_ascii_alphanumeric() || b"!$&'()*+,;=:[]<>\"-_.~".contains(&c);
        if !allowed {
            return Err("its host has an invalid character");
        }
        out.push(c);
        i += 1;
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

fn check_escapes(s: &str) -> Result<(), &'static str> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let ok = bytes.get(i + 1).and_then(|b| hex(*b)).is_some()
                && bytes.get(i + 2).and_then(|b| hex(*b)).is_some();
            if !ok {
                return Err("it has an invalid percent escape");
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    Ok(())
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

/// The host without its port and IPv6 brackets.
fn hostname(host: &str) -> String {
    let mut h = host;
    if let Some(i) = h.rfind(':')
        && valid_optional_port(&h[i..])
    {
        h = &h[..i];
    }
    if let Some(inner) = h.strip_prefix('[').and_then(|x| x.strip_suffix(']')) {
        h = inner;
    }
    h.to_string()
}

#[cfg(test)]
mod tests {
    use super::url_hostname;

    #[test]
    fn urls_parse_like_go() {
        assert_eq!(
            url_hostname("https://test.com:15017/validate").as_deref(),
            Ok("test.com")
        );
        assert_eq!(
            url_hostname("https://1.1.1.1:5100/inject").as_deref(),
            Ok("1.1.1.1")
        );
        assert_eq!(url_hostname("https://[::1]:443/x").as_deref(), Ok("::1"));
        assert_eq!(url_hostname("").as_deref(), Ok(""));
        assert_eq!(url_hostname("istiod:15017").as_deref(), Ok(""));
        assert!(url_hostname("https://test.com:port/x").is_err());
        assert!(url_hostname("://test.com").is_err());
        assert!(url_hostname("https://bad host/x").is_err());
        assert!(url_hostname("https://test.com/%zz").is_err());
        assert!(url_hostname("1.1.1.1:80/x").is_err());
        assert!(url_hostname("https://[::1/x").is_err());
    }
}
