# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A projectcalico.org/v3 resource and what each datastore holds for it, both ways, as calicoctl
v3.31 writes and reads them. Pure functions: no I/O.

etcdv3 (libcalico-go/lib/backend/model/resource.go, lib/backend/etcdv3/etcdv3.go,
lib/clientv3/resources.go): key ``/calico/resources/v3/projectcalico.org/<plural>/<name>``; value
the v3 object as JSON, with metadata.uid (a random UUID) and metadata.creationTimestamp set on
create and kept on update, without resourceVersion: that is the key's mod revision.

kubernetes (libcalico-go/lib/backend/k8s/resources/customresource.go and resources.go:
ConvertCalicoResourceToK8sResource / ConvertK8sResourceToCalicoResource): a
``crd.projectcalico.org/v1`` object of the same kind and spec; the v3 metadata without name,
namespace, uid and resourceVersion goes into the annotation ``projectcalico.org/metadata`` (JSON);
labels and annotations whose key contains 'projectcalico.org/' or 'operator.tigera.io/' are also
copied onto the object; the v3 uid is the object's uid with its bits reversed (conversion.ConvertUID).

A Calico Node of the kubernetes datastore is the Kubernetes Node
(libcalico-go/lib/backend/k8s/resources/node.go): BGP fields in ``projectcalico.org/*``
annotations, Calico-only labels in the annotation ``projectcalico.org/labels``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import datetime
import json
import re
import uuid

from ansible_collections.k8snet.calico.plugins.module_utils.calico import defaults as calico_defaults
from ansible_collections.k8snet.calico.plugins.module_utils.calico import kinds as calico_kinds
from ansible_collections.k8snet.calico.plugins.module_utils.calico import validation

ETCD_PREFIX = '/calico/resources/v3/projectcalico.org/'
METADATA_ANNOTATION = 'projectcalico.org/metadata'
LABELS_ANNOTATION = 'projectcalico.org/labels'
ANNOTATIONS_ANNOTATION = 'projectcalico.org/annotations'
KUBE_LABELS_ANNOTATION = 'projectcalico.org/kube-labels'

# v3 field of spec.bgp -> annotation of the Kubernetes Node (resources/node.go).
NODE_BGP_ANNOTATIONS = (
    ('ipv4Address', 'projectcalico.org/IPv4Address'),
    ('ipv4IPIPTunnelAddr', 'projectcalico.org/IPv4IPIPTunnelAddr'),
    ('ipv6Address', 'projectcalico.org/IPv6Address'),
    ('asNumber', 'projectcalico.org/ASNumber'),
    ('routeReflectorClusterID', 'projectcalico.org/RouteReflectorClusterID'),
)
NODE_ANNOTATIONS = {
    'ipv4VXLANTunnelAddr': 'projectcalico.org/IPv4VXLANTunnelAddr',
    'vxlanTunnelMACAddr': 'projectcalico.org/VXLANTunnelMACAddr',
    'ipv6VXLANTunnelAddr': 'projectcalico.org/IPv6VXLANTunnelAddr',
    'vxlanTunnelMACAddrV6': 'projectcalico.org/VXLANTunnelMACAddrV6',
    'wireguardIPv4': 'projectcalico.org/IPv4WireguardInterfaceAddr',
    'wireguardIPv6': 'projectcalico.org/IPv6WireguardInterfaceAddr',
    'wireguardPublicKey': 'projectcalico.org/WireguardPublicKey',
    'wireguardPublicKeyV6': 'projectcalico.org/WireguardPublicKeyV6',
    'interfaces': 'projectcalico.org/Interfaces',
}

# The status Go writes for a kind when the resource has none (the struct has no omitempty effect).
ZERO_STATUS = {
    'Node': {},
    'KubeControllersConfiguration': {'runningConfig': {'controllers': {}}},
}
# v3 metadata fields a datastore owns.
SERVER_METADATA = ('uid', 'resourceVersion', 'creationTimestamp', 'generation', 'managedFields', 'selfLink')


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------

def go_json(value):
    """JSON as Go's encoding/json (and libcalico-go's json-iterator, compatible mode) writes it:
    compact, map keys sorted, '<', '>', '&', U+2028 and U+2029 escaped."""
    text = json.dumps(value, separators=(',', ':'), ensure_ascii=False)
    for char, escaped in (('<', '\\u003c'), ('>', '\\u003e'), ('&', '\\u0026'),
                          (u'\u2028', '\\u2028'), (u'\u2029', '\\u2029')):
        text = text.replace(char, escaped)
    return text


def _sorted_map(mapping):
    return dict(sorted(mapping.items()))


def now_timestamp():
    """A creationTimestamp as metav1.Now() is written: RFC 3339, UTC, whole seconds."""
    return datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def new_uid():
    """A metadata.uid as Kubernetes' uuid.NewUUID() makes it (random, version 4)."""
    return str(uuid.uuid4())


def _reverse_bits(byte):
    return int('{0:08b}'.format(byte)[::-1], 2)


def convert_uid(uid):
    """libcalico-go/lib/backend/k8s/conversion/conversion.go ConvertUID: the bits of every byte of
    the UUID reversed except bytes 6 and 8 (version and variant). Its own inverse."""
    raw = bytearray(uuid.UUID(str(uid)).bytes)
    for index in list(range(0, 6)) + [7] + list(range(9, 16)):
        raw[index] = _reverse_bits(raw[index])
    return str(uuid.UUID(bytes=bytes(raw)))


def _kind(name):
    return calico_kinds.lookup(name)


def _is_ours(key):
    return 'projectcalico.org/' in key or 'operator.tigera.io/' in key


# ---------------------------------------------------------------------------------------------
# etcdv3
# ---------------------------------------------------------------------------------------------

def etcd_key(kind, name):
    """'/calico/resources/v3/projectcalico.org/ippools/pool-a' (cluster-wide kinds)."""
    return '%s%s/%s' % (ETCD_PREFIX, _kind(kind).plural, name)


def etcd_prefix(kind):
    """The prefix to range over to list every resource of a kind."""
    return '%s%s/' % (ETCD_PREFIX, _kind(kind).plural)


def _v3_metadata(metadata, uid=None, creation_timestamp=None, resource_version=None):
    result = {'name': metadata['name']}
    if metadata.get('namespace'):
        result['namespace'] = metadata['namespace']
    if uid:
        result['uid'] = uid
    if resource_version:
        result['resourceVersion'] = resource_version
    if creation_timestamp:
        result['creationTimestamp'] = creation_timestamp
    if metadata.get('labels'):
        result['labels'] = _sorted_map(metadata['labels'])
    if metadata.get('annotations'):
        result['annotations'] = _sorted_map(metadata['annotations'])
    return result


def _body(resource, metadata):
    kind = resource['kind']
    body = {'kind': kind, 'apiVersion': calico_kinds.API_VERSION, 'metadata': metadata,
            'spec': copy.deepcopy(resource.get('spec') or {})}
    if 'status' in resource:
        body['status'] = copy.deepcopy(resource['status'])
    elif kind in ZERO_STATUS:
        body['status'] = copy.deepcopy(ZERO_STATUS[kind])
    return body


def to_etcd_value(resource, uid, creation_timestamp):
    """The JSON value calicoctl stores for ``resource`` (v3) at etcd_key(kind, name); ``uid`` and
    ``creation_timestamp`` are the new ones on create (new_uid(), now_timestamp()) and the stored
    ones on update. resourceVersion is never stored."""
    metadata = _v3_metadata(resource['metadata'], uid=uid, creation_timestamp=creation_timestamp)
    return go_json(_body(resource, metadata))


def from_etcd(key, value, mod_revision):
    """The v3 resource stored under ``key`` (value: bytes or str), with metadata.resourceVersion
    the key's mod revision, and libcalico-go's read defaults (IPPool)."""
    if not key.startswith(ETCD_PREFIX):
        raise ValueError('%s is not a Calico v3 resource key' % key)
    parts = key[len(ETCD_PREFIX):].split('/')
    kind = calico_kinds.by_plural(parts[0])
    if kind is None:
        raise ValueError('%s is not a key of a kind this collection manages' % key)
    if isinstance(value, bytes):
        value = value.decode('utf-8')
    resource = json.loads(value)
    resource['apiVersion'] = calico_kinds.API_VERSION
    resource['kind'] = kind.name
    metadata = resource.setdefault('metadata', {})
    metadata.setdefault('name', parts[-1])
    metadata['resourceVersion'] = str(mod_revision)
    resource.setdefault('spec', {})
    return calico_defaults.read_defaults(_reorder(resource))


def _reorder(resource):
    ordered = {'apiVersion': resource.get('apiVersion'), 'kind': resource.get('kind')}
    for key in ('metadata', 'spec', 'status'):
        if key in resource:
            ordered[key] = resource[key]
    for key in resource:
        if key not in ordered:
            ordered[key] = resource[key]
    return ordered


# ---------------------------------------------------------------------------------------------
# kubernetes: crd.projectcalico.org/v1 objects
# ---------------------------------------------------------------------------------------------

def _metadata_annotation(metadata, creation_timestamp):
    # The v3 ObjectMeta as Go writes it without name, namespace, uid and resourceVersion: the
    # struct's order (creationTimestamp, labels, annotations), maps sorted.
    inner = {'creationTimestamp': creation_timestamp}
    if metadata.get('labels'):
        inner['labels'] = _sorted_map(metadata['labels'])
    if metadata.get('annotations'):
        inner['annotations'] = _sorted_map(metadata['annotations'])
    return go_json(inner)


def to_crd(resource, creation_timestamp=None):
    """The crd.projectcalico.org/v1 object calicoctl sends for ``resource`` (v3).

    creationTimestamp: the resource's metadata.creationTimestamp (the stored one, on update), else
    ``creation_timestamp``, else now. metadata.resourceVersion is passed on (optimistic locking of
    an update); metadata.uid, when the resource has one, is converted as calicoctl does (the API
    server ignores it on create).
    """
    kind = _kind(resource['kind'])
    if kind.node:
        raise ValueError('a Calico Node is the Kubernetes Node in the kubernetes datastore: use node_patch()')
    metadata = resource['metadata']
    timestamp = metadata.get('creationTimestamp') or creation_timestamp or now_timestamp()
    annotations = {METADATA_ANNOTATION: _metadata_annotation(metadata, timestamp)}
    for key, value in (metadata.get('annotations') or {}).items():
        if _is_ours(key):
            annotations[key] = value
    k8s_metadata = {'name': metadata['name']}
    if metadata.get('resourceVersion'):
        k8s_metadata['resourceVersion'] = str(metadata['resourceVersion'])
    labels = dict((key, value) for key, value in (metadata.get('labels') or {}).items() if _is_ours(key))
    if labels:
        k8s_metadata['labels'] = _sorted_map(labels)
    if metadata.get('uid'):
        k8s_metadata['uid'] = convert_uid(metadata['uid'])
    k8s_metadata['annotations'] = _sorted_map(annotations)
    obj = {'apiVersion': calico_kinds.CRD_API_VERSION, 'kind': kind.name, 'metadata': k8s_metadata,
           'spec': copy.deepcopy(resource.get('spec') or {})}
    if 'status' in resource:
        obj['status'] = copy.deepcopy(resource['status'])
    elif kind.name in ZERO_STATUS:
        obj['status'] = copy.deepcopy(ZERO_STATUS[kind.name])
    return obj


def _ippool_from_v1(spec):
    # libcalico-go/lib/backend/k8s/resources/ippool.go: IPPoolv1v3Converter (pools written by
    # Calico API v1 era tools keep 'ipip' and 'nat-outgoing').
    ipip = spec.pop('ipip', None)
    if isinstance(ipip, dict):
        if not ipip.get('enabled'):
            spec['ipipMode'] = 'Never'
        elif ipip.get('mode') == 'cross-subnet':
            spec['ipipMode'] = 'CrossSubnet'
        else:
            spec['ipipMode'] = 'Always'
    if spec.pop('nat-outgoing', False):
        spec['natOutgoing'] = True
    return spec


def from_crd(obj):
    """The v3 resource of a crd.projectcalico.org/v1 object, as libcalico-go reads it."""
    kind = _kind(obj.get('kind'))
    k8s_metadata = obj.get('metadata') or {}
    annotations = dict(k8s_metadata.get('annotations') or {})
    labels = dict(k8s_metadata.get('labels') or {})
    raw = annotations.pop(METADATA_ANNOTATION, None)
    timestamp = None
    if raw:
        try:
            inner = json.loads(raw)
        except ValueError:
            inner = {}
        labels.update(inner.get('labels') or {})
        annotations.update(inner.get('annotations') or {})
        timestamp = inner.get('creationTimestamp')
    metadata = _v3_metadata({'name': k8s_metadata.get('name'), 'namespace': k8s_metadata.get('namespace'),
                             'labels': labels, 'annotations': annotations},
                            uid=convert_uid(k8s_metadata['uid']) if k8s_metadata.get('uid') else None,
                            creation_timestamp=timestamp or k8s_metadata.get('creationTimestamp'),
                            resource_version=k8s_metadata.get('resourceVersion'))
    resource = {'apiVersion': calico_kinds.API_VERSION, 'kind': kind.name, 'metadata': metadata,
                'spec': copy.deepcopy(obj.get('spec') or {})}
    if 'status' in obj:
        resource['status'] = copy.deepcopy(obj['status'])
    if kind.name == 'IPPool':
        _ippool_from_v1(resource['spec'])
    calico_defaults.drop_empty_server_defaults(resource)
    return calico_defaults.read_defaults(resource)


# ---------------------------------------------------------------------------------------------
# kubernetes: a Calico Node is the Kubernetes Node
# ---------------------------------------------------------------------------------------------

def _address(text, version=None, network=False, cidr=False):
    """The annotation value if it passes libcalico-go's check (invalid ones are ignored on read):
    ``network``: ValidateIPv4Network (an address or a masked CIDR); ``cidr``: ValidateCIDRv4/6."""
    if not isinstance(text, str) or not text:
        return ''
    try:
        address, net = validation.parse_address_or_cidr(text)
    except ValueError:
        return ''
    if version is not None and address.version != version:
        return ''
    if network and not cidr and net.network_address != address:
        return ''
    return text


def _as_number(text):
    # numorstring.ASNumberFromString
    if not isinstance(text, str):
        return None
    if re.match(r'^[0-9]+$', text) and int(text) < 1 << 32:
        return int(text)
    parts = text.split('.')
    if len(parts) == 2 and all(re.match(r'^[0-9]+$', part) and int(part) < 1 << 16 for part in parts):
        return (int(parts[0]) << 16) + int(parts[1])
    return None


_MAC = re.compile(r'^[0-9A-Fa-f]{2}([:-])[0-9A-Fa-f]{2}(\1[0-9A-Fa-f]{2}){4}(?:(\1[0-9A-Fa-f]{2}){2}|(\1[0-9A-Fa-f]{2}){14})?$')


def node_from_k8s(k8s_node):
    """The Calico Node libcalico-go reads from a Kubernetes Node (K8sNodeToCalico, without the
    host-local pod CIDR mode)."""
    meta = k8s_node.get('metadata') or {}
    name = meta.get('name')
    annotations = meta.get('annotations') or {}
    k8s_labels = meta.get('labels')
    labels = {}
    calico_annotations = {}
    try:
        labels.update(json.loads(annotations.get(LABELS_ANNOTATION) or '{}') or {})
    except ValueError:
        pass
    try:
        calico_annotations.update(json.loads(annotations.get(ANNOTATIONS_ANNOTATION) or '{}') or {})
    except ValueError:
        pass
    labels.update(k8s_labels or {})
    calico_annotations[KUBE_LABELS_ANNOTATION] = go_json(_sorted_map(k8s_labels) if k8s_labels is not None else None)
    metadata = _v3_metadata({'name': name, 'labels': labels, 'annotations': calico_annotations},
                            uid=meta.get('uid'), creation_timestamp=meta.get('creationTimestamp'),
                            resource_version=meta.get('resourceVersion'))
    spec = {}
    bgp = {}
    asn = _as_number(annotations.get('projectcalico.org/ASNumber'))
    if asn is not None:
        bgp['asNumber'] = asn
    for field, annotation, check in (
            ('ipv4Address', 'projectcalico.org/IPv4Address', dict(version=4, cidr=True)),
            ('ipv6Address', 'projectcalico.org/IPv6Address', dict(version=6, cidr=True)),
            ('ipv4IPIPTunnelAddr', 'projectcalico.org/IPv4IPIPTunnelAddr', dict(version=4, network=True)),
            ('routeReflectorClusterID', 'projectcalico.org/RouteReflectorClusterID', dict(version=4, network=True))):
        value = _address(annotations.get(annotation), **check)
        if value:
            bgp[field] = value
    if bgp:
        spec['bgp'] = dict((field, bgp[field]) for field in ('asNumber', 'ipv4Address', 'ipv6Address',
                                                             'ipv4IPIPTunnelAddr', 'routeReflectorClusterID')
                           if field in bgp)
    for field, version in (('ipv4VXLANTunnelAddr', 4), ('vxlanTunnelMACAddr', None),
                           ('ipv6VXLANTunnelAddr', 6), ('vxlanTunnelMACAddrV6', None)):
        value = annotations.get(NODE_ANNOTATIONS[field])
        if version is None:
            value = value if isinstance(value, str) and _MAC.match(value) else ''
        else:
            value = _address(value, version=version, network=True)
        if value:
            spec[field] = value
    spec['orchRefs'] = [{'nodeName': name, 'orchestrator': 'k8s'}]
    wireguard = {}
    for field, key, version in (('interfaceIPv4Address', 'wireguardIPv4', 4), ('interfaceIPv6Address', 'wireguardIPv6', 6)):
        value = _address(annotations.get(NODE_ANNOTATIONS[key]), version=version, network=True)
        if value:
            wireguard[field] = value
    if wireguard:
        spec['wireguard'] = wireguard
    addresses = []
    for field in ('ipv4Address', 'ipv6Address'):
        if bgp.get(field):
            addresses.append({'address': bgp[field], 'type': 'CalicoNodeIP'})
    for address in (k8s_node.get('status') or {}).get('addresses') or []:
        if address.get('type') in ('InternalIP', 'ExternalIP'):
            addresses.append({'address': address.get('address'), 'type': address['type']})
    if addresses:
        spec['addresses'] = addresses
    if NODE_ANNOTATIONS['interfaces'] in annotations:
        try:
            interfaces = json.loads(annotations[NODE_ANNOTATIONS['interfaces']])
        except ValueError:
            interfaces = None
        if isinstance(interfaces, list):
            for interface in interfaces:
                if isinstance(interface, dict) and interface.get('addresses'):
                    interface['addresses'] = [address for address in interface['addresses'] if _address(address)]
            spec['interfaces'] = interfaces
    status = {}
    for field in ('wireguardPublicKey', 'wireguardPublicKeyV6'):
        if annotations.get(NODE_ANNOTATIONS[field]):
            status[field] = annotations[NODE_ANNOTATIONS[field]]
    pod_cidrs = (k8s_node.get('spec') or {}).get('podCIDRs')
    if pod_cidrs:
        status['podCIDRs'] = list(pod_cidrs)
    return {'apiVersion': calico_kinds.API_VERSION, 'kind': 'Node', 'metadata': metadata, 'spec': spec,
            'status': status}


def node_annotations(resource, k8s_node):
    """The values the ``projectcalico.org/*`` annotations that carry a Node's labels, annotations
    and spec.bgp must have for ``resource`` (v3 Node) on ``k8s_node`` (None: absent), as
    mergeCalicoNodeIntoK8sNode writes them. Kubernetes labels shadow Calico labels of the same key
    (restoreCalicoLabels drops them)."""
    metadata = resource.get('metadata') or {}
    labels = dict(metadata.get('labels') or {})
    annotations = dict(metadata.get('annotations') or {})
    raw = annotations.pop(KUBE_LABELS_ANNOTATION, None)
    if raw is not None:
        try:
            kube_labels = json.loads(raw) or {}
        except ValueError:
            kube_labels = {}
    else:
        kube_labels = ((k8s_node or {}).get('metadata') or {}).get('labels') or {}
    for key in kube_labels:
        labels.pop(key, None)
    target = {
        LABELS_ANNOTATION: go_json(_sorted_map(labels)) if labels else None,
        ANNOTATIONS_ANNOTATION: go_json(_sorted_map(annotations)) if annotations else None,
    }
    bgp = (resource.get('spec') or {}).get('bgp') or {}
    for field, annotation in NODE_BGP_ANNOTATIONS:
        value = bgp.get(field)
        target[annotation] = str(value) if value not in (None, '') else None
    return target


def node_patch(resource, k8s_node):
    """A JSON merge patch (application/merge-patch+json) of the Kubernetes Node ``k8s_node`` that
    stores ``resource`` (the complete v3 Node: its labels and spec.bgp) as calicoctl would, and
    touches nothing else: only the annotations listed by node_annotations() that change (None
    removes one), with metadata.resourceVersion for optimistic locking. {} when nothing changes."""
    current = ((k8s_node or {}).get('metadata') or {}).get('annotations') or {}
    changes = {}
    for key, value in node_annotations(resource, k8s_node).items():
        if current.get(key) != value and not (value is None and key not in current):
            changes[key] = value
    if not changes:
        return {}
    patch = {'metadata': {'annotations': changes}}
    version = ((k8s_node or {}).get('metadata') or {}).get('resourceVersion')
    if version:
        patch['metadata']['resourceVersion'] = version
    return patch
