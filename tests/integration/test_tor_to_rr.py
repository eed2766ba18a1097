"""playbooks/tor_to_rr.yml on a lab of real BIRD 1.6 routers driven from a real Kubernetes datastore.

The lab: two TOR switches (AS 65001, iBGP between them, as a switch pair is) and four nodes
(AS 64512) announcing one pod block each; the datastore is a test cluster with Calico's CRDs and
four Nodes whose addresses are the lab's. The confd stand-in (tests/testbed/confd.py) turns the
Calico resources into each node's BIRD peerings whenever they change, and between syncs checks
that every router has a path to every pod block. The playbook runs against the datastore and reads
each node's BGP sessions from its BIRD socket (calico_bgp_status), as it would on real nodes.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from conftest import Calicoctl, calico_releases, upstream_dir
from playbook import run_playbook_file

pytestmark = [pytest.mark.bgplab, pytest.mark.cluster, pytest.mark.playbook]

PLAYBOOK = Path(__file__).resolve().parents[2] / "playbooks" / "tor_to_rr.yml"
TORS = {"tor-a": "172.31.254.1", "tor-b": "172.31.254.2"}
NODES = {f"rack1-{i}": f"172.31.254.{10 + i}" for i in range(1, 5)}
REFLECTORS = ["rack1-1", "rack1-2"]
CLIENTS = ["rack1-3", "rack1-4"]
CLUSTER_ID = "244.0.0.1"
SELECTOR = "route-reflector == 'true'"
ROLE = "k8snet.calico.calico_route_reflector : "


def _tor_peer(name: str) -> dict:
    return {"apiVersion": "projectcalico.org/v3", "kind": "BGPPeer", "metadata": {"name": name},
            "spec": {"peerIP": TORS[name], "asNumber": 65001}}


@pytest.fixture
def tor_lab(bird_available, testbed_bin, tmp_path):
    """A TOR-mode cluster: datastore, lab, confd stand-in (not yet checking)."""
    from testbed.bgplab import BgpLab
    from testbed.cluster import NodeSpec, TestCluster
    from testbed.confd import ConfdStandIn

    releases = calico_releases()
    if not releases:
        pytest.fail(f"no upstream Calico release files in {upstream_dir()}")
    specs = [NodeSpec(name, address, f"10.244.{i}.0/24") for i, (name, address) in enumerate(NODES.items(), 1)]
    with TestCluster(tmp_path / "cluster", nodes=specs) as cluster:
        cluster.kubectl("apply", "--server-side", "-f", str(upstream_dir() / "calico" / releases[-1] / "crds.yaml"))
        cluster.wait_crds_established()
        for name, address in NODES.items():  # what calico-node writes at start-up
            cluster.kubectl("annotate", "node", name, f"projectcalico.org/IPv4Address={address}/24")
        calicoctl = Calicoctl(testbed_bin / "calicoctl", {"DATASTORE_TYPE": "kubernetes",
                                                          "KUBECONFIG": str(cluster.kubeconfig)})
        start = [{"apiVersion": "projectcalico.org/v3", "kind": "BGPConfiguration", "metadata": {"name": "default"},
                  "spec": {"nodeToNodeMeshEnabled": False, "asNumber": 64512}},
                 _tor_peer("tor-a"), _tor_peer("tor-b")]
        calicoctl("apply", "-f", "-", input=yaml.safe_dump_all(start))

        with BgpLab() as lab:
            for name, address in TORS.items():
                lab.add_router(name, address, kind="tor")
            for i, (name, address) in enumerate(NODES.items(), 1):
                lab.add_router(name, address, pod_blocks=[f"10.244.{i}.0/26"])
            for name in TORS:  # the switches' side: every node, and the other switch
                other = [t for t in TORS if t != name]
                lab.set_peers(name, [{"name": n} for n in NODES] + [{"name": t} for t in other])
            confd = ConfdStandIn(lab, cluster, tors=list(TORS))
            confd.wait_converged(timeout=60)
            for name in NODES:
                lab.wait_established(name, list(TORS))
            yield {"cluster": cluster, "lab": lab, "confd": confd, "calicoctl": calicoctl, "dir": tmp_path}
            confd.stop()


def _inventory(lab, cluster, backup_dir: Path, **extra) -> dict:
    hosts = {name: {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                    "calico_route_reflector_bird_socket": lab.socket_path(name)} for name in NODES}
    return {"all": {
        "hosts": {"localhost": {"ansible_connection": "local",
                                "ansible_python_interpreter": "{{ ansible_playbook_python }}"}},
        "vars": {"calico_kubeconfig": str(cluster.kubeconfig), "calico_datastore": "kubernetes",
                 "calico_route_reflector_cluster_id": CLUSTER_ID, "calico_route_reflector_become": False,
                 "calico_route_reflector_gate_delay": 0.5, "calico_route_reflector_gate_timeout": 30,
                 "calico_route_reflector_backup_dir": str(backup_dir), **extra},
        "children": {"k8s_cluster": {"hosts": hosts},
                     "calico_rr": {"hosts": {name: {} for name in REFLECTORS}}}}}


def _datastore(calicoctl) -> dict:
    """What a rollback must restore: the BGPPeers and the nodes' BGP fields and labels."""
    peers = json.loads(calicoctl("get", "bgppeers", "-o", "json").stdout)["items"]
    nodes = json.loads(calicoctl("get", "nodes", "-o", "json").stdout)["items"]
    return {
        "peers": {p["metadata"]["name"]: p["spec"] for p in peers},
        "peer_labels": {p["metadata"]["name"]: p["metadata"].get("labels") for p in peers},
        "nodes": {n["metadata"]["name"]: (n["spec"].get("bgp"), n["metadata"].get("labels", {}).get("route-reflector"))
                  for n in nodes},
    }


