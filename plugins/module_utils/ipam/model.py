# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Calico's IPAM objects, as calico-node and the CNI plugin store them, in both datastores.

* an allocation block (libcalico-go ``model.AllocationBlock``): a block CIDR, an ``affinity``
  (``host:<node>``), ``allocations`` (one entry per address of the block: the index of its
  attribute, or null when free), ``unallocated`` (the free ordinals, in the order they are handed
  out), ``attributes`` (``handle_id`` and ``secondary``: ``namespace``, ``pod``, ``node``,
  ``type``...), ``sequenceNumber`` and ``sequenceNumberForAllocation``;
  kubernetes datastore: ``ipamblocks.crd.projectcalico.org/v1`` named after the CIDR
  (``10-244-0-0-26``); etcd: ``/calico/ipam/v2/assignment/ipv4/block/10.244.0.0-26``;
* a block affinity (``model.BlockAffinity``): node, block CIDR, ``state``;
  ``blockaffinities.crd.projectcalico.org/v1`` named ``<node>-<cidr name>``; etcd:
  ``/calico/ipam/v2/host/<node>/ipv4/block/<cidr>`` holding ``{"state":..,"deleted":..}``;
* a handle (``model.IPAMHandle``): the owner of addresses (``k8s-pod-network.<container id>``)
  with a count per block; ``ipamhandles.crd.projectcalico.org/v1`` named after the handle in
  lower case; etcd: ``/calico/ipam/v2/handle/<handle id>``.

``version`` of each object is what an update must present: the resourceVersion, or the key's
etcd mod revision. Everything here is plain data and functions (no I/O).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import ipaddress
import json

CRD_GROUP = 'crd.projectcalico.org'
CRD_VERSION = 'v1'
ETCD_BLOCK_PREFIX = '/calico/ipam/v2/assignment/'
ETCD_AFFINITY_PREFIX = '/calico/ipam/v2/host/'
ETCD_HANDLE_PREFIX = '/calico/ipam/v2/handle/'
WINDOWS_RESERVED_HANDLE = 'windows-reserved-ipam-handle'
ATTR_POD = 'pod'
ATTR_NAMESPACE = 'namespace'
ATTR_NODE = 'node'
ATTR_TYPE = 'type'
TUNNEL_TYPES = ('ipipTunnelAddress', 'vxlanTunnelAddress', 'vxlanV6TunnelAddress',
                'wireguardTunnelAddress', 'wireguardV6TunnelAddress')


class IpamDataError(ValueError):
    """An IPAM object that cannot be understood (names the object and the field)."""


def go_json(value):
    """Compact JSON as Go's encoding/json writes it (fields in the order given)."""
    text = json.dumps(value, separators=(',', ':'), ensure_ascii=False)
    for char, escaped in (('<', '\\u003c'), ('>', '\\u003e'), ('&', '\\u0026')):
        text = text.replace(char, escaped)
    return text


def cidr_name(network):
    """libcalico-go names.CIDRToName: ``10.244.0.0/26`` -> ``10-244-0-0-26``."""
    return str(network).replace('.', '-').replace(':', '-').replace('/', '-')


def sanitize_handle(handle_id):
    """libcalico-go sanitizeHandle: a handle written with a stray carriage return."""
    return handle_id.split('\r')[0] if handle_id else handle_id


def _network(text, what):
    try:
        return ipaddress.ip_network(text, strict=False)
    except (TypeError, ValueError):
        raise IpamDataError('%s: cidr %r is not a CIDR' % (what, text))


