//! The relay's statements, each written once per backend.

use mspack_eventstore::TablePrefix;
use mspack_eventstore::sql::Sql;

#[derive(Debug)]
pub(crate) struct Statements {
    pub select_all: Sql,
    pub select_some: Sql,
    pub archive: Sql,
    pub move_sent: Sql,
    pub delete_sent: Sql,
    pub unblock: Sql,
    pub fail: Sql,
    pub block: Sql,
    pub dead: Sql,
    pub pending: Sql,
    pub dead_letters: Sql,
    pub redrive_dead: Sql,
    pub redrive_dead_all: Sql,
    pub sent_since: Sql,
    pub purge_sent: Sql,
    pub heartbeat: Sql,
    pub live_relays: Sql,
    pub forget_relays: Sql,
    pub renew: Sql,
    pub taken: Sql,
    pub claim: Sql,
    pub release: Sql,
    pub leave: Sql,
    pub oldest_pending: Sql,
    pub analyze: Sql,
}

/// The batch query, `$2` rows at most, with `filter` (on `$1`) added.
fn select_batch(message_id: &str, headers: &str, filter: &str) -> String {
    format!(
        "SELECT o.id, {message_id}, o.subject, o.payload, {headers}, o.ordering_key, \
         o.attempts, o.created_us, \
         EXISTS (SELECT 1 FROM {{p}}outbox_blocked x WHERE x.head_id = o.id) \
         FROM {{p}}outbox o WHERE o.dead_us IS NULL {filter} AND NOT EXISTS (\
           SELECT 1 FROM {{p}}outbox_blocked b WHERE b.ordering_key = o.ordering_key \
           AND (b.head_id <> o.id OR b.retry_us > {{now_us}}) \
           AND EXISTS (SELECT 1 FROM {{p}}outbox h WHERE h.id = b.head_id AND h.dead_us IS NULL)) \
         ORDER BY o.id LIMIT $2"
    )
}

/// `$n` as a list of ids or partitions given as a JSON array text.
const IN_LIST_SQLITE: &str = "(SELECT value FROM json_each($1))";
const IN_LIST_POSTGRES: &str = "(SELECT jsonb_array_elements_text($1::jsonb)::bigint)";

