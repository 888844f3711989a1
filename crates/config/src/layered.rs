//! The layered loader: command-line flag > `HYPASIS_*` environment variable > TOML file
//! (`--config FILE`) > the flag's default.
//!
//! The clap definition of a binary is the one source of truth: every argument with a long name
//! `--foo-bar` is also the file key `foo_bar` and the variable `HYPASIS_FOO_BAR` (an `env = "…"`
//! name given in the clap definition, such as `FDB_CLUSTER_FILE`, is accepted as well). Values from
//! the environment and the file are checked with the argument's own value parser, one by one, so a
//! bad value is a [`ConfigError`] naming the key or variable; a key no argument has is
//! [`ConfigError::UnknownKey`]. The merged values are then handed to clap as if given on the
//! command line, so requirements and conflicts are checked once, by clap.
//!
//! Value shapes:
//! - a switch (`--insecure`): file `true`/`false`, variable `true`/`false`/`1`/`0`/`yes`/`no`/`on`/`off`;
//! - a repeatable or list flag (`--peer`, `--scheduler`): file array (or one scalar), variable
//!   comma-separated;
//! - any other flag: one file scalar (string, integer, float or boolean), the variable's text.
//!
//! The environment is passed in (`load_from(argv, env)`), so tests never touch the process env.

use crate::ConfigError;
use clap::{Arg, ArgAction, ArgMatches, Command, parser::ValueSource};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The id of the argument that names the config file.
pub const CONFIG_ARG: &str = "config";
/// Prefix of every configuration variable.
pub const ENV_PREFIX: &str = "HYPASIS_";

/// How one clap argument is reached from the file and the environment.
#[derive(Debug, Clone)]
pub struct ArgKey {
    /// clap id.
    pub id: String,
    /// `--long` name.
    pub long: String,
    /// TOML key (`long` with `-` → `_`).
    pub key: String,
    /// `HYPASIS_<KEY>` first, then the clap-declared `env` name if it differs.
    pub env: Vec<String>,
    /// How the argument takes values.
    pub shape: Shape,
}

/// How an argument takes values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A switch without value (`ArgAction::SetTrue`).
    Switch,
    /// One value.
    Single,
    /// Several values (repeatable or delimited).
    Many,
}

/// The file/env view of every configurable argument of `cmd` (not `--help`, `--version`,
/// positionals, or `--config` itself).
pub fn arg_keys(cmd: &Command) -> Vec<ArgKey> {
    cmd.get_arguments()
        .filter_map(|a| {
            let long = a.get_long()?;
            if a.get_id() == CONFIG_ARG {
                return None;
            }
            let shape = match a.get_action() {
                ArgAction::SetTrue => Shape::Switch,
                ArgAction::Append => Shape::Many,
                ArgAction::Set => {
                    if a.get_value_delimiter().is_some()
                        || a.get_num_args().is_some_and(|r| r.max_values() > 1)
                    {
                        Shape::Many
                    } else {
                        Shape::Single
                    }
                }
                _ => return None,
            };
            let key = long.replace('-', "_");
            let mut env = vec![format!("{ENV_PREFIX}{}", key.to_uppercase())];
            if let Some(declared) = a.get_env().and_then(|e| e.to_str())
                && declared != env[0]
            {
                env.push(declared.to_string());
            }
            Some(ArgKey {
                id: a.get_id().to_string(),
                long: long.to_string(),
                key,
                env,
                shape,
            })
        })
        .collect()
}

/// Parses the process's arguments and environment into `T` (see the module docs); on an error
/// prints it and exits (status 0 for `--help`/`--version`, 2 otherwise).
pub fn load<T: clap::Parser>() -> T {
    load_from_process(std::env::args_os().collect())
}

/// [`load`] with `argv` (program name first) in place of the process's arguments, layered over
/// the process's environment (e.g. a subcommand's arguments).
pub fn load_from_process<T: clap::Parser>(argv: Vec<OsString>) -> T {
    let env = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
    match load_from::<T>(argv, env) {
        Ok(t) => t,
        Err(ConfigError::Cli(e)) => e.exit(),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    }
}

