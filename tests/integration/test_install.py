# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/install.yml end to end on the test bed, and the role calicoctl against a local mirror.

The cluster is the test bed's (real kube-apiserver, controllers, scheduler; kwok nodes whose pods
become Ready, stall or crash-loop as their image says), one for this module. Its pods run no
calico-node, so the test does what calico-node does at start-up and the install must then
reconcile: create IPPool default-ipv4-ippool from CALICO_IPV4POOL_CIDR (node/pkg/lifecycle/
startup/startup.go, configureIPPools/createIPPool), through the same libcalico-go client, calicoctl.

Proves: the install renders, applies server-side, waits for the rollout and applies the resources,
updating (not duplicating) calico-node's pool; a second run changes nothing; --check --diff shows
the change and writes nothing (resourceVersions, etcd revision and rendered files unchanged); a
stalled rollout fails naming the pods that are not ready, a crash-looping one names
CrashLoopBackOff; calico_datastore etcdv3 against a real etcd with TLS (calico-etcd.yaml applied,
the resources in etcd, the key never in the output); calicoctl installed from a local HTTP mirror
with its checksum (0755 binary, 0600 calicoctl.cfg that the real calicoctl reads), a bad checksum
leaving nothing behind.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import http.server
import json
import os
import platform
import stat
import subprocess
import threading
from pathlib import Path

import pytest
import yaml

from conftest import Calicoctl, cluster_inventory, own_cluster, upstream_dir
from playbook import LOCAL_INVENTORY, REPO_ROOT, run_playbook, run_playbook_file

pytestmark = [pytest.mark.playbook, pytest.mark.cluster]

INSTALL = REPO_ROOT / "playbooks" / "install.yml"
RELEASE = "v3.31.7"
POD_CIDR = "10.244.0.0/16"
NAMESPACE = "kube-system"
WORKLOADS = [("daemonsets", "calico-node"), ("deployments", "calico-kube-controllers")]
CALICO_PLURALS = ["ippools", "bgpconfigurations", "bgppeers", "felixconfigurations"]


def inventory_vars(workdir: Path, kubeconfig: Path, **overrides) -> dict:
    """The test cluster's inventory (conftest.cluster_inventory), a shorter rollout timeout."""
    return cluster_inventory(workdir, kubeconfig, RELEASE, **{"calico_rollout_timeout": 30, **overrides})


def create_default_pool_as_calico_node(calicoctl: Calicoctl, env: dict[str, str]) -> dict:
    """What calico-node's start-up does with its environment ``env`` (configureIPPools): when no
    IPv4 pool exists, create default-ipv4-ippool from CALICO_IPV4POOL_CIDR with NAT outgoing on
    (CALICO_IPV4POOL_NAT_OUTGOING defaults to true), the IPIP/VXLAN modes of its env, block size 26
    and no node selector, through the libcalico-go client (calicoctl uses the same one)."""
    existing = json.loads(calicoctl("get", "ippools", "-o", "json").stdout)
    assert not existing.get("items"), "calico-node creates its pool only when there is none"

    def mode(value):
        return {"": "Never", "off": "Never", "never": "Never", "always": "Always",
                "crosssubnet": "CrossSubnet", "cross-subnet": "CrossSubnet"}[value.lower()]
    pool = {"apiVersion": "projectcalico.org/v3", "kind": "IPPool", "metadata": {"name": "default-ipv4-ippool"},
            "spec": {"cidr": env["CALICO_IPV4POOL_CIDR"],
                     "natOutgoing": env.get("CALICO_IPV4POOL_NAT_OUTGOING", "true").lower() == "true",
                     "ipipMode": mode(env.get("CALICO_IPV4POOL_IPIP", "")),
                     "vxlanMode": mode(env.get("CALICO_IPV4POOL_VXLAN", "")),
                     "blockSize": int(env.get("CALICO_IPV4POOL_BLOCK_SIZE", "26")),
                     "nodeSelector": env.get("CALICO_IPV4POOL_NODE_SELECTOR", ""),
                     "disableBGPExport": env.get("CALICO_IPV4POOL_DISABLE_BGP_EXPORT", "false").lower() == "true"}}
    calicoctl("create", "-f", "-", input=yaml.safe_dump(pool))
    return json.loads(calicoctl("get", "ippool", "default-ipv4-ippool", "-o", "json").stdout)


