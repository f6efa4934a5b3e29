//! The event store's tables for both backends: events, snapshots, projection checkpoints and the
//! outbox (which lives here because appends write it in the same transaction).

use crate::config::TablePrefix;
use crate::database::Database;
use crate::error::StoreError;
use crate::migrate::{Migration, migrate};

/// Creates or upgrades the event store's tables (events, snapshots, checkpoints, outbox) under
/// `prefix`; for crates that share them, such as the outbox relay. Idempotent.
pub async fn migrate_store(db: &Database, prefix: &TablePrefix) -> Result<(), StoreError> {
    migrate(db, prefix, COMPONENT, MIGRATIONS).await
}

/// The migration component name of the event store.
pub const COMPONENT: &str = "eventstore";

/// The event store's schema, oldest first.
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    description: "events, snapshots, checkpoints, outbox",
    sqlite: SQLITE_V1,
    postgres: POSTGRES_V1,
}];

const SQLITE_V1: &str = r#"
CREATE TABLE {p}events (
    global_position INTEGER PRIMARY KEY,
    stream_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    schema_version INTEGER NOT NULL,
    payload TEXT NOT NULL,
    correlation_id TEXT,
    causation_id TEXT,
    traceparent TEXT,
    recorded_at INTEGER NOT NULL,
    CONSTRAINT {p}events_stream_version UNIQUE (stream_id, version),
    CONSTRAINT {p}events_event_id UNIQUE (event_id)
);
CREATE TABLE {p}snapshots (
    stream_id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    state TEXT NOT NULL,
    recorded_at INTEGER NOT NULL DEFAULT (unixepoch())
);
CREATE TABLE {p}checkpoints (
    name TEXT PRIMARY KEY,
    position INTEGER NOT NULL
);
CREATE TABLE {p}outbox (
    id INTEGER PRIMARY KEY,
    message_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    payload BLOB NOT NULL,
    headers TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    sent_at INTEGER
);
CREATE INDEX {p}outbox_pending ON {p}outbox (id) WHERE sent_at IS NULL;
"#;

const POSTGRES_V1: &str = r#"
CREATE TABLE {p}events (
    global_position BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stream_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    event_id UUID NOT NULL,
    event_type TEXT NOT NULL,
    schema_version INTEGER NOT NULL,
    payload JSONB NOT NULL,
    correlation_id UUID,
    causation_id UUID,
    traceparent TEXT,
    recorded_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT {p}events_stream_version UNIQUE (stream_id, version),
    CONSTRAINT {p}events_event_id UNIQUE (event_id)
);
CREATE TABLE {p}snapshots (
    stream_id TEXT PRIMARY KEY,
    version BIGINT NOT NULL,
    state JSONB NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE {p}checkpoints (
    name TEXT PRIMARY KEY,
    position BIGINT NOT NULL
);
CREATE TABLE {p}outbox (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id UUID NOT NULL,
    subject TEXT NOT NULL,
    payload BYTEA NOT NULL,
    headers JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT '-infinity',
    last_error TEXT,
    sent_at TIMESTAMPTZ
);
CREATE INDEX {p}outbox_pending ON {p}outbox (id) WHERE sent_at IS NULL;

-- One round trip per append. The advisory lock (per prefix, held to commit) makes global positions
-- follow commit order, so a reader that has seen position N never later finds a smaller one; it
-- also makes the version check below exact. A stale expected version returns out_ok = false.
CREATE FUNCTION {p}append(
    p_stream TEXT, p_expected BIGINT,
    p_ids UUID[], p_types TEXT[], p_schema INT[], p_payloads JSONB[],
    p_correlation UUID[], p_causation UUID[], p_traceparent TEXT[],
    p_publish TEXT,
    p_out_ids UUID[], p_out_subjects TEXT[], p_out_payloads BYTEA[], p_out_headers JSONB[])
RETURNS TABLE (out_ok BOOLEAN, out_version BIGINT, out_first BIGINT, out_last BIGINT)
LANGUAGE plpgsql AS $fn$
DECLARE
    v_current BIGINT;
    v_first BIGINT;
    v_last BIGINT;
    v_count INT := coalesce(cardinality(p_ids), 0);
    v_out INT := coalesce(cardinality(p_out_ids), 0);
BEGIN
    PERFORM pg_advisory_xact_lock(1836282987, hashtext('{p}events'));
    SELECT coalesce(max(e.version), 0) INTO v_current FROM {p}events e WHERE e.stream_id = p_stream;
    IF p_expected >= 0 AND v_current <> p_expected THEN
        RETURN QUERY SELECT false, v_current, NULL::BIGINT, NULL::BIGINT;
        RETURN;
    END IF;
    IF v_count > 0 AND p_publish IS NULL THEN
        -- Plain append: return only positions, so payloads are not copied a second time.
        WITH ins AS (
            INSERT INTO {p}events AS e (stream_id, version, event_id, event_type, schema_version,
                                        payload, correlation_id, causation_id, traceparent)
            SELECT p_stream, v_current + u.ord, u.id, u.typ, u.sv, u.pl, u.co, u.ca, u.tp
            FROM unnest(p_ids, p_types, p_schema, p_payloads, p_correlation, p_causation, p_traceparent)
                 WITH ORDINALITY AS u(id, typ, sv, pl, co, ca, tp, ord)
            ORDER BY u.ord
            RETURNING e.global_position
        )
        SELECT min(ins.global_position), max(ins.global_position) INTO v_first, v_last FROM ins;
    ELSIF v_count > 0 THEN
        -- Publishing append: every event also becomes an outbox row, in this transaction.
        WITH ins AS (
            INSERT INTO {p}events AS e (stream_id, version, event_id, event_type, schema_version,
                                        payload, correlation_id, causation_id, traceparent)
            SELECT p_stream, v_current + u.ord, u.id, u.typ, u.sv, u.pl, u.co, u.ca, u.tp
            FROM unnest(p_ids, p_types, p_schema, p_payloads, p_correlation, p_causation, p_traceparent)
                 WITH ORDINALITY AS u(id, typ, sv, pl, co, ca, tp, ord)
            ORDER BY u.ord
            RETURNING e.global_position, e.version, e.event_id, e.event_type, e.schema_version,
                      e.payload, e.correlation_id, e.causation_id, e.traceparent
        ), published AS (
            INSERT INTO {p}outbox (message_id, subject, payload, headers)
            SELECT i.event_id, p_publish || '.' || i.event_type, convert_to(i.payload::text, 'UTF8'),
                   jsonb_strip_nulls(jsonb_build_object(
                       'traceparent', i.traceparent,
                       'Mspack-Event-Type', i.event_type,
                       'Mspack-Stream', p_stream,
                       'Mspack-Version', i.version::text,
                       'Mspack-Schema-Version', i.schema_version::text,
                       'Mspack-Correlation-Id', i.correlation_id::text,
                       'Mspack-Causation-Id', i.causation_id::text))
            FROM ins i
            ORDER BY i.global_position
        )
        SELECT min(ins.global_position), max(ins.global_position) INTO v_first, v_last FROM ins;
    END IF;
    IF v_out > 0 THEN
        INSERT INTO {p}outbox (message_id, subject, payload, headers)
        SELECT * FROM unnest(p_out_ids, p_out_subjects, p_out_payloads, p_out_headers);
    END IF;
    IF v_out > 0 OR (v_count > 0 AND p_publish IS NOT NULL) THEN
        PERFORM pg_notify('{p}outbox', '');
    END IF;
    RETURN QUERY SELECT true, v_current + v_count, v_first, v_last;
END
$fn$;
"#;
