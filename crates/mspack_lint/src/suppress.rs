//! Dropping suppressed findings: resource annotations (`mspack.io/ignore`, Istio's
//! `galley.istio.io/analyze-suppress`) and `.mspack.toml` per-file ignores.

use globset::{Glob, GlobMatcher};

use crate::LintError;
use crate::config::LintOptions;
use crate::finding::Finding;
use crate::workspace::Workspace;

/// Annotation naming codes (or `*`) not to report on a resource.
pub const IGNORE_ANNOTATION: &str = "mspack.io/ignore";
/// Istio's equivalent, honoured too.
pub const ISTIO_SUPPRESS_ANNOTATION: &str = "galley.istio.io/analyze-suppress";

pub fn apply(
    findings: Vec<Finding>,
    ws: &Workspace,
    options: &LintOptions,
) -> Result<Vec<Finding>, LintError> {
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
