//! mspack_outbox
