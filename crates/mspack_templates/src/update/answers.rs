//! Reading `.mspack/answers.toml` back into the inputs of `mspack new`. Tolerant of what it
//! doesn't know (fields a newer or older mspack writes): it reads the inputs it knows, defaults
//! the optional ones as `mspack new` does, and refuses a missing `name` or an `mspack_version`
//! that is not a version.

use crate::TemplateError;
use crate::scaffold::{Messaging, ServiceSpec, Store};
use mspack_lint::Multicluster;

/// Where `mspack new` records its inputs, relative to the service directory.
pub const ANSWERS_PATH: &str = ".mspack/answers.toml";

/// The recorded inputs and the version of mspack that recorded them.
#[derive(Clone, Debug)]
pub struct Answers {
    pub spec: ServiceSpec,
    pub mspack_version: Version,
}

/// A release version `major.minor.patch`, with an optional `-pre` and `+build` (semver).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version {
    pub text: String,
    core: (u64, u64, u64),
    pre: bool,
}

impl Version {
    /// `None` unless `text` is a semver version (`0.1.0`, `1.2.3-rc.1`, `1.0.0+abc`).
    pub fn parse(text: &str) -> Option<Version> {
        let (rest, build) = match text.split_once('+') {
            Some((rest, build)) => (rest, Some(build)),
            None => (text, None),
        };
        let (core, pre) = match rest.split_once('-') {
            Some((core, pre)) => (core, Some(pre)),
            None => (rest, None),
        };
        let ident = |s: &str| {
            !s.is_empty()
                && s.split('.').all(|p| {
                    !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                })
        };
        if !pre.is_none_or(ident) || !build.is_none_or(ident) {
            return None;
        }
        let number = |p: &str| {
            (!p.is_empty()
                && p.chars().all(|c| c.is_ascii_digit())
                && (p == "0" || !p.starts_with('0')))
            .then(|| p.parse::<u64>().ok())
            .flatten()
        };
        let mut parts = core.split('.');
        let triple = (
            number(parts.next()?)?,
            number(parts.next()?)?,
            number(parts.next()?)?,
        );
        if parts.next().is_some() {
            return None;
        }
        Some(Version {
            text: text.to_owned(),
            core: triple,
            pre: pre.is_some(),
        })
    }

    /// Whether this version is newer than `other` (a pre-release is older than its release;
    /// two pre-releases of one version compare equal here).
    pub fn is_newer_than(&self, other: &Version) -> bool {
        (self.core, !self.pre) > (other.core, !other.pre)
    }
}

fn bad(message: impl Into<String>) -> TemplateError {
    TemplateError::Recorded {
        path: ANSWERS_PATH.to_owned(),
        message: message.into(),
    }
}

