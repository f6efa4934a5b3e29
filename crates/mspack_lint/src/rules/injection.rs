use std::collections::HashSet;

use mspack_yaml::Node;

use crate::declare_rule;
use crate::finding::Findings;
use crate::resource::{Kind, Resource};
use crate::workloads::{
    DATAPLANE_MODE_LABEL, INJECTION_LABEL, Labels, REVISION_LABEL, SIDECAR_INJECT,
    has_proxy_container, label, read_labels,
};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// Every Namespace object that carries neither an `istio-injection` label nor an
    /// `istio.io/rev` label (an `istio-injection` label with an empty value counts as absent).
    /// `istio-system` and ambient namespaces (`istio.io/dataplane-mode: ambient`) are skipped,
    /// and so is every namespace when the `istio-sidecar-injector` ConfigMap turns
    /// `sidecarInjectorWebhook.enableNamespacesByDefault` on (IST0148 reports those instead).
    ///
    /// ## Why it matters
    /// Pods created in such a namespace get no sidecar: they are outside the mesh, send and
    /// receive plain text, and mesh policies do not apply to them. Marking the namespace either
    /// way records the decision.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: v1
    /// kind: Namespace
    /// metadata:
    ///   name: orders
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: v1
    /// kind: Namespace
    /// metadata:
    ///   name: orders
    ///   labels:
    ///     istio-injection: enabled
    /// ```
    /// Use `istio-injection: disabled` for a namespace that is meant to stay outside the mesh,
    /// or `istio.io/rev: <revision>` for revision-based injection.
    pub static NAMESPACE_NOT_INJECTED = Rule {
        code: "IST0102",
        name: "NamespaceNotInjected",
        severity: Info,
        summary: "a namespace has no sidecar injection label",
        mirrors: Some("injection.Analyzer"),
        check: check_not_injected,
    };
}

declare_rule! {
    /// ## What it checks
    /// Every Pod manifest in a namespace labelled `istio-injection: enabled` (not ambient) that
    /// has no `istio-proxy` container with an image (among its containers and init containers),
    /// unless the Pod turns injection off (`sidecar.istio.io/inject: "false"` as label or
    /// annotation, the label winning) or uses the host network.
    ///
    /// Off by default: a Pod manifest is normally injected when it is created, so a Pod in a
    /// file without the proxy is expected. Select it (`--select IST0103`) to check Pods dumped
    /// from a running cluster, as Istio does.
    ///
    /// ## Why it matters
    /// A running Pod in an injected namespace without the proxy was created before injection
    /// was turned on, or injection failed: it is outside the mesh until it is restarted.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: v1
    /// kind: Namespace
    /// metadata: {name: kitchen, labels: {istio-injection: enabled}}
    /// ---
    /// apiVersion: v1
    /// kind: Pod
    /// metadata: {name: oven-7d9f, namespace: kitchen}
    /// spec:
    ///   containers: [{name: oven, image: food/oven:1.0}]
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: v1
    /// kind: Namespace
    /// metadata: {name: kitchen, labels: {istio-injection: enabled}}
    /// ---
    /// apiVersion: v1
    /// kind: Pod
    /// metadata: {name: oven-7d9f, namespace: kitchen}
    /// spec:
    ///   containers:
    ///   - {name: oven, image: food/oven:1.0}
    ///   - {name: istio-proxy, image: docker.io/istio/proxyv2:1.24.0}
    /// ```
    /// In a cluster, restart the workload (`kubectl rollout restart`) so it is re-created with
    /// the proxy.
    pub static POD_MISSING_PROXY = Rule {
        code: "IST0103",
        name: "PodMissingProxy",
        severity: Warning,
        summary: "a pod in an injected namespace has no istio-proxy container",
        mirrors: Some("injection.Analyzer"),
        enabled_by_default: false,
        check: check_pod_missing_proxy,
    };
}

