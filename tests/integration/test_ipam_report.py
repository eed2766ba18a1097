"""The IPAM report and release through ansible-playbook, on both datastores, with IPAM objects
written as Calico writes them (tests/ipam_testdata.py), and the real calicoctl v3.31.0 as the
reference: ``calicoctl ipam show`` must agree with the report's numbers, ``calicoctl ipam check``
with the leaks before and after the release."""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
import yaml

from conftest import REPO_ROOT, missing_component
from ipam_testdata import scenario
from playbook import run_playbook, run_playbook_file

pytestmark = [pytest.mark.playbook, pytest.mark.calicoctl]

LIVE_NS = "ipam-live"
GROUP = "/apis/crd.projectcalico.org/v1"
ROLE = "k8snet.calico.calico_ipam : "
IPAM_PLURALS = ("ipamblocks", "blockaffinities", "ipamhandles")


def wep_name(node: str, pod: str) -> str:
    """libcalico-go's WorkloadEndpoint name for a Kubernetes pod: node-k8s-pod-eth0, '-' doubled."""
    return "-".join(part.replace("-", "--") for part in (node, "k8s", pod, "eth0"))


def cluster_information():
    return {"clusterGUID": "0123456789abcdef0123456789abcdef", "clusterType": "k8s,bgp",
            "calicoVersion": "v3.31.0", "datastoreReady": True}


class IpamBed:
    """One datastore holding the scenario. ``options``: the modules' connection options;
    ``snapshot()``: every stored IPAM object with its version (to prove nothing was written)."""

    def __init__(self, name, options, calicoctl, snapshot, check_args=()):
        self.name = name
        self.options = options
        self.calicoctl = calicoctl
        self.snapshot = snapshot
        self.check_args = list(check_args)


def _common_resources(builder):
    return [*builder.pools,
            {"apiVersion": "projectcalico.org/v3", "kind": "KubeControllersConfiguration",
             "metadata": {"name": "default"}, "spec": {"controllers": {}}}]


