# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/install.yml with calico_install_method operator on the test bed.

The cluster is the test bed's (real kube-apiserver with the upstream operator CRDs, so the
Installation passes the real CRD validation; controllers; kwok nodes that mark the operator's pod
Ready), one for this module.

STAND-IN: nothing here runs the Tigera operator's logic (kwok only marks its pod Ready). The test
plays the operator with ``testbed.operator_standin.OperatorStandIn``: once install.yml has applied the
Installation, it renders calico-system, reports TigeraStatus ``calico`` Available and the
Installation's ``status.calicoVersion``; the test checks that install.yml waited for them, and that it
fails naming the components when one is Degraded or missing.

Proves: operator-crds.yaml and tigera-operator.yaml applied server-side (field manager
k8snet.calico), the operator image moved to calico_image_registry, the operator Deployment rolled
out, the Installation created as rendered and accepted by the API server's CRD validation (and a
bad one refused by it), BGPConfiguration and BGPPeer applied with calicoctl but no IPPool (the
operator's); the install waits for TigeraStatus; a second run changes nothing; --check --diff
writes nothing; a Degraded or missing component fails the install with a message naming it.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
import yaml

from conftest import Calicoctl, cluster_inventory, own_cluster, upstream_dir
from playbook import REPO_ROOT, run_playbook_file
from testbed.operator_standin import INSTALLATION, OPERATOR_NS, OperatorStandIn

pytestmark = [pytest.mark.playbook, pytest.mark.cluster]

INSTALL = REPO_ROOT / "playbooks" / "install.yml"
RELEASE = "v3.31.7"
POD_CIDR = "10.244.0.0/16"


def inventory_vars(workdir: Path, kubeconfig: Path, **overrides) -> dict:
    """The test cluster's inventory (conftest.cluster_inventory) with the operator method and the
    bandwidth plugin (which the operator method ignores, with a warning)."""
    return cluster_inventory(workdir, kubeconfig, RELEASE, **{
        "calico_install_method": "operator", "calico_bandwidth_plugin": True, **overrides})


class Installed:
    def __init__(self, cluster, workdir: Path, run, waited: float, calicoctl: Calicoctl, operator: OperatorStandIn):
        self.cluster, self.workdir, self.run, self.waited, self.calicoctl = cluster, workdir, run, waited, calicoctl
        self.operator = operator

    def vars(self, **overrides) -> dict:
        return inventory_vars(self.workdir, self.cluster.kubeconfig, **overrides)

    def versions(self) -> dict:
        """resourceVersion of every object the operator install writes."""
        found = {}
        for path in [f"/api/v1/namespaces/{OPERATOR_NS}/serviceaccounts", f"/apis/apps/v1/namespaces/{OPERATOR_NS}/deployments",
                     "/api/v1/namespaces", "/apis/rbac.authorization.k8s.io/v1/clusterroles",
                     "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                     "/apis/operator.tigera.io/v1/installations", "/apis/operator.tigera.io/v1/apiservers",
                     "/apis/crd.projectcalico.org/v1/bgpconfigurations", "/apis/crd.projectcalico.org/v1/bgppeers",
                     "/apis/crd.projectcalico.org/v1/ippools"]:
            for item in self.cluster.request("GET", path)["items"]:
                found[f"{path}/{item['metadata']['name']}"] = item["metadata"]["resourceVersion"]
        return found


@pytest.fixture(scope="module")
def operator_cluster(testbed_bin, tmp_path_factory):
    with own_cluster(tmp_path_factory, "operator-cluster", RELEASE) as running:
        yield running


@pytest.fixture(scope="module")
def installed(operator_cluster, testbed_bin, tmp_path_factory) -> Installed:
    """install.yml in a thread; this thread plays the operator: once the Installation exists, it
    waits 3 s more (install.yml must still be waiting then), then reports calico Available."""
    cluster = operator_cluster
    workdir = tmp_path_factory.mktemp("operator-install")
    runs = []
    thread = threading.Thread(target=lambda: runs.append(run_playbook_file(
        workdir, INSTALL, extra_vars=inventory_vars(workdir, cluster.kubeconfig), name="first")))
    thread.start()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and thread.is_alive():
        if cluster.request("GET", INSTALLATION, raw=True)[0] == 200:
            break
        time.sleep(0.5)
    assert thread.is_alive(), "install.yml ended before it applied the Installation:\n" + (
        runs[0].failure() or runs[0].stdout[-3000:] if runs else "")
    time.sleep(3)
    assert thread.is_alive(), "install.yml did not wait for TigeraStatus"
    reported = time.monotonic()
    operator = OperatorStandIn(cluster, upstream_dir() / "calico")
    operator.reconcile(RELEASE)
    thread.join(300)
    [run] = runs
    assert run.returncode == 0, run.failure() or run.stdout[-3000:] + run.stderr[-3000:]
    calicoctl = Calicoctl(testbed_bin / "calicoctl", {"DATASTORE_TYPE": "kubernetes",
                                                      "KUBECONFIG": str(cluster.kubeconfig)})
    return Installed(cluster, workdir, run, time.monotonic() - reported, calicoctl, operator)


def test_operator_applied_and_rolled_out(installed):
    deployment = installed.cluster.request("GET", f"/apis/apps/v1/namespaces/{OPERATOR_NS}/deployments/tigera-operator")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    upstream = [d for d in yaml.safe_load_all((upstream_dir() / "calico" / RELEASE / "tigera-operator.yaml").read_text())
                if d and d["kind"] == "Deployment"][0]["spec"]["template"]["spec"]["containers"][0]["image"]
    assert container["image"] == upstream.replace("quay.io/", "registry.example.internal/")
    status = deployment["status"]
    assert status["observedGeneration"] == deployment["metadata"]["generation"]
    assert status["readyReplicas"] == status["updatedReplicas"] == deployment["spec"]["replicas"] == 1
    managers = {e["manager"] for e in deployment["metadata"]["managedFields"] if e["operation"] == "Apply"}
    assert managers == {"k8snet.calico"}
    crd = installed.cluster.request("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"
                                           "installations.operator.tigera.io")
    assert {e["manager"] for e in crd["metadata"]["managedFields"] if e["operation"] == "Apply"} == {"k8snet.calico"}


# Defaults of the v3.31 Installation CRD schema that the API server fills in.
CRD_DEFAULTS = {"calicoNetwork.ipPools[0].disableBGPExport": False}


def _walk(value, path=""):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, f"{path}[{index}]")
    else:
        yield path, value