declare_rule! {
    /// ## What it checks
    /// Every Namespace object (other than `istio-system`) with more than one kind of injection
    /// label: `istio-injection` together with `istio.io/rev` or `istio.io/dataplane-mode`, or
    /// `istio.io/rev` together with `istio.io/dataplane-mode`. An `istio-injection` label with a
    /// value other than `enabled` turns the others off and is not a conflict.
    ///
    /// ## Why it matters
    /// The labels select different control planes or data plane modes; which one wins depends
    /// on the webhooks installed, so pods can be injected by an unexpected revision, twice, or
    /// not at all.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: v1
    /// kind: Namespace
    /// metadata:
    ///   name: payments
    ///   labels:
    ///     istio-injection: enabled
    ///     istio.io/rev: canary
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: v1
    /// kind: Namespace
    /// metadata:
    ///   name: payments
    ///   labels:
    ///     istio.io/rev: canary
    /// ```
    pub static MULTIPLE_INJECTION_LABELS = Rule {
        code: "IST0123",
        name: "NamespaceMultipleInjectionLabels",
        severity: Warning,
        summary: "a namespace has more than one kind of injection label",
        mirrors: Some("injection.Analyzer"),
        check: check_multiple_labels,
    };
}

declare_rule! {
    /// ## What it checks
    /// When the `istio-sidecar-injector` ConfigMap's `values` set
    /// `sidecarInjectorWebhook.enableNamespacesByDefault: true`, every Namespace object (other
    /// than `istio-system`, and not ambient) with neither an `istio-injection` nor an
    /// `istio.io/rev` label.
    ///
    /// ## Why it matters
    /// With that setting every namespace without a label is injected. That is easy to forget:
    /// workloads that should stay out of the mesh (jobs, system tools) get a sidecar. The
    /// finding tells you which namespaces are injected only through the default.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: v1
    /// kind: ConfigMap
    /// metadata: {name: istio-sidecar-injector, namespace: istio-system}
    /// data:
    ///   values: '{"sidecarInjectorWebhook": {"enableNamespacesByDefault": true}}'
    /// ---
    /// apiVersion: v1
    /// kind: Namespace
    /// metadata: {name: delivery}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: v1
    /// kind: ConfigMap
    /// metadata: {name: istio-sidecar-injector, namespace: istio-system}
    /// data:
    ///   values: '{"sidecarInjectorWebhook": {"enableNamespacesByDefault": true}}'
    /// ---
    /// apiVersion: v1
    /// kind: Namespace
    /// metadata: {name: delivery, labels: {istio-injection: enabled}}
    /// ```
    pub static INJECTION_ENABLED_BY_DEFAULT = Rule {
        code: "IST0148",
        name: "NamespaceInjectionEnabledByDefault",
        severity: Info,
        summary: "a namespace without injection labels is injected only through enableNamespacesByDefault",
        mirrors: Some("injection.Analyzer"),
        check: check_enabled_by_default,
    };
}

/// The injector ConfigMap of the default revision.
const INJECTOR_CONFIG_MAP: &str = "istio-sidecar-injector";

/// Namespaces the injection rules look at: Namespace objects other than `istio-system`, with
/// their labels.
fn namespaces(ws: &Workspace) -> impl Iterator<Item = (&Resource, Labels)> {
    ws.of_kind(Kind::Namespace)
        .filter(|ns| ns.name != "istio-system")
        .map(|ns| (ns, read_labels(ns.labels())))
}

fn is_ambient(labels: &Labels) -> bool {
    label(labels, DATAPLANE_MODE_LABEL) == Some("ambient")
}

/// Neither injection label: `istio-injection` absent or empty, and no `istio.io/rev`.
fn unlabelled(labels: &Labels) -> bool {
    label(labels, INJECTION_LABEL).unwrap_or("").is_empty()
        && label(labels, REVISION_LABEL).is_none()
}

/// `sidecarInjectorWebhook.enableNamespacesByDefault` from the first `istio-sidecar-injector`
/// ConfigMap's `values` JSON; `false` when absent or unreadable.
fn enabled_by_default(ws: &Workspace) -> bool {
    let Some(cm) = ws
        .of_kind(Kind::ConfigMap)
        .find(|cm| cm.name == INJECTOR_CONFIG_MAP)
    else {
        return false;
    };
    let Some(values) = cm.root.path(&["data", "values"]).and_then(Node::as_str) else {
        return false;
    };
    serde_json::from_str::<serde_json::Value>(values)
        .ok()
        .and_then(|v| {
            v.get("sidecarInjectorWebhook")?
                .get("enableNamespacesByDefault")?
                .as_bool()
        })
        .unwrap_or(false)
}

