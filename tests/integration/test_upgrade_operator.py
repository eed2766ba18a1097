# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/upgrade.yml with calico_install_method operator, v3.30.7 -> v3.31.7 (upstream's
operator files as file:// URLs), on a test cluster of this module's own.

STAND-IN: ``testbed.operator_standin.OperatorStandIn`` plays the Tigera operator (nothing runs its logic
here): whenever the operator image of Deployment tigera-operator changes, it renders calico-system
for that image's release and reports TigeraStatus and the Installation's status.calicoVersion. A
release marked broken never becomes Available (its calico-node stalls, TigeraStatus Progressing).

Tests in file order: --check --diff shows the new operator and writes nothing; an upgrade whose
release never becomes Available is rolled back (the old operator restored, which rolls its release
out again; the hand-made resources intact; the play fails naming the backup); a clean upgrade
(operator image, CRDs, the operator's report of v3.31.7); its re-run writes nothing; a restore of
its backup folder with calico_upgrade_rollback_from brings v3.30.7 back.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from conftest import Calicoctl, UpgradeBed, own_cluster, upstream_dir
from playbook import REPO_ROOT, run_playbook_file
from testbed.operator_standin import CALICO_NS, INSTALLATION, OPERATOR_DEPLOYMENT, OPERATOR_NS, OperatorStandIn

pytestmark = [pytest.mark.playbook, pytest.mark.cluster]

INSTALL = REPO_ROOT / "playbooks" / "install.yml"
OLD, NEW = "v3.30.7", "v3.31.7"
REGISTRY = "registry.example.internal"
HAND_PEER = {"apiVersion": "projectcalico.org/v3", "kind": "BGPPeer", "metadata": {"name": "hand-made-peer"},
             "spec": {"peerIP": "10.20.0.1", "asNumber": 65010, "nodeSelector": "rack == 'r2'"}}
PLAN = "k8snet.calico.calico_upgrade : Compare the releases (objects removed upstream, defaults that change)"
DRY_RUN = ("k8snet.calico.calico : Apply tigera-operator.yaml (server-side apply, field manager k8snet.calico)")


def operator_tag(release: str) -> str:
    manifest = (upstream_dir() / "calico" / release / "tigera-operator.yaml").read_text()
    [deployment] = [d for d in yaml.safe_load_all(manifest) if d and d["kind"] == "Deployment"]
    return deployment["spec"]["template"]["spec"]["containers"][0]["image"].rsplit(":", 1)[1]


class Cluster(UpgradeBed):
    base_vars = {**UpgradeBed.base_vars, "calico_install_method": "operator"}

    def __init__(self, cluster, workdir: Path, calicoctl: Calicoctl, operator: OperatorStandIn):
        super().__init__(cluster, workdir, calicoctl)
        self.operator = operator

    def operator_image(self) -> str:
        return self.get(OPERATOR_DEPLOYMENT)["spec"]["template"]["spec"]["containers"][0]["image"]

    def node_image(self) -> str:
        ds = self.get(f"/apis/apps/v1/namespaces/{CALICO_NS}/daemonsets/calico-node")
        return ds["spec"]["template"]["spec"]["containers"][0]["image"]

    def reported(self) -> str | None:
        return self.get(INSTALLATION).get("status", {}).get("calicoVersion")

    def peer(self) -> dict:
        return json.loads(self.calicoctl("get", "bgppeer", "hand-made-peer", "-o", "json",
                                         "--allow-version-mismatch").stdout)["spec"]

    def versions(self) -> dict:
        """resourceVersion of every object an upgrade could write."""
        found = {}
        paths = [f"/api/v1/namespaces/{OPERATOR_NS}/serviceaccounts",
                 f"/apis/apps/v1/namespaces/{OPERATOR_NS}/deployments",
                 f"/apis/apps/v1/namespaces/{CALICO_NS}/daemonsets",
                 "/apis/rbac.authorization.k8s.io/v1/clusterroles",
                 "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
                 "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                 "/apis/operator.tigera.io/v1/installations", "/apis/operator.tigera.io/v1/tigerastatuses"]
        paths += [f"/apis/crd.projectcalico.org/v1/{plural}" for plural in
                  ("ippools", "bgppeers", "bgpconfigurations", "felixconfigurations")]
        for path in paths:
            for item in self.get(path)["items"]:
                found[f"{path}/{item['metadata']['name']}"] = item["metadata"]["resourceVersion"]
        return found


@pytest.fixture(scope="module")
def calico(testbed_bin, tmp_path_factory):
    """Calico v3.30.7 installed by install.yml through the operator (the stand-in watching), and a
    BGPPeer made by hand."""
    with own_cluster(tmp_path_factory, "operator-upgrade-cluster", OLD, NEW) as cluster:
        operator = OperatorStandIn(cluster, upstream_dir() / "calico").watch()
        try:
            workdir = tmp_path_factory.mktemp("operator-upgrade")
            calicoctl = Calicoctl(testbed_bin / "calicoctl", {"DATASTORE_TYPE": "kubernetes",
                                                              "KUBECONFIG": str(cluster.kubeconfig)})
            state = Cluster(cluster, workdir, calicoctl, operator)
            run = run_playbook_file(workdir, INSTALL, extra_vars=state.vars(OLD), name="install")
            assert run.returncode == 0, run.failure() or run.stdout[-3000:] + run.stderr[-3000:]
            calicoctl("create", "-f", "-", input=yaml.safe_dump(HAND_PEER))
            assert state.reported() == OLD and state.node_image() == f"{REGISTRY}/calico/node:{OLD}"
            assert state.operator_image().endswith(":" + operator_tag(OLD))
            yield state
        finally:
            operator.stop()
            assert not operator.errors, operator.errors


def test_check_diff_shows_the_new_operator_and_writes_nothing(calico):
    before = calico.versions()
    run = calico.upgrade("check", check=True)
    assert run.returncode == 0, run.failure() or run.stdout[-3000:]
    [dry_run] = run.task_results(DRY_RUN)
    changed = [r for r in dry_run["result"]["results"] if r["changed"]]
    assert [(r["result"]["kind"], r["result"]["metadata"]["name"]) for r in changed
            if r["result"]["kind"] == "Deployment"] == [("Deployment", "tigera-operator")]
    deployment = next(r for r in changed if r["result"]["kind"] == "Deployment")
    assert f"{REGISTRY}/tigera/operator:{operator_tag(NEW)}" in json.dumps(deployment["diff"]["after"])
    assert f"{REGISTRY}/tigera/operator:{operator_tag(OLD)}" in json.dumps(deployment["diff"]["before"])
    [plan] = run.task_results(PLAN)
    assert plan["running_version"] == OLD
    assert ["operator.tigera.io/v1", "Installation", "", "default"] in plan["backup_objects"]
    assert ["apps/v1", "Deployment", "tigera-operator", "tigera-operator"] in plan["backup_objects"]
    assert plan["setting_report"] == [] and plan["removed_present"] == []
    message = run.result("k8snet.calico.calico_upgrade : Say what the upgrade does")["msg"]
    assert message.startswith(f"Check mode: the upgrade {OLD} -> {NEW} would change ")
    assert "Deployment tigera-operator/tigera-operator" in message
    assert calico.versions() == before, "check mode wrote to the cluster"
    assert calico.backup_folders() == []


def test_release_that_never_becomes_available_is_rolled_back(calico):
    calico.operator.broken = {NEW}
    try:
        run = calico.upgrade("broken", calico_rollout_timeout=8)
    finally:
        calico.operator.broken = set()
    assert run.returncode != 0
    message = run.failure()
    assert len(calico.backup_folders()) == 1, message
    [backup] = calico.backup_folders()
    assert f"The upgrade of Calico {OLD} to {NEW} failed" in message
    assert "did not report every component Available within calico_rollout_timeout (8 s)" in message
    assert "calico: not Available, Progressing" in message
    assert f"It was rolled back: {OLD} runs again, restored from the backup {backup}" in message
    # The operator of v3.30.7 is back and rolled its release out again.
    assert calico.operator.reconciled[-2:] == [NEW, OLD]
    assert calico.operator_image() == f"{REGISTRY}/tigera/operator:{operator_tag(OLD)}"
    assert calico.node_image() == f"{REGISTRY}/calico/node:{OLD}" and calico.reported() == OLD
    [restored] = run.task_results(f"k8snet.calico.calico : Wait until the operator reports Calico {OLD}")
    assert restored["resources"][0]["status"]["calicoVersion"] == OLD
    assert calico.peer() == HAND_PEER["spec"]
    # What the backup holds: the operator, its CRDs, the Installation; the Calico resources.
    objects = [d for d in yaml.safe_load_all((backup / "calico.yaml").read_text()) if d]
    kinds = {(d["kind"], d["metadata"]["name"]) for d in objects}
    assert {("Deployment", "tigera-operator"), ("Installation", "default"),
            ("CustomResourceDefinition", "installations.operator.tigera.io")} <= kinds
    info = yaml.safe_load((backup / "upgrade-backup.yml").read_text())
    assert info["install_method"] == "operator" and info["from"] == OLD and info["to"] == NEW
    # The operator's pool is the Installation's: left out of the resources the calicoctl module
    # restores (it would refuse it); the Installation of the backup brings it back.
    resources = {(d["kind"], d["metadata"]["name"]) for d in
                 yaml.safe_load_all((backup / "calico-resources.yaml").read_text()) if d}
    assert ("BGPPeer", "hand-made-peer") in resources and ("IPPool", "default-ipv4-ippool") not in resources
    assert info["operator_pools"] == ["default-ipv4-ippool"]


def test_upgrade_waits_for_the_operator_to_report_the_new_release(calico):
    run = calico.upgrade("upgrade")
    assert run.returncode == 0, run.failure() or run.stdout[-3000:]
    assert calico.operator_image() == f"{REGISTRY}/tigera/operator:{operator_tag(NEW)}"
    assert calico.reported() == NEW and calico.node_image() == f"{REGISTRY}/calico/node:{NEW}"
    [wait] = run.task_results(f"k8snet.calico.calico : Wait until the operator reports Calico {NEW}")
    assert wait["resources"][0]["status"]["calicoVersion"] == NEW
    crd = calico.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/installations.operator.tigera.io")
    new_crd = [d for d in yaml.safe_load_all((upstream_dir() / "calico" / NEW / "operator-crds.yaml").read_text())
               if d and d["metadata"]["name"] == "installations.operator.tigera.io"][0]
    assert crd["spec"]["versions"][0]["schema"] == new_crd["spec"]["versions"][0]["schema"]
    assert calico.peer() == HAND_PEER["spec"]
    assert len(calico.backup_folders()) == 2


def test_second_run_writes_nothing(calico):
    before, folders = calico.versions(), calico.backup_folders()
    run = calico.upgrade("again")
    assert run.returncode == 0, run.failure()
    assert run.stats["changed"] == 0, run.changed_tasks()
    message = run.result("k8snet.calico.calico_upgrade : Say what the upgrade does")["msg"]
    assert message.startswith(f"Calico {NEW} runs already as the inventory says: nothing to do")
    assert calico.versions() == before and calico.backup_folders() == folders


def test_restore_of_the_backup_folder_brings_the_old_release_back(calico):
    backup = calico.backup_folders()[-1]
    run = calico.upgrade("restore", calico_upgrade_rollback_from=str(backup))
    assert run.returncode == 0, run.failure() or run.stdout[-3000:]
    assert calico.operator_image() == f"{REGISTRY}/tigera/operator:{operator_tag(OLD)}"
    assert calico.reported() == OLD and calico.node_image() == f"{REGISTRY}/calico/node:{OLD}"
    assert calico.peer() == HAND_PEER["spec"]
