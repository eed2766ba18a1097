"""The test cluster behaves like a real one where the collection relies on it."""

from __future__ import annotations

import json
import time

import pytest
import yaml

from conftest import calico_releases, upstream_dir
from testbed.cluster import NodeSpec
from testbed.procs import wait_until
from testbed.stages import CRASH_MARKER, STALL_MARKER

pytestmark = pytest.mark.cluster

IPPOOLS = "/apis/crd.projectcalico.org/v1/ippools"


def _server_side_apply(cluster, path, *extra):
    return cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(path), *extra)


def _retarget_images(manifest_text: str, marker: str) -> str:
    docs = [d for d in yaml.safe_load_all(manifest_text) if d]
    for doc in docs:
        spec = doc.get("spec", {}).get("template", {}).get("spec", {})
        for container in spec.get("containers", []) + spec.get("initContainers", []):
            container["image"] = f"{container['image']}-{marker}"
    return yaml.safe_dump_all(docs)


def _resource_versions(kubectl_json: str) -> dict:
    return {(i["kind"], i["metadata"]["name"]): i["metadata"]["resourceVersion"] for i in json.loads(kubectl_json)["items"]}


def test_reports_real_versions(cluster, testbed_bin):
    assert cluster.version().startswith("v1.")
    kubectl = cluster.kubectl("version", "-o", "json")
    versions = json.loads(kubectl.stdout)
    assert versions["clientVersion"]["gitVersion"] == versions["serverVersion"]["gitVersion"]
    assert (testbed_bin / "VERSIONS").read_text().count("\n") >= 4


def test_nodes_are_the_ones_the_test_chose(cluster):
    nodes = cluster.request("GET", "/api/v1/nodes")["items"]
    by_name = {n["metadata"]["name"]: n for n in nodes}
    for spec in cluster.nodes:
        node = by_name[spec.name]
        assert node["spec"]["podCIDR"] == spec.pod_cidr
        assert {"type": "InternalIP", "address": spec.internal_ip} in node["status"]["addresses"]
        ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"][0]
        assert ready["status"] == "True"


@pytest.mark.parametrize("release", calico_releases()[-1:])
def test_upstream_manifest_applies_server_side_and_reapplies_unchanged(cluster, release):
    manifest = upstream_dir() / "calico" / release / "calico.yaml"
    first = _server_side_apply(cluster, manifest)
    documents = [d for d in yaml.safe_load_all(manifest.read_text()) if d]
    assert first.stdout.count("serverside-applied") == len(documents)
    for doc in documents:
        ns = doc["metadata"].get("namespace")
        args = ["get", doc["kind"], doc["metadata"]["name"], "-o", "name"] + (["-n", ns] if ns else [])
        assert cluster.kubectl(*args).stdout.strip()
    # A second apply of the same file changes nothing: no object's resourceVersion moves.
    before = cluster.kubectl("get", "-f", str(manifest), "-o", "json").stdout
    _server_side_apply(cluster, manifest)
    after = cluster.kubectl("get", "-f", str(manifest), "-o", "json").stdout
    assert _resource_versions(before) == _resource_versions(after)

    # calico-node becomes ready on every simulated node; kube-controllers is available.
    status = cluster.wait_daemonset_ready("kube-system", "calico-node", timeout=120)
    assert status["numberReady"] == len(cluster.nodes)
    wait_until(lambda: cluster.request(
        "GET", "/apis/apps/v1/namespaces/kube-system/deployments/calico-kube-controllers"
    ).get("status", {}).get("availableReplicas") == 1, 60, "calico-kube-controllers available")


