//! Addresses written in env values and args: `scheme://user@host:port/path`, `host:port`, and
//! what kind of dependency each names (a database, a broker, a call).

use super::EdgeKind;

/// A host named in a value, with the scheme and port it was written with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Address<'a> {
    pub scheme: Option<&'a str>,
    pub host: &'a str,
    pub port: Option<&'a str>,
}

/// URL schemes of databases and caches: a data dependency.
const DATA_SCHEMES: &[&str] = &[
    "cassandra",
    "mariadb",
    "memcached",
    "mongodb",
    "mongodb+srv",
    "mysql",
    "postgres",
    "postgresql",
    "redis",
    "rediss",
    "sqlserver",
];

/// URL schemes of message brokers: an asynchronous dependency.
const BROKER_SCHEMES: &[&str] = &[
    "amqp", "amqps", "kafka", "mqtt", "mqtts", "nats", "pulsar", "stomp",
];

/// Words in an env var's name that say the address is a database or a broker, for values
/// written as `host:port` without a scheme (`REDIS_ADDR: redis-cart:6379`).
const DATA_NAMES: &[&str] = &[
    "DATABASE", "DB", "MEMCACHE", "MONGO", "MYSQL", "PG", "POSTGRES", "REDIS", "SQL",
];
const BROKER_NAMES: &[&str] = &[
    "AMQP", "BROKER", "KAFKA", "MQTT", "NATS", "PULSAR", "RABBIT",
];

/// Words of an env var's name saying it holds where something is (not a credential or an
/// option): `DATABASE_URL`, `REDIS_HOST`, `PG_DSN`.
const LOCATION_NAMES: &[&str] = &[
    "ADDR",
    "ADDRESS",
    "CONN",
    "CONNECTION",
    "DSN",
    "ENDPOINT",
    "HOST",
    "SERVER",
    "SERVICE",
    "URI",
    "URL",
];

/// Whether an env var's name says it holds an address ([`LOCATION_NAMES`]).
pub fn names_a_location(var: &str) -> bool {
    var.to_ascii_uppercase()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .any(|w| LOCATION_NAMES.contains(&w))
}

/// Env vars that point a workload at its telemetry backend: an export, not a call between
/// services, so they make no edge.
pub fn is_telemetry_var(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    upper.starts_with("OTEL_")
        || ["OTLP", "JAEGER", "ZIPKIN", "COLLECTOR"]
            .iter()
            .any(|w| upper.contains(w))
}

/// The edge kind an address makes: by its scheme, else by the env var's name, else a call.
pub fn kind_of(address: &Address, var: Option<&str>) -> EdgeKind {
    if let Some(scheme) = address.scheme {
        let scheme = scheme.to_ascii_lowercase();
        if DATA_SCHEMES.contains(&scheme.as_str()) {
            return EdgeKind::Data;
        }
        if BROKER_SCHEMES.contains(&scheme.as_str()) {
            return EdgeKind::Async;
        }
        if scheme.starts_with("http") || scheme.starts_with("grpc") || scheme == "ws" {
            return EdgeKind::Sync;
        }
    }
    let upper = var.unwrap_or("").to_ascii_uppercase();
    let words: Vec<&str> = upper.split(|c: char| !c.is_ascii_alphanumeric()).collect();
    if words.iter().any(|w| DATA_NAMES.contains(w)) {
        EdgeKind::Data
    } else if words.iter().any(|w| BROKER_NAMES.contains(w)) {
        EdgeKind::Async
    } else {
        EdgeKind::Sync
    }
}

/// Every address in a value: the value split at whitespace, commas, semicolons and quotes,
/// each piece read by [`parse`].
pub fn addresses(value: &str) -> impl Iterator<Item = Address<'_>> {
    value
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '"' | '\'' | '='))
        .filter_map(parse)
}

/// Read one piece as an address: `scheme://[user@]host[:port][/...]` (also `jdbc:` URLs), or
/// `host:port` with a numeric port. Shell or template variables, IP addresses and `localhost`
/// are no address of another service.
pub fn parse(token: &str) -> Option<Address<'_>> {
    let token = token.strip_prefix("jdbc:").unwrap_or(token);
    let (scheme, rest) = match token.split_once("://") {
        Some((scheme, rest)) => {
            let valid = !scheme.is_empty()
                && scheme
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-' || b == b'.');
            if !valid {
                return None;
            }
            (Some(scheme), rest)
        }
        None => (None, token),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let (host, port) = match authority.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (authority, None),
    };
    if let Some(p) = port
        && (p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    // Without a scheme, only `host:port` is an address (`orders` alone is a name, not a call).
    if scheme.is_none() && (port.is_none() || rest.contains('@') || rest.len() != authority.len()) {
        return None;
    }
    let host = host.trim_end_matches('.');
    let dns = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && host.bytes().any(|b| b.is_ascii_lowercase())
        && !host.starts_with(['-', '.'])
        && host != "localhost"
        && !host.ends_with(".localhost");
    dns.then_some(Address { scheme, host, port })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(token: &str) -> Option<&str> {
        parse(token).map(|a| a.host)
    }

    #[test]
    fn urls_and_host_ports_are_addresses() {
        assert_eq!(
            host("productcatalogservice:3550"),
            Some("productcatalogservice")
        );
        assert_eq!(
            host("http://orders.food.svc.cluster.local:8080/v1"),
            Some("orders.food.svc.cluster.local")
        );
        assert_eq!(
            host("postgres://app:secret@db.data:5432/orders"),
            Some("db.data")
        );
        assert_eq!(host("jdbc:mysql://mysql:3306/x"), Some("mysql"));
        assert_eq!(host("orders"), None);
        assert_eq!(host("0.0.0.0:8080"), None);
        assert_eq!(host("localhost:8080"), None);
        assert_eq!(host("${HOST}:80"), None);
        assert_eq!(host("http/protobuf"), None);
        assert_eq!(host("service.version=v1"), None);
        assert_eq!(host("a:b"), None);
    }

    #[test]
    fn kinds_follow_scheme_then_name() {
        let k = |t: &str, var: &str| parse(t).map(|a| kind_of(&a, Some(var)));
        assert_eq!(k("redis-cart:6379", "REDIS_ADDR"), Some(EdgeKind::Data));
        assert_eq!(k("nats://nats:4222", "X"), Some(EdgeKind::Async));
        assert_eq!(k("cart:7070", "CART_SERVICE_ADDR"), Some(EdgeKind::Sync));
        assert_eq!(k("http://db-api:80", "DB_API"), Some(EdgeKind::Sync));
        assert!(is_telemetry_var("OTEL_EXPORTER_OTLP_ENDPOINT"));
        assert!(names_a_location("DATABASE_URL") && names_a_location("redis_host"));
        assert!(!names_a_location("MYSQL_ROOT_PASSWORD"));
        assert_eq!(addresses("a:1, b:2").count(), 2);
    }
}
