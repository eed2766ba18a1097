# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/monitoring.yml end to end on a test cluster of this module's own.

Calico is there as upstream's calico-typha.yaml applied server-side with the install's field
manager (k8snet.calico), so calico-node, calico-typha and calico-kube-controllers run (kwok pods)
and Calico's CRDs exist; FelixConfiguration and KubeControllersConfiguration default are created
as calico-node and kube-controllers would (metrics off; port 9094). prometheus-operator's
ServiceMonitor and PrometheusRule CRDs are minimal ones written here (group, kinds, open schema).

Proves, in order (the tests share the cluster and run in file order): the first run turns metrics
on (read back from the API) and creates the labelled objects; a second run changes nothing; check
mode with changed settings writes nothing and --diff shows the change; the install's own
re-apply of calico-typha.yaml keeps Typha's metrics env; state absent removes only what the role
created and restores the metrics settings, a pre-existing ServiceMonitor surviving; without the
ServiceMonitor CRD the run fails before any change with a clear message, or writes the scrape
configs and the rule file with calico_monitoring_scrape_configs.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from conftest import Calicoctl, own_cluster, upstream_dir
from playbook import REPO_ROOT, run_playbook_file
from testbed.cluster import operator_crd

pytestmark = [pytest.mark.playbook, pytest.mark.cluster]

MONITORING = REPO_ROOT / "playbooks" / "monitoring.yml"
RELEASE = "v3.31.7"
NS = "monitoring"
MANAGED = "app.kubernetes.io/managed-by=k8snet.calico,app.kubernetes.io/part-of=calico-monitoring"
PREVIOUS = "k8snet.calico/monitoring-previous"


OPERATOR_CRDS = [operator_crd("ServiceMonitor", "servicemonitors"), operator_crd("PrometheusRule", "prometheusrules")]


class Bed:
    def __init__(self, cluster, workdir: Path, calicoctl: Calicoctl):
        self.cluster = cluster
        self.workdir = workdir
        self.calicoctl = calicoctl

    def vars(self, **overrides) -> dict:
        variables = {"calico_kubeconfig": str(self.cluster.kubeconfig), "calico_context": "testbed",
                     "calico_monitoring_namespace": NS, "calico_monitoring_kube_controllers_metrics_port": 9096,
                     "calico_render_dir": str(self.workdir / "rendered")}
        variables.update(overrides)
        return variables

    def run(self, name: str, check: bool = False, diff: bool = False, **overrides):
        return run_playbook_file(self.workdir, MONITORING, extra_vars=self.vars(**overrides), check=check, diff=diff,
                                 name=name)

    def get(self, path: str, missing_ok: bool = False):
        status, body = self.cluster.request("GET", path, raw=True)
        if status == 404 and missing_ok:
            return None
        assert status == 200, (path, status, body)
        return body

    def calico(self, kind: str) -> dict:
        return json.loads(self.calicoctl("get", kind, "default", "-o", "json").stdout)

    def managed(self) -> dict:
        """{kind/namespace/name: resourceVersion} of every object labelled as the role's."""
        found = {}
        paths = ["/api/v1/namespaces/kube-system/services", f"/api/v1/namespaces/{NS}/configmaps"]
        if self.get("/apis/monitoring.coreos.com/v1", missing_ok=True):
            paths += [f"/apis/monitoring.coreos.com/v1/namespaces/{NS}/servicemonitors",
                      f"/apis/monitoring.coreos.com/v1/namespaces/{NS}/prometheusrules"]
        for path in paths:
            for item in self.get(f"{path}?labelSelector={MANAGED}")["items"]:
                found[f"{path.rsplit('/', 1)[1]}/{item['metadata']['namespace']}/{item['metadata']['name']}"] = \
                    item["metadata"]["resourceVersion"]
        return found

    def versions(self) -> dict:
        """resourceVersions of everything the role may write."""
        found = self.managed()
        for plural in ["felixconfigurations", "kubecontrollersconfigurations"]:
            item = self.get(f"/apis/crd.projectcalico.org/v1/{plural}/default")
            found[plural] = item["metadata"]["resourceVersion"]
        # The Deployment controller keeps writing the status of a rollout: its resourceVersion moves
        # without any write of ours, its generation only when its spec is written.
        found["typha"] = self.typha()["metadata"]["generation"]
        return found

    def typha(self) -> dict:
        return self.get("/apis/apps/v1/namespaces/kube-system/deployments/calico-typha")

    def typha_env(self) -> dict:
        container = next(c for c in self.typha()["spec"]["template"]["spec"]["containers"] if c["name"] == "calico-typha")
        return {e["name"]: e.get("value") for e in container.get("env", [])}


