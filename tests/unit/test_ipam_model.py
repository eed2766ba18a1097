"""The IPAM model, report, release and renderers, without Ansible or a datastore."""

from __future__ import annotations

import csv
import io
import ipaddress
import json

import pytest

from ansible_collections.k8snet.calico.plugins.module_utils import inventory_resources
from ansible_collections.k8snet.calico.plugins.module_utils.datastore.errors import Conflict
from ansible_collections.k8snet.calico.plugins.module_utils.ipam import model, release, render, report
from ipam_testdata import IpamBuilder, scenario


def workloads(facts, extra=()):
    return [model.Workload(ns, pod, node, ()) for ns, pod, node, _ip in facts["live"]] + list(extra)


def build(nodes=("ipam-a", "ipam-b", "ipam-c")):
    builder, facts = scenario()
    return builder, facts, builder.state(nodes=list(nodes), workloads=workloads(facts))


def by_name(rows):
    return {row["name"]: row for row in rows}


# -- the model, as stored ------------------------------------------------------------------------

def test_block_round_trips_both_datastores_byte_for_byte():
    builder, _facts = scenario()
    for obj in builder.crd_objects():
        if obj["kind"] == "IPAMBlock":
            block = model.block_from_crd(obj)
            assert block.crd_object()["spec"] == obj["spec"]
    for key, value in builder.etcd_kvs().items():
        if "/assignment/" in key:
            block = model.block_from_etcd(key, value, 7)
            assert block.etcd_key() == key
            assert block.etcd_value() == value
        elif "/handle/" in key:
            handle = model.handle_from_etcd(key, value, 3)
            assert handle.etcd_key() == key and handle.etcd_value() == value
        else:
            affinity = model.affinity_from_etcd(key, value, 4)
            assert affinity.etcd_key() == key and affinity.etcd_value() == value


def test_names_follow_libcalico():
    assert model.cidr_name(ipaddress.ip_network("10.244.0.64/26")) == "10-244-0-64-26"
    assert model.cidr_name(ipaddress.ip_network("fd00:1::/122")) == "fd00-1---122"
    aff = model.affinity_from_etcd("/calico/ipam/v2/host/n1/ipv6/block/fd00:1::-122", "", 2)
    assert (aff.node, str(aff.cidr), aff.state) == ("n1", "fd00:1::/122", "confirmed")


@pytest.mark.parametrize("spec,field", [
    ({"cidr": "10.0.0.0/30", "allocations": [None, None], "attributes": []}, "allocations has 2 entries"),
    ({"cidr": "10.0.0.0/30", "allocations": [0, None, None, None], "attributes": []}, "allocations[0] is 0"),
    ({"cidr": "nonsense"}, "cidr 'nonsense'"),
])
def test_bad_blocks_are_named(spec, field):
    with pytest.raises(model.IpamDataError) as err:
        model.block_from_crd({"metadata": {"name": "blk"}, "spec": spec})
    assert "IPAMBlock blk" in str(err.value) and field in str(err.value)


# -- the report ----------------------------------------------------------------------------------

def test_report_numbers_of_the_scenario():
    _builder, facts, state = build()
    result = report.compute_report(state, warn_percent=80, fail_percent=95)
    pools = by_name(result["pools"])
    nf = pools["nearly-full"]
    assert (nf["size"], nf["allocated"], nf["free"], nf["blocks_total"], nf["blocks_in_use"], nf["free_blocks"]) == \
        (64, 49, 15, 4, 4, 0)
    assert (nf["utilisation_percent"], nf["block_utilisation_percent"], nf["status"]) == (76.6, 100.0, "fail")
    roomy = pools["roomy"]
    assert (roomy["size"], roomy["allocated"], roomy["free"], roomy["blocks_total"], roomy["free_blocks"],
            roomy["status"]) == (256, 12, 244, 4, 3, "ok")
    nodes = by_name(result["nodes"])
    assert {k: nodes["ipam-a"][k] for k in ("block_count", "capacity", "allocated", "addresses", "borrowed", "lent")} \
        == {"block_count": 2, "capacity": 80, "allocated": 28, "addresses": 26, "borrowed": 0, "lent": 2}
    assert {k: nodes["ipam-c"][k] for k in ("block_count", "capacity", "allocated", "addresses", "borrowed", "lent")} \
        == {"block_count": 1, "capacity": 16, "allocated": 16, "addresses": 18, "borrowed": 2, "lent": 0}
    assert nodes["ipam-gone"]["exists"] is False and nodes["ipam-b"]["exists"] is True
    assert sorted(r["ip"] for r in result["borrowed"]) == facts["borrowed"]
    assert all(r["block_node"] == "ipam-a" and r["node"] == "ipam-c" for r in result["borrowed"])
    leaked = sorted(ip for ips in facts["leaked"].values() for ip in ips)
    assert sorted(r["ip"] for r in result["leaked"]) == leaked
    assert sorted(h["pod"] for h in result["leaked_handles"]) == ["gone-1", "gone-2", "gone-3", "gone-4"]
    gone2 = [h for h in result["leaked_handles"] if h["pod"] == "gone-2"][0]
    assert len(gone2["ips"]) == 2 and gone2["blocks"] == {"10.71.0.0/26": 2}
    assert [(b["cidr"], b["node"]) for b in result["unclaimable_blocks"]] == [("10.70.0.48/28", "ipam-gone")]
    assert "does not exist" in result["unclaimable_blocks"][0]["reason"]
    s = result["summary"]
    assert (s["allocated"], s["borrowed"], s["leaked"], s["leaked_handles"], s["status"]) == (61, 2, 5, 4, "fail")
    assert len(result["failures"]) == 1 and "nearly-full" in result["failures"][0]


