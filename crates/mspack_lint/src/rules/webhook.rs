use std::collections::{BTreeMap, BTreeSet, HashSet};

use mspack_yaml::Node;

use crate::declare_rule;
use crate::finding::{Findings, Seen};
use crate::resource::{Kind, Resource, full_name};
use crate::workloads::{INJECTION_LABEL, Labels, REVISION_LABEL, SIDECAR_INJECT, Selector};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// Istio's sidecar injection webhooks: the MutatingWebhookConfigurations that carry an
    /// `istio.io/rev` label, name a revision in a selector, or have a webhook whose name ends in
    /// `istio.io`. Two problems are reported on the configuration:
    /// - overlap: for some namespace labels (none, `istio-injection: enabled` or `disabled`,
    ///   each with and without `istio.io/rev: <revision>` for every revision found) combined
    ///   with some pod labels (none, `sidecar.istio.io/inject: "true"` or `"false"`, likewise
    ///   with each revision), more than one webhook's `namespaceSelector` and `objectSelector`
    ///   both match;
    /// - a webhook whose `clientConfig.service` names a Service that is not in the analysed set.
    ///
    /// ## Why it matters
    /// Two matching injection webhooks inject a pod twice (or with the wrong revision), which
    /// breaks pod creation or yields a pod with two proxies. A webhook pointing at a missing
    /// Service makes every pod creation in the selected namespaces wait for a timeout and then
    /// fail or skip injection, depending on its `failurePolicy`.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: admissionregistration.k8s.io/v1
    /// kind: MutatingWebhookConfiguration
    /// metadata: {name: istio-sidecar-injector}
    /// webhooks:
    /// - name: sidecar-injector.istio.io
    ///   clientConfig: {service: {name: istiod, namespace: istio-system}}
    ///   namespaceSelector: {matchLabels: {istio-injection: enabled}}
    /// ---
    /// apiVersion: admissionregistration.k8s.io/v1
    /// kind: MutatingWebhookConfiguration
    /// metadata: {name: istio-sidecar-injector-canary}
    /// webhooks:
    /// - name: sidecar-injector.istio.io
    ///   clientConfig: {service: {name: istiod-canary, namespace: istio-system}}
    ///   namespaceSelector: {matchLabels: {istio-injection: enabled}}
    /// ---
    /// apiVersion: v1
    /// kind: Service
    /// metadata: {name: istiod, namespace: istio-system}
    /// spec:
    ///   ports: [{name: https-webhook, port: 443}]
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: admissionregistration.k8s.io/v1
    /// kind: MutatingWebhookConfiguration
    /// metadata: {name: istio-sidecar-injector}
    /// webhooks:
    /// - name: sidecar-injector.istio.io
    ///   clientConfig: {service: {name: istiod, namespace: istio-system}}
    ///   namespaceSelector: {matchLabels: {istio-injection: enabled}}
    /// ---
    /// apiVersion: v1
    /// kind: Service
    /// metadata: {name: istiod, namespace: istio-system}
    /// spec:
    ///   ports: [{name: https-webhook, port: 443}]
    /// ```
    pub static INVALID_WEBHOOK = Rule {
        code: "IST0139",
        name: "InvalidWebhook",
        severity: Error,
        summary: "istio injection webhooks overlap or point at a missing service",
        mirrors: Some("webhook.Analyzer"),
        check: check,
    };
}

/// One webhook of an Istio injection configuration.
struct Hook<'a> {
    config: &'a Resource,
    /// `configuration/webhook`.
    key: String,
    node: &'a Node,
    namespace_selector: Selector,
    object_selector: Selector,
}

fn check(ws: &Workspace, out: &mut Findings) {
    // Configurations by name: a later one with the same name replaces an earlier one.
    let mut configs: BTreeMap<&str, &Resource> = BTreeMap::new();
    let mut revisions: BTreeSet<String> = BTreeSet::new();
    for mwc in ws.of_kind(Kind::MutatingWebhookConfiguration) {
        let webhooks: Vec<&Node> = mwc
            .root
            .get("webhooks")
            .into_iter()
            .flat_map(Node::items)
            .collect();
        let mut revs: BTreeSet<String> = BTreeSet::new();
        if let Some(rev) = mwc
            .labels()
            .into_iter()
            .flat_map(Node::entries)
            .find(|(k, _, v)| *k == REVISION_LABEL && v.scalar().is_some())
            .and_then(|(_, _, v)| v.scalar())
        {
            revs.insert(rev.text.to_string());
        }
        for wh in &webhooks {
            for sel in ["namespaceSelector", "objectSelector"] {
                revs.extend(Selector::values_for(wh.get(sel), REVISION_LABEL));
            }
        }
        let is_istio = webhooks.iter().any(|wh| {
            wh.get("name")
                .and_then(Node::as_str)
                .is_some_and(|n| n.ends_with("istio.io"))
        });
        if revs.is_empty() && !is_istio {
            continue;
        }
        configs.insert(mwc.name.as_str(), mwc);
        revisions.extend(revs);
    }
    // Every webhook of those configurations; a repeated name shares its key with the others.
    let mut hooks: Vec<Hook<'_>> = Vec::new();
    for (name, mwc) in &configs {
        for wh in mwc.root.get("webhooks").into_iter().flat_map(Node::items) {
            let wh_name = wh.get("name").and_then(Node::as_str).unwrap_or("");
            hooks.push(Hook {
                config: mwc,
                key: format!("{name}/{wh_name}"),
                node: wh.get("name").unwrap_or(wh),
                namespace_selector: Selector::parse(wh.get("namespaceSelector")),
                object_selector: Selector::parse(wh.get("objectSelector")),
            });
        }
    }
    let mut seen = Seen::default();
    report_overlaps(&hooks, &revisions, out, &mut seen);
    report_missing_services(ws, &configs, out, &mut seen);
}