class Block(object):
    """An allocation block. ``allocations``/``attributes`` are kept as stored (list of int or
    None; list of {'handle_id', 'secondary'})."""

    __slots__ = ('cidr', 'affinity', 'allocations', 'unallocated', 'attributes', 'sequence_number',
                 'sequence_for_allocation', 'deleted', 'strict_affinity', 'version', 'raw', 'name')

    def __init__(self, cidr, affinity=None, allocations=None, unallocated=None, attributes=None,
                 sequence_number=0, sequence_for_allocation=None, deleted=False, strict_affinity=False,
                 version=None, raw=None, name=None):
        self.cidr = cidr
        self.affinity = affinity
        self.allocations = allocations if allocations is not None else [None] * cidr.num_addresses
        self.unallocated = unallocated if unallocated is not None else []
        self.attributes = attributes or []
        self.sequence_number = sequence_number
        self.sequence_for_allocation = sequence_for_allocation or {}
        self.deleted = deleted
        self.strict_affinity = strict_affinity
        self.version = version
        self.raw = raw
        self.name = name or cidr_name(cidr)

    @property
    def size(self):
        return self.cidr.num_addresses

    @property
    def host(self):
        """The node of ``host:<node>`` (or ``virtual:<name>``) affinity, '' when none."""
        if self.affinity:
            for prefix in ('host:', 'virtual:'):
                if self.affinity.startswith(prefix):
                    return self.affinity[len(prefix):]
        return ''

    @property
    def affinity_type(self):
        if self.affinity:
            return self.affinity.split(':', 1)[0]
        return ''

    def ordinal(self, address):
        ordinal = int(address) - int(self.cidr.network_address)
        if ordinal < 0 or ordinal >= self.size:
            raise IpamDataError('IP %s not in block %s' % (address, self.cidr))
        return ordinal

    def address(self, ordinal):
        return self.cidr.network_address + ordinal

    def attribute(self, ordinal):
        """The attribute dict of an allocated ordinal, or None."""
        index = self.allocations[ordinal]
        if index is None or index >= len(self.attributes):
            return None
        return self.attributes[index]

    def allocated(self):
        """(ordinal, attribute) of every allocated address."""
        found = []
        for ordinal, index in enumerate(self.allocations):
            if index is not None:
                found.append((ordinal, self.attributes[index] if index < len(self.attributes) else None))
        return found

    def allocated_count(self):
        return sum(1 for index in self.allocations if index is not None)

    def empty(self):
        """libcalico-go allocationBlock.empty: nothing allocated but Windows-reserved addresses."""
        for index in self.allocations:
            if index is None:
                continue
            handle = (self.attributes[index] or {}).get('handle_id') if index < len(self.attributes) else None
            if handle is None or handle.lower() != WINDOWS_RESERVED_HANDLE:
                return False
        return True

    def copy(self):
        return Block(self.cidr, self.affinity, list(self.allocations), list(self.unallocated),
                     copy.deepcopy(self.attributes), self.sequence_number, dict(self.sequence_for_allocation),
                     self.deleted, self.strict_affinity, self.version, self.raw, self.name)

    # -- storage ------------------------------------------------------------------------------
    def spec(self):
        """The stored fields (etcd value, and the CRD spec less strictAffinity), in Go's order."""
        body = {
            'cidr': str(self.cidr),
            'affinity': self.affinity,
            'allocations': list(self.allocations),
            'unallocated': list(self.unallocated),
            'attributes': [{'handle_id': a.get('handle_id'), 'secondary': _sorted_map(a.get('secondary'))}
                           for a in self.attributes],
            'sequenceNumber': self.sequence_number,
            'sequenceNumberForAllocation': _sorted_map(self.sequence_for_allocation),
            'deleted': self.deleted,
        }
        return body

    def etcd_key(self):
        return '%sipv%d/block/%s' % (ETCD_BLOCK_PREFIX, self.cidr.version, str(self.cidr).replace('/', '-'))

    def etcd_value(self):
        return go_json(self.spec())

    def crd_object(self):
        """The IPAMBlock object to PUT: the object as read with its spec replaced."""
        obj = copy.deepcopy(self.raw) if self.raw else {
            'apiVersion': '%s/%s' % (CRD_GROUP, CRD_VERSION), 'kind': 'IPAMBlock',
            'metadata': {'name': self.name}}
        spec = self.spec()
        spec['strictAffinity'] = self.strict_affinity
        obj['spec'] = spec
        if self.version is not None:
            obj['metadata']['resourceVersion'] = str(self.version)
        obj['metadata'].pop('managedFields', None)
        return obj


def _sorted_map(mapping):
    if mapping is None:
        return None
    return dict((key, mapping[key]) for key in sorted(mapping))