# The environment calico-node gets from the rendered manifest of inventory_vars() (checked on the
# applied DaemonSet by test_install_reconciles_the_pool_of_calico_node).
CALICO_NODE_POOL_ENV = {"CALICO_IPV4POOL_CIDR": POD_CIDR, "CALICO_IPV4POOL_IPIP": "Always",
                        "CALICO_IPV4POOL_VXLAN": "Never"}


def results_of(run, prefix: str) -> list[dict]:
    """The host results of every task whose name starts with ``prefix``."""
    return [result for play in run.report.get("plays", []) for task in play.get("tasks", [])
            if task["task"]["name"].startswith(prefix) for result in task["hosts"].values()]


class Installed:
    """The module's cluster after the first install.yml run."""

    def __init__(self, cluster, workdir: Path, run, pool_before: dict, calicoctl: Calicoctl):
        self.cluster = cluster
        self.workdir = workdir
        self.run = run
        self.pool_before = pool_before
        self.calicoctl = calicoctl

    def vars(self, **overrides) -> dict:
        return inventory_vars(self.workdir, self.cluster.kubeconfig, **overrides)

    def get(self, path: str) -> dict:
        return self.cluster.request("GET", path)

    def workload(self, plural: str, name: str) -> dict:
        return self.get(f"/apis/apps/v1/namespaces/{NAMESPACE}/{plural}/{name}")

    def versions(self) -> dict:
        """resourceVersion of every object install.yml writes: the manifest's and Calico's resources."""
        found = {}
        for path in [f"/api/v1/namespaces/{NAMESPACE}/configmaps", f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts",
                     f"/apis/apps/v1/namespaces/{NAMESPACE}/daemonsets",
                     f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments",
                     "/apis/rbac.authorization.k8s.io/v1/clusterroles",
                     "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"] + \
                [f"/apis/crd.projectcalico.org/v1/{plural}" for plural in CALICO_PLURALS]:
            for item in self.get(path)["items"]:
                found[f"{path}/{item['metadata']['name']}"] = item["metadata"]["resourceVersion"]
        return found


@pytest.fixture(scope="module")
def install_cluster(testbed_bin, tmp_path_factory):
    """A cluster of this module's own (3 kwok nodes): the install rewrites kube-system."""
    with own_cluster(tmp_path_factory, "install-cluster", RELEASE) as running:
        yield running


@pytest.fixture(scope="module")
def installed(install_cluster, testbed_bin, tmp_path_factory) -> Installed:
    """Calico's CRDs applied and the pool of calico-node created (as on a cluster where Calico
    started before the resources were applied, e.g. after the seed's `kubectl apply -f
    calico.yaml`), then install.yml."""
    cluster = install_cluster
    workdir = tmp_path_factory.mktemp("install")
    cluster.kubectl("apply", "--server-side", "-f", str(upstream_dir() / "calico" / RELEASE / "crds.yaml"))
    cluster.wait_crds_established()
    calicoctl = Calicoctl(testbed_bin / "calicoctl", {"DATASTORE_TYPE": "kubernetes",
                                                      "KUBECONFIG": str(cluster.kubeconfig)})
    pool_before = create_default_pool_as_calico_node(calicoctl, CALICO_NODE_POOL_ENV)
    run = run_playbook_file(workdir, INSTALL, extra_vars=inventory_vars(workdir, cluster.kubeconfig), name="first")
    assert run.returncode == 0, run.failure() or run.stdout[-3000:] + run.stderr[-3000:]
    return Installed(cluster, workdir, run, pool_before, calicoctl)


