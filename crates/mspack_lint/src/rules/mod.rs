//! The rule registry: every rule, one file each (or one file per mirrored Istio analyzer).
//! Adding a rule touches its file, one line here, and its fixture folder.

use crate::rule::Rule;

pub mod alpha_annotations;
pub mod annotations_k8s;
pub mod authz_policies;
pub mod deprecated_fields;
pub mod envoy_patch;
pub mod invalid_resource;
pub mod invalid_yaml;
pub mod istio_annotations;
pub mod missing_export_to;
pub mod missing_global_label;
pub mod se_conflicting_protocol;
pub mod se_protocol_addresses;
pub mod short_host_name;
pub mod sidecar_selector;
pub mod telemetry_default_selector;
pub mod telemetry_lightstep;
pub mod telemetry_provider;
pub mod telemetry_selector;
pub mod workload_match;

/// Every rule, in code order.
pub static ALL: &[&Rule] = &[
    &invalid_yaml::INVALID_YAML,
    &invalid_resource::INVALID_RESOURCE,
    &short_host_name::SHORT_HOST_NAME,
    &missing_export_to::MISSING_EXPORT_TO,
    &missing_global_label::MISSING_GLOBAL_LABEL,
    // Istio policy, telemetry, ServiceEntry, EnvoyFilter, annotation and deprecation analyzers.
    &deprecated_fields::DEPRECATED_FIELD,
    &telemetry_lightstep::LIGHTSTEP_DEPRECATED,
    &sidecar_selector::SIDECAR_SELECTOR_NOT_FOUND,
    &authz_policies::AUTHZ_NAMESPACE_NOT_FOUND,
    &telemetry_selector::TELEMETRY_SELECTOR_NOT_FOUND,
    &annotations_k8s::MISPLACED_ANNOTATION,
    &annotations_k8s::UNKNOWN_ANNOTATION,
    &sidecar_selector::CONFLICTING_SIDECAR_SELECTORS,
    &sidecar_selector::MULTIPLE_DEFAULT_SIDECARS,
    &annotations_k8s::INVALID_ANNOTATION,
    &authz_policies::AUTHZ_NO_MATCHING_WORKLOADS,
    &se_protocol_addresses::SERVICE_ENTRY_ADDRESSES_REQUIRED,
    &annotations_k8s::DEPRECATED_ANNOTATION,
    &alpha_annotations::ALPHA_ANNOTATION,
    &envoy_patch::RELATIVE_OPERATION,
    &envoy_patch::REPLACE_MISUSED,
    &envoy_patch::ADD_MISUSED,
    &envoy_patch::REMOVE_MISUSED,
    &envoy_patch::RELATIVE_OPERATION_WITH_PROXY_VERSION,
    &telemetry_provider::TELEMETRY_EMPTY_PROVIDERS,
    &telemetry_selector::CONFLICTING_TELEMETRY_SELECTORS,
    &telemetry_default_selector::MULTIPLE_DEFAULT_TELEMETRIES,
    &sidecar_selector::SIDECAR_INEFFECTIVE_IN_AMBIENT,
    &se_conflicting_protocol::CONFLICTING_SERVICE_ENTRY_PROTOCOL,
];
