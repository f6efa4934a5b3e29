//! The model layer of mspack, with no I/O (as kube-rs keeps it in kube-core): Kubernetes, Istio
//! and Gateway API [`Kind`]s, DNS-1123/1035 [`names`], Go [`duration`]s and resource [`quantity`]s. The linter and the
//! templates both use it, so a name or a duration is valid by one definition everywhere.

pub mod duration;
mod kind;
pub mod names;
pub mod quantity;

pub use kind::{Kind, split_api_version};
