"""playbooks/ip_pool_mode.yml on the etcdv3 datastore, with the real calicoctl as the reference."""

import json
from pathlib import Path

import pytest
import yaml

from playbook import LOCAL_INVENTORY, run_playbook_file

pytestmark = [pytest.mark.etcd, pytest.mark.calicoctl, pytest.mark.playbook]

PLAYBOOK = Path(__file__).resolve().parents[2] / "playbooks" / "ip_pool_mode.yml"
TASK = "k8snet.calico.calico_pool_mode : "


def _seed(calicoctl):
    nodes = [("master-01", "10.10.0.11/24"), ("node-01", "10.10.0.21/24"), ("node-02", "10.20.0.22/24")]
    docs = [{"apiVersion": "projectcalico.org/v3", "kind": "Node", "metadata": {"name": name},
             "spec": {"bgp": {"ipv4Address": address}}} for name, address in nodes]
    docs += [
        {"apiVersion": "projectcalico.org/v3", "kind": "BGPConfiguration", "metadata": {"name": "default"},
         "spec": {"nodeToNodeMeshEnabled": False, "asNumber": 64512}},
        {"apiVersion": "projectcalico.org/v3", "kind": "BGPPeer", "metadata": {"name": "tor"},
         "spec": {"peerIP": "10.10.0.1", "asNumber": 65001}},
        {"apiVersion": "projectcalico.org/v3", "kind": "IPPool", "metadata": {"name": "default-ipv4-ippool"},
         "spec": {"cidr": "10.244.0.0/16", "ipipMode": "Never", "natOutgoing": False}},
    ]
    calicoctl("create", "-f", "-", input=yaml.safe_dump_all(docs))


def _pool(calicoctl):
    return json.loads(calicoctl("get", "ippool", "default-ipv4-ippool", "-o", "json").stdout)


def test_guarded_pool_mode_change(etcd_server, calicoctl_etcd, tmp_path):
    _seed(calicoctl_etcd)
    before = _pool(calicoctl_etcd)
    base = {"calico_datastore": "etcdv3", "calico_etcd_endpoints": etcd_server.endpoint}

    checked = run_playbook_file(tmp_path, PLAYBOOK, inventory=LOCAL_INVENTORY, check=True, diff=True, name="check",
                                extra_vars={**base, "calico_pool_mode_ipip": "CrossSubnet"})
    assert checked.returncode == 0, checked.stdout[-3000:]
    guard = checked.result(TASK + "Check the change")
    assert guard["subnets"] == {"10.10.0.0/24": ["master-01", "node-01"], "10.20.0.0/24": ["node-02"]}
    assert guard["cautions"][0].startswith("the nodes span 2 subnets")
    patch = checked.result(TASK + "Patch the IP pool")
    assert patch["changed"] and patch["results"][0]["diff"] == ["spec.ipipMode"]
    assert _pool(calicoctl_etcd) == before, "check mode wrote"

    refused = run_playbook_file(tmp_path, PLAYBOOK, inventory=LOCAL_INVENTORY, name="refused",
                                extra_vars={**base, "calico_pool_mode_ipip": "Always"})
    assert refused.returncode != 0
    assert refused.failure() == (
        "IP pool default-ipv4-ippool not changed: changing the encapsulation of IP pool default-ipv4-ippool "
        "(ipipMode Never -> Always) affects the traffic of every pod in it at once: set calico_pool_mode_confirm: "
        "default-ipv4-ippool to apply it (check mode shows the change)")
    assert _pool(calicoctl_etcd) == before

    confirmed = {**base, "calico_pool_mode_ipip": "Always", "calico_pool_mode_confirm": "default-ipv4-ippool"}
    run = run_playbook_file(tmp_path, PLAYBOOK, inventory=LOCAL_INVENTORY, name="apply", extra_vars=confirmed)
    assert run.returncode == 0, run.stdout[-3000:]
    after = _pool(calicoctl_etcd)
    assert after["spec"]["ipipMode"] == "Always"
    assert {k: v for k, v in after["spec"].items() if k != "ipipMode"} == \
        {k: v for k, v in before["spec"].items() if k != "ipipMode"}
    assert after["metadata"].get("labels") == before["metadata"].get("labels")  # no label added

    again = run_playbook_file(tmp_path, PLAYBOOK, inventory=LOCAL_INVENTORY, name="again", extra_vars=confirmed)
    assert again.returncode == 0 and again.changed_tasks() == []

    both = run_playbook_file(tmp_path, PLAYBOOK, inventory=LOCAL_INVENTORY, name="both",
                             extra_vars={**confirmed, "calico_pool_mode_vxlan": "Always"})
    assert both.returncode != 0
    assert "ipipMode Always and vxlanMode Always together" in both.failure()
    assert _pool(calicoctl_etcd)["spec"]["ipipMode"] == "Always"
