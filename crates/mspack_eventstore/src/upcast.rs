//! Upcasting: registered functions that turn an old payload schema into the current one on read.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use serde_json::Value;

use crate::error::StoreError;
use crate::event::RecordedEvent;

type UpcastFn = dyn Fn(Value) -> Result<Value, String> + Send + Sync;

/// The upcasters of a store, keyed by event type and the schema version they start from.
///
/// An upcaster registered for `(OrderPlaced, 1)` turns a version 1 payload into version 2; reads
/// chain upcasters until no further one is registered, so stored events never need rewriting.
#[derive(Clone, Default)]
pub struct Upcasters {
    by_type: HashMap<String, BTreeMap<u32, Arc<UpcastFn>>>,
}

impl fmt::Debug for Upcasters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (event_type, steps) in &self.by_type {
            map.entry(event_type, &steps.keys().collect::<Vec<_>>());
        }
        map.finish()
    }
}

impl Upcasters {
    /// No upcasters.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `upcast` to turn `event_type` payloads of `from_version` into `from_version + 1`.
    pub fn register<F>(
        mut self,
        event_type: impl Into<String>,
        from_version: u32,
        upcast: F,
    ) -> Self
    where
        F: Fn(Value) -> Result<Value, String> + Send + Sync + 'static,
    {
        self.by_type
            .entry(event_type.into())
            .or_default()
            .insert(from_version, Arc::new(upcast));
        self
    }

    /// True when no upcaster is registered.
    pub fn is_empty(&self) -> bool {
        self.by_type.is_empty()
    }

    /// Applies every upcaster from the event's schema version on, updating payload and version.
    pub fn upcast(&self, event: &mut RecordedEvent) -> Result<(), StoreError> {
        let Some(steps) = self.by_type.get(&event.event_type) else {
            return Ok(());
        };
        while let Some(step) = steps.get(&event.schema_version) {
            let payload = std::mem::take(&mut event.payload);
            event.payload = step(payload).map_err(|reason| StoreError::Upcast {
                event_type: event.event_type.clone(),
                from_version: event.schema_version,
                reason,
            })?;
            event.schema_version += 1;
        }
        Ok(())
    }
}