/// The service spec recorded in `text` (the contents of `.mspack/answers.toml`).
pub fn spec_from_answers(text: &str) -> Result<Answers, TemplateError> {
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| bad(format!("not valid TOML: {}", e.message())))?;
    let version_text = match table.get("mspack_version") {
        Some(toml::Value::String(v)) => v.as_str(),
        Some(other) => {
            return Err(bad(format!(
                "`mspack_version` is {other}, not a version string"
            )));
        }
        None => return Err(bad("no `mspack_version`: not written by `mspack new`")),
    };
    let mspack_version = Version::parse(version_text).ok_or_else(|| {
        bad(format!(
            "`mspack_version` {version_text:?} is not a version (major.minor.patch)"
        ))
    })?;
    let empty = toml::Table::new();
    let inputs = match table.get("inputs") {
        Some(toml::Value::Table(t)) => t,
        Some(_) => return Err(bad("`inputs` is not a table")),
        None => &empty,
    };
    let string = |key: &str| -> Result<Option<&str>, TemplateError> {
        match inputs.get(key) {
            None => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(bad(format!("`inputs.{key}` is {other}, not a string"))),
        }
    };
    // A mode name since the mode became explicit; before, `true` meant the label, which is
    // what ambient multicluster reads.
    let multicluster = match inputs.get("multicluster") {
        None | Some(toml::Value::Boolean(false)) => Multicluster::Off,
        Some(toml::Value::Boolean(true)) => Multicluster::Ambient,
        Some(toml::Value::String(mode)) => {
            Multicluster::parse(mode).map_err(|e| bad(format!("`inputs.multicluster`: {e}")))?
        }
        Some(other) => {
            return Err(bad(format!(
                "`inputs.multicluster` is {other}, not off, ambient or sidecar"
            )));
        }
    };
    let name =
        string("name")?.ok_or_else(|| bad("no `inputs.name`: the service's name is needed"))?;
    let namespace = string("namespace")?;
    let port = match inputs.get("port") {
        None => 8080,
        Some(toml::Value::Integer(p)) => u16::try_from(*p)
            .map_err(|_| bad(format!("`inputs.port` {p} is not a port (1-65535)")))?,
        Some(other) => return Err(bad(format!("`inputs.port` is {other}, not a number"))),
    };
    let messaging = match string("messaging")? {
        None | Some("none") => Messaging::None,
        Some("nats") => Messaging::Nats,
        Some(other) => {
            return Err(bad(format!(
                "`inputs.messaging` {other:?} is not none or nats"
            )));
        }
    };
    let invalid = |e: TemplateError| bad(format!("the recorded inputs are not valid: {e}"));
    let mut spec =
        ServiceSpec::new(name, namespace, port, multicluster, messaging).map_err(invalid)?;
    // Recorded since `--store`; before it, nats meant the (then) only variant, now SQLite.
    match string("store")? {
        None | Some("none") => {}
        Some("sqlite") => spec = spec.with_store(Store::Sqlite).map_err(invalid)?,
        Some("postgres") => spec = spec.with_store(Store::Postgres).map_err(invalid)?,
        Some(other) => {
            return Err(bad(format!(
                "`inputs.store` {other:?} is not none, sqlite or postgres"
            )));
        }
    }
    Ok(Answers {
        spec,
        mspack_version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_semver() {
        for ok in [
            "0.1.0",
            "1.22.333",
            "1.0.0-rc.1",
            "1.0.0+build.5",
            "2.0.0-alpha-1+x",
        ] {
            assert!(Version::parse(ok).is_some(), "{ok}");
        }
        for bad in [
            "",
            "1",
            "1.2",
            "1.2.3.4",
            "v1.2.3",
            "01.2.3",
            "1.2.x",
            "1.2.3-",
            "1.2.3-a..b",
        ] {
            assert!(Version::parse(bad).is_none(), "{bad}");
        }
        let v = |t| Version::parse(t).unwrap_or_else(|| panic!("{t}"));
        assert!(v("0.2.0").is_newer_than(&v("0.1.9")));
        assert!(v("1.0.0").is_newer_than(&v("1.0.0-rc.1")));
        assert!(!v("0.1.0").is_newer_than(&v("0.1.0")));
    }

    #[test]
    fn known_inputs_are_read_and_unknown_ones_ignored() {
        let answers = spec_from_answers(
            "mspack_version = \"0.0.9\"\nfuture = 1\n[inputs]\nname = \"orders\"\n\
             port = 9000\nmessaging = \"nats\"\nstore = \"sqlite\"\n[values.x]\ny = \"z\"\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(answers.spec.name, "orders");
        assert_eq!(answers.spec.namespace, "orders");
        assert_eq!(answers.spec.port, 9000);
        assert_eq!(answers.spec.messaging, Messaging::Nats);
        assert_eq!(answers.spec.multicluster, Multicluster::Off);
        assert_eq!(answers.mspack_version.text, "0.0.9");
    }

    #[test]
    fn unusable_answers_say_why() {
        for (text, needle) in [
            (
                "mspack_version = \"0.1.0\"\n[inputs]\nport = 1\n",
                "inputs.name",
            ),
            ("[inputs]\nname = \"orders\"\n", "mspack_version"),
            (
                "mspack_version = \"latest\"\n[inputs]\nname = \"orders\"\n",
                "not a version",
            ),
            (
                "mspack_version = 1\n[inputs]\nname = \"orders\"\n",
                "version string",
            ),
            (
                "mspack_version = \"0.1.0\"\n[inputs]\nname = \"Orders\"\n",
                "`name`",
            ),
            (
                "mspack_version = \"0.1.0\"\n[inputs]\nname = \"o\"\nport = 70000\n",
                "port",
            ),
            (
                "mspack_version = \"0.1.0\"\n[inputs]\nname = \"o\"\nmessaging = \"kafka\"\n",
                "kafka",
            ),
            (
                "mspack_version = \"0.1.0\"\n[inputs]\nname = \"o\"\nstore = \"mysql\"\n",
                "mysql",
            ),
            (
                "mspack_version = \"0.1.0\"\n[inputs]\nname = \"o\"\nstore = \"sqlite\"\n",
                "store",
            ),
            ("mspack_version = \"0.1.0\n", "not valid TOML"),
        ] {
            let err = spec_from_answers(text)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_else(|| panic!("accepted {text:?}"));
            assert!(
                err.contains(needle) && err.contains(ANSWERS_PATH),
                "{text:?}: {err}"
            );
        }
    }

    #[test]
    fn what_new_records_reads_back() {
        let spec = ServiceSpec::new(
            "pay-api",
            Some("shop"),
            9001,
            Multicluster::Ambient,
            Messaging::Nats,
        )
        .and_then(|s| s.with_store(Store::Postgres))
        .unwrap_or_else(|e| panic!("{e}"));
        let files = crate::scaffold::plan(&spec).unwrap_or_else(|e| panic!("{e}"));
        let text = &files.files[std::path::Path::new(ANSWERS_PATH)];
        let back = spec_from_answers(text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (
                back.spec.name.as_str(),
                back.spec.namespace.as_str(),
                back.spec.port
            ),
            ("pay-api", "shop", 9001)
        );
        assert!(
            back.spec.multicluster == Multicluster::Ambient
                && back.spec.messaging == Messaging::Nats
        );
        assert_eq!(back.spec.store, Store::Postgres);
        assert_eq!(back.mspack_version.text, crate::MSPACK_VERSION);
    }
}
