//! Istio's validation of a ProxyConfig (for IST0106/IST0133): its selector and concurrency.

use crate::istio::validation::common::{workload_selector, wrapped};
use crate::istio::validation::{Problems, field, int_value};
use crate::resource::Resource;

/// Every problem Istio's validation finds in a ProxyConfig.
pub(crate) fn validate(pc: &Resource) -> Problems<'_> {
    let mut p = Problems::new();
    let Some(spec) = pc.spec() else {
        return p;
    };
    workload_selector(field(spec, "selector"), &mut p);
    if let Some(c) = wrapped(spec, "concurrency")
        && int_value(c) < 0
    {
        p.add(c, "concurrency must be greater than or equal to 0");
    }
    p
}
