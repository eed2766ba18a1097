"""Benchmark: monitoring.yml on a test cluster, run by run.

Starts a test cluster with Calico (upstream's calico-typha.yaml applied server-side), minimal
prometheus-operator CRDs and a namespace ``monitoring``, then runs monitoring.yml: first run,
second run, --check --diff with a changed port, state absent. Prints, per run, the wall seconds of
ansible-playbook, the tasks that changed and the API requests kube-apiserver answered during the
run (from its own apiserver_request_total), by API group.

    .venv/bin/python benchmarks/monitoring_runs.py
"""

from __future__ import annotations

import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from conftest import upstream_dir  # noqa: E402
from playbook import REPO_ROOT, run_playbook_file  # noqa: E402
from testbed.cluster import TestCluster, operator_crd  # noqa: E402

REQUEST_METRIC = re.compile(r'^apiserver_request_total\{(?P<labels>[^}]*)\} (?P<value>[0-9.e+]+)$', re.M)
GROUPS = {"crd.projectcalico.org": "calico", "monitoring.coreos.com": "monitoring", "apps": "apps", "": "core",
          "apiextensions.k8s.io": "crds"}


def requests_by_group(cluster: TestCluster) -> Counter:
    text = cluster.request("GET", "/metrics", raw=True)[1]
    found = Counter()
    for match in REQUEST_METRIC.finditer(text):
        group = re.search(r'group="([^"]*)"', match.group("labels"))
        found[GROUPS.get(group.group(1) if group else "", "other")] += float(match.group("value"))
    return found


def main() -> int:
    manifest = upstream_dir() / "calico" / "v3.31.7" / "calico-typha.yaml"
    with tempfile.TemporaryDirectory() as tmp, TestCluster(Path(tmp) / "cluster") as cluster:
        cluster.kubectl("apply", "--server-side", "--field-manager", "k8snet.calico", "-f", str(manifest))
        cluster.kubectl("wait", "--for", "condition=Established", "--timeout", "60s", "crd", "--all")
        for kind, plural in (("ServiceMonitor", "servicemonitors"), ("PrometheusRule", "prometheusrules")):
            cluster.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", operator_crd(kind, plural))
        cluster.kubectl("wait", "--for", "condition=Established", "--timeout", "60s", "crd", "--all")
        cluster.request("POST", "/api/v1/namespaces",
                        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "monitoring"}})
        time.sleep(2)
        base = {"calico_kubeconfig": str(cluster.kubeconfig), "calico_monitoring_namespace": "monitoring"}
        runs = [("first", {}, False), ("second", {}, False), ("check --diff", {"calico_felix_metrics_port": 9191}, True),
                ("absent", {"calico_monitoring_state": "absent"}, False)]
        rows = []
        for name, extra, check in runs:
            before = requests_by_group(cluster)
            start = time.monotonic()
            run = run_playbook_file(Path(tmp) / "work", REPO_ROOT / "playbooks" / "monitoring.yml",
                                    extra_vars={**base, **extra}, check=check, diff=check, name=name.split()[0])
            took = time.monotonic() - start
            delta = requests_by_group(cluster) - before
            if run.returncode != 0:
                print(f"{name}: failed: {run.failure()}", file=sys.stderr)
                return 1
            rows.append((name, took, run.stats.get("changed", 0), delta))
        groups = ["calico", "monitoring", "apps", "core", "crds", "other"]
        print(f"{'run':<14} {'seconds':>8} {'changed':>8} " + " ".join(f"{g:>10}" for g in groups) + f" {'requests':>9}")
        for name, took, changed, delta in rows:
            print(f"{name:<14} {took:8.1f} {changed:8d} " + " ".join(f"{int(delta[g]):10d}" for g in groups)
                  + f" {int(sum(delta.values())):9d}")
        print("requests: answered by kube-apiserver during the run (includes the controllers' own traffic).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
