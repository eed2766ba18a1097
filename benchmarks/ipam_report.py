"""Benchmark: the IPAM report on a generated cluster of 5,000 nodes and 50,000 allocations.

Generates the IPAM objects as Calico writes them (tests/ipam_testdata.py): one /26 block per node
in a /12 pool, 10 addresses per node, 1% of them leaked (pod gone) and 1% borrowed. Then, for each
datastore, reads them through the collection's own code (``ipam.datastore.KubernetesIpam`` /
``EtcdIpam``) over an in-memory transport that counts requests as the real clients do, computes
the report and renders it. Prints seconds per step and the requests the read took.

    .venv/bin/python benchmarks/ipam_report.py [--nodes 5000] [--per-node 10] [--etcd]

``--etcd`` also writes the objects into a real etcd of the test bed and reads them through the real
etcd client (HTTP gateway), so that the read time includes the transport.
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from conftest import REPO_ROOT  # noqa: E402  (links the checkout as the collection k8snet.calico)
from ipam_testdata import IpamBuilder  # noqa: E402

from ansible_collections.k8snet.calico.plugins.module_utils.datastore.etcd import KeyValue, RangeResult  # noqa: E402
from ansible_collections.k8snet.calico.plugins.module_utils.ipam import datastore, render, report  # noqa: E402


def generate(nodes: int, per_node: int):
    builder = IpamBuilder()
    builder.pool("bench", "10.0.0.0/12", block_size=26)
    live = []
    base = 10 << 24
    for n in range(nodes):
        name = f"node-{n:05d}"
        block = "%d.%d.%d.%d/26" % tuple(((base + n * 64) >> s) & 255 for s in (24, 16, 8, 0))
        builder.block(block, name)
        for i in range(per_node):
            owner = f"node-{(n + 1) % nodes:05d}" if i == 0 and n % 10 == 0 else name  # 1% borrowed
            pod = f"p-{n}-{i}"
            builder.allocate(block, owner, "bench", pod)
            if not (i == 1 and n % 10 == 0):  # 1% leaked: no pod
                live.append({"metadata": {"namespace": "bench", "name": pod}, "spec": {"nodeName": owner},
                             "status": {"phase": "Running"}})
    return builder, [f"node-{n:05d}" for n in range(nodes)], live


class CountingK8s:
    """The KubernetesClient calls KubernetesIpam makes, answered from memory and counted."""

    def __init__(self, objects, nodes, pods):
        self.requests = collections.Counter()
        kinds = {"IPAMBlock": "ipamblocks", "BlockAffinity": "blockaffinities", "IPAMHandle": "ipamhandles"}
        self.items = collections.defaultdict(list)
        for obj in objects:
            self.items[kinds[obj["kind"]]].append(obj)
        self.items["nodes"] = [{"metadata": {"name": n}} for n in nodes]
        self.items["pods"] = pods

    def list(self, group, version, plural, **_kw):
        self.requests["list"] += 1
        return {"items": self.items[plural]}


class PoolStore:
    def __init__(self, client, pools, nodes=()):
        self.client, self.pools, self.nodes = client, pools, nodes

    def list(self, kind):
        self.client.requests["list" if kind.name == "IPPool" else "range"] += 1
        if kind.name == "IPPool":
            return {p["metadata"]["name"]: (p, "1") for p in self.pools}
        return {n: ({}, 1) for n in self.nodes}


class CountingEtcd:
    def __init__(self, kvs):
        self.requests = collections.Counter()
        self.kvs = sorted((k, v.encode()) for k, v in kvs.items())

    def range_prefix(self, prefix):
        self.requests["range"] += 1
        return RangeResult([KeyValue(k, v, 1, 1) for k, v in self.kvs if k.startswith(prefix)], 1)


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--per-node", type=int, default=10)
    parser.add_argument("--etcd", action="store_true", help="also through a real etcd of the test bed")
    args = parser.parse_args()
    print(f"collection at {REPO_ROOT}")
    (builder, nodes, pods), gen_s = timed(lambda: generate(args.nodes, args.per_node))
    objects = builder.crd_objects()
    kvs = builder.etcd_kvs()
    print(f"generated {args.nodes} nodes, {args.nodes * args.per_node} allocations, {len(objects)} CRD objects "
          f"in {gen_s:.1f} s\n")
    rows = []

    def measure(label, ipam):
        state, read_s = timed(ipam.read_state)
        result, report_s = timed(lambda: report.compute_report(state))
        _out, render_s = timed(lambda: (render.table(result), render.csv_files(result), render.json_text(result),
                                        render.html(result)))
        s = result["summary"]
        rows.append((label, read_s, report_s, render_s, read_s + report_s + render_s,
                     sum(ipam.client.requests.values()), dict(ipam.client.requests), s["allocated"], s["borrowed"],
                     s["leaked"]))

    k8s = CountingK8s(objects, nodes, pods)
    measure("kubernetes (in-memory transport)", datastore.KubernetesIpam(k8s, PoolStore(k8s, builder.pools)))
    etcd = CountingEtcd(kvs)
    wep = '{"metadata":{"namespace":"bench"},"spec":{"pod":"%s","node":"%s"}}'
    weps = {f"/calico/resources/v3/projectcalico.org/workloadendpoints/bench/{p['metadata']['name']}":
            wep % (p["metadata"]["name"], p["spec"]["nodeName"]) for p in pods}
    etcd.kvs = sorted(etcd.kvs + [(k, v.encode()) for k, v in weps.items()])
    measure("etcdv3 (in-memory transport)", datastore.EtcdIpam(etcd, PoolStore(etcd, builder.pools, nodes)))
    if args.etcd:
        rows.append(real_etcd(builder, kvs, weps, nodes, measure))

    header = ("datastore", "read s", "report s", "render s", "total s", "requests", "by verb", "allocated",
              "borrowed", "leaked")
    table = [header] + [tuple(f"{c:.2f}" if isinstance(c, float) else str(c) for c in row) for row in rows if row]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for number, row in enumerate(table):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)))
        if number == 0:
            print("  ".join("-" * w for w in widths))


def real_etcd(builder, kvs, weps, nodes, measure):
    from testbed.binaries import bin_dir
    from testbed.etcd import EtcdServer
    from testbed.procs import Supervisor

    from ansible_collections.k8snet.calico.plugins.module_utils.datastore.etcd import EtcdClient
    bin_dir()
    with tempfile.TemporaryDirectory() as tmp:
        supervisor = Supervisor(Path(tmp) / "state.json")
        try:
            server = EtcdServer(Path(tmp), supervisor).start()
            client = EtcdClient([server.endpoint])
            start = time.perf_counter()
            for key, value in list(kvs.items()) + list(weps.items()):
                client.create(key, value)
            print(f"wrote {len(kvs) + len(weps)} keys into etcd in {time.perf_counter() - start:.0f} s")
            client.requests.clear()
            store = PoolStore(client, builder.pools, nodes)
            measure("etcdv3 (real etcd, HTTP gateway)", datastore.EtcdIpam(client, store))
        finally:
            supervisor.stop_all()
    return None


if __name__ == "__main__":
    main()