def test_thresholds_make_warnings_not_failures():
    _builder, _facts, state = build()
    result = report.compute_report(state, warn_percent=20, fail_percent=100.1)
    pools = by_name(result["pools"])
    assert pools["nearly-full"]["status"] == "warn" and pools["roomy"]["status"] == "warn"  # 25% of blocks
    assert result["failures"] == [] and result["summary"]["status"] == "warn"
    assert any("calico_ipam_warn_percent 20" in w for w in result["warnings"])


def test_without_workloads_nothing_is_called_leaked():
    builder, _facts = scenario()
    result = report.compute_report(builder.state(nodes=["ipam-a", "ipam-b", "ipam-c"], workloads=None))
    assert result["leaked"] == [] and result["summary"]["leak_check"] is False


def test_pod_that_holds_the_address_is_in_use_even_if_named_differently():
    builder, facts, _state = build()
    ip = facts["leaked"]["gone-1"][0]
    state = builder.state(nodes=facts["nodes"], workloads=workloads(facts, [model.Workload("x", "y", "n", [ip])]))
    assert ip not in [r["ip"] for r in report.compute_report(state)["leaked"]]


def test_blocks_outside_pools_and_without_affinity_are_unclaimable():
    b = IpamBuilder()
    b.pool("p", "10.9.0.0/24")
    cidr = b.block("10.9.0.0/26", None)
    b.allocate(cidr, "n1", "ns", "p1")
    b.block("10.10.0.0/26", "n1")
    result = report.compute_report(b.state(nodes=["n1"], workloads=[model.Workload("ns", "p1")]))
    reasons = {u["cidr"]: u["reason"] for u in result["unclaimable_blocks"]}
    assert reasons == {"10.9.0.0/26": "no affinity; 1 addresses still allocated",
                       "10.10.0.0/26": "in no IP pool (the pool was deleted or changed)"}
    assert [r["ip"] for r in result["borrowed"]] == ["10.9.0.0"]  # from a block affine to no node


# -- release ------------------------------------------------------------------------------------

def test_release_in_block_follows_libcalico():
    b = IpamBuilder()
    cidr = b.block("10.0.0.0/29", "n1")
    ip1 = b.allocate(cidr, "n1", "ns", "p1")
    ip2a = b.allocate(cidr, "n1", "ns", "p2")
    ip2b = b.allocate(cidr, "n1", "ns", "p2")   # same attribute as ip2a
    ip3 = b.allocate(cidr, "n1", "ns", "p3")
    block = b.state().blocks[0]
    assert block.allocations[:4] == [0, 1, 1, 2] and block.unallocated == [4, 5, 6, 7]
    unallocated, counts, released = release.release_in_block(block, [{"ip": ip1}, {"ip": ip2a}, {"ip": "10.0.0.6"}])
    assert unallocated == ["10.0.0.6"] and released == [ip1, ip2a]
    # attribute 0 (p1) lost its only reference and goes; p2's stays (ip2b); indexes renumbered
    assert [a["secondary"]["pod"] for a in block.attributes] == ["p2", "p3"]
    assert block.allocations[:4] == [None, None, 0, 1]
    assert block.unallocated == [4, 5, 6, 7, 0, 1]
    assert sorted(block.sequence_for_allocation) == ["2", "3"]
    assert sorted(counts.values()) == [1, 1]
    assert ip2b and ip3


