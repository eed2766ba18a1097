"""The calicoctl module through ansible-playbook, on both datastores, with calicoctl as the reference."""

from __future__ import annotations

import copy
import json

import pytest
import yaml

from playbook import run_playbook

pytestmark = [pytest.mark.playbook, pytest.mark.calicoctl]

KINDS_PLURAL = {
    "BGPConfiguration": "bgpconfigurations", "BGPPeer": "bgppeers", "BGPFilter": "bgpfilters",
    "IPPool": "ippools", "IPReservation": "ipreservations", "FelixConfiguration": "felixconfigurations",
    "KubeControllersConfiguration": "kubecontrollersconfigurations",
}


def resource(kind, name, spec, labels=None):
    meta = {"name": name}
    if labels:
        meta["labels"] = labels
    return {"apiVersion": "projectcalico.org/v3", "kind": kind, "metadata": meta, "spec": spec}


EVERY_KIND = [
    resource("BGPConfiguration", "default", {"nodeToNodeMeshEnabled": False, "asNumber": 64512,
                                             "serviceClusterIPs": [{"cidr": "10.96.0.0/12"}],
                                             "logSeverityScreen": "Info"}),
    resource("BGPFilter", "export-pods", {"exportV4": [{"action": "Accept", "matchOperator": "In",
                                                        "cidr": "10.244.0.0/16"}]}),
    resource("BGPPeer", "tor", {"peerIP": "192.0.2.1", "asNumber": 65001, "filters": ["export-pods"]}),
    resource("IPPool", "default-ipv4-ippool", {"cidr": "10.244.0.0/16", "ipipMode": "Always", "natOutgoing": False}),
    resource("IPReservation", "gateways", {"reservedCIDRs": ["10.244.0.0/29"]}),
    resource("FelixConfiguration", "default", {"prometheusMetricsEnabled": True, "prometheusMetricsPort": 9091}),
    resource("KubeControllersConfiguration", "default",
             {"controllers": {"node": {"reconcilerPeriod": "5m0s"}}, "healthChecks": "Enabled"}),
]


class Datastore:
    """One datastore under test: connection options for the module and a raw reader of what is stored."""

    def __init__(self, name, options, calicoctl, raw_reader, version_reader):
        self.name = name
        self.options = options
        self.calicoctl = calicoctl
        self.raw = raw_reader          # (kind, name) -> stored object/value as dict, or None
        self.version = version_reader  # () -> something that changes on every write

    def task(self, name, **params):
        return {"name": name, "k8snet.calico.calicoctl": {**self.options, **params}, "register": "out"}

    def info_task(self, name, **params):
        return {"name": name, "k8snet.calico.calico_info": {**self.options, **params}}

    def calicoctl_get(self, kind, name):
        result = self.calicoctl("get", kind, name, "-o", "json", check=False)
        return json.loads(result.stdout) if result.returncode == 0 else None


@pytest.fixture(params=["kubernetes", "etcdv3"])
def store(request, tmp_path):
    if request.param == "kubernetes":
        cluster = request.getfixturevalue("cluster")
        request.getfixturevalue("calico_crds")
        ctl = request.getfixturevalue("calicoctl_k8s")

        def clean_slate():  # the cluster is shared by the session
            for plural in KINDS_PLURAL.values():
                cluster.kubectl("delete", f"{plural}.crd.projectcalico.org", "--all", check=False)
        clean_slate()
        request.addfinalizer(clean_slate)

        def raw(kind, name):
            status, body = cluster.request("GET", f"/apis/crd.projectcalico.org/v1/{KINDS_PLURAL[kind]}/{name}", raw=True)
            return body if status == 200 else None

        def version():
            return {p: [i["metadata"]["resourceVersion"] for i in
                        cluster.request("GET", f"/apis/crd.projectcalico.org/v1/{p}")["items"]]
                    for p in KINDS_PLURAL.values()}
        return Datastore("kubernetes", {"datastore": "kubernetes", "kubeconfig": str(cluster.kubeconfig)},
                         ctl, raw, version)
    etcd = request.getfixturevalue("etcd_server")
    ctl = request.getfixturevalue("calicoctl_etcd")

    def raw(kind, name):
        key = f"/calico/resources/v3/projectcalico.org/{KINDS_PLURAL[kind]}/{name}"
        found = etcd.get_prefix(key)
        return json.loads(found[key]) if key in found else None
    return Datastore("etcdv3", {"datastore": "etcdv3", "etcd_endpoints": [etcd.endpoint]}, ctl, raw, etcd.revision)


