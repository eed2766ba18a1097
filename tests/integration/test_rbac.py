"""The documented RBAC of the calicoctl module is enough, and no more is granted by it."""

from __future__ import annotations

import pytest
import yaml

from conftest import REPO_ROOT
from playbook import run_playbook

pytestmark = [pytest.mark.cluster, pytest.mark.playbook]

PEER = {"apiVersion": "projectcalico.org/v3", "kind": "BGPPeer", "metadata": {"name": "rbac-peer"},
        "spec": {"peerIP": "192.0.2.61", "asNumber": 65001}}
NODE_PATCH = {"apiVersion": "projectcalico.org/v3", "kind": "Node", "metadata": {"name": "node-2"},
              "spec": {"bgp": {"routeReflectorClusterID": "224.0.0.9"}}}


def test_documented_rules_suffice_for_the_module(cluster, calico_crds, tmp_path):
    role = yaml.safe_load((REPO_ROOT / "docs" / "rbac-calicoctl.yaml").read_text())
    kubeconfig = cluster.restricted_kubeconfig("k8snet-calico-docs", role["rules"])
    options = {"datastore": "kubernetes", "kubeconfig": str(kubeconfig)}
    tasks = [
        {"name": "apply", "k8snet.calico.calicoctl": {**options, "definition": PEER}},
        {"name": "patch node", "k8snet.calico.calicoctl": {**options, "state": "patched", "definition": NODE_PATCH}},
        {"name": "read", "k8snet.calico.calico_info": {**options, "kinds": ["BGPPeer", "IPPool"]}},
        {"name": "remove", "k8snet.calico.calicoctl": {**options, "state": "absent",
                                                       "definition": [PEER]}},
    ]
    run = run_playbook(tmp_path, tasks)
    assert run.returncode == 0, run.stdout[-3000:]
    assert run.result("apply")["results"][0]["action"] == "created"
    assert run.result("patch node")["results"][0]["action"] == "updated"
    assert [p["metadata"]["name"] for p in run.result("read")["resources"]["BGPPeer"]] == ["rbac-peer"]
    assert run.result("remove")["results"][0]["action"] == "deleted"
    # Nothing beyond the file: Secrets stay out of reach of this identity.
    denied = cluster.kubectl("get", "secrets", "-n", "kube-system", kubeconfig=kubeconfig, check=False)
    assert denied.returncode != 0 and "forbidden" in denied.stderr.lower()
    cluster.request("PATCH", "/api/v1/nodes/node-2", {"metadata": {"annotations": {
        "projectcalico.org/RouteReflectorClusterID": None}}}, content_type="application/merge-patch+json")
