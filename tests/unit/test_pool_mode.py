"""The checks before a change of an IP pool's encapsulation."""

import pytest

from ansible_collections.k8snet.calico.plugins.module_utils.bgp.pool_mode import check, node_subnets

POOL = {"metadata": {"name": "pool-a"}, "spec": {"cidr": "10.244.0.0/16", "ipipMode": "Never", "vxlanMode": "Never"}}
TOR = {"metadata": {"name": "tor"}, "spec": {"peerIP": "10.10.0.1", "asNumber": 65001}}
RR_PEERING = {"metadata": {"name": "rr"}, "spec": {"nodeSelector": "all()", "peerSelector": "route-reflector == 'true'"}}
MESH_OFF = {"metadata": {"name": "default"}, "spec": {"nodeToNodeMeshEnabled": False}}


def node(name, address):
    return {"metadata": {"name": name}, "spec": {"bgp": {"ipv4Address": address}}}


TWO_SUBNETS = [node("master-01", "10.10.0.11/24"), node("node-01", "10.10.0.21/24"), node("node-02", "10.20.0.22/24")]


def test_subnets_of_the_nodes():
    subnets, unknown = node_subnets(TWO_SUBNETS + [node("edge", "10.30.0.5/32"), node("no-bgp", "10.30.0.6")])
    assert subnets == {"10.10.0.0/24": ["master-01", "node-01"], "10.20.0.0/24": ["node-02"]}
    assert unknown == ["edge", "no-bgp"]


def test_a_confirmed_change_gives_the_patch():
    result = check(POOL, TWO_SUBNETS, [TOR], MESH_OFF, ipip_mode="Always", confirm="pool-a")
    assert result["refusals"] == [] and result["cautions"] == [] and result["confirmed"]
    assert result["changes"] == {"ipipMode": {"before": "Never", "after": "Always"}}
    assert result["patch"] == {"apiVersion": "projectcalico.org/v3", "kind": "IPPool", "metadata": {"name": "pool-a"},
                               "spec": {"ipipMode": "Always"}}


def test_an_unconfirmed_change_is_refused_with_how_to_confirm():
    result = check(POOL, TWO_SUBNETS, [TOR], MESH_OFF, ipip_mode="Always", confirm="pool-b")
    assert result["refusals"] == [
        "changing the encapsulation of IP pool pool-a (ipipMode Never -> Always) affects the traffic of every pod in it "
        "at once: set calico_pool_mode_confirm: pool-a to apply it (check mode shows the change)"]


def test_no_change_needs_no_confirmation():
    result = check(POOL, TWO_SUBNETS, [TOR], MESH_OFF, ipip_mode="Never")
    assert result["changes"] == {} and result["patch"] is None and result["refusals"] == []


def test_cross_subnet_in_tor_mode_is_cautioned_with_the_seed_finding():
    result = check(POOL, TWO_SUBNETS, [TOR], MESH_OFF, ipip_mode="CrossSubnet", confirm="pool-a")
    assert result["refusals"] == []
    assert len(result["cautions"]) == 1
    caution = result["cautions"][0]
    assert caution.startswith("the nodes span 2 subnets (10.10.0.0/24, 10.20.0.0/24) and learn pod routes only from "
                              "the TOR")
    assert "CrossSubnet tunnels none of them" in caution and "lost the master" in caution


def test_cross_subnet_with_route_reflectors_or_the_mesh_has_no_tor_caution():
    assert check(POOL, TWO_SUBNETS, [TOR, RR_PEERING], MESH_OFF, ipip_mode="CrossSubnet", confirm="pool-a")["cautions"] == []
    assert check(POOL, TWO_SUBNETS, [TOR], None, ipip_mode="CrossSubnet", confirm="pool-a")["cautions"] == []


def test_cross_subnet_on_one_subnet_acts_as_never():
    result = check(POOL, TWO_SUBNETS[:2], [TOR], MESH_OFF, ipip_mode="CrossSubnet", confirm="pool-a")
    assert result["cautions"] == ["every node is in 10.10.0.0/24: CrossSubnet encapsulates nothing there, it acts as Never"]


@pytest.mark.parametrize("kwargs, refusal", [
    (dict(ipip_mode="Sometimes"), "ipip_mode: 'Sometimes' is not one of Always, CrossSubnet, Never"),
    (dict(ipip_mode="Always", vxlan_mode="Always"),
     "IP pool pool-a: ipipMode Always and vxlanMode Always together; Calico allows one encapsulation per pool"),
    (dict(ipip_mode="CrossSubnet", nodes=[node("edge", "10.30.0.5/32")]),
     "CrossSubnet decides by the nodes' subnets, but these nodes have a BGP address without a subnet (/32 or none): edge"),
])
def test_refusals(kwargs, refusal):
    nodes = kwargs.pop("nodes", TWO_SUBNETS)
    result = check(POOL, nodes, [TOR], MESH_OFF, confirm="pool-a", **kwargs)
    assert any(r.startswith(refusal) for r in result["refusals"]), result["refusals"]


def test_a_missing_pool_is_refused():
    assert check(None, TWO_SUBNETS, [], None, ipip_mode="Always")["refusals"] == ["the IP pool does not exist"]
