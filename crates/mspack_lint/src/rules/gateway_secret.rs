//! `gateway.SecretAnalyzer`: the Secret a Gateway server names in `tls.credentialName` must
//! exist in the namespace of the gateway workload and hold a usable, currently valid certificate.
//! Works on the Secrets among the linted files.

use std::collections::BTreeMap;

use mspack_yaml::Node;

use crate::declare_rule;
use crate::finding::Findings;
use crate::resource::{Kind, Resource};
use crate::workloads::gateway_selector;
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// For each Istio Gateway: the namespace of the gateway workload is the namespace of the first
    /// Pod or pod template its selector matches (a Gateway that matches none, or only workloads
    /// without a namespace, is reported). Each server's `tls.credentialName` must then name a
    /// Secret of the linted files in that namespace (a `namespace/name` credential names its
    /// namespace explicitly). The workload's namespace counts, not the Gateway's: the gateway
    /// proxy reads credentials from its own namespace.
    ///
    /// Off by default: Secrets are rarely kept in manifests. Select it (`--select
    /// IST0101.gateway.SecretAnalyzer`) when they are.
    ///
    /// ## Why it matters
    /// A gateway server whose credential cannot be found has no certificate: Envoy rejects the TLS
    /// handshake and the HTTPS hosts of that server are unreachable.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: Gateway
    /// metadata: {name: storefront, namespace: orders}
    /// spec:
    ///   selector: {app: edge-gateway}
    ///   servers:
    ///   - port: {number: 443, name: https, protocol: HTTPS}
    ///     tls: {mode: SIMPLE, credentialName: storefront-cert}
    ///     hosts: ["shop.example.com"]
    /// ---
    /// apiVersion: v1
    /// kind: Pod
    /// metadata: {name: edge-gateway-0, namespace: edge, labels: {app: edge-gateway}}
    /// spec: {containers: [{name: istio-proxy, image: auto}]}
    /// ---
    /// apiVersion: v1
    /// kind: Secret
    /// metadata: {name: storefront-cert, namespace: orders}
    /// type: kubernetes.io/tls
    /// data: {tls.crt: "", tls.key: ""}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: Gateway
    /// metadata: {name: storefront, namespace: orders}
    /// spec:
    ///   selector: {app: edge-gateway}
    ///   servers:
    ///   - port: {number: 443, name: https, protocol: HTTPS}
    ///     tls: {mode: SIMPLE, credentialName: storefront-cert}
    ///     hosts: ["shop.example.com"]
    /// ---
    /// apiVersion: v1
    /// kind: Pod
    /// metadata: {name: edge-gateway-0, namespace: edge, labels: {app: edge-gateway}}
    /// spec: {containers: [{name: istio-proxy, image: auto}]}
    /// ---
    /// apiVersion: v1
    /// kind: Secret
    /// metadata: {name: storefront-cert, namespace: edge}
    /// type: kubernetes.io/tls
    /// data: {tls.crt: "", tls.key: ""}
    /// ```
    /// Create the Secret in the gateway workload's namespace (here `edge`), not the Gateway's.
    pub static GATEWAY_CREDENTIAL_NOT_FOUND = Rule {
        code: "IST0101",
        name: "ReferencedResourceNotFound",
        severity: Error,
        summary: "a gateway credential secret is not in the gateway workload's namespace",
        mirrors: Some("gateway.SecretAnalyzer"),
        enabled_by_default: false,
        each: check_references on &[Kind::Gateway],
    };
}

