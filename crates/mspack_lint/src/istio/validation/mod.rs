//! Istio's webhook validation of every Istio kind, as `istioctl analyze` runs it for IST0106
//! (errors that reject the resource) and IST0133 (warnings). Split by concern: reading fields
//! ([`fields`]), names and hosts ([`names`]), Go durations ([`duration`]), strings, regexes and
//! headers ([`strings`]); then one module per kind. The rules that report the problems are in
//! `rules/vs_schema.rs`.

mod authorizationpolicy;
pub(crate) mod common;
mod destinationrule;
mod duration;
pub(crate) mod envoyfilter;
mod fields;
mod gateway;
mod names;
mod peerauthentication;
mod proxyconfig;
mod requestauthentication;
mod serviceentry;
mod sidecar;
mod strings;
mod telemetry;
mod virtualservice;
mod virtualservice_http;
mod wasmplugin;
mod workloadentry;

use std::collections::BTreeSet;

use mspack_yaml::{Node, Value};

use crate::refs::is_claim_header;
use crate::resource::{Kind, Resource};

pub(crate) use duration::*;
pub(crate) use fields::*;
pub(crate) use names::*;
pub(crate) use strings::*;
pub(crate) use virtualservice::{export_to, ip_subnet};
pub use virtualservice_http::retry_on_policy_is_valid;
pub(crate) use virtualservice_http::*;

/// Istio's validation of one resource. A `spec` that is not a mapping cannot be decoded, so
/// Istio never validates it; kinds Istio does not validate give `None`.
pub(crate) fn validate(res: &Resource) -> Option<Problems<'_>> {
    if res
        .spec()
        .is_some_and(|s| !s.is_null() && !matches!(s.value, Value::Map(_)))
    {
        return None;
    }
    Some(match res.kind {
        Kind::VirtualService => virtualservice::validate(res),
        Kind::DestinationRule => destinationrule::validate(res),
        Kind::Gateway => gateway::validate(res),
        Kind::ServiceEntry => serviceentry::validate(res),
        Kind::Sidecar => sidecar::validate(res),
        Kind::WorkloadEntry => workloadentry::validate_entry(res),
        Kind::WorkloadGroup => workloadentry::validate_group(res),
        Kind::EnvoyFilter => envoyfilter::validate(res),
        Kind::ProxyConfig => proxyconfig::validate(res),
        Kind::AuthorizationPolicy => authorizationpolicy::validate(res),
        Kind::PeerAuthentication => peerauthentication::validate(res),
        Kind::RequestAuthentication => requestauthentication::validate(res),
        Kind::Telemetry => telemetry::validate(res),
        Kind::WasmPlugin => wasmplugin::validate(res),
        _ => return None,
    })
}