def wait_established(cluster):
    cluster.wait_crds_established()
    for _attempt in range(50):  # a new CRD's kinds appear in discovery a moment after Established
        if cluster.request("GET", "/apis/monitoring.coreos.com/v1", raw=True)[0] == 200:
            return
        time.sleep(0.2)


@pytest.fixture(scope="module")
def bed(testbed_bin, tmp_path_factory) -> Bed:
    with own_cluster(tmp_path_factory, "monitoring-cluster", RELEASE) as cluster:
        workdir = tmp_path_factory.mktemp("monitoring")
        manifest = upstream_dir() / "calico" / RELEASE / "calico-typha.yaml"
        cluster.kubectl("apply", "--server-side", "--field-manager", "k8snet.calico", "--force-conflicts",
                        "-f", str(manifest))
        cluster.wait_crds_established()
        cluster.kubectl("-n", "kube-system", "rollout", "status", "deployment/calico-typha", "--timeout", "60s")
        calicoctl = Calicoctl(testbed_bin / "calicoctl", {"DATASTORE_TYPE": "kubernetes",
                                                          "KUBECONFIG": str(cluster.kubeconfig)})
        # What calico-node and calico-kube-controllers write at start-up (metrics off / 9094).
        calicoctl("create", "-f", "-", input=yaml.safe_dump({
            "apiVersion": "projectcalico.org/v3", "kind": "FelixConfiguration", "metadata": {"name": "default"},
            "spec": {"logSeverityScreen": "Info", "reportingInterval": "0s"}}))
        calicoctl("create", "-f", "-", input=yaml.safe_dump({
            "apiVersion": "projectcalico.org/v3", "kind": "KubeControllersConfiguration",
            "metadata": {"name": "default"},
            "spec": {"controllers": {"node": {"reconcilerPeriod": "5m", "syncLabels": "Enabled",
                                              "leakGracePeriod": "15m"}},
                     "prometheusMetricsPort": 9094}}))
        for crd in OPERATOR_CRDS:
            cluster.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
        wait_established(cluster)
        cluster.request("POST", "/api/v1/namespaces",
                        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
        # Someone else's ServiceMonitor, with the same release label: never touched.
        cluster.request("POST", f"/apis/monitoring.coreos.com/v1/namespaces/{NS}/servicemonitors", {
            "apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
            "metadata": {"name": "other-app", "labels": {"release": "monitoring"}},
            "spec": {"selector": {"matchLabels": {"app": "other"}}, "endpoints": [{"port": "web"}]}})
        yield Bed(cluster, workdir, calicoctl)


@pytest.fixture(scope="module")
def first(bed):
    run = bed.run("first")
    assert run.returncode == 0, run.failure() or run.stdout[-3000:] + run.stderr[-3000:]
    return run


def test_first_run_turns_metrics_on_and_creates_the_objects(bed, first):
    felix = bed.calico("felixconfiguration")
    assert felix["spec"]["prometheusMetricsEnabled"] is True and felix["spec"]["prometheusMetricsPort"] == 9091
    assert felix["spec"]["logSeverityScreen"] == "Info", "the rest of the resource is kept"
    assert json.loads(felix["metadata"]["annotations"][PREVIOUS]) == \
        {"prometheusMetricsEnabled": None, "prometheusMetricsPort": None}
    assert "k8snet.calico/managed-by" not in (felix["metadata"].get("labels") or {}), "never prunable"
    kcc = bed.calico("kubecontrollersconfiguration")
    assert kcc["spec"]["prometheusMetricsPort"] == 9096
    assert kcc["spec"]["controllers"]["node"]["reconcilerPeriod"] in ("5m", "5m0s")
    assert json.loads(kcc["metadata"]["annotations"][PREVIOUS]) == {"prometheusMetricsPort": 9094}

    env = bed.typha_env()
    assert env["TYPHA_PROMETHEUSMETRICSENABLED"] == "true" and env["TYPHA_PROMETHEUSMETRICSPORT"] == "9093"
    assert env["TYPHA_LOGSEVERITYSCREEN"] == "info", "the manifest's env is kept"

    assert sorted(bed.managed()) == sorted(
        [f"services/kube-system/calico-{c}-metrics" for c in ("felix", "typha", "kube-controllers")]
        + [f"servicemonitors/{NS}/calico-{c}-metrics" for c in ("felix", "typha", "kube-controllers")]
        + [f"prometheusrules/{NS}/calico"]
        + [f"configmaps/{NS}/calico-dashboard-{c}" for c in ("felix", "typha", "kube-controllers")])
    service = bed.get("/api/v1/namespaces/kube-system/services/calico-felix-metrics")
    assert service["spec"]["clusterIP"] == "None" and service["spec"]["selector"] == {"k8s-app": "calico-node"}
    assert service["spec"]["ports"][0]["port"] == 9091
    monitor = bed.get(f"/apis/monitoring.coreos.com/v1/namespaces/{NS}/servicemonitors/calico-typha-metrics")
    assert monitor["metadata"]["labels"]["release"] == "monitoring"
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["kube-system"]}
    rule = bed.get(f"/apis/monitoring.coreos.com/v1/namespaces/{NS}/prometheusrules/calico")
    alerts = {r["alert"] for g in rule["spec"]["groups"] for r in g["rules"]}
    assert {"CalicoFelixDown", "CalicoIPAMBorrowedAddresses", "CalicoKubeControllersDown", "CalicoTyphaDown"} <= alerts
    dashboard = bed.get(f"/api/v1/namespaces/{NS}/configmaps/calico-dashboard-felix")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(dashboard["data"]["calico-felix.json"])["uid"] == "k8snet-calico-felix"