def defaults_added(live: dict, rendered: dict) -> dict:
    mine = dict(_walk(rendered))
    return {path: value for path, value in _walk(live) if path not in mine}


def without_defaults(live: dict, rendered: dict) -> dict:
    mine = dict(_walk(rendered))
    assert {path: value for path, value in _walk(live) if path in mine} == mine
    return rendered


def test_installation_is_the_render_and_the_api_server_validates_it(installed):
    live = installed.cluster.request("GET", INSTALLATION)
    rendered = [d for d in yaml.safe_load_all((installed.workdir / "rendered" / "custom-resources.yaml").read_text())
                if d][0]
    # Nothing of the render was pruned by the CRD's structural schema; the API server only added
    # the schema's defaults.
    assert without_defaults(live["spec"], rendered["spec"]) == rendered["spec"]
    assert defaults_added(live["spec"], rendered["spec"]) == CRD_DEFAULTS
    assert rendered["spec"]["calicoNetwork"] == {
        "bgp": "Enabled",
        "ipPools": [{"name": "default-ipv4-ippool", "cidr": POD_CIDR, "encapsulation": "IPIP",
                     "natOutgoing": "Disabled", "blockSize": 26}],
        "nodeAddressAutodetectionV4": {"interface": "bond4|eth0"}}
    assert live["spec"]["registry"] == "registry.example.internal/"
    # The CRD's validation is live on this API server: a value outside its enum is refused.
    bad = {"apiVersion": "operator.tigera.io/v1", "kind": "Installation", "metadata": {"name": "default"},
           "spec": {"calicoNetwork": {"ipPools": [{"cidr": POD_CIDR, "encapsulation": "GRE"}]}}}
    status, body = installed.cluster.request("PUT", INSTALLATION + "?dryRun=All",
                                             {**bad, "metadata": {**bad["metadata"],
                                                                  "resourceVersion": live["metadata"]["resourceVersion"]}},
                                             raw=True)
    assert status == 422 and "encapsulation" in json.dumps(body), body


def test_install_waited_for_tigerastatus_and_applied_our_resources(installed):
    [wait] = installed.run.task_results("k8snet.calico.calico : Wait until TigeraStatus reports each component "
                                        "Available, for at most (s) 60")
    assert wait["attempts"] >= 2, "the wait saw calico Available at once: it cannot have waited"
    assert wait["resources"][0]["metadata"]["name"] == "calico"
    assert installed.waited < 30
    bgp = json.loads(installed.calicoctl("get", "bgpconfiguration", "default", "-o", "json").stdout)["spec"]
    assert bgp["nodeToNodeMeshEnabled"] is False and bgp["asNumber"] == 64512
    assert json.loads(installed.calicoctl("get", "bgppeer", "tor-switch", "-o", "json").stdout)["spec"]["peerIP"] == \
        "10.10.0.1"
    # The IPPools are the operator's (from the Installation, created by the stand-in): the install
    # writes none of them.
    pools = json.loads(installed.calicoctl("get", "ippools", "-o", "json").stdout)["items"]
    assert [p["metadata"]["name"] for p in pools] == ["default-ipv4-ippool"]
    assert "k8snet.calico/managed-by" not in pools[0]["metadata"].get("labels", {})
    live = installed.cluster.request("GET", "/apis/crd.projectcalico.org/v1/ippools/default-ipv4-ippool")
    assert "k8snet.calico" not in {e["manager"] for e in live["metadata"]["managedFields"]}
    warnings = "\n".join(installed.run.stderr.splitlines() + [w for r in installed.run.task_results(
        f"k8snet.calico.calico : Render calico.yaml and calico-resources.yaml into {installed.workdir / 'rendered'}")
        for w in r.get("warnings", [])])
    assert "calico_bandwidth_plugin is ignored with calico_install_method 'operator'" in warnings


