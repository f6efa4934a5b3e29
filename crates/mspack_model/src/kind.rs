//! Kubernetes, Istio and Gateway API kinds, known by API group and kind, and `apiVersion` parsing.

/// Kinds that rules know by group and kind. An Istio `Gateway` and a Gateway API `Gateway` are
/// different kinds here although both print as `Gateway`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    // networking.istio.io
    VirtualService,
    DestinationRule,
    Gateway,
    ServiceEntry,
    Sidecar,
    WorkloadEntry,
    WorkloadGroup,
    EnvoyFilter,
    ProxyConfig,
    // security.istio.io
    AuthorizationPolicy,
    PeerAuthentication,
    RequestAuthentication,
    // telemetry.istio.io
    Telemetry,
    // extensions.istio.io
    WasmPlugin,
    // gateway.networking.k8s.io
    K8sGateway,
    GatewayClass,
    HTTPRoute,
    GRPCRoute,
    TCPRoute,
    TLSRoute,
    UDPRoute,
    ReferenceGrant,
    // core
    Service,
    Pod,
    Namespace,
    Secret,
    ConfigMap,
    ServiceAccount,
    Node,
    // workloads
    Deployment,
    StatefulSet,
    DaemonSet,
    ReplicaSet,
    ReplicationController,
    Job,
    CronJob,
    /// Argo Rollouts' `Rollout` (a Deployment with progressive delivery; `spec.template`).
    Rollout,
    // networking.k8s.io
    NetworkPolicy,
    // cluster configuration
    MutatingWebhookConfiguration,
    ValidatingWebhookConfiguration,
    CustomResourceDefinition,
    /// Anything else: kept, checked only by kind-independent rules.
    Other,
}

impl Kind {
    /// Classify an `apiVersion` group and `kind`.
    pub fn classify(group: &str, kind: &str) -> Kind {
        match (group, kind) {
            ("networking.istio.io", "VirtualService") => Kind::VirtualService,
            ("networking.istio.io", "DestinationRule") => Kind::DestinationRule,
            ("networking.istio.io", "Gateway") => Kind::Gateway,
            ("networking.istio.io", "ServiceEntry") => Kind::ServiceEntry,
            ("networking.istio.io", "Sidecar") => Kind::Sidecar,
            ("networking.istio.io", "WorkloadEntry") => Kind::WorkloadEntry,
            ("networking.istio.io", "WorkloadGroup") => Kind::WorkloadGroup,
            ("networking.istio.io", "EnvoyFilter") => Kind::EnvoyFilter,
            ("networking.istio.io", "ProxyConfig") => Kind::ProxyConfig,
            ("security.istio.io", "AuthorizationPolicy") => Kind::AuthorizationPolicy,
            ("security.istio.io", "PeerAuthentication") => Kind::PeerAuthentication,
            ("security.istio.io", "RequestAuthentication") => Kind::RequestAuthentication,
            ("telemetry.istio.io", "Telemetry") => Kind::Telemetry,
            ("extensions.istio.io", "WasmPlugin") => Kind::WasmPlugin,
            ("gateway.networking.k8s.io", "Gateway") => Kind::K8sGateway,
            ("gateway.networking.k8s.io", "GatewayClass") => Kind::GatewayClass,
            ("gateway.networking.k8s.io", "HTTPRoute") => Kind::HTTPRoute,
            ("gateway.networking.k8s.io", "GRPCRoute") => Kind::GRPCRoute,
            ("gateway.networking.k8s.io", "TCPRoute") => Kind::TCPRoute,
            ("gateway.networking.k8s.io", "TLSRoute") => Kind::TLSRoute,
            ("gateway.networking.k8s.io", "UDPRoute") => Kind::UDPRoute,
            ("gateway.networking.k8s.io", "ReferenceGrant") => Kind::ReferenceGrant,
            ("", "Service") => Kind::Service,
            ("", "Pod") => Kind::Pod,
            ("", "Namespace") => Kind::Namespace,
            ("", "Secret") => Kind::Secret,
            ("", "ConfigMap") => Kind::ConfigMap,
            ("", "ServiceAccount") => Kind::ServiceAccount,
            ("", "Node") => Kind::Node,
            ("", "ReplicationController") => Kind::ReplicationController,
            ("apps" | "extensions", "Deployment") => Kind::Deployment,
            ("apps", "StatefulSet") => Kind::StatefulSet,
            ("apps" | "extensions", "DaemonSet") => Kind::DaemonSet,
            ("apps" | "extensions", "ReplicaSet") => Kind::ReplicaSet,
            ("batch", "Job") => Kind::Job,
            ("batch", "CronJob") => Kind::CronJob,
            ("argoproj.io", "Rollout") => Kind::Rollout,
            ("networking.k8s.io", "NetworkPolicy") => Kind::NetworkPolicy,
            ("admissionregistration.k8s.io", "MutatingWebhookConfiguration") => {
                Kind::MutatingWebhookConfiguration
            }
            ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration") => {
                Kind::ValidatingWebhookConfiguration
            }
            ("apiextensions.k8s.io", "CustomResourceDefinition") => Kind::CustomResourceDefinition,
            _ => Kind::Other,
        }
    }

    /// Kinds that have no namespace.
    pub fn is_cluster_scoped(self) -> bool {
        matches!(
            self,
            Kind::Namespace
                | Kind::Node
                | Kind::GatewayClass
                | Kind::MutatingWebhookConfiguration
                | Kind::ValidatingWebhookConfiguration
                | Kind::CustomResourceDefinition
        )
    }

    /// Istio configuration kinds (networking, security, telemetry, extensions).
    pub fn is_istio(self) -> bool {
        matches!(
            self,
            Kind::VirtualService
                | Kind::DestinationRule
                | Kind::Gateway
                | Kind::ServiceEntry
                | Kind::Sidecar
                | Kind::WorkloadEntry
                | Kind::WorkloadGroup
                | Kind::EnvoyFilter
                | Kind::ProxyConfig
                | Kind::AuthorizationPolicy
                | Kind::PeerAuthentication
                | Kind::RequestAuthentication
                | Kind::Telemetry
                | Kind::WasmPlugin
        )
    }

    /// Pods and the controllers that carry a pod template: what label selectors select.
    pub const WORKLOADS: &'static [Kind] = match Kind::WORKLOADS_AND_SERVICE.split_last() {
        Some((_, workloads)) => workloads,
        None => &[],
    };

    /// [`Kind::WORKLOADS`] and then `Service`: what a check of pods and of the Services in front
    /// of them reads.
    pub const WORKLOADS_AND_SERVICE: &'static [Kind] = &[
        Kind::Pod,
        Kind::Deployment,
        Kind::StatefulSet,
        Kind::DaemonSet,
        Kind::ReplicaSet,
        Kind::ReplicationController,
        Kind::Job,
        Kind::CronJob,
        Kind::Rollout,
        Kind::Service,
    ];

    /// Kinds whose `spec.template` is a pod template (`CronJob` nests it one level deeper).
    pub fn has_pod_template(self) -> bool {
        matches!(
            self,
            Kind::Deployment
                | Kind::StatefulSet
                | Kind::DaemonSet
                | Kind::ReplicaSet
                | Kind::ReplicationController
                | Kind::Job
                | Kind::CronJob
                | Kind::Rollout
        )
    }
}

/// Split `group/version` (`v1` alone is the core group).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.rsplit_once('/') {
        Some((group, version)) => (group, version),
        None => ("", api_version),
    }
}