declare_rule! {
    /// ## What it checks
    /// The Secret a Gateway server's `tls.credentialName` names, when it is among the linted files
    /// (in the namespace of the gateway workload, as for IST0101): it must hold non-empty `cert`
    /// and `key`, or `tls.crt` and `tls.key` (from `data`, base64, or `stringData`), and the
    /// certificate must be PEM with DER certificates that are valid now (not expired, not before
    /// their start date).
    ///
    /// ## Why it matters
    /// Istio refuses to serve a malformed or expired credential: the gateway listener has no
    /// certificate and clients of those hosts get TLS handshake failures.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: Gateway
    /// metadata: {name: storefront, namespace: edge}
    /// spec:
    ///   selector: {app: edge-gateway}
    ///   servers:
    ///   - port: {number: 443, name: https, protocol: HTTPS}
    ///     tls: {mode: SIMPLE, credentialName: storefront-cert}
    ///     hosts: ["shop.example.com"]
    /// ---
    /// apiVersion: v1
    /// kind: Pod
    /// metadata: {name: edge-gateway-0, namespace: edge, labels: {app: edge-gateway}}
    /// spec: {containers: [{name: istio-proxy, image: auto}]}
    /// ---
    /// apiVersion: v1
    /// kind: Secret
    /// metadata: {name: storefront-cert, namespace: edge}
    /// type: kubernetes.io/tls
    /// stringData:
    ///   tls.cert: "-----BEGIN CERTIFICATE-----"
    ///   tls.key: "-----BEGIN PRIVATE KEY-----"
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: networking.istio.io/v1
    /// kind: Gateway
    /// metadata: {name: storefront, namespace: edge}
    /// spec:
    ///   selector: {app: edge-gateway}
    ///   servers:
    ///   - port: {number: 443, name: https, protocol: HTTPS}
    ///     tls: {mode: SIMPLE, credentialName: storefront-cert}
    ///     hosts: ["shop.example.com"]
    /// ---
    /// apiVersion: v1
    /// kind: Pod
    /// metadata: {name: edge-gateway-0, namespace: edge, labels: {app: edge-gateway}}
    /// spec: {containers: [{name: istio-proxy, image: auto}]}
    /// ---
    /// apiVersion: v1
    /// kind: Secret
    /// metadata: {name: storefront-cert, namespace: edge}
    /// type: kubernetes.io/tls
    /// stringData:
    ///   tls.crt: |
    ///     -----BEGIN CERTIFICATE-----
    ///     MIIBNzCB3qADAgECAhRI6M23bUTbaYQeSgkhbns9UR3LuzAKBggqhkjOPQQDAjAb
    ///     MRkwFwYDVQQDDBBzaG9wLmV4YW1wbGUuY29tMCAXDTI0MDEwMTAwMDAwMFoYDzIx
    ///     MjQwMTAxMDAwMDAwWjAbMRkwFwYDVQQDDBBzaG9wLmV4YW1wbGUuY29tMFkwEwYH
    ///     KoZIzj0CAQYIKoZIzj0DAQcDQgAEPavA9jqowXGnToP2GRj4YDQnGAsEAu0NwkkZ
    ///     XF74I0cSmgriQulhbGMP83v+km1D4Qqh3z2N5eHYc/t67M25szAKBggqhkjOPQQD
    ///     AgNIADBFAiEAhs5+JlTL+oEkkb1nHuE3Xnn/4UKxdusqDPblBz+PTOoCIFpVYZat
    ///     qnIj60Y3X5eSHCzLiZ/aOMLQm6GqotxSlqib
    ///     -----END CERTIFICATE-----
    ///   tls.key: |
    ///     -----BEGIN PRIVATE KEY-----
    ///     MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg3ppiUe596N6NuqQd
    ///     GsIqFOetR2ZaY/lQSnM6z2hzv/OhRANCAAQ9q8D2OqjBcadOg/YZGPhgNCcYCwQC
    ///     7Q3CSRlcXvgjRxKaCuJC6WFsYw/ze/6SbUPhCqHfPY3l4dhz+3rszbmz
    ///     -----END PRIVATE KEY-----
    /// ```
    /// Store the certificate under `tls.crt` and the key under `tls.key` (as
    /// `kubectl create secret tls` does), and renew it before it expires.
    pub static INVALID_GATEWAY_CREDENTIAL = Rule {
        code: "IST0161",
        name: "InvalidGatewayCredential",
        severity: Error,
        summary: "a gateway credential secret is malformed or its certificate is not valid now",
        mirrors: Some("gateway.SecretAnalyzer"),
        check: check_secrets,
    };
}

