//! Service configuration.
//!
//! Every flag of every service binary (and of `hypasis standalone`) is settable, in order of
//! precedence, by the command-line flag, the `HYPASIS_*` environment variable, the TOML file given
//! by `--config FILE` (or `HYPASIS_CONFIG`), and otherwise takes its default. The clap
//! definition is the single source: `--foo-bar` is the file key `foo_bar` and the variable
//! `HYPASIS_FOO_BAR` ([`layered`]). Binaries call [`layered::load`] instead of `Parser::parse`.
//! Unknown file keys and bad values are [`ConfigError`]s naming the key or variable.
//!
//! Every service flattens [`CommonArgs`]. Example file (hypasis-store):
//! ```toml
//! listen = "0.0.0.0:7001"
//! metrics_listen = "0.0.0.0:9101"
//! tls_dir = "/etc/hypasis/tls"
//! log_format = "json"
//! data_dir = "/var/lib/hypasis"
//! ```

#[cfg(feature = "test-utils")]
pub mod harness;
pub mod layered;

pub use layered::{load, load_from, load_from_process, load_matches};

use hypasis_primitives::{Fault, FaultClass};
use std::net::SocketAddr;
use std::path::PathBuf;

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
    /// The command line is invalid (or `--help`/`--version` was asked for: see
    /// [`clap::Error::exit`]).
    #[error(transparent)]
    Cli(#[from] clap::Error),
    /// A `HYPASIS_*` variable has a value of the wrong type or format.
    #[error("environment variable {var}: {message}")]
    BadEnv {
        /// Variable.
        var: String,
        /// What is wrong.
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

impl Fault for ConfigError {
    /// The operator must fix the configuration: retrying cannot help.
    fn fault(&self) -> FaultClass {
        FaultClass::Fatal
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
    /// TOML config file: every flag's key (`--foo-bar` is `foo_bar`); flags and `HYPASIS_*`
    /// variables override its values.
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

impl CommonArgs {
    /// The common settings: the fields here already hold flag > env > file (see [`layered`]);
    /// `default_listen`/`default_metrics` fill what none of them gave.
    pub fn resolve(
        &self,
        default_listen: SocketAddr,
        default_metrics: SocketAddr,
    ) -> Result<CommonConfig, ConfigError> {
        let tls = match (&self.tls_dir, self.insecure) {
            (Some(_), true) => return Err(ConfigError::TlsAndInsecure),
            (Some(d), false) => TlsMode::Mutual(d.clone()),
            (None, true) => TlsMode::Insecure,
            (None, false) => return Err(ConfigError::NoTls),
        };
        Ok(CommonConfig {
            listen: self.listen.unwrap_or(default_listen),
            metrics_listen: self.metrics_listen.unwrap_or(default_metrics),
            tls,
            log_format: self.log_format.unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[derive(Debug, clap::Parser)]
    struct TestArgs {
        #[command(flatten)]
        common: CommonArgs,
        #[arg(long, env = "HYPASIS_DATA_DIR")]
        data_dir: Option<PathBuf>,
        #[arg(long = "peer")]
        peers: Vec<String>,
        #[arg(long, value_delimiter = ',')]
        scheduler: Vec<String>,
        #[arg(long, default_value_t = 4)]
        parallel_units: u32,
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    fn load(argv: &[&str], env: &[(&str, &str)]) -> Result<TestArgs, ConfigError> {
        let argv = std::iter::once("t").chain(argv.iter().copied());
        load_from(
            argv,
            env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
    }

    #[test]
    fn flags_override_file_override_defaults() {
        let f = file(
            "listen = \"127.0.0.1:1\"\nmetrics_listen = \"127.0.0.1:2\"\ntls_dir = \"/tls\"\ndata_dir = \"/d\"\n",
        );
        let path = f.path().to_str().unwrap();
        let args = load(&["--config", path, "--listen", "127.0.0.1:9"], &[]).unwrap();
        let c = args
            .common
            .resolve(addr("0.0.0.0:7"), addr("0.0.0.0:8"))
            .unwrap();
        assert_eq!(c.listen, addr("127.0.0.1:9"));
        assert_eq!(c.metrics_listen, addr("127.0.0.1:2"));
        assert_eq!(c.tls, TlsMode::Mutual("/tls".into()));
        assert_eq!(args.data_dir.as_deref(), Some(std::path::Path::new("/d")));
        // Without the file: the defaults.
        let c = load(&["--insecure"], &[])
            .unwrap()
            .common
            .resolve(addr("0.0.0.0:7"), addr("0.0.0.0:8"))
            .unwrap();
        assert_eq!(c.listen, addr("0.0.0.0:7"));
        assert_eq!(c.log_format, LogFormat::Text);
    }

    #[test]
    fn env_sits_between_flags_and_file() {
        let f = file(
            "listen = \"127.0.0.1:1\"\nparallel_units = 6\ninsecure = true\npeer = [\"a\", \"b\"]\n",
        );
        let path = f.path().to_str().unwrap();
        // The file named by HYPASIS_CONFIG; env beats file; flag beats env.
        let args = load(
            &["--listen", "127.0.0.1:3"],
            &[
                ("HYPASIS_CONFIG", path),
                ("HYPASIS_LISTEN", "127.0.0.1:2"),
                ("HYPASIS_PARALLEL_UNITS", "9"),
                ("HYPASIS_INSECURE", "false"),
                ("HYPASIS_SCHEDULER", "http://a:1, http://b:2"),
            ],
        )
        .unwrap();
        assert_eq!(args.common.listen, Some(addr("127.0.0.1:3")));
        assert_eq!(args.parallel_units, 9);
        assert!(
            !args.common.insecure,
            "HYPASIS_INSECURE=false beats the file"
        );
        assert_eq!(args.peers, ["a", "b"]);
        assert_eq!(args.scheduler, ["http://a:1", "http://b:2"]);
        let args = load(&["--config", path], &[("HYPASIS_LISTEN", "127.0.0.1:2")]).unwrap();
        assert_eq!(args.common.listen, Some(addr("127.0.0.1:2")));
        assert_eq!(args.parallel_units, 6);
        assert!(args.common.insecure);
        // A file value beats the flag's default only; a flag beats everything.
        let args = load(&["--config", path, "--parallel-units", "1"], &[]).unwrap();
        assert_eq!(args.parallel_units, 1);
    }

    #[test]
    fn tls_is_required_unless_insecure() {
        let d = addr("0.0.0.0:1");
        assert!(matches!(
            CommonArgs::default().resolve(d, d),
            Err(ConfigError::NoTls)
        ));
        let insecure = CommonArgs {
            insecure: true,
            ..Default::default()
        };
        assert_eq!(insecure.resolve(d, d).unwrap().tls, TlsMode::Insecure);
        let both = CommonArgs {
            insecure: true,
            tls_dir: Some("/x".into()),
            ..Default::default()
        };
        assert!(matches!(
            both.resolve(d, d),
            Err(ConfigError::TlsAndInsecure)
        ));
    }

    #[test]
    fn bad_files_are_clear_errors() {
        let check = |text: &str| {
            let f = file(text);
            load(&["--config", f.path().to_str().unwrap()], &[])
        };
        assert!(matches!(check("listen = "), Err(ConfigError::Parse { .. })));
        let e = check("lisen = \"x\"").unwrap_err();
        assert!(matches!(e, ConfigError::UnknownKey { .. }), "{e}");
        assert!(e.to_string().contains("unknown key `lisen`"), "{e}");
        let e = check("listen = \"nope\"").unwrap_err();
        assert!(e.to_string().contains("key `listen`"), "{e}");
        assert!(matches!(e, ConfigError::BadValue { .. }), "{e}");
        assert!(matches!(
            check("insecure = \"yes\""),
            Err(ConfigError::BadValue { .. })
        ));
        assert!(matches!(
            check("parallel_units = [1, 2]"),
            Err(ConfigError::BadValue { .. })
        ));
        assert!(matches!(
            check("config = \"other.toml\""),
            Err(ConfigError::UnknownKey { .. })
        ));
        let e = load(&[], &[("HYPASIS_PARALLEL_UNITS", "many")]).unwrap_err();
        assert!(
            matches!(&e, ConfigError::BadEnv { var, .. } if var == "HYPASIS_PARALLEL_UNITS"),
            "{e}"
        );
        assert!(matches!(
            load(&["--config", "/nonexistent/h.toml"], &[]),
            Err(ConfigError::Read { .. })
        ));
    }

    #[test]
    fn command_line_errors_stay_clap_errors() {
        assert!(matches!(
            load(&["--no-such-flag"], &[]),
            Err(ConfigError::Cli(_))
        ));
        match load(&["--help"], &[]) {
            Err(ConfigError::Cli(e)) => {
                assert_eq!(e.kind(), clap::error::ErrorKind::DisplayHelp);
                // Help names each flag's variable.
                assert!(e.to_string().contains("HYPASIS_PARALLEL_UNITS"), "{e}");
            }
            other => panic!("{other:?}"),
        }
    }
}