def contains(actual, expected) -> bool:
    """``expected``'s fields are in ``actual`` (which may hold more: defaults). calicoctl leaves
    false and empty values out of its output (Go omitempty)."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            contains(actual.get(key, type(value)() if value in (False, "", [], {}) else None), value)
            for key, value in expected.items())
    return actual == expected


def comparable(stored):
    """A stored object or value without what differs between two writes of the same input."""
    stored = copy.deepcopy(stored)
    meta = stored.get("metadata", {})
    for field in ("uid", "creationTimestamp", "resourceVersion", "generation", "managedFields"):
        meta.pop(field, None)
    annotations = meta.get("annotations") or {}
    calico_meta = annotations.pop("projectcalico.org/metadata", None)
    if calico_meta:
        kept = {k: v for k, v in json.loads(calico_meta).items() if k not in ("uid", "creationTimestamp")}
        if kept:
            annotations["projectcalico.org/metadata"] = kept
    if not annotations:
        meta.pop("annotations", None)
    return stored


@pytest.mark.parametrize("wanted", EVERY_KIND, ids=[r["kind"] for r in EVERY_KIND])
def test_stores_what_calicoctl_stores(store, wanted, tmp_path):
    name = wanted["metadata"]["name"]
    if wanted["kind"] == "BGPPeer":  # its filter must exist for both writers
        store.calicoctl("create", "-f", "-", input=yaml.safe_dump(EVERY_KIND[1]))
    store.calicoctl("create", "-f", "-", input=yaml.safe_dump(wanted))
    reference = comparable(store.raw(wanted["kind"], name))
    store.calicoctl("delete", wanted["kind"], name)

    run = run_playbook(tmp_path, [store.task("apply", definition=wanted, managed_by="")])
    assert run.returncode == 0, run.stdout[-3000:]
    assert run.result("apply")["results"][0]["action"] == "created"
    assert comparable(store.raw(wanted["kind"], name)) == reference


def test_every_kind_create_rerun_check_diff_absent(store, tmp_path):
    first = run_playbook(tmp_path / "1", [store.task("apply", definition=EVERY_KIND)])
    assert first.returncode == 0, first.stdout[-3000:]
    out = first.result("apply")
    assert out["changed"] and [r["action"] for r in out["results"]] == ["created"] * len(EVERY_KIND)
    for wanted in EVERY_KIND:
        live = store.calicoctl_get(wanted["kind"], wanted["metadata"]["name"])
        assert live is not None, wanted
        assert contains(live["spec"], wanted["spec"]), (wanted, live)
        assert live["metadata"]["labels"]["k8snet.calico/managed-by"] == "k8snet.calico"

    # The same input again: nothing written, one list per kind.
    before = store.version()
    again = run_playbook(tmp_path / "2", [store.task("apply", definition=EVERY_KIND)])
    out = again.result("apply")
    assert not out["changed"] and {r["action"] for r in out["results"]} == {"unchanged"}
    # One read of each kind (a Kubernetes list, an etcd range), one question whether a Calico API
    # server serves projectcalico.org/v3 (Kubernetes only), and no write.
    reads = {verb: count for verb, count in out["requests"].items() if verb != "discover"}
    assert set(reads) <= {"list", "range"} and sum(reads.values()) == len(EVERY_KIND), out["requests"]
    assert out["requests"].get("discover", 0) == (1 if store.name == "kubernetes" else 0)
    assert store.version() == before

    # Check mode with a change reports it, shows the diff, and stores nothing.
    changed = copy.deepcopy(EVERY_KIND)
    changed[2]["spec"]["asNumber"] = 65002
    check = run_playbook(tmp_path / "3", [store.task("apply", definition=changed)], check=True, diff=True)
    out = check.result("apply")
    assert out["changed"] and out["results"][2] == {"kind": "BGPPeer", "name": "tor", "action": "updated",
                                                    "changed": True, "diff": ["spec.asNumber"]}
    assert "65002" in out["diff"]["after"] and "65001" in out["diff"]["before"]
    assert store.version() == before

    # For real, then absent.
    real = run_playbook(tmp_path / "4", [store.task("apply", definition=changed)])
    assert real.result("apply")["results"][2]["action"] == "updated"
    assert store.calicoctl_get("BGPPeer", "tor")["spec"]["asNumber"] == 65002
    gone = run_playbook(tmp_path / "5", [store.task("apply", definition=[changed[2]], state="absent")])
    assert gone.result("apply")["results"][0]["action"] == "deleted"
    assert store.calicoctl_get("BGPPeer", "tor") is None


def test_prune_removes_only_what_it_manages(store, tmp_path):
    peers = [resource("BGPPeer", f"peer-{i}", {"peerIP": f"192.0.2.{i}", "asNumber": 65001}) for i in (11, 12)]
    store.calicoctl("create", "-f", "-", input=yaml.safe_dump(
        resource("BGPPeer", "hand-made", {"peerIP": "192.0.2.99", "asNumber": 65001})))
    run_playbook(tmp_path / "1", [store.task("apply", definition=peers, prune=True)])
    pruned = run_playbook(tmp_path / "2", [store.task("apply", definition=peers[:1], prune=True)])
    out = pruned.result("apply")
    assert [(r["name"], r["action"]) for r in out["results"]] == [("peer-11", "unchanged"), ("peer-12", "deleted")]
    assert store.calicoctl_get("BGPPeer", "peer-12") is None
    assert store.calicoctl_get("BGPPeer", "hand-made") is not None


BAD_INPUTS = [
    ("asNumber out of range", resource("BGPPeer", "bad-as", {"peerIP": "192.0.2.1", "asNumber": 4294967296}),
     "asNumber"),
    ("peer IP not an address", resource("BGPPeer", "bad-ip", {"peerIP": "192.0.2.300", "asNumber": 65001}), "peerIP"),
    ("node with nodeSelector", resource("BGPPeer", "bad-node", {"peerIP": "192.0.2.1", "asNumber": 65001,
                                                                "node": "node-1", "nodeSelector": "all()"}),
     "nodeSelector"),
    ("selector syntax", resource("BGPPeer", "bad-sel", {"peerIP": "192.0.2.1", "asNumber": 65001,
                                                        "nodeSelector": "rack == "}), "nodeSelector"),
    ("block size", resource("IPPool", "bad-block", {"cidr": "10.60.0.0/16", "blockSize": 33}), "blockSize"),
    ("cidr", resource("IPPool", "bad-cidr", {"cidr": "10.60.0.0/33"}), "cidr"),
    ("ipip and vxlan",
     resource("IPPool", "bad-encap", {"cidr": "10.61.0.0/16", "ipipMode": "Always", "vxlanMode": "Always"}),
     "vxlanMode"),
    ("name", resource("BGPPeer", "Bad_Name", {"peerIP": "192.0.2.1", "asNumber": 65001}), "Bad_Name"),
    ("unknown field", resource("BGPPeer", "bad-field", {"peerIP": "192.0.2.1", "asNumber": 65001, "peerAS": 1}),
     "peerAS"),
    ("unknown kind", {"apiVersion": "projectcalico.org/v3", "kind": "BGPPeering", "metadata": {"name": "x"}},
     "BGPPeering"),
]


@pytest.mark.parametrize("case,bad,field", BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_writes_nothing(store, tmp_path, case, bad, field):
    good = resource("BGPPeer", "good-one", {"peerIP": "192.0.2.7", "asNumber": 65001})
    before = store.version()
    run = run_playbook(tmp_path, [store.task("apply", definition=[good, bad])])
    assert run.returncode != 0
    out = run.result("apply")
    assert out["failed"] and "nothing was written" in out["msg"] and field in out["msg"], out["msg"]
    assert store.version() == before
    assert store.calicoctl_get("BGPPeer", "good-one") is None
    # calicoctl refuses the same input.
    assert store.calicoctl("create", "-f", "-", input=yaml.safe_dump(bad), check=False).returncode != 0


def test_overlapping_pool_is_refused(store, tmp_path):
    store.calicoctl("create", "-f", "-", input=yaml.safe_dump(resource("IPPool", "existing", {"cidr": "10.70.0.0/16"})))
    run = run_playbook(tmp_path, [store.task("apply", definition=resource("IPPool", "overlap", {"cidr": "10.70.128.0/17"}))])
    out = run.result("apply")
    assert out["failed"] and "overlap" in out["msg"] and "10.70" in out["msg"]
    assert store.calicoctl_get("IPPool", "overlap") is None


def test_info_reads_resources(store, tmp_path):
    run_playbook(tmp_path / "1", [store.task("apply", definition=EVERY_KIND[3])])
    run = run_playbook(tmp_path / "2", [store.info_task("read", kinds=["IPPool"])])
    out = run.result("read")
    pools = out["resources"]["IPPool"]
    assert [p["metadata"]["name"] for p in pools] == ["default-ipv4-ippool"]
    assert pools[0]["spec"]["blockSize"] == 26


RR_PATCH = {"apiVersion": "projectcalico.org/v3", "kind": "Node",
            "metadata": {"name": "node-1", "labels": {"route-reflector": "true"}},
            "spec": {"bgp": {"routeReflectorClusterID": "224.0.0.1"}}}


def test_node_patch_keeps_the_kubernetes_node(cluster, calicoctl_k8s, tmp_path):
    store = Datastore("kubernetes", {"datastore": "kubernetes", "kubeconfig": str(cluster.kubeconfig)},
                      calicoctl_k8s, None, None)
    before = cluster.request("GET", "/api/v1/nodes/node-1")
    run = run_playbook(tmp_path / "1", [store.task("patch", definition=RR_PATCH, state="patched")])
    assert run.result("patch")["results"][0]["action"] == "updated", run.stdout[-2000:]
    after = cluster.request("GET", "/api/v1/nodes/node-1")
    assert after["metadata"]["annotations"]["projectcalico.org/RouteReflectorClusterID"] == "224.0.0.1"
    # A label Kubernetes does not have is Calico's own: kept in projectcalico.org/labels, as calicoctl does.
    assert after["metadata"]["labels"] == before["metadata"]["labels"]
    assert json.loads(after["metadata"]["annotations"]["projectcalico.org/labels"]) == {"route-reflector": "true"}
    assert after["spec"] == before["spec"] and after["status"]["addresses"] == before["status"]["addresses"]
    seen = json.loads(calicoctl_k8s("get", "node", "node-1", "-o", "json").stdout)
    assert seen["spec"]["bgp"]["routeReflectorClusterID"] == "224.0.0.1"
    assert seen["metadata"]["labels"]["route-reflector"] == "true"
    assert seen["metadata"]["labels"]["kubernetes.io/hostname"] == "node-1"
    again = run_playbook(tmp_path / "2", [store.task("patch", definition=RR_PATCH, state="patched")])
    assert again.result("patch")["results"][0]["action"] == "unchanged"
    cluster.request("PATCH", "/api/v1/nodes/node-1", {"metadata": {"annotations": {
        "projectcalico.org/RouteReflectorClusterID": None, "projectcalico.org/labels": None}}},
        content_type="application/merge-patch+json")


def test_node_patch_keeps_tunnel_addresses_in_etcd(etcd_server, calicoctl_etcd, tmp_path):
    node = {"apiVersion": "projectcalico.org/v3", "kind": "Node", "metadata": {"name": "node-1"},
            "spec": {"bgp": {"ipv4Address": "192.0.2.11/24", "ipv4IPIPTunnelAddr": "10.244.1.1"},
                     "ipv4VXLANTunnelAddr": "10.244.1.2"}}
    calicoctl_etcd("create", "-f", "-", input=yaml.safe_dump(node))
    store = Datastore("etcdv3", {"datastore": "etcdv3", "etcd_endpoints": [etcd_server.endpoint]},
                      calicoctl_etcd, None, None)
    run = run_playbook(tmp_path, [store.task("patch", definition=RR_PATCH, state="patched")])
    assert run.result("patch")["results"][0]["action"] == "updated", run.stdout[-2000:]
    live = json.loads(calicoctl_etcd("get", "node", "node-1", "-o", "json").stdout)
    assert live["spec"]["bgp"] == {"ipv4Address": "192.0.2.11/24", "ipv4IPIPTunnelAddr": "10.244.1.1",
                                   "routeReflectorClusterID": "224.0.0.1"}
    assert live["spec"]["ipv4VXLANTunnelAddr"] == "10.244.1.2"
    assert live["metadata"]["labels"]["route-reflector"] == "true"


def test_uses_the_calico_api_server_when_it_serves_v3(cluster, calico_crds, tmp_path):
    """A CRD in group projectcalico.org stands in for the Calico API server's v3 API."""
    stand_in = {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "bgppeers.projectcalico.org"},
        "spec": {"group": "projectcalico.org", "scope": "Cluster",
                 "names": {"plural": "bgppeers", "singular": "bgppeer", "kind": "BGPPeer", "listKind": "BGPPeerList"},
                 "versions": [{"name": "v3", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                     "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]}}
    cluster.kubectl("apply", "-f", "-", input=json.dumps(stand_in))
    try:
        cluster.wait_crds_established("bgppeers.projectcalico.org")
        options = {"datastore": "kubernetes", "kubeconfig": str(cluster.kubeconfig)}
        wanted = resource("BGPPeer", "via-apiserver", {"peerIP": "192.0.2.44", "asNumber": 65001})
        run = run_playbook(tmp_path, [{"name": "apply", "k8snet.calico.calicoctl": {**options, "definition": wanted}}])
        assert run.result("apply")["results"][0]["action"] == "created", run.stdout[-2000:]
        stored = cluster.request("GET", "/apis/projectcalico.org/v3/bgppeers/via-apiserver")
        assert stored["spec"] == {"peerIP": "192.0.2.44", "asNumber": 65001}
        assert cluster.request("GET", "/apis/crd.projectcalico.org/v1/bgppeers/via-apiserver", raw=True)[0] == 404
        again = run_playbook(tmp_path / "2", [{"name": "apply", "k8snet.calico.calicoctl": {**options, "definition": wanted}}])
        assert again.result("apply")["results"][0]["action"] == "unchanged"
        forced = run_playbook(tmp_path / "3", [{"name": "apply", "k8snet.calico.calicoctl": {
            **options, "api": "crd", "definition": wanted}}])
        assert forced.result("apply")["results"][0]["action"] == "created"
        cluster.request("DELETE", "/apis/crd.projectcalico.org/v1/bgppeers/via-apiserver")
    finally:
        cluster.kubectl("delete", "crd", "bgppeers.projectcalico.org", "--wait=true", check=False)
