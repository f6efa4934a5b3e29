//! The rule model: a rule is a value with a code, a name, a default severity, its documentation and
//! a check function over the [`Workspace`].

use crate::finding::{Findings, Severity};
use crate::resource::{Kind, Resource};
use crate::workspace::Workspace;

/// Where the rule documentation lives in the repository (each rule under an anchor of its id).
pub const RULES_DOC: &str = "docs/lint-rules.md";

/// One check. Rules that mirror an Istio analyzer report Istio's code and message name, and say
/// which analyzer they mirror; several rules may share a code (Istio's IST0101 comes from nine
/// analyzers), so a rule is identified by its code together with `mirrors`.
#[derive(Debug)]
pub struct Rule {
    /// `MSP1xx` for our own rules, Istio's `ISTxxxx` where the rule mirrors an Istio analyzer,
    /// Kiali's `KIAxxxx` where it mirrors a Kiali validation.
    pub code: &'static str,
    /// kebab-case for our rules; Istio's message name (e.g. `ReferencedResourceNotFound`) for IST codes.
    pub name: &'static str,
    pub severity: Severity,
    /// One line for `mspack rules`.
    pub summary: &'static str,
    /// Markdown with the sections What it checks / Why it matters / Example / Fix.
    pub docs: &'static str,
    /// The Istio analyzer (`virtualservice.DestinationHostAnalyzer`) or Kiali checker
    /// (`destinationrules.MultiMatchChecker`) this rule mirrors, if any.
    pub mirrors: Option<&'static str>,
    /// Off unless selected (Istio keeps some analyzers out of its default set).
    pub enabled_by_default: bool,
    /// Kinds the rule looks things up in. A rule that reports a missing referent (a host with
    /// no Service, a selector with no workload) runs only when the input has at least one
    /// resource of these kinds: without any, the input does not model them (mesh config linted
    /// without its workloads) and "not found" would be noise. Empty: always runs.
    pub context: &'static [crate::resource::Kind],
    pub check: Check,
}

/// How a rule's findings are computed.
#[derive(Debug)]
pub enum Check {
    /// A check of the rule's own.
    Rule(Scope),
    /// One analysis that reports several rules (clippy's `declare_lint_pass!`): it runs once per
    /// lint run, whichever of its rules are selected, and reports each finding through the rule's
    /// constant (`out.report_as(&RULE, ..)`), never by filtering on a code string.
    Pass(&'static Pass),
}

/// What a check reads at a time.
#[derive(Debug)]
pub enum Scope {
    /// The whole workspace: the check walks what it needs itself.
    Workspace(fn(&Workspace, &mut Findings)),
    /// One resource at a time, for every resource of some kinds. What the check reports on a
    /// resource depends on that resource and the workspace's lookups only, never on which
    /// resources it saw before. The engine runs every such check in one walk over the resources,
    /// all of them on a resource while its tree is in cache: once the trees outgrow the cache (a
    /// 100k-resource run), a walk per check reads every tree from memory again.
    Each(Each),
}

/// A per-resource check; see [`Scope::Each`].
#[derive(Debug)]
pub struct Each {
    /// The kinds whose resources the check reads.
    pub kinds: &'static [Kind],
    pub check: fn(&Workspace, &Resource, &mut Findings),
}

/// An analysis shared by several rules; see [`Check::Pass`].
#[derive(Debug)]
pub struct Pass {
    /// The analysis, for messages and benchmarks (Istio's analyzer name where it mirrors one).
    pub name: &'static str,
    pub check: Scope,
}

impl Scope {
    fn run(&self, ws: &Workspace, out: &mut Findings) {
        match self {
            Scope::Workspace(check) => check(ws, out),
            Scope::Each(each) => {
                for &kind in each.kinds {
                    for resource in ws.of_kind(kind) {
                        (each.check)(ws, resource, out);
                    }
                }
            }
        }
    }
}

impl Rule {
    /// Run the rule's check (for a pass, the whole pass: its findings may be of other rules).
    pub fn run(&self, ws: &Workspace, out: &mut Findings) {
        self.scope().run(ws, out);
    }

    /// The check that computes the rule's findings: its own, or its pass's.
    pub fn scope(&self) -> &Scope {
        match &self.check {
            Check::Rule(scope) => scope,
            Check::Pass(pass) => &pass.check,
        }
    }

    /// The pass this rule's findings come from, if it shares one with other rules.
    pub fn pass(&self) -> Option<&'static Pass> {
        match self.check {
            Check::Rule(_) => None,
            Check::Pass(pass) => Some(pass),
        }
    }

    /// The per-resource check of the rule or its pass, if it is one.
    pub fn each(&self) -> Option<&Each> {
        match self.scope() {
            Scope::Each(each) => Some(each),
            Scope::Workspace(_) => None,
        }
    }

    /// The tool whose check the rule mirrors, by its code: `Istio` (IST), `Kiali` (KIA), else
    /// `mspack`.
    pub fn origin(&self) -> &'static str {
        if self.code.starts_with("IST") {
            "Istio"
        } else if self.code.starts_with("KIA") {
            "Kiali"
        } else {
            "mspack"
        }
    }

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

    /// The rule's page: its anchor in `docs/lint-rules.md` (generated by
    /// `mspack rules --format markdown`), as SARIF's `helpUri`.
    pub fn help_uri(&self) -> String {
        format!(
            "{}/blob/main/{RULES_DOC}#{}",
            env!("CARGO_PKG_REPOSITORY"),
            self.id()
        )
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
///
/// The check is one of `check: f` (a check over the workspace), `pass: P` (a [`Pass`] shared
/// with other rules) or `each: f on KINDS` (a per-resource check, [`Scope::Each`]).
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
            $(check: $check:ident)?
            $(pass: $pass:ident)?
            $(each: $each:ident on $kinds:expr)? $(,)?
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
            check: $crate::declare_rule!(@check $($check)? ; $($pass)? ; $($each on $kinds)?),
        };
    };
    (@check $check:ident ; ;) => {
        $crate::rule::Check::Rule($crate::rule::Scope::Workspace($check))
    };
    (@check ; $pass:ident ;) => { $crate::rule::Check::Pass(&$pass) };
    (@check ; ; $each:ident on $kinds:expr) => {
        $crate::rule::Check::Rule($crate::rule::Scope::Each($crate::rule::Each {
            kinds: $kinds,
            check: $each,
        }))
    };
    (@enabled) => { true };
    (@enabled $enabled:expr) => { $enabled };
    (@context) => { &[] };
    (@context $context:expr) => { $context };
}