def test_release_refuses_stale_sequence_number_and_handle():
    b = IpamBuilder()
    cidr = b.block("10.0.0.0/29", "n1")
    ip = b.allocate(cidr, "n1", "ns", "p1")
    block = b.state().blocks[0]
    with pytest.raises(release.ReleaseConflict, match="sequence number 1 given"):
        release.release_in_block(block.copy(), [{"ip": ip, "sequence_number": 1}])
    with pytest.raises(release.ReleaseConflict, match="handle other given"):
        release.release_in_block(block.copy(), [{"ip": ip, "handle": "other"}])


def test_decrement_handle():
    handle = model.Handle("h", {"10.0.0.0/26": 2, "fd00::/122": 1})
    assert release.decrement_handle(handle, "10.0.0.0/26", 2) is False
    assert handle.blocks == {"fd00::/122": 1}
    assert release.decrement_handle(handle, "fd00::/122", 1) is True
    with pytest.raises(release.ReleaseError, match="no count for block"):
        release.decrement_handle(handle, "10.0.0.0/26", 1)


def test_plan_refuses_addresses_in_use_and_bad_input_before_anything():
    _builder, facts, state = build()
    live_ip = facts["live"][0][3]
    with pytest.raises(release.ReleaseError) as err:
        release.plan(state, ips=[facts["leaked"]["gone-1"][0], live_ip, "not-an-ip"])
    assert "%s is in use by pod ipam-live/a-0" % live_ip in str(err.value)
    assert "'not-an-ip' is not an IP address" in str(err.value)


class MemoryIpam:
    """The datastore side of release, in memory, counting writes; ``conflicts`` makes the next
    writes of an object fail once with a conflict (another writer got there first)."""

    def __init__(self, state, conflicts=()):
        self.blocks = {b.name: b.copy() for b in state.blocks}
        self.handles = {h: v.copy() for h, v in state.handles.items()}
        self.conflicts = set(conflicts)
        self.writes = []

    def _conflict(self, name):
        if name in self.conflicts:
            self.conflicts.discard(name)
            raise Conflict("conflict on %s" % name)

    def get_block(self, block):
        found = self.blocks.get(block.name)
        return found.copy() if found else None

    def update_block(self, block):
        self._conflict(block.name)
        self.writes.append(("update", block.name))
        self.blocks[block.name] = block.copy()

    def delete_block(self, block):
        self._conflict(block.name)
        self.writes.append(("delete", block.name))
        del self.blocks[block.name]

    def get_handle(self, handle_id):
        found = self.handles.get(handle_id)
        return found.copy() if found else None

    def update_handle(self, handle):
        self._conflict(handle.handle_id)
        self.writes.append(("update", handle.handle_id))
        self.handles[handle.handle_id] = handle.copy()

    def delete_handle(self, handle):
        self._conflict(handle.handle_id)
        self.writes.append(("delete-handle", handle.handle_id))
        del self.handles[handle.handle_id]


def test_execute_leaked_check_mode_writes_nothing_and_real_run_retries_conflicts():
    _builder, facts, state = build()
    chosen = release.plan(state, leaked=True)
    store = MemoryIpam(state, conflicts={"10-71-0-0-26"})
    preview = release.execute(store, state, chosen, check_mode=True)
    assert store.writes == []
    leaked = sorted(ip for ips in facts["leaked"].values() for ip in ips)
    assert sorted(preview["released"]) == leaked
    done = release.execute(store, state, chosen)
    assert sorted(done["released"]) == leaked
    assert ("update", "10-71-0-0-26") in store.writes and not store.conflicts   # retried after the conflict
    leaked_handles = sorted(h["handle"] for h in report.compute_report(state)["leaked_handles"])
    assert sorted(w[1] for w in store.writes if w[0] == "delete-handle") == leaked_handles
    assert sorted(h for h in state.handles if h not in store.handles) == leaked_handles
    r1 = store.blocks["10-71-0-0-26"]
    assert r1.allocated_count() == 10 and r1.sequence_number == state.blocks[4].sequence_number + 1
    # the same release again finds nothing to do
    again = release.execute(store, release_state(store, state), release.plan(release_state(store, state), leaked=True))
    assert again["released"] == []


