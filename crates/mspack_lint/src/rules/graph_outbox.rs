use mspack_yaml::Node;

use crate::crossref::containers;
use crate::declare_rule;
use crate::finding::Findings;
use crate::graph::{OUTBOX_ANNOTATION, PUBLISHES_ANNOTATION};
use crate::pod_security::workloads;
use crate::resource::Resource;
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// Workloads that declare the events they publish (`events.mspack.io/publishes`) but no
    /// outbox relay: neither the annotation `events.mspack.io/outbox` (`"true"` or the relay's
    /// name; `"false"` counts as none) nor a relay in the pod, that is a container whose name
    /// contains `relay` or `outbox`, or a `relay` or `relay-<name>` component in a container's
    /// args or command (as `serve orders,relay-orders` of the food-delivery example). Services
    /// made by `mspack new --messaging nats` run their relay in process; beside a publishes
    /// annotation on one, add `events.mspack.io/outbox: "true"`. Reported at the publishes
    /// annotation.
    ///
    /// Off by default; `mspack graph --check` runs it, or enable it with `--extend-select MSP5`.
    ///
    /// ## Why it matters
    /// A service that writes its database and then publishes to the broker loses the event when
    /// it crashes or the broker is down between the two (the dual-write problem), and the other
    /// contexts silently diverge. The transactional outbox stores the event with the state
    /// change in one transaction; a relay publishes it afterwards, at least once.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: apps/v1
    /// kind: Deployment
    /// metadata:
    ///   name: orders
    ///   namespace: orders
    ///   annotations: {events.mspack.io/publishes: "orders.placed, orders.cancelled"}
    /// spec:
    ///   selector: {matchLabels: {app: orders}}
    ///   template:
    ///     metadata: {labels: {app: orders}}
    ///     spec: {containers: [{name: orders, image: orders, args: [serve, orders]}]}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: apps/v1
    /// kind: Deployment
    /// metadata:
    ///   name: orders
    ///   namespace: orders
    ///   annotations: {events.mspack.io/publishes: "orders.placed, orders.cancelled"}
    /// spec:
    ///   selector: {matchLabels: {app: orders}}
    ///   template:
    ///     metadata: {labels: {app: orders}}
    ///     spec: {containers: [{name: orders, image: orders, args: [serve, "orders,relay-orders"]}]}
    /// ```
    /// Store events in an outbox table in the same transaction as the state change and run its
    /// relay (`mspack_outbox`) in the pod; or, if a relay runs elsewhere, say so with
    /// `events.mspack.io/outbox: "<relay name>"`.
    pub static PUBLISHES_WITHOUT_OUTBOX = Rule {
        code: "MSP507",
        name: "publishes-without-outbox",
        severity: Warning,
        summary: "a workload publishes events but declares no outbox relay",
        mirrors: None,
        enabled_by_default: false,
        check: check,
    };
}

fn check(ws: &Workspace, out: &mut Findings) {
    for r in workloads(ws).filter(|r| !r.assumed) {
        let Some(published) = r.annotations().and_then(|a| a.get(PUBLISHES_ANNOTATION)) else {
            continue;
        };
        if published.as_str().is_none_or(|s| s.trim().is_empty()) || has_outbox(r) {
            continue;
        }
        out.report(
            r,
            published,
            format!(
                "{} publishes events but declares no outbox relay: an event written after the \
                 database commit is lost when the pod or the broker fails in between",
                r.display_name()
            ),
        )
        .help(format!(
            "publish through a transactional outbox and its relay (`mspack_outbox`), and declare it \
             with a relay in the pod or `{OUTBOX_ANNOTATION}: \"true\"`"
        ));
    }
}

fn has_outbox(r: &Resource) -> bool {
    let annotated = [
        r.annotation(OUTBOX_ANNOTATION),
        r.pod_template()
            .and_then(|t| t.path(&["metadata", "annotations", OUTBOX_ANNOTATION]))
            .and_then(Node::as_str),
    ];
    if let Some(value) = annotated.into_iter().flatten().next() {
        let v = value.trim();
        return !(v.is_empty()
            || v.eq_ignore_ascii_case("false")
            || v.eq_ignore_ascii_case("none"));
    }
    containers(r).any(|c| {
        let name = c.name.to_ascii_lowercase();
        name.contains("relay")
            || name.contains("outbox")
            || ["args", "command"].iter().any(|list| {
                c.node
                    .get(list)
                    .into_iter()
                    .flat_map(Node::items)
                    .filter_map(Node::as_str)
                    .flat_map(|a| a.split([',', ' ']))
                    .any(|part| part == "relay" || part.starts_with("relay-"))
            })
    })
}
