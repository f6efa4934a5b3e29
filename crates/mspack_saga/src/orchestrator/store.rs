//! The saga table: its migrations, statements (once per backend) and row decoding.

use std::collections::BTreeMap;

use mspack_eventstore::sql::{Arg, Sql, SqlRow, Tx};
use mspack_eventstore::{Migration, TablePrefix};
use uuid::Uuid;

use crate::error::SagaError;
use crate::state::{SagaState, SagaStatus};

pub(crate) const COMPONENT: &str = "saga";

pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "saga instances",
        sqlite: "CREATE TABLE {p}sagas (
        id TEXT PRIMARY KEY,
        saga_type TEXT NOT NULL,
        data TEXT NOT NULL,
        status TEXT NOT NULL,
        step INTEGER NOT NULL,
        attempt INTEGER NOT NULL,
        deadline_ms INTEGER,
        traceparent TEXT,
        last_error TEXT,
        version INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL);
        CREATE INDEX {p}sagas_due ON {p}sagas (deadline_ms) WHERE deadline_ms IS NOT NULL;",
        postgres: "CREATE TABLE {p}sagas (
        id TEXT PRIMARY KEY,
        saga_type TEXT NOT NULL,
        data TEXT NOT NULL,
        status TEXT NOT NULL,
        step BIGINT NOT NULL,
        attempt BIGINT NOT NULL,
        deadline_ms BIGINT,
        traceparent TEXT,
        last_error TEXT,
        version BIGINT NOT NULL,
        updated_ms BIGINT NOT NULL);
        CREATE INDEX {p}sagas_due ON {p}sagas (deadline_ms) WHERE deadline_ms IS NOT NULL;",
    },
    Migration {
        version: 2,
        description: "definition versions and fingerprints, step names, step outputs, parking, \
                      retry rounds",
        sqlite: "ALTER TABLE {p}sagas ADD COLUMN definition_version INTEGER NOT NULL DEFAULT 1;
        ALTER TABLE {p}sagas ADD COLUMN definition_hash TEXT NOT NULL DEFAULT '';
        ALTER TABLE {p}sagas ADD COLUMN step_name TEXT NOT NULL DEFAULT '';
        ALTER TABLE {p}sagas ADD COLUMN outputs TEXT NOT NULL DEFAULT '{}';
        ALTER TABLE {p}sagas ADD COLUMN parked_reason TEXT;
        ALTER TABLE {p}sagas ADD COLUMN round INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX {p}sagas_status ON {p}sagas (status, updated_ms);",
        postgres: "ALTER TABLE {p}sagas ADD COLUMN definition_version BIGINT NOT NULL DEFAULT 1;
        ALTER TABLE {p}sagas ADD COLUMN definition_hash TEXT NOT NULL DEFAULT '';
        ALTER TABLE {p}sagas ADD COLUMN step_name TEXT NOT NULL DEFAULT '';
        ALTER TABLE {p}sagas ADD COLUMN outputs TEXT NOT NULL DEFAULT '{}';
        ALTER TABLE {p}sagas ADD COLUMN parked_reason TEXT;
        ALTER TABLE {p}sagas ADD COLUMN round BIGINT NOT NULL DEFAULT 0;
        CREATE INDEX {p}sagas_status ON {p}sagas (status, updated_ms);",
    },
];

/// The columns [`decode`] reads, then the database clock.
const COLUMNS: &str = "id, saga_type, definition_version, definition_hash, data, status, step, \
    attempt, deadline_ms, traceparent, last_error, outputs, parked_reason, round, version";

#[derive(Debug)]
pub(crate) struct Statements {
    pub load: Sql,
    pub state: Sql,
    pub insert: Sql,
    pub update: Sql,
    pub due: Sql,
    pub park: Sql,
    pub unpark: Sql,
    pub list: Sql,
    pub list_parked: Sql,
}

