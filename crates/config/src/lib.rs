//! Service configuration.
//!
//! Every service binary flattens [`CommonArgs`] into its clap parser. A value comes from, in
//! order of precedence: the command-line flag, the `HYPASIS_*` environment variable, the TOML file
//! given by `--config`, the built-in default. Service-specific settings use the same scheme
//! through [`ConfigFile::get`].
//!
//! Example file:
//! ```toml
//! listen = "0.0.0.0:7001"
//! metrics_listen = "0.0.0.0:9101"
//! tls_dir = "/etc/hypasis/tls"
//! log_format = "json"
//! data_dir = "/var/lib/hypasis"   # service-specific (hypasis-store)
//! ```

use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Configuration errors: the operator must fix the flags, variables or file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("config file {path}: {source}")]
    Read {
        /// File.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The config file is not valid TOML.
    #[error("config file {path}: {message}")]
    Parse {
        /// File.
        path: PathBuf,
        /// Parser message with line and column.
        message: String,
    },
    /// A key has a value of the wrong type or format.
    #[error("config file {path}: key `{key}`: {message}")]
    BadValue {
        /// File.
        path: PathBuf,
        /// Key.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A key the service does not know (likely a typo).
    #[error("config file {path}: unknown key `{key}` (known keys: {known})")]
    UnknownKey {
        /// File.
        path: PathBuf,
        /// Unknown key.
        key: String,
        /// Keys this service accepts.
        known: String,
    },
    /// Neither mTLS nor plaintext was chosen.
    #[error(
        "no TLS configured: pass --tls-dir DIR (mTLS, the default) or --insecure (plaintext, for local tests only)"
    )]
    NoTls,
    /// Both `--tls-dir` and `--insecure` were given.
    #[error("--tls-dir and --insecure are mutually exclusive")]
    TlsAndInsecure,
}

impl hypasis_primitives::Fault for ConfigError {
    /// A config file that cannot be read or is wrong, or a wrong TLS choice: the operator must
    /// fix it (fatal).
    fn fault(&self) -> hypasis_primitives::FaultClass {
        match self {
            Self::Read { .. }
            | Self::Parse { .. }
            | Self::BadValue { .. }
            | Self::UnknownKey { .. }
            | Self::NoTls
            | Self::TlsAndInsecure => hypasis_primitives::FaultClass::Fatal,
        }
    }
}

/// Log format flag value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// JSON lines.
    Json,
}

/// Flags every service takes.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct CommonArgs {
    /// gRPC listen address.
    #[arg(long, env = "HYPASIS_LISTEN", value_name = "HOST:PORT")]
    pub listen: Option<SocketAddr>,
    /// Prometheus `/metrics` listen address.
    #[arg(long, env = "HYPASIS_METRICS_LISTEN", value_name = "HOST:PORT")]
    pub metrics_listen: Option<SocketAddr>,
    /// Directory with `ca.pem` and this service's `<name>.pem`/`<name>.key` (mTLS).
    #[arg(long, env = "HYPASIS_TLS_DIR", value_name = "DIR")]
    pub tls_dir: Option<PathBuf>,
    /// Serve and dial plaintext gRPC (no TLS). For local experiments only; logs a warning.
    #[arg(long, env = "HYPASIS_INSECURE")]
    pub insecure: bool,
    /// TOML config file; flags and environment variables override its values.
    #[arg(long, env = "HYPASIS_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Log format.
    #[arg(long, env = "HYPASIS_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
}

/// How a service secures its gRPC endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsMode {
    /// mTLS with the files in this directory.
    Mutual(PathBuf),
    /// Plaintext (explicitly requested).
    Insecure,
}

/// The common settings after merging flags, environment and file.
#[derive(Debug, Clone)]
pub struct CommonConfig {
    /// gRPC listen address.
    pub listen: SocketAddr,
    /// Metrics listen address.
    pub metrics_listen: SocketAddr,
    /// TLS mode.
    pub tls: TlsMode,
    /// Log format.
    pub log_format: LogFormat,
}

/// A parsed TOML config file, checked against the keys a service knows.
#[derive(Debug, Clone, Default)]
pub struct ConfigFile {
    path: PathBuf,
    table: BTreeMap<String, toml::Value>,
}

/// Keys of [`CommonArgs`] that may appear in a file.
pub const COMMON_KEYS: [&str; 5] = [
    "listen",
    "metrics_listen",
    "tls_dir",
    "insecure",
    "log_format",
];

