//! Failure paths of sagas, each a regression test of a reproduced defect: a failed action whose
//! redelivery succeeded and was never compensated, an action that ran after its compensation, a
//! redeployed definition that re-sent a completed step, an unknown saga type that stopped every
//! saga, a failed saga nobody could list or retry, and an orchestrator that stopped on the first
//! broker or database error. Participant and orchestrator tests drive the real code on SQLite
//! and PostgreSQL (required under CI=true) and read what they wrote to the outbox; the
//! supervisor test runs everything against a private nats-server it restarts.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use mspack_eventstore::{Database, TablePrefix, Tx};
use mspack_outbox::{HealthStatus, connect_jetstream};
use mspack_saga::{
    ActionState, Command, CommandKind, Orchestrator, Outcome, Participant, Processed, Reply,
    ReplyEffect, SagaDefinition, SagaStatus, Step,
};
use mspack_testkit::{NatsServer, eventually, names};
use serde_json::{Value, json};
use sqlx::AssertSqlSafe;
use uuid::Uuid;

/// A database of either backend under a fresh prefix, cleaned up on `finish`.
struct Db {
    db: Database,
    prefix: TablePrefix,
    pool: Option<sqlx::PgPool>,
    _dir: Option<tempfile::TempDir>,
}

impl Db {
    async fn sqlite() -> Db {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Database::open_sqlite(dir.path().join("s.db"))
            .await
            .expect("sqlite");
        Db {
            db,
            prefix: names().prefix,
            pool: None,
            _dir: Some(dir),
        }
    }

    async fn postgres() -> Option<Db> {
        let pool = mspack_testkit::postgres_pool().await?;
        Some(Db {
            db: Database::Postgres(pool.clone()),
            prefix: names().prefix,
            pool: Some(pool),
            _dir: None,
        })
    }

    async fn exec(&self, sql: &str) {
        mspack_testkit::exec(&self.db, &self.prefix, sql).await;
    }

    async fn count(&self, sql: &str) -> i64 {
        mspack_testkit::scalar(&self.db, &self.prefix, sql).await
    }

    /// Every outbox message so far: (subject, message id, JSON body).
    async fn outbox(&self) -> Vec<(String, String, Value)> {
        let sql = self.prefix.render(match self.db {
            Database::Sqlite(_) => "SELECT subject, message_id, payload FROM {p}outbox ORDER BY id",
            Database::Postgres(_) => {
                "SELECT subject, message_id::text, payload FROM {p}outbox ORDER BY id"
            }
        });
        let rows: Vec<(String, String, Vec<u8>)> = match &self.db {
            Database::Sqlite(p) => sqlx::query_as(AssertSqlSafe(sql)).fetch_all(p).await,
            Database::Postgres(p) => sqlx::query_as(AssertSqlSafe(sql)).fetch_all(p).await,
        }
        .expect("outbox");
        rows.into_iter()
            .map(|(s, id, body)| (s, id, serde_json::from_slice(&body).expect("json body")))
            .collect()
    }

    /// The commands in the outbox, as (subject, step name, kind, attempt).
    async fn commands(&self) -> Vec<(String, String, String, u64)> {
        self.outbox()
            .await
            .into_iter()
            .filter(|(s, _, _)| !s.ends_with("replies"))
            .map(|(s, _, b)| {
                (
                    s,
                    b["step_name"].as_str().unwrap_or_default().to_owned(),
                    b["kind"].as_str().unwrap_or_default().to_owned(),
                    b["attempt"].as_u64().unwrap_or_default(),
                )
            })
            .collect()
    }

    async fn finish(self) {
        if let Some(pool) = &self.pool {
            mspack_testkit::drop_prefix(pool, &self.prefix).await;
        }
    }
}

