#!/usr/bin/env python3
"""Offline checks of the Helm chart (helm/hypasis) and the plain manifests (k8s/).

Uses Helm's own Go SDK through helm-python-sdk (bundles libhelm_c; no `helm` binary needed) to
lint and render the chart, and kubernetes-validate to validate every rendered object and every
k8s/ manifest strictly against the OpenAPI schemas of a pinned Kubernetes version. Then asserts
what the services need (flags, TLS mount, etcd, memory budget, probes, ...).

    python3 tests/tools/helm_check.py [--bin-dir target/debug]   # check (run by tests/helm_chart.rs)
    python3 tests/tools/helm_check.py --write-k8s                # regenerate k8s/ from the chart

Exit codes: 0 ok, 1 a check failed, 3 the Python packages are missing
(pip install -r tests/tools/requirements.txt).
"""

from __future__ import annotations

import argparse
import copy
import re
import subprocess
import sys
from pathlib import Path

try:
    import helm_python as helm
    import kubernetes_validate
    import yaml
except ImportError as e:  # pragma: no cover - reported to the Rust test
    print(f"MISSING-PYTHON-PACKAGES: {e} (pip install -r tests/tools/requirements.txt)")
    sys.exit(3)

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "hypasis"
K8S = ROOT / "k8s"
# The Kubernetes version the objects are validated against (kubernetes-validate ships its schemas).
KUBE_VERSION = "1.33.0"
RELEASE = "hypasis"
NAMESPACE = "hypasis"
SERVICES = ["store", "scheduler", "fetcher", "validator", "checkpoint"]
# Kinds whose schema is not part of Kubernetes (CRDs): checked by hand below, never skipped silently.
CRD_KINDS = {("monitoring.coreos.com/v1", "ServiceMonitor")}
K8S_HEADER = (
    "# Generated from helm/hypasis with its default values by\n"
    "#   python3 tests/tools/helm_check.py --write-k8s\n"
    "# Do not edit by hand: tests/helm_chart.rs fails when this differs from the chart.\n"
)

failures: list[str] = []


def check(cond: bool, msg: str) -> bool:
    if not cond:
        failures.append(msg)
    return cond


# --------------------------------------------------------------------------------------------
# Rendering


def render(values: dict | None) -> dict[str, str]:
    """Template path -> rendered text (NOTES.txt and empty outputs dropped)."""
    with helm.Chart.load(str(CHART)) as chart:
        chart.validate_schema(values)
        out = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    return {
        path: text
        for path, text in sorted(out.items())
        if not path.endswith("NOTES.txt") and text.strip()
    }


def merged_values(values: dict | None) -> dict:
    with helm.Chart.load(str(CHART)) as chart:
        return chart.merge_values(values)


def objects_of(texts: dict[str, str]) -> list[tuple[str, dict]]:
    objs = []
    for path, text in texts.items():
        for doc in yaml.safe_load_all(text):
            if doc:
                objs.append((path, doc))
    return objs


def k8s_file_text(template_path: str, text: str) -> str:
    body = text.strip("\n")
    return f"{K8S_HEADER}# Source: {template_path}\n{body}\n"


def expected_k8s_files() -> dict[str, str]:
    files = {}
    for path, text in render(None).items():
        files[Path(path).name] = k8s_file_text(path, text)
    resources = "".join(f"  - {name}\n" for name in sorted(files))
    files["kustomization.yaml"] = (
        f"{K8S_HEADER}apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"resources:\n{resources}"
    )
    return files


# --------------------------------------------------------------------------------------------
# Validation


def validate_objects(label: str, objs: list[tuple[str, dict]]) -> None:
    for path, obj in objs:
        kind, api = obj.get("kind"), obj.get("apiVersion")
        name = obj.get("metadata", {}).get("name")
        where = f"{label}: {path}: {kind}/{name}"
        if (api, kind) in CRD_KINDS:
            check_service_monitor(where, obj)
            continue
        try:
            kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            dotted = ".".join(str(p) for p in e.path)
            failures.append(f"{where}: invalid against Kubernetes {KUBE_VERSION}: {dotted}: {e.message}")
        except kubernetes_validate.SchemaNotFoundError as e:
            failures.append(f"{where}: no schema ({e.message})")