/// Namespaces with no injection label (and not in ambient mode), when the injector's
/// `enableNamespacesByDefault` is `by_default`: IST0102 reports them when it is off, IST0148
/// when it is on.
fn unlabelled_namespaces(ws: &Workspace, by_default: bool) -> Vec<&Resource> {
    if enabled_by_default(ws) != by_default {
        return Vec::new();
    }
    namespaces(ws)
        .filter(|(_, labels)| !is_ambient(labels) && unlabelled(labels))
        .map(|(ns, _)| ns)
        .collect()
}

fn check_not_injected(ws: &Workspace, out: &mut Findings) {
    for ns in unlabelled_namespaces(ws, false) {
        out.report(
            ns,
            ns.anchor(),
            format!(
                "namespace \"{}\" is not enabled for Istio injection",
                ns.name
            ),
        )
        .help(format!(
            "label it `istio-injection=enabled` (or `istio.io/rev=<revision>`) to inject \
             sidecars, or `istio-injection=disabled` to record that {} stays outside the mesh",
            ns.name
        ));
    }
}

fn check_enabled_by_default(ws: &Workspace, out: &mut Findings) {
    for ns in unlabelled_namespaces(ws, true) {
        out.report(
            ns,
            ns.anchor(),
            format!(
                "namespace \"{}\" has no injection label and is injected only because the sidecar injector enables namespaces by default",
                ns.name
            ),
        )
        .help("label it `istio-injection=enabled` or `istio-injection=disabled` to make the choice explicit");
    }
}

fn check_multiple_labels(ws: &Workspace, out: &mut Findings) {
    for (ns, labels) in namespaces(ws) {
        let injection = label(&labels, INJECTION_LABEL);
        let mut found: Vec<String> = Vec::new();
        if let Some(v) = injection {
            found.push(format!("{INJECTION_LABEL}={v}"));
        }
        if injection.is_none_or(|v| v == "enabled") {
            for key in [REVISION_LABEL, DATAPLANE_MODE_LABEL] {
                if let Some(v) = label(&labels, key) {
                    found.push(format!("{key}={v}"));
                }
            }
        }
        if found.len() < 2 {
            continue;
        }
        let node = ns
            .labels()
            .and_then(|l| {
                l.get_entry(INJECTION_LABEL)
                    .or_else(|| l.get_entry(REVISION_LABEL))
            })
            .map(|(k, _)| k)
            .unwrap_or(ns.anchor());
        out.report(
            ns,
            node,
            format!(
                "namespace \"{}\" has more than one kind of injection label: {}",
                ns.name,
                found.join(", ")
            ),
        )
        .help(
            "keep exactly one of `istio-injection`, `istio.io/rev` and `istio.io/dataplane-mode`",
        );
    }
}

fn check_pod_missing_proxy(ws: &Workspace, out: &mut Findings) {
    let injected: HashSet<&str> = namespaces(ws)
        .filter(|(_, labels)| {
            !is_ambient(labels) && label(labels, INJECTION_LABEL) == Some("enabled")
        })
        .map(|(ns, _)| ns.name.as_str())
        .collect();
    for pod in ws.of_kind(Kind::Pod) {
        if !injected.contains(pod.ns.as_str()) {
            continue;
        }
        // The label wins over the annotation when both are present.
        let pod_labels = read_labels(pod.labels());
        let annotations = read_labels(pod.annotations());
        let inject = label(&pod_labels, SIDECAR_INJECT)
            .or_else(|| label(&annotations, SIDECAR_INJECT))
            .unwrap_or("");
        if inject.eq_ignore_ascii_case("false")
            || pod.spec_at(&["hostNetwork"]).and_then(Node::as_bool) == Some(true)
        {
            continue;
        }
        if has_proxy_container(pod.spec(), &["containers", "initContainers"]) {
            continue;
        }
        let full = pod.full_name();
        out.report(
            pod,
            pod.anchor(),
            format!(
                "pod \"{full}\" has no istio-proxy container although namespace \"{}\" is injected",
                pod.ns
            ),
        )
        .help("restart or redeploy the workload so the injector adds the proxy");
    }
}