def test_install_rolls_out_and_applies_the_resources(installed):
    run = installed.run
    assert "k8snet.calico.calico : Apply calico.yaml (server-side apply, field manager k8snet.calico)" in \
        run.changed_tasks()
    for plural, name in WORKLOADS:
        live = installed.workload(plural, name)
        status = live["status"]
        assert status["observedGeneration"] == live["metadata"]["generation"], name
        if plural == "daemonsets":
            assert status["desiredNumberScheduled"] == 3
            assert status["numberReady"] == status["updatedNumberScheduled"] == 3
        else:
            assert status["readyReplicas"] == status["updatedReplicas"] == live["spec"]["replicas"]
        images = [c["image"] for c in live["spec"]["template"]["spec"]["containers"]]
        assert all(image.startswith("registry.example.internal/calico/") for image in images), images
        managers = {entry["manager"] for entry in live["metadata"]["managedFields"] if entry["operation"] == "Apply"}
        assert managers == {"k8snet.calico"}
    # The wait ended on what it saw: every pod updated and ready (its last look at each workload).
    [wait] = results_of(run, "k8snet.calico.calico : Wait until each workload has rolled out")
    seen = {item["item"][2]: item["resources"][0]["status"] for item in wait["results"]}
    assert seen["calico-node"]["numberReady"] == seen["calico-node"]["updatedNumberScheduled"] == 3
    assert seen["calico-kube-controllers"]["readyReplicas"] == 1

    bgp = installed.calicoctl("get", "bgpconfiguration", "default", "-o", "json")
    spec = json.loads(bgp.stdout)["spec"]
    assert spec["nodeToNodeMeshEnabled"] is False and spec["asNumber"] == 64512
    assert spec["serviceClusterIPs"] == [{"cidr": "10.96.0.0/12"}]
    peer = json.loads(installed.calicoctl("get", "bgppeer", "tor-switch", "-o", "json").stdout)["spec"]
    assert peer["peerIP"] == "10.10.0.1" and peer["asNumber"] == 64513


def test_install_reconciles_the_pool_of_calico_node(installed):
    # The env the stand-in for calico-node used is the one the install gave calico-node.
    node = installed.workload("daemonsets", "calico-node")
    container = next(c for c in node["spec"]["template"]["spec"]["containers"] if c["name"] == "calico-node")
    env = {e["name"]: e.get("value") for e in container["env"]}
    for name, value in CALICO_NODE_POOL_ENV.items():
        assert env[name] == value, name

    resources = installed.run.result("k8snet.calico.calico : Apply calico-resources.yaml of "
                                     f"{installed.workdir / 'rendered'}")
    pool_result = next(r for r in resources["results"] if r["kind"] == "IPPool")
    assert pool_result["action"] == "updated" and "spec.natOutgoing" in pool_result["diff"], pool_result
    pools = json.loads(installed.calicoctl("get", "ippools", "-o", "json").stdout)["items"]
    assert [p["metadata"]["name"] for p in pools] == ["default-ipv4-ippool"], "one pool, not two"
    pool = pools[0]
    assert pool["metadata"]["uid"] == installed.pool_before["metadata"]["uid"], "updated in place, not re-created"
    assert installed.pool_before["spec"]["natOutgoing"] is True
    assert pool["spec"].get("natOutgoing", False) is False  # omitted when false
    assert pool["spec"]["cidr"] == POD_CIDR and pool["spec"]["ipipMode"] == "Always" and pool["spec"]["blockSize"] == 26


def test_second_run_changes_nothing(installed, tmp_path):
    before = installed.versions()
    rendered = {p.name: p.read_bytes() for p in (installed.workdir / "rendered").iterdir()}
    run = run_playbook_file(installed.workdir, INSTALL, extra_vars=installed.vars(), name="second")
    assert run.returncode == 0, run.failure()
    assert run.stats["changed"] == 0, run.changed_tasks()
    [resources] = run.task_results(f"k8snet.calico.calico : Apply calico-resources.yaml of {installed.workdir / 'rendered'}")
    assert {r["action"] for r in resources["results"]} == {"unchanged"}
    assert installed.versions() == before
    assert {p.name: p.read_bytes() for p in (installed.workdir / "rendered").iterdir()} == rendered


