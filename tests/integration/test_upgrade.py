# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/upgrade.yml end to end on the test bed, v3.30.7 -> v3.31.7 (upstream's manifests as
file:// URLs).

The cluster is this module's own (the upgrade rewrites kube-system and cluster-wide objects):
Calico v3.30.7 installed with install.yml, plus an IPPool and a BGPPeer made with the real
calicoctl, then the tests in file order: --check --diff writes nothing; a downgrade is refused
(and goes ahead, in check mode, with its override); a rollout that stalls on the new image is rolled
back to v3.30.7 with the resources intact and the play failing with the backup folder; a clean
upgrade (new images, the new RBAC rule, resources identical); its re-run writes nothing (the
resourceVersion of every object it could write is unchanged); a restore of the upgrade's backup
folder with calico_upgrade_rollback_from; the etcdv3 datastore (TLS), whose backup holds the
Secret with the etcd key and whose output does not.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest
import yaml

from conftest import Calicoctl, UpgradeBed, own_cluster, upstream_dir
from playbook import REPO_ROOT, run_playbook_file

pytestmark = [pytest.mark.playbook, pytest.mark.cluster]

INSTALL = REPO_ROOT / "playbooks" / "install.yml"
UPGRADE = REPO_ROOT / "playbooks" / "upgrade.yml"
OLD, NEW = "v3.30.7", "v3.31.7"
NAMESPACE = "kube-system"
REGISTRY = "registry.example.internal"
# A rule of ClusterRole calico-kube-controllers that v3.31 has and v3.30 has not.
NEW_RULE = {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list", "watch"]}
CALICO_PLURALS = ["ippools", "bgpconfigurations", "bgppeers", "felixconfigurations", "clusterinformations",
                  "kubecontrollersconfigurations"]
HAND_POOL = {"apiVersion": "projectcalico.org/v3", "kind": "IPPool", "metadata": {"name": "hand-made-pool"},
             "spec": {"cidr": "10.250.0.0/16", "blockSize": 27, "ipipMode": "Never", "vxlanMode": "Always",
                      "natOutgoing": True, "nodeSelector": "rack == 'r2'"}}
HAND_PEER = {"apiVersion": "projectcalico.org/v3", "kind": "BGPPeer", "metadata": {"name": "hand-made-peer"},
             "spec": {"peerIP": "10.20.0.1", "asNumber": 65010, "nodeSelector": "rack == 'r2'"}}
PLAN = "k8snet.calico.calico_upgrade : Compare the releases (objects removed upstream, defaults that change)"
DRY_RUN = "k8snet.calico.calico : Apply calico.yaml (server-side apply, field manager k8snet.calico)"


# Defaults of v3.31's CRD schemas that v3.30's lack: the API server fills them in when it reads a
# stored object under the new CRD (no write: the resourceVersion stays), and no more under the old.
NEW_CRD_DEFAULTS = {"bgpconfiguration/default": {"serviceLoadBalancerAggregation": "Enabled"}}


def assert_untouched(before: dict, after: dict) -> None:
    """The same resources, not written (same uid, resourceVersion, every metadata field), with the
    same spec apart from NEW_CRD_DEFAULTS."""
    assert before.keys() == after.keys()
    for key in before:
        assert after[key]["metadata"] == before[key]["metadata"], f"{key} was written"
        specs = []
        for resource in (before[key], after[key]):
            spec = dict(resource.get("spec", {}))
            for field, value in NEW_CRD_DEFAULTS.get(key, {}).items():
                if spec.get(field) == value:
                    del spec[field]
            specs.append(spec)
        assert specs[0] == specs[1], key


REQUEST_METRIC = re.compile(r'^apiserver_request_total\{(?P<labels>[^}]*)\} (?P<value>[0-9.e+]+)$', re.M)
LABEL = re.compile(r'(\w+)="([^"]*)"')
# The resources an upgrade writes: those of Calico's manifests, and Calico's own group.
UPGRADE_RESOURCES = {"configmaps", "secrets", "serviceaccounts", "services", "daemonsets", "deployments",
                     "poddisruptionbudgets", "clusterroles", "clusterrolebindings", "roles", "rolebindings",
                     "customresourcedefinitions"}


def api_requests(cluster) -> dict[str, int]:
    """Requests the API server has answered (its own counter, apiserver_request_total) on the
    objects an upgrade could write: reads, dry-run writes, and writes (create, update, patch,
    apply, delete of the objects themselves; status updates by the controllers are not counted)."""
    text = cluster.request("GET", "/metrics", raw=True)[1]
    counts = {"reads": 0, "dry_run_writes": 0, "writes": 0}
    for match in REQUEST_METRIC.finditer(text):
        labels = dict(LABEL.findall(match.group("labels")))
        if labels.get("resource") not in UPGRADE_RESOURCES and labels.get("group") != "crd.projectcalico.org":
            continue
        if labels.get("subresource"):
            continue
        value = int(float(match.group("value")))
        if labels.get("verb") in ("GET", "LIST", "WATCH"):
            counts["reads"] += value
        elif labels.get("dry_run"):
            counts["dry_run_writes"] += value
        else:
            counts["writes"] += value
    return counts


def delta(after: dict, before: dict) -> dict:
    return {key: after[key] - before[key] for key in after}


def ran(run, name: str) -> list[dict]:
    """The results of the tasks called ``name`` that ran (not skipped)."""
    return [result for result in run.task_results(name) if not result.get("skipped")]


class Cluster(UpgradeBed):
    """The module's cluster with Calico installed, and what the tests read from it."""

    def __init__(self, cluster, workdir: Path, calicoctl: Calicoctl):
        super().__init__(cluster, workdir, calicoctl)
        self.backups: dict[str, str] = {}

    def workload(self, plural: str, name: str) -> dict:
        return self.get(f"/apis/apps/v1/namespaces/{NAMESPACE}/{plural}/{name}")

    def images(self) -> list[str]:
        found = []
        for plural, name in [("daemonsets", "calico-node"), ("deployments", "calico-kube-controllers")]:
            spec = self.workload(plural, name)["spec"]["template"]["spec"]
            found += [c["image"] for c in spec.get("initContainers", []) + spec["containers"]]
        return found

    def rolled_out(self) -> bool:
        node = self.workload("daemonsets", "calico-node")
        kc = self.workload("deployments", "calico-kube-controllers")
        ns, ks = node["status"], kc["status"]
        return (ns.get("observedGeneration") == node["metadata"]["generation"]
                and ns.get("numberReady") == ns.get("updatedNumberScheduled") == ns.get("desiredNumberScheduled") == 3
                and ks.get("readyReplicas") == ks.get("updatedReplicas") == ks.get("replicas") == 1)

    def controller_rules(self) -> list[dict]:
        role = self.get("/apis/rbac.authorization.k8s.io/v1/clusterroles/calico-kube-controllers")
        return role["rules"]

    def resources(self) -> dict:
        """The hand-made IPPool and BGPPeer, and the inventory's, as calicoctl reads them (every field)."""
        found = {}
        for kind, name in [("ippool", "hand-made-pool"), ("bgppeer", "hand-made-peer"),
                           ("ippool", "default-ipv4-ippool"), ("bgppeer", "tor-switch"),
                           ("bgpconfiguration", "default")]:
            found[f"{kind}/{name}"] = json.loads(self.calicoctl("get", kind, name, "-o", "json", "--allow-version-mismatch").stdout)
        return found

    def versions(self) -> dict:
        """resourceVersion of every object an upgrade could write: the manifest's kinds in
        kube-system and cluster-wide, and every Calico resource."""
        found = {}
        paths = [f"/api/v1/namespaces/{NAMESPACE}/configmaps", f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts",
                 f"/api/v1/namespaces/{NAMESPACE}/secrets",
                 f"/apis/apps/v1/namespaces/{NAMESPACE}/daemonsets",
                 f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments",
                 f"/apis/policy/v1/namespaces/{NAMESPACE}/poddisruptionbudgets",
                 "/apis/rbac.authorization.k8s.io/v1/clusterroles",
                 "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
                 "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"]
        paths += [f"/apis/crd.projectcalico.org/v1/{plural}" for plural in CALICO_PLURALS]
        for path in paths:
            for item in self.get(path)["items"]:
                found[f"{path}/{item['metadata']['name']}"] = item["metadata"]["resourceVersion"]
        return found

    def set_cluster_information(self, version: str) -> None:
        """What calico-node does when it starts: ClusterInformation default names its release."""
        path = "/apis/crd.projectcalico.org/v1/clusterinformations"
        current = self.get(path)["items"]
        body = {"apiVersion": "crd.projectcalico.org/v1", "kind": "ClusterInformation",
                "metadata": {"name": "default"},
                "spec": {"calicoVersion": version, "clusterType": "k8s,bgp,kdd", "datastoreReady": True}}
        if current:
            body["metadata"]["resourceVersion"] = current[0]["metadata"]["resourceVersion"]
            self.cluster.request("PUT", f"{path}/default", body)
        else:
            self.cluster.request("POST", path, body)


@pytest.fixture(scope="module")
def upgrade_cluster(testbed_bin, tmp_path_factory):
    """A cluster of this module's own (3 kwok nodes)."""
    with own_cluster(tmp_path_factory, "upgrade-cluster", OLD, NEW) as running:
        yield running


@pytest.fixture(scope="module")
def calico(upgrade_cluster, testbed_bin, tmp_path_factory) -> Cluster:
    """Calico v3.30.7 installed with install.yml; an IPPool and a BGPPeer made by hand."""
    workdir = tmp_path_factory.mktemp("upgrade")
    calicoctl = Calicoctl(testbed_bin / "calicoctl", {"DATASTORE_TYPE": "kubernetes",
                                                      "KUBECONFIG": str(upgrade_cluster.kubeconfig)})
    state = Cluster(upgrade_cluster, workdir, calicoctl)
    run = run_playbook_file(workdir, INSTALL, extra_vars=state.vars(OLD), name="install")
    assert run.returncode == 0, run.failure() or run.stdout[-3000:] + run.stderr[-3000:]
    calicoctl("create", "-f", "-", input=yaml.safe_dump_all([HAND_POOL, HAND_PEER]))
    state.set_cluster_information(OLD)
    assert all(image.endswith(":" + OLD) for image in state.images())
    assert NEW_RULE not in state.controller_rules()
    return state


def test_check_diff_shows_the_upgrade_and_writes_nothing(calico):
    before = calico.versions()
    rendered = {p.name: p.read_bytes() for p in (calico.workdir / "rendered").iterdir()}
    run = calico.upgrade("check", check=True)
    assert run.returncode == 0, run.failure() or run.stdout[-3000:]
    [dry_run] = run.task_results(DRY_RUN)
    changed = {(r["result"]["kind"], r["result"]["metadata"]["name"]) for r in dry_run["result"]["results"]
               if r["changed"]}
    assert {("DaemonSet", "calico-node"), ("Deployment", "calico-kube-controllers"),
            ("ClusterRole", "calico-kube-controllers"), ("ConfigMap", "calico-config")} <= changed
    # The diff of the new image is shown (--diff).
    node = next(r for r in dry_run["result"]["results"] if r["result"]["kind"] == "DaemonSet")
    assert f"{REGISTRY}/calico/node:{NEW}" in json.dumps(node["diff"]["after"])
    assert f"{REGISTRY}/calico/node:{OLD}" in json.dumps(node["diff"]["before"])
    # The default-change report: cniVersion of the CNI conflist flips from 0.3.1 to 1.0.0.
    plan = run.result(PLAN)
    assert plan["default_changes"] == [{"setting": "CNI conflist: cniVersion", "upstream_before": "0.3.1",
                                        "upstream_after": "1.0.0", "running": "0.3.1", "after_upgrade": "1.0.0",
                                        "status": "changes"}]
    assert plan["removed_upstream"] == []
    assert "CNI conflist: cniVersion: the upstream default changes from 0.3.1 to 1.0.0 and the inventory does not " \
        "pin it" in " ".join(plan["warnings"])
    assert calico.versions() == before, "check mode wrote to the cluster"
    assert {p.name: p.read_bytes() for p in (calico.workdir / "rendered").iterdir()} == rendered
    assert calico.backup_folders() == [], "check mode wrote a backup"
    assert not list(Path("/tmp").glob("k8snet-calico-check.*")), "the temporary render was not removed"


def test_downgrade_is_refused(calico):
    before = calico.versions()
    run = calico.upgrade("downgrade", version="v3.29.7")
    assert run.returncode != 0
    message = run.failure()
    assert "Upgrade of Calico v3.30.7 to v3.29.7 refused, nothing was changed" in message
    assert "newer than calico_version v3.29.7: a downgrade is not an upgrade path upstream supports" in message
    assert "(to go ahead anyway: calico_upgrade_allow_downgrade: true)" in message
    # Kubernetes 1.34 is not in v3.29's table either, and that is named too.
    assert "Calico 3.29 is tested against Kubernetes 1.29, 1.30, 1.31, 1.32 only" in message
    assert "calico_upgrade_allow_unsupported_kubernetes: true" in message
    assert not ran(run, "k8snet.calico.calico : Render calico.yaml and calico-resources.yaml into "
                        f"{calico.workdir / 'rendered'}"), "it went on after the refusal"
    assert calico.versions() == before and calico.backup_folders() == []


def test_downgrade_override_goes_ahead(calico):
    """With its overrides the downgrade passes the preflight (in check mode: nothing is written)."""
    before = calico.versions()
    run = calico.upgrade("downgrade-override", version="v3.29.7", check=True, calico_upgrade_allow_downgrade=True,
                         calico_upgrade_allow_unsupported_kubernetes=True)
    assert run.returncode == 0, run.failure()
    shown = run.result("k8snet.calico.calico_upgrade : Show what was overridden and what was not checked")["msg"]
    assert any("a downgrade is not an upgrade path" in text for text in shown["overridden"])
    assert ran(run, DRY_RUN), "the dry run did not happen"
    assert calico.versions() == before and calico.backup_folders() == []


def test_failed_rollout_rolls_back(calico):
    resources = calico.resources()
    rules = calico.controller_rules()
    run = calico.upgrade("stall", calico_image_registry="registry.test/kwok-stall", calico_rollout_timeout=15)
    assert run.returncode != 0
    message = run.failure()
    [backup] = calico.backup_folders()
    assert f"The upgrade of Calico {OLD} to {NEW} failed" in message
    assert "DaemonSet kube-system/calico-node did not roll out within calico_rollout_timeout (15 s)" in message
    assert f"It was rolled back: {OLD} runs again, restored from the backup {backup}." in message
    # Back on the old release, rolled out, with the old RBAC; the resources untouched.
    assert all(image.startswith(f"{REGISTRY}/calico/") and image.endswith(":" + OLD) for image in calico.images())
    assert calico.rolled_out()
    assert calico.controller_rules() == rules
    assert calico.resources() == resources
    # The backup holds what it says.
    info = yaml.safe_load((backup / "upgrade-backup.yml").read_text())
    assert info["from"] == OLD and info["to"] == NEW
    assert (backup.stat().st_mode & 0o777) == 0o700
    assert all((backup / name).stat().st_mode & 0o777 == 0o600 for name in ("calico.yaml", "calico-resources.yaml"))
    pools = [r for r in yaml.safe_load_all((backup / "calico-resources.yaml").read_text()) if r and r["kind"] == "IPPool"]
    assert {p["metadata"]["name"] for p in pools} == {"default-ipv4-ippool", "hand-made-pool"}
    calico.backups["failed"] = str(backup)


def test_clean_upgrade(calico):
    resources = calico.resources()
    assert NEW_RULE not in calico.controller_rules()
    requests_before = api_requests(calico.cluster)
    run = calico.upgrade("upgrade")
    assert run.returncode == 0, run.failure() or run.stdout[-3000:]
    # The counter of the no-op re-run below sees the writes of a real upgrade.
    requests = delta(api_requests(calico.cluster), requests_before)
    assert requests["writes"] > 0 and requests["dry_run_writes"] > 0, requests
    print(f"upgrade {OLD} -> {NEW}: API requests on the objects it handles {requests}")
    images = calico.images()
    assert images and all(image.startswith(f"{REGISTRY}/calico/") and image.endswith(":" + NEW) for image in images)
    assert calico.rolled_out()
    assert NEW_RULE in calico.controller_rules()
    after = calico.resources()
    assert_untouched(resources, after)
    assert after["bgpconfiguration/default"]["spec"]["serviceLoadBalancerAggregation"] == "Enabled"
    new_backup = [str(p) for p in calico.backup_folders() if str(p) != calico.backups.get("failed")]
    assert len(new_backup) == 1
    shown = run.result("k8snet.calico.calico_upgrade : Show the backup folder")["msg"]
    assert new_backup[0] in shown
    calico.backups["upgrade"] = new_backup[0]
    # calico-node, restarted on the new release, says so (as the real one does).
    calico.set_cluster_information(NEW)


def test_rerun_writes_nothing(calico):
    before = calico.versions()
    folders = calico.backup_folders()
    requests_before = api_requests(calico.cluster)
    run = calico.upgrade("rerun")
    assert run.returncode == 0, run.failure()
    requests = delta(api_requests(calico.cluster), requests_before)
    print(f"no-op re-run: API requests on the objects it handles {requests}")
    assert requests["writes"] == 0, requests
    assert run.stats["changed"] == 0, run.changed_tasks()
    assert calico.versions() == before, "the re-run wrote to the cluster"
    assert calico.backup_folders() == folders, "the re-run wrote a backup"
    said = run.result("k8snet.calico.calico_upgrade : Say what the upgrade does")["msg"]
    assert "nothing to do" in said


def test_restore_from_backup_folder(calico):
    resources = calico.resources()
    run = calico.upgrade("restore", calico_upgrade_rollback_from=calico.backups["upgrade"])
    assert run.returncode == 0, run.failure() or run.stdout[-3000:]
    assert all(image.endswith(":" + OLD) for image in calico.images())
    assert calico.rolled_out()
    assert NEW_RULE not in calico.controller_rules()
    assert_untouched(resources, calico.resources())
    # Restoring again changes nothing.
    before = calico.versions()
    again = calico.upgrade("restore-again", calico_upgrade_rollback_from=calico.backups["upgrade"])
    assert again.returncode == 0, again.failure()
    assert again.stats["changed"] == 0, again.changed_tasks()
    assert calico.versions() == before


@pytest.mark.etcd
def test_etcd_datastore_upgrade(calico, etcd_tls_server, testbed_bin):
    """calico-etcd.yaml v3.30.7 -> v3.31.7 with the resources in a real etcd (TLS): the backup
    holds the Secret with the etcd key (mode 0600) and the resources read from etcd, the key is in
    no output, and the upgrade rolls out."""
    etcd = etcd_tls_server
    calicoctl = Calicoctl(testbed_bin / "calicoctl", etcd.env())

    def etcd_vars(version, **overrides):
        return calico.vars(version, calico_datastore="etcdv3", calico_etcd_endpoints=[etcd.endpoint],
                           calico_etcd_ca_cert=str(etcd.ca.cert_path), calico_etcd_cert=str(etcd.client_cert.cert),
                           calico_etcd_key=str(etcd.client_cert.key),
                           calico_manifest_url=f"file://{upstream_dir()}/calico/{version}/calico-etcd.yaml",
                           calico_render_dir=str(calico.workdir / "rendered-etcd"), **overrides)

    install = run_playbook_file(calico.workdir, INSTALL, extra_vars=etcd_vars(OLD), name="etcd-install")
    assert install.returncode == 0, install.failure()
    calicoctl("create", "-f", "-", input=yaml.safe_dump(HAND_PEER))
    peer = json.loads(calicoctl("get", "bgppeer", HAND_PEER["metadata"]["name"], "-o", "json").stdout)
    folders = calico.backup_folders()

    run = run_playbook_file(calico.workdir, UPGRADE, extra_vars=etcd_vars(NEW), name="etcd-upgrade", diff=True)
    assert run.returncode == 0, run.failure() or run.stdout[-3000:]
    assert all(image.endswith(":" + NEW) for image in calico.images())
    assert calico.rolled_out()
    assert json.loads(calicoctl("get", "bgppeer", HAND_PEER["metadata"]["name"], "-o", "json",
                                "--allow-version-mismatch").stdout) == peer
    shown = run.result("k8snet.calico.calico_upgrade : Show what was overridden and what was not checked")["msg"]
    assert any("IPAM capacity not checked" in note for note in shown["notes"])

    [backup] = [p for p in calico.backup_folders() if p not in folders]
    objects = [d for d in yaml.safe_load_all((backup / "calico.yaml").read_text()) if d]
    [secret] = [d for d in objects if d["kind"] == "Secret"]
    key_pem = etcd.client_cert.key.read_bytes()
    assert base64.b64decode(secret["data"]["etcd-key"]) == key_pem
    assert (backup / "calico.yaml").stat().st_mode & 0o777 == 0o600
    for line in key_pem.decode().strip().splitlines()[1:-1]:
        assert line not in run.stdout
    assert base64.b64encode(key_pem).decode()[:40] not in run.stdout
    resources = [d for d in yaml.safe_load_all((backup / "calico-resources.yaml").read_text()) if d]
    assert ("BGPPeer", HAND_PEER["metadata"]["name"]) in {(r["kind"], r["metadata"]["name"]) for r in resources}
