//! The rule registry: every rule, one file each (or one file per mirrored Istio analyzer).
//! Adding a rule touches its file, one line here, and its fixture folder.

use crate::rule::Rule;

pub mod invalid_resource;
pub mod invalid_yaml;
pub mod missing_export_to;
pub mod missing_global_label;
pub mod short_host_name;
pub mod vs_conflicting_mesh_hosts;
pub mod vs_destination_host;
pub mod vs_destination_rule;
pub mod vs_gateway;
pub mod vs_jwt_claim_route;
pub mod vs_schema;
mod vs_schema_checks;
pub(crate) mod vs_util;

/// Every rule, in code order.
pub static ALL: &[&Rule] = &[
    &invalid_yaml::INVALID_YAML,
    &invalid_resource::INVALID_RESOURCE,
    &short_host_name::SHORT_HOST_NAME,
    &missing_export_to::MISSING_EXPORT_TO,
    &missing_global_label::MISSING_GLOBAL_LABEL,
    // virtualservice.* analyzers and VirtualService schema validation
    &vs_destination_host::DESTINATION_HOST_NOT_FOUND,
    &vs_destination_host::DESTINATION_PORT_REQUIRED,
    &vs_destination_host::INGRESS_ROUTE_RULES_NOT_AFFECTED,
    &vs_destination_rule::SUBSET_NOT_FOUND,
    &vs_gateway::GATEWAY_NOT_FOUND,
    &vs_gateway::HOST_NOT_IN_GATEWAY,
    &vs_gateway::INTERNAL_GATEWAY_REFERENCE,
    &vs_conflicting_mesh_hosts::CONFLICTING_MESH_HOSTS,
    &vs_jwt_claim_route::JWT_CLAIM_ROUTE_WITHOUT_AUTHN,
    &vs_schema::SCHEMA_VALIDATION_ERROR,
    &vs_schema::UNREACHABLE_RULE,
    &vs_schema::INEFFECTIVE_MATCH,
];
