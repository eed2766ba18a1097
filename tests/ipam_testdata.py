"""IPAM objects written the way Calico writes them (libcalico-go v3.31.0 lib/ipam: newBlock,
allocationBlock.autoAssign, findOrAddAttribute, incrementHandle, blockReaderWriter.updateBlock),
for the kubernetes datastore (crd.projectcalico.org/v1 objects) and etcd (keys and values).

An allocation takes the first ordinal of the block's ``unallocated`` list, adds (or reuses) its
attribute ``{handle_id, secondary: {namespace, node, pod, timestamp}}``, records the block's
sequence number for the ordinal, then the block is written with its sequence number + 1; the
handle's count for the block goes up by one.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json

from ansible_collections.k8snet.calico.plugins.module_utils.ipam import model

TIMESTAMP = "2026-11-25 10:00:00.000000000 +0000 UTC"


class IpamBuilder:
    def __init__(self, sequence_start: int = 1764064800000000000):
        self.blocks: dict[str, dict] = {}      # cidr -> AllocationBlock JSON (model field names)
        self.affinities: list[tuple[str, str]] = []  # (node, cidr)
        self.handles: dict[str, dict] = {}     # handle id -> {cidr: count}
        self.pools: list[dict] = []
        self._sequence = sequence_start

    def pool(self, name: str, cidr: str, block_size: int = 26, **spec) -> dict:
        resource = {"apiVersion": "projectcalico.org/v3", "kind": "IPPool", "metadata": {"name": name},
                    "spec": {"cidr": cidr, "blockSize": block_size, "ipipMode": "Never", "vxlanMode": "Never",
                             "natOutgoing": False, "nodeSelector": "all()", **spec}}
        self.pools.append(resource)
        return resource

    def block(self, cidr: str, node: str | None) -> str:
        network = ipaddress.ip_network(cidr)
        size = network.num_addresses
        self._sequence += 1000
        self.blocks[str(network)] = {
            "cidr": str(network), "affinity": f"host:{node}" if node else None,
            "allocations": [None] * size, "unallocated": list(range(size)), "attributes": [],
            "sequenceNumber": self._sequence, "sequenceNumberForAllocation": {}, "deleted": False}
        if node:
            self.affinities.append((node, str(network)))
        return str(network)

    def allocate(self, cidr: str, node: str, namespace: str, pod: str, handle: str | None = None,
                 kind: str | None = None) -> str:
        block = self.blocks[cidr]
        if handle is None:
            handle = "k8s-pod-network." + hashlib.sha256(f"{namespace}/{pod}".encode()).hexdigest()[:64]
        secondary = {"node": node, "timestamp": TIMESTAMP}
        if kind:
            secondary["type"] = kind
        else:
            secondary.update({"namespace": namespace, "pod": pod})
        attribute = {"handle_id": handle, "secondary": secondary}
        if attribute in block["attributes"]:
            index = block["attributes"].index(attribute)
        else:
            index = len(block["attributes"])
            block["attributes"].append(attribute)
        ordinal = block["unallocated"].pop(0)
        block["allocations"][ordinal] = index
        block["sequenceNumberForAllocation"][str(ordinal)] = block["sequenceNumber"]
        block["sequenceNumber"] += 1
        counts = self.handles.setdefault(handle, {})
        counts[cidr] = counts.get(cidr, 0) + 1
        return str(ipaddress.ip_network(cidr).network_address + ordinal)

    # -- the kubernetes datastore ------------------------------------------------------------
    def crd_objects(self) -> list[dict]:
        objects = []
        for cidr, block in self.blocks.items():
            network = ipaddress.ip_network(cidr)
            spec = {k: block[k] for k in ("cidr", "affinity", "allocations", "unallocated", "attributes",
                                          "sequenceNumber", "sequenceNumberForAllocation", "deleted")}
            spec["strictAffinity"] = False
            objects.append({"apiVersion": "crd.projectcalico.org/v1", "kind": "IPAMBlock",
                            "metadata": {"name": model.cidr_name(network)}, "spec": spec})
        for node, cidr in self.affinities:
            network = ipaddress.ip_network(cidr)
            objects.append({"apiVersion": "crd.projectcalico.org/v1", "kind": "BlockAffinity",
                            "metadata": {"name": f"{node}-{model.cidr_name(network)}",
                                         "labels": {"projectcalico.org/affinity-type": "host",
                                                    "projectcalico.org/ip-version": str(network.version)}},
                            "spec": {"state": "confirmed", "node": node, "type": "host", "cidr": cidr,
                                     "deleted": "false"}})
        for handle, counts in self.handles.items():
            objects.append({"apiVersion": "crd.projectcalico.org/v1", "kind": "IPAMHandle",
                            "metadata": {"name": handle.lower()},
                            "spec": {"handleID": handle, "block": dict(counts), "deleted": False}})
        return objects

    # -- etcd -----------------------------------------------------------------------------------
    def etcd_kvs(self) -> dict[str, str]:
        kvs = {}
        for cidr, block in self.blocks.items():
            network = ipaddress.ip_network(cidr)
            key = f"/calico/ipam/v2/assignment/ipv{network.version}/block/{cidr.replace('/', '-')}"
            value = {k: block[k] for k in ("cidr", "affinity", "allocations", "unallocated", "attributes",
                                           "sequenceNumber", "sequenceNumberForAllocation", "deleted")}
            # Go's encoding/json writes map keys sorted
            value["attributes"] = [{"handle_id": a["handle_id"], "secondary": dict(sorted(a["secondary"].items()))}
                                   for a in value["attributes"]]
            value["sequenceNumberForAllocation"] = dict(sorted(value["sequenceNumberForAllocation"].items()))
            kvs[key] = model.go_json(value)
        for node, cidr in self.affinities:
            network = ipaddress.ip_network(cidr)
            key = f"/calico/ipam/v2/host/{node}/ipv{network.version}/block/{cidr.replace('/', '-')}"
            kvs[key] = json.dumps({"state": "confirmed", "deleted": False}, separators=(",", ":"))
        for handle, counts in self.handles.items():
            kvs[f"/calico/ipam/v2/handle/{handle}"] = json.dumps({"block": counts, "deleted": False},
                                                                 separators=(",", ":"))
        return kvs

    def state(self, nodes=None, workloads=None) -> model.IpamState:
        """The model state parsed from the CRD objects (as the module would read it)."""
        objects = self.crd_objects()
        return model.IpamState(
            [model.block_from_crd(o) for o in objects if o["kind"] == "IPAMBlock"],
            [model.affinity_from_crd(o) for o in objects if o["kind"] == "BlockAffinity"],
            [model.handle_from_crd(o) for o in objects if o["kind"] == "IPAMHandle"],
            [model.pool_from_v3(p) for p in self.pools], nodes, workloads, "kubernetes")


def scenario():
    """The proof's cluster: pool ``nearly-full`` 10.70.0.0/26 split in /28 blocks (4 blocks, all
    claimed) and pool ``roomy`` 10.71.0.0/24 (/26 blocks); nodes ipam-a, ipam-b, ipam-c; ipam-c
    borrows 3 addresses from ipam-a's block; 4 addresses leaked in 3 handles (pods that do not exist),
    one of them borrowed; a block affine to node ipam-gone, which does not exist.

    Returns (builder, facts) where facts holds the numbers the report must show."""
    b = IpamBuilder()
    b.pool("nearly-full", "10.70.0.0/26", block_size=28)
    b.pool("roomy", "10.71.0.0/24", block_size=26)
    a1 = b.block("10.70.0.0/28", "ipam-a")
    b1 = b.block("10.70.0.16/28", "ipam-b")
    c1 = b.block("10.70.0.32/28", "ipam-c")
    g1 = b.block("10.70.0.48/28", "ipam-gone")
    r1 = b.block("10.71.0.0/26", "ipam-a")
    live = []   # (namespace, pod, node, ip)
    for i in range(14):
        live.append(("ipam-live", f"a-{i}", "ipam-a", b.allocate(a1, "ipam-a", "ipam-live", f"a-{i}")))
    for i in range(16):
        live.append(("ipam-live", f"b-{i}", "ipam-b", b.allocate(b1, "ipam-b", "ipam-live", f"b-{i}")))
    for i in range(15):
        live.append(("ipam-live", f"c-{i}", "ipam-c", b.allocate(c1, "ipam-c", "ipam-live", f"c-{i}")))
    for i in range(10):
        live.append(("ipam-live", f"r-{i}", "ipam-a", b.allocate(r1, "ipam-a", "ipam-live", f"r-{i}")))
    # ipam-c's own block fills up: it borrows from ipam-a's block (one live pod, one leaked below)
    borrowed_live = [b.allocate(a1, "ipam-c", "ipam-live", "cb-0")]
    live.append(("ipam-live", "cb-0", "ipam-c", borrowed_live[0]))
    # leaked: pods gone. One leaked address is also borrowed (ipam-c in ipam-a's block).
    leaked = {
        "gone-1": [b.allocate(c1, "ipam-c", "ipam-gone-ns", "gone-1")],
        "gone-2": [b.allocate(r1, "ipam-a", "ipam-gone-ns", "gone-2"), b.allocate(r1, "ipam-a", "ipam-gone-ns", "gone-2")],
        "gone-3": [b.allocate(a1, "ipam-c", "ipam-gone-ns", "gone-3")],
    }
    gone_block_ip = b.allocate(g1, "ipam-gone", "ipam-gone-ns", "gone-4")
    leaked["gone-4"] = [gone_block_ip]
    facts = {
        "live": live,
        "leaked": leaked,
        "borrowed": sorted([borrowed_live[0], leaked["gone-3"][0]]),
        "nodes": ["ipam-a", "ipam-b", "ipam-c"],
        "blocks": {"a1": a1, "b1": b1, "c1": c1, "g1": g1, "r1": r1},
    }
    return b, facts