def _versions(cluster) -> dict:
    """Resource versions of the Calico resources, and the Calico fields of the Nodes (kwok's
    heartbeats change a Node's resourceVersion, so a Node is compared by content)."""
    nodes = cluster.request("GET", "/api/v1/nodes")["items"]
    calico = [item for plural in ("bgppeers", "bgpconfigurations")
              for item in cluster.request("GET", f"/apis/crd.projectcalico.org/v1/{plural}")["items"]]
    versions = {item["metadata"]["name"]: item["metadata"]["resourceVersion"] for item in calico}
    versions.update({node["metadata"]["name"]: (node["metadata"].get("labels"), node["metadata"].get("annotations"))
                     for node in nodes})
    return versions


def _established(lab, name) -> set[str]:
    return {p["neighbor_address"] for p in lab.protocols(name)
            if p["proto"] == "BGP" and p.get("bgp_state") == "Established"}


def test_tor_to_rr_keeps_every_pod_block_reachable(tor_lab):
    lab, cluster, confd, calicoctl = tor_lab["lab"], tor_lab["cluster"], tor_lab["confd"], tor_lab["calicoctl"]
    work = tor_lab["dir"]
    inventory = _inventory(lab, cluster, work / "backups")
    before = _versions(cluster)
    started = time.monotonic()
    confd.start()

    checked = run_playbook_file(work, PLAYBOOK, inventory=inventory, check=True, diff=True, name="check")
    assert checked.returncode == 0, checked.stdout[-4000:] + checked.stderr[-2000:]
    plan = checked.result(ROLE + "Compute the plan")
    assert plan["changes"][:2] == [
        f"make-reflectors: Node rack1-1 gets routeReflectorClusterID {CLUSTER_ID} and label route-reflector=true",
        f"make-reflectors: Node rack1-2 gets routeReflectorClusterID {CLUSTER_ID} and label route-reflector=true"]
    assert [c.split(":")[0] for c in plan["changes"][2:]] == ["add-peerings", "move-tor-peers", "move-tor-peers"]
    assert plan["gate"]["rack1-3"] == [NODES["rack1-1"], NODES["rack1-2"]]
    assert plan["gate"]["rack1-1"] == [NODES["rack1-2"], TORS["tor-a"], TORS["tor-b"]]
    diffs = checked.task_results(ROLE + "Stage move-tor-peers (check mode) - the TOR peers scoped to the route reflectors")
    assert diffs and diffs[0]["changed"], diffs
    assert diffs[0]["results"][0]["diff"] == ["spec.nodeSelector"], (diffs[0]["results"][0], diffs[0].get("diff"))
    assert _versions(cluster) == before, "check mode wrote to the datastore"
    assert not (work / "backups").exists(), "check mode wrote a snapshot"

    run = run_playbook_file(work, PLAYBOOK, inventory=inventory, name="move")
    migrated = time.monotonic() - started
    assert run.returncode == 0, '\n'.join(map(str, [confd.error] + confd.events)) + run.stdout[-3000:]
    snapshots = list((work / "backups").glob("tor-to-rr-*.json"))
    assert len(snapshots) == 1
    assert json.loads(snapshots[0].read_text())["rollback"]["tor_peers"][0]["spec"] == _tor_peer("tor-a")["spec"]

    state = _datastore(calicoctl)
    assert state["peers"]["tor-a"]["nodeSelector"] == SELECTOR and state["peers"]["tor-b"]["nodeSelector"] == SELECTOR
    assert state["peers"]["k8snet-route-reflectors"] == {"nodeSelector": "all()", "peerSelector": SELECTOR}
    for name in REFLECTORS:
        assert state["nodes"][name] == ({"ipv4Address": f"{NODES[name]}/24", "routeReflectorClusterID": CLUSTER_ID},
                                        "true")
    for name in CLIENTS:
        assert state["nodes"][name] == ({"ipv4Address": f"{NODES[name]}/24"}, None)

    time.sleep(2 * confd.interval)  # one more sync and check after the last change
    for name in CLIENTS:  # clients: the reflectors only, no TOR session configured any more
        assert _established(lab, name) == {NODES[r] for r in REFLECTORS}
        assert {p["name"] for p in lab.protocols(name) if p["proto"] == "BGP"} == {f"Node_{NODES[r].replace('.', '_')}" for r in REFLECTORS}
    for name in REFLECTORS:
        assert _established(lab, name) == set(TORS.values()) | {a for n, a in NODES.items() if n != name}

    # The network team's change after the move: the switches keep only the route reflectors.
    for name in TORS:
        other = [t for t in TORS if t != name]
        lab.set_peers(name, [{"name": r} for r in REFLECTORS] + [{"name": t} for t in other])
    for name in TORS:
        for block in ("10.244.1.0/26", "10.244.2.0/26", "10.244.3.0/26", "10.244.4.0/26"):
            lab.wait_route(name, block, timeout=15)

    again = run_playbook_file(work, PLAYBOOK, inventory=inventory, name="again")
    assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-2000:]
    assert again.changed_tasks() == []
    assert again.result(ROLE + "Compute the plan")["done"] is True
    assert len(list((work / "backups").glob("tor-to-rr-*.json"))) == 1
    gate = [result for play in again.report["plays"] if play["play"]["name"].startswith("Gate - the route reflectors")
            for task in play["tasks"] for result in task["hosts"].values()
            if task["task"]["name"].startswith(ROLE + "Wait for Established") and not result.get("skipped")]
    assert len(gate) == len(NODES) and all(not r.get("failed") for r in gate), "the second run verifies every node"

    log = confd.stop()
    print(f"\nTOR-to-RR lab: moved in {migrated:.1f}s; {log.checks} route checks in {log.samples} samples over "
          f"{len(log.states)} datastore states; {confd.reconfigurations} BIRD reconfigurations")
    assert log.failures == [], f"pod blocks without a path: {log.failures[:10]}"
    assert len(log.states) >= 5, "expected TOR mode, reflectors, peering, two TOR moves"
    assert all(samples >= 1 for samples in log.states.values())