/// What became of one server credential.
enum Outcome<'a> {
    /// The Gateway selects no workload with a namespace.
    NoWorkload,
    Missing {
        node: &'a Node,
        credential: &'a str,
        ns: String,
        name: String,
    },
    Invalid {
        node: &'a Node,
        secret: String,
        reason: String,
    },
}

fn analyze<'a>(ws: &'a Workspace, gw: &'a Resource) -> Vec<Outcome<'a>> {
    let selector = gateway_selector(gw);
    let ns = ws
        .select_workloads(None, &selector)
        .next()
        .map_or("", |w| w.ns.as_str());
    if ns.is_empty() {
        return vec![Outcome::NoWorkload];
    }
    let mut out = Vec::new();
    for server in gw.spec_at(&["servers"]).into_iter().flat_map(Node::items) {
        let Some(node) = server.path(&["tls", "credentialName"]) else {
            continue;
        };
        let Some(credential) = node.as_str().filter(|c| !c.is_empty()) else {
            continue;
        };
        let (secret_ns, name) = match credential.split_once('/') {
            Some((n, name)) => (n, name),
            None => (ns, credential),
        };
        match ws.find(Kind::Secret, secret_ns, name) {
            None => out.push(Outcome::Missing {
                node,
                credential,
                ns: secret_ns.to_string(),
                name: name.to_string(),
            }),
            Some(secret) => {
                if let Err(reason) = validate_secret(secret, now_unix()) {
                    out.push(Outcome::Invalid {
                        node,
                        secret: format!("{secret_ns}/{name}"),
                        reason,
                    });
                }
            }
        }
    }
    out
}

fn check_references(ws: &Workspace, gw: &Resource, out: &mut Findings) {
    for outcome in analyze(ws, gw) {
        match outcome {
            Outcome::NoWorkload => {
                out.report(
                    gw,
                    gw.spec_anchor(&["selector"]),
                    format!(
                        "no workload in a namespace matches the gateway selector \"{}\", so \
                         the namespace of its credentials is unknown",
                        gateway_selector(gw).text()
                    ),
                )
                .help("deploy the gateway workload or correct the selector");
            }
            Outcome::Missing {
                node,
                credential,
                ns,
                name,
            } => {
                out.report(
                    gw,
                    node,
                    if credential.contains('/') {
                        format!("credentialName \"{credential}\": Secret {ns}/{name} not found")
                    } else {
                        format!(
                            "credentialName \"{credential}\": Secret {ns}/{name} (in the \
                             gateway workload's namespace) not found"
                        )
                    },
                )
                .help(format!(
                    "create the TLS Secret `{name}` in namespace `{ns}`, where the gateway \
                     proxy runs"
                ));
            }
            Outcome::Invalid { .. } => {}
        }
    }
}

fn check_secrets(ws: &Workspace, out: &mut Findings) {
    if ws.of_kind(Kind::Secret).next().is_none() {
        return;
    }
    for gw in ws.of_kind(Kind::Gateway) {
        for outcome in analyze(ws, gw) {
            if let Outcome::Invalid {
                node,
                secret,
                reason,
            } = outcome
            {
                out.report(
                    gw,
                    node,
                    format!("the credential in Secret {secret} is invalid: {reason}"),
                )
                .help(
                    "store a PEM certificate and key under `tls.crt`/`tls.key` (or `cert`/`key`) \
                     and make sure the certificate is currently valid",
                );
            }
        }
    }
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The data of a Secret as the cluster stores it: `data` (base64) with `stringData` over it.
fn secret_data(secret: &Resource) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let mut data = BTreeMap::new();
    for (key, _, value) in secret.root.get("data").into_iter().flat_map(Node::entries) {
        let text = value.as_str().unwrap_or("");
        let bytes =
            base64_decode(text).ok_or_else(|| format!("`data.{key}` is not valid base64"))?;
        data.insert(key.to_string(), bytes);
    }
    for (key, _, value) in secret
        .root
        .get("stringData")
        .into_iter()
        .flat_map(Node::entries)
    {
        data.insert(
            key.to_string(),
            value.as_str().unwrap_or("").as_bytes().to_vec(),
        );
    }
    Ok(data)
}