def test_resources_entry_point_applies_the_rendered_file(installed):
    """Entry point `resources` alone, with calico_render_dir relative to $PWD as render.yml takes it."""
    before = installed.versions()
    task = {"name": "resources", "ansible.builtin.include_role": {"name": "k8snet.calico.calico",
                                                                  "tasks_from": "resources"}}
    run = run_playbook(installed.workdir / "entry", [task], extra_vars={
        "calico_render_dir": "../rendered", "calico_kubeconfig": str(installed.cluster.kubeconfig)})
    assert run.returncode == 0, run.failure()
    [result] = results_of(run, "k8snet.calico.calico : Apply calico-resources.yaml of ")
    assert {(r["kind"], r["name"], r["action"]) for r in result["results"]} == {
        ("BGPConfiguration", "default", "unchanged"), ("BGPPeer", "tor-switch", "unchanged"),
        ("IPPool", "default-ipv4-ippool", "unchanged")}
    assert installed.versions() == before


def test_check_diff_shows_the_change_and_writes_nothing(installed):
    before = installed.versions()
    rendered = {p.name: p.read_bytes() for p in (installed.workdir / "rendered").iterdir()}
    changed = installed.vars(calico_mtu=1400, calico_bgp_as_number=64999,
                             calico_bgp_peers=[{"name": "tor-switch", "peer_ip": "10.10.0.2", "as_number": 64513}])
    run = run_playbook_file(installed.workdir, INSTALL, extra_vars=changed, check=True, diff=True, name="check")
    assert run.returncode == 0, run.failure()

    render = run.result(f"k8snet.calico.calico : Render calico.yaml and calico-resources.yaml into "
                        f"{installed.workdir / 'rendered'}")
    assert render["changed"] and any("veth_mtu=1400" in d["after"] for d in render["diff"])
    apply = run.result("k8snet.calico.calico : Apply calico.yaml (server-side apply, field manager k8snet.calico)")
    changed_objects = [(r["result"]["kind"], r["result"]["metadata"]["name"]) for r in apply["result"]["results"]
                       if r["changed"]]
    assert changed_objects == [("ConfigMap", "calico-config")]
    # The dry run saw the new render (a temporary folder), not the files of the last real run.
    [resources] = results_of(run, "k8snet.calico.calico : Apply calico-resources.yaml of /tmp/k8snet-calico-check.")
    assert {(r["kind"], r["name"]): r["diff"] for r in resources["results"] if r["changed"]} == {
        ("BGPConfiguration", "default"): ["spec.asNumber"], ("BGPPeer", "tor-switch"): ["spec.peerIP"]}
    assert "asNumber: 64999" in resources["diff"]["after"] and "asNumber: 64512" in resources["diff"]["before"]

    assert installed.versions() == before, "check mode wrote to the cluster"
    assert {p.name: p.read_bytes() for p in (installed.workdir / "rendered").iterdir()} == rendered
    assert not list(Path("/tmp").glob("k8snet-calico-check.*")), "the temporary render was not removed"


def node_inventory() -> dict:
    """LOCAL_INVENTORY with one node in k8s_cluster, this machine (no become: no sudo here, and root)."""
    inventory = copy.deepcopy(LOCAL_INVENTORY)
    inventory["all"]["children"]["k8s_cluster"]["hosts"] = {"node-1": {
        "ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
        "ansible_become": False}}
    return inventory


def test_install_yml_installs_calicoctl_on_the_nodes(installed, mirror, tmp_path):
    variables = {**installed.vars(), **role_vars(tmp_path, mirror, calicoctl_kubeconfig="/etc/kubernetes/admin.conf")}
    run = run_playbook_file(installed.workdir, INSTALL, inventory=node_inventory(), extra_vars=variables,
                            name="with-node")
    assert run.returncode == 0, run.failure()
    # The cluster was already as the inventory says; only the node changed.
    assert run.report["stats"]["localhost"]["changed"] == 0
    assert run.report["stats"]["node-1"]["changed"] > 0
    assert all(name.startswith("k8snet.calico.calicoctl : ") for name in run.changed_tasks()), run.changed_tasks()
    binary = tmp_path / "node" / "bin" / "calicoctl"
    config = tmp_path / "node" / "etc" / "calico" / "calicoctl.cfg"
    assert binary.read_bytes() == STAND_IN and mode(binary) == 0o755 and mode(config) == 0o600
    assert yaml.safe_load(config.read_text())["spec"] == {"datastoreType": "kubernetes",
                                                          "kubeconfig": "/etc/kubernetes/admin.conf"}


