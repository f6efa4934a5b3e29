//! The invariants of a run, checked from the data: every service's event store, the sagas, the
//! read models and the payment provider's own ledger. Nothing here reads a log.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;
use sqlx::{AssertSqlSafe, PgPool, Row};

use crate::topology::{Service, Topology};

/// One broken invariant.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Violation {
    /// The run (0-based).
    pub run: usize,
    /// Which invariant.
    pub invariant: &'static str,
    /// The order it concerns, if one.
    pub order_id: Option<String>,
    /// What was found.
    pub detail: String,
}

/// Counts by event type of one stream.
type Counts = HashMap<String, u32>;

async fn events(
    pool: &PgPool,
    t: &Topology,
    service: Service,
) -> anyhow::Result<Vec<(String, String, Option<String>)>> {
    let prefix = t.prefix(service)?;
    let sql = prefix.render(
        "SELECT stream_id, event_type, traceparent FROM {p}events ORDER BY stream_id, version",
    );
    let rows = sqlx::query(AssertSqlSafe(sql)).fetch_all(pool).await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
        .collect()
}

/// Per order: counts of each event type of `<kind>-<order>` streams.
fn by_order(rows: &[(String, String, Option<String>)], kind: &str) -> BTreeMap<String, Counts> {
    let mut map: BTreeMap<String, Counts> = BTreeMap::new();
    for (stream, event_type, _) in rows {
        if let Some(order) = stream.strip_prefix(&format!("{kind}-")) {
            *map.entry(order.to_owned())
                .or_default()
                .entry(event_type.clone())
                .or_default() += 1;
        }
    }
    map
}

fn count(c: Option<&Counts>, event_type: &str) -> u32 {
    c.and_then(|c| c.get(event_type)).copied().unwrap_or(0)
}

/// The final status of each order from its events.
fn statuses(orders: &BTreeMap<String, Counts>) -> BTreeMap<String, &'static str> {
    orders
        .iter()
        .map(|(id, c)| {
            let status = if c.contains_key("OrderDelivered") {
                "delivered"
            } else if c.contains_key("OrderCancelled") {
                "cancelled"
            } else if c.contains_key("OrderConfirmed") {
                "confirmed"
            } else {
                "placed"
            };
            (id.clone(), status)
        })
        .collect()
}

