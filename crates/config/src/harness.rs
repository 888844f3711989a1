//! A test harness (feature `test-utils`): proves that every flag of a binary's clap definition is
//! reachable from a TOML file key and from a `HYPASIS_*` variable.
//!
//! It walks `Command::get_arguments()`, so a flag added later is covered without touching the
//! test. For each argument it builds a value its own value parser accepts, sets it once through
//! a config file and once through the (passed-in) environment, and checks that the merged matches
//! carry the value and that the parsed `T` differs from the baseline.

use crate::layered::{ArgKey, Shape, arg_keys, check_values, load_matches};
use clap::Command;
use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};

/// Values tried, in order, for an argument without a fixed set of possible values.
const CANDIDATES: [&str; 4] = ["7", "8", "127.0.0.1:4242", "127.0.0.2:4243"];

/// What the harness checked.
#[derive(Debug, Clone, Default)]
pub struct Coverage {
    /// File keys proven.
    pub keys: Vec<String>,
    /// Variables proven.
    pub vars: Vec<String>,
}

/// Panics unless every configurable argument of `T` can be set from a file key and from its
/// `HYPASIS_*` variable. `baseline` is a minimal command line (`(long, value)`, value `""` for a
/// switch) that parses; arguments in it (and those conflicting with the one under test) are
/// dropped while that argument is tested.
pub fn assert_every_arg_configurable<T: clap::Parser + Debug>(
    baseline: &[(&str, &str)],
) -> Coverage {
    let mut cmd = T::command();
    cmd.build();
    let keys = arg_keys(&cmd);
    assert!(!keys.is_empty(), "no configurable arguments");
    let argv = |skip: &dyn Fn(&str) -> bool| -> Vec<String> {
        let mut v = vec![cmd.get_name().to_string()];
        for (long, value) in baseline {
            if skip(long) {
                continue;
            }
            if value.is_empty() {
                v.push(format!("--{long}"));
            } else {
                v.push(format!("--{long}={value}"));
            }
        }
        v
    };
    let parse = |argv: Vec<String>, env: Vec<(String, String)>| {
        load_matches(T::command(), argv, env).and_then(|m| {
            T::from_arg_matches(&m)
                .map(|t| (m, t))
                .map_err(crate::ConfigError::Cli)
        })
    };
    let (_, base) = parse(argv(&|_| false), Vec::new())
        .unwrap_or_else(|e| panic!("baseline {baseline:?} does not parse: {e}"));
    let base = format!("{base:?}");

    let mut coverage = Coverage::default();
    let mut failures = Vec::new();
    for k in &keys {
        let arg = cmd
            .get_arguments()
            .find(|a| a.get_id() == k.id.as_str())
            .expect("argument");
        let value = match pick_value(&cmd, k, baseline) {
            Some(v) => v,
            None => {
                failures.push(format!("--{}: no value the parser accepts", k.long));
                continue;
            }
        };
        let conflicting: Vec<String> = cmd
            .get_arguments()
            .filter(|o| {
                cmd.get_arg_conflicts_with(arg)
                    .iter()
                    .any(|c| c.get_id() == o.get_id())
                    || cmd
                        .get_arg_conflicts_with(o)
                        .iter()
                        .any(|c| c.get_id() == arg.get_id())
            })
            .filter_map(|o| o.get_long().map(String::from))
            .collect();
        let skip = |long: &str| long == k.long || conflicting.iter().any(|c| c == long);

        // Through the file.
        let path = temp_path();
        std::fs::write(&path, format!("{} = {}\n", k.key, toml_value(k, &value)))
            .expect("writing the test config file");
        let mut file_argv = argv(&skip);
        file_argv.push(format!("--config={}", path.display()));
        let via_file = parse(file_argv, Vec::new());
        let _ = std::fs::remove_file(&path);
        match check(k, &value, via_file, &base) {
            Ok(()) => coverage.keys.push(k.key.clone()),
            Err(e) => failures.push(format!("file key `{}` = {value}: {e}", k.key)),
        }

        // Through the environment.
        let var = k.env[0].clone();
        let via_env = parse(argv(&skip), vec![(var.clone(), value.clone())]);
        match check(k, &value, via_env, &base) {
            Ok(()) => coverage.vars.push(var),
            Err(e) => failures.push(format!("variable {var}={value}: {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{}: not configurable:\n  {}",
        cmd.get_name(),
        failures.join("\n  ")
    );
    coverage
}

fn check<T: Debug>(
    k: &ArgKey,
    value: &str,
    parsed: Result<(clap::ArgMatches, T), crate::ConfigError>,
    base: &str,
) -> Result<(), String> {
    let (m, t) = parsed.map_err(|e| e.to_string())?;
    let carried = match k.shape {
        Shape::Switch => m.get_flag(&k.id),
        Shape::Single | Shape::Many => m
            .get_raw(&k.id)
            .is_some_and(|mut vs| vs.any(|v| v == value)),
    };
    if !carried {
        return Err("the merged matches do not carry the value".into());
    }
    if format!("{t:?}") == base {
        return Err("the parsed configuration equals the baseline".into());
    }
    Ok(())
}

fn pick_value(cmd: &Command, k: &ArgKey, baseline: &[(&str, &str)]) -> Option<String> {
    if k.shape == Shape::Switch {
        return Some("true".into());
    }
    let arg = cmd.get_arguments().find(|a| a.get_id() == k.id.as_str())?;
    let defaults: Vec<String> = arg
        .get_default_values()
        .iter()
        .map(|d| d.to_string_lossy().into_owned())
        .collect();
    let in_baseline: Vec<&str> = baseline
        .iter()
        .filter(|(l, _)| *l == k.long)
        .map(|(_, v)| *v)
        .collect();
    let fresh = |v: &str| !defaults.iter().any(|d| d == v) && !in_baseline.contains(&v);
    let possible: Vec<String> = arg
        .get_possible_values()
        .iter()
        .map(|p| p.get_name().to_string())
        .collect();
    if !possible.is_empty() {
        return possible.into_iter().find(|v| fresh(v));
    }
    CANDIDATES
        .iter()
        .find(|v| fresh(v) && check_values(arg, &[v.to_string()]).is_ok())
        .map(|v| v.to_string())
}

fn toml_value(k: &ArgKey, value: &str) -> String {
    let bare = k.shape == Shape::Switch
        || value.parse::<i64>().is_ok()
        || (value.contains('.') && value.parse::<f64>().is_ok());
    let scalar = if bare {
        value.to_string()
    } else {
        toml::Value::String(value.to_string()).to_string()
    };
    match k.shape {
        Shape::Many => format!("[{scalar}]"),
        _ => scalar,
    }
}

fn temp_path() -> std::path::PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    std::env::temp_dir().join(format!(
        "hypasis-config-harness-{}-{}.toml",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, clap::Parser)]
    struct Demo {
        #[command(flatten)]
        common: crate::CommonArgs,
        #[arg(long, required = true)]
        store: String,
        #[arg(long, conflicts_with = "genesis")]
        chain: Option<String>,
        #[arg(long)]
        genesis: Option<std::path::PathBuf>,
        #[arg(long = "peer")]
        peers: Vec<String>,
        #[arg(long, default_value_t = 0.5)]
        share: f64,
        #[arg(long)]
        no_discovery: bool,
    }

    #[test]
    fn covers_every_argument() {
        let c = assert_every_arg_configurable::<Demo>(&[("store", "http://s:1"), ("chain", "x")]);
        for key in [
            "listen",
            "store",
            "chain",
            "genesis",
            "peer",
            "share",
            "no_discovery",
            "log_format",
        ] {
            assert!(c.keys.iter().any(|k| k == key), "{key}: {c:?}");
        }
        assert!(c.vars.iter().any(|v| v == "HYPASIS_NO_DISCOVERY"), "{c:?}");
    }

    /// An argument the file cannot reach fails the harness (it would pass without the layering).
    #[test]
    #[should_panic(expected = "not configurable")]
    fn an_unreachable_argument_fails() {
        #[derive(clap::Parser)]
        struct Hidden {
            #[arg(long)]
            config: Option<std::path::PathBuf>,
            /// Parsed into a field Debug does not show.
            #[arg(long)]
            secret: Option<Opaque>,
        }
        impl std::fmt::Debug for Hidden {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("Hidden")
            }
        }
        #[derive(Clone)]
        struct Opaque;
        impl std::str::FromStr for Opaque {
            type Err = std::convert::Infallible;
            fn from_str(_: &str) -> Result<Self, Self::Err> {
                Ok(Self)
            }
        }
        // `Hidden` renders the same whether `secret` is set or not: the harness must notice.
        let _ = assert_every_arg_configurable::<Hidden>(&[]);
    }
}
