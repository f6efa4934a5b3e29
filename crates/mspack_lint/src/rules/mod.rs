//! The rule registry: every rule, one file each (or one file per mirrored Istio analyzer).
//! Adding a rule touches its file, one line here, and its fixture folder.

use crate::rule::Rule;

pub mod crd_schema;
pub mod invalid_resource;
pub mod invalid_yaml;
pub mod missing_export_to;
pub mod missing_global_label;
pub mod short_host_name;

/// Every rule, in code order.
pub static ALL: &[&Rule] = &[
    &invalid_yaml::INVALID_YAML,
    &invalid_resource::INVALID_RESOURCE,
    &crd_schema::CRD_SCHEMA_VIOLATION,
    &short_host_name::SHORT_HOST_NAME,
    &missing_export_to::MISSING_EXPORT_TO,
    &missing_global_label::MISSING_GLOBAL_LABEL,
];
