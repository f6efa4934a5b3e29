use std::collections::HashMap;

use mspack_yaml::Node;

use crate::declare_rule;
use crate::finding::Findings;
use crate::pod_security::{checked_containers, describe, is_istio_workload};
use crate::resource::{Kind, Resource};
use crate::workspace::Workspace;

declare_rule! {
    /// ## What it checks
    /// Environment variables of containers (init and ephemeral containers included) of Pods and
    /// of the pod templates of Deployments, StatefulSets, DaemonSets, ReplicaSets,
    /// ReplicationControllers, Jobs, CronJobs and Argo Rollouts whose name says they hold a
    /// credential (it contains `SECRET`, `PASSWORD`, `PASSWD`, `TOKEN`, `API_KEY` or `APIKEY`,
    /// in any case) and whose literal `value` is not empty. Not reported: names that point to
    /// where the credential is rather than holding it (ending in `_FILE`, `_PATH`, `_DIR`,
    /// `_NAME`, `_REF`, `_KEY_REF`), values that are a path, a `$(VAR)` reference or a
    /// boolean, and every `valueFrom`.
    ///
    /// kube-linter's `env-var-secret` (which looks for `secret` in the name only) and Polaris'
    /// `sensitiveContainerEnvVar` cover the same ground.
    ///
    /// Off by default; enable the MSP2xx rules with `--extend-select MSP2` (on top of the
    /// default set) or `--select MSP2` (alone).
    ///
    /// ## Why it matters
    /// A literal value is in the manifest: in the Git history, in every rendered chart and in
    /// the workload object, which anyone allowed to read Deployments can see (reading Secrets
    /// usually takes more rights). It cannot be rotated without a redeploy.
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
    ///         image: food/orders:1.0
    ///         env:
    ///         - {name: DB_PASSWORD, value: hunter2}
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
    ///         image: food/orders:1.0
    ///         env:
    ///         - name: DB_PASSWORD
    ///           valueFrom: {secretKeyRef: {name: orders-db, key: password}}
    /// ```
    /// Put the value in a Secret and read it with `valueFrom.secretKeyRef` (or mount the
    /// Secret as a file).
    pub static ENV_VAR_SECRET = Rule {
        code: "MSP212",
        name: "env-var-secret",
        severity: Warning,
        summary: "a credential is written as a literal environment variable value",
        mirrors: None,
        enabled_by_default: false,
        each: check_secrets on Kind::WORKLOADS,
    };
}

declare_rule! {
    /// ## What it checks
    /// Containers (init and ephemeral containers included) of Pods and of the pod templates of
    /// Deployments, StatefulSets, DaemonSets, ReplicaSets, ReplicationControllers, Jobs,
    /// CronJobs and Argo Rollouts whose `env` list names the same variable more than once; each
    /// repetition is reported at its `name`.
    ///
    /// kube-linter's `duplicate-env-var` covers the same ground.
    ///
    /// Off by default; enable the MSP2xx rules with `--extend-select MSP2` (on top of the
    /// default set) or `--select MSP2` (alone).
    ///
    /// ## Why it matters
    /// The API server accepts the list (with a warning) and the container gets the last value
    /// only: the earlier entry is dead text that a reader takes for the setting. A strategic
    /// merge patch (`kubectl apply`, kustomize) merges `env` by name and may keep either.
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
    ///         image: food/orders:1.0
    ///         env:
    ///         - {name: LOG_LEVEL, value: info}
    ///         - {name: LOG_LEVEL, value: debug}
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
    ///         image: food/orders:1.0
    ///         env:
    ///         - {name: LOG_LEVEL, value: debug}
    /// ```
    /// Keep one entry per variable.
    pub static DUPLICATE_ENV_VAR = Rule {
        code: "MSP213",
        name: "duplicate-env-var",
        severity: Warning,
        summary: "a container defines the same environment variable twice",
        mirrors: None,
        enabled_by_default: false,
        each: check_duplicates on Kind::WORKLOADS,
    };
}

const CREDENTIAL_WORDS: [&str; 6] = ["SECRET", "PASSWORD", "PASSWD", "TOKEN", "API_KEY", "APIKEY"];
const POINTER_SUFFIXES: [&str; 6] = ["_FILE", "_PATH", "_DIR", "_NAME", "_REF", "_KEY_REF"];

/// Whether an env var `name: value` holds a credential in plain text.
pub fn is_plain_secret(name: &str, value: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    let value = value.trim();
    let names_credential = CREDENTIAL_WORDS.iter().any(|w| upper.contains(w))
        && !POINTER_SUFFIXES.iter().any(|s| upper.ends_with(s));
    let is_reference = value.is_empty()
        || value.starts_with('/')
        || (value.starts_with("$(") && value.ends_with(')'))
        || ["true", "false"].contains(&value.to_ascii_lowercase().as_str());
    names_credential && !is_reference
}

fn env_entries<'a>(
    c: &crate::crossref::Container<'a>,
) -> impl Iterator<Item = (&'a Node, &'a str)> {
    c.node
        .get("env")
        .into_iter()
        .flat_map(Node::items)
        .filter_map(|e| {
            let name = e.get("name")?;
            Some((e, name.as_str()?))
        })
}

fn check_secrets(_: &Workspace, workload: &Resource, out: &mut Findings) {
    if is_istio_workload(workload) {
        return;
    }
    for c in checked_containers(workload) {
        for (entry, name) in env_entries(&c) {
            let Some(value) = entry.get("value").filter(|v| v.scalar().is_some()) else {
                continue;
            };
            if !value.as_str().is_some_and(|v| is_plain_secret(name, v)) {
                continue;
            }
            out.report(
                workload,
                value,
                format!(
                    "{} sets {name} to a literal value: the credential is in the manifest, \
                     readable by anyone who can read the workload",
                    describe(&c)
                ),
            )
            .help(
                "move the value into a Secret and read it with `valueFrom.secretKeyRef`, \
                 or mount the Secret as a file",
            );
        }
    }
}

fn check_duplicates(_: &Workspace, workload: &Resource, out: &mut Findings) {
    if is_istio_workload(workload) {
        return;
    }
    for c in checked_containers(workload) {
        let mut seen: HashMap<&str, u32> = HashMap::new();
        for (entry, name) in env_entries(&c) {
            let line = entry.span.start.line;
            let Some(first) = seen.get(name).copied() else {
                seen.insert(name, line);
                continue;
            };
            let at = entry.get("name").unwrap_or(entry);
            out.report(
                workload,
                at,
                format!(
                    "{} defines env var {name} again (first on line {first}): only the last \
                     value takes effect",
                    describe(&c)
                ),
            )
            .help(format!("keep one `{name}` entry in `env`"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_plain_secret;

    #[test]
    fn credential_names_and_values() {
        assert!(is_plain_secret("DB_PASSWORD", "hunter2"));
        assert!(is_plain_secret("github_token", "ghp_x"));
        assert!(is_plain_secret("OPENAI_API_KEY", "sk-1"));
        assert!(!is_plain_secret("DB_PASSWORD", ""));
        assert!(!is_plain_secret("DB_PASSWORD_FILE", "/run/secrets/db"));
        assert!(!is_plain_secret("TOKEN", "/var/run/secrets/token"));
        assert!(!is_plain_secret("SECRET", "$(FROM_SECRET)"));
        assert!(!is_plain_secret("SECRET_NAME", "orders-db"));
        assert!(!is_plain_secret("USE_TOKEN", "true"));
        assert!(!is_plain_secret("LOG_LEVEL", "debug"));
    }
}