/// Check a credential Secret the way the gateway's certificate loading does.
fn validate_secret(secret: &Resource, now: i64) -> Result<(), String> {
    let data = secret_data(secret)?;
    let has_value = |keys: &[&str]| {
        keys.iter()
            .all(|k| data.get(*k).is_some_and(|v| !v.is_empty()))
    };
    let has_keys = |keys: &[&str]| keys.iter().all(|k| data.contains_key(*k));
    let cert = if has_value(&["cert", "key"]) {
        &data["cert"]
    } else if has_value(&["tls.crt", "tls.key"]) {
        &data["tls.crt"]
    } else if has_keys(&["cert", "key"]) {
        return Err("keys `cert` and `key` are empty".into());
    } else if has_keys(&["tls.crt", "tls.key"]) {
        return Err("keys `tls.crt` and `tls.key` are empty".into());
    } else {
        let found: Vec<&str> = data.keys().map(String::as_str).collect();
        return Err(format!(
            "it needs keys `tls.crt` and `tls.key` (or `cert` and `key`), found: {}",
            if found.is_empty() {
                "none".to_string()
            } else {
                found.join(", ")
            }
        ));
    };
    let der = pem_first_block(cert).ok_or("the certificate is not PEM")?;
    let validities =
        parse_certificates(&der).ok_or("the certificate is not a valid X.509 DER certificate")?;
    for (not_before, not_after) in validities {
        if now > not_after {
            return Err(format!(
                "the certificate expired on {}",
                format_date(not_after)
            ));
        }
        if now < not_before {
            return Err(format!(
                "the certificate is not valid before {}",
                format_date(not_before)
            ));
        }
    }
    Ok(())
}

/// Standard base64 with padding; line breaks are ignored.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let clean: Vec<u8> = text
        .bytes()
        .filter(|b| *b != b'\n' && *b != b'\r')
        .collect();
    if !clean.len().is_multiple_of(4) {
        return None;
    }
    let value = |c: u8| -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some(u32::from(c - b'A')),
            b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    };
    let mut out = Vec::with_capacity(clean.len() / 4 * 3);
    let chunks = clean.chunks(4).collect::<Vec<_>>();
    for (i, chunk) in chunks.iter().enumerate() {
        let pad = chunk.iter().rev().take_while(|c| **c == b'=').count();
        if pad > 2 || (pad > 0 && i + 1 != chunks.len()) {
            return None;
        }
        let mut n = 0u32;
        for &c in &chunk[..4 - pad] {
            n = (n << 6) | value(c)?;
        }
        n <<= 6 * pad as u32;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(out)
}

/// The bytes of the first PEM block (of any type) in `data`.
fn pem_first_block(data: &[u8]) -> Option<Vec<u8>> {
    let text = String::from_utf8_lossy(data);
    let mut rest: &str = &text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + "-----BEGIN ".len()..];
        let type_end = after.find("-----")?;
        let label = &after[..type_end];
        let body_start = &after[type_end + 5..];
        let end_marker = format!("-----END {label}-----");
        if let Some(end) = body_start.find(&end_marker) {
            let body = &body_start[..end];
            // Skip RFC 1421 headers (`Key: value` lines before a blank line).
            let body = match body.find(":") {
                Some(_) => body.split_once("\n\n").map_or(body, |(_, b)| b),
                None => body,
            };
            let joined: String = body.chars().filter(|c| !c.is_whitespace()).collect();
            if let Some(bytes) = base64_decode(&joined) {
                return Some(bytes);
            }
        }
        rest = body_start;
    }
    None
}

/// One DER element: (tag, content, rest).
fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, input) = input.split_first()?;
    let (&first, mut input) = input.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || input.len() < count {
            return None;
        }
        let (bytes, rest) = input.split_at(count);
        input = rest;
        bytes.iter().fold(0usize, |n, b| (n << 8) | usize::from(*b))
    };
    if input.len() < len {
        return None;
    }
    let (content, rest) = input.split_at(len);
    Some((tag, content, rest))
}