@pytest.fixture(params=["kubernetes", "etcdv3"])
def bed(request, tmp_path):
    builder, facts = scenario()
    if request.param == "kubernetes":
        cluster = request.getfixturevalue("cluster")
        request.getfixturevalue("calico_crds")
        ctl = request.getfixturevalue("calicoctl_k8s")
        from testbed.cluster import NodeSpec
        singletons = [f"{p}.crd.projectcalico.org" for p in ("clusterinformations", "kubecontrollersconfigurations")
                      if cluster.request("GET", f"{GROUP}/{p}/default", raw=True)[0] == 404]

        def clean():
            for plural in IPAM_PLURALS:
                cluster.kubectl("delete", f"{plural}.crd.projectcalico.org", "--all", check=False)
            for pool in builder.pools:
                cluster.kubectl("delete", "ippools.crd.projectcalico.org", pool["metadata"]["name"], check=False)
            for singleton in singletons:  # only those this test made
                cluster.kubectl("delete", singleton, "default", check=False)
            cluster.kubectl("delete", "namespace", LIVE_NS, "--wait=true", check=False)
            cluster.kubectl("delete", "node", *facts["nodes"], check=False)
        clean()
        request.addfinalizer(clean)
        cluster.add_nodes([NodeSpec(n, f"192.0.2.{100 + i}", f"10.99.{i}.0/24") for i, n in enumerate(facts["nodes"])],
                          register=False)
        ctl("apply", "-f", "-", input=yaml.safe_dump_all(_common_resources(builder)))
        cluster.request("POST", f"{GROUP}/clusterinformations", {  # calicoctl may have made it already
            "apiVersion": "crd.projectcalico.org/v1", "kind": "ClusterInformation",
            "metadata": {"name": "default"}, "spec": cluster_information()}, raw=True)
        cluster.kubectl("create", "namespace", LIVE_NS)
        pods = [{"apiVersion": "v1", "kind": "Pod",
                 "metadata": {"name": pod, "namespace": ns,
                              "annotations": {"cni.projectcalico.org/podIP": f"{ip}/32",
                                              "cni.projectcalico.org/podIPs": f"{ip}/32"}},
                 "spec": {"nodeName": node, "containers": [{"name": "c", "image": "registry.example/pause:3.10"}]}}
                for ns, pod, node, ip in facts["live"]]
        cluster.kubectl("create", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": pods}))
        # kwok gives pods addresses of the node's pod CIDR; Calico's CNI plugin would have given the
        # IPAM ones, which is what calicoctl ipam check reads (status first): put those in place.
        cluster.kubectl("wait", "-n", LIVE_NS, "--for", "condition=Ready", "pod", "--all", "--timeout", "120s")
        for ns, pod, _node, ip in facts["live"]:
            cluster.request("PATCH", f"/api/v1/namespaces/{ns}/pods/{pod}/status",
                            {"status": {"podIP": ip, "podIPs": [{"ip": ip}]}},
                            content_type="application/merge-patch+json")
        plural = {"IPAMBlock": "ipamblocks", "BlockAffinity": "blockaffinities", "IPAMHandle": "ipamhandles"}
        for obj in builder.crd_objects():
            cluster.request("POST", f"{GROUP}/{plural[obj['kind']]}", obj)

        def snapshot():
            return {p: sorted((i["metadata"]["name"], i["metadata"]["resourceVersion"])
                              for i in cluster.request("GET", f"{GROUP}/{p}")["items"]) for p in IPAM_PLURALS}
        return IpamBed("kubernetes", {"datastore": "kubernetes", "kubeconfig": str(cluster.kubeconfig)},
                       ctl, snapshot)

    etcd = request.getfixturevalue("etcd_server")
    ctl = request.getfixturevalue("calicoctl_etcd")
    ctl("create", "-f", "-", input=yaml.safe_dump_all(
        _common_resources(builder)
        + [{"apiVersion": "projectcalico.org/v3", "kind": "Node", "metadata": {"name": n}, "spec": {}}
           for n in facts["nodes"]]
        + [{"apiVersion": "projectcalico.org/v3", "kind": "WorkloadEndpoint",
            "metadata": {"name": wep_name(node, pod), "namespace": ns},
            "spec": {"orchestrator": "k8s", "node": node, "pod": pod, "endpoint": "eth0",
                     "interfaceName": "cali" + pod.replace("-", ""), "ipNetworks": [f"{ip}/32"]}}
           for ns, pod, node, ip in facts["live"]]))
    from ansible_collections.k8snet.calico.plugins.module_utils.datastore.etcd import EtcdClient
    with EtcdClient([etcd.endpoint]) as client:
        for key, value in builder.etcd_kvs().items():
            client.create(key, value)
    # (calicoctl wrote ClusterInformation default when it first connected)

    def snapshot():
        return {"revision": etcd.revision(), "ipam": sorted(etcd.get_prefix("/calico/ipam/v2/").items())}
    # calicoctl ipam check lists Services through a kubeconfig even on etcd: the test cluster's
    check_args = []
    try:
        check_args = ["--kubeconfig", str(request.getfixturevalue("cluster").kubeconfig)]
    except pytest.skip.Exception:
        pass
    return IpamBed("etcdv3", {"datastore": "etcdv3", "etcd_endpoints": [etcd.endpoint]}, ctl, snapshot, check_args)


def ipam_show(ctl) -> dict[str, tuple[int, int, int]]:
    """calicoctl ipam show: {pool cidr: (total, in use, free)}."""
    out = ctl("ipam", "show").stdout
    found = {}
    for line in out.splitlines():
        m = re.match(r"\|\s*IP Pool\s*\|\s*(\S+)\s*\|\s*(\d+)\s*\|\s*(\d+)\s.*\|\s*(\d+)\s", line)
        if m:
            found[m.group(1)] = (int(m.group(2)), int(m.group(3)), int(m.group(4)))
    assert found, out
    return found


def ipam_check(bed) -> str:
    result = bed.calicoctl("ipam", "check", "--show-problem-ips", "--allow-version-mismatch", *bed.check_args,
                           check=False)
    return result.stdout + result.stderr


def report_run(tmp_path, bed, name, **extra):
    return run_playbook_file(tmp_path, REPO_ROOT / "playbooks" / "ipam_report.yml", name=name, extra_vars={
        "calico_datastore": bed.name, "calico_kubeconfig": bed.options.get("kubeconfig", ""),
        "calico_etcd_endpoints": bed.options.get("etcd_endpoints", []),
        "calico_ipam_report_dir": str(tmp_path / name), **extra})


def test_report_release_and_calicoctl_agree(bed, tmp_path):
    _builder, facts = scenario()
    leaked_ips = sorted(ip for ips in facts["leaked"].values() for ip in ips)

    # -- the report, through the playbook: the numbers, exactly ----------------------------------
    run = report_run(tmp_path, bed, "report1")
    assert run.returncode != 0, "pool nearly-full has all its blocks claimed: above calico_ipam_fail_percent"
    assert "IP pool nearly-full (10.70.0.0/26): 49 of 64 addresses allocated" in run.failure()
    data = json.loads((tmp_path / "report1" / "ipam-report.json").read_text())
    pools = {p["name"]: p for p in data["pools"]}
    assert {k: pools["nearly-full"][k] for k in ("size", "allocated", "free", "blocks_in_use", "free_blocks")} == \
        {"size": 64, "allocated": 49, "free": 15, "blocks_in_use": 4, "free_blocks": 0}
    assert {k: pools["roomy"][k] for k in ("size", "allocated", "free", "blocks_in_use", "free_blocks")} == \
        {"size": 256, "allocated": 12, "free": 244, "blocks_in_use": 1, "free_blocks": 3}
    nodes = {n["name"]: n for n in data["nodes"]}
    node_numbers = [(nodes[n]["block_count"], nodes[n]["allocated"], nodes[n]["addresses"], nodes[n]["borrowed"],
                     nodes[n]["lent"]) for n in ("ipam-a", "ipam-b", "ipam-c")]
    assert node_numbers == [(2, 28, 26, 0, 2), (1, 16, 16, 0, 0), (1, 16, 18, 2, 0)]
    assert nodes["ipam-gone"]["exists"] is False
    assert sorted(r["ip"] for r in data["borrowed"]) == facts["borrowed"]
    assert sorted(r["ip"] for r in data["leaked"]) == leaked_ips
    assert len(data["leaked_handles"]) == 4
    assert [u["cidr"] for u in data["unclaimable_blocks"]] == ["10.70.0.48/28"]
    table = "\n".join(run.result(ROLE + "Show the IPAM report")["msg"])
    assert re.search(r"nearly-full\s+10.70.0.0/26\s+64\s+49\s+15", table), table
    assert sorted(p.name for p in (tmp_path / "report1").iterdir()) == [
        "ipam-addresses.csv", "ipam-nodes.csv", "ipam-pools.csv", "ipam-report.html", "ipam-report.json",
        "ipam-unclaimable-blocks.csv"]
    requests = run.result(ROLE + "Read IPAM blocks, affinities, handles, pools, nodes and pods")["requests"]
    print(f"\n{bed.name}: report requests {requests}")
    # calicoctl ipam show agrees on every pool
    assert ipam_show(bed.calicoctl) == {"10.70.0.0/26": (64, 49, 15), "10.71.0.0/24": (256, 12, 244)}
    before = ipam_check(bed)
    assert "Found 5 IPs that are allocated in IPAM but not actually in use." in before, before
    assert "Check complete; found 5 problems." in before, before
    for ip in leaked_ips:
        assert f"{ip} leaked" in before

    # the page, in a real browser: the charts are drawn
    screenshot_shows_charts(tmp_path / "report1" / "ipam-report.html", tmp_path / f"{bed.name}.png")

    # -- release: refuse an address in use, before anything is written ---------------------------
    snapshot = bed.snapshot()
    live_ip = facts["live"][0][3]
    refused = run_playbook(tmp_path / "refuse", [{"name": "release", "k8snet.calico.calico_ipam": {
        **bed.options, "ips": [leaked_ips[0], live_ip]}}])
    assert refused.returncode != 0
    assert f"{live_ip} is in use by pod {LIVE_NS}/a-0" in refused.failure()
    assert bed.snapshot() == snapshot

    # check mode: what would be released, nothing written
    task = [{"name": "release", "k8snet.calico.calico_ipam": {**bed.options, "leaked": True}}]
    preview = run_playbook(tmp_path / "check", task, check=True, diff=True)
    assert preview.returncode == 0, preview.stdout[-3000:]
    result = preview.result("release")
    assert result["changed"] is True and sorted(result["released"]) == leaked_ips
    assert bed.snapshot() == snapshot

    # for real, then again (nothing left)
    done = run_playbook(tmp_path / "real", task, diff=True)
    assert done.returncode == 0, done.stdout[-3000:]
    result = done.result("release")
    assert result["changed"] is True and sorted(result["released"]) == leaked_ips
    assert sorted((h["name"], h["action"]) for h in result["handles"]) == sorted(
        (h["handle"], "deleted") for h in data["leaked_handles"])
    assert {b["name"]: b["action"] for b in result["blocks"]} == {
        "10.70.0.0/28": "updated", "10.70.0.32/28": "updated", "10.71.0.0/26": "updated", "10.70.0.48/28": "updated"}
    again = run_playbook(tmp_path / "again", task)
    assert again.result("release")["changed"] is False and again.result("release")["released"] == []

    # calicoctl sees the same state: nothing leaked, the pools' numbers down by 5
    assert ipam_show(bed.calicoctl) == {"10.70.0.0/26": (64, 46, 18), "10.71.0.0/24": (256, 10, 246)}
    after = ipam_check(bed)
    assert "Found 0 IPs that are allocated in IPAM but not actually in use." in after, after
    assert "Check complete; found 0 problems." in after, after
    shown = bed.calicoctl("ipam", "show", "--ip", leaked_ips[0]).stdout
    assert "is not assigned" in shown, shown

    # and the report agrees
    run = report_run(tmp_path, bed, "report2", calico_ipam_fail_percent=100.0, calico_ipam_warn_percent=99.0)
    data = json.loads((tmp_path / "report2" / "ipam-report.json").read_text())
    assert (data["summary"]["leaked"], data["summary"]["borrowed"], data["summary"]["allocated"]) == (0, 1, 56)
    assert run.returncode != 0  # nearly-full still has 100% of its blocks claimed
    # the same report again changes no file; in check mode nothing is written at all
    rerun = report_run(tmp_path, bed, "report2", calico_ipam_fail_percent=100.0, calico_ipam_warn_percent=99.0)
    assert rerun.changed_tasks() == [] and rerun.stats["changed"] == 0
    dry = run_playbook_file(tmp_path, REPO_ROOT / "playbooks" / "ipam_report.yml", name="dry", check=True,
                            extra_vars={"calico_datastore": bed.name,
                                        "calico_kubeconfig": bed.options.get("kubeconfig", ""),
                                        "calico_etcd_endpoints": bed.options.get("etcd_endpoints", []),
                                        "calico_ipam_report_dir": str(tmp_path / "dry")})
    assert "nearly-full" in dry.failure() and not (tmp_path / "dry").exists()


# -- the HTML page in headless Chromium ---------------------------------------------------------

def read_png(path: Path) -> tuple[int, int, list[bytes]]:
    """(width, height, rows of RGB(A) bytes) of a non-interlaced 8-bit PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    width, height, depth, colour, _c, _f, interlace = header
    assert depth == 8 and interlace == 0 and colour in (2, 6)
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, previous = [], bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = previous[x]
            c = previous[x - bpp] if x >= bpp else 0
            if kind == 1:
                line[x] = (line[x] + a) & 255
            elif kind == 2:
                line[x] = (line[x] + b) & 255
            elif kind == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        previous = line
    return width, bpp, rows


def runs_of(rows, bpp, colour, tolerance=8):
    """For each row, the longest horizontal run of pixels of ``colour`` (r, g, b): [(y, x0, length)]."""
    found = []
    for y, row in enumerate(rows):
        best, start, length = (0, 0), None, 0
        for x in range(0, len(row), bpp):
            if all(abs(row[x + i] - colour[i]) <= tolerance for i in range(3)):
                if length == 0:
                    start = x // bpp
                length += 1
                if length > best[1]:
                    best = (start, length)
            else:
                length = 0
        if best[1]:
            found.append((y, best[0], best[1]))
    return found


def hex_rgb(text):
    return tuple(int(text[i:i + 2], 16) for i in (1, 3, 5))


def screenshot_shows_charts(page: Path, png: Path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        missing_component("Debian package chromium (headless screenshot of the IPAM report)")
    from ansible_collections.k8snet.calico.plugins.module_utils.ipam.render import COLOURS
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--force-device-scale-factor=1", f"--screenshot={png}", "--window-size=1000,1400",
                    page.as_uri()], check=True, capture_output=True, timeout=120)
    _width, bpp, rows = read_png(png)
    fail_runs = runs_of(rows, bpp, hex_rgb(COLOURS["fail"]))
    ok_runs = runs_of(rows, bpp, hex_rgb(COLOURS["ok"]))
    # bars are 370 px at 100%: nearly-full (100% of its blocks) and ipam-b, ipam-c (100% of theirs)
    full = [r for r in fail_runs if 360 <= r[2] <= 375]
    assert len({y // 26 for y, _x, _n in full}) >= 3, fail_runs[:20]
    assert all(x == full[0][1] for _y, x, _n in full)  # one column: the bars start where the charts start
    # roomy: 25% of its blocks -> a blue bar of ~92 px, below the first red bar and above the nodes chart
    quarter = [r for r in ok_runs if 86 <= r[2] <= 98 and r[1] == full[0][1]]
    assert quarter and quarter[0][0] > full[0][0], ok_runs[:20]
    # ipam-a: 35% of its blocks (28 of 80) -> ~130 px, in the nodes chart further down
    assert [r for r in ok_runs if 124 <= r[2] <= 135 and r[0] > quarter[0][0] + 30], ok_runs[:40]


def test_release_retries_after_a_concurrent_write(bed):
    """Another writer updates the block between our read and our write: the datastore refuses our
    stale version (HTTP 409 / a failed etcd compare), the release reads the block again and succeeds."""
    from ansible_collections.k8snet.calico.plugins.module_utils import datastore as transport
    from ansible_collections.k8snet.calico.plugins.module_utils.calico.store import open_store
    from ansible_collections.k8snet.calico.plugins.module_utils.datastore import connection
    from ansible_collections.k8snet.calico.plugins.module_utils.ipam import datastore, release

    _builder, facts = scenario()
    settings = connection.resolve(bed.options, environ={}, file_exists=lambda path: False)
    client = transport.connect(settings)
    try:
        ipam = datastore.open_ipam(settings, client, open_store(settings, client, api="crd"))
        state = ipam.read_state()
        block = [b for b in state.blocks if str(b.cidr) == "10.71.0.0/26"][0]
        attempts = []
        original = ipam.update_block

        def racing_update(candidate):
            if not attempts:  # the other writer: the same block, one more sequence number
                other = ipam.get_block(candidate)
                other.sequence_number += 1
                original(other)
            attempts.append(candidate.version)
            return original(candidate)
        ipam.update_block = racing_update
        gone2 = facts["leaked"]["gone-2"]
        result = release.execute(ipam, state, release.plan(state, ips=gone2))
    finally:
        client.close()
    assert sorted(result["released"]) == sorted(gone2)
    assert len(attempts) == 2 and attempts[0] == block.version and attempts[1] != block.version
    client = transport.connect(settings)  # read what is stored now
    try:
        final = datastore.open_ipam(settings, client, None).get_block(block)
        handle = datastore.open_ipam(settings, client, None).get_handle(result["handles"][0]["name"])
    finally:
        client.close()
    assert final.sequence_number == block.sequence_number + 2  # the other writer's, then ours
    assert final.allocated_count() == 10 and handle is None