def test_failed_gate_rolls_back_with_every_route_kept(tor_lab):
    lab, cluster, confd, calicoctl = tor_lab["lab"], tor_lab["cluster"], tor_lab["confd"], tor_lab["calicoctl"]
    work = tor_lab["dir"]
    start_state = _datastore(calicoctl)
    start_sessions = {name: _established(lab, name) for name in NODES}
    confd.frozen.add("rack1-2")  # calico-node on this route reflector is stuck: it never reflects
    confd.start()

    inventory = _inventory(lab, cluster, work / "backups", calico_route_reflector_gate_timeout=8)
    run = run_playbook_file(work, PLAYBOOK, inventory=inventory, name="fail")
    assert run.returncode != 0
    message = run.failure()
    assert message.startswith("tor_to_rr rolled back to the starting point. What failed: ")
    assert f"rack1-3: no Established session with {NODES['rack1-2']} after 8s" in message
    snapshot = message.split("Snapshot of the starting point: ")[1].strip()
    assert Path(snapshot).is_file() and Path(snapshot).parent == work / "backups"
    assert run.task_results(ROLE + "Stage move-tor-peers - only the route reflectors peer with BGPPeer tor-a") == []

    assert _datastore(calicoctl) == start_state
    confd.frozen.clear()
    deadline = time.monotonic() + 20
    while {name: _established(lab, name) for name in NODES} != start_sessions:
        assert time.monotonic() < deadline, "BGP sessions did not return to TOR mode"
        time.sleep(0.2)
    log = confd.stop()
    print(f"\nTOR-to-RR rollback lab: {log.checks} route checks in {log.samples} samples, "
          f"{len(log.states)} datastore states")
    assert log.failures == [], f"pod blocks without a path: {log.failures[:10]}"
    assert len(log.states) >= 3


def test_single_tor_is_refused_before_any_write(tor_lab):
    cluster, calicoctl, work = tor_lab["cluster"], tor_lab["calicoctl"], tor_lab["dir"]
    calicoctl("delete", "bgppeer", "tor-b")
    before = _versions(cluster)
    run = run_playbook_file(work, PLAYBOOK, inventory=_inventory(tor_lab["lab"], cluster, work / "backups"),
                            name="single")
    assert run.returncode != 0
    assert run.failure().startswith("tor_to_rr refused, nothing was changed: one TOR peer (tor-a, 172.31.254.1)")
    assert _versions(cluster) == before
    assert not (work / "backups").exists()
