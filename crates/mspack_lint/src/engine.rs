//! Running the selected rules over a workspace. Per-resource rules ([`Scope::Each`]) run in one
//! walk over the resources, every one of them on a resource before the walk moves on; the other
//! rules each take the whole workspace. Both kinds run on rayon's threads.
//!
//! [`Scope::Each`]: crate::rule::Scope::Each

use std::collections::HashMap;

use rayon::prelude::*;

use crate::finding::{Finding, Findings};
use crate::resource::{Kind, Resource};
use crate::rule::Rule;
use crate::workspace::Workspace;

/// Resources per task of the walk: enough to make a task worth its scheduling, few enough that
/// a 10k-resource run still spreads over the threads.
const CHUNK: usize = 1024;

type EachCheck = fn(&Workspace, &Resource, &mut Findings);

/// What runs for `active` rules: each rule of its own once, each pass once (as its first active
/// rule), however many of its rules are active.
pub(crate) fn units(active: &[&'static Rule]) -> Vec<&'static Rule> {
    let mut units: Vec<&'static Rule> = Vec::with_capacity(active.len());
    for &rule in active {
        let first_of_pass = match rule.pass() {
            None => true,
            Some(pass) => !units
                .iter()
                .any(|u| u.pass().is_some_and(|p| std::ptr::eq(p, pass))),
        };
        if first_of_pass {
            units.push(rule);
        }
    }
    units
}

/// The findings of `units` (see [`units`]), per unit, in `units` order.
pub(crate) fn run(ws: &Workspace, units: &[&'static Rule]) -> Vec<Vec<Finding>> {
    let (each, whole): (Vec<usize>, Vec<usize>) =
        (0..units.len()).partition(|&u| units[u].each().is_some());
    let (walked, rest) = rayon::join(
        || walk(ws, &each.iter().map(|&u| units[u]).collect::<Vec<_>>()),
        || {
            whole
                .par_iter()
                .map(|&u| {
                    let mut out = Findings::new(units[u]);
                    units[u].run(ws, &mut out);
                    out.into_vec()
                })
                .collect::<Vec<_>>()
        },
    );
    let mut by_unit: Vec<Vec<Finding>> = vec![Vec::new(); units.len()];
    for (u, findings) in each.into_iter().zip(walked) {
        by_unit[u] = findings;
    }
    for (u, findings) in whole.into_iter().zip(rest) {
        by_unit[u] = findings;
    }
    by_unit
}

/// Run every per-resource rule of `rules` on each resource of its kinds, in input order; the
/// findings per rule, in `rules` order.
fn walk(ws: &Workspace, rules: &[&'static Rule]) -> Vec<Vec<Finding>> {
    if rules.is_empty() {
        return Vec::new();
    }
    let mut by_kind: HashMap<Kind, Vec<(usize, EachCheck)>> = HashMap::new();
    for (n, rule) in rules.iter().enumerate() {
        if let Some(each) = rule.each() {
            for &kind in each.kinds {
                by_kind.entry(kind).or_default().push((n, each.check));
            }
        }
    }
    let chunks: Vec<Vec<Vec<Finding>>> = ws
        .resources
        .par_chunks(CHUNK)
        .map(|chunk| {
            let mut outs: Vec<Findings> = rules.iter().map(|rule| Findings::new(rule)).collect();
            for resource in chunk {
                for &(n, check) in by_kind.get(&resource.kind).map_or(&[][..], Vec::as_slice) {
                    check(ws, resource, &mut outs[n]);
                }
            }
            outs.into_iter().map(Findings::into_vec).collect()
        })
        .collect();
    let mut per_rule: Vec<Vec<Finding>> = vec![Vec::new(); rules.len()];
    for chunk in chunks {
        for (all, found) in per_rule.iter_mut().zip(chunk) {
            all.extend(found);
        }
    }
    per_rule
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use mspack_yaml::{Limits, SourceFile, parse_file};

    use super::*;
    use crate::rules::ALL;

    /// Every fixture of every rule in one workspace, and enough generated resources after them
    /// that the walk spans several chunks (and, with more than one thread, several tasks).
    fn workspace() -> Workspace {
        let mut sources = Vec::new();
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let mut dirs: Vec<_> = std::fs::read_dir(&fixtures)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        dirs.sort();
        for dir in dirs {
            for name in ["bad.yaml", "good.yaml"] {
                let path = dir.join(name);
                if let Ok(text) = std::fs::read_to_string(&path) {
                    sources.push(SourceFile::new(path.display().to_string(), text));
                }
            }
        }
        assert!(sources.len() > 100, "fixtures not found under {fixtures:?}");
        let mut generated = String::new();
        for i in 0..3 * CHUNK {
            let ns = format!("team-{}", i % 7);
            let host = if i % 5 == 0 {
                format!("svc-{i}")
            } else {
                format!("svc-{i}.{ns}.svc.cluster.local")
            };
            generated.push_str(&format!(
                "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: vs-{i}, namespace: {ns}}}\n\
                 spec:\n  hosts: [{host}]\n  http:\n  - route:\n    - destination: {{host: {host}, subset: v{}}}\n---\n\
                 apiVersion: v1\nkind: Service\nmetadata: {{name: svc-{i}, namespace: {ns}}}\n\
                 spec:\n  selector: {{app: svc-{i}}}\n  ports:\n  - {{name: http, port: 80, targetPort: {}}}\n---\n",
                i % 3,
                8080 + i % 2,
            ));
        }
        sources.push(SourceFile::new("generated.yaml", generated));
        let parsed = sources
            .into_iter()
            .map(|s| parse_file(Arc::new(s), &Limits::default()))
            .collect();
        Workspace::build(
            parsed,
            crate::config::LintOptions::default(),
            crate::mesh::MeshConfig::default(),
            None,
        )
    }

    fn lines(findings: &[Finding]) -> Vec<String> {
        let mut lines: Vec<String> = findings
            .iter()
            .map(|f| {
                let path = f.file.as_ref().map(|file| file.path.as_str());
                format!(
                    "{} {path:?} {:?} {:?} {} {:?} {:?} {:?}",
                    f.rule.id(),
                    f.span,
                    f.resource,
                    f.message,
                    f.help,
                    f.fix,
                    f.severity
                )
            })
            .collect();
        lines.sort();
        lines
    }

    /// A per-resource rule finds in the walk exactly what it finds walking its kinds one by one
    /// (`Rule::run`): what it reports on a resource does not depend on which resources it saw
    /// before, nor on where the chunks of the walk begin.
    #[test]
    fn the_walk_finds_what_each_rule_finds_on_its_own() {
        let ws = workspace();
        assert!(ws.resources.len() > 2 * CHUNK);
        let walking: Vec<&'static Rule> =
            ALL.iter().copied().filter(|r| r.each().is_some()).collect();
        let units = units(&walking);
        assert!(units.len() >= 30, "{} per-resource units", units.len());
        let walked = run(&ws, &units);
        let mut reported = 0;
        for (rule, found) in units.iter().zip(&walked) {
            let mut alone = Findings::new(rule);
            rule.run(&ws, &mut alone);
            let alone = alone.into_vec();
            assert_eq!(lines(found), lines(&alone), "{}", rule.id());
            reported += found.len();
        }
        assert!(
            reported > 1000,
            "only {reported} findings: the comparison tests little"
        );
    }

    /// The walk's output does not depend on how many threads share it.
    #[test]
    fn the_walk_is_the_same_on_one_thread_and_on_several() {
        let ws = workspace();
        let units: Vec<&'static Rule> =
            ALL.iter().copied().filter(|r| r.pass().is_none()).collect();
        let on = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .map(|pool| pool.install(|| run(&ws, &units)))
                .map(|found| found.iter().map(|f| lines(f)).collect::<Vec<_>>())
                .unwrap_or_default()
        };
        let one = on(1);
        assert!(!one.is_empty());
        assert_eq!(one, on(4));
    }
}