/// Parses `argv` (program name first) layered over `env` and the `--config` file into `T`.
pub fn load_from<T: clap::Parser>(
    argv: impl IntoIterator<Item = impl Into<OsString>>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<T, ConfigError> {
    let matches = load_matches(T::command(), argv, env)?;
    T::from_arg_matches(&matches).map_err(ConfigError::Cli)
}

/// [`load_from`] for a bare [`Command`]: the merged matches.
pub fn load_matches(
    cmd: Command,
    argv: impl IntoIterator<Item = impl Into<OsString>>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<ArgMatches, ConfigError> {
    let argv: Vec<OsString> = argv.into_iter().map(Into::into).collect();
    let env: BTreeMap<String, String> = env.into_iter().collect();
    let mut cmd = cmd;
    cmd.build();
    let keys = arg_keys(&cmd);
    // Help shows every variable; parsing reads the variables only from `env`, here.
    let annotated = {
        let keys = keys.clone();
        cmd.clone().mut_args(
            move |a| match keys.iter().find(|k| k.id == a.get_id().as_str()) {
                Some(k) => a.env(k.env[0].clone()),
                None => a,
            },
        )
    };
    let plain = cmd.mut_args(|a| a.env(None::<&str>));

    // Pass 1: what the command line gives (requirements may be met by the file or env).
    let probe = match plain
        .clone()
        .ignore_errors(true)
        .try_get_matches_from(argv.clone())
    {
        Ok(m) => m,
        Err(e) => {
            use clap::error::ErrorKind;
            if e.kind() == ErrorKind::DisplayHelp {
                // Render the help of the annotated command (with the variable names).
                let e = annotated.try_get_matches_from(argv).err().unwrap_or(e);
                return Err(ConfigError::Cli(e));
            }
            return Err(ConfigError::Cli(e));
        }
    };
    let from_cli = |id: &str| {
        probe
            .try_contains_id(id)
            .ok()
            .filter(|c| *c)
            .and_then(|_| probe.value_source(id))
            == Some(ValueSource::CommandLine)
    };

    // The file: named by --config, else HYPASIS_CONFIG.
    let has_config_arg = plain.get_arguments().any(|a| a.get_id() == CONFIG_ARG);
    let config_path: Option<PathBuf> = if !has_config_arg {
        None
    } else if from_cli(CONFIG_ARG) {
        probe
            .get_raw(CONFIG_ARG)
            .and_then(|mut v| v.next())
            .map(PathBuf::from)
    } else {
        env.get(&format!("{ENV_PREFIX}CONFIG")).map(PathBuf::from)
    };
    let file = match &config_path {
        Some(p) => Some((p.clone(), read_table(p, &keys)?)),
        None => None,
    };

    let mut extra: Vec<OsString> = Vec::new();
    if let Some(p) = &config_path
        && !from_cli(CONFIG_ARG)
    {
        extra.push(format!("--{CONFIG_ARG}={}", p.display()).into());
    }
    for k in &keys {
        if from_cli(&k.id) {
            continue;
        }
        let arg = plain
            .get_arguments()
            .find(|a| a.get_id() == k.id.as_str())
            .expect("key of this command");
        let env_hit = k
            .env
            .iter()
            .find_map(|name| env.get(name).map(|v| (name, v)));
        let values: Vec<String> = if let Some((name, text)) = env_hit {
            let values = env_values(k, text).map_err(|message| ConfigError::BadEnv {
                var: name.clone(),
                message,
            })?;
            check_values(arg, &values).map_err(|message| ConfigError::BadEnv {
                var: name.clone(),
                message,
            })?;
            values
        } else if let Some((path, table)) = &file
            && let Some(v) = table.get(&k.key)
        {
            let bad = |message| ConfigError::BadValue {
                path: path.clone(),
                key: k.key.clone(),
                message,
            };
            let values = file_values(k, v).map_err(bad)?;
            check_values(arg, &values).map_err(bad)?;
            values
        } else {
            continue;
        };
        match k.shape {
            Shape::Switch => {
                if values.first().is_some_and(|v| v == "true") {
                    extra.push(format!("--{}", k.long).into());
                }
            }
            Shape::Single | Shape::Many => {
                for v in values {
                    extra.push(format!("--{}={v}", k.long).into());
                }
            }
        }
    }

    // Pass 2: everything as flags; clap checks requirements, conflicts and values once more.
    // Layered values go before any `--` (none of the binaries take trailing arguments).
    let mut full = argv;
    full.extend(extra);
    plain.try_get_matches_from(full).map_err(ConfigError::Cli)
}

/// Reads and parses the TOML file, refusing keys no argument has.
fn read_table(path: &Path, keys: &[ArgKey]) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.into(),
        source,
    })?;
    parse_table(path, &text, keys)
}