def test_install_yml_without_calicoctl_checksum_fails_first(installed, mirror, tmp_path):
    before = installed.versions()
    variables = {**installed.vars(calico_bgp_as_number=65000),
                 **role_vars(tmp_path, mirror, calicoctl_checksum="")}
    run = run_playbook_file(installed.workdir, INSTALL, inventory=node_inventory(), extra_vars=variables,
                            name="no-checksum")
    assert run.returncode != 0
    assert "calicoctl_checksum is required when calicoctl_install is true" in run.failure()
    assert not results_of(run, "k8snet.calico.calico : "), "the install started"
    assert installed.versions() == before and not mirror.requests


@pytest.mark.parametrize("marker,reasons", [
    ("kwok-stall", ["container calico-node running, not passing its readiness probe"]),
    ("kwok-crash", ["container calico-node CrashLoopBackOff (back-off restarting failed container), 5 restarts",
                    "last exit code 1 (Error)"]),
], ids=["stall", "crash"])
def test_failed_rollout_names_the_pods_and_why(installed, marker, reasons):
    failing = installed.vars(calico_image_registry=f"registry.test/{marker}", calico_rollout_timeout=5)
    run = run_playbook_file(installed.workdir, INSTALL, extra_vars=failing, name=marker)
    assert run.returncode != 0
    message = run.failure()
    assert "DaemonSet kube-system/calico-node did not roll out within calico_rollout_timeout (5 s)" in message
    # Every pod that runs the failing image and is not ready is named, with the reason.
    pods = installed.get(f"/api/v1/namespaces/{NAMESPACE}/pods?labelSelector=k8s-app%3Dcalico-node")["items"]
    failing_pods = [p["metadata"]["name"] for p in pods if marker in p["spec"]["containers"][0]["image"]]
    assert failing_pods
    for name in failing_pods:
        assert f"{name} on node-" in message
    for reason in reasons:
        assert reason in message
    assert "calico-kube-controllers" in message
    # Nothing after the failed wait ran: the resources were not applied.
    assert not results_of(run, "k8snet.calico.calico : Apply calico-resources.yaml")


@pytest.mark.etcd
def test_etcd_datastore(installed, etcd_tls_server, testbed_bin):
    etcd = etcd_tls_server
    calicoctl = Calicoctl(testbed_bin / "calicoctl", etcd.env())
    pool_before = create_default_pool_as_calico_node(calicoctl, CALICO_NODE_POOL_ENV)
    variables = installed.vars(calico_datastore="etcdv3", calico_etcd_endpoints=[etcd.endpoint],
                               calico_etcd_ca_cert=str(etcd.ca.cert_path), calico_etcd_cert=str(etcd.client_cert.cert),
                               calico_etcd_key=str(etcd.client_cert.key),
                               calico_render_dir=str(installed.workdir / "rendered-etcd"))
    run = run_playbook_file(installed.workdir, INSTALL, extra_vars=variables, diff=True, name="etcd")
    assert run.returncode == 0, run.failure()

    # calico-etcd.yaml on the cluster: the endpoints, and the TLS files in the Secret.
    config = installed.get(f"/api/v1/namespaces/{NAMESPACE}/configmaps/calico-config")["data"]
    assert config["etcd_endpoints"] == etcd.endpoint
    secret = installed.get(f"/api/v1/namespaces/{NAMESPACE}/secrets/calico-etcd-secrets")["data"]
    key_pem = etcd.client_cert.key.read_bytes()
    assert base64.b64decode(secret["etcd-key"]) == key_pem
    # The key is in no output (the Secret's task hides it, the render's diff redacts it).
    key_body = "".join(key_pem.decode().strip().splitlines()[1:-1])
    for line in key_pem.decode().strip().splitlines()[1:-1]:
        assert line not in run.stdout
    assert key_body[:40] not in run.stdout and base64.b64encode(key_pem).decode()[:40] not in run.stdout
    for plural, name in WORKLOADS:
        status = installed.workload(plural, name)["status"]
        assert status.get("numberReady", status.get("readyReplicas")) >= 1

    # The resources are in etcd, calico-node's pool updated in place.
    stored = etcd.get_prefix("/calico/resources/v3/projectcalico.org/")
    assert {key.rsplit("/", 2)[-2] + "/" + key.rsplit("/", 1)[-1] for key in stored} >= {
        "bgpconfigurations/default", "bgppeers/tor-switch", "ippools/default-ipv4-ippool"}
    pool = json.loads(calicoctl("get", "ippool", "default-ipv4-ippool", "-o", "json").stdout)
    assert pool["metadata"]["uid"] == pool_before["metadata"]["uid"] and not pool["spec"].get("natOutgoing")
    assert len(json.loads(calicoctl("get", "ippools", "-o", "json").stdout)["items"]) == 1

    revision = etcd.revision()
    again = run_playbook_file(installed.workdir, INSTALL, extra_vars=variables, name="etcd-again")
    assert again.returncode == 0, again.failure()
    assert again.stats["changed"] == 0, again.changed_tasks()
    assert etcd.revision() == revision