def check_service_monitor(where: str, obj: dict) -> None:
    spec = obj.get("spec", {})
    check(bool(spec.get("selector", {}).get("matchLabels")), f"{where}: no selector")
    eps = spec.get("endpoints") or []
    check(bool(eps), f"{where}: no endpoints")
    for ep in eps:
        check(ep.get("port") == "metrics" and ep.get("path") == "/metrics", f"{where}: endpoint {ep}")
    allowed = {"selector", "namespaceSelector", "endpoints", "jobLabel"}
    check(set(spec) <= allowed, f"{where}: unknown spec fields {set(spec) - allowed}")


def lint(values: dict | None, label: str) -> None:
    report = helm.lint(str(CHART), values, strict=True, kube_version=f"v{KUBE_VERSION}")
    for err in report.get("errors") or []:
        failures.append(f"helm lint ({label}): {err}")
    for m in report.get("messages") or []:
        if m.get("severity", 0) >= 2:
            failures.append(f"helm lint ({label}): {m.get('path')}: {m.get('error')}")


# --------------------------------------------------------------------------------------------
# Semantics


def mebibytes(quantity) -> float:
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "Ti": 1024 * 1024,
             "K": 1e3 / 2**20, "M": 1e6 / 2**20, "G": 1e9 / 2**20, "": 1 / 2**20}
    m = re.fullmatch(r"([0-9.]+)([KMGT]i?)?", str(quantity))
    if not m:
        raise ValueError(f"unsupported quantity {quantity!r}")
    return float(m.group(1)) * units[m.group(2) or ""]


def flag_names(args: list[str]) -> list[str]:
    return [a.split("=", 1)[0] for a in args if a.startswith("--")]


def arg_values(args: list[str], flag: str) -> list[str]:
    return [a.split("=", 1)[1] for a in args if a.startswith(flag + "=")]


_help_cache: dict[str, set[str]] = {}
_reported_flags: set[tuple[str, str]] = set()


def help_flags(bin_dir: Path, binary: str) -> set[str]:
    """The long flags `binary --help` lists (the binaries are built by `make test`)."""
    if binary not in _help_cache:
        path = bin_dir / binary
        if not path.exists():
            failures.append(f"{path} not found: build the binaries first (cargo build --workspace --bins)")
            _help_cache[binary] = set()
        else:
            out = subprocess.run([str(path), "--help"], capture_output=True, text=True, check=True)
            _help_cache[binary] = set(re.findall(r"(--[a-z0-9][a-z0-9-]*)", out.stdout))
    return _help_cache[binary]


