//! Mirrors Istio's `annotations.K8sAnalyzer`: Istio annotations on Namespaces, Services, Pods and
//! Deployments that Istio does not know, that belong on another kind, that are deprecated, or
//! whose value the sidecar injector rejects.

use crate::declare_rule;
use crate::finding::{Findings, Issue, report_issues};
use crate::istio::annotations::{
    ALWAYS_IGNORED, ANNOTATED_KINDS, annotated_kind, annotations, is_istio_annotation, lookup,
    validate,
};
use crate::resource::Resource;
use crate::rule::{Each, Pass, Scope};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// An Istio annotation (`kubernetes.io/ingress.class`, or any key whose prefix ends in
    /// `istio.io`) in the `metadata.annotations` of a Namespace, Service, Pod or Deployment that
    /// Istio's catalogue says belongs on other kinds. On a Deployment, annotations meant for Pods
    /// belong in `spec.template.metadata.annotations`.
    ///
    /// ## Why it matters
    /// Istio reads each annotation from one kind of object only. Set anywhere else it is
    /// ignored: a sidecar setting on a Deployment's own metadata never reaches its Pods.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: apps/v1
    /// kind: Deployment
    /// metadata:
    ///   name: orders
    ///   namespace: orders
    ///   annotations:
    ///     sidecar.istio.io/proxyCPU: 200m
    /// spec:
    ///   selector:
    ///     matchLabels: {app: orders}
    ///   template:
    ///     metadata:
    ///       labels: {app: orders}
    ///     spec:
    ///       containers: [{name: orders, image: orders:4.0}]
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: apps/v1
    /// kind: Deployment
    /// metadata:
    ///   name: orders
    ///   namespace: orders
    /// spec:
    ///   selector:
    ///     matchLabels: {app: orders}
    ///   template:
    ///     metadata:
    ///       labels: {app: orders}
    ///       annotations:
    ///         sidecar.istio.io/proxyCPU: 200m
    ///     spec:
    ///       containers: [{name: orders, image: orders:4.0}]
    /// ```
    pub static MISPLACED_ANNOTATION = Rule {
        code: "IST0107",
        name: "MisplacedAnnotation",
        severity: Warning,
        summary: "an Istio annotation is set on a kind of resource it does not apply to",
        mirrors: Some("annotations.K8sAnalyzer"),
        pass: K8S_ANNOTATIONS,
    };
}

declare_rule! {
    /// ## What it checks
    /// An annotation in Istio's namespace (a key whose prefix ends in `istio.io`) on a
    /// Namespace, Service, Pod or Deployment that is not in Istio's annotation catalogue.
    ///
    /// ## Why it matters
    /// Istio ignores annotations it does not define. A misspelt key (`exportTo` written
    /// `exportto`, a wrong prefix) silently leaves the default behaviour in place.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: v1
    /// kind: Service
    /// metadata:
    ///   name: ledger
    ///   namespace: payments
    ///   annotations:
    ///     networking.istio.io/exportto: "."
    /// spec:
    ///   ports: [{name: http, port: 8080}]
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: v1
    /// kind: Service
    /// metadata:
    ///   name: ledger
    ///   namespace: payments
    ///   annotations:
    ///     networking.istio.io/exportTo: "."
    /// spec:
    ///   ports: [{name: http, port: 8080}]
    /// ```
    pub static UNKNOWN_ANNOTATION = Rule {
        code: "IST0108",
        name: "UnknownAnnotation",
        severity: Warning,
        summary: "an annotation in Istio's namespace is not one Istio defines",
        mirrors: Some("annotations.K8sAnalyzer"),
        pass: K8S_ANNOTATIONS,
    };
}

declare_rule! {
    /// ## What it checks
    /// The value of an Istio annotation on a Namespace, Service, Pod or Deployment where the
    /// sidecar injector checks it: readiness probe settings must be unsigned integers, port
    /// lists comma-separated port numbers, IP ranges comma-separated CIDRs (or `*` where
    /// allowed), interface names Linux interface names, `interceptionMode` one of `REDIRECT`,
    /// `TPROXY`, `NONE`, proxy CPU and memory Kubernetes quantities, `merge-metrics` a boolean,
    /// and `proxy.istio.io/config` a valid ProxyConfig (its most common checks).
    ///
    /// ## Why it matters
    /// The injector refuses a Pod with an invalid value, so the Pod is created without a
    /// sidecar, or, with a fail-closed webhook, not created at all.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: v1
    /// kind: Pod
    /// metadata:
    ///   name: courier
    ///   namespace: delivery
    ///   annotations:
    ///     traffic.sidecar.istio.io/excludeOutboundPorts: "5432;6379"
    /// spec:
    ///   containers: [{name: courier, image: courier:1.4}]
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: v1
    /// kind: Pod
    /// metadata:
    ///   name: courier
    ///   namespace: delivery
    ///   annotations:
    ///     traffic.sidecar.istio.io/excludeOutboundPorts: "5432,6379"
    /// spec:
    ///   containers: [{name: courier, image: courier:1.4}]
    /// ```
    pub static INVALID_ANNOTATION = Rule {
        code: "IST0125",
        name: "InvalidAnnotation",
        severity: Warning,
        summary: "an Istio annotation has a value the sidecar injector rejects",
        mirrors: Some("annotations.K8sAnalyzer"),
        pass: K8S_ANNOTATIONS,
    };
}

