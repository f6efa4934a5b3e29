//! mspack_saga