def test_second_run_changes_nothing(bed, first):
    before = bed.versions()
    run = bed.run("second")
    assert run.returncode == 0, run.failure()
    assert run.stats["changed"] == 0, run.changed_tasks()
    assert bed.versions() == before


def test_check_diff_shows_the_change_and_writes_nothing(bed, first):
    before = bed.versions()
    run = bed.run("check", check=True, diff=True, calico_felix_metrics_port=9191,
                  calico_monitoring_servicemonitor_labels={"release": "prometheus"})
    assert run.returncode == 0, run.failure()
    changed = run.changed_tasks()
    assert "k8snet.calico.calico_monitoring : Turn metrics on in FelixConfiguration and KubeControllersConfiguration default" in changed
    assert "k8snet.calico.calico_monitoring : Apply the metrics Services, ServiceMonitors, PrometheusRule and dashboards" in changed
    [felix] = run.result("k8snet.calico.calico_monitoring : Turn metrics on in FelixConfiguration and "
                         "KubeControllersConfiguration default")["results"]
    assert felix["results"][0]["diff"] == ["spec.prometheusMetricsPort"]
    assert "9191" in json.dumps(felix["diff"])
    applied = run.result("k8snet.calico.calico_monitoring : Apply the metrics Services, ServiceMonitors, "
                         "PrometheusRule and dashboards")
    assert "prometheus" in json.dumps([r.get("diff") for r in applied["result"]["results"] if r.get("changed")])
    assert bed.versions() == before
    assert bed.calico("felixconfiguration")["spec"]["prometheusMetricsPort"] == 9091


def test_the_install_reapplying_typha_keeps_its_metrics(bed, first):
    manifest = upstream_dir() / "calico" / RELEASE / "calico-typha.yaml"
    typha = [d for d in yaml.safe_load_all(manifest.read_text())
             if d and d["kind"] == "Deployment" and d["metadata"]["name"] == "calico-typha"]
    bed.cluster.kubectl("apply", "--server-side", "--field-manager", "k8snet.calico", "--force-conflicts", "-f", "-",
                        input=yaml.safe_dump(typha[0]))
    assert bed.typha_env()["TYPHA_PROMETHEUSMETRICSENABLED"] == "true"


