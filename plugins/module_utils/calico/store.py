# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Calico resources (projectcalico.org/v3 form) kept in a datastore.

A store hides where a kind lives: CRD objects or the Kubernetes Node in the kubernetes datastore,
keys under /calico/resources/v3 in etcd. Everything above it works on v3 resources; each entry it
returns is ``(resource, version)`` where ``version`` is what an update or delete must present
(the object's resourceVersion, or the key's etcd mod revision).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import datetime
import uuid

from ansible_collections.k8snet.calico.plugins.module_utils.calico import storage
from ansible_collections.k8snet.calico.plugins.module_utils.calico.kinds import CRD_GROUP, CRD_VERSION
from ansible_collections.k8snet.calico.plugins.module_utils.datastore.errors import Forbidden, NotFound

V3_GROUP = 'projectcalico.org'
V3_VERSION = 'v3'


_SERVER_METADATA = ('managedFields', 'generation', 'selfLink')


def _to_v3_object(resource):
    """What to send to a Calico API server: the v3 resource itself (it stores and converts)."""
    obj = copy.deepcopy(resource)
    obj.pop('status', None)
    for field in _SERVER_METADATA + ('creationTimestamp',):
        obj['metadata'].pop(field, None)
    return obj


def _from_v3_object(obj):
    resource = copy.deepcopy(obj)
    for field in _SERVER_METADATA:
        resource.get('metadata', {}).pop(field, None)
    return resource


class KubernetesStore(object):
    """The kubernetes datastore. CRD objects of crd.projectcalico.org/v1 (what calicoctl writes);
    a Calico Node is the Kubernetes Node's projectcalico.org annotations and labels."""

    def __init__(self, client, api='auto'):
        self.client = client
        self.requests = client.requests
        self.api = api
        self._v3_plurals = None
        self._raw = {}  # (kind, name) -> the object as read, for updates that keep its other fields

    def operator_pools(self):
        """{pool name: index} of the IPPools the Tigera operator owns: those named in
        ``spec.calicoNetwork.ipPools`` of its Installation ``default`` ({} without one, without the
        operator's CRD, or without the right to read it). The operator creates and reconciles them
        from the Installation."""
        try:
            installation = self.client.get('operator.tigera.io', 'v1', 'installations', 'default')
        except (NotFound, Forbidden):
            return {}
        pools = ((installation.get('spec') or {}).get('calicoNetwork') or {}).get('ipPools') or []
        return dict((pool.get('name'), index) for index, pool in enumerate(pools) if pool.get('name'))

    def _served_v3(self):
        """Plurals that a Calico API server serves in projectcalico.org/v3 (one discovery request)."""
        if self._v3_plurals is None:
            if self.api == 'crd':
                self._v3_plurals = set()
            else:
                self._v3_plurals = set(self.client.discover(V3_GROUP).get(V3_VERSION) or [])
        return self._v3_plurals

    def route(self, kind):
        """(group, version, to_object, from_object) of ``kind``: the Calico API server's v3 objects
        when it serves the kind (or ``api`` is ``projectcalico.org/v3``), else the CRD objects."""
        if self.api == V3_GROUP + '/' + V3_VERSION or kind.plural in self._served_v3():
            return V3_GROUP, V3_VERSION, _to_v3_object, _from_v3_object
        return CRD_GROUP, CRD_VERSION, storage.to_crd, storage.from_crd

    def list(self, kind):
        if kind.node:
            items = self.client.list('', 'v1', 'nodes')['items']
            convert = storage.node_from_k8s
        else:
            group, version, _to, convert = self.route(kind)
            items = self.client.list(group, version, kind.plural)['items']
        found = {}
        for obj in items:
            resource = convert(obj)
            name = resource['metadata']['name']
            self._raw[(kind.name, name)] = obj
            found[name] = (resource, obj['metadata'].get('resourceVersion'))
        return found

    def get(self, kind, name):
        try:
            if kind.node:
                obj = self.client.get('', 'v1', 'nodes', name)
                resource = storage.node_from_k8s(obj)
            else:
                group, version, _to, convert = self.route(kind)
                obj = self.client.get(group, version, kind.plural, name)
                resource = convert(obj)
        except NotFound:
            return None
        self._raw[(kind.name, name)] = obj
        return resource, obj['metadata'].get('resourceVersion')

    def create(self, kind, resource, dry_run=False):
        if kind.node:
            raise ValueError('a Calico Node is created by calico-node, not by this module')
        group, version, to_object, from_object = self.route(kind)
        obj = to_object(resource)
        obj['metadata'].pop('resourceVersion', None)
        return from_object(self.client.create(group, version, kind.plural, obj, dry_run=dry_run))

    def update(self, kind, resource, version, dry_run=False):
        name = resource['metadata']['name']
        if kind.node:
            patch = storage.node_patch(resource, self._raw[(kind.name, name)])
            patch.setdefault('metadata', {})['resourceVersion'] = version
            written = self.client.patch('', 'v1', 'nodes', name, patch, patch_type='merge', dry_run=dry_run)
            return storage.node_from_k8s(written)
        group, api_version, to_object, from_object = self.route(kind)
        obj = to_object(resource)
        obj['metadata']['resourceVersion'] = version
        return from_object(self.client.replace(group, api_version, kind.plural, obj, dry_run=dry_run))

    def delete(self, kind, name, version, dry_run=False):
        if kind.node:
            raise ValueError('a Calico Node is not deleted by this module')
        group, api_version = self.route(kind)[:2]
        self.client.delete(group, api_version, kind.plural, name, dry_run=dry_run, resource_version=version)


