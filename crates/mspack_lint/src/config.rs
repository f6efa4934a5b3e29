//! Lint options: mesh settings, rule selection and suppressions, from flags and `.mspack.toml`.
//!
//! `.mspack.toml` (found in the working directory or the nearest parent that has one):
//!
//! ```toml
//! [lint]
//! ignore = ["MSP102"]                      # codes, names or analyzers never reported
//! select = ["IST", "MSP101"]               # only these (default: every rule on by default)
//! extend-select = ["MSP2"]                  # these too, on top of `select` or the default set
//! fail-on = "warning"                      # info | warning | error
//! crds = ["istio/crd-all.gen.yaml"]         # CRDs to validate custom resources against
//! [lint.per-file-ignores]
//! "legacy/**/*.yaml" = ["MSP101"]          # glob (relative to the config file) -> codes
//!
//! [mesh]
//! cluster-domain = "cluster.local"
//! root-namespace = "istio-system"
//! default-namespace = "default"            # namespace of resources that name none (default: unknown)
//! multicluster = "off"                    # off | ambient | sidecar (how the mesh spans clusters)
//! istio-defaults = true                    # assume Istio's default ingress gateway Pod/Service
//! mesh-config = "istio/mesh.yaml"          # Istio MeshConfig, relative to the config file
//! mesh-networks = "istio/networks.yaml"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::finding::Severity;

/// How an Istio mesh spans clusters. The mode decides what makes a Service visible to the other
/// clusters, so it must be said, not guessed: `multicluster = true` is refused with a message
/// that names the two modes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "MulticlusterSetting")]
pub enum Multicluster {
    /// One cluster.
    #[default]
    Off,
    /// Ambient multicluster: a Service is local to its cluster unless it carries the label
    /// `istio.io/global: "true"` (MSP103 checks that routed Services do).
    Ambient,
    /// Sidecar multi-primary or primary-remote: every Service is already mesh-wide (endpoints of
    /// the same namespace/name in all clusters are merged); `meshConfig.serviceSettings` with
    /// `clusterLocal: true` is what keeps one local, and the `istio.io/global` label does nothing.
    Sidecar,
}

impl Multicluster {
    /// The mode from its name (`off`, `ambient`, `sidecar`), or a message naming the choices.
    pub fn parse(text: &str) -> Result<Multicluster, String> {
        match text {
            "off" | "false" => Ok(Multicluster::Off),
            "ambient" => Ok(Multicluster::Ambient),
            "sidecar" => Ok(Multicluster::Sidecar),
            "true" => Err(
                "multicluster must name the mesh's mode: \"ambient\" (a Service is local to its \
                 cluster unless labelled istio.io/global) or \"sidecar\" (every Service is \
                 already mesh-wide)"
                    .to_owned(),
            ),
            other => Err(format!(
                "unknown multicluster mode {other:?}: expected \"off\", \"ambient\" or \"sidecar\""
            )),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Multicluster::Off => "off",
            Multicluster::Ambient => "ambient",
            Multicluster::Sidecar => "sidecar",
        }
    }

    pub fn is_multicluster(self) -> bool {
        self != Multicluster::Off
    }
}

/// What `.mspack.toml` may write for `multicluster`: a mode name, or `false`.
#[derive(Deserialize)]
#[serde(untagged)]
enum MulticlusterSetting {
    Flag(bool),
    Mode(String),
}

impl TryFrom<MulticlusterSetting> for Multicluster {
    type Error = String;

    fn try_from(setting: MulticlusterSetting) -> Result<Multicluster, String> {
        match setting {
            MulticlusterSetting::Flag(flag) => {
                Multicluster::parse(if flag { "true" } else { "off" })
            }
            MulticlusterSetting::Mode(mode) => Multicluster::parse(&mode),
        }
    }
}

