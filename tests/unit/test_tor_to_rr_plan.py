"""The TOR-to-route-reflector plan: order of changes, gates, rollback and refusals, from plain resources."""

import copy

import pytest

from ansible_collections.k8snet.calico.plugins.module_utils.bgp.tor_to_rr import PlanOptions, plan

SELECTOR = "route-reflector == 'true'"
ADDRESSES = {"node-01": "10.0.0.11", "node-02": "10.0.0.12", "node-03": "10.0.0.13", "node-04": "10.0.0.14"}
RRS = [{"node": "node-01", "cluster_id": "244.0.0.1", "host": "node-01"},
       {"node": "node-02", "cluster_id": "244.0.0.1", "host": "node-02"}]


def node(name, labels=None, **bgp):
    spec_bgp = {"ipv4Address": ADDRESSES[name] + "/24"} if name in ADDRESSES else {}
    spec_bgp.update(bgp)
    return {"apiVersion": "projectcalico.org/v3", "kind": "Node",
            "metadata": {"name": name, "labels": dict(labels or {})}, "spec": {"bgp": spec_bgp}}


def peer(name, **spec):
    return {"apiVersion": "projectcalico.org/v3", "kind": "BGPPeer",
            "metadata": {"name": name, "labels": {"k8snet.calico/managed-by": "k8snet.calico"}}, "spec": spec}


def tor_mode():
    nodes = [node(n) for n in ADDRESSES]
    peers = [peer("tor-a", peerIP="10.0.0.1", asNumber=65001), peer("tor-b", peerIP="10.0.0.2", asNumber=65001)]
    config = {"metadata": {"name": "default"}, "spec": {"nodeToNodeMeshEnabled": False, "asNumber": 64512}}
    return nodes, peers, config


def test_tor_mode_plan_orders_the_stages_and_keeps_a_rollback():
    nodes, peers, config = tor_mode()
    result = plan(nodes, peers, config, RRS, PlanOptions(gated_nodes=list(ADDRESSES)))
    assert result["refusals"] == [] and result["done"] is False and result["not_gated"] == []
    assert result["changes"] == [
        "make-reflectors: Node node-01 gets routeReflectorClusterID 244.0.0.1 and label route-reflector=true",
        "make-reflectors: Node node-02 gets routeReflectorClusterID 244.0.0.1 and label route-reflector=true",
        f"add-peerings: BGPPeer k8snet-route-reflectors (every node peers with {SELECTOR}; calico-node adds the "
        "reverse peerings)",
        f"move-tor-peers: BGPPeer tor-a (10.0.0.1) gets nodeSelector {SELECTOR}: only the route reflectors peer with it",
        f"move-tor-peers: BGPPeer tor-b (10.0.0.2) gets nodeSelector {SELECTOR}: only the route reflectors peer with it",
    ]
    assert result["node_patches"][0] == {
        "apiVersion": "projectcalico.org/v3", "kind": "Node",
        "metadata": {"name": "node-01", "labels": {"route-reflector": "true"}},
        "spec": {"bgp": {"routeReflectorClusterID": "244.0.0.1"}}}
    assert result["peering"]["spec"] == {"nodeSelector": "all()", "peerSelector": SELECTOR}
    moved = result["tor_moves"][0]["definition"]
    assert moved["spec"] == {"peerIP": "10.0.0.1", "asNumber": 65001, "nodeSelector": SELECTOR}
    assert moved["metadata"]["labels"] == {"k8snet.calico/managed-by": "k8snet.calico"}  # labels kept
    assert result["mesh_off"] is None
    assert result["gate"] == {
        "node-01": ["10.0.0.12", "10.0.0.1", "10.0.0.2"], "node-02": ["10.0.0.11", "10.0.0.1", "10.0.0.2"],
        "node-03": ["10.0.0.11", "10.0.0.12"], "node-04": ["10.0.0.11", "10.0.0.12"]}
    rollback = result["rollback"]
    assert [p["spec"] for p in rollback["tor_peers"]] == [peers[0]["spec"], peers[1]["spec"]]
    assert rollback["peering"] == {"state": "absent", "definition": {
        "apiVersion": "projectcalico.org/v3", "kind": "BGPPeer", "metadata": {"name": "k8snet-route-reflectors"},
        "spec": {}}}
    assert rollback["node_patches"][1] == {
        "apiVersion": "projectcalico.org/v3", "kind": "Node",
        "metadata": {"name": "node-02", "labels": {"route-reflector": None}},
        "spec": {"bgp": {"routeReflectorClusterID": None}}}
    assert rollback["mesh"] is None
    assert rollback["gate"] == {n: ["10.0.0.1", "10.0.0.2"] for n in ADDRESSES}
    assert result["current"]["tor_peers"][0] == {"name": "tor-a", "address": "10.0.0.1", "as_number": 65001,
                                                 "scope": "all nodes"}


