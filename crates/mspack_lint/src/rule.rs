//! The rule model: a rule is a value with a code, a name, a default severity, its documentation and
//! a check function over the [`Workspace`].

use crate::finding::{Findings, Severity};
use crate::workspace::Workspace;

/// One check. Rules that mirror an Istio analyzer report Istio's code and message name, and say
/// which analyzer they mirror; several rules may share a code (Istio's IST0101 comes from nine
/// analyzers), so a rule is identified by its code together with `mirrors`.
#[derive(Debug)]
pub struct Rule {
    /// `MSP1xx` for our own rules, Istio's `ISTxxxx` where the rule mirrors an Istio analyzer.
    pub code: &'static str,
    /// kebab-case for our rules; Istio's message name (e.g. `ReferencedResourceNotFound`) for IST codes.
    pub name: &'static str,
    pub severity: Severity,
    /// One line for `mspack rules`.
    pub summary: &'static str,
    /// Markdown with the sections What it checks / Why it matters / Example / Fix.
    pub docs: &'static str,
    /// The Istio analyzer this rule mirrors (`virtualservice.DestinationHostAnalyzer`), if any.
    pub mirrors: Option<&'static str>,
    /// Off unless selected (Istio keeps some analyzers out of its default set).
    pub enabled_by_default: bool,
    /// Kinds the rule looks things up in. A rule that reports a missing referent (a host with
    /// no Service, a selector with no workload) runs only when the input has at least one
    /// resource of these kinds: without any, the input does not model them (mesh config linted
    /// without its workloads) and "not found" would be noise. Empty: always runs.
    pub context: &'static [crate::resource::Kind],
    pub check: fn(&Workspace, &mut Findings),
}

impl Rule {
    /// The documentation with the one-space indent of `///` comments removed.
    pub fn documentation(&self) -> String {
        self.docs
            .lines()
            .map(|l| l.strip_prefix(' ').unwrap_or(l))
            .collect::<Vec<_>>()
            .join("\n")
            .trim()
            .to_string()
    }

    /// A unique, file-name-safe identifier: the code, plus the mirrored analyzer when the code is
    /// shared (`IST0101.virtualservice.DestinationHostAnalyzer`).
    pub fn id(&self) -> String {
        match self.mirrors {
            Some(analyzer) => format!("{}.{}", self.code, analyzer),
            None => self.code.to_string(),
        }
    }

    /// Whether a `--select`/`--ignore` token names this rule: its code, its name (any case, with
    /// or without dashes), its id or the analyzer it mirrors. A prefix such as `IST01` or `MSP`
    /// selects every code that starts with it.
    pub fn matches_selector(&self, token: &str) -> bool {
        let token = token.trim();
        if token.is_empty() {
            return false;
        }
        if token.eq_ignore_ascii_case("ALL") {
            return true;
        }
        let squash = |s: &str| s.replace(['-', '_'], "").to_ascii_lowercase();
        self.code.eq_ignore_ascii_case(token)
            || (token.len() >= 3
                && token.chars().all(|c| c.is_ascii_alphanumeric())
                && self
                    .code
                    .to_ascii_uppercase()
                    .starts_with(&token.to_ascii_uppercase()))
            || squash(self.name) == squash(token)
            || self.id() == token
            || self.mirrors == Some(token)
    }
}

/// Declare a rule whose documentation is its doc comment.
///
/// ```ignore
/// declare_rule! {
///     /// ## What it checks
///     /// ...
///     pub static SHORT_HOST_NAME = Rule {
///         code: "MSP101", name: "short-host-name", severity: Warning,
///         summary: "...", mirrors: None, check: check,
///     };
/// }
/// ```
#[macro_export]
macro_rules! declare_rule {
    (
        $(#[doc = $doc:literal])*
        $vis:vis static $ident:ident = Rule {
            code: $code:literal,
            name: $name:literal,
            severity: $severity:ident,
            summary: $summary:literal,
            mirrors: $mirrors:expr,
            $(enabled_by_default: $enabled:expr,)?
            $(context: $context:expr,)?
            check: $check:path $(,)?
        };
    ) => {
        $(#[doc = $doc])*
        $vis static $ident: $crate::rule::Rule = $crate::rule::Rule {
            code: $code,
            name: $name,
            severity: $crate::finding::Severity::$severity,
            summary: $summary,
            docs: concat!($($doc, "\n"),*),
            mirrors: $mirrors,
            enabled_by_default: $crate::declare_rule!(@enabled $($enabled)?),
            context: $crate::declare_rule!(@context $($context)?),
            check: $check,
        };
    };
    (@enabled) => { true };
    (@enabled $enabled:expr) => { $enabled };
    (@context) => { &[] };
    (@context $context:expr) => { $context };
}