/// Runs `$body(db)` on SQLite and on PostgreSQL.
macro_rules! on_both_backends {
    ($name:ident, $body:path) => {
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = Db::sqlite().await;
                $body(&db).await;
                db.finish().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(db) = Db::postgres().await else {
                    return;
                };
                $body(&db).await;
                db.finish().await;
            }
        }
    };
}

fn command(saga: Uuid, step: usize, name: &str, kind: CommandKind, attempt: u32) -> Vec<u8> {
    serde_json::to_vec(&Command {
        saga_id: saga,
        saga_type: "place-order".into(),
        definition_version: 1,
        step,
        step_name: name.into(),
        kind,
        attempt,
        round: 0,
        reply_to: "t.saga.replies".into(),
        data: json!({ "amount": 30 }),
        outputs: BTreeMap::new(),
        traceparent: None,
        action: None,
    })
    .expect("command json")
}

/// Charges (or refunds) in the participant's own table, through its transaction.
async fn record(tx: &mut Tx, prefix: &TablePrefix, what: &str, saga: Uuid) {
    let sql = prefix.render(&format!(
        "INSERT INTO {{p}}ledger (saga, entry) VALUES ('{saga}', '{what}')"
    ));
    match tx {
        Tx::Sqlite(t) => sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(&mut **t)
            .await
            .map(|_| ()),
        Tx::Postgres(t) => sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(&mut **t)
            .await
            .map(|_| ()),
    }
    .expect("ledger entry");
}

// --- defect 4: failure, then success on redelivery -------------------------------------------

