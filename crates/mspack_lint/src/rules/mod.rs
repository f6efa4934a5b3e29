//! The rule registry: every rule, one file each (or one file per mirrored Istio analyzer).
//! Adding a rule touches its file, one line here, and its fixture folder.

use crate::rule::Rule;

pub mod invalid_resource;
pub mod invalid_yaml;
pub mod missing_export_to;
pub mod missing_global_label;
pub mod short_host_name;

// Gateway, DestinationRule TLS/subset and Gateway API CRD analyzers.
pub mod dr_ca_certificates;
pub mod dr_pod_not_selected;
pub mod gateway_certificate;
pub mod gateway_conflicting;
pub mod gateway_ingress_port;
pub mod gateway_secret;
pub mod k8sgateway_crd_version;
pub mod workload_index;

/// Every rule, in code order.
pub static ALL: &[&Rule] = &[
    &invalid_yaml::INVALID_YAML,
    &invalid_resource::INVALID_RESOURCE,
    &short_host_name::SHORT_HOST_NAME,
    &missing_export_to::MISSING_EXPORT_TO,
    &missing_global_label::MISSING_GLOBAL_LABEL,
    // Gateway, DestinationRule TLS/subset and Gateway API CRD analyzers.
    &gateway_ingress_port::GATEWAY_SELECTOR_NOT_FOUND,
    &gateway_conflicting::CONFLICTING_GATEWAY_SELECTOR_NOT_FOUND,
    &gateway_secret::GATEWAY_CREDENTIAL_NOT_FOUND,
    &dr_ca_certificates::NO_CA_DESTINATION_LEVEL,
    &dr_ca_certificates::NO_CA_PORT_LEVEL,
    &gateway_certificate::GATEWAY_DUPLICATE_CERTIFICATE,
    &gateway_conflicting::CONFLICTING_GATEWAYS,
    &gateway_secret::INVALID_GATEWAY_CREDENTIAL,
    &gateway_ingress_port::GATEWAY_PORT_NOT_ON_SERVICE,
    &dr_pod_not_selected::SUBSET_SELECTS_NO_PODS,
    &dr_pod_not_selected::UNKNOWN_DESTINATION_RULE_HOST,
    &k8sgateway_crd_version::CRD_VERSION_BELOW_MINIMUM,
];
