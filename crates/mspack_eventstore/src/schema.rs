//! The event store's tables for both backends: events, snapshots, projection checkpoints and the
//! outbox (which lives here because appends write it in the same transaction).

use crate::config::TablePrefix;
use crate::error::StoreError;
use crate::migrate::{Migration, migrate};
use crate::sql::Database;
use crate::sql::Sql;

/// Creates or upgrades the event store's tables (events, snapshots, checkpoints, outbox) under
/// `prefix`; for crates that share them, such as the outbox relay. Idempotent.
pub async fn migrate_store(db: &Database, prefix: &TablePrefix) -> Result<(), StoreError> {
    migrate(db, prefix, COMPONENT, MIGRATIONS).await?;
    assign_legacy_partitions(db, prefix).await
}

/// Outbox rows written before version 2 have no partition yet (-1): give each the partition of
/// its ordering key, computed here because SQLite has no hash function to do it in SQL.
async fn assign_legacy_partitions(db: &Database, prefix: &TablePrefix) -> Result<(), StoreError> {
    let op = "assigning outbox partitions";
    let select = Sql::both(
        prefix,
        "SELECT id, ordering_key FROM {p}outbox WHERE partition < 0 LIMIT 1000",
    );
    let update = Sql::both(prefix, "UPDATE {p}outbox SET partition = $2 WHERE id = $1");
    loop {
        let rows = db
            .fetch_all(&select, &[])
            .await
            .map_err(StoreError::database(op))?;
        if rows.is_empty() {
            return Ok(());
        }
        for row in rows {
            let id = row.int(0, "outbox id")?;
            let key = row.text(1, "outbox ordering key")?;
            db.execute(&update, &[id.into(), outbox_partition(&key).into()])
                .await
                .map_err(StoreError::database(op))?;
        }
    }
}

/// The migration component name of the event store.
pub const COMPONENT: &str = "eventstore";

/// The event store's schema, oldest first.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "events, snapshots, checkpoints, outbox",
        sqlite: SQLITE_V1,
        postgres: POSTGRES_V1,
    },
    Migration {
        version: 2,
        description: "global order without a store-wide lock, checkpoint leases, outbox ordering \
                      keys and partitions, dead letters, sent archive, relay leases",
        sqlite: SQLITE_V2,
        postgres: POSTGRES_V2,
    },
    Migration {
        version: 3,
        description: "a stream's events keep their version order in the global order",
        // SQLite writers take turns (BEGIN IMMEDIATE), so positions follow commit order.
        sqlite: "SELECT 1;",
        postgres: POSTGRES_V3,
    },
];

/// How many partitions the outbox is split into for relays to lease (a message's partition is
/// a hash of its ordering key, so one key is always published by one relay at a time).
pub const OUTBOX_PARTITIONS: u32 = 64;

/// The outbox partition of an ordering key: FNV-1a 64 of its bytes, modulo
/// [`OUTBOX_PARTITIONS`]. Stable across versions and processes.
pub fn outbox_partition(key: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    i64::from(u32::try_from(hash % u64::from(OUTBOX_PARTITIONS)).unwrap_or(0))
}

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

const SQLITE_V2: &str = r#"
ALTER TABLE {p}checkpoints ADD COLUMN transaction_id INTEGER NOT NULL DEFAULT 0;
ALTER TABLE {p}checkpoints ADD COLUMN lease_owner TEXT;
ALTER TABLE {p}checkpoints ADD COLUMN lease_until_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE {p}checkpoints ADD COLUMN rebuilding INTEGER NOT NULL DEFAULT 0;

ALTER TABLE {p}outbox ADD COLUMN ordering_key TEXT NOT NULL DEFAULT '';
ALTER TABLE {p}outbox ADD COLUMN partition INTEGER NOT NULL DEFAULT -1;
ALTER TABLE {p}outbox ADD COLUMN dead_us INTEGER;
UPDATE {p}outbox SET ordering_key = coalesce(json_extract(headers, '$."Mspack-Stream"'), subject);
-- Its own key: SQLite reuses the outbox's ids once the rows above them are gone.
CREATE TABLE {p}outbox_sent (
    sent_id INTEGER PRIMARY KEY,
    id INTEGER NOT NULL,
    message_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    payload BLOB NOT NULL,
    headers TEXT NOT NULL,
    ordering_key TEXT NOT NULL,
    created_us INTEGER NOT NULL,
    sent_us INTEGER NOT NULL
);
INSERT INTO {p}outbox_sent (id, message_id, subject, payload, headers, ordering_key,
                            created_us, sent_us)
    SELECT id, message_id, subject, payload, headers, ordering_key, created_at, sent_at
    FROM {p}outbox WHERE sent_at IS NOT NULL;