async fn redelivered_failed_action_gets_its_failure_not_a_second_run(db: &Db) {
    db.exec("CREATE TABLE {p}ledger (saga TEXT, entry TEXT)")
        .await;
    let payments = Participant::new(db.db.clone(), db.prefix.clone(), "payments")
        .await
        .expect("participant");
    let saga = Uuid::new_v4();
    let body = command(saga, 1, "charge", CommandKind::Action, 1);
    let runs = Arc::new(AtomicU32::new(0));
    // First delivery: the provider declines.
    let first = {
        let runs = runs.clone();
        payments
            .process(&body, |_cmd, tx| async move {
                runs.fetch_add(1, Ordering::SeqCst);
                Ok((tx, Outcome::failure("card declined")))
            })
            .await
            .expect("process")
    };
    assert_eq!(first, Processed::Done(Outcome::failure("card declined")));
    // JetStream redelivers the same command (the ack was lost); this time the card would work.
    let prefix = db.prefix.clone();
    let second = {
        let runs = runs.clone();
        payments
            .process(&body, |_cmd, mut tx| async move {
                runs.fetch_add(1, Ordering::SeqCst);
                record(tx.tx(), &prefix, "charge", saga).await;
                Ok((tx, Outcome::success()))
            })
            .await
            .expect("process")
    };
    assert_eq!(
        second,
        Processed::AlreadyDone(Some(Outcome::failure("card declined")))
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the work ran once");
    assert_eq!(
        db.count("SELECT count(*) FROM {p}ledger").await,
        0,
        "never charged"
    );
    let replies: Vec<_> = db.outbox().await;
    assert_eq!(replies.len(), 2, "the failure was replied again");
    assert_eq!(replies[0].1, replies[1].1, "same reply, same message id");
    assert_eq!(replies[1].2["outcome"], "failure");
}
on_both_backends!(
    failure_then_success,
    redelivered_failed_action_gets_its_failure_not_a_second_run
);

// --- defect 5: the late action after its compensation ------------------------------------------

async fn late_action_after_its_compensation_is_refused(db: &Db) {
    db.exec("CREATE TABLE {p}ledger (saga TEXT, entry TEXT)")
        .await;
    let payments = Participant::new(db.db.clone(), db.prefix.clone(), "payments")
        .await
        .expect("participant");
    let saga = Uuid::new_v4();
    // The orchestrator gave up on the charge (timeouts) and compensates it first...
    let seen = Arc::new(std::sync::Mutex::new(None));
    let compensated = {
        let seen = seen.clone();
        payments
            .process(
                &command(saga, 1, "charge", CommandKind::Compensation, 1),
                |cmd, tx| async move {
                    *seen.lock().expect("seen") = cmd.action.clone();
                    Ok((tx, Outcome::success()))
                },
            )
            .await
            .expect("compensate")
    };
    assert_eq!(compensated, Processed::Done(Outcome::success()));
    assert_eq!(*seen.lock().expect("seen"), Some(ActionState::Cancelled));
    // ...then the slow action arrives: refused, and said so.
    let ran = Arc::new(AtomicU32::new(0));
    let late = {
        let ran = ran.clone();
        let prefix = db.prefix.clone();
        payments
            .process(
                &command(saga, 1, "charge", CommandKind::Action, 1),
                |_cmd, mut tx| async move {
                    ran.fetch_add(1, Ordering::SeqCst);
                    record(tx.tx(), &prefix, "charge", saga).await;
                    Ok((tx, Outcome::success()))
                },
            )
            .await
            .expect("late action")
    };
    assert_eq!(late, Processed::Refused);
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    assert_eq!(
        db.count("SELECT count(*) FROM {p}ledger").await,
        0,
        "no charge kept"
    );
    let last = db.outbox().await.pop().expect("a reply");
    assert_eq!(last.2["outcome"], "failure");
    assert!(
        last.2["reason"]
            .as_str()
            .is_some_and(|r| r.contains("cancelled"))
    );
}
on_both_backends!(late_action, late_action_after_its_compensation_is_refused);

async fn compensation_waits_for_an_action_in_flight_and_undoes_it(db: &Db) {
    db.exec("CREATE TABLE {p}ledger (saga TEXT, entry TEXT)")
        .await;
    let payments = Participant::new(db.db.clone(), db.prefix.clone(), "payments")
        .await
        .expect("participant");
    let saga = Uuid::new_v4();
    let action = {
        let payments = payments.clone();
        let prefix = db.prefix.clone();
        tokio::spawn(async move {
            payments
                .process(
                    &command(saga, 1, "charge", CommandKind::Action, 1),
                    |_cmd, mut tx| async move {
                        record(tx.tx(), &prefix, "charge", saga).await;
                        tokio::time::sleep(Duration::from_millis(400)).await; // a slow provider
                        Ok((tx, Outcome::success_with(json!({ "charge_id": "ch_1" }))))
                    },
                )
                .await
                .expect("action")
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let prefix = db.prefix.clone();
    let undo = payments
        .process(
            &command(saga, 1, "charge", CommandKind::Compensation, 1),
            |cmd, mut tx| async move {
                match &cmd.action {
                    Some(ActionState::Done(Outcome::Success { output })) => {
                        assert_eq!(
                            output.as_ref().map(|o| &o["charge_id"]),
                            Some(&json!("ch_1"))
                        );
                        record(tx.tx(), &prefix, "refund", saga).await;
                    }
                    other => panic!("the compensation must see the committed action: {other:?}"),
                }
                Ok((tx, Outcome::success()))
            },
        )
        .await
        .expect("compensation");
    assert_eq!(undo, Processed::Done(Outcome::success()));
    assert!(matches!(
        action.await.expect("action task"),
        Processed::Done(_)
    ));
    let charges = db
        .count("SELECT count(*) FROM {p}ledger WHERE entry = 'charge'")
        .await;
    let refunds = db
        .count("SELECT count(*) FROM {p}ledger WHERE entry = 'refund'")
        .await;
    assert_eq!((charges, refunds), (1, 1), "charged and refunded: zero net");
}
on_both_backends!(
    action_in_flight,
    compensation_waits_for_an_action_in_flight_and_undoes_it
);

// --- defect 6: redeploying a definition -------------------------------------------------------

fn v1() -> SagaDefinition {
    SagaDefinition::new("place-order")
        .step(Step::new("reserve", "t.kitchen.reserve").compensate_with("t.kitchen.release"))
        .step(Step::new("charge", "t.payment.charge").compensate_with("t.payment.refund"))
        .step(Step::new("assign", "t.delivery.assign"))
}

fn v2() -> SagaDefinition {
    SagaDefinition::new("place-order")
        .version(2)
        .step(Step::new("reserve", "t.kitchen.reserve").compensate_with("t.kitchen.release"))
        .step(Step::new("verify", "t.fraud.verify"))
        .step(Step::new("charge", "t.payment.charge").compensate_with("t.payment.refund"))
        .step(Step::new("assign", "t.delivery.assign"))
}

fn reply(saga: Uuid, step: usize, name: &str, kind: CommandKind, outcome: Outcome) -> Reply {
    Reply {
        saga_id: saga,
        step,
        step_name: name.into(),
        kind,
        attempt: 1,
        outcome,
    }
}

fn reply_to_attempt(attempt: u32, mut r: Reply) -> Reply {
    r.attempt = attempt;
    r
}

async fn orchestrator(db: &Db, defs: Vec<SagaDefinition>) -> Orchestrator {
    Orchestrator::new(db.db.clone(), db.prefix.clone(), "t.saga.replies", defs)
        .await
        .expect("orchestrator")
}

async fn redeployed_definition_never_resends_a_completed_step(db: &Db) {
    use CommandKind::Action;
    let o1 = orchestrator(db, vec![v1()]).await;
    let saga = Uuid::new_v4();
    o1.start("place-order", saga, json!({}), None)
        .await
        .expect("start");
    o1.on_reply(&reply(saga, 0, "reserve", Action, Outcome::success()))
        .await
        .expect("reserve done");
    // The charge command is out. Now v2, which inserts a step before it, is deployed beside v1.
    let o2 = orchestrator(db, vec![v1(), v2()]).await;
    let charged = Outcome::success_with(json!({ "charge_id": "ch_1" }));
    assert_eq!(
        o2.on_reply(&reply(saga, 1, "charge", Action, charged))
            .await
            .expect("charge done"),
        ReplyEffect::Moved
    );
    let state = o2.state(saga).await.expect("state").expect("saga");
    assert_eq!(
        (state.definition_version, state.step),
        (1, 2),
        "still on v1, at assign"
    );
    // A reply naming another step at the same index (v2's "verify") is refused.
    assert_eq!(
        o2.on_reply(&reply(saga, 2, "verify", Action, Outcome::success()))
            .await
            .expect("reply"),
        ReplyEffect::Ignored
    );
    // The assign fails: the charge is compensated with the charge id its step returned.
    o2.on_reply(&reply(
        saga,
        2,
        "assign",
        Action,
        Outcome::failure("no courier"),
    ))
    .await
    .expect("assign failed");
    let commands = db.commands().await;
    let steps: Vec<(&str, &str)> = commands
        .iter()
        .map(|(_, step, kind, _)| (step.as_str(), kind.as_str()))
        .collect();
    assert_eq!(
        steps,
        [
            ("reserve", "action"),
            ("charge", "action"),
            ("assign", "action"),
            ("charge", "compensation")
        ],
        "the charge was sent exactly once"
    );
    let refund = db
        .outbox()
        .await
        .into_iter()
        .rfind(|(s, _, _)| s == "t.payment.refund")
        .expect("refund command");
    assert_eq!(refund.2["outputs"]["charge"]["charge_id"], "ch_1");
    // New sagas start on v2.
    let fresh = Uuid::new_v4();
    o2.start("place-order", fresh, json!({}), None)
        .await
        .expect("start");
    assert_eq!(
        o2.state(fresh)
            .await
            .expect("state")
            .expect("saga")
            .definition_version,
        2
    );
}
on_both_backends!(
    redeploy,
    redeployed_definition_never_resends_a_completed_step
);

async fn instances_of_an_unregistered_or_changed_definition_are_parked(db: &Db) {
    use CommandKind::Action;
    let o1 = orchestrator(db, vec![v1()]).await;
    let saga = Uuid::new_v4();
    o1.start("place-order", saga, json!({}), None)
        .await
        .expect("start");
    // Only v2 deployed: the v1 instance is set aside, nothing is sent for it.
    let only_v2 = orchestrator(db, vec![v2()]).await;
    let before = db.commands().await.len();
    assert_eq!(
        only_v2
            .on_reply(&reply(saga, 0, "reserve", Action, Outcome::success()))
            .await
            .expect("reply"),
        ReplyEffect::Parked
    );
    assert_eq!(db.commands().await.len(), before);
    let parked = only_v2.parked(10).await.expect("parked");
    assert_eq!(parked.len(), 1);
    assert!(
        parked[0]
            .parked
            .as_deref()
            .is_some_and(|r| r.contains("not registered"))
    );
    // v1 changed without a version bump: parked too, for that reason.
    let sneaky = SagaDefinition::new("place-order")
        .step(Step::new("reserve", "t.kitchen.reserve2"))
        .step(Step::new("charge", "t.payment.charge"));
    let changed = orchestrator(db, vec![sneaky, v2()]).await;
    assert_eq!(
        changed.parked(10).await.expect("parked").len(),
        1,
        "not resumed"
    );
    // v1 deployed again: resumed at start, and it goes on.
    let back = orchestrator(db, vec![v1(), v2()]).await;
    assert!(back.parked(10).await.expect("parked").is_empty());
    assert_eq!(
        back.on_reply(&reply(saga, 0, "reserve", Action, Outcome::success()))
            .await
            .expect("reply"),
        ReplyEffect::Moved
    );
    // A fresh instance of v1 under the changed definition: parked with the reason.
    let other = Uuid::new_v4();
    o1.start("place-order", other, json!({}), None)
        .await
        .expect("start");
    let changed = orchestrator(
        db,
        vec![SagaDefinition::new("place-order").step(Step::new("reserve", "t.elsewhere"))],
    )
    .await;
    assert_eq!(
        changed
            .on_reply(&reply(other, 0, "reserve", Action, Outcome::success()))
            .await
            .expect("reply"),
        ReplyEffect::Parked
    );
    let state = changed.state(other).await.expect("state").expect("saga");
    assert!(
        state
            .parked
            .as_deref()
            .is_some_and(|r| r.contains("without a version bump"))
    );
}
on_both_backends!(
    parking,
    instances_of_an_unregistered_or_changed_definition_are_parked
);

// --- defect 7: one unknown saga type must not stop the others ---------------------------------

async fn an_unknown_saga_type_is_parked_and_the_others_go_on(db: &Db) {
    let quick = |name: &str| {
        SagaDefinition::new(name).step(
            Step::new("only", format!("t.{name}.do"))
                .timeout(Duration::from_millis(30))
                .max_attempts(3),
        )
    };
    let both = orchestrator(db, vec![quick("alpha"), quick("beta")]).await;
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    both.start("beta", b, json!({}), None)
        .await
        .expect("start beta");
    both.start("alpha", a, json!({}), None)
        .await
        .expect("start alpha");
    tokio::time::sleep(Duration::from_millis(60)).await;
    // An orchestrator that only knows alpha (an older build, a rolling deploy).
    let alpha_only = orchestrator(db, vec![quick("alpha")]).await;
    let moved = alpha_only
        .tick()
        .await
        .expect("tick never fails on an unknown type");
    assert_eq!(moved, 1, "alpha retried its step");
    assert_eq!(
        alpha_only
            .state(a)
            .await
            .expect("state")
            .expect("saga")
            .attempt,
        2
    );
    let parked = alpha_only.parked(10).await.expect("parked");
    assert_eq!(parked.iter().map(|s| s.id).collect::<Vec<_>>(), [b]);
    // A corrupt row is parked too, without stopping the tick.
    db.exec("UPDATE {p}sagas SET outputs = 'not json', deadline_ms = 0 WHERE saga_type = 'alpha'")
        .await;
    tokio::time::sleep(Duration::from_millis(40)).await;
    alpha_only
        .tick()
        .await
        .expect("tick goes on past a corrupt row");
    assert_eq!(
        db.count("SELECT count(*) FROM {p}sagas WHERE parked_reason IS NOT NULL")
            .await,
        2
    );
    // Listing skips what it can't read instead of failing.
    assert_eq!(alpha_only.parked(10).await.expect("parked").len(), 1);
}
on_both_backends!(
    unknown_type,
    an_unknown_saga_type_is_parked_and_the_others_go_on
);

// --- defect 12: failed sagas can be listed and retried --------------------------------------

async fn failed_sagas_can_be_listed_and_retried(db: &Db) {
    use CommandKind::{Action, Compensation};
    let o = orchestrator(db, vec![v1()]).await;
    let saga = Uuid::new_v4();
    o.start("place-order", saga, json!({}), None)
        .await
        .expect("start");
    o.on_reply(&reply(saga, 0, "reserve", Action, Outcome::success()))
        .await
        .expect("r");
    o.on_reply(&reply(
        saga,
        1,
        "charge",
        Action,
        Outcome::failure("declined"),
    ))
    .await
    .expect("r");
    // The kitchen can't release (a bug), attempt after attempt: the saga fails, needs a person.
    for attempt in 1..=3 {
        let r = reply(
            saga,
            0,
            "reserve",
            Compensation,
            Outcome::failure("kitchen bug"),
        );
        o.on_reply(&reply_to_attempt(attempt, r)).await.expect("r");
    }
    let failed = o.list(SagaStatus::Failed, 10).await.expect("list");
    assert_eq!(failed.iter().map(|s| s.id).collect::<Vec<_>>(), [saga]);
    let before: Vec<String> = db.outbox().await.into_iter().map(|(_, id, _)| id).collect();
    o.retry(saga).await.expect("retry");
    let after = db.outbox().await;
    let (subject, id, body) = after.last().expect("command");
    assert_eq!(subject, "t.kitchen.release");
    assert!(
        !before.contains(id),
        "a new message id, not dropped as a duplicate"
    );
    assert_eq!(body["round"], 1);
    o.on_reply(&reply(saga, 0, "reserve", Compensation, Outcome::success()))
        .await
        .expect("r");
    assert_eq!(
        o.state(saga).await.expect("state").expect("saga").status,
        SagaStatus::Compensated
    );
    assert!(
        o.retry(saga).await.is_err(),
        "only a failed saga can be retried"
    );
}
on_both_backends!(failed_sagas, failed_sagas_can_be_listed_and_retried);

async fn the_end_of_a_saga_is_published_with_its_final_state(db: &Db) {
    use CommandKind::Action;
    let o = orchestrator(db, vec![v1()])
        .await
        .notify_finished("t.saga.finished");
    let (done, undone) = (Uuid::new_v4(), Uuid::new_v4());
    for id in [done, undone] {
        o.start("place-order", id, json!({ "order": id }), None)
            .await
            .expect("start");
        o.on_reply(&reply(id, 0, "reserve", Action, Outcome::success()))
            .await
            .expect("r");
    }
    let charged = Outcome::success_with(json!({ "charge_id": "c" }));
    o.on_reply(&reply(done, 1, "charge", Action, charged))
        .await
        .expect("r");
    o.on_reply(&reply(done, 2, "assign", Action, Outcome::success()))
        .await
        .expect("r");
    o.on_reply(&reply(
        undone,
        1,
        "charge",
        Action,
        Outcome::failure("declined"),
    ))
    .await
    .expect("r");
    let released = reply(
        undone,
        0,
        "reserve",
        CommandKind::Compensation,
        Outcome::success(),
    );
    o.on_reply(&released).await.expect("r");
    let finished: Vec<Value> = db
        .outbox()
        .await
        .into_iter()
        .filter(|(s, _, _)| s == "t.saga.finished")
        .map(|(_, _, body)| body)
        .collect();
    assert_eq!(finished.len(), 2, "{finished:?}");
    assert_eq!(finished[0]["saga_id"], done.to_string());
    assert_eq!(finished[0]["status"], "completed");
    assert_eq!(finished[0]["outputs"]["charge"]["charge_id"], "c");
    assert_eq!(finished[1]["status"], "compensated");
    assert!(
        finished[1]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("declined"))
    );
}
on_both_backends!(
    finished,
    the_end_of_a_saga_is_published_with_its_final_state
);

// --- defect 8: the orchestrator is a supervisor ---------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orchestrator_keeps_running_through_a_broker_restart_and_terminated_backends() {
    let Some(pool) = mspack_testkit::postgres_pool().await else {
        return;
    };
    let Some(mut broker) = NatsServer::start() else {
        return;
    };
    let js = connect_jetstream(&broker.url()).await.expect("broker");
    let mut w = common::World::with_js(
        Database::Postgres(pool.clone()),
        Some(pool.clone()),
        js.clone(),
    )
    .await;
    let relay = w.spawn_relay().await;
    w.tasks.push(relay);
    w.spawn_participant("kitchen", common::success).await;
    w.spawn_participant("payment", common::success).await;
    w.spawn_participant("delivery", common::success).await;
    // The orchestrator's own pool, named so its backends can be terminated.
    let app = format!("orch-{}", w.stream);
    let options = mspack_eventstore::database_url_from_env()
        .parse::<sqlx::postgres::PgConnectOptions>()
        .expect("url")
        .application_name(&app);
    let orch_pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await
        .expect("pool");
    let o = Orchestrator::new(
        Database::Postgres(orch_pool),
        w.prefix.clone(),
        w.subject("saga.replies"),
        [w.definition()],
    )
    .await
    .expect("orchestrator");
    let health = o.health();
    let runner = {
        let (o, js, stream) = (o.clone(), js.clone(), w.stream.clone());
        tokio::spawn(async move {
            o.run(
                &js,
                &stream,
                "orchestrator",
                Duration::from_millis(50),
                std::future::pending(),
            )
            .await;
        })
    };
    let mut ids = Vec::new();
    for round in 0..3 {
        for _ in 0..4 {
            let id = Uuid::new_v4();
            o.start("place-order", id, json!({}), None)
                .await
                .expect("start");
            ids.push(id);
        }
        match round {
            0 => {
                sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1")
                    .bind(&app)
                    .execute(&pool)
                    .await
                    .expect("terminate");
            }
            1 => {
                broker.kill();
                tokio::time::sleep(Duration::from_millis(500)).await;
                broker.restart();
            }
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Every saga ends: completed, or (when an outage outlasted a step's three 1.5 s attempts)
    // compensated — never stuck, never failed.
    let mut completed = 0;
    for id in &ids {
        let state = w.wait_for(&o, *id, |s| s.status.is_finished()).await;
        assert!(
            matches!(
                state.status,
                SagaStatus::Completed | SagaStatus::Compensated
            ),
            "{state:?}"
        );
        completed += usize::from(state.status == SagaStatus::Completed);
    }
    assert!(completed > 0, "sagas complete once the outages are over");
    assert!(!runner.is_finished(), "run() is still running");
    assert!(
        eventually(Duration::from_secs(5), || {
            let h = health.clone();
            async move { h.report().status == HealthStatus::Healthy }
        })
        .await,
        "{:?}",
        health.report()
    );
    runner.abort();
    w.finish().await;
}
