//! The chaos run: the system as separate processes on PostgreSQL and a private NATS JetStream;
//! orders placed at a steady rate (some designed to fail); meanwhile, at moments drawn from a
//! seed, processes killed with SIGKILL and restarted (payments most often), PostgreSQL backends
//! terminated, the broker restarted, the provider slowed past a step timeout. Then the
//! invariants are checked from the data ([`invariants`]).

mod invariants;
mod procs;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use serde::Serialize;
use sqlx::AssertSqlSafe;

use crate::app::Role;
use crate::load::{LoadConfig, LoadReport};
use crate::topology::{Service, Topology};
pub use invariants::Violation;
use procs::{Broker, Procs, free_ports};

/// `food-delivery chaos` options.
#[derive(Args, Clone, Debug)]
pub struct ChaosArgs {
    /// How many runs.
    #[arg(long, default_value_t = 1)]
    runs: usize,
    /// Orders per run.
    #[arg(long, default_value_t = 100)]
    orders: usize,
    /// Orders per second.
    #[arg(long, default_value_t = 10.0)]
    rate: f64,
    /// Seed of the fault schedule.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print the report as JSON (else a summary).
    #[arg(long)]
    json: bool,
    /// No faults: the same run, undisturbed (the baseline figures).
    #[arg(long)]
    calm: bool,
    /// Saga step timeout.
    #[arg(long, default_value_t = 2000)]
    step_timeout_ms: u64,
    /// Keep the PostgreSQL tables and logs of the runs (for a look after).
    #[arg(long)]
    keep: bool,
}

/// What a chaos run did and found.
#[derive(Debug, Default, Serialize)]
pub struct ChaosReport {
    /// Runs.
    pub runs: usize,
    /// Orders placed in all.
    pub orders: usize,
    /// Processes killed with SIGKILL.
    pub kills: usize,
    /// PostgreSQL backends terminated.
    pub backend_terminations: usize,
    /// Broker restarts.
    pub broker_restarts: usize,
    /// Times the provider was made slower than a step's timeout.
    pub provider_slowdowns: usize,
    /// Broken invariants.
    pub violations: Vec<Violation>,
    /// Delivered orders.
    pub completed: usize,
    /// Cancelled orders.
    pub cancelled: usize,
    /// Terminal orders per second (mean over runs).
    pub orders_per_s: f64,
    /// End-to-end latency, median of the runs' medians.
    pub p50_ms: f64,
    /// End-to-end latency, worst of the runs' 99th percentiles.
    pub p99_ms: f64,
    /// Per run.
    pub per_run: Vec<RunReport>,
}

/// One run.
#[derive(Debug, Default, Serialize)]
pub struct RunReport {
    /// Seed of its faults.
    pub seed: u64,
    /// Faults, in order, with their time (ms from the start).
    pub faults: Vec<(u64, String)>,
    /// Its load figures.
    pub orders: usize,
    /// Delivered.
    pub completed: usize,
    /// Cancelled.
    pub cancelled: usize,
    /// Orders per second.
    pub orders_per_s: f64,
    /// p50 (ms).
    pub p50_ms: f64,
    /// p99 (ms).
    pub p99_ms: f64,
    /// Whether the broker syncs every write (`sync_interval: always`).
    pub broker_synced: bool,
}

/// A small deterministic generator (SplitMix64): the same seed, the same faults.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// `food-delivery chaos`: exit 0 with no violation, 1 with some, 2 when it can't run.
pub fn main(args: ChaosArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("food-delivery chaos: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(chaos(args.clone())) {
        Ok(report) => {
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).unwrap_or_default()
                );
            } else {
                println!(
                    "{} runs, {} orders ({} delivered, {} cancelled), {} kills, {} backend terminations, {} broker restarts, {} provider slowdowns: {} violations; {:.1} orders/s, p50 {:.1} ms, p99 {:.1} ms",
                    report.runs,
                    report.orders,
                    report.completed,
                    report.cancelled,
                    report.kills,
                    report.backend_terminations,
                    report.broker_restarts,
                    report.provider_slowdowns,
                    report.violations.len(),
                    report.orders_per_s,
                    report.p50_ms,
                    report.p99_ms
                );
                for v in &report.violations {
                    println!(
                        "violation: run {} {} {:?}: {}",
                        v.run, v.invariant, v.order_id, v.detail
                    );
                }
            }
            if report.violations.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("food-delivery chaos: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn chaos(args: ChaosArgs) -> anyhow::Result<ChaosReport> {
    let url = mspack_eventstore::database_url_from_env();
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(10))
        .connect(&url)
        .await
        .map_err(|e| {
            anyhow::anyhow!("PostgreSQL at {url}: {e} (scripts/ci-services.sh starts it)")
        })?;
    let mut report = ChaosReport {
        runs: args.runs,
        ..ChaosReport::default()
    };
    let mut p50s = Vec::new();
    for run in 0..args.runs {
        let seed = args.seed.wrapping_mul(1000).wrapping_add(run as u64);
        let (run_report, faults, violations) = one_run(&args, &pool, &url, run, seed).await?;
        report.orders += run_report.orders;
        report.completed += run_report.completed;
        report.cancelled += run_report.cancelled;
        report.kills += faults.kills;
        report.backend_terminations += faults.terminations;
        report.broker_restarts += faults.broker_restarts;
        report.provider_slowdowns += faults.slowdowns;
        report.orders_per_s += run_report.orders_per_s / args.runs as f64;
        report.p99_ms = report.p99_ms.max(run_report.p99_ms);
        p50s.push(run_report.p50_ms);
        report.violations.extend(violations);
        report.per_run.push(run_report);
    }
    p50s.sort_by(f64::total_cmp);
    report.p50_ms = p50s.get(p50s.len() / 2).copied().unwrap_or(0.0);
    report.orders_per_s = (report.orders_per_s * 100.0).round() / 100.0;
    Ok(report)
}