def _block_fields(data, what, version=None, raw=None, name=None):
    if not isinstance(data, dict):
        raise IpamDataError('%s: not an object' % what)
    cidr = _network(data.get('cidr'), what)
    allocations = data.get('allocations')
    if allocations is None:
        allocations = [None] * cidr.num_addresses
    if not isinstance(allocations, list) or len(allocations) != cidr.num_addresses:
        raise IpamDataError('%s: allocations has %s entries, the block %s has %d addresses'
                            % (what, len(allocations) if isinstance(allocations, list) else 'no',
                               cidr, cidr.num_addresses))
    attributes = []
    for attr in data.get('attributes') or []:
        attr = attr or {}
        attributes.append({'handle_id': attr.get('handle_id'), 'secondary': attr.get('secondary')})
    for ordinal, index in enumerate(allocations):
        if index is not None and (not isinstance(index, int) or index < 0 or index >= len(attributes)):
            raise IpamDataError('%s: allocations[%d] is %r, but there are %d attributes'
                                % (what, ordinal, index, len(attributes)))
    affinity = data.get('affinity')
    if affinity is None and data.get('hostAffinity'):
        affinity = 'host:' + data['hostAffinity']
    return Block(cidr, affinity, allocations, list(data.get('unallocated') or []), attributes,
                 int(data.get('sequenceNumber') or 0), dict(data.get('sequenceNumberForAllocation') or {}),
                 bool(data.get('deleted')), bool(data.get('strictAffinity')), version, raw, name)


def block_from_crd(obj):
    name = (obj.get('metadata') or {}).get('name')
    return _block_fields(obj.get('spec') or {}, 'IPAMBlock %s' % name,
                         (obj.get('metadata') or {}).get('resourceVersion'), obj, name)


def block_from_etcd(key, value, mod_revision):
    try:
        data = json.loads(value)
    except ValueError:
        raise IpamDataError('etcd key %s: not JSON' % key)
    return _block_fields(data, 'etcd key %s' % key, mod_revision)


class Affinity(object):
    __slots__ = ('cidr', 'node', 'type', 'state', 'deleted', 'version', 'name')

    def __init__(self, cidr, node, type='host', state='confirmed', deleted=False, version=None, name=None):
        self.cidr = cidr
        self.node = node
        self.type = type or 'host'
        self.state = state or 'confirmed'
        self.deleted = deleted
        self.version = version
        self.name = name or '%s-%s' % (node, cidr_name(cidr))

    def etcd_key(self):
        return '%s%s/ipv%d/block/%s' % (ETCD_AFFINITY_PREFIX, self.node, self.cidr.version,
                                        str(self.cidr).replace('/', '-'))

    def etcd_value(self):
        return go_json({'state': self.state, 'deleted': self.deleted})


def affinity_from_crd(obj):
    spec = obj.get('spec') or {}
    name = (obj.get('metadata') or {}).get('name')
    deleted = spec.get('deleted')
    return Affinity(_network(spec.get('cidr'), 'BlockAffinity %s' % name), spec.get('node'),
                    spec.get('type') or 'host', spec.get('state'),
                    str(deleted).lower() == 'true', (obj.get('metadata') or {}).get('resourceVersion'), name)


def affinity_from_etcd(key, value, mod_revision):
    # /calico/ipam/v2/host/<node>/ipv4/block/10.0.0.0-26
    parts = key[len('/calico/ipam/v2/'):].split('/')
    if len(parts) != 5 or parts[3] != 'block':
        raise IpamDataError('etcd key %s is not a block affinity' % key)
    cidr = _network('/'.join(parts[4].rsplit('-', 1)), 'etcd key %s' % key)
    state, deleted = 'confirmed', False
    if value:
        try:
            data = json.loads(value) or {}
        except ValueError:
            data = {}
        state = data.get('state') or 'confirmed'
        deleted = bool(data.get('deleted'))
    return Affinity(cidr, parts[1], parts[0], state, deleted, mod_revision)


class Handle(object):
    __slots__ = ('handle_id', 'blocks', 'deleted', 'version', 'raw')

    def __init__(self, handle_id, blocks=None, deleted=False, version=None, raw=None):
        self.handle_id = handle_id
        self.blocks = dict(blocks or {})
        self.deleted = deleted
        self.version = version
        self.raw = raw

    @property
    def name(self):
        return self.handle_id.lower()

    def copy(self):
        return Handle(self.handle_id, dict(self.blocks), self.deleted, self.version, self.raw)

    def etcd_key(self):
        return ETCD_HANDLE_PREFIX + self.handle_id

    def etcd_value(self):
        return go_json({'block': _sorted_map(self.blocks), 'deleted': self.deleted})

    def crd_object(self):
        obj = copy.deepcopy(self.raw) if self.raw else {
            'apiVersion': '%s/%s' % (CRD_GROUP, CRD_VERSION), 'kind': 'IPAMHandle',
            'metadata': {'name': self.name}}
        obj['spec'] = {'handleID': self.handle_id, 'block': _sorted_map(self.blocks), 'deleted': self.deleted}
        if self.version is not None:
            obj['metadata']['resourceVersion'] = str(self.version)
        obj['metadata'].pop('managedFields', None)
        return obj