/// Parses TOML text (named `path` in errors), refusing keys no argument has.
pub fn parse_table(path: &Path, text: &str, keys: &[ArgKey]) -> Result<toml::Table, ConfigError> {
    let table: toml::Table = toml::from_str(text).map_err(|e| ConfigError::Parse {
        path: path.into(),
        message: e.to_string(),
    })?;
    for key in table.keys() {
        if !keys.iter().any(|k| &k.key == key) {
            return Err(ConfigError::UnknownKey {
                path: path.into(),
                key: key.clone(),
                known: keys
                    .iter()
                    .map(|k| k.key.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    }
    Ok(table)
}

fn boolish(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" | "" => Some(false),
        _ => None,
    }
}

/// A variable's text as values (`"true"`/`"false"` for a switch).
fn env_values(k: &ArgKey, text: &str) -> Result<Vec<String>, String> {
    Ok(match k.shape {
        Shape::Switch => match boolish(text) {
            Some(b) => vec![b.to_string()],
            None => return Err(format!("`{text}` is not a boolean (true/false)")),
        },
        Shape::Single => vec![text.to_string()],
        Shape::Many => text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
    })
}

fn scalar(v: &toml::Value) -> Result<String, String> {
    match v {
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::Float(f) => Ok(f.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        toml::Value::Datetime(d) => Ok(d.to_string()),
        toml::Value::Array(_) => Err("expected one value, found an array".into()),
        toml::Value::Table(_) => Err("expected a value, found a table".into()),
    }
}

/// A file value as values (`"true"`/`"false"` for a switch).
fn file_values(k: &ArgKey, v: &toml::Value) -> Result<Vec<String>, String> {
    match k.shape {
        Shape::Switch => match v {
            toml::Value::Boolean(b) => Ok(vec![b.to_string()]),
            other => Err(format!(
                "expected true or false, found {}",
                other.type_str()
            )),
        },
        Shape::Single => Ok(vec![scalar(v)?]),
        Shape::Many => match v {
            toml::Value::Array(items) => items.iter().map(scalar).collect(),
            other => Ok(vec![scalar(other)?]),
        },
    }
}

/// Checks each value with the argument's own value parser (on a one-argument command, so the
/// message names only this value).
pub(crate) fn check_values(arg: &Arg, values: &[String]) -> Result<(), String> {
    if matches!(arg.get_action(), ArgAction::SetTrue) {
        return Ok(());
    }
    let long = arg.get_long().unwrap_or("value");
    let single = Arg::new("value")
        .long(long.to_string())
        .action(ArgAction::Set)
        .value_parser(arg.get_value_parser().clone());
    let cmd = Command::new("check").arg(single).no_binary_name(true);
    for v in values {
        if let Err(e) = cmd
            .clone()
            .try_get_matches_from([OsString::from(format!("--{long}={v}"))])
        {
            let text = e.render().to_string();
            let first = text.lines().next().unwrap_or("invalid value");
            let first = first.strip_prefix("error: ").unwrap_or(first);
            return Err(first.to_string());
        }
    }
    Ok(())
}