declare_rule! {
    /// ## What it checks
    /// An Istio annotation that Istio's catalogue marks deprecated, on a Namespace, Service, Pod
    /// or Deployment. The `sidecar.istio.io/inject` annotation is not reported when the resource
    /// also carries the `sidecar.istio.io/inject` label that replaces it.
    ///
    /// ## Why it matters
    /// Deprecated annotations lose their effect in a later release (several stats annotations
    /// already gave way to MeshConfig and Telemetry settings); moving now avoids a silent
    /// change at upgrade time.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: v1
    /// kind: Pod
    /// metadata:
    ///   name: kitchen-printer
    ///   namespace: kitchen
    ///   annotations:
    ///     sidecar.istio.io/inject: "true"
    /// spec:
    ///   containers: [{name: printer, image: printer:1.0}]
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: v1
    /// kind: Pod
    /// metadata:
    ///   name: kitchen-printer
    ///   namespace: kitchen
    ///   labels:
    ///     sidecar.istio.io/inject: "true"
    /// spec:
    ///   containers: [{name: printer, image: printer:1.0}]
    /// ```
    pub static DEPRECATED_ANNOTATION = Rule {
        code: "IST0135",
        name: "DeprecatedAnnotation",
        severity: Info,
        summary: "an Istio annotation is deprecated",
        mirrors: Some("annotations.K8sAnalyzer"),
        pass: K8S_ANNOTATIONS,
    };
}

/// One run of Istio's `annotations.K8sAnalyzer` for all of its rules.
static K8S_ANNOTATIONS: Pass = Pass {
    name: "annotations.K8sAnalyzer",
    check: Scope::Each(Each {
        kinds: ANNOTATED_KINDS,
        check,
    }),
};

fn check(_: &Workspace, resource: &Resource, out: &mut Findings) {
    if let Some(kind) = annotated_kind(resource) {
        report_issues(out, analyze(resource, kind));
    }
}

fn analyze<'r>(resource: &'r Resource, kind: &str) -> Vec<Issue<'r>> {
    let mut issues = Vec::new();
    for (key, key_node, value) in annotations(resource) {
        if !is_istio_annotation(key) || ALWAYS_IGNORED.contains(&key) {
            continue;
        }
        let Some(def) = lookup(key) else {
            issues.push(
                Issue::new(
                    &UNKNOWN_ANNOTATION,
                    resource,
                    key_node,
                    format!("unknown Istio annotation {key:?}"),
                )
                .help("check the spelling against Istio's annotation reference, or remove it"),
            );
            continue;
        };
        if def.deprecated {
            let replaced_by_label = key == "sidecar.istio.io/inject"
                && resource.labels().and_then(|l| l.get(key)).is_some();
            if !replaced_by_label {
                let mut issue = Issue::new(
                    &DEPRECATED_ANNOTATION,
                    resource,
                    key_node,
                    format!("annotation {key:?} is deprecated"),
                );
                if key == "sidecar.istio.io/inject" {
                    issue = issue.help("use the `sidecar.istio.io/inject` label instead");
                }
                issues.push(issue);
            }
        }
        if def.resources.contains(&"Any") {
            continue;
        }
        if !def.resources.contains(&kind) {
            let kinds = def.resources.join(", ");
            let mut issue = Issue::new(
                &MISPLACED_ANNOTATION,
                resource,
                key_node,
                format!("annotation {key:?} applies to {kinds}, not to {kind}"),
            );
            if kind == "Deployment" && def.resources.contains(&"Pod") {
                issue = issue.help("move it to `spec.template.metadata.annotations`");
            }
            issues.push(issue);
            continue;
        }
        let text = value.scalar().map(|s| s.text.as_str()).unwrap_or("");
        if let Some(Err(problem)) = validate(key, text) {
            issues.push(Issue::new(
                &INVALID_ANNOTATION,
                resource,
                value,
                format!("invalid value for annotation {key:?}: {problem}"),
            ));
        }
    }
    issues
}