DELETE FROM {p}outbox WHERE sent_at IS NOT NULL;
DROP INDEX {p}outbox_pending;
ALTER TABLE {p}outbox DROP COLUMN sent_at;
ALTER TABLE {p}outbox DROP COLUMN next_attempt_at;
ALTER TABLE {p}outbox RENAME COLUMN created_at TO created_us;
CREATE INDEX {p}outbox_queue ON {p}outbox (id) WHERE dead_us IS NULL;
CREATE INDEX {p}outbox_dead ON {p}outbox (id) WHERE dead_us IS NOT NULL;
CREATE INDEX {p}outbox_sent_time ON {p}outbox_sent (sent_us);
CREATE TABLE {p}outbox_blocked (
    ordering_key TEXT PRIMARY KEY,
    head_id INTEGER NOT NULL,
    retry_us INTEGER NOT NULL
);
CREATE TABLE {p}outbox_leases (
    partition INTEGER PRIMARY KEY,
    owner TEXT NOT NULL,
    expires_ms INTEGER NOT NULL
);
CREATE TABLE {p}outbox_relays (
    owner TEXT PRIMARY KEY,
    seen_ms INTEGER NOT NULL
);
"#;

/// The PostgreSQL append function: `$create` is `CREATE` or `CREATE OR REPLACE`, `$read_last`
/// the statements that read the stream's last event into `v_current`, `v_last_at` (and from
/// version 3 check its transaction id).
macro_rules! append_function {
    ($create:literal, $read_last:literal) => {
        concat!(
            $create,
            r#" FUNCTION {p}append(
    p_stream TEXT, p_expected BIGINT,
    p_ids UUID[], p_types TEXT[], p_schema INT[], p_payloads JSONB[],
    p_correlation UUID[], p_causation UUID[], p_traceparent TEXT[],
    p_publish TEXT, p_partition INT,
    p_out_ids UUID[], p_out_subjects TEXT[], p_out_payloads BYTEA[], p_out_headers JSONB[],
    p_out_keys TEXT[], p_out_partitions INT[])
RETURNS TABLE (out_status INT, out_version BIGINT, out_first BIGINT, out_last BIGINT,
               out_tx BIGINT)
LANGUAGE plpgsql AS $fn$
DECLARE
    v_current BIGINT := 0;
    v_last_at TIMESTAMPTZ;
    v_last_tx xid8;
    v_now TIMESTAMPTZ;
    v_first BIGINT;
    v_last BIGINT;
    v_inserted INT := 0;
    v_base BIGINT;
    v_matched INT;
    v_count INT := coalesce(cardinality(p_ids), 0);
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('{p}' || p_stream, 0));
"#,
            $read_last,
            r#"    v_current := coalesce(v_current, 0);
    IF v_count > 0 AND (p_expected >= 0 AND v_current <> p_expected
                        OR EXISTS (SELECT 1 FROM {p}events e WHERE e.event_id = p_ids[1])) THEN
        -- Either a stale version or a retry of an append that already committed (its reply
        -- was lost): the same ids, in order, right after the expected version.
        SELECT e.version - 1 INTO v_base FROM {p}events e
            WHERE e.event_id = p_ids[1] AND e.stream_id = p_stream;
        IF v_base IS NOT NULL AND (p_expected < 0 OR v_base = p_expected) THEN
            SELECT count(*), min(e.global_position), max(e.global_position)
                INTO v_matched, v_first, v_last
                FROM unnest(p_ids) WITH ORDINALITY AS u(id, ord)
                JOIN {p}events e ON e.event_id = u.id AND e.stream_id = p_stream
                                 AND e.version = v_base + u.ord;
            IF v_matched = v_count THEN
                RETURN QUERY SELECT 2, v_base + v_count, v_first, v_last,
                    (SELECT e.transaction_id::text::bigint FROM {p}events e
                     WHERE e.event_id = p_ids[1]);
                RETURN;
            END IF;
        END IF;
        IF p_expected < 0 OR v_current = p_expected THEN
            RAISE unique_violation USING
                MESSAGE = 'event id already stored elsewhere',
                CONSTRAINT = '{p}events_event_id';
        END IF;
        RETURN QUERY SELECT 1, v_current, NULL::BIGINT, NULL::BIGINT, NULL::BIGINT;
        RETURN;
    END IF;
    IF p_expected >= 0 AND v_current <> p_expected THEN
        RETURN QUERY SELECT 1, v_current, NULL::BIGINT, NULL::BIGINT, NULL::BIGINT;
        RETURN;
    END IF;
    IF v_count > 0 THEN
        v_now := greatest(clock_timestamp(), v_last_at);
        WITH ins AS (
            INSERT INTO {p}events AS e (stream_id, version, event_id, event_type, schema_version,
                                        payload, correlation_id, causation_id, traceparent,
                                        recorded_at)
            SELECT p_stream, v_current + u.ord, u.id, u.typ, u.sv, u.pl, u.co, u.ca, u.tp, v_now
            FROM unnest(p_ids, p_types, p_schema, p_payloads, p_correlation, p_causation,
                        p_traceparent)
                 WITH ORDINALITY AS u(id, typ, sv, pl, co, ca, tp, ord)
            ORDER BY u.ord
            RETURNING e.global_position
        )
        SELECT min(ins.global_position), max(ins.global_position) INTO v_first, v_last FROM ins;
        IF p_publish IS NOT NULL THEN
            PERFORM {p}enqueue(
                array_agg(e.event_id ORDER BY e.version),
                array_agg(p_publish || '.' || e.event_type ORDER BY e.version),
                array_agg(convert_to(e.payload::text, 'UTF8') ORDER BY e.version),
                array_agg(jsonb_strip_nulls(jsonb_build_object(
                    'traceparent', e.traceparent,
                    'Mspack-Event-Type', e.event_type,
                    'Mspack-Stream', p_stream,
                    'Mspack-Version', e.version::text,
                    'Mspack-Schema-Version', e.schema_version::text,
                    'Mspack-Correlation-Id', e.correlation_id::text,
                    'Mspack-Causation-Id', e.causation_id::text)) ORDER BY e.version),
                array_agg(p_stream ORDER BY e.version),
                array_agg(p_partition ORDER BY e.version))
            FROM {p}events e WHERE e.stream_id = p_stream AND e.version > v_current;
        END IF;
    END IF;
    PERFORM {p}enqueue(p_out_ids, p_out_subjects, p_out_payloads, p_out_headers, p_out_keys,
                       p_out_partitions);
    RETURN QUERY SELECT 0, v_current + v_count, v_first, v_last,
        pg_current_xact_id()::text::bigint;
END
$fn$;
"#
        )
    };
}