def check_semantics(label: str, objs: list[tuple[str, dict]], values: dict, bin_dir: Path | None) -> None:
    by_kind: dict[str, dict[str, dict]] = {}
    for _, o in objs:
        by_kind.setdefault(o["kind"], {})[o["metadata"]["name"]] = o
    # Every service is a Deployment, or a StatefulSet (fetchers with persistence).
    deps = {**by_kind.get("Deployment", {}), **by_kind.get("StatefulSet", {})}
    svcs = by_kind.get("Service", {})
    tls = values["tls"]
    for svc in SERVICES:
        v = values[svc]
        name = f"{RELEASE}-{svc}"
        where = f"{label}: {svc}"
        d = deps.get(name)
        if not check(d is not None, f"{where}: Deployment {name} missing"):
            continue
        spec = d["spec"]
        pod = spec["template"]["spec"]
        labels = spec["template"]["metadata"]["labels"]
        check(all(labels.get(k) == val for k, val in spec["selector"]["matchLabels"].items()),
              f"{where}: selector does not match the pod labels")
        (c,) = pod["containers"]
        args = c.get("args", [])
        check(c.get("command") == [f"hypasis-{svc}"], f"{where}: command {c.get('command')}")
        # mTLS: --tls-dir is the mount of the Secret with ca.pem and this service's cert and key.
        check(arg_values(args, "--tls-dir") == [tls["mountPath"]], f"{where}: --tls-dir not {tls['mountPath']}")
        check("--insecure" not in args, f"{where}: --insecure")
        mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
        vols = {vol["name"]: vol for vol in pod.get("volumes", [])}
        claims = {t["metadata"]["name"]: t for t in spec.get("volumeClaimTemplates", [])}
        tls_mount = mounts.get(tls["mountPath"])
        if check(tls_mount is not None, f"{where}: nothing mounted at {tls['mountPath']}"):
            secret = vols.get(tls_mount["name"], {}).get("secret", {})
            check(secret.get("secretName") == tls["existingSecret"], f"{where}: TLS secret {secret}")
            paths = {i["path"] for i in secret.get("items", [])}
            check(paths == {"ca.pem", f"{svc}.pem", f"{svc}.key"}, f"{where}: TLS files {paths}")
        for m in mounts.values():
            check(m["name"] in vols or m["name"] in claims, f"{where}: mount of undefined volume {m['name']}")
        # Listen on all interfaces, on the ports the Service and the probes use.
        ports = {p.get("name"): p.get("containerPort") for p in c.get("ports", [])}
        check(arg_values(args, "--listen") == [f"0.0.0.0:{v['grpcPort']}"], f"{where}: --listen")
        check(arg_values(args, "--metrics-listen") == [f"0.0.0.0:{v['metricsPort']}"], f"{where}: --metrics-listen")
        check(ports.get("grpc") == v["grpcPort"] and ports.get("metrics") == v["metricsPort"], f"{where}: ports {ports}")
        s = svcs.get(name)
        if check(s is not None, f"{where}: Service {name} missing"):
            sp = {p["name"]: p for p in s["spec"]["ports"]}
            check(sp.get("grpc", {}).get("targetPort") == "grpc" and sp.get("metrics", {}).get("targetPort") == "metrics",
                  f"{where}: Service ports {sp}")
            check(s["spec"]["selector"] == spec["selector"]["matchLabels"], f"{where}: Service selector")
        # Probes: HTTP on the plain metrics port (the gRPC port requires mTLS client certs).
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            p = c.get(probe)
            if check(p is not None, f"{where}: no {probe}"):
                check("grpc" not in p, f"{where}: {probe} uses a native grpc probe (cannot do mTLS)")
                if "httpGet" in p:
                    check(p["httpGet"].get("port") in ("metrics", v["metricsPort"]),
                          f"{where}: {probe} on {p['httpGet'].get('port')}, not the metrics port")
                    # Readiness mirrors gRPC health (/readyz); liveness stays /healthz.
                    want = values["probes"]["readyPath" if probe == "readinessProbe" else "path"]
                    if not v.get(probe):
                        check(p["httpGet"].get("path") == want,
                              f"{where}: {probe} path {p['httpGet'].get('path')}, expected {want}")
        # Security.
        check(pod["securityContext"].get("runAsNonRoot") is True, f"{where}: runAsNonRoot")
        check(c["securityContext"].get("readOnlyRootFilesystem") is True, f"{where}: readOnlyRootFilesystem")
        check(c["securityContext"].get("allowPrivilegeEscalation") is False, f"{where}: allowPrivilegeEscalation")
        check("memory" in c.get("resources", {}).get("limits", {}), f"{where}: no memory limit")
        ann = spec["template"]["metadata"].get("annotations") or {}
        if values["metrics"]["podAnnotations"]:
            check(ann.get("prometheus.io/scrape") == "true" and ann.get("prometheus.io/port") == str(v["metricsPort"]),
                  f"{where}: Prometheus annotations {ann}")
        env = {e["name"]: e for e in c.get("env", [])}
        if values["otlp"]["endpoint"]:
            check(env.get("OTEL_EXPORTER_OTLP_ENDPOINT", {}).get("value") == values["otlp"]["endpoint"],
                  f"{where}: OTEL_EXPORTER_OTLP_ENDPOINT")
        else:
            check("OTEL_EXPORTER_OTLP_ENDPOINT" not in env, f"{where}: OTLP set though otlp.endpoint is empty")
        # $(VAR) references in args must name a variable of the container.
        for a in args:
            for var in re.findall(r"\$\(([A-Z_]+)\)", a):
                check(var in env, f"{where}: {a} references undefined ${var}")
        # Every flag exists in the real binary.
        if bin_dir is not None:
            binary = f"hypasis-{svc}"
            known = help_flags(bin_dir, binary)
            for f in flag_names(args):
                if known and f not in known and (binary, f) not in _reported_flags:
                    _reported_flags.add((binary, f))
                    failures.append(f"{label}: {binary} --help has no flag {f} (stale binary or wrong flag)")
        # Other services are dialed at their Service, over https (mTLS).
        for flag, target in (("--store", "store"), ("--scheduler", "scheduler")):
            for url in arg_values(args, flag):
                check(url == f"https://{RELEASE}-{target}:{values[target]['grpcPort']}", f"{where}: {flag}={url}")

    # Scheduler: leader + standby through etcd, protected by a PDB.
    sched = deps.get(f"{RELEASE}-scheduler")
    if sched:
        args = sched["spec"]["template"]["spec"]["containers"][0]["args"]
        check(sched["spec"].get("replicas", 1) >= 2, f"{label}: scheduler replicas < 2 (no standby)")
        check(sched["spec"].get("replicas") == values["scheduler"]["replicas"], f"{label}: scheduler replicas")
        check(arg_values(args, "--etcd") == values["etcd"]["endpoints"], f"{label}: scheduler --etcd {arg_values(args, '--etcd')}")
        check(arg_values(args, "--chain") == [values["chain"]], f"{label}: scheduler --chain")
        pdbs = by_kind.get("PodDisruptionBudget", {})
        if values["scheduler"]["pdb"]["enabled"]:
            pdb = pdbs.get(f"{RELEASE}-scheduler")
            if check(pdb is not None, f"{label}: scheduler PodDisruptionBudget missing"):
                check(pdb["spec"]["selector"]["matchLabels"] == sched["spec"]["selector"]["matchLabels"],
                      f"{label}: PDB selector")
                check(pdb["spec"].get("minAvailable") == 1, f"{label}: PDB minAvailable")

    # Fetcher: replicas follow the value (or an HPA owns them), memory budget well below the limit.
    fet = deps.get(f"{RELEASE}-fetcher")
    if fet:
        fv = values["fetcher"]
        c = fet["spec"]["template"]["spec"]["containers"][0]
        args = c["args"]
        hpas = by_kind.get("HorizontalPodAutoscaler", {})
        if fv["autoscaling"]["enabled"]:
            check("replicas" not in fet["spec"], f"{label}: fetcher replicas set though an HPA owns them")
            hpa = hpas.get(f"{RELEASE}-fetcher")
            if check(hpa is not None, f"{label}: fetcher HPA missing"):
                check(hpa["spec"]["scaleTargetRef"]["name"] == fet["metadata"]["name"], f"{label}: HPA target")
                check(hpa["spec"]["scaleTargetRef"]["kind"] == fet["kind"], f"{label}: HPA target kind")
                check(hpa["spec"]["minReplicas"] == fv["autoscaling"]["minReplicas"], f"{label}: HPA min")
        else:
            check(fet["spec"].get("replicas") == fv["replicas"],
                  f"{label}: fetcher replicas {fet['spec'].get('replicas')} != {fv['replicas']}")
            check(not hpas, f"{label}: HPA rendered though autoscaling is off")
        budget = arg_values(args, "--memory-budget-mb")
        limit = c["resources"]["limits"]["memory"]
        if check(budget == [str(fv["memoryBudgetMb"])], f"{label}: fetcher --memory-budget-mb {budget}"):
            check(mebibytes(limit) > int(budget[0]), f"{label}: fetcher memory limit {limit} <= budget {budget[0]} MiB")
            check(int(budget[0]) * 2 <= mebibytes(limit), f"{label}: fetcher budget {budget[0]} MiB not well below {limit}")
        check(arg_values(args, "--etcd") == values["etcd"]["endpoints"], f"{label}: fetcher --etcd")
        check(arg_values(args, "--chain") == [values["chain"]], f"{label}: fetcher --chain")
        # The node key lives in --data-dir: a claim per pod with persistence (a StatefulSet,
        # so each enode survives pod replacement), else an emptyDir.
        check(arg_values(args, "--data-dir") == [fv["dataDir"]], f"{label}: fetcher --data-dir")
        data = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}.get(fv["dataDir"])
        pod_vols = {v["name"]: v for v in fet["spec"]["template"]["spec"].get("volumes", [])}
        claim_names = {t["metadata"]["name"] for t in fet["spec"].get("volumeClaimTemplates", [])}
        if fv["persistence"]["enabled"]:
            check(fet["kind"] == "StatefulSet", f"{label}: fetcher with persistence is a {fet['kind']}")
            check(data in claim_names, f"{label}: fetcher data dir not on a per-pod claim")
            check(fet["spec"].get("serviceName") == fet["metadata"]["name"], f"{label}: StatefulSet serviceName")
        else:
            check(fet["kind"] == "Deployment", f"{label}: fetcher without persistence is a {fet['kind']}")
            check("emptyDir" in pod_vols.get(data, {}), f"{label}: fetcher data dir not on an emptyDir")

    # Store: FoundationDB cluster file from a ConfigMap, or redb on its volume.
    store = deps.get(f"{RELEASE}-store")
    if store:
        c = store["spec"]["template"]["spec"]["containers"][0]
        args = c["args"]
        mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
        vols = {vol["name"]: vol for vol in store["spec"]["template"]["spec"]["volumes"]}
        fdb = values["fdb"]
        if fdb["enabled"]:
            check(arg_values(args, "--backend") == ["fdb"], f"{label}: store --backend")
            path = f"{fdb['mountPath']}/{fdb['key']}"
            check(arg_values(args, "--fdb-cluster-file") == [path], f"{label}: store --fdb-cluster-file")
            m = mounts.get(fdb["mountPath"])
            if check(m is not None, f"{label}: cluster file not mounted"):
                cm_name = vols[m["name"]]["configMap"]["name"]
                cm = by_kind.get("ConfigMap", {}).get(cm_name)
                if not fdb["existingConfigMap"] and check(cm is not None, f"{label}: ConfigMap {cm_name} missing"):
                    check(cm["data"].get(fdb["key"]) == fdb["clusterFile"].strip(), f"{label}: cluster file content")
            check(store["spec"].get("replicas") == values["store"]["replicas"], f"{label}: store replicas")
        else:
            check(arg_values(args, "--backend") == ["redb"], f"{label}: store --backend")
            data = arg_values(args, "--data-dir")
            check(data == [values["store"]["dataDir"]] and data[0] in mounts, f"{label}: store --data-dir not on a volume")
            check(store["spec"]["strategy"]["type"] == "Recreate", f"{label}: redb store must use Recreate")
            check(store["spec"].get("replicas") == 1, f"{label}: redb store replicas")

    sm = by_kind.get("ServiceMonitor", {})
    check(bool(sm) == values["metrics"]["serviceMonitor"]["enabled"], f"{label}: ServiceMonitor rendered={bool(sm)}")


