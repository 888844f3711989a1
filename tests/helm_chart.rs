//! The Helm chart (`helm/hypasis`) and the plain manifests (`k8s/`), checked offline.
//!
//! `tests/tools/helm_check.py` lints and renders the chart with Helm's own Go SDK
//! (helm-python-sdk, which bundles `libhelm_c`: no `helm` binary), validates every object strictly
//! against the Kubernetes OpenAPI schemas (kubernetes-validate, pinned Kubernetes version), checks
//! that every flag the chart passes exists in the real binary's `--help`, asserts what the services
//! need (TLS mount, etcd, memory budget, probes, replicas, ...), and that `k8s/` is exactly the
//! chart's default render. The Python packages are pinned in `tests/tools/requirements.txt`
//! (`.ci/run` installs them). With `CI` set a missing package fails the test; locally it is
//! reported as SKIPPED.

use hypasis_integration_tests::{bin, repo_root};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const MISSING: i32 = 3;

fn run_check(extra: &[&std::ffi::OsStr]) -> Option<Output> {
    let bin_dir = bin("hypasis-store")
        .parent()
        .expect("bin dir")
        .to_path_buf();
    let out = Command::new("python3")
        .arg(repo_root().join("tests/tools/helm_check.py"))
        .arg("--bin-dir")
        .arg(&bin_dir)
        .args(extra)
        .current_dir(repo_root())
        .output()
        .expect("python3 must be installed");
    if out.status.code() == Some(MISSING) {
        let msg = String::from_utf8_lossy(&out.stdout);
        let in_ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
        assert!(
            !in_ci,
            "CI is set but the chart test's Python packages are missing: {msg}\n\
             install them: python3 -m pip install -r tests/tools/requirements.txt"
        );
        eprintln!(
            "SKIPPED: {msg} (python3 -m pip install -r tests/tools/requirements.txt; fails when CI is set)"
        );
        return None;
    }
    Some(out)
}

fn text(out: &Output) -> String {
    format!(
        "--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn chart_lints_renders_validates_and_matches_k8s() {
    let Some(out) = run_check(&[]) else { return };
    let log = text(&out);
    println!("{log}");
    assert!(out.status.success(), "chart checks failed:\n{log}");
    assert!(log.contains("all chart checks passed"), "{log}");
    // The three renders and k8s/ were really checked.
    for label in [
        "default values:",
        "ci/cluster-values.yaml:",
        "ci/autoscaling-values.yaml:",
        "k8s/:",
    ] {
        assert!(log.contains(label), "no `{label}` in the output:\n{log}");
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Copies the chart and k8s/ into a temporary directory, applies `edit` to one template, and
/// returns the checker's output (which must fail).
fn broken_chart(template: &str, from: &str, to: &str) -> Option<String> {
    let tmp = tempfile::tempdir().unwrap();
    let chart: PathBuf = tmp.path().join("hypasis");
    let k8s = tmp.path().join("k8s");
    copy_dir(&repo_root().join("helm/hypasis"), &chart);
    copy_dir(&repo_root().join("k8s"), &k8s);
    let file = chart.join("templates").join(template);
    let original = std::fs::read_to_string(&file).unwrap();
    assert!(
        original.contains(from),
        "{template} no longer contains `{from}`"
    );
    std::fs::write(&file, original.replacen(from, to, 1)).unwrap();
    let out = run_check(&[
        "--chart".as_ref(),
        chart.as_os_str(),
        "--k8s".as_ref(),
        k8s.as_os_str(),
    ])?;
    let log = text(&out);
    assert!(
        !out.status.success(),
        "the checker passed a broken chart ({template}: `{from}` -> `{to}`):\n{log}"
    );
    Some(log)
}

#[test]
fn checker_rejects_a_field_kubernetes_does_not_know() {
    let Some(log) = broken_chart(
        "_helpers.tpl",
        "containerPort: {{ $v.metricsPort }}",
        "containerPorts: {{ $v.metricsPort }}",
    ) else {
        return;
    };
    assert!(log.contains("invalid against Kubernetes"), "{log}");
}

#[test]
fn checker_rejects_fetcher_replicas_that_ignore_the_value() {
    let Some(log) = broken_chart("_helpers.tpl", "replicas: {{ $v.replicas }}", "replicas: 3")
    else {
        return;
    };
    assert!(
        log.contains("ci/cluster-values.yaml: fetcher replicas 3 != 4"),
        "{log}"
    );
}

#[test]
fn checker_rejects_a_flag_the_binary_does_not_have() {
    let Some(log) = broken_chart("_helpers.tpl", "--tls-dir=", "--tls-directory=") else {
        return;
    };
    assert!(log.contains("--help has no flag --tls-directory"), "{log}");
}