def test_second_run_changes_nothing(installed):
    before = installed.versions()
    rendered = {p.name: p.read_bytes() for p in (installed.workdir / "rendered").iterdir()}
    run = run_playbook_file(installed.workdir, INSTALL, extra_vars=installed.vars(), name="second")
    assert run.returncode == 0, run.failure()
    assert run.stats["changed"] == 0, run.changed_tasks()
    assert installed.versions() == before
    assert {p.name: p.read_bytes() for p in (installed.workdir / "rendered").iterdir()} == rendered


def test_check_diff_shows_the_change_and_writes_nothing(installed):
    before = installed.versions()
    rendered = {p.name: p.read_bytes() for p in (installed.workdir / "rendered").iterdir()}
    changed = installed.vars(calico_mtu=1400, calico_operator_apiserver=True)
    run = run_playbook_file(installed.workdir, INSTALL, extra_vars=changed, check=True, diff=True, name="check")
    assert run.returncode == 0, run.failure()
    render = run.result(f"k8snet.calico.calico : Render calico.yaml and calico-resources.yaml into "
                        f"{installed.workdir / 'rendered'}")
    assert render["changed"] and any("mtu: 1400" in d["after"] for d in render["diff"])
    apply = run.result("k8snet.calico.calico : Apply custom-resources.yaml (the Installation, server-side apply, "
                       "field manager k8snet.calico)")
    assert apply["changed"]
    changed_objects = sorted((r["result"]["kind"], r["result"]["metadata"]["name"]) for r in apply["result"]["results"]
                             if r["changed"])
    assert changed_objects == [("APIServer", "default"), ("Installation", "default")]
    assert not run.task_results("k8snet.calico.calico : Fail naming the components that are not Available")[0].get(
        "failed")
    assert installed.versions() == before, "check mode wrote to the cluster"
    assert {p.name: p.read_bytes() for p in (installed.workdir / "rendered").iterdir()} == rendered
    assert not list(Path("/tmp").glob("k8snet-calico-check.*")), "the temporary render was not removed"


def test_degraded_or_missing_component_fails_naming_it(installed):
    """calico Degraded and apiserver asked for (calico_operator_apiserver) but never reported."""
    installed.operator.tigerastatus("calico", available=False, degraded="Error querying installation")
    try:
        run = run_playbook_file(installed.workdir, INSTALL, name="degraded", extra_vars=installed.vars(
            calico_rollout_timeout=3, calico_operator_apiserver=True))
        assert run.returncode != 0
        message = run.failure()
        assert "did not report every component Available within calico_rollout_timeout (3 s)" in message
        assert "calico: Degraded (ResourceReadError: Error querying installation)" in message
        assert "apiserver: no TigeraStatus yet" in message
    finally:
        installed.operator.tigerastatus("calico", available=True)
        installed.cluster.request("DELETE", "/apis/operator.tigera.io/v1/apiservers/default", raw=True)


def test_felix_config_is_merged_into_the_operators_felixconfiguration(installed):
    """The operator writes fields of FelixConfiguration default (stand-in: one it sets, written as
    the operator would, by its own field manager); calico_felix_config is merged, not replaced."""
    path = "/apis/crd.projectcalico.org/v1/felixconfigurations"
    installed.cluster.request("POST", path + "?fieldManager=operator", {
        "apiVersion": "crd.projectcalico.org/v1", "kind": "FelixConfiguration", "metadata": {"name": "default"},
        "spec": {"vxlanVNI": 4096, "bpfEnabled": False}})
    try:
        variables = installed.vars(calico_felix_config={"prometheusMetricsEnabled": True})
        run = run_playbook_file(installed.workdir, INSTALL, extra_vars=variables, name="felix")
        assert run.returncode == 0, run.failure()
        [merge] = run.task_results(f"k8snet.calico.calico : Merge felix-configuration.yaml (operator method) of "
                                   f"{installed.workdir / 'rendered'}")
        assert merge["changed"]
        spec = installed.cluster.request("GET", path + "/default")["spec"]
        assert spec["prometheusMetricsEnabled"] is True
        assert spec["vxlanVNI"] == 4096 and spec["bpfEnabled"] is False, "the operator's fields were dropped"
        again = run_playbook_file(installed.workdir, INSTALL, extra_vars=variables, name="felix-again")
        assert again.returncode == 0 and again.stats["changed"] == 0, again.changed_tasks()
    finally:
        installed.cluster.request("DELETE", path + "/default", raw=True)
        run_playbook_file(installed.workdir, INSTALL, extra_vars=installed.vars(), name="restore")
