//! Dropping suppressed findings: resource annotations (`mspack.io/ignore`, Istio's
//! `galley.istio.io/analyze-suppress`), `.mspack.toml` per-file ignores, and suppression comments
//! (`# mspack: ignore[MSP101] reason="..."`, see `comments`), whose expired, unused or malformed
//! ones are findings of their own (MSP005).

use globset::{Glob, GlobMatcher};

use crate::LintError;
use crate::comments::{self, Suppression};
use crate::config::LintOptions;
use crate::finding::Finding;
use crate::rule::Rule;
use crate::rules::stale_suppression::STALE_SUPPRESSION;
use crate::workspace::Workspace;

/// Annotation naming codes (or `*`) not to report on a resource.
pub const IGNORE_ANNOTATION: &str = "mspack.io/ignore";
/// Istio's equivalent, honoured too.
pub const ISTIO_SUPPRESS_ANNOTATION: &str = "galley.istio.io/analyze-suppress";

pub fn apply(
    findings: Vec<Finding>,
    ws: &Workspace,
    options: &LintOptions,
    active: &[&'static Rule],
) -> Result<Vec<Finding>, LintError> {
    let findings = apply_comments(findings, ws, options, active);
    let globs: Vec<(GlobMatcher, &Vec<String>)> = options
        .per_file_ignores
        .iter()
        .map(|(glob, codes)| {
            Glob::new(glob)
                .map(|g| (g.compile_matcher(), codes))
                .map_err(|e| LintError::Glob {
                    glob: glob.clone(),
                    message: e.kind().to_string(),
                })
        })
        .collect::<Result<_, _>>()?;
    Ok(findings
        .into_iter()
        .filter(|f| !suppressed_by_annotation(f, ws) && !suppressed_by_file(f, &globs, options))
        .collect())
}

fn suppressed_by_annotation(f: &Finding, ws: &Workspace) -> bool {
    let Some(resource) = f.resource_id.and_then(|i| ws.resources.get(i)) else {
        return false;
    };
    [IGNORE_ANNOTATION, ISTIO_SUPPRESS_ANNOTATION]
        .iter()
        .filter_map(|a| resource.annotation(a))
        .flat_map(|list| list.split(','))
        .any(|token| token.trim() == "*" || f.rule.matches_selector(token))
}

fn suppressed_by_file(
    f: &Finding,
    globs: &[(GlobMatcher, &Vec<String>)],
    options: &LintOptions,
) -> bool {
    let Some(path) = f.path() else { return false };
    let path = std::path::Path::new(path);
    let relative = options.base_dir.as_deref().and_then(|base| {
        let abs = std::fs::canonicalize(path).ok()?;
        let base = std::fs::canonicalize(base).ok()?;
        abs.strip_prefix(base)
            .ok()
            .map(std::path::Path::to_path_buf)
    });
    globs.iter().any(|(glob, codes)| {
        (glob.is_match(path) || relative.as_deref().is_some_and(|r| glob.is_match(r)))
            && codes
                .iter()
                .any(|c| c.trim() == "*" || f.rule.matches_selector(c))
    })
}

/// Drop the findings that a suppression comment covers; report the comments that are expired,
/// unused (while one of their rules ran) or malformed.
fn apply_comments(
    findings: Vec<Finding>,
    ws: &Workspace,
    options: &LintOptions,
    active: &[&'static Rule],
) -> Vec<Finding> {
    let mut comments: Vec<(Suppression, bool)> = ws
        .sources
        .iter()
        .flat_map(comments::find)
        .map(|s| (s, false))
        .collect();
    if comments.is_empty() {
        return findings;
    }
    let today = options.today.as_str();
    let applies = |s: &Suppression| {
        s.malformed.is_none() && s.until.as_deref().is_none_or(|until| until >= today)
    };
    let mut by_line: std::collections::HashMap<(String, u32), Vec<usize>> =
        std::collections::HashMap::new();
    for (i, (s, _)) in comments.iter().enumerate() {
        by_line
            .entry((s.file.path.clone(), s.covers))
            .or_default()
            .push(i);
    }
    let mut suppressed = vec![false; findings.len()];
    for (n, f) in findings.iter().enumerate() {
        let (Some(path), Some(span)) = (f.path(), f.span) else {
            continue;
        };
        let key = (path.to_string(), span.start.line);
        for &i in by_line.get(&key).map_or(&[][..], Vec::as_slice) {
            let (s, used) = &mut comments[i];
            if s.selectors.iter().any(|t| f.rule.matches_selector(t)) {
                *used = true;
                if applies(s) {
                    suppressed[n] = true;
                }
            }
        }
    }
    let mut kept: Vec<Finding> = findings
        .into_iter()
        .zip(suppressed)
        .filter_map(|(f, s)| (!s).then_some(f))
        .collect();
    if !active.iter().any(|r| std::ptr::eq(*r, &STALE_SUPPRESSION)) {
        return kept;
    }
    for (s, used) in &comments {
        let listed = s.selectors.join(", ");
        let unknown: Vec<&String> = s
            .selectors
            .iter()
            .filter(|t| !crate::rules::ALL.iter().any(|r| r.matches_selector(t)))
            .collect();
        let (message, help) = if let Some(why) = &s.malformed {
            (
                format!("suppression comment cannot be read: {why}"),
                "write `# mspack: ignore[CODE] reason=\"...\"`, optionally `until=YYYY-MM-DD`"
                    .to_string(),
            )
        } else if !unknown.is_empty() {
            (
                format!(
                    "suppression names no rule: {}",
                    unknown
                        .iter()
                        .map(|t| t.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                "use a code (`MSP101`), a name or a prefix; see `mspack rules`".to_string(),
            )
        } else if !applies(s) {
            (
                format!(
                    "suppression of {listed} expired on {} ({})",
                    s.until.as_deref().unwrap_or(""),
                    s.reason.as_deref().unwrap_or("")
                ),
                "fix what it hides, or extend `until=` if the reason still holds".to_string(),
            )
        } else if !used
            && s.selectors
                .iter()
                .any(|t| active.iter().any(|r| r.matches_selector(t)))
        {
            (
                format!(
                    "unused suppression: no {listed} finding on line {}",
                    s.covers
                ),
                "remove the comment (what it suppressed is gone)".to_string(),
            )
        } else {
            continue;
        };
        let mut finding = Finding::new(&STALE_SUPPRESSION, message);
        finding.file = Some(s.file.clone());
        finding.span = Some(s.span);
        finding.help = Some(help);
        kept.push(finding);
    }
    kept
}
