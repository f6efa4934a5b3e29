//! The relay's OpenTelemetry metrics, read back through an in-memory exporter: a dead letter is
//! counted, published rows and their lag are recorded. Own test binary: it installs the global
//! meter provider.

use std::time::Duration;

use mspack_eventstore::{Database, SqlEventStore, StoreConfig, outbox_partition};
use mspack_outbox::{Relay, RelayConfig, connect_jetstream, ensure_stream};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use sqlx::AssertSqlSafe;

fn sum(exporter: &InMemoryMetricExporter, name: &str) -> u64 {
    let mut total = 0;
    for resource in exporter.get_finished_metrics().expect("metrics") {
        for scope in resource.scope_metrics() {
            for metric in scope.metrics().filter(|m| m.name() == name) {
                if let AggregatedMetrics::U64(MetricData::Sum(s)) = metric.data() {
                    total = total.max(s.data_points().map(|p| p.value()).sum());
                }
            }
        }
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_and_published_rows_are_counted() {
    let Some(_) = mspack_testkit::nats().await else {
        return;
    };
    let exporter = InMemoryMetricExporter::default();
    let provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(exporter.clone()).build())
        .build();
    opentelemetry::global::set_meter_provider(provider.clone());

    let js = connect_jetstream(&mspack_testkit::nats_url())
        .await
        .expect("jetstream");
    let n = mspack_testkit::names();
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqlEventStore::open_sqlite(
        dir.path().join("m.db").to_str().expect("utf-8"),
        StoreConfig::new().with_prefix(n.prefix.clone()),
    )
    .await
    .expect("store");
    ensure_stream(&js, &n.stream, vec![format!("{}.>", n.subject)])
        .await
        .expect("stream");
    let Database::Sqlite(pool) = store.database() else {
        unreachable!("sqlite store")
    };
    for (subject, headers) in [
        (format!("{}.ok", n.subject), "{}"),
        (format!("{}.bad", n.subject), r#"{"bad name": "v"}"#),
    ] {
        sqlx::query(AssertSqlSafe(n.prefix.render(
            "INSERT INTO {p}outbox (message_id, subject, payload, headers, ordering_key, \
             partition, created_us) VALUES ($1, $2, x'7b7d', $3, 'k', $4, 0)",
        )))
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(&subject)
        .bind(headers)
        .bind(outbox_partition("k"))
        .execute(pool)
        .await
        .expect("row");
    }
    let relay = Relay::new(
        store.database().clone(),
        n.prefix.clone(),
        js.clone(),
        RelayConfig::default(),
    )
    .await
    .expect("relay");
    let report = relay.publish_pending().await.expect("pass");
    assert_eq!((report.published, report.dead_lettered), (1, 1));
    provider.force_flush().expect("flush");
    assert_eq!(sum(&exporter, "mspack.outbox.dead_letters"), 1);
    assert_eq!(sum(&exporter, "mspack.outbox.published"), 1);
    let lag_recorded = exporter
        .get_finished_metrics()
        .expect("metrics")
        .iter()
        .flat_map(|r| {
            r.scope_metrics()
                .flat_map(|s| s.metrics())
                .map(|m| m.name().to_owned())
                .collect::<Vec<_>>()
        })
        .any(|name| name == "mspack.outbox.lag");
    assert!(lag_recorded, "the lag histogram is recorded");
    let _ = js.delete_stream(&n.stream).await;
    tokio::time::sleep(Duration::from_millis(10)).await;
}
