//! Where everything is: subjects and stream, table prefixes and databases, ports and URLs. One
//! value, built from the command line, shared by every role so that processes started apart
//! agree on names.

use std::path::PathBuf;
use std::time::Duration;

use mspack_eventstore::{Database, StoreError, TablePrefix};
use mspack_outbox::StreamSpec;

/// The four services and the payment provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    /// Orders: the order aggregate, its HTTP API, the PlaceOrder saga's home.
    Orders,
    /// Payments: charges and refunds through the provider.
    Payments,
    /// Kitchen: tickets (reserve, release, prepare).
    Kitchen,
    /// Delivery: couriers (assign, unassign, deliver).
    Delivery,
}

impl Service {
    /// Every service.
    pub const ALL: [Service; 4] = [
        Service::Orders,
        Service::Payments,
        Service::Kitchen,
        Service::Delivery,
    ];

    /// `orders`, `payments`, `kitchen` or `delivery`.
    pub fn name(self) -> &'static str {
        match self {
            Service::Orders => "orders",
            Service::Payments => "payments",
            Service::Kitchen => "kitchen",
            Service::Delivery => "delivery",
        }
    }

    /// Parses a service name.
    pub fn parse(name: &str) -> Option<Service> {
        Service::ALL.into_iter().find(|s| s.name() == name)
    }

    pub fn port_offset(self) -> u16 {
        match self {
            Service::Orders => 0,
            Service::Payments => 1,
            Service::Kitchen => 2,
            Service::Delivery => 3,
        }
    }
}

/// Names, addresses and storage of one deployment of the system.
#[derive(Debug, Clone)]
pub struct Topology {
    /// Subject root: every subject starts with it (`fd`).
    pub root: String,
    /// The JetStream stream capturing `<root>.>`.
    pub stream: String,
    /// Table prefix root (`fd_`): a service's tables are `<prefix root><service>_...`.
    pub prefix_root: String,
    /// PostgreSQL URL, or `None` for SQLite files in `data_dir`.
    pub database_url: Option<String>,
    /// Where the SQLite files (and the provider's ledger) live.
    pub data_dir: PathBuf,
    /// NATS URL (several comma-separated for a cluster).
    pub nats_url: String,
    /// The orders service listens on this port; payments, kitchen and delivery on the next ones.
    pub base_port: u16,
    /// The payment provider's port.
    pub provider_port: u16,
    /// Replicas of the stream (3 in a 3-node cluster).
    pub replicas: usize,
    /// How long a saga step waits for its reply before retrying.
    pub step_timeout: Duration,
    /// The address the HTTP servers bind (`127.0.0.1`; `0.0.0.0` in a container).
    pub listen: String,
    /// The port of the one service a process plays (`serve orders --port 8080` in a pod),
    /// instead of `base_port` plus its offset.
    pub port_override: Option<u16>,
    /// Where the payment provider is, if not on `provider_port` of this host.
    pub provider_url_override: Option<String>,
}

impl Topology {
    /// The defaults of `food-delivery run`.
    pub fn local(data_dir: PathBuf) -> Self {
        Topology {
            root: "fd".to_owned(),
            stream: "FD".to_owned(),
            prefix_root: "fd_".to_owned(),
            database_url: None,
            data_dir,
            nats_url: mspack_outbox::nats_url_from_env(),
            base_port: 8080,
            provider_port: 8090,
            replicas: 1,
            step_timeout: Duration::from_secs(2),
            listen: "127.0.0.1".to_owned(),
            port_override: None,
            provider_url_override: None,
        }
    }

    /// `<root>.<service>.<kind>.<name>`, e.g. `fd.kitchen.cmd.reserve`.
    pub fn subject(&self, service: Service, kind: &str, name: &str) -> String {
        format!("{}.{}.{kind}.{name}", self.root, service.name())
    }

    /// The subject prefix a service's store publishes its events under.
    pub fn events(&self, service: Service) -> String {
        format!("{}.{}.events", self.root, service.name())
    }

    /// Saga replies.
    pub fn replies(&self) -> String {
        format!("{}.saga.replies", self.root)
    }

    /// Ends of sagas.
    pub fn finished(&self) -> String {
        format!("{}.saga.finished", self.root)
    }

    /// The stream every subject goes to.
    pub fn stream_spec(&self) -> StreamSpec {
        StreamSpec::new(&self.stream, vec![format!("{}.>", self.root)]).replicas(self.replicas)
    }

    /// A service's table prefix.
    pub fn prefix(&self, service: Service) -> Result<TablePrefix, StoreError> {
        TablePrefix::new(format!("{}{}_", self.prefix_root, service.name()))
    }

    /// The provider's table prefix.
    pub fn provider_prefix(&self) -> Result<TablePrefix, StoreError> {
        TablePrefix::new(format!("{}provider_", self.prefix_root))
    }

    /// A service's HTTP port.
    pub fn port(&self, service: Service) -> u16 {
        self.port_override
            .unwrap_or(self.base_port.saturating_add(service.port_offset()))
    }

    /// A service's base URL.
    pub fn url(&self, service: Service) -> String {
        format!("http://127.0.0.1:{}", self.port(service))
    }

    /// The provider's base URL.
    pub fn provider_url(&self) -> String {
        match &self.provider_url_override {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://127.0.0.1:{}", self.provider_port),
        }
    }

    /// Opens the database `name` (a service's, or `provider`'s), tagging PostgreSQL connections
    /// with `application_name = fd-<name>-<role>` so a chaos run can terminate one process's
    /// backends.
    pub async fn database(&self, name: &str, role: &str) -> Result<Database, StoreError> {
        match &self.database_url {
            Some(url) => {
                let options = url
                    .parse::<sqlx::postgres::PgConnectOptions>()
                    .map_err(StoreError::database("parsing DATABASE_URL"))?
                    .application_name(&format!("fd-{name}-{role}"));
                let pool = sqlx::postgres::PgPoolOptions::new()
                    .max_connections(8)
                    .acquire_timeout(Duration::from_secs(5))
                    .connect_with(options)
                    .await
                    .map_err(StoreError::database("connecting to postgres"))?;
                Ok(Database::Postgres(pool))
            }
            None => {
                std::fs::create_dir_all(&self.data_dir).map_err(|e| StoreError::Corrupt {
                    what: "data directory",
                    detail: format!("{}: {e}", self.data_dir.display()),
                })?;
                Database::open_sqlite(self.data_dir.join(format!("{name}.db"))).await
            }
        }
    }

    /// The arguments that rebuild this topology in a child process (`food-delivery serve`).
    pub fn to_args(&self) -> Vec<String> {
        let mut args = vec![
            "--root".to_owned(),
            self.root.clone(),
            "--stream".to_owned(),
            self.stream.clone(),
            "--prefix".to_owned(),
            self.prefix_root.clone(),
            "--data".to_owned(),
            self.data_dir.display().to_string(),
            "--nats-url".to_owned(),
            self.nats_url.clone(),
            "--base-port".to_owned(),
            self.base_port.to_string(),
            "--provider-port".to_owned(),
            self.provider_port.to_string(),
            "--replicas".to_owned(),
            self.replicas.to_string(),
            "--step-timeout-ms".to_owned(),
            self.step_timeout.as_millis().to_string(),
        ];
        if let Some(url) = &self.database_url {
            args.push("--database-url".to_owned());
            args.push(url.clone());
        }
        if let Some(url) = &self.provider_url_override {
            args.push("--provider-url".to_owned());
            args.push(url.clone());
        }
        args
    }
}
