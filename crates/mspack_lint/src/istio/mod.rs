//! What mspack knows of Istio itself, apart from the rules that use it: the webhook validation of
//! every Istio kind ([`validation`], for IST0106/IST0133) and the annotation catalogue
//! ([`annotations`], for the annotation analyzers). Rules live in `rules/`; this holds no rule.

pub mod annotations;
pub mod validation;