/// Checks every invariant of `run`; returns what is broken.
pub async fn check(pool: &PgPool, t: &Topology, run: usize) -> anyhow::Result<Vec<Violation>> {
    let mut v = Vec::new();
    let mut broken = |invariant: &'static str, order: Option<&str>, detail: String| {
        v.push(Violation {
            run,
            invariant,
            order_id: order.map(str::to_owned),
            detail,
        });
    };
    let order_rows = events(pool, t, Service::Orders).await?;
    let payment_rows = events(pool, t, Service::Payments).await?;
    let kitchen_rows = events(pool, t, Service::Kitchen).await?;
    let delivery_rows = events(pool, t, Service::Delivery).await?;
    let orders = by_order(&order_rows, "order");
    let status = statuses(&orders);
    let payments = by_order(&payment_rows, "payment");
    let tickets = by_order(&kitchen_rows, "ticket");
    let deliveries = by_order(&delivery_rows, "delivery");

    // Provider's ledger: what money actually moved.
    let provider = t.provider_prefix()?;
    let charges = sqlx::query(AssertSqlSafe(
        provider.render("SELECT order_id, status FROM {p}charges"),
    ))
    .fetch_all(pool)
    .await?;
    let mut money: HashMap<String, Vec<String>> = HashMap::new();
    for r in &charges {
        money
            .entry(r.try_get::<String, _>(0)?)
            .or_default()
            .push(r.try_get(1)?);
    }
    for r in sqlx::query(AssertSqlSafe(provider.render(
        "SELECT idempotency_key, count(*) FROM {p}charge_log GROUP BY idempotency_key HAVING count(*) > 1",
    )))
    .fetch_all(pool)
    .await?
    {
        let key: String = r.try_get(0)?;
        broken("provider charged one idempotency key twice", None, key);
    }
    for r in sqlx::query(AssertSqlSafe(provider.render(
        "SELECT order_id, count(*) FROM {p}charge_log GROUP BY order_id HAVING count(*) > 1",
    )))
    .fetch_all(pool)
    .await?
    {
        let order: String = r.try_get(0)?;
        let n: i64 = r.try_get(1)?;
        broken(
            "order charged more than once",
            Some(&order),
            format!("{n} charges"),
        );
    }

    for (order, st) in &status {
        let o = Some(order.as_str());
        let ledger = money.get(order).cloned().unwrap_or_default();
        let live = ledger.iter().filter(|s| *s == "charged").count();
        let refunded = ledger.iter().filter(|s| *s == "refunded").count();
        let pay = payments.get(order);
        let (charged, refunds) = (count(pay, "PaymentCharged"), count(pay, "PaymentRefunded"));
        let ticket = tickets.get(order);
        let delivery = deliveries.get(order);
        match *st {
            "delivered" => {
                if live != 1 || refunded != 0 {
                    broken(
                        "delivered order charged exactly once",
                        o,
                        format!("provider: {live} live, {refunded} refunded"),
                    );
                }
                if charged != 1 || refunds != 0 {
                    broken(
                        "delivered order charged exactly once",
                        o,
                        format!("payments: {charged} charged, {refunds} refunded"),
                    );
                }
                if count(ticket, "TicketReserved") != 1 || count(ticket, "TicketReleased") != 0 {
                    broken(
                        "delivered order has its kitchen ticket",
                        o,
                        format!("{ticket:?}"),
                    );
                }
                if count(delivery, "CourierAssigned") != 1
                    || count(delivery, "DeliveryCompleted") != 1
                {
                    broken(
                        "delivered order was delivered by its courier",
                        o,
                        format!("{delivery:?}"),
                    );
                }
            }
            "cancelled" => {
                if live != 0 {
                    broken(
                        "cancelled order charged zero times net",
                        o,
                        format!("provider: {live} live charges"),
                    );
                }
                if charged != refunds {
                    broken(
                        "cancelled order charged zero times net",
                        o,
                        format!("payments: {charged} charged, {refunds} refunded"),
                    );
                }
                if count(ticket, "TicketReserved") != count(ticket, "TicketReleased") {
                    broken(
                        "no kitchen ticket left for a cancelled order",
                        o,
                        format!("{ticket:?}"),
                    );
                }
                if count(delivery, "CourierAssigned") != count(delivery, "CourierUnassigned")
                    || count(delivery, "DeliveryCompleted") != 0
                {
                    broken(
                        "no courier left for a cancelled order",
                        o,
                        format!("{delivery:?}"),
                    );
                }
            }
            other => broken(
                "every order reaches a terminal state",
                o,
                format!("still {other}"),
            ),
        }
    }
    for (what, map) in [
        ("kitchen ticket", &tickets),
        ("courier assignment", &deliveries),
        ("payment", &payments),
    ] {
        for order in map.keys() {
            if !status.contains_key(order) {
                broken(
                    "nothing without a live order",
                    Some(order),
                    format!("a {what} for an unknown order"),
                );
            }
        }
    }

    // Every stream: versions 1..n, no gap, no duplicate.
    for service in Service::ALL {
        let prefix = t.prefix(service)?;
        for r in sqlx::query(AssertSqlSafe(prefix.render(
            "SELECT stream_id, count(*), min(version), max(version), count(DISTINCT version) \
             FROM {p}events GROUP BY stream_id \
             HAVING min(version) <> 1 OR max(version) <> count(*) OR count(DISTINCT version) <> count(*)",
        )))
        .fetch_all(pool)
        .await?
        {
            let stream: String = r.try_get(0)?;
            broken("every stream has versions 1..n", None, format!("{}: {stream}", service.name()));
        }
    }

    // Sagas all ended.
    let orders_prefix = t.prefix(Service::Orders)?;
    for r in sqlx::query(AssertSqlSafe(orders_prefix.render(
        "SELECT id, status, coalesce(last_error, '') FROM {p}sagas WHERE status NOT IN ('completed', 'compensated')",
    )))
    .fetch_all(pool)
    .await?
    {
        let id: String = r.try_get(0)?;
        let st: String = r.try_get(1)?;
        let error: String = r.try_get(2)?;
        broken("every saga ends", Some(&id), format!("{st}: {error}"));
    }

    // Read models equal a rebuild from the events.
    let view: BTreeMap<String, String> = sqlx::query(AssertSqlSafe(
        orders_prefix.render("SELECT order_id, status FROM {p}order_status"),
    ))
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| Ok::<_, sqlx::Error>((r.try_get(0)?, r.try_get(1)?)))
    .collect::<Result<_, _>>()?;
    let rebuilt: BTreeMap<String, String> = status
        .iter()
        .map(|(k, v)| (k.clone(), (*v).to_owned()))
        .collect();
    if view != rebuilt {
        let differ: Vec<&String> = rebuilt
            .keys()
            .filter(|k| view.get(*k) != rebuilt.get(*k))
            .take(5)
            .collect();
        let examples: Vec<String> = differ
            .iter()
            .map(|k| {
                let stream = format!("order-{k}");
                let events: Vec<&str> = order_rows
                    .iter()
                    .filter(|(s, _, _)| *s == stream)
                    .map(|(_, t, _)| t.as_str())
                    .collect();
                format!(
                    "{k}: view {:?}, rebuilt {:?}, events {events:?}",
                    view.get(*k),
                    rebuilt.get(*k)
                )
            })
            .collect();
        broken(
            "the order-status projection equals a rebuild",
            None,
            format!(
                "{} rows differ, e.g. {examples:?}",
                rebuilt
                    .keys()
                    .filter(|k| view.get(*k) != rebuilt.get(*k))
                    .count()
                    + view.keys().filter(|k| !rebuilt.contains_key(*k)).count()
            ),
        );
    }
    let kitchen_prefix = t.prefix(Service::Kitchen)?;
    let queue: BTreeMap<String, String> = sqlx::query(AssertSqlSafe(
        kitchen_prefix.render("SELECT order_id, state FROM {p}kitchen_queue"),
    ))
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| Ok::<_, sqlx::Error>((r.try_get(0)?, r.try_get(1)?)))
    .collect::<Result<_, _>>()?;
    let mut queue_rebuilt = BTreeMap::new();
    for (stream, event_type, _) in &kitchen_rows {
        if let Some(order) = stream.strip_prefix("ticket-") {
            let state = match event_type.as_str() {
                "TicketReserved" => "reserved",
                "TicketReleased" => "released",
                "TicketPrepared" => "prepared",
                _ => continue,
            };
            queue_rebuilt.insert(order.to_owned(), state.to_owned());
        }
    }
    if queue != queue_rebuilt {
        broken(
            "the kitchen-queue projection equals a rebuild",
            None,
            format!("{} rows vs {} rebuilt", queue.len(), queue_rebuilt.len()),
        );
    }

    // One trace per order, across every service's events: everything the placing request set
    // off (the saga's steps, compensations, events and their consumers) carries its trace. A
    // customer's cancel request is a request of its own, with its own trace.
    let mut traces: HashMap<String, BTreeSet<String>> = HashMap::new();
    for (rows, kind) in [
        (&order_rows, "order"),
        (&payment_rows, "payment"),
        (&kitchen_rows, "ticket"),
        (&delivery_rows, "delivery"),
    ] {
        for (stream, _, traceparent) in rows.iter().filter(|(_, t, _)| t != "CancelRequested") {
            if let (Some(order), Some(tp)) = (stream.strip_prefix(&format!("{kind}-")), traceparent)
                && let Some(trace) = tp.get(3..35)
            {
                traces
                    .entry(order.to_owned())
                    .or_default()
                    .insert(trace.to_owned());
            }
        }
    }
    for (order, ids) in &traces {
        if ids.len() > 1 {
            broken(
                "one trace per order",
                Some(order),
                format!("{} trace ids", ids.len()),
            );
        }
    }
    Ok(v)
}