/// Everything a lint run needs besides its input files.
#[derive(Clone, Debug)]
pub struct LintOptions {
    pub cluster_domain: String,
    pub root_namespace: String,
    /// Namespace of resources whose YAML gives none. `None` (the default) puts them in one
    /// unknown namespace, not counted among the set's namespaces (a kustomize base gets its
    /// namespace from the kustomization); `istioctl analyze` uses `default`.
    pub default_namespace: Option<String>,
    /// How the mesh spans clusters: what makes a Service reachable from the other clusters.
    pub multicluster: Multicluster,
    /// Assume Istio's default ingress gateway (Pod and Service in the root namespace), as
    /// `istioctl analyze` does when it reads files only.
    pub istio_defaults: bool,
    /// Istio MeshConfig YAML, merged over Istio's defaults.
    pub mesh_config: Option<PathBuf>,
    /// Istio MeshNetworks YAML.
    pub mesh_networks: Option<PathBuf>,
    /// CRD files (YAML CRDs or a JSON schema bundle) to validate custom resources against.
    pub crds: Vec<PathBuf>,
    /// Rule selectors: only these rules run (empty: the default set).
    pub select: Vec<String>,
    /// Rule selectors run in addition to `select` (or the default set), e.g. rules that are off
    /// by default.
    pub extend_select: Vec<String>,
    /// Rule selectors never reported.
    pub ignore: Vec<String>,
    /// (glob, selectors) pairs; globs match the path as given, or relative to `base_dir`.
    pub per_file_ignores: Vec<(String, Vec<String>)>,
    /// Directory that per-file-ignore globs are relative to.
    pub base_dir: Option<PathBuf>,
    /// Namespaces whose resources are left out, as Istio's analysis does.
    pub excluded_namespaces: Vec<String>,
    pub limits: mspack_yaml::Limits,
    /// Today as `YYYY-MM-DD` (UTC), against which suppression comments' `until=` dates are read.
    pub today: String,
    /// OTLP JSON export of spans (`mspack graph --traces`), read by the rules on observed calls
    /// (MSP508, MSP509).
    pub traces: Option<PathBuf>,
}

impl Default for LintOptions {
    fn default() -> LintOptions {
        LintOptions {
            cluster_domain: "cluster.local".into(),
            root_namespace: "istio-system".into(),
            default_namespace: None,
            multicluster: Multicluster::Off,
            istio_defaults: true,
            mesh_config: None,
            mesh_networks: None,
            crds: Vec::new(),
            select: Vec::new(),
            extend_select: Vec::new(),
            ignore: Vec::new(),
            per_file_ignores: Vec::new(),
            base_dir: None,
            excluded_namespaces: [
                "kube-system",
                "kube-public",
                "kube-node-lease",
                "local-path-storage",
            ]
            .map(String::from)
            .to_vec(),
            limits: mspack_yaml::Limits::default(),
            traces: None,
            today: today_utc(),
        }
    }
}

/// Today's date in UTC as `YYYY-MM-DD` (the proleptic Gregorian calendar, from the system clock).
pub fn today_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (y, m, d) = civil_from_days(i64::try_from(secs / 86_400).unwrap_or(0));
    format!("{y:04}-{m:02}-{d:02}")
}