def test_input_is_not_modified():
    nodes, peers, config = tor_mode()
    before = copy.deepcopy((nodes, peers, config))
    plan(nodes, peers, config, RRS)
    assert (nodes, peers, config) == before


def migrated():
    nodes = [node("node-01", {"route-reflector": "true"}, routeReflectorClusterID="244.0.0.1"),
             node("node-02", {"route-reflector": "true"}, routeReflectorClusterID="244.0.0.1"),
             node("node-03"), node("node-04")]
    peers = [peer("tor-a", peerIP="10.0.0.1", asNumber=65001, nodeSelector=SELECTOR),
             peer("tor-b", peerIP="10.0.0.2", asNumber=65001, nodeSelector=SELECTOR),
             peer("k8snet-route-reflectors", nodeSelector="all()", peerSelector=SELECTOR)]
    return nodes, peers, {"metadata": {"name": "default"}, "spec": {"nodeToNodeMeshEnabled": False}}


def test_a_migrated_cluster_has_nothing_to_do_but_is_still_gated():
    result = plan(*migrated(), RRS)
    assert result["done"] is True and result["changes"] == [] and result["refusals"] == []
    assert result["node_patches"] == [] and result["peering"] is None and result["tor_moves"] == []
    assert result["gate"]["node-03"] == ["10.0.0.11", "10.0.0.12"]
    assert result["gate"]["node-02"] == ["10.0.0.11", "10.0.0.1", "10.0.0.2"]
    assert [t["scope"] for t in result["current"]["tor_peers"]] == [SELECTOR, SELECTOR]


def test_a_half_done_move_finishes_with_the_remaining_tor():
    nodes, peers, config = migrated()
    peers[1]["spec"].pop("nodeSelector")
    result = plan(nodes, peers, config, RRS)
    assert [m["name"] for m in result["tor_moves"]] == ["tor-b"]
    assert result["changes"] == [
        f"move-tor-peers: BGPPeer tor-b (10.0.0.2) gets nodeSelector {SELECTOR}: only the route reflectors peer with it"]
    assert result["gate"]["node-01"] == ["10.0.0.12", "10.0.0.1", "10.0.0.2"]


def test_a_changed_peering_is_updated_and_restored_on_rollback():
    nodes, peers, config = migrated()
    peers[2]["spec"]["peerSelector"] = "has(route-reflector)"
    result = plan(nodes, peers, config, RRS)
    assert result["peering"]["spec"]["peerSelector"] == SELECTOR
    assert result["rollback"]["peering"]["state"] == "present"
    assert result["rollback"]["peering"]["definition"]["spec"]["peerSelector"] == "has(route-reflector)"


def test_mesh_on_without_a_bgp_configuration_turns_the_mesh_off_last():
    nodes = [node(n) for n in ADDRESSES]
    result = plan(nodes, [], None, RRS)
    assert result["refusals"] == []
    assert result["mesh_off"] == {"state": "present", "definition": {
        "apiVersion": "projectcalico.org/v3", "kind": "BGPConfiguration", "metadata": {"name": "default"},
        "spec": {"nodeToNodeMeshEnabled": False}}}
    assert result["changes"][-1] == "mesh-off: BGPConfiguration default nodeToNodeMeshEnabled false"
    assert result["rollback"]["mesh"]["state"] == "absent"
    # after a rollback the mesh is back: every node with every other
    assert result["rollback"]["gate"]["node-03"] == ["10.0.0.11", "10.0.0.12", "10.0.0.14"]


