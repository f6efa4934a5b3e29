//! Aggregates, the repository, snapshots and projections, on both backends.

mod common;

use std::collections::BTreeMap;

use common::Fixture;
use mspack_eventstore::{
    Aggregate, DomainEvent, EventStore, Metadata, Projection, ProjectionRunner, RecordedEvent,
    Repository, RepositoryError, StoreConfig,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct Cart {
    items: u32,
    checked_out: bool,
}

#[derive(Debug, Clone)]
enum CartCommand {
    Add(u32),
    CheckOut,
}

#[derive(Debug, Serialize, Deserialize)]
enum CartEvent {
    Added { count: u32 },
    CheckedOut,
}

impl DomainEvent for CartEvent {
    fn event_type(&self) -> &'static str {
        match self {
            CartEvent::Added { .. } => "ItemsAdded",
            CartEvent::CheckedOut => "CheckedOut",
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum CartError {
    #[error("cart is already checked out")]
    CheckedOut,
    #[error("cart is empty")]
    Empty,
}

impl Aggregate for Cart {
    const KIND: &'static str = "cart";
    type Command = CartCommand;
    type Event = CartEvent;
    type Error = CartError;

    fn handle(&self, command: CartCommand) -> Result<Vec<CartEvent>, CartError> {
        if self.checked_out {
            return Err(CartError::CheckedOut);
        }
        match command {
            CartCommand::Add(count) => Ok(vec![CartEvent::Added { count }]),
            CartCommand::CheckOut if self.items == 0 => Err(CartError::Empty),
            CartCommand::CheckOut => Ok(vec![CartEvent::CheckedOut]),
        }
    }

    fn apply(&mut self, event: &CartEvent) {
        match event {
            CartEvent::Added { count } => self.items += count,
            CartEvent::CheckedOut => self.checked_out = true,
        }
    }
}

async fn repository_decides_on_replayed_state_and_rejects_invalid_commands(f: &Fixture) {
    let repo: Repository<Cart, _> = Repository::new(f.store.clone());
    let meta = Metadata::default();
    let empty = repo.execute("1", CartCommand::CheckOut, &meta).await;
    assert!(matches!(
        empty,
        Err(RepositoryError::Rejected(CartError::Empty))
    ));
    repo.execute("1", CartCommand::Add(2), &meta)
        .await
        .expect("add");
    repo.execute("1", CartCommand::Add(3), &meta)
        .await
        .expect("add");
    let done = repo
        .execute("1", CartCommand::CheckOut, &meta)
        .await
        .expect("check out");
    assert_eq!(done.version, 3);
    let loaded = repo.load("1").await.expect("load");
    assert_eq!(
        loaded.state,
        Cart {
            items: 5,
            checked_out: true
        }
    );
    assert_eq!(loaded.version, 3);
    let late = repo.execute("1", CartCommand::Add(1), &meta).await;
    assert!(matches!(
        late,
        Err(RepositoryError::Rejected(CartError::CheckedOut))
    ));
    let stream = f.store.read_stream("cart-1", 0, 10).await.expect("read");
    assert_eq!(stream[0].event_type, "ItemsAdded");
}
on_both_backends!(
    repository,
    StoreConfig::new(),
    repository_decides_on_replayed_state_and_rejects_invalid_commands
);

async fn snapshots_every_n_events_and_loading_starts_from_the_latest(f: &Fixture) {
    let repo: Repository<Cart, _> = Repository::new(f.store.clone()).snapshot_every(10);
    let meta = Metadata::default();
    for _ in 0..25 {
        repo.execute("s", CartCommand::Add(1), &meta)
            .await
            .expect("add");
    }
    let snapshot = f
        .store
        .load_snapshot("cart-s")
        .await
        .expect("load snapshot")
        .expect("a snapshot exists after 25 events");
    assert_eq!(snapshot.version, 20);
    assert_eq!(snapshot.state["items"], 20);
    // Doctor the snapshot: if loading really starts from it, the doctored count shows through.
    let mut doctored = snapshot.clone();
    doctored.version = 21;
    doctored.state["items"] = serde_json::json!(1000);
    f.store.save_snapshot(&doctored).await.expect("save");
    let loaded = repo.load("s").await.expect("load");
    assert_eq!(
        loaded.state.items, 1004,
        "21 from the snapshot plus events 22..=25"
    );
    assert_eq!(loaded.version, 25);
    // An older snapshot never replaces a newer one.
    f.store.save_snapshot(&snapshot).await.expect("save older");
    let kept = f
        .store
        .load_snapshot("cart-s")
        .await
        .expect("load")
        .expect("some");
    assert_eq!(kept.version, 21);
    // A snapshot that no longer fits the state type is ignored: full replay.
    let mut broken = doctored;
    broken.version = 22;
    broken.state = serde_json::json!({"unexpected": true});
    f.store.save_snapshot(&broken).await.expect("save broken");
    let replayed = repo.load("s").await.expect("load");
    assert_eq!(replayed.state.items, 25);
}
on_both_backends!(
    snapshots,
    StoreConfig::new(),
    snapshots_every_n_events_and_loading_starts_from_the_latest
);

/// Counts items per cart, like a read model table would.
#[derive(Default)]
struct ItemsPerCart {
    items: BTreeMap<String, u64>,
    applied: u64,
}

impl Projection for ItemsPerCart {
    fn name(&self) -> &str {
        "items-per-cart"
    }

    async fn apply(
        &mut self,
        event: &RecordedEvent,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self.applied += 1;
        if event.event_type == "ItemsAdded" {
            let count = event.payload["Added"]["count"].as_u64().ok_or("no count")?;
            *self.items.entry(event.stream_id.clone()).or_default() += count;
        }
        Ok(())
    }

    async fn reset(&mut self) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self.items.clear();
        Ok(())
    }
}

/// Catches up until `want` events are applied in all (`already` counted before). Readers of the
/// global order wait for older transactions anywhere in the database cluster (another test's
/// migration, say), so one catch-up may stop short; more than `want` is a bug and shows.
async fn settle<S: EventStore, P: Projection>(
    runner: &mut ProjectionRunner<S, P>,
    already: u64,
    want: u64,
) -> u64 {
    let mut seen = already;
    for _ in 0..500 {
        if seen >= want {
            break;
        }
        seen += runner.catch_up().await.expect("catch up");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    seen + runner.catch_up().await.expect("catch up")
}

async fn projection_resumes_from_its_checkpoint_and_rebuilds_from_zero(f: &Fixture) {
    let repo: Repository<Cart, _> = Repository::new(f.store.clone());
    let meta = Metadata::default();
    for cart in ["a", "b", "a"] {
        repo.execute(cart, CartCommand::Add(2), &meta)
            .await
            .expect("add");
    }
    let lease = std::time::Duration::from_secs(30);
    let mut runner = ProjectionRunner::new(f.store.clone(), ItemsPerCart::default())
        .batch_size(2)
        .lease("node-1", lease);
    assert_eq!(settle(&mut runner, 0, 3).await, 3);
    assert_eq!(runner.projection().items.get("cart-a"), Some(&4));

    // A second runner elsewhere waits while the first holds the lease.
    let mut other =
        ProjectionRunner::new(f.store.clone(), ItemsPerCart::default()).lease("node-2", lease);
    assert!(matches!(
        other.run_once().await,
        Err(mspack_eventstore::ProjectionError::Leased { .. })
    ));

    // "Restart": a new runner under the same name, with an empty in-memory model, resumes after
    // the checkpoint and so only sees the new event.
    repo.execute("b", CartCommand::Add(5), &meta)
        .await
        .expect("add");
    let mut restarted =
        ProjectionRunner::new(f.store.clone(), ItemsPerCart::default()).lease("node-1", lease);
    assert_eq!(settle(&mut restarted, 0, 1).await, 1);
    assert_eq!(restarted.projection().items.get("cart-b"), Some(&5));
    assert_eq!(restarted.projection().items.get("cart-a"), None);

    // Rebuild replays everything from position 0.
    let rebuilt = restarted.rebuild().await.expect("rebuild");
    assert_eq!(settle(&mut restarted, rebuilt, 4).await, 4);
    assert_eq!(restarted.projection().items.get("cart-a"), Some(&4));
    assert_eq!(restarted.projection().items.get("cart-b"), Some(&7));
    assert_eq!(restarted.catch_up().await.expect("nothing new"), 0);
}
on_both_backends!(
    projections,
    StoreConfig::new(),
    projection_resumes_from_its_checkpoint_and_rebuilds_from_zero
);

async fn execute_with_retry_survives_concurrent_commands(f: &Fixture) {
    let repo: Repository<Cart, _> = Repository::new(f.store.clone());
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let repo = repo.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..10 {
                repo.execute_with_retry("hot", CartCommand::Add(1), &Metadata::default(), 100)
                    .await
                    .expect("retried until it fits");
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let loaded = repo.load("hot").await.expect("load");
    assert_eq!((loaded.state.items, loaded.version), (40, 40));
}
on_both_backends!(
    retry,
    StoreConfig::new(),
    execute_with_retry_survives_concurrent_commands
);
