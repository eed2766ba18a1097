# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Day-2 playbooks on a cluster installed with calico_install_method operator.

One test cluster for the module (real kube-apiserver with the upstream operator CRDs, kwok
nodes), installed by install.yml as tests/integration/test_install_operator.py does; a second,
fresh test cluster for install.yml --check --diff before any CRD exists.

STAND-IN: nothing runs the Tigera operator's logic; ``testbed.operator_standin.OperatorStandIn`` plays it
(renders calico-system from the Installation, with the metrics env and Services as the operator's
source does, reports TigeraStatus and status.calicoVersion, and re-renders when the Installation or
KubeControllersConfiguration default changes). Everything else is real: kube-apiserver, the
operator's CRDs, ansible-playbook, calicoctl, BIRD.

Proves: install.yml --check --diff on a fresh cluster returns 0, says what it cannot dry-run and
creates nothing; monitoring.yml with only calico_install_method operator works in calico-system,
switches Felix/Typha metrics on through the Installation (never the operator's workloads), selects
the operator's metrics Services instead of duplicating them, survives an install re-run, changes
nothing on a second run, writes nothing in check mode, and absent restores only what it changed;
the calicoctl module writes BGPPeers and Node labels and refuses an IPPool of the Installation;
tor_to_rr.yml plans in check mode from the operator install's Nodes and writes nothing.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from conftest import Calicoctl, cluster_inventory, own_cluster, upstream_dir
from playbook import REPO_ROOT, run_playbook, run_playbook_file
from testbed.operator_standin import CALICO_NS, INSTALLATION, OperatorStandIn

pytestmark = [pytest.mark.playbook, pytest.mark.cluster]

INSTALL = REPO_ROOT / "playbooks" / "install.yml"
RELEASE = "v3.31.7"


def inventory_vars(workdir: Path, kubeconfig: Path, **overrides) -> dict:
    """The test cluster's inventory with the operator method."""
    return cluster_inventory(workdir, kubeconfig, RELEASE, **{"calico_install_method": "operator", **overrides})


def cluster_objects(cluster) -> dict:
    """{path/name: resourceVersion} of the kinds an install may create (CRDs, namespaces,
    cluster-wide RBAC, the operator's objects)."""
    found = {}
    for path in ["/api/v1/namespaces", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                 "/apis/rbac.authorization.k8s.io/v1/clusterroles", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
                 "/apis/apps/v1/deployments", "/apis/apps/v1/daemonsets", "/api/v1/serviceaccounts",
                 "/api/v1/configmaps"]:
        for item in cluster.request("GET", path)["items"]:
            meta = item["metadata"]
            if path == "/api/v1/namespaces":
                version = meta["name"]  # namespace status is rewritten by the controllers
            else:
                version = meta["resourceVersion"]
            found[f"{path}/{meta.get('namespace', '')}/{meta['name']}"] = version
    return found


def settled_objects(cluster, timeout: float = 60) -> dict:
    """cluster_objects once the controllers of a cluster just started have stopped writing
    (aggregated ClusterRoles, root CA ConfigMaps, default ServiceAccounts): two equal reads 2 s apart."""
    deadline = time.monotonic() + timeout
    last = cluster_objects(cluster)
    while time.monotonic() < deadline:
        time.sleep(2)
        now = cluster_objects(cluster)
        if now == last:
            return now
        last = now
    raise AssertionError("the fresh cluster kept changing for 60 s")


@pytest.fixture(scope="module")
def fresh_cluster(testbed_bin, tmp_path_factory):
    with own_cluster(tmp_path_factory, "fresh-cluster", RELEASE) as running:
        yield running


def test_install_check_diff_on_a_fresh_cluster_writes_nothing(fresh_cluster, tmp_path):
    before = settled_objects(fresh_cluster)
    started = time.monotonic()
    run = run_playbook_file(tmp_path, INSTALL, extra_vars=inventory_vars(tmp_path, fresh_cluster.kubeconfig),
                            check=True, diff=True, name="fresh-check")
    took = time.monotonic() - started
    print(f"\ninstall.yml --check --diff on a fresh cluster: {took:.1f}s")
    assert run.returncode == 0, run.failure() or run.stdout[-4000:] + run.stderr[-3000:]
    assert cluster_objects(fresh_cluster) == before, "check mode wrote to the cluster"
    said = run.result("k8snet.calico.calico : Say what cannot be dry-run before the operator's namespace exists "
                      "(check mode)")
    assert said["changed"] and "Namespace tigera-operator does not exist yet" in said["msg"]
    assert "Deployment tigera-operator/tigera-operator" in said["msg"]
    dry = run.result("k8snet.calico.calico : Apply tigera-operator.yaml (server-side apply, field manager k8snet.calico)")
    assert dry["changed"]
    kinds = sorted({r["result"]["kind"] for r in dry["result"]["results"]})
    assert "Namespace" in kinds and "ClusterRole" in kinds and "Deployment" not in kinds, kinds
    installation = run.result("k8snet.calico.calico : Say why the Installation is not dry-run (check mode)")
    assert installation["changed"] and "Installation default" in installation["msg"]
    assert "installations.operator.tigera.io" in installation["msg"]
    resources = run.result("k8snet.calico.calico : Say why the resources are not dry-run")
    assert "operator-crds.yaml" in resources["msg"], resources["msg"]
    assert not run.task_results("k8snet.calico.calico : Apply custom-resources.yaml (the Installation, server-side "
                                "apply, field manager k8snet.calico)")[0].get("changed")


# -- the operator install ----------------------------------------------------------------------

MONITORING = REPO_ROOT / "playbooks" / "monitoring.yml"
MON_NS = "monitoring"
MANAGED = "app.kubernetes.io/managed-by=k8snet.calico,app.kubernetes.io/part-of=calico-monitoring"
PREVIOUS = "k8snet.calico/monitoring-previous"
MONITORING_ROLE = "k8snet.calico.calico_monitoring : "


class Installed:
    def __init__(self, cluster, workdir: Path, calicoctl: Calicoctl, operator: OperatorStandIn, took: float):
        self.cluster, self.workdir, self.calicoctl, self.operator, self.took = cluster, workdir, calicoctl, operator, took

    def vars(self, **overrides) -> dict:
        return inventory_vars(self.workdir, self.cluster.kubeconfig, **overrides)

    def get(self, path: str):
        status, body = self.cluster.request("GET", path, raw=True)
        return body if status == 200 else None

    def wait_for(self, what: str, check, timeout: float = 30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = check()
            if found:
                return found
            time.sleep(0.3)
        raise AssertionError(f"the operator stand-in did not {what} within {timeout} s")


@pytest.fixture(scope="module")
def operator_cluster(testbed_bin, tmp_path_factory):
    with own_cluster(tmp_path_factory, "operator-day2-cluster", RELEASE) as running:
        yield running


@pytest.fixture(scope="module")
def installed(operator_cluster, testbed_bin, tmp_path_factory) -> Installed:
    """install.yml (operator method) while the stand-in plays the operator (watching, as in
    test_upgrade_operator.py): it renders calico-system for the operator image, and again whenever
    the Installation or KubeControllersConfiguration default changes, as the operator does."""
    cluster = operator_cluster
    workdir = tmp_path_factory.mktemp("operator-day2")
    operator = OperatorStandIn(cluster, upstream_dir() / "calico").watch()
    started = time.monotonic()
    run = run_playbook_file(workdir, INSTALL, extra_vars=inventory_vars(workdir, cluster.kubeconfig), name="install")
    assert run.returncode == 0, run.failure() or run.stdout[-3000:] + run.stderr[-3000:]
    took = time.monotonic() - started
    calicoctl = Calicoctl(testbed_bin / "calicoctl", {"DATASTORE_TYPE": "kubernetes",
                                                      "KUBECONFIG": str(cluster.kubeconfig)})
    # What calico-kube-controllers writes when it starts (its default metrics port, 9094).
    calicoctl("create", "-f", "-", input=yaml.safe_dump({
        "apiVersion": "projectcalico.org/v3", "kind": "KubeControllersConfiguration", "metadata": {"name": "default"},
        "spec": {"controllers": {"node": {"reconcilerPeriod": "5m", "syncLabels": "Enabled"}},
                 "prometheusMetricsPort": 9094}}))
    print(f"\ninstall.yml (operator method) on the test cluster: {took:.1f}s")
    bed = Installed(cluster, workdir, calicoctl, operator, took)
    bed.wait_for("render calico-kube-controllers-metrics",
                 lambda: bed.get(f"/api/v1/namespaces/{CALICO_NS}/services/calico-kube-controllers-metrics"))
    yield bed
    operator.stop()
    assert not operator.errors, operator.errors


# -- monitoring.yml ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def monitoring(installed):
    from testbed.cluster import operator_crd
    cluster = installed.cluster
    for crd in [operator_crd("ServiceMonitor", "servicemonitors"), operator_crd("PrometheusRule", "prometheusrules")]:
        cluster.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
    cluster.wait_crds_established()
    for _attempt in range(50):
        if cluster.request("GET", "/apis/monitoring.coreos.com/v1", raw=True)[0] == 200:
            break
        time.sleep(0.2)
    cluster.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": MON_NS}})
    return installed


def monitoring_vars(installed, **overrides) -> dict:
    """Only calico_install_method says operator: the Calico namespace follows by itself."""
    variables = {"calico_kubeconfig": str(installed.cluster.kubeconfig), "calico_context": "testbed",
                 "calico_install_method": "operator", "calico_monitoring_namespace": MON_NS,
                 "calico_render_dir": str(installed.workdir / "rendered-monitoring")}
    variables.update(overrides)
    return variables


def managed(installed) -> dict:
    found = {}
    for path in [f"/api/v1/namespaces/{CALICO_NS}/services", f"/api/v1/namespaces/{MON_NS}/configmaps",
                 f"/apis/monitoring.coreos.com/v1/namespaces/{MON_NS}/servicemonitors",
                 f"/apis/monitoring.coreos.com/v1/namespaces/{MON_NS}/prometheusrules"]:
        for item in installed.get(f"{path}?labelSelector={MANAGED}")["items"]:
            found[f"{path.rsplit('/', 1)[1]}/{item['metadata']['name']}"] = item["metadata"]["resourceVersion"]
    return found


def monitoring_versions(installed) -> dict:
    found = managed(installed)
    found["installation"] = installed.get(INSTALLATION)["metadata"]["generation"]
    found["installation-annotations"] = installed.get(INSTALLATION)["metadata"].get("annotations")
    for plural in ["felixconfigurations", "kubecontrollersconfigurations"]:
        item = installed.get(f"/apis/crd.projectcalico.org/v1/{plural}/default")
        found[plural] = item and item["metadata"]["resourceVersion"]
    for kind, name in [("daemonsets", "calico-node"), ("deployments", "calico-typha"),
                       ("deployments", "calico-kube-controllers")]:
        found[name] = installed.get(f"/apis/apps/v1/namespaces/{CALICO_NS}/{kind}/{name}")["metadata"]["generation"]
    return found


def env_of(installed, kind: str, name: str) -> dict:
    workload = installed.get(f"/apis/apps/v1/namespaces/{CALICO_NS}/{kind}/{name}")
    container = workload["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value") for e in container.get("env", [])}


def test_monitoring_present_on_the_operator_install(monitoring):
    installed = monitoring
    felix_before = installed.get("/apis/crd.projectcalico.org/v1/felixconfigurations/default")
    started = time.monotonic()
    run = run_playbook_file(installed.workdir, MONITORING, extra_vars=monitoring_vars(installed), name="mon-present")
    print(f"\nmonitoring.yml present on the operator install: {time.monotonic() - started:.1f}s")
    assert run.returncode == 0, run.failure() or run.stdout[-3000:]
    # Felix and Typha metrics: the Installation, by a merge patch; the values it replaced recorded.
    live = installed.get(INSTALLATION)
    assert live["spec"]["nodeMetricsPort"] == 9091 and live["spec"]["typhaMetricsPort"] == 9093
    assert json.loads(live["metadata"]["annotations"][PREVIOUS]) == {"nodeMetricsPort": None, "typhaMetricsPort": None}
    assert live["spec"]["calicoNetwork"]["ipPools"][0]["cidr"] == "10.244.0.0/16", "the install's fields stay"
    # FelixConfiguration is not the switch with the operator (nodeMetricsPort's env wins): untouched.
    assert installed.get("/apis/crd.projectcalico.org/v1/felixconfigurations/default") == felix_before
    # Nothing the operator owns was written by the role.
    for kind, name in [("daemonsets", "calico-node"), ("deployments", "calico-typha")]:
        managers = {e["manager"] for e in installed.get(
            f"/apis/apps/v1/namespaces/{CALICO_NS}/{kind}/{name}")["metadata"]["managedFields"]}
        assert "k8snet.calico.monitoring" not in managers, (name, managers)
    # Our objects: Felix's Service only (the operator makes Typha's and kube-controllers').
    assert sorted(managed(installed)) == [
        "configmaps/calico-dashboard-felix", "configmaps/calico-dashboard-kube-controllers",
        "configmaps/calico-dashboard-typha", "prometheusrules/calico",
        "servicemonitors/calico-felix-metrics", "servicemonitors/calico-kube-controllers-metrics",
        "servicemonitors/calico-typha-metrics", "services/calico-felix-metrics"]
    # The operator (stand-in) renders the env and Service calico-typha-metrics from the Installation.
    installed.wait_for("render Typha's metrics Service",
                       lambda: installed.get(f"/api/v1/namespaces/{CALICO_NS}/services/calico-typha-metrics"))
    installed.wait_for("render calico-node's metrics env",
                       lambda: env_of(installed, "daemonsets", "calico-node").get("FELIX_PROMETHEUSMETRICSPORT") == "9091")
    assert env_of(installed, "deployments", "calico-typha")["TYPHA_PROMETHEUSMETRICSPORT"] == "9093"
    # Each ServiceMonitor selects exactly one Service of calico-system, by its labels and port name.
    services = installed.get(f"/api/v1/namespaces/{CALICO_NS}/services")["items"]
    for name in ["calico-felix-metrics", "calico-typha-metrics", "calico-kube-controllers-metrics"]:
        monitor = installed.get(f"/apis/monitoring.coreos.com/v1/namespaces/{MON_NS}/servicemonitors/{name}")
        match = monitor["spec"]["selector"]["matchLabels"]
        selected = [s for s in services if match.items() <= (s["metadata"].get("labels") or {}).items()]
        assert [s["metadata"]["name"] for s in selected] == [name], (name, match)
        assert monitor["spec"]["namespaceSelector"] == {"matchNames": [CALICO_NS]}
        assert monitor["spec"]["endpoints"][0]["port"] in [p["name"] for p in selected[0]["spec"]["ports"]]
    kcc = json.loads(installed.calicoctl("get", "kubecontrollersconfiguration", "default", "-o", "json").stdout)
    assert kcc["spec"]["prometheusMetricsPort"] == 9094 and PREVIOUS not in kcc["metadata"].get("annotations", {})


def test_the_install_rerun_keeps_the_metrics_fields(monitoring):
    """install.yml applies custom-resources.yaml server-side (field manager k8snet.calico), which does
    not list nodeMetricsPort / typhaMetricsPort: a re-run of the install keeps what monitoring.yml set."""
    installed = monitoring
    run = run_playbook_file(installed.workdir, INSTALL, extra_vars=installed.vars(), name="install-again")
    assert run.returncode == 0, run.failure()
    assert run.stats["changed"] == 0, run.changed_tasks()
    spec = installed.get(INSTALLATION)["spec"]
    assert spec["nodeMetricsPort"] == 9091 and spec["typhaMetricsPort"] == 9093


def test_monitoring_second_run_changes_nothing(monitoring):
    installed = monitoring
    before = monitoring_versions(installed)
    run = run_playbook_file(installed.workdir, MONITORING, extra_vars=monitoring_vars(installed), name="mon-again")
    assert run.returncode == 0, run.failure()
    assert run.stats["changed"] == 0, run.changed_tasks()
    assert monitoring_versions(installed) == before


def test_monitoring_check_diff_writes_nothing(monitoring):
    installed = monitoring
    before = monitoring_versions(installed)
    run = run_playbook_file(installed.workdir, MONITORING, check=True, diff=True, name="mon-check",
                            extra_vars=monitoring_vars(installed, calico_felix_metrics_port=9095,
                                                       calico_monitoring_scrape_interval="15s"))
    assert run.returncode == 0, run.failure()
    patch = run.result(MONITORING_ROLE + "Turn Felix and Typha metrics on in Installation default (merge patch)")
    assert patch["changed"]
    assert patch["diff"]["after"]["spec"]["nodeMetricsPort"] == 9095
    assert patch["diff"]["before"]["spec"]["nodeMetricsPort"] == 9091
    assert run.result(MONITORING_ROLE + "Apply the metrics Services, ServiceMonitors, PrometheusRule and "
                                        "dashboards")["changed"]
    time.sleep(1)
    assert monitoring_versions(installed) == before, "check mode wrote to the cluster"


def test_monitoring_absent_restores_only_what_it_changed(monitoring):
    installed = monitoring
    run = run_playbook_file(installed.workdir, MONITORING, name="mon-absent",
                            extra_vars=monitoring_vars(installed, calico_monitoring_state="absent"))
    assert run.returncode == 0, run.failure()
    live = installed.get(INSTALLATION)
    assert "nodeMetricsPort" not in live["spec"] and "typhaMetricsPort" not in live["spec"]
    assert PREVIOUS not in (live["metadata"].get("annotations") or {})
    assert live["spec"]["calicoNetwork"]["ipPools"][0]["cidr"] == "10.244.0.0/16"
    assert managed(installed) == {}
    # The operator drops what it rendered from the Installation; kube-controllers' Service (its
    # port was not ours to change) stays.
    installed.wait_for("delete Service calico-typha-metrics",
                       lambda: installed.get(f"/api/v1/namespaces/{CALICO_NS}/services/calico-typha-metrics") is None)
    installed.wait_for("drop calico-node's metrics env",
                       lambda: "FELIX_PROMETHEUSMETRICSPORT" not in env_of(installed, "daemonsets", "calico-node"))
    assert installed.get(f"/api/v1/namespaces/{CALICO_NS}/services/calico-kube-controllers-metrics")
    again = run_playbook_file(installed.workdir, MONITORING, name="mon-absent-again",
                              extra_vars=monitoring_vars(installed, calico_monitoring_state="absent"))
    assert again.returncode == 0 and again.stats["changed"] == 0, again.changed_tasks()


# -- the calicoctl module and tor_to_rr.yml ----------------------------------------------------

TOR_TO_RR = REPO_ROOT / "playbooks" / "tor_to_rr.yml"
CLUSTER_ID = "244.0.0.1"


def calicoctl_task(installed, name: str, **params) -> dict:
    return {"name": name, "k8snet.calico.calicoctl": {"kubeconfig": str(installed.cluster.kubeconfig),
                                                      "context": "testbed", **params}}


def calico_nodes(installed) -> dict:
    """Calico Node resources for the kwok nodes, as calico-node writes them at start-up (the
    projectcalico.org annotations of the Kubernetes Node): name -> BGP address."""
    found = {}
    for node in installed.cluster.nodes:
        installed.cluster.kubectl("annotate", "--overwrite", "node", node.name,
                                  f"projectcalico.org/IPv4Address={node.internal_ip}/24")
        found[node.name] = node.internal_ip
    return found


def test_calicoctl_bgppeer_and_node_labels(installed, tmp_path):
    nodes = calico_nodes(installed)
    first = sorted(nodes)[0]
    definition = [{"apiVersion": "projectcalico.org/v3", "kind": "BGPPeer", "metadata": {"name": "rack-peer"},
                   "spec": {"peerIP": "10.10.0.9", "asNumber": 64513, "nodeSelector": "rack == 'r1'"}}]
    labels = [{"apiVersion": "projectcalico.org/v3", "kind": "Node",
               "metadata": {"name": first, "labels": {"rack": "r1"}}}]
    tasks = [calicoctl_task(installed, "peer", definition=definition),
             calicoctl_task(installed, "labels", definition=labels, state="patched")]
    run = run_playbook(tmp_path / "1", tasks)
    assert run.returncode == 0, run.failure()
    assert run.result("peer")["results"][0]["action"] == "created"
    assert run.result("labels")["results"][0]["action"] == "updated"
    node = json.loads(installed.calicoctl("get", "node", first, "-o", "json").stdout)
    assert node["metadata"]["labels"]["rack"] == "r1"
    assert node["spec"]["bgp"]["ipv4Address"] == f"{nodes[first]}/24"
    peer = json.loads(installed.calicoctl("get", "bgppeer", "rack-peer", "-o", "json").stdout)
    assert peer["spec"]["peerIP"] == "10.10.0.9"
    again = run_playbook(tmp_path / "2", tasks)
    assert again.returncode == 0 and again.changed_tasks() == [], again.changed_tasks()
    cleanup = run_playbook(tmp_path / "3", [calicoctl_task(installed, "gone", definition=definition, state="absent")])
    assert cleanup.returncode == 0, cleanup.failure()


def test_calicoctl_refuses_an_ippool_the_operator_owns(installed, tmp_path):
    """The Installation's calicoNetwork.ipPools are the operator's: the module refuses to write one
    (check mode too); a pool the Installation does not name stays the module's to write."""
    pools = "/apis/crd.projectcalico.org/v1/ippools"
    before = installed.get(pools)["items"]
    owned = [{"apiVersion": "projectcalico.org/v3", "kind": "IPPool", "metadata": {"name": "default-ipv4-ippool"},
              "spec": {"cidr": "10.244.0.0/16", "ipipMode": "Never", "vxlanMode": "Always", "blockSize": 26}}]
    for check in (False, True):
        run = run_playbook(tmp_path / f"owned-{check}", [calicoctl_task(installed, "pool", definition=owned)],
                           check=check)
        assert run.returncode != 0
        message = run.failure()
        assert ("IPPool/default-ipv4-ippool (update): Installation default names it in "
                "spec.calicoNetwork.ipPools[0].name 'default-ipv4-ippool'") in message, message
        assert "nothing was written" in message and "re-run install.yml" in message
    assert installed.get(pools)["items"] == before
    other = [{"apiVersion": "projectcalico.org/v3", "kind": "IPPool", "metadata": {"name": "extra-pool"},
              "spec": {"cidr": "10.250.0.0/16", "ipipMode": "Never", "vxlanMode": "Never", "blockSize": 26,
                       "disabled": True}}]
    run = run_playbook(tmp_path / "other", [calicoctl_task(installed, "pool", definition=other),
                                            calicoctl_task(installed, "gone", definition=other, state="absent")])
    assert run.returncode == 0, run.failure()
    assert run.result("pool")["results"][0]["action"] == "created"


def _nodes_and_peers(installed) -> dict:
    nodes = installed.cluster.request("GET", "/api/v1/nodes")["items"]
    found = {n["metadata"]["name"]: (n["metadata"].get("labels"), n["metadata"].get("annotations")) for n in nodes}
    for plural in ("bgppeers", "bgpconfigurations"):
        for item in installed.get(f"/apis/crd.projectcalico.org/v1/{plural}")["items"]:
            found[f"{plural}/{item['metadata']['name']}"] = item["metadata"]["resourceVersion"]
    return found


TORS = {"tor-switch": "10.10.0.1", "tor-switch-b": "10.10.0.2"}  # tor-switch: the install's calico_bgp_peers


def test_tor_to_rr_plan_in_check_mode(installed, bird_available, tmp_path):
    """tor_to_rr.yml --check --diff on the operator install: 2 route reflector candidates, the two
    TOR peers (the install's tor-switch and a second one, AS 64513, mesh off as the install set it).
    The plan reads the Calico Nodes (the same Node resources on an operator install: the test writes
    them for the kwok nodes as calico-node would) and the BGP resources. The reflectors' current
    sessions are read from real BIRD 1.6 routers (a small lab: the two candidates and the two
    switches, peered as in TOR mode); check mode shows every stage as a diff and writes nothing."""
    from testbed.bgplab import BgpLab
    names = sorted(n.name for n in installed.cluster.nodes)
    reflectors, client = names[:2], names[2]
    nodes = {name: f"10.10.0.{11 + i}" for i, name in enumerate(names)}
    for name, address in nodes.items():  # what calico-node writes at start-up
        installed.cluster.kubectl("annotate", "--overwrite", "node", name, f"projectcalico.org/IPv4Address={address}/24")
    second = [{"apiVersion": "projectcalico.org/v3", "kind": "BGPPeer", "metadata": {"name": "tor-switch-b"},
               "spec": {"peerIP": TORS["tor-switch-b"], "asNumber": 64513}}]
    added = run_playbook(tmp_path / "peer", [calicoctl_task(installed, "peer", definition=second)])
    assert added.returncode == 0, added.failure()
    try:
        with BgpLab(subnet="10.10.0.0/24") as lab:
            for name, address in TORS.items():
                lab.add_router(name.replace("-", ""), address, asn=64513, kind="tor")
            for name in reflectors:
                lab.add_router(name.replace("-", ""), nodes[name], asn=64512)
            for name in TORS:
                lab.set_peers(name.replace("-", ""), [{"name": r.replace("-", "")} for r in reflectors])
            for name in reflectors:
                lab.set_peers(name.replace("-", ""), [{"name": t.replace("-", "")} for t in TORS])
            for name in reflectors:
                lab.wait_established(name.replace("-", ""), list(TORS.values()))
            sockets = {name: lab.socket_path(name.replace("-", "")) for name in reflectors}
            hosts = {name: {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                            "calico_route_reflector_bird_socket": sockets.get(name, str(tmp_path / "none.ctl"))}
                     for name in names}
            inventory = {"all": {
                "hosts": {"localhost": {"ansible_connection": "local",
                                        "ansible_python_interpreter": "{{ ansible_playbook_python }}"}},
                "vars": {"calico_kubeconfig": str(installed.cluster.kubeconfig), "calico_context": "testbed",
                         "calico_install_method": "operator", "calico_datastore": "kubernetes",
                         "calico_route_reflector_cluster_id": CLUSTER_ID, "calico_route_reflector_become": False,
                         "calico_route_reflector_gate_delay": 0.5, "calico_route_reflector_ready_timeout": 10,
                         "calico_route_reflector_backup_dir": str(tmp_path / "backups")},
                "children": {"k8s_cluster": {"hosts": hosts},
                             "calico_rr": {"hosts": {name: {} for name in reflectors}}}}}
            before = _nodes_and_peers(installed)
            started = time.monotonic()
            run = run_playbook_file(tmp_path, TOR_TO_RR, inventory=inventory, check=True, diff=True, name="rr-check")
            print(f"\ntor_to_rr.yml --check on the operator install: {time.monotonic() - started:.1f}s")
            assert run.returncode == 0, run.failure() or run.stdout[-3000:]
            after = _nodes_and_peers(installed)
    finally:
        run_playbook(tmp_path / "unpeer", [calicoctl_task(installed, "gone", definition=second, state="absent")])
    plan = run.result("k8snet.calico.calico_route_reflector : Compute the plan")
    assert plan["changes"][:2] == [
        f"make-reflectors: Node {reflectors[0]} gets routeReflectorClusterID {CLUSTER_ID} and label route-reflector=true",
        f"make-reflectors: Node {reflectors[1]} gets routeReflectorClusterID {CLUSTER_ID} and label route-reflector=true"]
    assert [c.split(":")[0] for c in plan["changes"][2:]] == ["add-peerings", "move-tor-peers", "move-tor-peers"], \
        plan["changes"]
    assert plan["gate"][client] == [nodes[r] for r in reflectors]
    diffs = run.task_results("k8snet.calico.calico_route_reflector : Stage move-tor-peers (check mode) - the TOR "
                             "peers scoped to the route reflectors")
    assert diffs and diffs[0]["changed"], diffs
    assert after == before, "check mode wrote to the datastore"
    assert not (tmp_path / "backups").exists(), "check mode wrote a snapshot"
