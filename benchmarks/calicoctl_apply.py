"""Benchmark: applying N BGPPeers with the calicoctl module vs kubernetes.core.k8s in a loop.

Prints a table of API requests and seconds for N = 10, 100, 1000 (``--sizes`` to change), on the
test cluster (kube-apiserver, its request counter read from /metrics) and on etcd (the module's
own count). Seconds are the task's duration from Ansible's JSON callback (the module's work plus
Ansible's per-task overhead), not the playbook's start-up.

    .venv/bin/python benchmarks/calicoctl_apply.py [--sizes 10,100,1000] [--k8s-loop-max 1000]
"""

from __future__ import annotations

import argparse
import datetime
import re
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from conftest import calico_releases, upstream_dir  # noqa: E402
from playbook import run_playbook  # noqa: E402
from testbed.cluster import TestCluster  # noqa: E402
from testbed.etcd import EtcdServer  # noqa: E402
from testbed.procs import Supervisor  # noqa: E402

REQUEST_METRIC = re.compile(r'^apiserver_request_total\{(?P<labels>[^}]*)\} (?P<value>[0-9.e+]+)$', re.M)


def peers(count: int, asn: int = 65001) -> list[dict]:
    return [{"apiVersion": "projectcalico.org/v3", "kind": "BGPPeer", "metadata": {"name": f"peer-{i:04d}"},
             "spec": {"peerIP": f"198.18.{i // 250}.{i % 250 + 1}", "asNumber": asn}} for i in range(count)]


def crd_peers(count: int, asn: int = 65001) -> list[dict]:
    return [{**p, "apiVersion": "crd.projectcalico.org/v1"} for p in peers(count, asn)]


def apiserver_requests(cluster: TestCluster) -> int:
    """Requests the API server has answered for Calico's group (from its own metrics)."""
    text = cluster.request("GET", "/metrics", raw=True)[1]
    total = 0.0
    for match in REQUEST_METRIC.finditer(text):
        if 'group="crd.projectcalico.org"' in match.group("labels"):
            total += float(match.group("value"))
    return int(total)


def seconds(result: dict) -> float:
    duration = result.get("duration") or {}
    start = datetime.datetime.fromisoformat(duration["start"].replace("Z", "+00:00"))
    end = datetime.datetime.fromisoformat(duration["end"].replace("Z", "+00:00"))
    return (end - start).total_seconds()


def task_time(run, name: str) -> float:
    task = [t for play in run.report["plays"] for t in play["tasks"] if t["task"]["name"] == name][0]
    return seconds(task["task"])


def measure_module(workdir: Path, options: dict, count: int, counter) -> list[tuple]:
    rows = []
    for label, asn in (("first apply", 65001), ("no-change re-run", 65001), ("change all", 65002)):
        before = counter() if counter else 0
        run = run_playbook(workdir / f"{count}-{label[:5]}", [{
            "name": "apply", "k8snet.calico.calicoctl": {**options, "definition": peers(count, asn)}}])
        result = run.result("apply")
        assert not result.get("failed"), result.get("msg")
        requests = counter() - before if counter else sum(result["requests"].values())
        rows.append((label, requests, task_time(run, "apply")))
    run_playbook(workdir / f"{count}-clean", [{"name": "clean", "k8snet.calico.calicoctl": {
        **options, "state": "absent", "definition": peers(count)}}])
    return rows


def measure_k8s_loop(workdir: Path, kubeconfig: str, count: int, counter) -> list[tuple]:
    rows = []
    for label, asn in (("first apply", 65001), ("no-change re-run", 65001)):
        before = counter()
        run = run_playbook(workdir / f"loop-{count}-{label[:5]}", [{
            "name": "apply", "kubernetes.core.k8s": {"kubeconfig": kubeconfig, "state": "present",
                                                     "definition": "{{ item }}"},
            "loop": crd_peers(count, asn), "loop_control": {"label": "{{ item.metadata.name }}"}}])
        assert run.returncode == 0, run.stdout[-2000:]
        rows.append((label, counter() - before, task_time(run, "apply")))
    run_playbook(workdir / f"loop-{count}-clean", [{"name": "clean", "kubernetes.core.k8s": {
        "kubeconfig": kubeconfig, "state": "absent", "definition": "{{ item }}"}, "loop": crd_peers(count)}])
    return rows


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--k8s-loop-max", type=int, default=1000,
                        help="largest N for the kubernetes.core.k8s loop (it is slow)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory(prefix="k8snet-bench-") as tmp:
        work = Path(tmp)
        with TestCluster(work / "cluster") as cluster:
            cluster.kubectl("apply", "--server-side", "-f",
                            str(upstream_dir() / "calico" / calico_releases()[-1] / "crds.yaml"))
            cluster.kubectl("wait", "--for", "condition=Established", "crd", "--all", "--timeout", "60s")

            def counter():
                return apiserver_requests(cluster)
            options = {"datastore": "kubernetes", "kubeconfig": str(cluster.kubeconfig)}
            for count in sizes:
                for label, requests, secs in measure_module(work, options, count, counter):
                    rows.append(("kubernetes", "calicoctl module", count, label, requests, secs))
                if count <= args.k8s_loop_max:
                    for label, requests, secs in measure_k8s_loop(work, str(cluster.kubeconfig), count, counter):
                        rows.append(("kubernetes", "kubernetes.core.k8s loop", count, label, requests, secs))
        supervisor = Supervisor(work / "etcd-state.json")
        try:
            etcd = EtcdServer(work / "etcd", supervisor).start()
            options = {"datastore": "etcdv3", "etcd_endpoints": [etcd.endpoint]}
            for count in sizes:
                for label, requests, secs in measure_module(work / "etcd-runs", options, count, None):
                    rows.append(("etcdv3", "calicoctl module", count, label, requests, secs))
        finally:
            supervisor.stop_all()

    print(f"{'datastore':<11} {'tool':<26} {'N':>5}  {'run':<17} {'requests':>8} {'seconds':>8}")
    for datastore, tool, count, label, requests, secs in rows:
        print(f"{datastore:<11} {tool:<26} {count:>5}  {label:<17} {requests:>8} {secs:>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