def semantics(label: str, objs: list[tuple[str, dict]], values: dict, bin_dir: Path | None) -> None:
    """check_semantics, with a malformed object (missing key, wrong type) reported as a failure."""
    try:
        check_semantics(label, objs, values, bin_dir)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
        failures.append(f"{label}: malformed objects, semantic checks stopped at {type(e).__name__}: {e}")


def expect_render_error(values: dict, needle: str) -> None:
    try:
        render(values)
    except helm.HelmError as e:
        check(needle in str(e), f"render of {values} failed, but not with '{needle}': {e}")
        return
    failures.append(f"render of {values} succeeded; expected an error mentioning '{needle}'")


# --------------------------------------------------------------------------------------------


def main() -> int:
    global CHART, K8S
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--write-k8s", action="store_true", help="regenerate k8s/ from the chart")
    ap.add_argument("--bin-dir", type=Path, help="directory of the hypasis-* binaries (flag check)")
    ap.add_argument("--chart", type=Path, default=CHART, help="chart directory (default helm/hypasis)")
    ap.add_argument("--k8s", type=Path, default=K8S, help="plain manifests directory (default k8s/)")
    args = ap.parse_args()
    CHART, K8S = args.chart.resolve(), args.k8s.resolve()
    helm.disable_logging()

    if args.write_k8s:
        for old in K8S.glob("*.yaml"):
            old.unlink()
        for name, text in expected_k8s_files().items():
            (K8S / name).write_text(text)
            print(f"wrote k8s/{name}")
        return 0

    print(f"helm SDK {helm.helm_sdk_version()} (libhelm_c {helm.helm_c_version()}), "
          f"kubernetes-validate {kubernetes_validate.__version__}, schemas of Kubernetes {KUBE_VERSION}")
    cases: list[tuple[str, dict | None]] = [("default values", None)]
    for f in sorted((CHART / "ci").glob("*-values.yaml")):
        cases.append((f"ci/{f.name}", yaml.safe_load(f.read_text())))
    check(len(cases) >= 3, "expected ci/*-values.yaml files beside the defaults")
    for label, values in cases:
        lint(values, label)
        objs = objects_of(render(values))
        kinds = sorted({o["kind"] for _, o in objs})
        print(f"{label}: {len(objs)} objects ({', '.join(kinds)})")
        validate_objects(label, objs)
        semantics(label, objs, merged_values(values), args.bin_dir)

    # The chart refuses what would not work.
    expect_render_error({"fetcher": {"memoryBudgetMb": 500}}, "must be at most half")
    expect_render_error({"store": {"replicas": 2}}, "needs fdb.enabled")
    expect_render_error({"fdb": {"enabled": True}}, "fdb.clusterFile")
    expect_render_error({"chain": "polygn"}, "chain")
    expect_render_error({"etcd": {"endpoints": []}}, "etcd")
    expect_render_error({"fetcher": {"replica": 4}}, "replica")

    # k8s/: exactly the default render, and valid on its own.
    expected = expected_k8s_files()
    present = {p.name: p.read_text() for p in K8S.glob("*.yaml")}
    for name in sorted(set(expected) | set(present)):
        if name not in present:
            failures.append(f"k8s/{name} missing (run: python3 tests/tools/helm_check.py --write-k8s)")
        elif name not in expected:
            failures.append(f"k8s/{name} is not produced by the chart (run --write-k8s)")
        elif present[name] != expected[name]:
            failures.append(f"k8s/{name} differs from the chart's default render (run --write-k8s)")
    kustom = yaml.safe_load(present.get("kustomization.yaml", "{}")) or {}
    listed = set(kustom.get("resources") or [])
    check(listed == set(present) - {"kustomization.yaml"}, f"k8s/kustomization.yaml lists {sorted(listed)}")
    k8s_objs = []
    for name in sorted(listed & set(present)):
        k8s_objs += [(f"k8s/{name}", o) for o in yaml.safe_load_all(present[name]) if o]
    validate_objects("k8s", k8s_objs)
    semantics("k8s", k8s_objs, merged_values(None), args.bin_dir)
    print(f"k8s/: {len(k8s_objs)} objects in {len(listed)} files")

    if failures:
        print(f"\n{len(failures)} check(s) failed:")
        for f in failures:
            print(f"  FAIL {f}")
        return 1
    print("all chart checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