def test_mesh_on_in_an_existing_configuration_is_patched():
    nodes, peers, config = tor_mode()
    config["spec"]["nodeToNodeMeshEnabled"] = True
    result = plan(nodes, peers, config, RRS)
    assert result["mesh_off"]["state"] == "patched"
    assert result["rollback"]["mesh"]["definition"]["spec"] == {"nodeToNodeMeshEnabled": True}


@pytest.mark.parametrize("change, refusal", [
    (lambda n, p, c, r, o: r.clear(), "no route reflectors: the inventory group calico_rr is empty"),
    (lambda n, p, c, r, o: r.pop(), "only 1 route reflector(s) (node-01) but calico_route_reflector_min is 2"),
    (lambda n, p, c, r, o: r.append({"node": "node-09", "cluster_id": "244.0.0.1", "host": "rr9"}),
     "calico_rr host rr9: there is no Calico Node 'node-09'"),
    (lambda n, p, c, r, o: r[1].update(cluster_id=""), "calico_route_reflector_cluster_id of node-02 is not set"),
    (lambda n, p, c, r, o: r[1].update(cluster_id="rack-1"),
     "calico_route_reflector_cluster_id of node-02: 'rack-1' is not an IPv4 address"),
    (lambda n, p, c, r, o: n[1]["spec"]["bgp"].pop("ipv4Address"),
     "route reflector node-02 has no BGP IPv4 address (spec.bgp.ipv4Address)"),
    (lambda n, p, c, r, o: n[3]["metadata"]["labels"].update({"route-reflector": "true"}),
     "node node-04 is a route reflector in the datastore (label route-reflector == 'true' or a "
     "routeReflectorClusterID) but not in calico_rr"),
    (lambda n, p, c, r, o: n[2]["spec"]["bgp"].update(asNumber=65010),
     "node node-03 is in AS 65010 and the route reflectors in AS 64512"),
    (lambda n, p, c, r, o: p.pop(), "one TOR peer (tor-a, 10.0.0.1): when it is scoped to the route reflectors"),
    (lambda n, p, c, r, o: p.clear(), "no TOR peer found"),
    (lambda n, p, c, r, o: o.tor_peers.append("tor-x"), "calico_route_reflector_tor_peers: no BGPPeer named 'tor-x'"),
])
def test_refusals(change, refusal):
    nodes, peers, config = tor_mode()
    rrs, options = copy.deepcopy(RRS), PlanOptions()
    change(nodes, peers, config, rrs, options)
    result = plan(nodes, peers, config, rrs, options)
    assert any(r.startswith(refusal) for r in result["refusals"]), result["refusals"]
    assert result["done"] is False


def test_one_tor_is_accepted_when_asked():
    nodes, peers, config = tor_mode()
    result = plan(nodes, peers[:1], config, RRS, PlanOptions(accept_tor_flap=True))
    assert result["refusals"] == [] and [m["name"] for m in result["tor_moves"]] == ["tor-a"]


def test_named_tor_peers_and_peers_to_calico_nodes():
    nodes, peers, config = tor_mode()
    peers.append(peer("to-node-03", peerIP="10.0.0.13", asNumber=64512, node="node-04"))
    peers.append(peer("core", peerIP="10.9.9.9", asNumber=65100, node="node-04"))
    result = plan(nodes, peers, config, RRS)
    assert [t["name"] for t in result["current"]["tor_peers"]] == ["tor-a", "tor-b"]
    assert [o["name"] for o in result["current"]["other_peers"]] == ["core", "to-node-03"]
    named = plan(nodes, peers, config, RRS, PlanOptions(tor_peers=["tor-b", "tor-a"]))
    assert [m["name"] for m in named["tor_moves"]] == ["tor-b", "tor-a"]


def test_nodes_outside_the_inventory_are_reported_and_not_gated():
    nodes, peers, config = tor_mode()
    result = plan(nodes, peers, config, RRS, PlanOptions(gated_nodes=["node-01", "node-02", "node-03", "ghost"]))
    assert result["not_gated"] == [
        "Calico nodes not in the inventory group k8s_cluster, so their BGP sessions are not checked by the gates: "
        "node-04",
        "hosts of k8s_cluster without a Calico Node of that name (not gated): ghost"]
    assert sorted(result["gate"]) == ["node-01", "node-02", "node-03"]
