use mspack_yaml::Node;

use crate::declare_rule;
use crate::finding::Findings;
use crate::resource::{Kind, Resource};
use crate::workloads::{PROXY_CONTAINER, Selector, namespace_labels, read_labels};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// Every Deployment whose pod template has an `istio-proxy` container with `image: auto`
    /// (the gateway injection pattern) that no Istio injection webhook selects: no webhook whose
    /// name ends in `istio.io`, in any MutatingWebhookConfiguration of the analysed set, has a
    /// `namespaceSelector` matching the labels of the Deployment's Namespace object and an
    /// `objectSelector` matching the pod template's labels. A Deployment without a namespace is
    /// looked up in `default`. Without the webhook configurations in the files, every such
    /// Deployment is flagged.
    ///
    /// ## Why it matters
    /// `image: auto` is a placeholder that only the injector replaces. Pods that the injector
    /// never sees keep it and fail to pull the image `auto`, so the gateway never starts.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: admissionregistration.k8s.io/v1
    /// kind: MutatingWebhookConfiguration
    /// metadata: {name: istio-sidecar-injector}
    /// webhooks:
    /// - name: namespace.sidecar-injector.istio.io
    ///   clientConfig: {service: {name: istiod, namespace: istio-system}}
    ///   namespaceSelector: {matchLabels: {istio-injection: enabled}}
    /// ---
    /// apiVersion: v1
    /// kind: Namespace
    /// metadata: {name: storefront}
    /// ---
    /// apiVersion: apps/v1
    /// kind: Deployment
    /// metadata: {name: storefront-gateway, namespace: storefront}
    /// spec:
    ///   selector: {matchLabels: {istio: storefront-gateway}}
    ///   template:
    ///     metadata:
    ///       annotations: {inject.istio.io/templates: gateway}
    ///       labels: {istio: storefront-gateway}
    ///     spec:
    ///       containers: [{name: istio-proxy, image: auto}]
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: admissionregistration.k8s.io/v1
    /// kind: MutatingWebhookConfiguration
    /// metadata: {name: istio-sidecar-injector}
    /// webhooks:
    /// - name: namespace.sidecar-injector.istio.io
    ///   clientConfig: {service: {name: istiod, namespace: istio-system}}
    ///   namespaceSelector: {matchLabels: {istio-injection: enabled}}
    /// ---
    /// apiVersion: v1
    /// kind: Namespace
    /// metadata: {name: storefront, labels: {istio-injection: enabled}}
    /// ---
    /// apiVersion: apps/v1
    /// kind: Deployment
    /// metadata: {name: storefront-gateway, namespace: storefront}
    /// spec:
    ///   selector: {matchLabels: {istio: storefront-gateway}}
    ///   template:
    ///     metadata:
    ///       annotations: {inject.istio.io/templates: gateway}
    ///       labels: {istio: storefront-gateway}
    ///     spec:
    ///       containers: [{name: istio-proxy, image: auto}]
    /// ```
    pub static IMAGE_AUTO_WITHOUT_INJECTION_WARNING = Rule {
        code: "IST0146",
        name: "ImageAutoWithoutInjectionWarning",
        severity: Warning,
        summary: "a deployment uses image: auto but no istio injection webhook selects it",
        mirrors: Some("injection.ImageAutoAnalyzer"),
        each: check_deployments on &[Kind::Deployment],
    };
}

declare_rule! {
    /// ## What it checks
    /// Every Pod whose `istio-proxy` container still has `image: auto`.
    ///
    /// Off by default: in a Pod manifest `image: auto` is the normal placeholder that injection
    /// replaces when the Pod is created. Select it (`--select IST0147`) to check Pods dumped
    /// from a running cluster, as Istio does: there the placeholder means injection never ran.
    ///
    /// ## Why it matters
    /// A running Pod with the placeholder was not injected; its proxy container cannot pull
    /// the image `auto` and the Pod never becomes ready.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: v1
    /// kind: Pod
    /// metadata: {name: storefront-gateway-5c8d, namespace: storefront}
    /// spec:
    ///   containers: [{name: istio-proxy, image: auto}]
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: v1
    /// kind: Pod
    /// metadata: {name: storefront-gateway-5c8d, namespace: storefront}
    /// spec:
    ///   containers: [{name: istio-proxy, image: docker.io/istio/proxyv2:1.24.0}]
    /// ```
    /// In a cluster, label the namespace or pod so an Istio injection webhook selects it, then
    /// re-create the Pod.
    pub static IMAGE_AUTO_WITHOUT_INJECTION_ERROR = Rule {
        code: "IST0147",
        name: "ImageAutoWithoutInjectionError",
        severity: Error,
        summary: "a pod still has image: auto on its istio-proxy container",
        mirrors: Some("injection.ImageAutoAnalyzer"),
        enabled_by_default: false,
        each: check_pods on &[Kind::Pod],
    };
}

/// The `istio-proxy` container of a pod spec whose image is the `auto` placeholder.
fn auto_image(spec: Option<&Node>) -> Option<&Node> {
    spec?
        .get("containers")?
        .items()
        .filter(|c| c.get("name").and_then(Node::as_str) == Some(PROXY_CONTAINER))
        .find_map(|c| c.get("image").filter(|i| i.as_str() == Some("auto")))
}

/// Namespace and object selectors of every Istio injection webhook.
/// The namespace and object selectors of Istio's injection webhooks.
struct IstioWebhooks(Vec<(Selector, Selector)>);

fn istio_webhooks(ws: &Workspace) -> Vec<(Selector, Selector)> {
    ws.of_kind(Kind::MutatingWebhookConfiguration)
        .flat_map(|mwc| mwc.root.get("webhooks").into_iter().flat_map(Node::items))
        .filter(|wh| {
            wh.get("name")
                .and_then(Node::as_str)
                .is_some_and(|n| n.ends_with("istio.io"))
        })
        .map(|wh| {
            (
                Selector::parse(wh.get("namespaceSelector")),
                Selector::parse(wh.get("objectSelector")),
            )
        })
        .collect()
}

fn check_deployments(ws: &Workspace, deployment: &Resource, out: &mut Findings) {
    let Some(image) = auto_image(deployment.spec_at(&["template", "spec"])) else {
        return;
    };
    let webhooks = ws.shared(|| IstioWebhooks(istio_webhooks(ws)));
    let ns = if deployment.ns.is_empty() {
        "default"
    } else {
        deployment.ns.as_str()
    };
    let ns_labels = namespace_labels(ws, ns).unwrap_or_default();
    let pod_labels = read_labels(deployment.spec_at(&["template", "metadata", "labels"]));
    if webhooks
        .0
        .iter()
        .any(|(nss, objs)| nss.matches(&ns_labels) && objs.matches(&pod_labels))
    {
        return;
    }
    out.report(
        deployment,
        image,
        format!(
            "deployment \"{}\" has `image: auto` on its istio-proxy container but no Istio injection webhook selects its pods",
            deployment.name
        ),
    )
    .help("label the namespace (e.g. `istio-injection=enabled`) or the pod template so an Istio injection webhook selects it");
}

fn check_pods(_: &Workspace, pod: &Resource, out: &mut Findings) {
    if let Some(image) = auto_image(pod.spec()) {
        out.report(
            pod,
            image,
            format!(
                "pod \"{}\" still has `image: auto` on its istio-proxy container, so it was not injected",
                pod.name
            ),
        )
        .help(
            "make an Istio injection webhook select the pod (namespace or pod labels) and re-create it",
        );
    }
}