#[derive(Default)]
struct Faults {
    kills: usize,
    terminations: usize,
    broker_restarts: usize,
    slowdowns: usize,
    log: Vec<(u64, String)>,
}

async fn one_run(
    args: &ChaosArgs,
    pool: &sqlx::PgPool,
    url: &str,
    run: usize,
    seed: u64,
) -> anyhow::Result<(RunReport, Faults, Vec<Violation>)> {
    let id = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let work = std::env::temp_dir().join(format!("food-delivery-chaos-{id}"));
    let mut broker = Broker::start(&work.join("nats"))?;
    let ports = free_ports(12);
    let mut t = Topology::local(work.join("data"));
    t.root = format!("fdc{id}");
    t.stream = format!("FDC{id}");
    t.prefix_root = format!("fdc{id}_");
    t.database_url = Some(url.to_owned());
    t.nats_url = broker.url();
    t.base_port = ports;
    t.provider_port = ports + 4;
    t.step_timeout = Duration::from_millis(args.step_timeout_ms);
    let mut procs = Procs::new(t.clone(), work.join("logs"))?;
    let roles = Role::all();
    for role in &roles {
        procs.start(*role)?;
    }
    let not_ready = procs.wait_ready(&roles, Duration::from_secs(60)).await;
    if !not_ready.is_empty() {
        anyhow::bail!(
            "roles not ready within 60 s: {not_ready:?} (logs in {})",
            work.join("logs").display()
        );
    }

    let load = tokio::spawn(crate::load::run(LoadConfig {
        url: t.url(Service::Orders),
        orders: args.orders,
        rate: args.rate,
        mix: true,
        run_id: format!("chaos-{id}"),
        order_timeout: Duration::from_secs(180),
    }));
    let placing_for = Duration::from_secs_f64(args.orders as f64 / args.rate.max(0.001));
    let mut faults = Faults::default();
    let mut rng = Rng(seed);
    let started = Instant::now();
    if !args.calm {
        // Faults while the orders come in, a few seconds apart.
        while started.elapsed() < placing_for && !load.is_finished() {
            let pause = Duration::from_millis(300 + rng.below(1200));
            tokio::time::sleep(pause).await;
            let at = started.elapsed().as_millis() as u64;
            let what = inject(&mut rng, &mut procs, &mut broker, &t, pool, &mut faults).await;
            faults.log.push((at, what));
            // Anything that died on its own (a broker restart can do that) comes back too.
            for name in procs.revive() {
                faults.log.push((
                    started.elapsed().as_millis() as u64,
                    format!("revived {name}"),
                ));
            }
        }
    }
    let load: LoadReport = load.await?;
    procs.revive();
    let _ = procs.wait_ready(&roles, Duration::from_secs(30)).await;
    invariants::settle(pool, &t, 150).await?;
    let mut violations = invariants::check(pool, &t, run).await?;
    for r in load.results.iter().filter(|r| r.latency_ms.is_none()) {
        violations.push(Violation {
            run,
            invariant: "every order reaches a terminal state within the bound",
            order_id: r.order_id.map(|o| o.to_string()),
            detail: r.status.clone(),
        });
    }
    procs.stop_all();
    if !args.keep {
        drop_tables(pool, &t.prefix_root).await;
        let _ = std::fs::remove_dir_all(&work);
    } else {
        eprintln!(
            "run {run}: kept {} and tables {}*",
            work.display(),
            t.prefix_root
        );
    }
    let report = RunReport {
        seed,
        faults: std::mem::take(&mut faults.log),
        orders: load.orders,
        completed: load.completed,
        cancelled: load.cancelled,
        orders_per_s: load.orders_per_s,
        p50_ms: load.p50_ms,
        p99_ms: load.p99_ms,
        broker_synced: broker.synced,
    };
    Ok((report, faults, violations))
}

