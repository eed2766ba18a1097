"""A stand-in for calico-node's confd: BIRD peerings of the BGP lab generated from the datastore.

calico-node runs confd, which watches the Calico datastore and rewrites ``bird.cfg`` of its node;
nothing here runs calico-node, so the tests need that step to see what a change of Calico
resources does to real BGP sessions. This module reads the Kubernetes datastore the way confd's
KDD backend sees it (Kubernetes Nodes with their labels and ``projectcalico.org/*`` annotations,
``crd.projectcalico.org/v1`` BGPPeers and BGPConfigurations) and computes each node's peerings by
the rules of confd (v3.31: ``confd/pkg/backends/calico/client.go`` updatePeersV1 and the
``bird.cfg`` template), written here from their behaviour:

covered   node-to-node mesh (skipped on route reflectors and towards them; passive towards a
          higher address), global peers (no node, no nodeSelector) on every node, node-specific
          peers (``node`` or ``nodeSelector``) suppressed where a global peer has the same
          address, ``peerSelector`` peers (Calico nodes as peers, with their AS and cluster ID),
          automatic reverse peerings (unless ``reversePeering: Manual``), the per-node AS
          (``projectcalico.org/ASNumber``) and the global one (BGPConfiguration, default 64512),
          ``rr client`` + ``rr cluster id`` (same AS, this node a reflector, the peer not in its
          cluster), skipping a peering with the node's own address.
differs   a peering between two Calico nodes made by a peerSelector is passive at the end with the
          higher address (see _node_as_peer), as confd makes mesh and peerIP peerings.
not       ports and listenPort, passwords, BGPFilters, communities, localASNumber, TTL security,
          keepOriginalNextHop / nextHopMode, local workload peers, IPv6, service advertisement.

Selectors are evaluated by a deliberately small translator (all(), has(), !, ==, !=, &&, ||,
parentheses), independent of the collection's parser.

A :class:`ConfdStandIn` thread applies the result to the lab whenever it changes and, between
syncs, checks that every pod block is reachable from every router (:class:`ReachabilityLog`).
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field

ANNOTATION_IPV4 = "projectcalico.org/IPv4Address"
ANNOTATION_AS = "projectcalico.org/ASNumber"
ANNOTATION_RR = "projectcalico.org/RouteReflectorClusterID"
ANNOTATION_LABELS = "projectcalico.org/labels"
DEFAULT_AS = 64512


@dataclass
class CalicoNode:
    name: str
    labels: dict
    address: str | None
    asn: int | None
    rr_cluster_id: str


@dataclass
class Model:
    nodes: list[CalicoNode]
    peers: list[dict]
    mesh: bool
    global_as: int

    def fingerprint(self) -> tuple:
        return (
            tuple((n.name, n.address, n.asn, n.rr_cluster_id, tuple(sorted(n.labels.items()))) for n in self.nodes),
            tuple(sorted((p["name"], repr(sorted(p["spec"].items()))) for p in self.peers)),
            self.mesh, self.global_as,
        )


def read_model(cluster) -> Model:
    """The datastore as confd's KDD backend sees it, read through the cluster's API."""
    nodes = []
    for item in cluster.request("GET", "/api/v1/nodes")["items"]:
        meta = item["metadata"]
        annotations = meta.get("annotations") or {}
        address = annotations.get(ANNOTATION_IPV4)
        # calicoctl keeps labels that are not the Kubernetes Node's in an annotation; calico-node
        # sees both (Kubernetes labels win).
        labels = {**json.loads(annotations.get(ANNOTATION_LABELS) or "{}"), **(meta.get("labels") or {})}
        nodes.append(CalicoNode(
            name=meta["name"], labels=labels,
            address=address.split("/")[0] if address else None,
            asn=int(annotations[ANNOTATION_AS]) if annotations.get(ANNOTATION_AS) else None,
            rr_cluster_id=annotations.get(ANNOTATION_RR, ""),
        ))
    peers = [{"name": p["metadata"]["name"], "spec": p.get("spec") or {}}
             for p in cluster.request("GET", "/apis/crd.projectcalico.org/v1/bgppeers")["items"]]
    configs = {c["metadata"]["name"]: c.get("spec") or {}
               for c in cluster.request("GET", "/apis/crd.projectcalico.org/v1/bgpconfigurations")["items"]}
    default = configs.get("default", {})
    return Model(nodes=sorted(nodes, key=lambda n: n.name), peers=sorted(peers, key=lambda p: p["name"]),
                 mesh=default.get("nodeToNodeMeshEnabled", True) is not False,
                 global_as=int(default.get("asNumber") or DEFAULT_AS))


_SELECTOR_TOKENS = [
    (re.compile(r"\s*all\(\)"), lambda m: " True "),
    (re.compile(r"\s*has\(\s*([\w./-]+)\s*\)"), lambda m: f" ({m.group(1)!r} in L) "),
    (re.compile(r"\s*([\w./-]+)\s*==\s*['\"]([^'\"]*)['\"]"), lambda m: f" (L.get({m.group(1)!r}) == {m.group(2)!r}) "),
    (re.compile(r"\s*([\w./-]+)\s*!=\s*['\"]([^'\"]*)['\"]"), lambda m: f" (L.get({m.group(1)!r}) != {m.group(2)!r}) "),
    (re.compile(r"\s*&&"), lambda m: " and "),
    (re.compile(r"\s*\|\|"), lambda m: " or "),
    (re.compile(r"\s*!"), lambda m: " not "),
    (re.compile(r"\s*\("), lambda m: " ( "),
    (re.compile(r"\s*\)"), lambda m: " ) "),
]


def selector_matches(selector: str, labels: dict) -> bool:
    text, pos, python = selector or "all()", 0, ""
    while pos < len(text.rstrip()):
        for pattern, emit in _SELECTOR_TOKENS:
            match = pattern.match(text, pos)
            if match:
                python += emit(match)
                pos = match.end()
                break
        else:
            raise ValueError(f"selector {selector!r}: the confd stand-in cannot read {text[pos:]!r}")
    return bool(eval(python, {"__builtins__": {}}, {"L": labels}))  # noqa: S307 - test-only, from our own tokens


def _node_as_peer(node: CalicoNode, model: Model) -> dict:
    # confd leaves both ends of a selector peering active. Stock BIRD 1.6.8 takes the second
    # connection of a simultaneous open for a graceful restart and closes the session, again and
    # again (measured here: such sessions never settled); so, as confd does for the mesh and for
    # peerIP peerings with a Calico node, the end with the higher address waits (passive).
    return {"ip": node.address, "asn": node.asn or model.global_as, "rr": node.rr_cluster_id, "calico_node": True}


def peerings(model: Model) -> dict[str, dict]:
    """``{node name: {"rr_cluster_id": ..., "peers": [lab peer dicts]}}`` for nodes with an address."""
    nodes = [n for n in model.nodes if n.address]
    by_ip = {n.address: n for n in nodes}

    def matching(sel):
        return [n for n in nodes if selector_matches(sel, n.labels)]

    def targets(spec):
        if spec.get("peerSelector"):
            return [_node_as_peer(n, model) for n in matching(spec["peerSelector"])]
        ip = spec.get("peerIP", "").split(":")[0]
        return [{"ip": ip, "asn": int(spec.get("asNumber") or model.global_as), "rr": "",
                 "calico_node": ip in by_ip}]

    global_peers: dict[str, dict] = {}
    node_peers: dict[tuple[str, str], dict] = {}

    def emit_node(local, peer):
        if peer["ip"] in global_peers:
            return
        node_peers.setdefault((local, peer["ip"]), peer)

    for peer in model.peers:  # global pass
        spec = peer["spec"]
        if not spec.get("node") and not spec.get("nodeSelector"):
            for target in targets(spec):
                global_peers.setdefault(target["ip"], target)
    for peer in model.peers:  # node-specific pass
        spec = peer["spec"]
        if spec.get("node") or spec.get("nodeSelector"):
            local = [spec["node"]] if spec.get("node") else [n.name for n in matching(spec["nodeSelector"])]
            for target in targets(spec):
                for name in local:
                    emit_node(name, target)
    for peer in model.peers:  # reverse peerings
        spec = peer["spec"]
        if spec.get("reversePeering") == "Manual":
            continue
        if spec.get("peerSelector"):
            local = matching(spec["peerSelector"])
        else:
            ip = spec.get("peerIP", "").split(":")[0]
            asn = int(spec.get("asNumber") or model.global_as)
            local = [n for n in nodes if n.address == ip and (n.asn or model.global_as) == asn]
        if not local:
            continue
        if spec.get("nodeSelector"):
            remote = matching(spec["nodeSelector"])
        elif spec.get("node"):
            remote = [n for n in nodes if n.name == spec["node"]]
        else:
            remote = nodes
        for other in remote:
            for me in local:
                emit_node(me.name, _node_as_peer(other, model))

    result = {}
    for me in nodes:
        my_as = me.asn or model.global_as
        peers = []
        if model.mesh and not me.rr_cluster_id:
            for other in nodes:
                if other is not me and not other.rr_cluster_id:
                    peers.append({"address": other.address, "asn": other.asn or model.global_as, "type": "mesh",
                                  "passive": other.address > me.address})
        chosen = [("global", p) for p in global_peers.values()]
        chosen += [("node", p) for (local, _ip), p in node_peers.items() if local == me.name]
        for peer_type, p in chosen:
            if p["ip"] == me.address:
                continue
            peers.append({
                "address": p["ip"], "asn": p["asn"], "type": peer_type,
                "route_reflector_client": bool(p["asn"] == my_as and me.rr_cluster_id and p["rr"] != me.rr_cluster_id),
                "passive": bool(p["calico_node"] and p["ip"] > me.address),
            })
        result[me.name] = {"rr_cluster_id": me.rr_cluster_id or None,
                           "peers": sorted(peers, key=lambda p: (p["type"], p["address"]))}
    return result


@dataclass
class ReachabilityLog:
    """Every check of "router R has a usable route to pod block B", and the ones that failed."""
    checks: int = 0
    samples: int = 0
    failures: list[tuple[float, str, str, tuple]] = field(default_factory=list)
    states: dict[tuple, int] = field(default_factory=dict)


class ConfdStandIn:
    """Keeps the lab's node configs in step with the datastore, and checks reachability.

    ``frozen`` names nodes whose confd is stuck (their BIRD config is never updated): a route
    reflector that never comes up. Reachability: a TOR needs a route to every pod block; a node
    needs its own block, a route to the block, or a TOR (its default gateway) that has one.
    """

    def __init__(self, lab, cluster, *, tors: list[str], interval: float = 0.2, frozen: set[str] | None = None):
        self.lab, self.cluster, self.tors = lab, cluster, list(tors)
        self.interval = interval
        self.frozen = set(frozen or ())
        self.applied: dict[str, dict] = {}
        self.reconfigurations = 0
        self.events: list[tuple] = []
        self.log = ReachabilityLog()
        self.checking = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self.model: Model | None = None

    def sync(self) -> Model:
        model = read_model(self.cluster)
        for name, wanted in peerings(model).items():
            if name not in self.lab.routers or name in self.frozen or self.applied.get(name) == wanted:
                continue
            self.lab.set_node(name, peers=wanted["peers"], rr_cluster_id=wanted["rr_cluster_id"])
            self.applied[name] = wanted
            self.reconfigurations += 1
            self.events.append((round(time.monotonic(), 1), name, wanted["rr_cluster_id"],
                                [(p["type"], p["address"]) for p in wanted["peers"]]))
        self.model = model
        return model

    def blocks(self) -> dict[str, list[str]]:
        return {r.name: r.pod_blocks for r in self.lab.routers.values() if r.kind == "node"}

    def unreachable(self) -> list[tuple[str, str]]:
        """(router, block) pairs without a path right now."""
        tables = {name: self.lab.route_prefixes(name) for name in self.lab.routers}
        missing = []
        all_blocks = [(owner, b) for owner, blocks in self.blocks().items() for b in blocks]
        for router in self.lab.routers.values():
            for owner, block in all_blocks:
                self.log.checks += 1
                if owner == router.name or block in tables[router.name]:
                    continue
                if router.kind == "node" and any(block in tables[t] for t in self.tors):
                    continue
                missing.append((router.name, block))
        return missing

    def step(self) -> None:
        model = self.sync()
        if self.checking:
            missing = self.unreachable()
            self.log.samples += 1
            state = model.fingerprint()
            self.log.states[state] = self.log.states.get(state, 0) + 1
            for router, block in missing:
                self.log.failures.append((time.monotonic(), router, block, state))

    def wait_converged(self, timeout: float = 30) -> float:
        """Sync until every block is reachable everywhere; returns the seconds it took."""
        start = time.monotonic()
        while True:
            self.sync()
            missing = self.unreachable()
            if not missing:
                return time.monotonic() - start
            if time.monotonic() - start > timeout:
                raise AssertionError(f"lab did not converge in {timeout}s: no path for {missing}")
            time.sleep(self.interval)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self.step()
                self._stop.wait(self.interval)
        except BaseException as exc:  # reported by stop()
            self._error = exc

    def start(self) -> "ConfdStandIn":
        self.checking = True
        self._thread = threading.Thread(target=self._run, name="confd-stand-in", daemon=True)
        self._thread.start()
        return self

    @property
    def error(self) -> BaseException | None:
        """What stopped the background thread, if anything did."""
        return self._error

    def stop(self) -> ReachabilityLog:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=30)
        if self._error:
            raise self._error
        return self.log
