//! Istio's validation of a PeerAuthentication (for IST0106/IST0133): port-level mTLS only with
//! a workload selector, port numbers, the selector itself.

use crate::istio::validation::common::{key_of, workload_selector};
use crate::istio::validation::{Problems, field, map_entries};
use crate::resource::Resource;

/// Every problem Istio's validation finds in a PeerAuthentication.
pub(crate) fn validate(pa: &Resource) -> Problems<'_> {
    let mut p = Problems::new();
    let Some(spec) = pa.spec() else {
        return p;
    };
    let selector = field(spec, "selector");
    let empty_selector = selector.is_none_or(|s| map_entries(s, "matchLabels").is_empty());
    let port_level = field(spec, "portLevelMtls");
    let ports = map_entries(spec, "portLevelMtls");
    if empty_selector && !ports.is_empty() {
        p.add(
            key_of(spec, "portLevelMtls"),
            "a mesh or namespace-wide peer authentication (no selector labels) cannot have portLevelMtls",
        );
    }
    if port_level.is_some() && ports.is_empty() {
        p.add(
            key_of(spec, "portLevelMtls"),
            "portLevelMtls, if defined, must have at least one element",
        );
    }
    for (port, key, _) in ports {
        // A key that is no number at all fails to decode before validation.
        if let Ok(n) = port.parse::<u32>()
            && !(1..=65535).contains(&n)
        {
            p.add(key, "port must be in range 1..65535");
        }
    }
    workload_selector(selector, &mut p);
    p
}
