//! Roles and how they are started: in one process (`run`), one process per role (`serve`,
//! which `services` and `chaos` spawn), each with the same topology.

use std::time::Duration;

use mspack_outbox::{Health, connect_jetstream, ensure};

use crate::runtime::{Shutdown, serve, spawn_relay, with_probes};
use crate::services::{ServiceCtx, delivery, kitchen, orders, payments, provider};
use crate::topology::{Service, Topology};

/// A role one process can play.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A service's API and consumers (no relay: see `Relay`).
    Service(Service),
    /// The saga orchestrator (orders' database).
    Orchestrator,
    /// The outbox relay of a service's database.
    Relay(Service),
    /// The payment provider.
    Provider,
}

impl Role {
    /// Every role, in start order (provider first, relays last).
    pub fn all() -> Vec<Role> {
        let mut roles = vec![Role::Provider];
        roles.extend(Service::ALL.map(Role::Service));
        roles.push(Role::Orchestrator);
        roles.extend(Service::ALL.map(Role::Relay));
        roles
    }

    /// `orders`, `orchestrator`, `relay-orders`, `provider`, ...
    pub fn name(self) -> String {
        match self {
            Role::Service(s) => s.name().to_owned(),
            Role::Orchestrator => "orchestrator".to_owned(),
            Role::Relay(s) => format!("relay-{}", s.name()),
            Role::Provider => "provider".to_owned(),
        }
    }

    /// Parses a comma-separated list of roles (`orders,orchestrator,relay-orders`: what one
    /// pod plays); `None` if any is unknown or the list names two services' APIs.
    pub fn parse_list(names: &str) -> Option<Vec<Role>> {
        let roles = names
            .split(',')
            .map(|n| Role::parse(n.trim()))
            .collect::<Option<Vec<_>>>()?;
        let apis = roles
            .iter()
            .filter(|r| matches!(r, Role::Service(_) | Role::Provider))
            .count();
        (!roles.is_empty() && apis <= 1).then_some(roles)
    }

    /// Parses a role name.
    pub fn parse(name: &str) -> Option<Role> {
        match name {
            "orchestrator" => Some(Role::Orchestrator),
            "provider" => Some(Role::Provider),
            _ => match name.strip_prefix("relay-") {
                Some(s) => Service::parse(s).map(Role::Relay),
                None => Service::parse(name).map(Role::Service),
            },
        }
    }

    /// The HTTP port this role listens on (`/livez`, `/readyz`, its API).
    pub fn port(self, t: &Topology) -> u16 {
        match self {
            Role::Service(s) => t.port(s),
            Role::Provider => t.port_override.unwrap_or(t.provider_port),
            Role::Orchestrator => t.provider_port.saturating_add(1),
            // After the orchestrator, in service order (not `port(s) - base_port`: that sum
            // overflowed above port 32767, and a pod's --port is not its relay's).
            Role::Relay(s) => t.provider_port.saturating_add(2 + s.port_offset()),
        }
    }
}

/// Connects to NATS and makes sure the system's stream exists, retrying until it does (a
/// process started while the broker is down waits for it).
async fn broker(t: &Topology, shutdown: &Shutdown) -> Option<async_nats::jetstream::Context> {
    let mut pause = Duration::from_millis(100);
    loop {
        match connect_jetstream(&t.nats_url).await {
            Ok(js) => match ensure(&js, &t.stream_spec()).await {
                Ok(_) => return Some(js),
                Err(e) => tracing::warn!(error = %e, "stream not ready"),
            },
            Err(e) => tracing::warn!(error = %e, "broker not reachable"),
        }
        tokio::select! {
            () = shutdown.clone().wait() => return None,
            () = tokio::time::sleep(pause) => {}
        }
        pause = (pause * 2).min(Duration::from_secs(2));
    }
}

/// Opens a service's context, retrying while its database is down.
async fn open(
    t: &Topology,
    service: Service,
    role: &str,
    js: &async_nats::jetstream::Context,
    shutdown: &Shutdown,
) -> Option<ServiceCtx> {
    let mut pause = Duration::from_millis(100);
    loop {
        match ServiceCtx::open(t, service, role, js.clone()).await {
            Ok(ctx) => return Some(ctx),
            Err(e) => tracing::warn!(error = %e, service = service.name(), "database not ready"),
        }
        tokio::select! {
            () = shutdown.clone().wait() => return None,
            () = tokio::time::sleep(pause) => {}
        }
        pause = (pause * 2).min(Duration::from_secs(2));
    }
}