impl ConfigFile {
    /// Reads `path`, refusing keys outside [`COMMON_KEYS`] and `service_keys`.
    pub fn load(path: &Path, service_keys: &[&str]) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.into(),
            source,
        })?;
        Self::parse(path, &text, service_keys)
    }

    /// Parses TOML text (named `path` in errors).
    pub fn parse(path: &Path, text: &str, service_keys: &[&str]) -> Result<Self, ConfigError> {
        let table: BTreeMap<String, toml::Value> =
            toml::from_str(text).map_err(|e| ConfigError::Parse {
                path: path.into(),
                message: e.to_string(),
            })?;
        for key in table.keys() {
            if !COMMON_KEYS.contains(&key.as_str()) && !service_keys.contains(&key.as_str()) {
                let mut known: Vec<&str> = COMMON_KEYS.to_vec();
                known.extend_from_slice(service_keys);
                return Err(ConfigError::UnknownKey {
                    path: path.into(),
                    key: key.clone(),
                    known: known.join(", "),
                });
            }
        }
        Ok(Self {
            path: path.into(),
            table,
        })
    }

    /// The value of `key`, deserialized, if present.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, ConfigError> {
        match self.table.get(key) {
            None => Ok(None),
            Some(v) => v
                .clone()
                .try_into()
                .map(Some)
                .map_err(|e: toml::de::Error| ConfigError::BadValue {
                    path: self.path.clone(),
                    key: key.into(),
                    message: e.to_string(),
                }),
        }
    }

    /// `key` parsed with `FromStr` from a string value (addresses, paths).
    pub fn get_parsed<T: std::str::FromStr>(&self, key: &str) -> Result<Option<T>, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        match self.get::<String>(key)? {
            None => Ok(None),
            Some(s) => s
                .parse()
                .map(Some)
                .map_err(|e: T::Err| ConfigError::BadValue {
                    path: self.path.clone(),
                    key: key.into(),
                    message: format!("`{s}`: {e}"),
                }),
        }
    }
}

impl CommonArgs {
    /// Loads the config file (if any) with the service's extra keys.
    pub fn load_file(&self, service_keys: &[&str]) -> Result<ConfigFile, ConfigError> {
        match &self.config {
            Some(path) => ConfigFile::load(path, service_keys),
            None => Ok(ConfigFile::default()),
        }
    }

    /// Merges flags/env over the file over the defaults.
    pub fn resolve(
        &self,
        file: &ConfigFile,
        default_listen: SocketAddr,
        default_metrics: SocketAddr,
    ) -> Result<CommonConfig, ConfigError> {
        let listen = match self.listen {
            Some(a) => a,
            None => file.get_parsed("listen")?.unwrap_or(default_listen),
        };
        let metrics_listen = match self.metrics_listen {
            Some(a) => a,
            None => file
                .get_parsed("metrics_listen")?
                .unwrap_or(default_metrics),
        };
        let tls_dir: Option<PathBuf> = match &self.tls_dir {
            Some(d) => Some(d.clone()),
            None => file.get::<String>("tls_dir")?.map(PathBuf::from),
        };
        let insecure = self.insecure || file.get::<bool>("insecure")?.unwrap_or(false);
        let tls = match (tls_dir, insecure) {
            (Some(_), true) => return Err(ConfigError::TlsAndInsecure),
            (Some(d), false) => TlsMode::Mutual(d),
            (None, true) => TlsMode::Insecure,
            (None, false) => return Err(ConfigError::NoTls),
        };
        let log_format = match self.log_format {
            Some(f) => f,
            None => file.get("log_format")?.unwrap_or_default(),
        };
        Ok(CommonConfig {
            listen,
            metrics_listen,
            tls,
            log_format,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn flags_override_file_override_defaults() {
        let file = ConfigFile::parse(
            Path::new("t.toml"),
            "listen = \"127.0.0.1:1\"\nmetrics_listen = \"127.0.0.1:2\"\ntls_dir = \"/tls\"\ndata_dir = \"/d\"\n",
            &["data_dir"],
        )
        .unwrap();
        let args = CommonArgs {
            listen: Some(addr("127.0.0.1:9")),
            ..Default::default()
        };
        let c = args
            .resolve(&file, addr("0.0.0.0:7"), addr("0.0.0.0:8"))
            .unwrap();
        assert_eq!(c.listen, addr("127.0.0.1:9"));
        assert_eq!(c.metrics_listen, addr("127.0.0.1:2"));
        assert_eq!(c.tls, TlsMode::Mutual("/tls".into()));
        assert_eq!(
            file.get::<String>("data_dir").unwrap().as_deref(),
            Some("/d")
        );
    }

    #[test]
    fn tls_is_required_unless_insecure() {
        let empty = ConfigFile::default();
        let d = addr("0.0.0.0:1");
        assert!(matches!(
            CommonArgs::default().resolve(&empty, d, d),
            Err(ConfigError::NoTls)
        ));
        let insecure = CommonArgs {
            insecure: true,
            ..Default::default()
        };
        assert_eq!(
            insecure.resolve(&empty, d, d).unwrap().tls,
            TlsMode::Insecure
        );
        let both = CommonArgs {
            insecure: true,
            tls_dir: Some("/x".into()),
            ..Default::default()
        };
        assert!(matches!(
            both.resolve(&empty, d, d),
            Err(ConfigError::TlsAndInsecure)
        ));
    }

    #[test]
    fn bad_files_are_clear_errors() {
        let p = Path::new("bad.toml");
        assert!(matches!(
            ConfigFile::parse(p, "listen = ", &[]),
            Err(ConfigError::Parse { .. })
        ));
        let e = ConfigFile::parse(p, "lisen = \"x\"", &[]).unwrap_err();
        assert!(e.to_string().contains("unknown key `lisen`"), "{e}");
        let f = ConfigFile::parse(p, "listen = \"nope\"", &[]).unwrap();
        let e = CommonArgs {
            insecure: true,
            ..Default::default()
        }
        .resolve(&f, addr("0.0.0.0:1"), addr("0.0.0.0:1"))
        .unwrap_err();
        assert!(e.to_string().contains("key `listen`"), "{e}");
        let f = ConfigFile::parse(p, "insecure = \"yes\"", &[]).unwrap();
        assert!(matches!(
            f.get::<bool>("insecure"),
            Err(ConfigError::BadValue { .. })
        ));
    }
}
