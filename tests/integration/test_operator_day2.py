# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Day-2 playbooks on a cluster installed with calico_install_method operator.

One test cluster for the module (real kube-apiserver with the upstream operator CRDs, kwok
nodes), installed by install.yml as tests/integration/test_install_operator.py does; a second,
fresh test cluster for install.yml --check --diff before any CRD exists.

STAND-IN: nothing runs the Tigera operator's logic; ``testbed.operator.OperatorStandIn`` plays it
(renders calico-system from the Installation, reports TigeraStatus and status.calicoVersion).
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
import yaml

from conftest import Calicoctl, calico_releases, missing_component, upstream_dir
from playbook import REPO_ROOT, run_playbook_file
from test_install_operator import inventory_vars
from testbed.operator import OperatorStandIn

pytestmark = [pytest.mark.playbook, pytest.mark.cluster]

INSTALL = REPO_ROOT / "playbooks" / "install.yml"
RELEASE = "v3.31.7"
INSTALLATION = "/apis/operator.tigera.io/v1/installations/default"


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
    from testbed.cluster import TestCluster
    if RELEASE not in calico_releases():
        missing_component(f"Calico {RELEASE} release files in {upstream_dir()}")
    with TestCluster(tmp_path_factory.mktemp("fresh-cluster")) as running:
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