/// Plays `roles` in this process until `shutdown`. With `in_process_relays`, each service's
/// relay runs beside it and is woken on every commit (the `run` mode).
pub async fn play(t: Topology, roles: Vec<Role>, shutdown: Shutdown) -> anyhow::Result<()> {
    let Some(js) = broker(&t, &shutdown).await else {
        return Ok(());
    };
    let together = roles.len() > 1;
    // Workers without an API of their own (`orchestrator,relay-orders`) still get probes.
    let first_port = roles.first().map(|r| r.port(&t));
    let mut servers = Vec::new();
    let mut all_health: Vec<Health> = Vec::new();
    let mut relays = std::collections::HashMap::new();
    for role in &roles {
        if let Role::Relay(service) = role {
            let Some(ctx) = open(&t, *service, &role.name(), &js, &shutdown).await else {
                return Ok(());
            };
            let relay = spawn_relay(
                &t,
                ctx.db().clone(),
                ctx.prefix.clone(),
                role.name(),
                js.clone(),
                shutdown.clone(),
            )
            .await?;
            all_health.push(relay.health());
            relays.insert(*service, relay);
            if !together {
                servers.push((
                    role.port(&t),
                    axum::Router::new(),
                    Some(vec![relay_health(&relays, *service)]),
                ));
            }
        }
    }
    for role in roles {
        match role {
            Role::Relay(_) => {}
            Role::Provider => {
                let db = t.database("provider", "provider").await?;
                let router = provider::router(db, &t.provider_prefix()?).await?;
                servers.push((role.port(&t), router, Some(vec![])));
            }
            Role::Orchestrator => {
                let Some(mut ctx) = open(&t, Service::Orders, "orchestrator", &js, &shutdown).await
                else {
                    return Ok(());
                };
                ctx.wake = relays
                    .get(&Service::Orders)
                    .map(mspack_outbox::Relay::waker);
                let health = orders::start_orchestrator(ctx, shutdown.clone()).await?;
                all_health.push(health.clone());
                if !together {
                    servers.push((role.port(&t), axum::Router::new(), Some(vec![health])));
                }
            }
            Role::Service(service) => {
                let Some(mut ctx) = open(&t, service, &role.name(), &js, &shutdown).await else {
                    return Ok(());
                };
                ctx.wake = relays.get(&service).map(mspack_outbox::Relay::waker);
                let (router, health) = match service {
                    Service::Orders => orders::start(ctx, shutdown.clone()).await?,
                    Service::Payments => payments::start(ctx, shutdown.clone()).await?,
                    Service::Kitchen => kitchen::start(ctx, shutdown.clone()).await?,
                    Service::Delivery => delivery::start(ctx, shutdown.clone()).await?,
                };
                all_health.extend(health);
                // Readiness of a service's API covers every worker of its process: its
                // consumers, and the relay and orchestrator when they run beside it.
                servers.push((role.port(&t), router, None));
            }
        }
    }
    if servers.is_empty()
        && let Some(port) = first_port
    {
        servers.push((port, axum::Router::new(), None));
    }
    let mut tasks = Vec::new();
    for (port, router, workers) in servers {
        let router = with_probes(router, workers.unwrap_or_else(|| all_health.clone()));
        let shutdown = shutdown.clone();
        let listen = t.listen.clone();
        tasks.push(tokio::spawn(async move {
            serve(router, &listen, port, shutdown).await
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(())
}

fn relay_health(
    relays: &std::collections::HashMap<Service, mspack_outbox::Relay>,
    service: Service,
) -> Health {
    relays
        .get(&service)
        .map_or_else(|| Health::new("relay"), mspack_outbox::Relay::health)
}

/// Runs `play` for the roles until SIGINT/SIGTERM, with telemetry set up for `name`.
/// Set by `services` and `chaos` on the processes they start: the supervisor's pid. A process
/// whose parent is no longer that pid (the supervisor died, even by SIGKILL) shuts down instead
/// of living on as an orphan holding ports and database connections.
pub const SUPERVISOR_PID: &str = "FOOD_DELIVERY_SUPERVISOR_PID";

/// Resolves when the supervisor named by [`SUPERVISOR_PID`] is gone; never without one.
async fn supervisor_gone() {
    let Some(pid) = std::env::var(SUPERVISOR_PID)
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
    else {
        return std::future::pending().await;
    };
    while std::os::unix::process::parent_id() == pid {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

pub fn run_process(name: &str, t: Topology, roles: Vec<Role>) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let telemetry =
            mspack_telemetry::init(&format!("food-delivery-{name}"), env!("CARGO_PKG_VERSION"))
                .ok();
        let (stop, shutdown) = Shutdown::new();
        tokio::spawn(async move {
            tokio::select! {
                () = mspack_outbox::process::shutdown_signal() => {}
                () = supervisor_gone() => eprintln!("food-delivery: the supervisor is gone; stopping"),
            }
            let _ = stop.send(true);
        });
        let result = play(t, roles, shutdown).await;
        if let Some(telemetry) = telemetry {
            let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
        }
        result
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_ports_follow_the_provider_port_even_near_the_top_of_the_range() {
        let mut t = Topology::local(std::path::PathBuf::from("data"));
        t.base_port = 60_980;
        t.provider_port = 60_984;
        let ports: Vec<u16> = Role::all().iter().map(|r| r.port(&t)).collect();
        assert_eq!(
            ports,
            [
                60_984, 60_980, 60_981, 60_982, 60_983, 60_985, 60_986, 60_987, 60_988, 60_989
            ]
        );
    }

    #[test]
    fn role_lists_name_known_roles_and_at_most_one_api() {
        let names = |list: &str| {
            Role::parse_list(list).map(|roles| roles.iter().map(|r| r.name()).collect::<Vec<_>>())
        };
        assert_eq!(
            names("orders, orchestrator,relay-orders"),
            Some(vec![
                "orders".to_owned(),
                "orchestrator".to_owned(),
                "relay-orders".to_owned()
            ])
        );
        assert_eq!(names("provider"), Some(vec!["provider".to_owned()]));
        // Unknown, empty, hostile or two APIs in one process: refused (the CLI exits 2).
        for bad in [
            "",
            ",",
            "orders,",
            "billing",
            "relay-billing",
            "orders,payments",
            "orders,provider",
            "orders\u{0}",
            "ORDERS",
            "relay-",
            &"orders,".repeat(10_000),
        ] {
            assert_eq!(names(bad), None, "{bad:?}");
        }
    }
}
