//! `k8sgateway.CRDVersionAnalyzer`: Gateway API CRDs older than the bundle version Istio needs.

use crate::declare_rule;
use crate::finding::Findings;
use crate::resource::{Kind, Resource};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// Gateway API CustomResourceDefinitions whose `gateway.networking.k8s.io/bundle-version`
    /// annotation is below the minimum bundle version Istio requires for that CRD:
    /// `grpcroutes` 1.1.0, `backendtlspolicies` 1.4.0, `tlsroutes` 1.5.0 and `tcproutes` 1.6.0
    /// (of `gateway.networking.k8s.io`). A pre-release suffix is ignored (`v1.5.0-rc.1` counts as
    /// 1.5.0); CRDs without the annotation, or with a version that is not semver, are skipped.
    ///
    /// ## Why it matters
    /// Istio does not watch a Gateway API kind whose CRD is too old: routes of that kind are never
    /// processed, listeners report no attached routes, and traffic silently never arrives.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: apiextensions.k8s.io/v1
    /// kind: CustomResourceDefinition
    /// metadata:
    ///   name: tcproutes.gateway.networking.k8s.io
    ///   annotations:
    ///     gateway.networking.k8s.io/bundle-version: v1.2.1
    /// spec:
    ///   group: gateway.networking.k8s.io
    ///   names: {kind: TCPRoute, plural: tcproutes}
    ///   scope: Namespaced
    ///   versions: [{name: v1alpha2, served: true, storage: true}]
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: apiextensions.k8s.io/v1
    /// kind: CustomResourceDefinition
    /// metadata:
    ///   name: tcproutes.gateway.networking.k8s.io
    ///   annotations:
    ///     gateway.networking.k8s.io/bundle-version: v1.6.0
    /// spec:
    ///   group: gateway.networking.k8s.io
    ///   names: {kind: TCPRoute, plural: tcproutes}
    ///   scope: Namespaced
    ///   versions: [{name: v1alpha2, served: true, storage: true}]
    /// ```
    /// Install the Gateway API release that your Istio version documents.
    pub static CRD_VERSION_BELOW_MINIMUM = Rule {
        code: "IST0176",
        name: "GatewayAPICRDVersionBelowMinimum",
        severity: Warning,
        summary: "a gateway api crd is older than the version istio requires",
        mirrors: Some("k8sgateway.CRDVersionAnalyzer"),
        each: check on &[Kind::CustomResourceDefinition],
    };
}

const BUNDLE_VERSION: &str = "gateway.networking.k8s.io/bundle-version";

/// The minimum bundle version per CRD name.
const MINIMUMS: &[(&str, (u64, u64, u64))] = &[
    ("grpcroutes.gateway.networking.k8s.io", (1, 1, 0)),
    ("backendtlspolicies.gateway.networking.k8s.io", (1, 4, 0)),
    ("tlsroutes.gateway.networking.k8s.io", (1, 5, 0)),
    ("tcproutes.gateway.networking.k8s.io", (1, 6, 0)),
];

/// A semantic version as loosely written in annotations: an optional `v`, one to three numeric
/// parts (missing ones are 0), an optional `-pre.release` and `+build` metadata.
#[derive(Debug, PartialEq)]
struct Version {
    core: (u64, u64, u64),
    pre: String,
    build: String,
}

impl Version {
    fn parse(text: &str) -> Option<Version> {
        let rest = text.strip_prefix('v').unwrap_or(text);
        let (rest, build) = match rest.split_once('+') {
            Some((r, b)) => (r, Some(b)),
            None => (rest, None),
        };
        let (core, pre) = match rest.split_once('-') {
            Some((c, p)) => (c, Some(p)),
            None => (rest, None),
        };
        let numbers: Vec<&str> = core.split('.').collect();
        if numbers.is_empty() || numbers.len() > 3 {
            return None;
        }
        let mut parts = [0u64; 3];
        for (slot, n) in parts.iter_mut().zip(&numbers) {
            if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            *slot = n.parse().ok()?;
        }
        let identifiers_ok = |s: &str| {
            s.split('.').all(|id| {
                !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
        };
        if let Some(p) = pre {
            let leading_zero = p.split('.').any(|id| {
                id.len() > 1 && id.starts_with('0') && id.bytes().all(|b| b.is_ascii_digit())
            });
            if !identifiers_ok(p) || leading_zero {
                return None;
            }
        }
        if let Some(b) = build
            && !identifiers_ok(b)
        {
            return None;
        }
        Some(Version {
            core: (parts[0], parts[1], parts[2]),
            pre: pre.unwrap_or("").to_string(),
            build: build.unwrap_or("").to_string(),
        })
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (a, b, c) = self.core;
        write!(f, "{a}.{b}.{c}")?;
        if !self.pre.is_empty() {
            write!(f, "-{}", self.pre)?;
        }
        if !self.build.is_empty() {
            write!(f, "+{}", self.build)?;
        }
        Ok(())
    }
}

fn check(_: &Workspace, crd: &Resource, out: &mut Findings) {
    let Some(&(_, minimum)) = MINIMUMS.iter().find(|(name, _)| *name == crd.name) else {
        return;
    };
    let Some(node) = crd.annotations().and_then(|a| a.get(BUNDLE_VERSION)) else {
        return;
    };
    let Some(installed) = node.as_str().and_then(Version::parse) else {
        return;
    };
    if installed.core >= minimum {
        return;
    }
    let (a, b, c) = minimum;
    out.report(
        crd,
        node,
        format!(
            "Gateway API CRD \"{}\" is at bundle version {installed}, below the {a}.{b}.{c} \
             Istio requires; its resources will not be processed",
            crd.name
        ),
    )
    .help(format!(
        "upgrade the Gateway API CRDs to bundle version {a}.{b}.{c} or later"
    ));
}

#[cfg(test)]
mod tests {
    use super::Version;

    #[test]
    fn parses_loose_semver() {
        let v = Version::parse("v1.4.1").map(|v| v.core);
        assert_eq!(v, Some((1, 4, 1)));
        assert_eq!(Version::parse("1.5").map(|v| v.core), Some((1, 5, 0)));
        let rc = Version::parse("v1.5.0-rc.1+build.7");
        assert_eq!(rc.as_ref().map(|v| v.core), Some((1, 5, 0)));
        assert_eq!(
            rc.map(|v| v.to_string()).as_deref(),
            Some("1.5.0-rc.1+build.7")
        );
        assert!(Version::parse("latest").is_none());
        assert!(Version::parse("1.2.3.4").is_none());
        assert!(Version::parse("1.2.3-01").is_none());
    }
}
