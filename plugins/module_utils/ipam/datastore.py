# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Reading and writing Calico's IPAM objects over the collection's datastore transports.

``open_ipam(settings, client, store)`` gives a ``KubernetesIpam`` (crd.projectcalico.org/v1
IPAMBlock, BlockAffinity, IPAMHandle objects; Nodes and Pods of the Kubernetes API) or an
``EtcdIpam`` (keys under /calico/ipam/v2/; Calico Nodes and WorkloadEndpoints under
/calico/resources/v3/). Writes present the version read (resourceVersion / mod revision): a
concurrent change raises ``errors.Conflict``. Deletes are done as libcalico-go does them: in the
kubernetes datastore the object is first updated with ``deleted: true`` (the API does not check a
resourceVersion on delete otherwise), then deleted with that version as precondition.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.k8snet.calico.plugins.module_utils.calico import kinds as calico_kinds
from ansible_collections.k8snet.calico.plugins.module_utils.datastore.errors import NotFound
from ansible_collections.k8snet.calico.plugins.module_utils.ipam import model

G, V = model.CRD_GROUP, model.CRD_VERSION
ETCD_WEP_PREFIX = '/calico/resources/v3/projectcalico.org/workloadendpoints/'


class KubernetesIpam(object):
    datastore = 'kubernetes'

    def __init__(self, client, store):
        self.client = client
        self.store = store

    def read_state(self, workloads=True):
        blocks = [model.block_from_crd(o) for o in self.client.list(G, V, 'ipamblocks')['items']]
        affinities = [model.affinity_from_crd(o) for o in self.client.list(G, V, 'blockaffinities')['items']]
        handles = [model.handle_from_crd(o) for o in self.client.list(G, V, 'ipamhandles')['items']]
        pools = [model.pool_from_v3(entry[0]) for entry in self.store.list(calico_kinds.lookup('IPPool')).values()]
        nodes = [o['metadata']['name'] for o in self.client.list('', 'v1', 'nodes')['items']]
        pods = None
        if workloads:
            pods = [model.workload_from_pod(o) for o in self.client.list('', 'v1', 'pods')['items']]
        return model.IpamState(blocks, affinities, handles, pools, nodes, pods, self.datastore)

    def get_block(self, block):
        try:
            return model.block_from_crd(self.client.get(G, V, 'ipamblocks', block.name))
        except NotFound:
            return None

    def update_block(self, block):
        return model.block_from_crd(self.client.replace(G, V, 'ipamblocks', block.crd_object()))

    def delete_block(self, block):
        marked = block.copy()
        marked.deleted = True
        written = self.client.replace(G, V, 'ipamblocks', marked.crd_object())
        meta = written['metadata']
        self.client.delete(G, V, 'ipamblocks', block.name, resource_version=meta.get('resourceVersion'),
                           uid=meta.get('uid'))

    def get_handle(self, handle_id):
        try:
            return model.handle_from_crd(self.client.get(G, V, 'ipamhandles', handle_id.lower()))
        except NotFound:
            return None

    def update_handle(self, handle):
        return model.handle_from_crd(self.client.replace(G, V, 'ipamhandles', handle.crd_object()))

    def delete_handle(self, handle):
        marked = handle.copy()
        marked.deleted = True
        written = self.client.replace(G, V, 'ipamhandles', marked.crd_object())
        meta = written['metadata']
        self.client.delete(G, V, 'ipamhandles', handle.name, resource_version=meta.get('resourceVersion'),
                           uid=meta.get('uid'))


class EtcdIpam(object):
    datastore = 'etcdv3'

    def __init__(self, client, store):
        self.client = client
        self.store = store

    def read_state(self, workloads=True):
        blocks = [model.block_from_etcd(kv.key, kv.value, kv.mod_revision)
                  for kv in self.client.range_prefix(model.ETCD_BLOCK_PREFIX).kvs]
        affinities = [model.affinity_from_etcd(kv.key, kv.value, kv.mod_revision)
                      for kv in self.client.range_prefix(model.ETCD_AFFINITY_PREFIX).kvs]
        handles = [model.handle_from_etcd(kv.key, kv.value, kv.mod_revision)
                   for kv in self.client.range_prefix(model.ETCD_HANDLE_PREFIX).kvs]
        pools = [model.pool_from_v3(entry[0]) for entry in self.store.list(calico_kinds.lookup('IPPool')).values()]
        nodes = list(self.store.list(calico_kinds.lookup('Node')))
        weps = None
        if workloads:
            weps = []
            for kv in self.client.range_prefix(ETCD_WEP_PREFIX).kvs:
                try:
                    weps.append(model.workload_from_wep(json.loads(kv.value)))
                except ValueError:
                    raise model.IpamDataError('etcd key %s: not JSON' % kv.key)
        return model.IpamState(blocks, affinities, handles, pools, nodes, weps, self.datastore)

    def get_block(self, block):
        try:
            kv = self.client.get(block.etcd_key())
        except NotFound:
            return None
        return model.block_from_etcd(kv.key, kv.value, kv.mod_revision)

    def update_block(self, block):
        revision = self.client.update(block.etcd_key(), block.etcd_value(), block.version)
        written = block.copy()
        written.version = revision
        return written

    def delete_block(self, block):
        self.client.delete(block.etcd_key(), block.version)

    def get_handle(self, handle_id):
        try:
            kv = self.client.get(model.ETCD_HANDLE_PREFIX + handle_id)
        except NotFound:
            return None
        return model.handle_from_etcd(kv.key, kv.value, kv.mod_revision)

    def update_handle(self, handle):
        revision = self.client.update(handle.etcd_key(), handle.etcd_value(), handle.version)
        written = handle.copy()
        written.version = revision
        return written

    def delete_handle(self, handle):
        self.client.delete(handle.etcd_key(), handle.version)


def open_ipam(settings, client, store):
    if settings.datastore == 'etcdv3':
        return EtcdIpam(client, store)
    return KubernetesIpam(client, store)
