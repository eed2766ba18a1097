# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""STAND-IN for the Tigera operator's logic, on the test cluster.

kwok marks the operator's pod Ready, but nothing runs the operator, so nobody renders Calico from
the Installation and nobody reports status. ``OperatorStandIn`` plays the parts of the operator that
the collection reads, as the operator does them (github.com/tigera/operator,
pkg/controller/installation/core_controller.go and pkg/controller/status):

- it renders the ``calico-system`` namespace with a ``calico-node`` DaemonSet, a ``calico-typha``
  and a ``calico-kube-controllers`` Deployment on the release of the operator that runs (the release
  whose upstream ``tigera-operator.yaml`` names the operator image of Deployment
  ``tigera-operator/tigera-operator``), with images under the Installation's ``spec.registry``;
- it creates the IPPools of the Installation's ``calicoNetwork.ipPools`` that do not exist yet
  (``crd.projectcalico.org/v1``, as its IP pool controller does);
- metrics as the operator renders them: the Installation's ``nodeMetricsPort`` / ``typhaMetricsPort``
  become ``FELIX_PROMETHEUSMETRICS*`` / ``TYPHA_PROMETHEUSMETRICS*`` env and ``prometheus.io``
  annotations (pkg/render/node.go, pkg/render/typha.go), ``typhaMetricsPort`` also Service
  ``calico-typha-metrics``; KubeControllersConfiguration ``default`` ``prometheusMetricsPort`` (set,
  not 0) Service ``calico-kube-controllers-metrics`` (pkg/render/kubecontrollers/kube-controllers.go,
  pkg/controller/utils/utils.go); the Services are deleted again when the setting goes;
- it reports TigeraStatus ``calico`` (conditions Available / Progressing / Degraded) and, only once
  everything is Available, ``status.calicoVersion`` of Installation ``default`` (the operator sets
  Variant and CalicoVersion together, after ``IsAvailable()``).

``watch()`` runs that in a thread: whenever the operator image changes (an install, an upgrade, a
rollback) the stand-in reconciles the release of the new image, as a restarted operator would, and
whenever the Installation's spec (its generation) or KubeControllersConfiguration ``default``
changes, as the operator's watches do. A
release listed in ``broken`` never becomes Available: its calico-node rolls out onto an image that
kwok never marks Ready (``kwok-stall``) and TigeraStatus says Progressing, as the operator's status
manager does for a DaemonSet that does not roll out.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import yaml

OPERATOR_NS = "tigera-operator"
CALICO_NS = "calico-system"
INSTALLATION = "/apis/operator.tigera.io/v1/installations/default"
TIGERASTATUS = "/apis/operator.tigera.io/v1/tigerastatuses"
KUBE_CONTROLLERS_CONFIG = "/apis/crd.projectcalico.org/v1/kubecontrollersconfigurations/default"
OPERATOR_DEPLOYMENT = f"/apis/apps/v1/namespaces/{OPERATOR_NS}/deployments/tigera-operator"


def operator_image_tags(upstream_calico: Path) -> dict[str, str]:
    """{operator image tag: Calico release} of every release folder under ``upstream_calico``."""
    tags = {}
    for folder in sorted(upstream_calico.iterdir()):
        manifest = folder / "tigera-operator.yaml"
        if not manifest.is_file():
            continue
        for doc in yaml.safe_load_all(manifest.read_text()):
            if doc and doc.get("kind") == "Deployment":
                image = doc["spec"]["template"]["spec"]["containers"][0]["image"]
                tags[image.rsplit(":", 1)[1]] = folder.name
    return tags


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _metrics(container: dict, prefix: str, port: int | None) -> dict:
    """With ``port``: the operator's metrics env on ``container`` (<PREFIX>_PROMETHEUSMETRICS*) and
    the pod annotations it adds; without: none."""
    if not port:
        return {}
    container["env"] = [{"name": f"{prefix}_PROMETHEUSMETRICSENABLED", "value": "true"},
                        {"name": f"{prefix}_PROMETHEUSMETRICSPORT", "value": str(port)}]
    return {"prometheus.io/scrape": "true", "prometheus.io/port": str(port)}


