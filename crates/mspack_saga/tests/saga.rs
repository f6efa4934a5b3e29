//! Sagas end to end over real PostgreSQL and NATS JetStream: commands and replies go through the
//! outbox, the relay and durable consumers.

mod common;

use common::{World, success};
use mspack_eventstore::database_url_from_env;
use mspack_saga::{CommandKind, Outcome, SagaStatus};
use serde_json::json;
use uuid::Uuid;

async fn compensations_run_in_reverse_order(mut w: World) {
    let relay = w.spawn_relay().await;
    w.tasks.push(relay);
    w.spawn_participant("kitchen", success).await;
    w.spawn_participant("payment", success).await;
    w.spawn_participant("delivery", |c| {
        Some(match c.kind {
            CommandKind::Action => Outcome::failure("no courier nearby"),
            CommandKind::Compensation => Outcome::success(),
        })
    })
    .await;
    let orchestrator = w.spawn_orchestrator().await;
    w.tasks.push(orchestrator);
    let o = w.orchestrator().await;
    let id = Uuid::new_v4();
    o.start("place-order", id, json!({ "order": 42 }), None)
        .await
        .expect("start");
    let state = w.wait_for(&o, id, |s| s.status.is_finished()).await;
    assert_eq!(
        state.status,
        SagaStatus::Compensated,
        "{state:?} log {:?}",
        w.log()
    );
    assert!(
        state
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("no courier"))
    );
    assert_eq!(
        w.log(),
        [
            "do reserve-kitchen",
            "do charge-payment",
            "do assign-courier",
            "undo charge-payment",
            "undo reserve-kitchen"
        ]
    );
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_three_failing_runs_compensations_two_then_one() {
    let Some(w) = World::new().await else { return };
    compensations_run_in_reverse_order(w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_step_three_failing_runs_compensations_two_then_one() {
    let Some(w) = World::sqlite().await else {
        return;
    };
    compensations_run_in_reverse_order(w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saga_killed_between_steps_resumes_and_finishes() {
    let Some(mut w) = World::new().await else {
        return;
    };
    let relay = w.spawn_relay().await;
    w.tasks.push(relay);
    w.spawn_participant("kitchen", success).await;
    let first = w.spawn_orchestrator().await;
    let o = w.orchestrator().await;
    let id = Uuid::new_v4();
    o.start("place-order", id, json!({ "order": 7 }), None)
        .await
        .expect("start");
    // Step 1 done, step 2's command sent (nobody serves payment yet): kill the orchestrator.
    w.wait_for(&o, id, |s| s.step == 1).await;
    first.abort();
    let _ = first.await;
    assert_eq!(w.log(), ["do reserve-kitchen"]);
    // A new orchestrator process (fresh instance, same durable consumer) and the other services.
    w.spawn_participant("payment", success).await;
    w.spawn_participant("delivery", success).await;
    let second = w.spawn_orchestrator().await;
    w.tasks.push(second);
    let state = w.wait_for(&o, id, |s| s.status.is_finished()).await;
    assert_eq!(state.status, SagaStatus::Completed, "{state:?}");
    assert_eq!(
        w.log(),
        [
            "do reserve-kitchen",
            "do charge-payment",
            "do assign-courier"
        ],
        "every step ran exactly once"
    );
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_command_times_out_and_the_retry_completes_the_step() {
    let Some(mut w) = World::new().await else {
        return;
    };
    let relay = w.spawn_relay().await;
    w.tasks.push(relay);
    w.spawn_participant("kitchen", success).await;
    w.spawn_participant("payment", |c| (c.attempt > 1).then_some(Outcome::success()))
        .await;
    w.spawn_participant("delivery", success).await;
    let orchestrator = w.spawn_orchestrator().await;
    w.tasks.push(orchestrator);
    let o = w.orchestrator().await;
    let id = Uuid::new_v4();
    o.start("place-order", id, json!({}), None)
        .await
        .expect("start");
    let state = w.wait_for(&o, id, |s| s.status.is_finished()).await;
    assert_eq!(state.status, SagaStatus::Completed, "{state:?}");
    assert_eq!(
        w.log(),
        [
            "do reserve-kitchen",
            "do charge-payment",
            "do assign-courier"
        ]
    );
    w.finish().await;
}

/// The orchestrator runs as a real process (`mspack-saga-orchestrator`) and is killed with
/// SIGKILL between steps; a second process resumes from the stored state and finishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orchestrator_process_killed_with_sigkill_between_steps_resumes_and_finishes() {
    let Some(mut w) = World::new().await else {
        return;
    };
    let relay = w.spawn_relay().await;
    w.tasks.push(relay);
    w.spawn_participant("kitchen", success).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let definitions = dir.path().join("sagas.json");
    let steps: Vec<serde_json::Value> = w
        .definition()
        .steps
        .iter()
        .map(|s| {
            json!({
                "name": s.name,
                "action_subject": s.action_subject,
                "compensation_subject": s.compensation_subject,
                "timeout_ms": s.timeout.as_millis() as u64,
                "max_attempts": s.max_attempts,
            })
        })
        .collect();
    std::fs::write(
        &definitions,
        json!([{ "name": "place-order", "steps": steps }]).to_string(),
    )
    .expect("write definitions");
    let (stream, replies, prefix) = (
        w.stream.clone(),
        w.subject("saga.replies"),
        w.prefix.clone(),
    );
    let spawn = || {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_mspack-saga-orchestrator"))
            .arg("--definitions")
            .arg(&definitions)
            .args(["--stream", &stream, "--reply-subject", &replies])
            .args([
                "--consumer",
                "orchestrator",
                "--prefix",
                prefix.as_str(),
                "--tick-ms",
                "50",
            ])
            .env("DATABASE_URL", database_url_from_env())
            .env("NATS_URL", mspack_testkit::nats_url())
            .kill_on_drop(true)
            .spawn()
            .expect("start mspack-saga-orchestrator")
    };
    let mut first = spawn();
    let o = w.orchestrator().await;
    let id = Uuid::new_v4();
    o.start("place-order", id, json!({ "order": 9 }), None)
        .await
        .expect("start");
    w.wait_for(&o, id, |s| s.step == 1).await;
    first.start_kill().expect("kill -9");
    let status = first.wait().await.expect("wait");
    assert!(!status.success(), "killed, not finished: {status}");
    assert_eq!(w.log(), ["do reserve-kitchen"]);

    w.spawn_participant("payment", success).await;
    w.spawn_participant("delivery", success).await;
    let mut second = spawn();
    let state = w.wait_for(&o, id, |s| s.status.is_finished()).await;
    second.start_kill().expect("stop");
    let _ = second.wait().await;
    assert_eq!(state.status, SagaStatus::Completed, "{state:?}");
    assert_eq!(
        w.log(),
        [
            "do reserve-kitchen",
            "do charge-payment",
            "do assign-courier"
        ],
        "every step ran exactly once"
    );
    w.finish().await;
}