def handle_from_crd(obj):
    spec = obj.get('spec') or {}
    meta = obj.get('metadata') or {}
    return Handle(spec.get('handleID') or meta.get('name'), spec.get('block') or {},
                  bool(spec.get('deleted')), meta.get('resourceVersion'), obj)


def handle_from_etcd(key, value, mod_revision):
    try:
        data = json.loads(value) or {}
    except ValueError:
        raise IpamDataError('etcd key %s: not JSON' % key)
    return Handle(key[len(ETCD_HANDLE_PREFIX):], data.get('block') or {}, bool(data.get('deleted')), mod_revision)


class Pool(object):
    __slots__ = ('name', 'cidr', 'block_size', 'disabled', 'node_selector', 'allowed_uses')

    def __init__(self, name, cidr, block_size=None, disabled=False, node_selector='all()', allowed_uses=None):
        self.name = name
        self.cidr = cidr
        self.block_size = block_size or (26 if cidr.version == 4 else 122)
        self.disabled = disabled
        self.node_selector = node_selector or 'all()'
        self.allowed_uses = allowed_uses or ['Workload', 'Tunnel']


def pool_from_v3(resource):
    spec = resource.get('spec') or {}
    name = (resource.get('metadata') or {}).get('name')
    return Pool(name, _network(spec.get('cidr'), 'IPPool %s' % name), spec.get('blockSize'),
                bool(spec.get('disabled')), spec.get('nodeSelector'), spec.get('allowedUses'))


class Workload(object):
    """Something that uses addresses: a pod (kubernetes datastore) or a WorkloadEndpoint (etcd)."""
    __slots__ = ('namespace', 'name', 'node', 'ips', 'running')

    def __init__(self, namespace, name, node=None, ips=(), running=True):
        self.namespace = namespace
        self.name = name
        self.node = node
        self.ips = tuple(ips)
        self.running = running


def workload_from_pod(pod):
    """A pod's addresses as libcalico-go's k8s conversion (getPodIPs) takes them: status.podIPs,
    else status.podIP, else the annotations cni.projectcalico.org/podIPs, then podIP."""
    meta = pod.get('metadata') or {}
    status = pod.get('status') or {}
    annotations = meta.get('annotations') or {}
    ips = [item.get('ip') for item in status.get('podIPs') or [] if item.get('ip')]
    if not ips and status.get('podIP'):
        ips = [status['podIP']]
    for key in ('cni.projectcalico.org/podIPs', 'cni.projectcalico.org/podIP'):
        if not ips and annotations.get(key):
            ips = [text.strip() for text in annotations[key].split(',') if text.strip()]
    ips = [text.split('/')[0] for text in ips]
    host_network = (pod.get('spec') or {}).get('hostNetwork')
    return Workload(meta.get('namespace'), meta.get('name'), (pod.get('spec') or {}).get('nodeName'),
                    [] if host_network else ips,
                    status.get('phase') not in ('Succeeded', 'Failed'))


def workload_from_wep(resource):
    spec = resource.get('spec') or {}
    meta = resource.get('metadata') or {}
    ips = [text.split('/')[0] for text in spec.get('ipNetworks') or []]
    return Workload(meta.get('namespace'), spec.get('pod') or spec.get('workload') or meta.get('name'),
                    spec.get('node'), ips, True)


class IpamState(object):
    """Everything the report and the release read: blocks, affinities, handles, pools, node names
    and workloads (``None`` when they could not be read: nothing is then called leaked)."""

    def __init__(self, blocks=(), affinities=(), handles=(), pools=(), nodes=None, workloads=None, datastore=''):
        self.blocks = list(blocks)
        self.affinities = list(affinities)
        self.handles = dict((h.handle_id, h) for h in handles)
        self.pools = list(pools)
        self.nodes = set(nodes) if nodes is not None else None
        self.workloads = list(workloads) if workloads is not None else None
        self.datastore = datastore
