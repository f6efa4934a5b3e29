//! Baselines: today's findings recorded in a file, so a team adopting `mspack lint` on an
//! existing repository sees only what is new (`--baseline FILE`, `--update-baseline`).
//!
//! A finding is recorded by its fingerprint: the rule's id, the resource's identity (`Kind
//! namespace/name`, or the file's path for a finding on no resource) and a hash of the flagged
//! text, never its line or column, so edits elsewhere in a file, reordering and moving files keep
//! a recorded finding recorded. Equal fingerprints are counted: a baseline of two identical
//! findings hides two, and a third is new. The file is JSON and a public format:
//!
//! ```json
//! {"version": 1, "findings": [{"rule": "MSP101", "resource": "VirtualService food/orders",
//!   "content": "3f6c1e0a9b2d4c55", "count": 1, "message": "host \"orders\" is a short name, ..."}]}
//! ```
//! `message` is for readers only; it is not compared.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::finding::Finding;

/// One recorded fingerprint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub rule: String,
    pub resource: String,
    pub content: String,
    pub count: usize,
    #[serde(default)]
    pub message: String,
}

/// The recorded findings of a baseline file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Baseline {
    pub version: u32,
    pub findings: Vec<Entry>,
}

#[derive(Debug, thiserror::Error)]
#[error("not a baseline file: {0}")]
pub struct BaselineError(String);

type Key = (String, String, String);

/// A finding's fingerprint: (rule id, resource identity, hash of the flagged text).
fn fingerprint(f: &Finding) -> Key {
    let resource = f
        .resource
        .clone()
        .or_else(|| f.path().map(str::to_string))
        .unwrap_or_default();
    let text = match (f.file.as_deref(), f.span) {
        (Some(file), Some(span)) => file.snippet(span),
        _ => "",
    };
    let mut hash = Sha256::new();
    hash.update(text.as_bytes());
    let digest = hash.finalize();
    let content: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    (f.rule.id(), resource, content)
}

impl Baseline {
    /// Record `findings`.
    pub fn of(findings: &[Finding]) -> Baseline {
        let mut counted: BTreeMap<Key, (usize, &str)> = BTreeMap::new();
        for f in findings {
            let entry = counted
                .entry(fingerprint(f))
                .or_insert((0, f.message.as_str()));
            entry.0 += 1;
        }
        Baseline {
            version: 1,
            findings: counted
                .into_iter()
                .map(|((rule, resource, content), (count, message))| Entry {
                    rule,
                    resource,
                    content,
                    count,
                    message: message.to_string(),
                })
                .collect(),
        }
    }

    pub fn parse(text: &str) -> Result<Baseline, BaselineError> {
        let baseline: Baseline =
            serde_json::from_str(text).map_err(|e| BaselineError(e.to_string()))?;
        if baseline.version != 1 {
            return Err(BaselineError(format!(
                "version {} (this mspack reads version 1)",
                baseline.version
            )));
        }
        Ok(baseline)
    }

    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }

    /// The findings not recorded, and how many recorded ones were hidden.
    pub fn new_findings(&self, findings: Vec<Finding>) -> (Vec<Finding>, usize) {
        let mut left: BTreeMap<Key, usize> = self
            .findings
            .iter()
            .map(|e| {
                (
                    (e.rule.clone(), e.resource.clone(), e.content.clone()),
                    e.count,
                )
            })
            .collect();
        let mut hidden = 0;
        let kept = findings
            .into_iter()
            .filter(|f| match left.get_mut(&fingerprint(f)) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    hidden += 1;
                    false
                }
                _ => true,
            })
            .collect();
        (kept, hidden)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use mspack_yaml::SourceFile;

    use super::*;
    use crate::{LintOptions, lint_sources};

    const TWO_SHORT_HOSTS: &str = "\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: orders, namespace: food}
spec: {host: orders, exportTo: [\".\"]}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: kitchen, namespace: food}
spec: {host: kitchen, exportTo: [\".\"]}
";

    fn lint(path: &str, text: &str) -> Vec<Finding> {
        let source = Arc::new(SourceFile::new(path, text));
        lint_sources(vec![source], &LintOptions::default())
            .map(|r| r.findings)
            .unwrap_or_default()
    }

    #[test]
    fn recorded_findings_stay_recorded_when_lines_move_and_new_ones_are_reported() {
        let before = lint("a.yaml", TWO_SHORT_HOSTS);
        assert_eq!(before.len(), 2);
        let baseline =
            Baseline::parse(&Baseline::of(&before).to_json()).unwrap_or_else(|e| panic!("{e}"));
        // Lines shift, the file moves, and a third short host appears.
        let after = format!(
            "# moved\n\n{TWO_SHORT_HOSTS}---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\n\
             metadata: {{name: payments, namespace: food}}\nspec: {{host: payments, exportTo: [\".\"]}}\n"
        );
        let (new, hidden) = baseline.new_findings(lint("moved/b.yaml", &after));
        assert_eq!(hidden, 2);
        assert_eq!(new.len(), 1);
        assert_eq!(
            new[0].resource.as_deref(),
            Some("DestinationRule food/payments")
        );
    }

    #[test]
    fn a_changed_value_is_a_new_finding() {
        let baseline = Baseline::of(&lint("a.yaml", TWO_SHORT_HOSTS));
        let changed = TWO_SHORT_HOSTS.replace("host: kitchen", "host: kitchen.food");
        let (new, _) = baseline.new_findings(lint("a.yaml", &changed));
        assert_eq!(new.len(), 1);
        assert!(new[0].message.contains("kitchen.food"));
    }

    #[test]
    fn other_versions_and_shapes_are_refused() {
        assert!(Baseline::parse("{\"version\": 2, \"findings\": []}").is_err());
        assert!(Baseline::parse("[]").is_err());
    }
}