const POSTGRES_V2: &str = concat!(
    r#"
-- The global order becomes (transaction id, position): readers stop below the oldest
-- transaction still in flight, so appends to different streams no longer take turns.
ALTER TABLE {p}events ADD COLUMN transaction_id xid8 NOT NULL DEFAULT '0';
ALTER TABLE {p}events ALTER COLUMN transaction_id SET DEFAULT pg_current_xact_id();
ALTER TABLE {p}events DROP CONSTRAINT {p}events_pkey;
ALTER TABLE {p}events ADD CONSTRAINT {p}events_pkey PRIMARY KEY (transaction_id, global_position);

ALTER TABLE {p}checkpoints ADD COLUMN transaction_id BIGINT NOT NULL DEFAULT 0;
ALTER TABLE {p}checkpoints ADD COLUMN lease_owner TEXT;
ALTER TABLE {p}checkpoints ADD COLUMN lease_until_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE {p}checkpoints ADD COLUMN rebuilding BOOLEAN NOT NULL DEFAULT false;

ALTER TABLE {p}outbox ADD COLUMN ordering_key TEXT NOT NULL DEFAULT '';
ALTER TABLE {p}outbox ADD COLUMN partition INTEGER NOT NULL DEFAULT -1;
ALTER TABLE {p}outbox ADD COLUMN dead_us BIGINT;
ALTER TABLE {p}outbox ADD COLUMN created_us BIGINT;
UPDATE {p}outbox SET ordering_key = coalesce(headers->>'Mspack-Stream', subject),
    created_us = (extract(epoch FROM created_at) * 1000000)::bigint;
ALTER TABLE {p}outbox ALTER COLUMN created_us SET NOT NULL;
ALTER TABLE {p}outbox ALTER COLUMN created_us
    SET DEFAULT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint;
CREATE TABLE {p}outbox_sent (
    sent_id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id BIGINT NOT NULL,
    message_id UUID NOT NULL,
    subject TEXT NOT NULL,
    payload BYTEA NOT NULL,
    headers JSONB NOT NULL,
    ordering_key TEXT NOT NULL,
    created_us BIGINT NOT NULL,
    sent_us BIGINT NOT NULL
);
INSERT INTO {p}outbox_sent (id, message_id, subject, payload, headers, ordering_key,
                            created_us, sent_us)
    SELECT id, message_id, subject, payload, headers, ordering_key, created_us,
           (extract(epoch FROM sent_at) * 1000000)::bigint
    FROM {p}outbox WHERE sent_at IS NOT NULL;
DELETE FROM {p}outbox WHERE sent_at IS NOT NULL;
ALTER TABLE {p}outbox DROP COLUMN sent_at;
ALTER TABLE {p}outbox DROP COLUMN next_attempt_at;
ALTER TABLE {p}outbox DROP COLUMN created_at;
CREATE INDEX {p}outbox_queue ON {p}outbox (id) WHERE dead_us IS NULL;
CREATE INDEX {p}outbox_dead ON {p}outbox (id) WHERE dead_us IS NOT NULL;
CREATE INDEX {p}outbox_sent_time ON {p}outbox_sent (sent_us);
CREATE TABLE {p}outbox_blocked (
    ordering_key TEXT PRIMARY KEY,
    head_id BIGINT NOT NULL,
    retry_us BIGINT NOT NULL
);
CREATE TABLE {p}outbox_leases (
    partition INTEGER PRIMARY KEY,
    owner TEXT NOT NULL,
    expires_ms BIGINT NOT NULL
);
CREATE TABLE {p}outbox_relays (
    owner TEXT PRIMARY KEY,
    seen_ms BIGINT NOT NULL
);

-- The one INSERT into the outbox on PostgreSQL: appends and `enqueue_in` both call it.
CREATE FUNCTION {p}enqueue(
    p_ids UUID[], p_subjects TEXT[], p_payloads BYTEA[], p_headers JSONB[], p_keys TEXT[],
    p_partitions INT[])
RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
    IF coalesce(cardinality(p_ids), 0) > 0 THEN
        INSERT INTO {p}outbox (message_id, subject, payload, headers, ordering_key, partition)
        SELECT * FROM unnest(p_ids, p_subjects, p_payloads, p_headers, p_keys, p_partitions);
        PERFORM pg_notify('{p}outbox', '');
    END IF;
END
$fn$;

DROP FUNCTION {p}append(TEXT, BIGINT, UUID[], TEXT[], INT[], JSONB[], UUID[], UUID[], TEXT[],
                        TEXT, UUID[], TEXT[], BYTEA[], JSONB[]);

-- One round trip per append. Writers of one stream take turns on a transaction-scoped advisory
-- lock (so the version check is exact and `Any` never fails on a race); writers of different
-- streams run in parallel. Status: 0 appended, 1 version conflict (out_version = actual),
-- 2 an earlier attempt of this same append is already stored (nothing written; its result is
-- returned). An event id stored anywhere else raises unique_violation on events_event_id.
"#,
    append_function!(
        "CREATE",
        r#"    SELECT e.version, e.recorded_at INTO v_current, v_last_at FROM {p}events e
        WHERE e.stream_id = p_stream ORDER BY e.version DESC LIMIT 1;
"#
    )
);

/// PostgreSQL's global order is (transaction id, position), and a transaction takes its id at
/// its first write, not at commit: a transaction that wrote something else first (an inbox
/// claim) and appended to a stream only after another transaction had appended the previous
/// version and committed would sort its later version first. Such an append fails with a
/// serialization failure (SQLSTATE 40001, transient): retried in a new transaction, it gets a
/// newer id. Checked against the last event the append reads anyway (no extra lookup); the
/// single-statement appends (`sql_store.rs`) check the same and report it as
/// [`StoreError::OutOfOrder`](crate::StoreError::OutOfOrder).
const POSTGRES_V3: &str = append_function!(
    "CREATE OR REPLACE",
    r#"    SELECT e.version, e.recorded_at, e.transaction_id INTO v_current, v_last_at, v_last_tx
        FROM {p}events e WHERE e.stream_id = p_stream ORDER BY e.version DESC LIMIT 1;
    IF v_last_tx > pg_current_xact_id() THEN
        RAISE EXCEPTION USING ERRCODE = 'serialization_failure',
            MESSAGE = 'the last event of stream ' || p_stream || ' was written by a newer '
                      'transaction; retry the append in a new transaction';
    END IF;
"#
);
