use mspack_yaml::Node;

use crate::declare_rule;
use crate::finding::Findings;
use crate::pod_security::{checked_containers, describe, is_istio_workload};
use crate::resource::{Kind, Resource};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// Every container, init container and ephemeral container of Pods and of the pod
    /// templates of Deployments, StatefulSets, DaemonSets, ReplicaSets, ReplicationControllers,
    /// Jobs, CronJobs and Argo Rollouts whose `image` has the tag `latest` or no tag at all
    /// (which pulls `latest`). An image pinned by digest (`name@sha256:...`, with or without a
    /// tag) is fine; an image written with a variable (`$(IMAGE)`, `${TAG}`) or a template is
    /// not judged. A registry port (`registry:5000/app`) is not a tag.
    ///
    /// kube-linter's `latest-tag` and Polaris' `tagNotSpecified` cover the same ground.
    ///
    /// Istio is understood, not reported: the injected containers' `image: auto` is resolved
    /// by the injector, and Istio's own pods are not checked.
    ///
    /// Off by default; enable the MSP2xx rules with `--extend-select MSP2` (on top of the
    /// default set) or `--select MSP2` (alone).
    ///
    /// ## Why it matters
    /// `latest` names whatever was pushed last: two pods of one Deployment can run different
    /// code, a rollback redeploys the new image, and nothing in the manifest says what runs.
    /// The kubelet also pulls such an image on every start (`imagePullPolicy` defaults to
    /// `Always`), so a registry outage stops pods from starting.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: apps/v1
    /// kind: Deployment
    /// metadata: {name: orders, namespace: food}
    /// spec:
    ///   selector: {matchLabels: {app: orders}}
    ///   template:
    ///     metadata: {labels: {app: orders}}
    ///     spec:
    ///       containers:
    ///       - name: orders
    ///         image: food/orders:latest
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: apps/v1
    /// kind: Deployment
    /// metadata: {name: orders, namespace: food}
    /// spec:
    ///   selector: {matchLabels: {app: orders}}
    ///   template:
    ///     metadata: {labels: {app: orders}}
    ///     spec:
    ///       containers:
    ///       - name: orders
    ///         image: food/orders:1.4.2
    /// ```
    /// Name a version tag, or pin the digest (`food/orders@sha256:...`).
    pub static IMAGE_NOT_PINNED = Rule {
        code: "MSP209",
        name: "image-not-pinned",
        severity: Warning,
        summary: "a container image uses the latest tag or no tag",
        mirrors: None,
        enabled_by_default: false,
        each: check on Kind::WORKLOADS,
    };
}

/// What is wrong with an image reference, if anything.
#[derive(Debug, PartialEq, Eq)]
pub enum Unpinned {
    Latest,
    Untagged,
}

/// Read an image reference: `None` when it is pinned (a tag other than `latest`, or a digest)
/// or cannot be judged (empty, a variable, a template).
pub fn unpinned(image: &str) -> Option<Unpinned> {
    let image = image.trim();
    if image.is_empty() || image.contains(['$', '{', '}', ' ']) || image.contains('@') {
        return None;
    }
    // The tag is after a colon in the last path component (a colon before a slash is a port).
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        Some((_, "latest")) => Some(Unpinned::Latest),
        Some((_, "")) => None,
        Some(_) => None,
        None => Some(Unpinned::Untagged),
    }
}

fn check(_: &Workspace, workload: &Resource, out: &mut Findings) {
    if is_istio_workload(workload) {
        return;
    }
    for c in checked_containers(workload) {
        let Some(node) = c.node.get("image") else {
            continue;
        };
        let Some(kind) = Node::as_str(node).and_then(unpinned) else {
            continue;
        };
        let what = match kind {
            Unpinned::Latest => "uses the `latest` tag",
            Unpinned::Untagged => "has no tag, so it pulls `latest`",
        };
        out.report(
            workload,
            node,
            format!(
                "{} image {:?} {what}: what runs changes with every push and pods of one \
                 rollout can run different code",
                describe(&c),
                node.as_str().unwrap_or("")
            ),
        )
        .help("name a version tag, or pin the image by digest (`name@sha256:...`)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references() {
        assert_eq!(unpinned("nginx"), Some(Unpinned::Untagged));
        assert_eq!(unpinned("nginx:latest"), Some(Unpinned::Latest));
        assert_eq!(unpinned("registry:5000/app"), Some(Unpinned::Untagged));
        assert_eq!(unpinned("registry:5000/app:1.2"), None);
        assert_eq!(unpinned("app@sha256:abcd"), None);
        assert_eq!(unpinned("app:latest@sha256:abcd"), None);
        assert_eq!(unpinned("app:${TAG}"), None);
        assert_eq!(unpinned(""), None);
        assert_eq!(unpinned("gcr.io/x/y:v1"), None);
    }
}