# --- role calicoctl ------------------------------------------------------------------------


class Mirror:
    """A local HTTP mirror of release files (python http.server in a thread), recording requests."""

    def __init__(self, root: Path):
        self.root = root
        self.requests: list[str] = []
        mirror = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(root), **kwargs)

            def do_GET(self):  # noqa: N802 - http.server's name
                mirror.requests.append(self.path)
                super().do_GET()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


ARCH = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
STAND_IN = b"#!/bin/sh\n# stand-in for calicoctl\necho 'Client Version:    v3.31.7'\n"


@pytest.fixture
def mirror(tmp_path):
    folder = tmp_path / "mirror" / "calico" / RELEASE
    folder.mkdir(parents=True)
    (folder / f"calicoctl-linux-{ARCH}").write_bytes(STAND_IN)
    with Mirror(tmp_path / "mirror") as running:
        yield running


def role_vars(tmp_path: Path, mirror: Mirror, **overrides) -> dict:
    variables = {
        "calico_version": RELEASE,
        "calicoctl_download_url": mirror.url + "/calico/{{ calicoctl_version }}/calicoctl-linux-{{ calicoctl_arch }}",
        "calicoctl_checksum": "sha256:" + hashlib.sha256(STAND_IN).hexdigest(),
        "calicoctl_bin_dir": str(tmp_path / "node" / "bin"),
        "calicoctl_config_dir": str(tmp_path / "node" / "etc" / "calico"),
    }
    variables.update(overrides)
    return variables


ROLE = [{"name": "calicoctl", "ansible.builtin.include_role": {"name": "k8snet.calico.calicoctl"}}]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_calicoctl_role_installs_from_the_mirror(tmp_path, mirror, installed, testbed_bin):
    variables = role_vars(tmp_path, mirror, calicoctl_kubeconfig=str(installed.cluster.kubeconfig),
                          calicoctl_context="testbed")
    run = run_playbook(tmp_path / "run1", ROLE, extra_vars=variables)
    assert run.returncode == 0, run.failure() or run.stdout[-3000:]
    binary = tmp_path / "node" / "bin" / "calicoctl"
    config = tmp_path / "node" / "etc" / "calico" / "calicoctl.cfg"
    assert binary.read_bytes() == STAND_IN and mode(binary) == 0o755
    assert subprocess.run([str(binary)], capture_output=True, text=True, check=True).stdout.startswith("Client Version")
    assert mirror.requests == [f"/calico/{RELEASE}/calicoctl-linux-{ARCH}"]
    assert mode(config) == 0o600
    assert yaml.safe_load(config.read_text()) == {
        "apiVersion": "projectcalico.org/v3", "kind": "CalicoAPIConfig", "metadata": {},
        "spec": {"datastoreType": "kubernetes", "kubeconfig": str(installed.cluster.kubeconfig),
                 "k8sCurrentContext": "testbed"}}
    # The real calicoctl reads it and reaches the cluster through it.
    pools = subprocess.run([str(testbed_bin / "calicoctl"), "get", "ippools", "--config", str(config)],
                           capture_output=True, text=True, check=False, env={"PATH": os.environ["PATH"]})
    assert pools.returncode == 0 and "default-ipv4-ippool" in pools.stdout, pools.stderr

    # Again, with the checksum given per architecture: nothing changes, nothing is downloaded.
    again = run_playbook(tmp_path / "run2", ROLE, extra_vars={
        **variables, "calicoctl_checksum": {ARCH: variables["calicoctl_checksum"], "s390x": "sha256:" + "0" * 64}})
    assert again.returncode == 0, again.failure()
    assert again.stats["changed"] == 0, again.changed_tasks()
    assert len(mirror.requests) == 1