/// Label sets to try: `base` alone, and each with `istio.io/rev` set to every revision.
fn permutations(base: [Labels; 3], revisions: &BTreeSet<String>) -> Vec<Labels> {
    let mut out: Vec<Labels> = base.to_vec();
    for rev in revisions {
        for set in &base {
            let mut set = set.clone();
            set.insert(REVISION_LABEL.to_string(), rev.clone());
            out.push(set);
        }
    }
    out
}

fn one(key: &str, value: &str) -> Labels {
    Labels::from([(key.to_string(), value.to_string())])
}

fn report_overlaps(
    hooks: &[Hook<'_>],
    revisions: &BTreeSet<String>,
    out: &mut Findings,
    seen: &mut Seen,
) {
    let namespaces = permutations(
        [
            Labels::new(),
            one(INJECTION_LABEL, "enabled"),
            one(INJECTION_LABEL, "disabled"),
        ],
        revisions,
    );
    let objects = permutations(
        [
            Labels::new(),
            one(SIDECAR_INJECT, "true"),
            one(SIDECAR_INJECT, "false"),
        ],
        revisions,
    );
    // Which webhooks each namespace and each object label set selects, computed once.
    let by_namespace: Vec<Vec<usize>> = namespaces
        .iter()
        .map(|nl| {
            (0..hooks.len())
                .filter(|&i| hooks[i].namespace_selector.matches(nl))
                .collect()
        })
        .collect();
    let by_object: Vec<HashSet<usize>> = objects
        .iter()
        .map(|ol| {
            (0..hooks.len())
                .filter(|&i| hooks[i].object_selector.matches(ol))
                .collect()
        })
        .collect();
    for ns_hooks in &by_namespace {
        if ns_hooks.len() < 2 {
            continue;
        }
        for obj_hooks in &by_object {
            // Matching webhooks by key, each key pointing at its first webhook.
            let mut matched: BTreeMap<&str, &Hook<'_>> = BTreeMap::new();
            for &i in ns_hooks.iter().filter(|i| obj_hooks.contains(i)) {
                matched.entry(hooks[i].key.as_str()).or_insert(&hooks[i]);
            }
            if matched.len() < 2 {
                continue;
            }
            for (key, hook) in &matched {
                let others: Vec<&str> = matched.keys().copied().filter(|k| k != key).collect();
                let others = crate::finding::listed(&others);
                // Istio's message names only the others, so that is what makes it distinct.
                if !seen.first(hook.config, &format!("overlap {others}")) {
                    continue;
                }
                out.report(
                    hook.config,
                    hook.node,
                    format!("webhook \"{key}\" overlaps with {others}: pods can be injected twice"),
                )
                .help(
                    "narrow the namespaceSelector/objectSelector of the webhooks (e.g. by `istio.io/rev`) so each pod matches at most one, or remove the stale configuration",
                );
            }
        }
    }
}

fn report_missing_services(
    ws: &Workspace,
    configs: &BTreeMap<&str, &Resource>,
    out: &mut Findings,
    seen: &mut Seen,
) {
    for mwc in configs.values() {
        for wh in mwc.root.get("webhooks").into_iter().flat_map(Node::items) {
            let Some(service) = wh
                .path(&["clientConfig", "service"])
                .filter(|s| !s.is_null())
            else {
                continue;
            };
            let svc_ns = service
                .get("namespace")
                .and_then(Node::as_str)
                .unwrap_or("");
            let svc_name = service.get("name").and_then(Node::as_str).unwrap_or("");
            if ws.find(Kind::Service, svc_ns, svc_name).is_some() {
                continue;
            }
            let full = full_name(svc_ns, svc_name);
            let message = format!(
                "injection webhook refers to control plane service \"{full}\", which does not exist"
            );
            if seen.first(mwc, &format!("service {full}")) {
                out.report(mwc, service, message).help(
                    "point `clientConfig.service` at the istiod Service of the revision, or remove the stale webhook configuration",
                );
            }
        }
    }
}
