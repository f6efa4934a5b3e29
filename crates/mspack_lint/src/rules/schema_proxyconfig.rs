//! Istio's validation of a ProxyConfig (for IST0106/IST0133): its selector and concurrency.

use crate::resource::Resource;
use crate::rules::schema_common::{workload_selector, wrapped};
use crate::rules::vs_schema_checks::{Problems, field, int_value};

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