class EtcdStore(object):
    """The etcdv3 datastore: one key per resource, the v3 JSON as its value, the key's mod revision
    as resourceVersion. There is no dry run in etcd: with ``dry_run`` nothing is sent."""

    def __init__(self, client, now=None, new_uid=None):
        self.client = client
        self.requests = client.requests
        self._now = now or (lambda: datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ'))
        self._new_uid = new_uid or (lambda: str(uuid.uuid4()))

    def list(self, kind):
        prefix = storage.etcd_prefix(kind.name)
        found = {}
        for kv in self.client.range_prefix(prefix).kvs:
            resource = storage.from_etcd(kv.key, kv.value, kv.mod_revision)
            found[resource['metadata']['name']] = (resource, kv.mod_revision)
        return found

    def get(self, kind, name):
        try:
            kv = self.client.get(storage.etcd_key(kind.name, name))
        except NotFound:
            return None
        return storage.from_etcd(kv.key, kv.value, kv.mod_revision), kv.mod_revision

    def create(self, kind, resource, dry_run=False):
        value = storage.to_etcd_value(resource, self._new_uid(), self._now())
        if dry_run:
            return storage.from_etcd(storage.etcd_key(kind.name, resource['metadata']['name']), value, 0)
        key = storage.etcd_key(kind.name, resource['metadata']['name'])
        revision = self.client.create(key, value)
        return storage.from_etcd(key, value, revision)

    def update(self, kind, resource, version, dry_run=False):
        meta = resource['metadata']
        key = storage.etcd_key(kind.name, meta['name'])
        value = storage.to_etcd_value(resource, meta.get('uid') or self._new_uid(),
                                      meta.get('creationTimestamp') or self._now())
        if dry_run:
            return storage.from_etcd(key, value, version)
        revision = self.client.update(key, value, version)
        return storage.from_etcd(key, value, revision)

    def delete(self, kind, name, version, dry_run=False):
        if not dry_run:
            self.client.delete(storage.etcd_key(kind.name, name), version)


def open_store(settings, client, api='auto'):
    """The store for resolved connection settings and their transport client. ``api`` (kubernetes
    datastore): ``auto`` uses a Calico API server's projectcalico.org/v3 when one serves it,
    ``crd`` always the crd.projectcalico.org/v1 objects, ``projectcalico.org/v3`` always the API server."""
    if settings.datastore == 'etcdv3':
        return EtcdStore(client)
    return KubernetesStore(client, api=api)
