//! The rule registry: every rule, one file each (or one file per mirrored Istio analyzer).
//! Adding a rule touches its file, one line here, and its fixture folder. This folder holds rules
//! only: Istio's validation library and annotation catalogue are in `crate::istio`, workload
//! matching in `crate::workloads`.

use crate::rule::Rule;

pub mod alpha_annotations;
pub mod annotations_k8s;
pub mod authz_policies;
pub mod crd_schema;
pub mod deprecated_fields;
pub mod duplicate_resource;
pub mod envoy_patch;
pub mod invalid_resource;
pub mod invalid_yaml;
pub mod missing_export_to;
pub mod missing_global_label;
pub mod se_conflicting_protocol;
pub mod se_protocol_addresses;
pub mod short_host_name;
pub mod stale_suppression;
pub mod vs_conflicting_mesh_hosts;
pub mod vs_destination_host;
pub mod vs_destination_rule;
pub mod vs_gateway;
pub mod vs_jwt_claim_route;
pub mod vs_schema;

// Workload, injection, webhook and mesh-install analyzers mirrored from Istio.
pub mod application_uid;
pub mod blocked_cidrs;
pub mod deployment_services;
pub mod external_control_plane;
pub mod image_auto;
pub mod injection;
pub mod mesh_networks;
pub mod service_port_name;
pub mod webhook;
// Gateway, DestinationRule TLS/subset and Gateway API CRD analyzers.
pub mod dr_ca_certificates;
pub mod dr_pod_not_selected;
pub mod gateway_certificate;
pub mod gateway_conflicting;
pub mod gateway_ingress_port;
pub mod gateway_secret;
pub mod k8sgateway_crd_version;
pub mod k8sgateway_precheck;
pub mod sidecar_selector;
pub mod telemetry_default_selector;
pub mod telemetry_lightstep;
pub mod telemetry_provider;
pub mod telemetry_selector;
// Analyzers of live-cluster state, read from manifests that carry it (Pod images, status).
pub mod conditions;
pub mod injection_image;
pub mod k8sgateway_selector;
// Cross-resource checks of our own (MSP4xx): what applies cleanly but does not work.
pub mod duplicate_ports;
pub mod network_policy_blocks;
mod network_policy_routes;
pub mod otlp_endpoint;
// Kubernetes workload hygiene (MSP2xx), off by default.
pub mod capabilities;
pub mod host_namespaces;
pub mod privileged_container;
pub mod requests_above_limits;
pub mod run_as_root;
pub mod target_port;
pub mod writable_root_fs;
// MSP206-218: more workload hygiene (resources, probes, images, env, selectors, budgets).
pub mod dangling_service;
pub mod env_vars;
pub mod host_path;
pub mod image_tag;
pub mod istio_port_probes;
pub mod mismatching_selector;
pub mod missing_probes;
pub mod pdb_blocks_eviction;
pub mod probe_port;
pub mod resources_unset;
pub mod seccomp;
// Kiali's validations that files decide (KIAxxxx).
pub mod kiali_ambient;
pub mod kiali_ambient_routing;
pub mod kiali_ambient_workload;
pub mod kiali_authorization;
pub mod kiali_destination_rule;
pub mod kiali_export_to;
pub mod kiali_gateway_api;
pub mod kiali_k8s_gateway;
pub mod kiali_mtls;
pub mod kiali_peer_authentication;
pub mod kiali_selector;
pub mod kiali_service_entry;
pub mod kiali_sidecar;
pub mod kiali_virtual_service;
pub mod kiali_workload_group;
// OpenTelemetry Collector configurations (MSP3xx).
pub mod obi_missing_capability;
pub mod obi_unknown_key;
pub mod otel_env_no_default;
pub mod otel_exporter_no_retry;
pub mod otel_host_network_listener;
pub mod otel_insecure_exporter;
pub mod otel_memory_limiter_order;
pub mod otel_no_batching;
pub mod otel_retired_component;
pub mod otel_signal_mismatch;
pub mod otel_undefined_component;
pub mod otel_unused_component;
// The dependency graph (MSP5xx, `mspack graph --check`), off by default.
pub mod graph_chain_depth;
pub mod graph_cycle;
pub mod graph_fan_out;
pub mod graph_outbox;
pub mod graph_route_resilience;
pub mod graph_shared_store;
pub mod graph_traces;