/// Waits until the read models have caught up with the events (or `tries` run out).
/// Orders whose row in the order-status view is missing or differs from the latest status
/// event of their stream.
const STATUS_BEHIND: &str = "SELECT count(*) FROM (\
     SELECT DISTINCT ON (stream_id) stream_id, event_type FROM {p}events \
     WHERE stream_id LIKE 'order-%' \
       AND event_type IN ('OrderPlaced', 'OrderConfirmed', 'OrderDelivered', 'OrderCancelled') \
     ORDER BY stream_id, version DESC) AS e \
   LEFT JOIN {p}order_status AS s ON s.order_id = substr(e.stream_id, 7) \
   WHERE s.status IS DISTINCT FROM (CASE e.event_type WHEN 'OrderPlaced' THEN 'placed' \
     WHEN 'OrderConfirmed' THEN 'confirmed' WHEN 'OrderDelivered' THEN 'delivered' \
     ELSE 'cancelled' END)";

pub async fn settle(pool: &PgPool, t: &Topology, tries: usize) -> anyhow::Result<()> {
    let o = t.prefix(Service::Orders)?;
    for _ in 0..tries {
        // Quiet means the order-status view shows every order's latest status, not only a
        // row per order: a projection that was killed or lost its backend near the end is
        // still catching up; one that never does stays behind past the bound and is reported.
        let behind: i64 = sqlx::query_scalar(AssertSqlSafe(o.render(STATUS_BEHIND)))
            .fetch_one(pool)
            .await
            .unwrap_or(1);
        let pending: i64 = {
            let mut n = 0;
            for service in Service::ALL {
                let p = t.prefix(service)?;
                n += sqlx::query_scalar::<_, i64>(AssertSqlSafe(
                    p.render("SELECT count(*) FROM {p}outbox WHERE dead_us IS NULL"),
                ))
                .fetch_one(pool)
                .await
                .unwrap_or(1);
            }
            n
        };
        if behind == 0 && pending == 0 {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    Ok(())
}