def test_absent_removes_only_what_it_created(bed, first):
    run = bed.run("absent", calico_monitoring_state="absent")
    assert run.returncode == 0, run.failure()
    assert bed.managed() == {}
    assert bed.get(f"/apis/monitoring.coreos.com/v1/namespaces/{NS}/servicemonitors/other-app")
    felix = bed.calico("felixconfiguration")
    assert "prometheusMetricsEnabled" not in felix["spec"] and "prometheusMetricsPort" not in felix["spec"]
    assert felix["spec"]["logSeverityScreen"] == "Info"
    assert PREVIOUS not in (felix["metadata"].get("annotations") or {})
    kcc = bed.calico("kubecontrollersconfiguration")
    assert kcc["spec"]["prometheusMetricsPort"] == 9094 and PREVIOUS not in (kcc["metadata"].get("annotations") or {})
    env = bed.typha_env()
    assert "TYPHA_PROMETHEUSMETRICSENABLED" not in env and env["TYPHA_LOGSEVERITYSCREEN"] == "info"

    before = bed.versions()
    again = bed.run("absent-again", calico_monitoring_state="absent")
    assert again.returncode == 0, again.failure()
    assert again.stats["changed"] == 0, again.changed_tasks()
    assert bed.versions() == before


def test_metrics_already_on_are_not_turned_off(bed, first):
    """Metrics an operator turned on by hand stay on after present + absent."""
    bed.calicoctl("patch", "felixconfiguration", "default", "-p", '{"spec": {"prometheusMetricsEnabled": true}}')
    run = bed.run("hand-present")
    assert run.returncode == 0, run.failure()
    assert PREVIOUS not in (bed.calico("felixconfiguration")["metadata"].get("annotations") or {})
    run = bed.run("hand-absent", calico_monitoring_state="absent")
    assert run.returncode == 0, run.failure()
    assert bed.calico("felixconfiguration")["spec"]["prometheusMetricsEnabled"] is True
    bed.calicoctl("patch", "felixconfiguration", "default", "-p", '{"spec": {"prometheusMetricsEnabled": false}}')


def test_without_the_servicemonitor_crd(bed, first):
    for crd in OPERATOR_CRDS:
        bed.cluster.request("DELETE", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{crd['metadata']['name']}")
    for _attempt in range(100):
        if bed.get("/apis/monitoring.coreos.com/v1", missing_ok=True) is None:
            break
        time.sleep(0.2)
    before = bed.versions()
    run = bed.run("no-crd")
    assert run.returncode != 0
    message = run.failure()
    assert "servicemonitors.monitoring.coreos.com" in message and "calico_monitoring_scrape_configs: true" in message
    assert bed.versions() == before, "nothing changed"

    out = bed.workdir / "scrape"
    run = bed.run("scrape-configs", calico_monitoring_scrape_configs=True, calico_monitoring_scrape_config_dir=str(out))
    assert run.returncode == 0, run.failure()
    scrape = yaml.safe_load((out / "calico-scrape-configs.yaml").read_text())
    assert [job["job_name"] for job in scrape["scrape_configs"]] == \
        ["calico-felix-metrics", "calico-typha-metrics", "calico-kube-controllers-metrics"]
    rules = yaml.safe_load((out / "calico-rules.yml").read_text())
    assert "CalicoFelixDown" in {r["alert"] for g in rules["groups"] for r in g["rules"]}
    assert sorted(bed.managed()) == sorted(
        [f"services/kube-system/calico-{c}-metrics" for c in ("felix", "typha", "kube-controllers")]
        + [f"configmaps/{NS}/calico-dashboard-{c}" for c in ("felix", "typha", "kube-controllers")])

    run = bed.run("scrape-absent", calico_monitoring_state="absent")
    assert run.returncode == 0, run.failure()
    assert bed.managed() == {}