/// One fault, drawn from the seed: what was done.
async fn inject(
    rng: &mut Rng,
    procs: &mut Procs,
    broker: &mut Broker,
    t: &Topology,
    pool: &sqlx::PgPool,
    faults: &mut Faults,
) -> String {
    let roles = Role::all();
    match rng.below(100) {
        // Kill -9: payments most often, then anything.
        0..=29 => kill(procs, Role::Service(Service::Payments), rng, faults).await,
        30..=59 => {
            let role = roles[rng.below(roles.len() as u64) as usize];
            kill(procs, role, rng, faults).await
        }
        60..=74 => {
            let role = roles[rng.below(roles.len() as u64) as usize];
            let name = role.name();
            let pattern = format!("fd-%-{name}");
            let killed: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE application_name LIKE $1 AND datname = current_database()) AS t",
            )
            .bind(&pattern)
            .fetch_one(pool)
            .await
            .unwrap_or(0);
            faults.terminations += usize::try_from(killed).unwrap_or(0);
            format!("terminated {killed} backends of {name}")
        }
        75..=87 => {
            let down = Duration::from_millis(200 + rng.below(800));
            match broker.restart(down) {
                Ok(()) => {
                    faults.broker_restarts += 1;
                    format!("restarted the broker after {} ms down", down.as_millis())
                }
                Err(e) => format!("broker restart failed: {e}"),
            }
        }
        _ => {
            let slow = t.step_timeout.as_millis() as i64 * 3 / 2;
            let body = serde_json::json!({ "slow_ms": slow, "for_ms": 3000 });
            let sent = reqwest::Client::new()
                .post(format!("{}/admin/mode", t.provider_url()))
                .json(&body)
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            faults.slowdowns += usize::from(sent.is_ok());
            format!("provider {slow} ms slow for 3 s")
        }
    }
}

async fn kill(procs: &mut Procs, role: Role, rng: &mut Rng, faults: &mut Faults) -> String {
    procs.kill9(role);
    faults.kills += 1;
    let down = Duration::from_millis(100 + rng.below(900));
    tokio::time::sleep(down).await;
    match procs.start(role) {
        Ok(()) => format!(
            "kill -9 {} (restarted after {} ms)",
            role.name(),
            down.as_millis()
        ),
        Err(e) => format!("kill -9 {}: restart failed: {e}", role.name()),
    }
}

async fn drop_tables(pool: &sqlx::PgPool, prefix: &str) {
    let sql = format!(
        "DO $$ DECLARE r record; BEGIN \
         FOR r IN SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE '{prefix}%' LOOP \
           EXECUTE 'DROP TABLE IF EXISTS ' || quote_ident(r.tablename) || ' CASCADE'; END LOOP; \
         FOR r IN SELECT oid::regprocedure AS f FROM pg_proc WHERE proname LIKE '{prefix}%' LOOP \
           EXECUTE 'DROP FUNCTION IF EXISTS ' || r.f || ' CASCADE'; END LOOP; END $$"
    );
    let _ = sqlx::raw_sql(AssertSqlSafe(sql)).execute(pool).await;
}

/// `food-delivery services`: every role in its own process, restarted when it exits, until
/// SIGINT/SIGTERM.
pub fn supervise(t: Topology) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let mut procs = Procs::new(t.clone(), t.data_dir.join("logs"))?;
        for role in Role::all() {
            procs.start(role)?;
        }
        let not_ready = procs
            .wait_ready(&Role::all(), Duration::from_secs(60))
            .await;
        if not_ready.is_empty() {
            eprintln!(
                "food-delivery: all roles ready; orders at {}",
                t.url(Service::Orders)
            );
        } else {
            eprintln!("food-delivery: not ready yet: {not_ready:?}");
        }
        let mut stop = std::pin::pin!(mspack_outbox::process::shutdown_signal());
        loop {
            tokio::select! {
                () = &mut stop => break,
                () = tokio::time::sleep(Duration::from_millis(500)) => {
                    for name in procs.revive() {
                        eprintln!("food-delivery: {name} exited; restarted");
                    }
                }
            }
        }
        procs.stop_all();
        Ok(())
    })
}