/// Howard Hinnant's `civil_from_days`: the date `days` after 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// The contents of `.mspack.toml`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default)]
    pub lint: LintSection,
    #[serde(default)]
    pub mesh: MeshSection,
    /// Where the file was read from (set by [`ConfigFile::load`]).
    #[serde(skip)]
    pub path: Option<PathBuf>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LintSection {
    #[serde(default)]
    pub ignore: Vec<String>,
    #[serde(default)]
    pub select: Vec<String>,
    #[serde(default)]
    pub extend_select: Vec<String>,
    pub fail_on: Option<String>,
    #[serde(default)]
    pub crds: Vec<PathBuf>,
    #[serde(default)]
    pub per_file_ignores: BTreeMap<String, Vec<String>>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct MeshSection {
    pub cluster_domain: Option<String>,
    pub root_namespace: Option<String>,
    pub default_namespace: Option<String>,
    pub multicluster: Option<Multicluster>,
    pub istio_defaults: Option<bool>,
    pub mesh_config: Option<PathBuf>,
    pub mesh_networks: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

impl ConfigFile {
    pub const FILE_NAME: &'static str = ".mspack.toml";

    /// Find `.mspack.toml` in `start` or its nearest ancestor.
    pub fn discover(start: &Path) -> Option<PathBuf> {
        start
            .ancestors()
            .map(|dir| dir.join(Self::FILE_NAME))
            .find(|p| p.is_file())
    }

    pub fn load(path: &Path) -> Result<ConfigFile, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let mut config = Self::parse(&text).map_err(|message| ConfigError::Invalid {
            path: path.display().to_string(),
            message,
        })?;
        config.path = Some(path.to_path_buf());
        Ok(config)
    }

    pub fn parse(text: &str) -> Result<ConfigFile, String> {
        let config: ConfigFile = toml::from_str(text).map_err(|e| {
            let msg = e.message().to_string();
            match e.span() {
                Some(span) => {
                    let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
                    format!("line {line}: {msg}")
                }
                None => msg,
            }
        })?;
        if let Some(fail_on) = &config.lint.fail_on
            && Severity::parse(fail_on).is_none()
        {
            return Err(format!(
                "[lint] fail-on must be info, warning or error, not {fail_on:?}"
            ));
        }
        Ok(config)
    }

    /// Apply this file over `options` (flags are applied after, so they win).
    pub fn apply(&self, options: &mut LintOptions) {
        let base = self
            .path
            .as_deref()
            .and_then(Path::parent)
            .map(Path::to_path_buf);
        let relative = |p: &PathBuf| match &base {
            Some(b) if p.is_relative() => b.join(p),
            _ => p.clone(),
        };
        options.ignore.extend(self.lint.ignore.iter().cloned());
        options.select.extend(self.lint.select.iter().cloned());
        options
            .extend_select
            .extend(self.lint.extend_select.iter().cloned());
        options.crds.extend(self.lint.crds.iter().map(relative));
        options.per_file_ignores.extend(
            self.lint
                .per_file_ignores
                .iter()
                .map(|(glob, codes)| (glob.clone(), codes.clone())),
        );
        if let Some(v) = &self.mesh.cluster_domain {
            options.cluster_domain = v.clone();
        }
        if let Some(v) = &self.mesh.root_namespace {
            options.root_namespace = v.clone();
        }
        if let Some(v) = &self.mesh.default_namespace {
            options.default_namespace = Some(v.clone());
        }
        if let Some(v) = self.mesh.multicluster {
            options.multicluster = v;
        }
        if let Some(v) = self.mesh.istio_defaults {
            options.istio_defaults = v;
        }
        if let Some(v) = &self.mesh.mesh_config {
            options.mesh_config = Some(relative(v));
        }
        if let Some(v) = &self.mesh.mesh_networks {
            options.mesh_networks = Some(relative(v));
        }
        options.base_dir = base;
    }

    pub fn fail_on(&self) -> Option<Severity> {
        self.lint.fail_on.as_deref().and_then(Severity::parse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_file_sections_are_applied() {
        let config = ConfigFile::parse(
            "[lint]\nignore = [\"MSP102\"]\n[lint.per-file-ignores]\n\"a/*.yaml\" = [\"MSP101\"]\n\
             [mesh]\ncluster-domain = \"corp.local\"\nmulticluster = \"ambient\"\n",
        );
        let mut options = LintOptions::default();
        config.as_ref().map(|c| c.apply(&mut options)).ok();
        assert_eq!(options.ignore, vec!["MSP102"]);
        assert_eq!(options.cluster_domain, "corp.local");
        assert_eq!(options.multicluster, Multicluster::Ambient);
        assert_eq!(options.per_file_ignores.len(), 1);
    }

    /// Issue 15: `istio.io/global` means something in ambient multicluster only, so the mode
    /// must be named; `true` is refused with the two choices, `false` still means off.
    #[test]
    fn the_multicluster_mode_is_named_not_guessed() {
        let mode = |toml: &str| {
            ConfigFile::parse(&format!("[mesh]\nmulticluster = {toml}\n")).map(|c| {
                let mut options = LintOptions::default();
                c.apply(&mut options);
                options.multicluster
            })
        };
        assert_eq!(mode("\"sidecar\"").ok(), Some(Multicluster::Sidecar));
        assert_eq!(mode("\"ambient\"").ok(), Some(Multicluster::Ambient));
        assert_eq!(mode("false").ok(), Some(Multicluster::Off));
        let err = mode("true").err().unwrap_or_default();
        assert!(err.contains("ambient") && err.contains("sidecar"), "{err}");
        assert!(mode("\"multi\"").is_err());
    }

    #[test]
    fn dates_from_days_since_the_epoch() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(20_788), (2026, 12, 1));
        assert_eq!(today_utc().len(), 10);
    }

    #[test]
    fn unknown_keys_are_errors_with_a_line() {
        let err = ConfigFile::parse("[mesh]\nclusterdomain = \"x\"\n").err();
        assert!(err.is_some_and(|e| e.contains("line 2") && e.contains("clusterdomain")));
        let err = ConfigFile::parse("[lint]\nfail-on = \"loud\"\n").err();
        assert!(err.is_some_and(|e| e.contains("fail-on")));
    }
}