def release_state(store, state):
    return model.IpamState(list(store.blocks.values()), state.affinities, list(store.handles.values()),
                           state.pools, state.nodes, state.workloads, state.datastore)


def test_empty_block_without_affinity_is_deleted():
    b = IpamBuilder()
    b.pool("p", "10.9.0.0/24")
    cidr = b.block("10.9.0.0/26", None)
    ip = b.allocate(cidr, "n1", "ns", "gone")
    state = b.state(nodes=["n1"], workloads=[])
    store = MemoryIpam(state)
    result = release.execute(store, state, release.plan(state, ips=[ip]))
    assert result["released"] == [ip] and result["blocks"][0]["action"] == "deleted"
    assert store.writes == [("delete", "10-9-0-0-26"), ("delete-handle", state.blocks[0].attributes[0]["handle_id"])]


# -- renderers ----------------------------------------------------------------------------------

def test_renderers():
    _builder, _facts, state = build()
    result = report.compute_report(state)
    text = render.table(result)
    assert "nearly-full" in text and "FAILURE: IP pool nearly-full" in text and "BORROWED IP" in text
    files = render.csv_files(result)
    pools = list(csv.DictReader(io.StringIO(files["ipam-pools.csv"])))
    assert {p["name"]: p["allocated"] for p in pools} == {"nearly-full": "49", "roomy": "12"}
    addresses = list(csv.DictReader(io.StringIO(files["ipam-addresses.csv"])))
    assert sorted(a["kind"] for a in addresses) == ["borrowed"] * 2 + ["leaked"] * 5
    assert json.loads(render.json_text(result))["summary"]["leaked"] == 5
    page = render.html(result)
    assert "<script" not in page and "http" not in page.replace("http://www.w3.org/2000/svg", "")
    assert page.count('class="bar"') == 2 + 4  # 2 pools, ipam-a/b/c/gone have allocations
    assert render.COLOURS["fail"] in page and render.COLOURS["ok"] in page


# -- calico_ip_reservations (fixed pod IPs) ------------------------------------------------------

@pytest.mark.parametrize("reservations,message", [
    ([{"name": "r", "reserved_cidrs": ["10.0.0.1/24"]}], "calico_ip_reservations[0] (r).reserved_cidrs[0]: '10.0.0.1/24'"),
    ([{"name": "r"}], "calico_ip_reservations[0] (r).reserved_cidrs: null is not a non-empty list"),
    ([{"name": "Bad_Name", "reserved_cidrs": ["10.0.0.1"]}], "calico_ip_reservations[0] (Bad_Name).name"),
    ([{"name": "r", "reserved_cidrs": ["10.0.0.1"], "cidr": "x"}], "unknown key 'cidr'"),
])
def test_bad_reservations_are_named(reservations, message):
    from ansible_collections.k8snet.calico.plugins.module_utils.calico.validation import ValidationErrors
    with pytest.raises(ValidationErrors) as err:
        inventory_resources.build_resources({"ip_reservations": reservations})
    assert message in str(err.value)


def test_reservations_rendered_in_order():
    resources = inventory_resources.build_resources({"ip_reservations": [
        {"name": "a", "reserved_cidrs": "10.0.0.1"}, {"name": "b", "reserved_cidrs": ["fd00::/126"]}]})
    assert [(r["kind"], r["metadata"]["name"], r["spec"]) for r in resources if r["kind"] == "IPReservation"] == [
        ("IPReservation", "a", {"reservedCIDRs": ["10.0.0.1"]}),
        ("IPReservation", "b", {"reservedCIDRs": ["fd00::/126"]})]


def test_ipv6_pool_and_block():
    b = IpamBuilder()
    b.pool("v6", "fd00:10::/120", block_size=122)
    cidr = b.block("fd00:10::40/122", "n1")
    first = b.allocate(cidr, "n1", "ns", "p1")
    b.allocate(cidr, "n1", "ns", "gone")
    result = report.compute_report(b.state(nodes=["n1"], workloads=[model.Workload("ns", "p1")]))
    pool = result["pools"][0]
    assert (pool["size"], pool["allocated"], pool["blocks_total"], pool["free_blocks"]) == (256, 2, 4, 3)
    assert first == "fd00:10::40" and [r["ip"] for r in result["leaked"]] == ["fd00:10::41"]
    key = "/calico/ipam/v2/assignment/ipv6/block/fd00:10::40-122"
    assert key in b.etcd_kvs() and model.block_from_etcd(key, b.etcd_kvs()[key], 1).etcd_key() == key
