"""calicoctl, built from the Calico Go module, works against both datastores of the test bed."""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml

pytestmark = [pytest.mark.calicoctl]

PEER = """
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata:
  name: tor-a
spec:
  peerIP: 192.0.2.1
  asNumber: 65001
"""


def test_calicoctl_reports_its_release(calicoctl_etcd):
    out = calicoctl_etcd("version", check=False).stdout  # no ClusterInformation yet: exit 1
    assert "Client Version:" in out and "v3." in out


@pytest.mark.cluster
def test_kubernetes_datastore_nodes_and_bgppeer(cluster, calicoctl_k8s):
    nodes = calicoctl_k8s("get", "nodes", "-o", "json").stdout
    names = {item["metadata"]["name"] for item in json.loads(nodes)["items"]}
    assert names >= {n.name for n in cluster.nodes}

    calicoctl_k8s("create", "-f", "-", input=PEER)
    stored = cluster.request("GET", "/apis/crd.projectcalico.org/v1/bgppeers/tor-a")
    assert stored["spec"] == {"peerIP": "192.0.2.1", "asNumber": 65001}
    assert calicoctl_k8s("create", "-f", "-", input=PEER, check=False).returncode != 0  # already exists
    calicoctl_k8s("delete", "bgppeer", "tor-a")
    assert cluster.request("GET", "/apis/crd.projectcalico.org/v1/bgppeers/tor-a", raw=True)[0] == 404


@pytest.mark.etcd
def test_etcd_datastore_nodes_and_bgppeer(etcd_server, calicoctl_etcd):
    node = {"apiVersion": "projectcalico.org/v3", "kind": "Node", "metadata": {"name": "node-1"},
            "spec": {"bgp": {"ipv4Address": "192.0.2.11/24"}}}
    calicoctl_etcd("create", "-f", "-", input=yaml.safe_dump(node))
    names = {i["metadata"]["name"] for i in json.loads(calicoctl_etcd("get", "nodes", "-o", "json").stdout)["items"]}
    assert names == {"node-1"}

    revision = etcd_server.revision()
    calicoctl_etcd("create", "-f", "-", input=PEER)
    stored = etcd_server.get_prefix("/calico/resources/v3/projectcalico.org/bgppeers/")
    assert list(stored) == ["/calico/resources/v3/projectcalico.org/bgppeers/tor-a"]
    value = json.loads(stored["/calico/resources/v3/projectcalico.org/bgppeers/tor-a"])
    assert value["kind"] == "BGPPeer" and value["spec"]["asNumber"] == 65001
    assert value["metadata"]["uid"] and value["metadata"]["creationTimestamp"]
    assert etcd_server.revision() == revision + 1


@pytest.mark.etcd
def test_etcd_with_client_certificates(etcd_tls_server, testbed_bin):
    from conftest import Calicoctl
    calicoctl = Calicoctl(testbed_bin / "calicoctl", etcd_tls_server.env())
    calicoctl("create", "-f", "-", input=PEER)
    assert "tor-a" in calicoctl("get", "bgppeers").stdout
    # Without the client certificate the same etcd refuses calicoctl.
    no_cert = {k: v for k, v in etcd_tls_server.env().items() if k not in ("ETCD_CERT_FILE", "ETCD_KEY_FILE")}
    refused = Calicoctl(testbed_bin / "calicoctl", {**no_cert, "ETCD_CERT_FILE": "", "ETCD_KEY_FILE": ""})
    try:
        # calicoctl keeps retrying a refused TLS handshake: an error or no answer both mean refused.
        assert refused("get", "bgppeers", check=False, timeout=15).returncode != 0
    except subprocess.TimeoutExpired:
        pass
