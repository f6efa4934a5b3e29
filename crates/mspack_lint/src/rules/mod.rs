//! The rule registry: every rule, one file each (or one file per mirrored Istio analyzer).
//! Adding a rule touches its file, one line here, and its fixture folder.

use crate::rule::Rule;

pub mod crd_schema;
pub mod invalid_resource;
pub mod invalid_yaml;
pub mod missing_export_to;
pub mod missing_global_label;
pub mod short_host_name;

// Workload, injection, webhook and mesh-install analyzers mirrored from Istio.
pub mod application_uid;
pub mod blocked_cidrs;
pub mod deployment_services;
pub mod external_control_plane;
pub mod image_auto;
pub mod injection;
mod k8s_support;
pub mod mesh_networks;
pub mod service_port_name;
pub mod webhook;

/// Every rule, in code order.
pub static ALL: &[&Rule] = &[
    &invalid_yaml::INVALID_YAML,
    &invalid_resource::INVALID_RESOURCE,
    &crd_schema::CRD_SCHEMA_VIOLATION,
    &short_host_name::SHORT_HOST_NAME,
    &missing_export_to::MISSING_EXPORT_TO,
    &missing_global_label::MISSING_GLOBAL_LABEL,
    // Workload, injection, webhook and mesh-install analyzers.
    &injection::NAMESPACE_NOT_INJECTED,
    &injection::POD_MISSING_PROXY,
    &deployment_services::ASSOCIATED_TO_MULTIPLE_SERVICES,
    &service_port_name::PORT_NAME_NOT_UNDER_CONVENTION,
    &injection::MULTIPLE_INJECTION_LABELS,
    &mesh_networks::UNKNOWN_SERVICE_REGISTRY,
    &deployment_services::CONFLICTING_PORTS,
    &webhook::INVALID_WEBHOOK,
    &application_uid::INVALID_APPLICATION_UID,
    &image_auto::IMAGE_AUTO_WITHOUT_INJECTION_WARNING,
    &image_auto::IMAGE_AUTO_WITHOUT_INJECTION_ERROR,
    &injection::INJECTION_ENABLED_BY_DEFAULT,
    &service_port_name::EXTERNAL_NAME_INVALID_PORT_NAME,
    &external_control_plane::INVALID_EXTERNAL_CONTROL_PLANE_CONFIG,
    &external_control_plane::ADDRESS_IS_NOT_A_HOSTNAME,
    &blocked_cidrs::JWKS_URI_FETCH_UNRESTRICTED,
];