fn expect(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    match der_element(input)? {
        (t, content, rest) if t == tag => Some((content, rest)),
        _ => None,
    }
}

/// The validity periods (unix seconds) of concatenated DER certificates; `None` if malformed.
fn parse_certificates(mut der: &[u8]) -> Option<Vec<(i64, i64)>> {
    const SEQUENCE: u8 = 0x30;
    let mut out = Vec::new();
    if der.is_empty() {
        return None;
    }
    while !der.is_empty() {
        let (cert, rest) = expect(der, SEQUENCE)?;
        der = rest;
        let (tbs, after) = expect(cert, SEQUENCE)?;
        let (_, after) = expect(after, SEQUENCE)?; // signature algorithm
        let (_, after) = expect(after, 0x03)?; // signature
        if !after.is_empty() {
            return None;
        }
        let mut t = tbs;
        if t.first() == Some(&0xa0) {
            t = der_element(t)?.2; // version
        }
        let (_, t) = expect(t, 0x02)?; // serial number
        let (_, t) = expect(t, SEQUENCE)?; // signature algorithm
        let (_, t) = expect(t, SEQUENCE)?; // issuer
        let (validity, t) = expect(t, SEQUENCE)?;
        let (_, t) = expect(t, SEQUENCE)?; // subject
        expect(t, SEQUENCE)?; // subject public key info
        let (tag, start, validity) = der_element(validity)?;
        let not_before = parse_time(tag, start)?;
        let (tag, end, _) = der_element(validity)?;
        let not_after = parse_time(tag, end)?;
        out.push((not_before, not_after));
    }
    Some(out)
}

/// UTCTime (tag 23) or GeneralizedTime (tag 24) in seconds since the epoch.
fn parse_time(tag: u8, content: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(content).ok()?;
    let (year, rest) = match tag {
        0x17 => {
            let yy: i64 = text.get(..2)?.parse().ok()?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, text.get(2..)?)
        }
        0x18 => (text.get(..4)?.parse().ok()?, text.get(4..)?),
        _ => return None,
    };
    let field = |i: usize| -> Option<i64> {
        let s = rest.get(i..i + 2)?;
        if !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    let (month, day, hour, minute, second) =
        (field(0)?, field(2)?, field(4)?, field(6)?, field(8)?);
    let zone = rest.get(10..)?;
    let offset = match zone {
        "Z" => 0,
        _ if zone.len() == 5 => {
            let sign = match zone.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let hh: i64 = zone.get(1..3)?.parse().ok()?;
            let mm: i64 = zone.get(3..5)?.parse().ok()?;
            sign * (hh * 3600 + mm * 60)
        }
        _ => return None,
    };
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DD` of a unix time.
fn format_date(unix: i64) -> String {
    let z = unix.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_known_values() {
        assert_eq!(base64_decode("aHVzaA==").as_deref(), Some(&b"hush"[..]));
        assert_eq!(base64_decode("aHVz").as_deref(), Some(&b"hus"[..]));
        assert_eq!(base64_decode("").as_deref(), Some(&b""[..]));
        assert!(base64_decode("aHV").is_none());
        assert!(base64_decode("a=VzaA==").is_none());
    }

    #[test]
    fn dates_convert_both_ways() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(parse_time(0x17, b"230314025430Z"), Some(1_678_762_470));
        assert_eq!(format_date(1_678_762_470), "2023-03-14");
        assert_eq!(
            parse_time(0x18, b"21220218061836Z")
                .map(format_date)
                .as_deref(),
            Some("2122-02-18")
        );
        assert!(parse_time(0x17, b"2303140254Z").is_none());
    }

    #[test]
    fn malformed_der_is_rejected() {
        assert!(parse_certificates(&[]).is_none());
        assert!(parse_certificates(&[0x30, 0x03, 0x02, 0x01]).is_none());
        assert!(parse_certificates(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_none());
    }
}
