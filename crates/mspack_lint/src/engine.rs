//! Running the selected rules over a workspace. Per-resource rules ([`Check::Each`]) run in one
//! walk over the resources, every one of them on a resource before the walk moves on; the other
//! rules each take the whole workspace. Both kinds run on rayon's threads.
//!
//! [`Check::Each`]: crate::rule::Check::Each

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

/// The findings of `units` (each rule of its own, each pass once), per unit, in `units` order.
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
                ws.prefetch_after(resource.id);
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
