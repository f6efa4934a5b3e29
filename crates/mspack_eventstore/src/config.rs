//! How a store names its tables and what it does besides storing events.

use std::fmt;
use std::sync::Arc;

use crate::error::StoreError;
use crate::upcast::Upcasters;

/// A validated prefix for every table, index and function the crates create (`mspack_` by
/// default), so several stores or test runs can share one database without clashing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TablePrefix(String);

impl TablePrefix {
    /// Checks that `prefix` is a plain lowercase SQL identifier of at most 40 characters.
    pub fn new(prefix: impl Into<String>) -> Result<Self, StoreError> {
        let prefix = prefix.into();
        let mut chars = prefix.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
        let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if first_ok && rest_ok && prefix.len() <= 40 {
            Ok(TablePrefix(prefix))
        } else {
            Err(StoreError::InvalidPrefix(prefix))
        }
    }

    /// The prefix itself.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Replaces every `{p}` in an SQL template with the prefix.
    pub fn render(&self, template: &str) -> String {
        template.replace("{p}", &self.0)
    }
}

impl Default for TablePrefix {
    fn default() -> Self {
        TablePrefix("mspack_".to_owned())
    }
}

impl fmt::Display for TablePrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Settings of an event store.
#[derive(Debug, Clone, Default)]
pub struct StoreConfig {
    pub(crate) prefix: TablePrefix,
    pub(crate) publish_subject: Option<String>,
    pub(crate) upcasters: Arc<Upcasters>,
}

impl StoreConfig {
    /// Default settings: tables prefixed `mspack_`, no publishing, no upcasters.
    pub fn new() -> Self {
        Self::default()
    }

    /// Uses `prefix` for every table name.
    pub fn with_prefix(mut self, prefix: TablePrefix) -> Self {
        self.prefix = prefix;
        self
    }

    /// Also writes every appended event to the outbox, in the same transaction, for publishing on
    /// the NATS subject `<subject_prefix>.<event type>`.
    pub fn publish_events(mut self, subject_prefix: impl Into<String>) -> Self {
        self.publish_subject = Some(subject_prefix.into());
        self
    }

    /// Upcasts events of old schema versions when they are read.
    pub fn with_upcasters(mut self, upcasters: Upcasters) -> Self {
        self.upcasters = Arc::new(upcasters);
        self
    }

    /// The table prefix.
    pub fn prefix(&self) -> &TablePrefix {
        &self.prefix
    }
}