@pytest.mark.etcd
def test_calicoctl_role_etcd_config_with_inline_tls(tmp_path, mirror, etcd_tls_server, testbed_bin):
    etcd = etcd_tls_server
    variables = role_vars(tmp_path, mirror, calico_datastore="etcdv3", calico_etcd_endpoints=[etcd.endpoint],
                          calico_etcd_ca_cert=str(etcd.ca.cert_path), calico_etcd_cert=str(etcd.client_cert.cert),
                          calico_etcd_key=str(etcd.client_cert.key))
    run = run_playbook(tmp_path / "run", ROLE, extra_vars=variables, diff=True)
    assert run.returncode == 0, run.failure()
    config = tmp_path / "node" / "etc" / "calico" / "calicoctl.cfg"
    assert mode(config) == 0o600
    spec = yaml.safe_load(config.read_text())["spec"]
    assert spec == {"datastoreType": "etcdv3", "etcdEndpoints": etcd.endpoint,
                    "etcdCACert": etcd.ca.cert_path.read_text().strip() + "\n",
                    "etcdCert": etcd.client_cert.cert.read_text().strip() + "\n",
                    "etcdKey": etcd.client_cert.key.read_text().strip() + "\n"}
    key_line = etcd.client_cert.key.read_text().strip().splitlines()[1]
    assert key_line not in run.stdout, "the key reached the output (--diff)"
    # The real calicoctl reads the inline TLS files and reaches etcd.
    listed = subprocess.run([str(testbed_bin / "calicoctl"), "get", "ippools", "--config", str(config)],
                            capture_output=True, text=True, check=False, env={"PATH": os.environ["PATH"]})
    assert listed.returncode == 0, listed.stderr


def test_calicoctl_role_bad_checksum_leaves_nothing(tmp_path, mirror):
    wrong = "sha256:" + hashlib.sha256(b"another file").hexdigest()
    run = run_playbook(tmp_path / "run", ROLE, extra_vars=role_vars(tmp_path, mirror, calicoctl_checksum=wrong))
    assert run.returncode != 0
    assert f"calicoctl_checksum: '{wrong}' does not match" in run.failure()
    assert mirror.requests, "it was downloaded and then refused"
    assert not (tmp_path / "node").exists(), list((tmp_path / "node").rglob("*"))


def test_calicoctl_role_requires_a_checksum(tmp_path, mirror):
    run = run_playbook(tmp_path / "run", ROLE, extra_vars=role_vars(tmp_path, mirror, calicoctl_checksum=""))
    assert run.returncode != 0
    assert "calicoctl_checksum is required when calicoctl_install is true" in run.failure()
    assert not mirror.requests and not (tmp_path / "node").exists()
    # calicoctl_install: false makes the role do nothing, checksum or not.
    skipped = run_playbook(tmp_path / "run2", ROLE, extra_vars=role_vars(
        tmp_path, mirror, calicoctl_checksum="", calicoctl_install=False))
    assert skipped.returncode == 0 and skipped.stats["changed"] == 0
    assert not mirror.requests and not (tmp_path / "node").exists()


def test_calicoctl_version_follows_the_calico_default():
    """calicoctl_version defaults to calico_version, and to the same release when that is unset."""
    calico = yaml.safe_load((REPO_ROOT / "roles" / "calico" / "defaults" / "main.yml").read_text())
    calicoctl = yaml.safe_load((REPO_ROOT / "roles" / "calicoctl" / "defaults" / "main.yml").read_text())
    assert calicoctl["calicoctl_version"] == "{{ calico_version | default('%s') }}" % calico["calico_version"]