@pytest.mark.parametrize("marker,reason", [(STALL_MARKER, None), (CRASH_MARKER, "CrashLoopBackOff")])
def test_rollout_with_a_bad_image_stalls(cluster, marker, reason):
    release = calico_releases()[-1]
    text = (upstream_dir() / "calico" / release / "calico.yaml").read_text()
    docs = [d for d in yaml.safe_load_all(text) if d and d["kind"] == "DaemonSet"]
    daemonset = docs[0]
    name = f"stall-{marker}"
    daemonset["metadata"] = {"name": name, "namespace": "default"}
    daemonset["spec"]["selector"] = {"matchLabels": {"app": name}}
    template = daemonset["spec"]["template"]
    template["metadata"]["labels"] = {"app": name}
    template["spec"]["serviceAccountName"] = "default"
    cluster.kubectl("apply", "-f", "-", input=_retarget_images(yaml.safe_dump(daemonset), marker))
    wait_until(lambda: cluster.daemonset_status("default", name).get("currentNumberScheduled") == len(cluster.nodes),
               60, f"{name} pods scheduled")
    time.sleep(3)  # long past the ~0.5 s in which a good pod becomes Ready
    status = cluster.daemonset_status("default", name)
    assert status.get("numberReady", 0) == 0
    assert status.get("numberUnavailable") == len(cluster.nodes)
    pods = cluster.request("GET", f"/api/v1/namespaces/default/pods?labelSelector=app%3D{name}")["items"]
    assert pods and all(p["status"]["phase"] == "Running" for p in pods)
    if reason:
        waiting = [cs["state"].get("waiting", {}).get("reason") for p in pods for cs in p["status"]["containerStatuses"]]
        assert set(waiting) == {reason}
    cluster.kubectl("delete", "daemonset", name, "-n", "default", "--wait=true", "--timeout=60s")


def _pool(name, cidr, **spec):
    return {"apiVersion": "crd.projectcalico.org/v1", "kind": "IPPool", "metadata": {"name": name},
            "spec": {"cidr": cidr, **spec}}


def test_calico_kinds_are_served_right_after_their_crds(cluster, calico_crds):
    for plural in ("ippools", "bgppeers", "bgpconfigurations", "felixconfigurations", "ipamblocks"):
        status, body = cluster.request("GET", f"/apis/crd.projectcalico.org/v1/{plural}", raw=True)
        assert status == 200, body
        assert body["kind"].endswith("List")


def test_crd_schema_refuses_an_invalid_ippool(cluster, calico_crds):
    status, body = cluster.request("POST", IPPOOLS, _pool("bad-pool", "10.50.0.0/16", blockSize="twenty-six"),
                                   raw=True)
    assert status == 422, body
    assert "blockSize" in body["message"]
    assert cluster.request("GET", f"{IPPOOLS}/bad-pool", raw=True)[0] == 404


def test_dry_run_stores_nothing(cluster, calico_crds):
    status, body = cluster.request("POST", f"{IPPOOLS}?dryRun=All", _pool("dry-pool", "10.51.0.0/16"), raw=True)
    assert status == 201, body
    assert body["metadata"]["name"] == "dry-pool"
    assert cluster.request("GET", f"{IPPOOLS}/dry-pool", raw=True)[0] == 404


def test_stale_resource_version_is_a_conflict(cluster, calico_crds):
    created = cluster.request("POST", IPPOOLS, _pool("rv-pool", "10.52.0.0/16"))
    stale = json.loads(json.dumps(created))
    created["spec"]["natOutgoing"] = True
    cluster.request("PUT", f"{IPPOOLS}/rv-pool", created)
    stale["spec"]["disabled"] = True
    status, body = cluster.request("PUT", f"{IPPOOLS}/rv-pool", stale, raw=True)
    assert status == 409 and body["reason"] == "Conflict"
    cluster.request("DELETE", f"{IPPOOLS}/rv-pool")


def test_nodes_can_be_added_for_scale_tests(cluster):
    extra = [NodeSpec(name=f"scale-{i}", internal_ip=f"198.18.0.{i}", pod_cidr=f"10.200.{i}.0/24") for i in range(1, 6)]
    cluster.add_nodes(extra, register=False)
    names = {n["metadata"]["name"] for n in cluster.request("GET", "/api/v1/nodes")["items"]}
    assert {n.name for n in extra} <= names
    for spec in extra:
        cluster.request("DELETE", f"/api/v1/nodes/{spec.name}")


def test_restricted_kubeconfig_has_only_its_rules(cluster):
    kubeconfig = cluster.restricted_kubeconfig(
        "readonly-nodes", [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list"]}])
    assert cluster.kubectl("get", "nodes", kubeconfig=kubeconfig).returncode == 0
    denied = cluster.kubectl("get", "secrets", "-A", kubeconfig=kubeconfig, check=False)
    assert denied.returncode != 0 and "forbidden" in denied.stderr.lower()


def test_python_client_uses_the_admin_kubeconfig(cluster):
    kubernetes = pytest.importorskip("kubernetes")
    client = kubernetes.config.new_client_from_config(config_file=str(cluster.kubeconfig))
    nodes = kubernetes.client.CoreV1Api(client).list_node()
    assert {n.metadata.name for n in nodes.items} >= {n.name for n in cluster.nodes}
