"""The runner's planning, ordering, conflict retries and check mode, against an in-memory store."""

import copy

import pytest

from ansible_collections.k8snet.calico.plugins.module_utils.calico.apply import (
    MANAGED_BY_LABEL, ApplyError, Runner, flatten)
from ansible_collections.k8snet.calico.plugins.module_utils.calico.validation import ValidationErrors
from ansible_collections.k8snet.calico.plugins.module_utils.datastore.errors import Conflict, Invalid


def peer(name, asn=65001, ip="192.0.2.1", labels=None):
    meta = {"name": name}
    if labels:
        meta["labels"] = labels
    return {"apiVersion": "projectcalico.org/v3", "kind": "BGPPeer", "metadata": meta,
            "spec": {"peerIP": ip, "asNumber": asn}}


class MemoryStore:
    """Keeps v3 resources by (kind, name) with an integer version; can fail writes on demand."""

    def __init__(self):
        self.data = {}
        self.writes = []
        self.conflicts = 0       # the next N writes answer Conflict (and someone else writes first)
        self.fail_on = None      # name whose write fails with Invalid
        self.requests = {}

    def list(self, kind):
        return {name: (copy.deepcopy(res), ver) for (k, name), (res, ver) in self.data.items() if k == kind.name}

    def get(self, kind, name):
        entry = self.data.get((kind.name, name))
        return (copy.deepcopy(entry[0]), entry[1]) if entry else None

    def _write(self, verb, kind, name, resource, version, dry_run):
        if self.fail_on == name:
            raise Invalid("refused by the API")
        if self.conflicts:
            self.conflicts -= 1
            live = self.data[(kind.name, name)]
            self.data[(kind.name, name)] = (live[0], live[1] + 1)  # a concurrent writer
            raise Conflict("stale")
        current = self.data.get((kind.name, name))
        if current is not None and version is not None and current[1] != version:
            raise Conflict("stale version")
        self.writes.append((verb, kind.name, name, dry_run))
        if dry_run:
            return
        if verb == "delete":
            del self.data[(kind.name, name)]
        else:
            self.data[(kind.name, name)] = (copy.deepcopy(resource), (current[1] + 1) if current else 1)

    def create(self, kind, resource, dry_run=False):
        self._write("create", kind, resource["metadata"]["name"], resource, None, dry_run)

    def update(self, kind, resource, version, dry_run=False):
        self._write("update", kind, resource["metadata"]["name"], resource, version, dry_run)

    def delete(self, kind, name, version, dry_run=False):
        self._write("delete", kind, name, None, version, dry_run)


def test_flatten_opens_lists():
    docs = [None, [peer("a")], {"kind": "BGPPeerList", "items": [peer("b")]}, peer("c")]
    assert [r["metadata"]["name"] for r in flatten(docs)] == ["a", "b", "c"]


def test_create_then_rerun_is_unchanged():
    store = MemoryStore()
    first = Runner(store).run([peer("a"), peer("b")])
    assert [r["action"] for r in first] == ["created", "created"]
    again = Runner(store).run([peer("a"), peer("b")])
    assert [r["action"] for r in again] == ["unchanged", "unchanged"]
    assert len(store.writes) == 2


def test_check_mode_writes_dry_run_only():
    store = MemoryStore()
    results = Runner(store, check_mode=True).run([peer("a")])
    assert results[0]["action"] == "created"
    assert store.writes == [("create", "BGPPeer", "a", True)] and not store.data


def test_invalid_batch_writes_nothing():
    store = MemoryStore()
    with pytest.raises(ValidationErrors) as err:
        Runner(store).run([peer("ok"), peer("bad", asn=-1)])
    assert "BGPPeer/bad" in str(err.value) and "asNumber" in str(err.value)
    assert store.writes == []


def test_conflict_is_retried_on_a_fresh_read():
    store = MemoryStore()
    Runner(store).run([peer("a")])
    store.conflicts = 2
    results = Runner(store).run([peer("a", asn=65002)])
    assert results[0]["action"] == "updated"
    assert store.data[("BGPPeer", "a")][0]["spec"]["asNumber"] == 65002


def test_endless_conflict_fails_naming_what_was_written():
    store = MemoryStore()
    Runner(store).run([peer("a"), peer("b")])
    store.conflicts = 100
    with pytest.raises(ApplyError) as err:
        Runner(store).run([peer("a", asn=65002), peer("b", asn=65002)])
    assert "BGPPeer/a" in str(err.value) and "still conflicting" in str(err.value)


def test_a_failed_write_reports_what_was_already_written():
    store = MemoryStore()
    store.fail_on = "b"
    with pytest.raises(ApplyError) as err:
        Runner(store).run([peer("a"), peer("b"), peer("c")])
    assert "BGPPeer/b" in str(err.value) and "BGPPeer/a created" in str(err.value)
    assert [r["name"] for r in err.value.results] == ["a"]


def test_prune_deletes_last_and_only_managed():
    store = MemoryStore()
    Runner(store).run([peer("old"), peer("kept")], managed_by="k8snet.calico")
    Runner(store).run([peer("by-hand", ip="192.0.2.9")])  # no label: never pruned
    results = Runner(store).run([peer("kept"), peer("new", ip="192.0.2.2")], prune=True, managed_by="k8snet.calico")
    assert [(r["name"], r["action"]) for r in results] == [("kept", "unchanged"), ("new", "created"), ("old", "deleted")]
    assert ("BGPPeer", "by-hand") in store.data
    assert store.data[("BGPPeer", "new")][0]["metadata"]["labels"][MANAGED_BY_LABEL] == "k8snet.calico"


def pool(name, cidr):
    return {"apiVersion": "projectcalico.org/v3", "kind": "IPPool", "metadata": {"name": name},
            "spec": {"cidr": cidr, "ipipMode": "Never", "vxlanMode": "Never", "blockSize": 26}}


class OperatorStore(MemoryStore):
    """A kubernetes store on a cluster whose Installation default names one pool."""

    def operator_pools(self):
        return {"default-ipv4-ippool": 0}


def test_a_pool_of_the_operators_installation_is_refused_before_any_write():
    store = OperatorStore()
    for check_mode in (False, True):
        with pytest.raises(ApplyError) as refused:
            Runner(store, check_mode=check_mode).run([peer("a"), pool("default-ipv4-ippool", "10.244.0.0/16")])
        assert ("IPPool/default-ipv4-ippool (create): Installation default names it in "
                "spec.calicoNetwork.ipPools[0].name 'default-ipv4-ippool'") in str(refused.value)
        assert "nothing was written" in str(refused.value)
    assert store.writes == []
    # Another pool, and a store without the operator's Installation, are written as before.
    assert Runner(store).run([pool("extra", "10.250.0.0/16")])[0]["action"] == "created"
    assert Runner(MemoryStore()).run([pool("default-ipv4-ippool", "10.244.0.0/16")])[0]["action"] == "created"