impl Statements {
    pub fn new(p: &TablePrefix) -> Self {
        let listed = |template: &str| {
            Sql::new(
                p,
                &template.replace("{list}", IN_LIST_SQLITE),
                &template.replace("{list}", IN_LIST_POSTGRES),
            )
        };
        Statements {
            // Rows of this relay's partitions, oldest first; a key whose earliest row failed is
            // skipped except for that row once its retry is due (a block whose row is gone, sent
            // or dead, no longer counts). Written so the planner walks the queue index in id
            // order and stops at the limit, whatever the backlog.
            select_all: Sql::new(
                p,
                &select_batch("o.message_id", "o.headers", ""),
                &select_batch("o.message_id::text", "o.headers::text", ""),
            ),
            select_some: Sql::new(
                p,
                &select_batch(
                    "o.message_id",
                    "o.headers",
                    &format!("AND o.partition IN {IN_LIST_SQLITE}"),
                ),
                &select_batch(
                    "o.message_id::text",
                    "o.headers::text",
                    &format!("AND o.partition IN {IN_LIST_POSTGRES}"),
                ),
            ),
            // In id order, so the archive's own key keeps the order rows were written in (what
            // `redrive_sent_since` replays).
            archive: listed(
                "INSERT INTO {p}outbox_sent (id, message_id, subject, payload, headers, \
                 ordering_key, created_us, sent_us) SELECT id, message_id, subject, payload, \
                 headers, ordering_key, created_us, {now_us} FROM {p}outbox WHERE id IN {list} \
                 ORDER BY id",
            ),
            // Archive and delete in one statement where the dialect allows (PostgreSQL).
            move_sent: listed(
                "WITH moved AS (DELETE FROM {p}outbox WHERE id IN {list} RETURNING id, \
                 message_id, subject, payload, headers, ordering_key, created_us) \
                 INSERT INTO {p}outbox_sent (id, message_id, subject, payload, headers, \
                 ordering_key, created_us, sent_us) SELECT id, message_id, subject, payload, \
                 headers, ordering_key, created_us, {now_us} FROM moved ORDER BY id",
            ),
            delete_sent: listed("DELETE FROM {p}outbox WHERE id IN {list}"),
            unblock: listed("DELETE FROM {p}outbox_blocked WHERE head_id IN {list}"),
            fail: Sql::both(
                p,
                "UPDATE {p}outbox SET attempts = attempts + $2, last_error = $3 WHERE id = $1",
            ),
            block: Sql::new(
                p,
                "INSERT INTO {p}outbox_blocked (ordering_key, head_id, retry_us) \
                 VALUES ($1, $2, {now_us} + $3) ON CONFLICT (ordering_key) DO UPDATE \
                 SET head_id = min({p}outbox_blocked.head_id, excluded.head_id), \
                 retry_us = excluded.retry_us",
                "INSERT INTO {p}outbox_blocked (ordering_key, head_id, retry_us) \
                 VALUES ($1, $2, {now_us} + $3) ON CONFLICT (ordering_key) DO UPDATE \
                 SET head_id = least({p}outbox_blocked.head_id, excluded.head_id), \
                 retry_us = excluded.retry_us",
            ),
            dead: Sql::both(
                p,
                "UPDATE {p}outbox SET attempts = attempts + 1, last_error = $2, \
                 dead_us = {now_us} WHERE id = $1",
            ),
            pending: Sql::both(p, "SELECT count(*) FROM {p}outbox WHERE dead_us IS NULL"),
            dead_letters: Sql::new(
                p,
                "SELECT id, message_id, subject, ordering_key, attempts, last_error, dead_us, \
                 length(payload) FROM {p}outbox WHERE dead_us IS NOT NULL ORDER BY id LIMIT $1",
                "SELECT id, message_id::text, subject, ordering_key, attempts, last_error, \
                 dead_us, length(payload) FROM {p}outbox WHERE dead_us IS NOT NULL \
                 ORDER BY id LIMIT $1",
            ),
            redrive_dead: listed(
                "UPDATE {p}outbox SET dead_us = NULL, attempts = 0, last_error = NULL \
                 WHERE dead_us IS NOT NULL AND id IN {list}",
            ),
            redrive_dead_all: Sql::both(
                p,
                "UPDATE {p}outbox SET dead_us = NULL, attempts = 0, last_error = NULL \
                 WHERE dead_us IS NOT NULL",
            ),
            sent_since: Sql::new(
                p,
                "SELECT sent_id, message_id, subject, payload, headers, ordering_key \
                 FROM {p}outbox_sent WHERE sent_us >= $1 AND sent_id > $2 ORDER BY sent_id LIMIT $3",
                "SELECT sent_id, message_id::text, subject, payload, headers::text, ordering_key \
                 FROM {p}outbox_sent WHERE sent_us >= $1 AND sent_id > $2 ORDER BY sent_id LIMIT $3",
            ),
            purge_sent: Sql::both(
                p,
                "DELETE FROM {p}outbox_sent WHERE sent_us < {now_us} - $1",
            ),
            heartbeat: Sql::both(
                p,
                "INSERT INTO {p}outbox_relays (owner, seen_ms) VALUES ($1, {now_ms}) \
                 ON CONFLICT (owner) DO UPDATE SET seen_ms = excluded.seen_ms",
            ),
            live_relays: Sql::both(
                p,
                "SELECT count(*) FROM {p}outbox_relays WHERE seen_ms > {now_ms} - $1 OR owner = $2",
            ),
            forget_relays: Sql::both(
                p,
                "DELETE FROM {p}outbox_relays WHERE seen_ms < {now_ms} - $1",
            ),
            renew: Sql::both(
                p,
                "UPDATE {p}outbox_leases SET expires_ms = {now_ms} + $2 WHERE owner = $1 \
                 RETURNING partition",
            ),
            taken: Sql::both(
                p,
                "SELECT partition FROM {p}outbox_leases WHERE expires_ms >= {now_ms} AND owner <> $1",
            ),
            claim: Sql::both(
                p,
                "INSERT INTO {p}outbox_leases (partition, owner, expires_ms) \
                 VALUES ($1, $2, {now_ms} + $3) ON CONFLICT (partition) DO UPDATE \
                 SET owner = excluded.owner, expires_ms = excluded.expires_ms \
                 WHERE {p}outbox_leases.expires_ms < {now_ms} \
                 OR {p}outbox_leases.owner = excluded.owner",
            ),
            release: Sql::new(
                p,
                "DELETE FROM {p}outbox_leases WHERE owner = $2 AND partition IN \
                 (SELECT value FROM json_each($1))",
                "DELETE FROM {p}outbox_leases WHERE owner = $2 AND partition IN \
                 (SELECT jsonb_array_elements_text($1::jsonb)::int)",
            ),
            leave: Sql::both(p, "DELETE FROM {p}outbox_relays WHERE owner = $1"),
            analyze: Sql::both(p, "ANALYZE {p}outbox"),
            oldest_pending: Sql::both(
                p,
                "SELECT min(created_us), {now_us} FROM {p}outbox WHERE dead_us IS NULL",
            ),
        }
    }
}