class OperatorStandIn:
    def __init__(self, cluster, upstream_calico: Path, broken: set[str] | None = None):
        self.cluster = cluster
        self.releases = operator_image_tags(upstream_calico)
        self.broken = set(broken or ())
        self.reconciled: list[str] = []  # the releases reconciled, in order
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- what the operator writes ---------------------------------------------------------------
    def tigerastatus(self, name: str, available: bool, degraded: str = "", progressing: str = "") -> None:
        """Create or update TigeraStatus ``name`` with the conditions the status manager writes."""
        def condition(kind, status, reason="", message=""):
            return {"type": kind, "status": "True" if status else "False",
                    "reason": reason or ("AllObjectsAvailable" if status else "Unknown"),
                    "message": message, "lastTransitionTime": _now()}
        status, current = self.cluster.request("GET", f"{TIGERASTATUS}/{name}", raw=True)
        if status == 404:
            current = self.cluster.request("POST", TIGERASTATUS, {
                "apiVersion": "operator.tigera.io/v1", "kind": "TigeraStatus", "metadata": {"name": name}, "spec": {}})
        current["status"] = {"conditions": [
            condition("Available", available and not degraded and not progressing),
            condition("Progressing", bool(progressing), "ResourceNotReady" if progressing else "", progressing),
            condition("Degraded", bool(degraded), "ResourceReadError" if degraded else "", degraded)]}
        self.cluster.request("PUT", f"{TIGERASTATUS}/{name}/status", current)

    def report_version(self, version: str) -> None:
        """Installation default: status.variant and status.calicoVersion, written together."""
        installation = self.cluster.request("GET", INSTALLATION)
        installation["status"] = {**installation.get("status", {}), "variant": "Calico", "calicoVersion": version,
                                  "computed": installation["spec"]}
        self.cluster.request("PUT", INSTALLATION + "/status", installation)

    def _apply(self, path: str, body: dict) -> None:
        name = body["metadata"]["name"]
        if self.cluster.request("PUT", f"{path}/{name}", body, raw=True)[0] == 404:
            self.cluster.request("POST", path, body)

    def _delete(self, path: str) -> None:
        self.cluster.request("DELETE", path, raw=True)

    def _metrics_service(self, name: str, labels: dict, selector: dict, port: int | None, port_name: str,
                         headless: bool) -> None:
        path = f"/api/v1/namespaces/{CALICO_NS}/services"
        if not port:
            self._delete(f"{path}/{name}")
            return
        ports = [{"name": port_name, "port": port, "targetPort": port, "protocol": "TCP"}]
        spec = {"selector": selector, "ports": ports}
        if headless:
            spec["clusterIP"] = "None"
        status, current = self.cluster.request("GET", f"{path}/{name}", raw=True)
        body = {"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": name, "namespace": CALICO_NS, "labels": labels}, "spec": spec}
        if status == 200:
            body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            body["spec"]["clusterIP"] = current["spec"].get("clusterIP")
            self.cluster.request("PUT", f"{path}/{name}", body)
        else:
            self.cluster.request("POST", path, body)

    def render(self, version: str, registry: str, spec: dict | None = None) -> None:
        """calico-system with calico-node, calico-typha and calico-kube-controllers on ``version``,
        with the metrics settings of the Installation ``spec`` and of KubeControllersConfiguration."""
        spec = spec or {}
        node_port, typha_port = spec.get("nodeMetricsPort"), spec.get("typhaMetricsPort")
        status, kcc = self.cluster.request("GET", KUBE_CONTROLLERS_CONFIG, raw=True)
        kcc_port = (kcc.get("spec") or {}).get("prometheusMetricsPort") if status == 200 else None
        if self.cluster.request("GET", f"/api/v1/namespaces/{CALICO_NS}", raw=True)[0] == 404:
            namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": CALICO_NS}}
            self.cluster.request("POST", "/api/v1/namespaces", namespace)
        labels = {"k8s-app": "calico-node"}
        broken = version in self.broken
        prefix = "registry.test/kwok-stall/" if broken else registry
        node = {"name": "calico-node", "image": f"{prefix}calico/node:{version}"}
        annotations = _metrics(node, "FELIX", node_port)
        pod = {"tolerations": [{"operator": "Exists"}], "hostNetwork": True, "containers": [node]}
        self._apply(f"/apis/apps/v1/namespaces/{CALICO_NS}/daemonsets", {
            "apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "calico-node", "namespace": CALICO_NS, "labels": labels},
            "spec": {"selector": {"matchLabels": labels}, "updateStrategy": {"type": "RollingUpdate",
                                                                             "rollingUpdate": {"maxUnavailable": 3}},
                     "template": {"metadata": {"labels": labels, "annotations": annotations}, "spec": pod}}})
        labels = {"k8s-app": "calico-typha"}
        typha = {"name": "calico-typha", "image": f"{prefix}calico/typha:{version}"}
        annotations = _metrics(typha, "TYPHA", typha_port)
        self._apply(f"/apis/apps/v1/namespaces/{CALICO_NS}/deployments", {
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "calico-typha", "namespace": CALICO_NS, "labels": labels},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels, "annotations": annotations}, "spec": {
                         "tolerations": [{"operator": "Exists"}], "hostNetwork": True, "containers": [typha]}}}})
        self._metrics_service("calico-typha-metrics", {"k8s-app": "calico-typha-metrics"}, labels, typha_port,
                              "calico-typha-metrics", headless=False)
        labels = {"k8s-app": "calico-kube-controllers"}
        self._apply(f"/apis/apps/v1/namespaces/{CALICO_NS}/deployments", {
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "calico-kube-controllers", "namespace": CALICO_NS, "labels": labels},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {
                         "tolerations": [{"operator": "Exists"}],
                         "containers": [{"name": "calico-kube-controllers",
                                         "image": f"{prefix}calico/kube-controllers:{version}"}]}}}})
        self._metrics_service("calico-kube-controllers-metrics", labels, labels, kcc_port, "metrics-port",
                              headless=True)

    def create_pools(self, installation: dict) -> None:
        """The IPPools of calicoNetwork.ipPools that do not exist (the operator leaves others alone)."""
        path = "/apis/crd.projectcalico.org/v1/ippools"
        for pool in (installation["spec"].get("calicoNetwork") or {}).get("ipPools") or []:
            if self.cluster.request("GET", f"{path}/{pool['name']}", raw=True)[0] != 404:
                continue
            encapsulation = pool.get("encapsulation", "IPIP")
            self.cluster.request("POST", path, {
                "apiVersion": "crd.projectcalico.org/v1", "kind": "IPPool",
                "metadata": {"name": pool["name"], "labels": {"app.kubernetes.io/managed-by": "tigera-operator"}},
                "spec": {"cidr": pool["cidr"], "blockSize": pool.get("blockSize", 26),
                         "ipipMode": {"IPIP": "Always", "IPIPCrossSubnet": "CrossSubnet"}.get(encapsulation, "Never"),
                         "vxlanMode": {"VXLAN": "Always", "VXLANCrossSubnet": "CrossSubnet"}.get(encapsulation, "Never"),
                         "natOutgoing": pool.get("natOutgoing", "Enabled") == "Enabled",
                         "nodeSelector": pool.get("nodeSelector", "all()")}})

    def reconcile(self, version: str, timeout: float = 60) -> None:
        """What the operator of ``version`` does with the Installation: render, wait, report."""
        installation = self.cluster.request("GET", INSTALLATION)
        self.tigerastatus("calico", available=False, progressing="Waiting for calico-node to roll out")
        self.create_pools(installation)
        self.render(version, installation["spec"].get("registry") or "quay.io/", installation["spec"])
        self.reconciled.append(version)
        if version in self.broken:
            self.tigerastatus("calico", available=False, progressing=(
                'DaemonSet "calico-system/calico-node" is not available (awaiting 3 nodes)'))
            return
        self.cluster.wait_daemonset_ready(CALICO_NS, "calico-node", timeout=timeout)
        self.tigerastatus("calico", available=True)
        self.report_version(version)

    # -- the operator's loop --------------------------------------------------------------------
    def running_release(self) -> str | None:
        """The release of the operator image of Deployment tigera-operator, once the Installation exists."""
        if self.cluster.request("GET", INSTALLATION, raw=True)[0] != 200:
            return None
        status, deployment = self.cluster.request("GET", OPERATOR_DEPLOYMENT, raw=True)
        if status != 200:
            return None
        image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        return self.releases.get(image.rsplit(":", 1)[-1])

    def _inputs(self) -> tuple:
        """What the operator watches besides its image: the Installation's spec (its generation)
        and KubeControllersConfiguration default."""
        installation = self.cluster.request("GET", INSTALLATION, raw=True)[1]
        status, kcc = self.cluster.request("GET", KUBE_CONTROLLERS_CONFIG, raw=True)
        return (installation.get("metadata", {}).get("generation"),
                kcc["metadata"]["resourceVersion"] if status == 200 else None)

    def _loop(self) -> None:
        done = None
        while not self._stop.wait(0.5):
            try:
                release = self.running_release()
                if release and (release, self._inputs()) != done:
                    inputs = self._inputs()
                    self.reconcile(release)
                    done = (release, inputs)
            except Exception as exc:  # noqa: BLE001 - reported by stop()
                self.errors.append(f"{type(exc).__name__}: {exc}")
                time.sleep(1)

    def watch(self) -> "OperatorStandIn":
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="operator-stand-in", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(30)