/// Every rule, in code order.
pub static ALL: &[&Rule] = &[
    &invalid_yaml::INVALID_YAML,
    &invalid_resource::INVALID_RESOURCE,
    &crd_schema::CRD_SCHEMA_VIOLATION,
    &duplicate_resource::DUPLICATE_RESOURCE,
    &stale_suppression::STALE_SUPPRESSION,
    &short_host_name::SHORT_HOST_NAME,
    &missing_export_to::MISSING_EXPORT_TO,
    &missing_global_label::MISSING_GLOBAL_LABEL,
    &privileged_container::PRIVILEGED_CONTAINER,
    &run_as_root::RUN_AS_ROOT,
    &writable_root_fs::WRITABLE_ROOT_FILESYSTEM,
    &capabilities::CAPABILITIES_NOT_DROPPED,
    &host_namespaces::HOST_NAMESPACES,
    &resources_unset::RESOURCES_NOT_SET,
    &missing_probes::MISSING_READINESS_PROBE,
    &missing_probes::MISSING_LIVENESS_PROBE,
    &image_tag::IMAGE_NOT_PINNED,
    &host_path::HOST_PATH_VOLUME,
    &seccomp::SECCOMP_PROFILE_NOT_SET,
    &env_vars::ENV_VAR_SECRET,
    &env_vars::DUPLICATE_ENV_VAR,
    &mismatching_selector::MISMATCHING_SELECTOR,
    &dangling_service::DANGLING_SERVICE,
    &pdb_blocks_eviction::PDB_BLOCKS_EVICTION,
    &istio_port_probes::PROBE_ON_ISTIO_PORT,
    &probe_port::PROBE_PORT_NOT_FOUND,
    // OpenTelemetry Collector configurations (MSP3xx).
    &otel_undefined_component::OTEL_UNDEFINED_COMPONENT,
    &otel_unused_component::OTEL_UNUSED_COMPONENT,
    &otel_memory_limiter_order::OTEL_MEMORY_LIMITER_NOT_FIRST,
    &otel_insecure_exporter::OTEL_INSECURE_EXPORTER,
    &otel_signal_mismatch::OTEL_SIGNAL_MISMATCH,
    &otel_no_batching::OTEL_NO_BATCHING,
    &otel_exporter_no_retry::OTEL_EXPORTER_NO_RETRY,
    &otel_env_no_default::OTEL_ENV_NO_DEFAULT,
    &otel_retired_component::OTEL_RETIRED_COMPONENT,
    &obi_unknown_key::OBI_UNKNOWN_KEY,
    &obi_missing_capability::OBI_MISSING_CAPABILITY,
    &otel_host_network_listener::OTEL_HOST_NETWORK_LISTENER,
    &requests_above_limits::REQUESTS_ABOVE_LIMITS,
    &duplicate_ports::DUPLICATE_PORTS,
    &target_port::TARGET_PORT_NOT_EXPOSED,
    &network_policy_blocks::NETWORK_POLICY_BLOCKS_ALLOWED_CALLER,
    &otlp_endpoint::OTLP_ENDPOINT_NOT_ADMITTED,
    // The dependency graph (MSP5xx).
    &graph_chain_depth::SYNC_CHAIN_TOO_DEEP,
    &graph_cycle::SYNC_CALL_CYCLE,
    &graph_fan_out::SYNC_FAN_OUT,
    &graph_shared_store::SHARED_DATA_STORE,
    &graph_route_resilience::ROUTE_WITHOUT_TIMEOUT,
    &graph_route_resilience::RETRIED_WRITE_ROUTE,
    &graph_outbox::PUBLISHES_WITHOUT_OUTBOX,
    &graph_traces::UNDECLARED_DEPENDENCY,
    &graph_traces::DECLARED_CALL_NOT_OBSERVED,
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
    &k8sgateway_precheck::UNSUPPORTED_GATEWAY_API_VERSION,
    &k8sgateway_precheck::FUTURE_UNSUPPORTED_GATEWAY_API_VERSION,
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
    &vs_schema::SCHEMA_WARNING,
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
    // Analyzers of live-cluster state: running proxy images, gateway pods, status conditions.
    &injection_image::PROXY_IMAGE_MISMATCH,
    &k8sgateway_selector::INEFFECTIVE_SELECTOR,
    &conditions::NEGATIVE_CONDITION_STATUS,
    // Kiali's validations that files decide.
    &kiali_peer_authentication::MULTIPLE_NAMESPACE_PEER_AUTHENTICATIONS,
    &kiali_peer_authentication::MULTIPLE_WORKLOAD_PEER_AUTHENTICATIONS,
    &kiali_selector::SELECTOR_NO_WORKLOAD,
    &kiali_export_to::EXPORT_TO_NAMESPACE_NOT_FOUND,
    &kiali_authorization::WRONG_METHOD,
    &kiali_authorization::NEEDS_MTLS,
    &kiali_authorization::FOREIGN_TRUST_DOMAIN,
    &kiali_ambient::L7_POLICY_WITHOUT_WAYPOINT,
    &kiali_ambient::L7_POLICY_WITHOUT_TARGET_REFS,
    &kiali_destination_rule::MULTIPLE_DESTINATION_RULES,
    &kiali_mtls::MTLS_OVERRIDDEN,
    &kiali_mtls::DR_DISABLES_NAMESPACE_STRICT,
    &kiali_mtls::DR_DISABLES_MESH_STRICT,
    &kiali_destination_rule::SUBSET_WITHOUT_LABELS,
    &kiali_ambient_routing::DR_NAMESPACE_WITHOUT_WAYPOINT,
    &kiali_ambient_routing::DR_SERVICE_NOT_CAPTURED,
    &kiali_ambient_routing::DR_NOT_IN_SERVICE_NAMESPACE,
    &kiali_mtls::MESH_STRICT_WITHOUT_MTLS_DR,
    &kiali_mtls::STRICT_WITHOUT_MTLS_DR,
    &kiali_mtls::PA_DISABLES_NAMESPACE_MTLS,
    &kiali_mtls::PA_DISABLES_MESH_MTLS,
    &kiali_sidecar::EGRESS_HOST_NOT_FOUND,
    &kiali_sidecar::GLOBAL_SIDECAR_SELECTOR,
    &kiali_virtual_service::SINGLE_WEIGHT,
    &kiali_virtual_service::REPEATED_DESTINATION,
    &kiali_ambient_routing::VS_NAMESPACE_WITHOUT_WAYPOINT,
    &kiali_ambient::JWT_WITHOUT_WAYPOINT,
    &kiali_ambient::WASM_WITHOUT_WAYPOINT,
    &kiali_ambient_routing::VS_SERVICE_NOT_CAPTURED,
    &kiali_ambient_routing::VS_NOT_IN_SERVICE_NAMESPACE,
    &kiali_ambient::JWT_WITHOUT_TARGET_REFS,
    &kiali_ambient::WASM_WITHOUT_TARGET_REFS,
    &kiali_service_entry::DUPLICATE_SERVICE_ENTRY,
    &kiali_ambient_workload::SIDECAR_AND_AMBIENT,
    &kiali_ambient_workload::WAYPOINT_NOT_FOUND,
    &kiali_gateway_api::ROUTE_GATEWAY_NOT_FOUND,
    &kiali_gateway_api::ROUTE_BACKEND_NOT_FOUND,
    &kiali_k8s_gateway::DUPLICATE_ADDRESS,
    &kiali_k8s_gateway::DUPLICATE_LISTENER,
    &kiali_gateway_api::REFERENCE_GRANT_NAMESPACE_NOT_FOUND,
    &kiali_workload_group::DUPLICATE_WORKLOAD_GROUP_LABELS,
];