impl Statements {
    pub fn new(p: &TablePrefix) -> Self {
        Statements {
            load: Sql::new(
                p,
                &format!("SELECT {COLUMNS}, {{now_ms}} FROM {{p}}sagas WHERE id = $1"),
                &format!("SELECT {COLUMNS}, {{now_ms}} FROM {{p}}sagas WHERE id = $1 FOR UPDATE"),
            ),
            state: Sql::both(
                p,
                &format!("SELECT {COLUMNS}, {{now_ms}} FROM {{p}}sagas WHERE id = $1"),
            ),
            insert: Sql::both(
                p,
                "INSERT INTO {p}sagas (id, saga_type, definition_version, definition_hash, data, \
                 status, step, step_name, attempt, deadline_ms, traceparent, last_error, outputs, \
                 round, version, updated_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, 0, $7, 1, {now_ms} + $8, $9, NULL, '{}', 0, 1, \
                 {now_ms}) ON CONFLICT (id) DO NOTHING",
            ),
            update: Sql::both(
                p,
                "UPDATE {p}sagas SET status = $2, step = $3, step_name = $4, attempt = $5, \
                 deadline_ms = $6, last_error = $7, outputs = $8, round = $9, \
                 version = version + 1, updated_ms = {now_ms} WHERE id = $1 AND version = $10",
            ),
            due: Sql::both(
                p,
                "SELECT id, saga_type, definition_version FROM {p}sagas \
                 WHERE deadline_ms IS NOT NULL AND deadline_ms <= {now_ms} \
                 AND parked_reason IS NULL ORDER BY deadline_ms LIMIT 100",
            ),
            park: Sql::both(
                p,
                "UPDATE {p}sagas SET parked_reason = $2, updated_ms = {now_ms} WHERE id = $1",
            ),
            unpark: Sql::both(
                p,
                "UPDATE {p}sagas SET parked_reason = NULL WHERE parked_reason IS NOT NULL \
                 AND saga_type = $1 AND definition_version = $2 \
                 AND (definition_hash = $3 OR definition_hash = '')",
            ),
            list: Sql::both(
                p,
                &format!(
                    "SELECT {COLUMNS}, {{now_ms}} FROM {{p}}sagas WHERE status = $1 \
                     ORDER BY updated_ms DESC LIMIT $2"
                ),
            ),
            list_parked: Sql::both(
                p,
                &format!(
                    "SELECT {COLUMNS}, {{now_ms}} FROM {{p}}sagas WHERE parked_reason IS NOT NULL \
                     ORDER BY updated_ms DESC LIMIT $1"
                ),
            ),
        }
    }
}

/// A stored saga and the database clock when it was read.
pub(crate) struct Loaded {
    pub state: SagaState,
    pub now_ms: i64,
}

fn corrupt(id: &str) -> impl Fn(String) -> SagaError + '_ {
    move |detail| SagaError::Corrupt {
        id: id.to_owned(),
        detail,
    }
}

/// Decodes a row of `SELECT {COLUMNS}, now`.
pub(crate) fn decode(row: &SqlRow) -> Result<Loaded, SagaError> {
    let id = row.text(0, "saga id")?;
    let bad = corrupt(&id);
    let status = row.text(5, "saga status")?;
    let outputs: BTreeMap<String, serde_json::Value> =
        serde_json::from_str(&row.text(11, "saga outputs")?).map_err(|e| bad(e.to_string()))?;
    let state = SagaState {
        id: Uuid::parse_str(&id).map_err(|e| bad(e.to_string()))?,
        saga_type: row.text(1, "saga type")?,
        definition_version: u32::try_from(row.int(2, "definition version")?)
            .map_err(|e| bad(e.to_string()))?,
        definition_hash: row.text(3, "definition hash")?,
        data: row.json(4, "saga data")?,
        status: SagaStatus::parse(&status).ok_or_else(|| bad(format!("status {status:?}")))?,
        step: usize::try_from(row.int(6, "step")?).map_err(|e| bad(e.to_string()))?,
        attempt: u32::try_from(row.int(7, "attempt")?).map_err(|e| bad(e.to_string()))?,
        deadline_ms: row.opt_int(8, "deadline")?,
        traceparent: row.opt_text(9, "traceparent")?,
        last_error: row.opt_text(10, "last error")?,
        outputs,
        parked: row.opt_text(12, "parked reason")?,
        round: u32::try_from(row.int(13, "round")?).map_err(|e| bad(e.to_string()))?,
        version: row.int(14, "row version")?,
    };
    Ok(Loaded {
        state,
        now_ms: row.int(15, "database clock")?,
    })
}

/// Stores `next` over the row at `version`; false if the row moved meanwhile.
pub(crate) async fn update(
    sql: &Statements,
    tx: &mut Tx,
    next: &SagaState,
    step_name: &str,
    version: i64,
) -> Result<bool, SagaError> {
    let outputs =
        serde_json::to_string(&next.outputs).map_err(|e| SagaError::BadMessage(e.to_string()))?;
    let id = next.id.to_string();
    let done = tx
        .execute(
            &sql.update,
            &[
                Arg::from(id.as_str()),
                next.status.as_str().into(),
                i64::try_from(next.step).unwrap_or(i64::MAX).into(),
                step_name.into(),
                i64::from(next.attempt).into(),
                next.deadline_ms.into(),
                next.last_error.as_deref().into(),
                outputs.as_str().into(),
                i64::from(next.round).into(),
                version.into(),
            ],
        )
        .await
        .map_err(SagaError::database("storing a saga's new state"))?;
    Ok(done == 1)
}
