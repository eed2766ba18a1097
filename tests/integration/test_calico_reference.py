"""The Calico resource model against the real calicoctl v3.31.0 (the reference).

For every kind, realistic resources are created with calicoctl on etcd and on the test cluster;
what calicoctl stored must equal what storage.to_etcd_value / storage.to_crd make of the canonical
form (validate_resources), ignoring uid, timestamps and resourceVersion; storage.from_* of the stored
object must give the canonical form back. The other way round, what the module would write is
read back by calicoctl as the same resource. Every bad input of the unit table is refused by
calicoctl too, and the checks against live resources match calicoctl's.
"""

from __future__ import annotations

import base64
import copy
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ansible_collections.k8snet.calico.plugins.module_utils.calico import compare, defaults, kinds, storage
from ansible_collections.k8snet.calico.plugins.module_utils.calico import validation as v

pytestmark = [pytest.mark.calicoctl]

_BAD = Path(__file__).resolve().parent.parent / 'unit' / 'test_calico_bad_inputs.py'


def _tables():
    if str(_BAD.parent) not in sys.path:
        sys.path.append(str(_BAD.parent))  # its calico_testdata import
    spec = importlib.util.spec_from_file_location('calico_bad_inputs_table', _BAD)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _bad_table():
    return _tables().BAD


def res(kind, name, spec, **metadata):
    return {'apiVersion': 'projectcalico.org/v3', 'kind': kind, 'metadata': dict(name=name, **metadata), 'spec': spec}


# Realistic resources of every writable kind, with inputs calicoctl normalises (dotted AS numbers,
# durations, IPv6 CIDR spelling, port strings, number labels). Order: filters before the peers
# that use them.
REFERENCE = [
    res('BGPFilter', 'ref-filter', {
        'exportV4': [{'action': 'Accept', 'matchOperator': 'In', 'cidr': '10.0.0.0/8',
                      'prefixLength': {'min': 16, 'max': 24}}],
        'importV4': [{'action': 'Reject', 'matchOperator': 'NotEqual', 'cidr': '0.0.0.0/0'}],
        'importV6': [{'action': 'Reject', 'source': 'RemotePeers', 'interface': 'eth*'}],
    }, labels={'managed-by': 'k8snet.calico'}),
    res('BGPConfiguration', 'default', {
        'logSeverityScreen': 'Info', 'nodeToNodeMeshEnabled': False, 'asNumber': '1.10',
        'serviceClusterIPs': [{'cidr': '10.96.0.0/12'}], 'serviceExternalIPs': [{'cidr': '192.0.2.0/24'}],
        'listenPort': 179, 'bindMode': 'NodeIP',
        'communities': [{'name': 'no-export', 'value': '65535:65281'}],
        'prefixAdvertisements': [{'cidr': '10.96.0.0/12', 'communities': ['no-export', '65001:100:200']}],
        'ignoredInterfaces': ['docker*', 'kube-ipvs0'],
    }, labels={'rack': 1}),
    res('BGPConfiguration', 'node.ref-node', {'logSeverityScreen': 'Debug', 'listenPort': 1790}),
    res('BGPPeer', 'ref-tor', {
        'peerIP': '192.0.2.1:179', 'asNumber': 65001, 'nodeSelector': "rack in {'r1', 'r2'} && !has(route-reflector)",
        'filters': ['ref-filter'], 'password': {'secretKeyRef': {'name': 'bgp-secrets', 'key': 'tor'}},
        'maxRestartTime': '120s', 'ttlSecurity': 1, 'keepOriginalNextHop': False, 'sourceAddress': 'UseNodeIP',
    }, labels={'managed-by': 'k8snet.calico'}, annotations={'note': 'TOR A'}),
    res('BGPPeer', 'ref-rr-mesh', {'nodeSelector': 'has(route-reflector)', 'peerSelector': 'has(route-reflector)',
                                   'nextHopMode': 'Self', 'reversePeering': 'Manual'}),
    res('BGPPeer', 'ref-v6', {'peerIP': '[fd00::1]:1179', 'asNumber': '65000.1', 'node': 'node-1',
                              'localASNumber': 64512, 'reachableBy': 'fd00::fe', 'numAllowedLocalASNumbers': 2}),
    res('IPPool', 'ref-v4', {'cidr': '10.244.0.0/16', 'ipipMode': 'CrossSubnet', 'natOutgoing': True,
                             'nodeSelector': "kubernetes.io/os == 'linux'", 'blockSize': 24}),
    res('IPPool', 'ref-v6', {'cidr': 'fd00:10:0::/48', 'vxlanMode': 'Always', 'disableBGPExport': True}),
    res('IPPool', 'ref-lb', {'cidr': '198.51.100.0/24', 'allowedUses': ['LoadBalancer'], 'assignmentMode': 'Manual'}),
    res('IPPool', 'ref-disabled', {'cidr': '10.250.0.0/28', 'disabled': True, 'natOutgoing': False}),
    res('IPReservation', 'ref-reserved', {'reservedCIDRs': ['10.244.0.0/30', '10.244.1.1', 'fd00:10::1']}),
    res('FelixConfiguration', 'default', {}),
    res('FelixConfiguration', 'node.ref-node', {
        'logSeverityScreen': 'Warning', 'reportingInterval': '90s', 'healthPort': 9099, 'iptablesMarkMask': 0xff000000,
        'kubeNodePortRanges': [30000, '31000:32767', '8080'], 'failsafeInboundHostPorts': [{'protocol': 'TCP', 'port': 22}],
        'routeTableRange': {'min': 1, 'max': 250}, 'prometheusMetricsEnabled': True, 'bpfEnabled': False,
        'bpfConnectTimeLoadBalancingEnabled': False, 'healthTimeoutOverrides': [{'name': 'InternalDataplaneMainLoop',
                                                                                 'timeout': '1m30s'}],
        'natPortRange': '32768:65535', 'wireguardEnabled': False, 'featureDetectOverride': 'SNATFullyRandom=true',
    }),
    res('KubeControllersConfiguration', 'default', {
        'logSeverityScreen': 'Info', 'healthChecks': 'Enabled', 'etcdV3CompactionPeriod': '10m',
        'controllers': {
            'node': {'reconcilerPeriod': '5m', 'syncLabels': 'Enabled', 'hostEndpoint': {
                'autoCreate': 'Enabled', 'templates': [{'generateName': 'bond', 'interfaceCIDRs': ['10.0.0.0/8'],
                                                        'labels': {'role': 'edge'}}]}},
            'policy': {'reconcilerPeriod': '1m'}, 'loadBalancer': {}, 'namespace': {},
        },
    }),
]
NAMES = [(item['kind'], item['metadata']['name']) for item in REFERENCE]
SERVER_OWNED = ('uid', 'resourceVersion', 'creationTimestamp', 'generation', 'managedFields')


def _without_identity(resource):
    resource = copy.deepcopy(resource)
    for key in SERVER_OWNED:
        resource['metadata'].pop(key, None)
    resource.pop('status', None)
    return resource


def _stripped(resource):
    """Without identity, status and the fields that only hold a CRD default."""
    return defaults.strip_server_defaults(_without_identity(resource))


def _with_server_defaults(obj):
    """What the API server adds to an object from the CRD schema (defaults.SERVER_DEFAULTS)."""
    obj = copy.deepcopy(obj)
    for path, value in defaults.SERVER_DEFAULTS.get(obj['kind'], ()):
        node = obj['spec']
        for key in path[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict) and path[-1] not in node:
            node[path[-1]] = value
    return obj


def _renamed(resource, suffix):
    """The resource under another name, or None when its name is fixed ('default' only)."""
    resource = copy.deepcopy(resource)
    if resource['metadata']['name'] == 'default' and resource['kind'] != 'FelixConfiguration':
        return None
    resource['metadata']['name'] += suffix
    return resource


class Etcdctl:
    def __init__(self, binary, endpoint):
        self.binary, self.endpoint = str(binary), endpoint

    def get(self, key):
        out = subprocess.run([self.binary, '--endpoints', self.endpoint, 'get', key, '-w', 'json'],
                             capture_output=True, text=True, check=True).stdout
        kvs = json.loads(out).get('kvs') or []
        if not kvs:
            return None, None
        return base64.b64decode(kvs[0]['value']), int(kvs[0]['mod_revision'])

    def put(self, key, value):
        subprocess.run([self.binary, '--endpoints', self.endpoint, 'put', key], input=value, text=True,
                       capture_output=True, check=True)


def _calicoctl_get(calicoctl, kind, name):
    return json.loads(calicoctl('get', kind.lower(), name, '-o', 'json').stdout)


# ---------------------------------------------------------------------------------------------
# etcdv3
# ---------------------------------------------------------------------------------------------

@pytest.mark.etcd
def test_etcd_values_are_what_calicoctl_stores(etcd_server, calicoctl_etcd, testbed_bin):
    etcd = Etcdctl(testbed_bin / 'etcdctl', etcd_server.endpoint)
    canonical = v.validate_resources(REFERENCE, 'present')
    calicoctl_etcd('create', '-f', '-', input=yaml.safe_dump_all(REFERENCE))
    checked = []
    for resource in canonical:
        key = storage.etcd_key(resource['kind'], resource['metadata']['name'])
        raw, revision = etcd.get(key)
        assert raw is not None, key
        stored = json.loads(raw)
        mine = json.loads(storage.to_etcd_value(resource, stored['metadata']['uid'],
                                                stored['metadata']['creationTimestamp']))
        assert mine == stored, key
        back = storage.from_etcd(key, raw, revision)
        assert back['metadata']['resourceVersion'] == str(revision)
        assert _without_identity(back) == resource, key
        # calicoctl reads it as the module reads it.
        assert _without_identity(_calicoctl_get(calicoctl_etcd, resource['kind'], resource['metadata']['name'])) \
            == _without_identity(back)
        # A re-run with the same input changes nothing.
        assert compare.changes(back, resource, 'present').action == 'none'
        checked.append(resource['kind'])
    assert set(checked) == set(kinds.names()) - {'Node', 'ClusterInformation'}


@pytest.mark.etcd
def test_what_the_module_writes_to_etcd_calicoctl_reads_back(etcd_server, calicoctl_etcd, testbed_bin):
    etcd = Etcdctl(testbed_bin / 'etcdctl', etcd_server.endpoint)
    calicoctl_etcd('create', '-f', '-', input=yaml.safe_dump_all([REFERENCE[0]]))  # initialises the datastore
    written = 0
    for resource in v.validate_resources([item for item in (_renamed(r, '-m') for r in REFERENCE) if item],
                                         'present'):
        change = compare.changes(None, resource, 'present')
        uid, timestamp = storage.new_uid(), storage.now_timestamp()
        etcd.put(storage.etcd_key(resource['kind'], resource['metadata']['name']),
                 storage.to_etcd_value(change.resource, uid, timestamp))
        read = _calicoctl_get(calicoctl_etcd, resource['kind'], resource['metadata']['name'])
        assert read['metadata']['uid'] == uid and read['metadata']['creationTimestamp'] == timestamp
        assert _without_identity(read) == resource
        written += 1
    assert written >= 10


@pytest.mark.etcd
def test_etcd_node_and_cluster_information(etcd_server, calicoctl_etcd, testbed_bin):
    etcd = Etcdctl(testbed_bin / 'etcdctl', etcd_server.endpoint)
    node = res('Node', 'ref-node', {'bgp': {'ipv4Address': '192.0.2.21/24', 'asNumber': '1.10',
                                            'routeReflectorClusterID': '224.0.0.1'}}, labels={'route-reflector': 'true'})
    desired = v.validate_resources([node], 'present')[0]
    calicoctl_etcd('create', '-f', '-', input=yaml.safe_dump(node))
    key = storage.etcd_key('Node', 'ref-node')
    raw, revision = etcd.get(key)
    stored = json.loads(raw)
    change = compare.changes(None, desired, 'present')
    assert change.action == 'create'
    assert json.loads(storage.to_etcd_value(change.resource, stored['metadata']['uid'],
                                            stored['metadata']['creationTimestamp'])) == stored
    live = storage.from_etcd(key, raw, revision)
    assert compare.view(live) == change.after
    assert compare.changes(live, desired, 'present').action == 'none'

    # A patch of the BGP fields keeps the rest (here: a VXLAN tunnel address Calico wrote).
    stored['spec']['ipv4VXLANTunnelAddr'] = '10.244.3.0'
    etcd.put(key, json.dumps(stored))
    raw, revision = etcd.get(key)
    live = storage.from_etcd(key, raw, revision)
    patch = v.validate_resources([res('Node', 'ref-node', {'bgp': {'routeReflectorClusterID': None,
                                                                   'asNumber': 65010}})], 'patched')[0]
    change = compare.changes(live, patch, 'patched')
    assert change.diff == ['spec.bgp.asNumber', 'spec.bgp.routeReflectorClusterID']
    etcd.put(key, storage.to_etcd_value(change.resource, live['metadata']['uid'], live['metadata']['creationTimestamp']))
    read = _calicoctl_get(calicoctl_etcd, 'Node', 'ref-node')
    assert read['spec'] == {'bgp': {'asNumber': 65010, 'ipv4Address': '192.0.2.21/24'},
                            'ipv4VXLANTunnelAddr': '10.244.3.0'}
    assert read['metadata']['labels'] == {'route-reflector': 'true'}

    key = storage.etcd_key('ClusterInformation', 'default')
    raw, revision = etcd.get(key)
    info = storage.from_etcd(key, raw, revision)
    assert info == _calicoctl_get(calicoctl_etcd, 'ClusterInformation', 'default')
    assert info['spec']['datastoreReady'] is True


@pytest.mark.etcd
def test_live_checks_match_calicoctl_on_etcd(etcd_server, calicoctl_etcd, testbed_bin):
    etcd = Etcdctl(testbed_bin / 'etcdctl', etcd_server.endpoint)
    pool_a = res('IPPool', 'pool-a', {'cidr': '10.1.0.0/16'})
    calicoctl_etcd('create', '-f', '-', input=yaml.safe_dump(pool_a))
    key = storage.etcd_key('IPPool', 'pool-a')
    raw, revision = etcd.get(key)
    live = {'IPPool': [storage.from_etcd(key, raw, revision)], 'BGPFilter': []}
    cases = [
        (res('IPPool', 'pool-b', {'cidr': '10.1.128.0/17'}), "IPPool/pool-b: spec.cidr: '10.1.128.0/17' overlaps the existing "
                                                             "IPPool/pool-a (10.1.0.0/16)", 'create'),
        (res('IPPool', 'pool-a', {'cidr': '10.2.0.0/16'}), "IPPool/pool-a: spec.cidr: '10.2.0.0/16' differs from the live "
                                                           "pool ('10.1.0.0/16')", 'apply'),
        (res('IPPool', 'pool-a', {'cidr': '10.1.0.0/16', 'blockSize': 24}), 'IPPool/pool-a: spec.blockSize: 24 differs',
         'apply'),
        (res('BGPPeer', 'peer', {'peerIP': '192.0.2.1', 'asNumber': 65001, 'filters': ['nope']}),
         "BGPPeer/peer: spec.filters: [\"nope\"] names BGPFilter(s) that do not exist: nope", 'create'),
    ]
    for resource, fragment, verb in cases:
        before = etcd_server.revision()
        assert calicoctl_etcd(verb, '-f', '-', input=yaml.safe_dump(resource), check=False).returncode != 0, resource
        assert etcd_server.revision() == before
        with pytest.raises(v.ValidationErrors) as info:
            v.validate_against_live(v.validate_resources([resource], 'present'), live)
        assert any(fragment in message for message in info.value.messages), info.value.messages


@pytest.mark.etcd
def test_unusual_valid_inputs_are_stored_as_calicoctl_stores_them_on_etcd(etcd_server, calicoctl_etcd, testbed_bin):
    etcd = Etcdctl(testbed_bin / 'etcdctl', etcd_server.endpoint)
    for given in _tables().GOOD:
        resource = v.validate_resources([given], 'present')[0]
        calicoctl_etcd('create', '-f', '-', input=yaml.safe_dump(given))
        key = storage.etcd_key(resource['kind'], resource['metadata']['name'])
        raw, revision = etcd.get(key)
        stored = json.loads(raw)
        write = compare.changes(None, resource, 'present').resource
        assert json.loads(storage.to_etcd_value(write, stored['metadata']['uid'],
                                                stored['metadata']['creationTimestamp'])) == stored, key
        assert compare.changes(storage.from_etcd(key, raw, revision), resource, 'present').action == 'none'
        calicoctl_etcd('delete', '-f', '-', input=yaml.safe_dump(given))


@pytest.mark.etcd
def test_bad_inputs_are_refused_by_calicoctl_on_etcd(etcd_server, calicoctl_etcd):
    calicoctl_etcd('create', '-f', '-', input=yaml.safe_dump(REFERENCE[0]))  # initialises the datastore
    accepted = []
    for case_id, resource, dummy, refused_by in _bad_table():
        if refused_by != 'etcdv3':
            continue
        before = etcd_server.revision()
        result = calicoctl_etcd('create', '-f', '-', input=yaml.safe_dump(resource), check=False)
        if result.returncode == 0 or etcd_server.revision() != before:
            accepted.append(case_id)
            calicoctl_etcd('delete', '-f', '-', input=yaml.safe_dump(resource), check=False)
    assert accepted == [], 'calicoctl accepted what the module refuses: %s' % accepted


# ---------------------------------------------------------------------------------------------
# kubernetes
# ---------------------------------------------------------------------------------------------

def _crd_path(kind, name=None):
    path = '/apis/crd.projectcalico.org/v1/%s' % kinds.lookup(kind).plural
    return path + '/' + name if name else path


def _delete_reference(cluster, names):
    for kind, name in names:
        cluster.request('DELETE', _crd_path(kind, name), raw=True)


def _stored_crd(cluster, kind, name):
    obj = cluster.request('GET', _crd_path(kind, name))
    return obj


@pytest.mark.cluster
def test_crd_objects_are_what_calicoctl_stores(cluster, calicoctl_k8s):
    canonical = v.validate_resources(REFERENCE, 'present')
    _delete_reference(cluster, NAMES)
    try:
        calicoctl_k8s('create', '-f', '-', input=yaml.safe_dump_all(REFERENCE))
        for resource in canonical:
            kind, name = resource['kind'], resource['metadata']['name']
            stored = _stored_crd(cluster, kind, name)
            annotation = json.loads(stored['metadata']['annotations'][storage.METADATA_ANNOTATION])
            mine = storage.to_crd(resource, creation_timestamp=annotation['creationTimestamp'])
            expected = _with_server_defaults(mine)
            got = copy.deepcopy(stored)
            for key in SERVER_OWNED:
                got['metadata'].pop(key, None)
            assert got == expected, (kind, name)
            back = storage.from_crd(stored)
            assert back['metadata']['uid'] == storage.convert_uid(stored['metadata']['uid'])
            assert back['metadata']['resourceVersion'] == stored['metadata']['resourceVersion']
            read = _calicoctl_get(calicoctl_k8s, kind, name)
            assert _without_identity(read) == _without_identity(back)
            assert read['metadata']['uid'] == back['metadata']['uid']
            # The canonical form, but for the CRD defaults the API server filled in.
            assert _stripped(back) == _stripped(resource)
            assert compare.changes(back, resource, 'present').action == 'none'
    finally:
        _delete_reference(cluster, NAMES)


@pytest.mark.cluster
def test_what_the_module_writes_as_crd_calicoctl_reads_back(cluster, calicoctl_k8s):
    resources = v.validate_resources([item for item in (_renamed(r, '-m') for r in REFERENCE) if item], 'present')
    names = [(item['kind'], item['metadata']['name']) for item in resources]
    _delete_reference(cluster, names)
    try:
        for resource in resources:
            change = compare.changes(None, resource, 'present')
            obj = storage.to_crd(change.resource)
            created = cluster.request('POST', _crd_path(resource['kind']), obj)
            read = _calicoctl_get(calicoctl_k8s, resource['kind'], resource['metadata']['name'])
            assert read['metadata']['uid'] == storage.convert_uid(created['metadata']['uid'])
            assert read['metadata']['creationTimestamp'] == \
                json.loads(obj['metadata']['annotations'][storage.METADATA_ANNOTATION])['creationTimestamp']
            assert _stripped(read) == _stripped(resource)
    finally:
        _delete_reference(cluster, names)


@pytest.mark.cluster
def test_node_annotations_are_what_calicoctl_writes(cluster, calicoctl_k8s):
    node_names = [spec.name for spec in cluster.nodes][1:3]
    first, second = node_names
    original = {name: cluster.request('GET', '/api/v1/nodes/' + name) for name in node_names}
    bgp = {'ipv4Address': '192.0.2.12/24', 'asNumber': '1.10', 'routeReflectorClusterID': '224.0.0.1'}
    desired = v.validate_resources([res('Node', first, {'bgp': bgp}, labels={'route-reflector': 'true', 'rack': 'r1'})],
                                   'present')[0]
    try:
        before = original[first]
        live = storage.node_from_k8s(before)
        assert _without_identity(live) == _without_identity(_calicoctl_get(calicoctl_k8s, 'Node', first))
        change = compare.changes(live, desired, 'present')
        assert change.action == 'update'
        patch = storage.node_patch(change.resource, before)

        # calicoctl: get, change labels and spec.bgp, apply.
        calico_node = _calicoctl_get(calicoctl_k8s, 'Node', first)
        calico_node['metadata']['labels'].update(desired['metadata']['labels'])
        calico_node['spec']['bgp'] = desired['spec']['bgp']
        calicoctl_k8s('apply', '-f', '-', input=yaml.safe_dump(calico_node))
        after = cluster.request('GET', '/api/v1/nodes/' + first)

        def ours(node):
            return dict((key, value) for key, value in (node['metadata'].get('annotations') or {}).items()
                        if key.startswith('projectcalico.org/'))
        expected = ours(before)
        for key, value in patch['metadata']['annotations'].items():
            if value is None:
                expected.pop(key, None)
            else:
                expected[key] = value
        assert ours(after) == expected
        assert after['metadata']['labels'] == before['metadata']['labels']
        assert compare.view(storage.node_from_k8s(after)) == change.after
        assert compare.changes(storage.node_from_k8s(after), desired, 'present').action == 'none'

        # The module's patch on the other node: calicoctl reads the same labels and BGP fields.
        other = original[second]
        desired_other = copy.deepcopy(desired)
        desired_other['metadata']['name'] = second
        change = compare.changes(storage.node_from_k8s(other), desired_other, 'present')
        cluster.request('PATCH', '/api/v1/nodes/' + second, storage.node_patch(change.resource, other),
                        content_type='application/merge-patch+json')
        read = _calicoctl_get(calicoctl_k8s, 'Node', second)
        assert read['spec']['bgp'] == {'asNumber': 65546, 'ipv4Address': '192.0.2.12/24',
                                       'routeReflectorClusterID': '224.0.0.1'}
        assert read['metadata']['labels']['route-reflector'] == 'true' and read['metadata']['labels']['rack'] == 'r1'
        assert compare.view(read) == change.after
    finally:
        for name in node_names:
            current = cluster.request('GET', '/api/v1/nodes/' + name)
            remove = dict((key, None) for key in current['metadata'].get('annotations') or {}
                          if key.startswith('projectcalico.org/'))
            if remove:
                cluster.request('PATCH', '/api/v1/nodes/' + name, {'metadata': {'annotations': remove}},
                                content_type='application/merge-patch+json')


@pytest.mark.cluster
def test_cluster_information_reads_as_calicoctl(cluster, calicoctl_k8s):
    calicoctl_k8s('get', 'bgppeers')  # the first calicoctl command initialises the datastore
    stored = _stored_crd(cluster, 'ClusterInformation', 'default')
    info = storage.from_crd(stored)
    assert info == _calicoctl_get(calicoctl_k8s, 'ClusterInformation', 'default')
    with pytest.raises(v.ValidationErrors, match='read-only'):
        v.validate_resources([res('ClusterInformation', 'default', {})], 'present')


@pytest.mark.cluster
def test_unusual_valid_inputs_are_stored_as_calicoctl_stores_them_on_kubernetes(cluster, calicoctl_k8s):
    given_all = [item for item in _tables().GOOD if item['kind'] != 'Node']
    names = [(item['kind'], item['metadata']['name']) for item in given_all]
    _delete_reference(cluster, names)
    try:
        for given in given_all:
            resource = v.validate_resources([given], 'present', datastore='kubernetes')[0]
            calicoctl_k8s('create', '-f', '-', input=yaml.safe_dump(given))
            stored = _stored_crd(cluster, resource['kind'], resource['metadata']['name'])
            annotation = json.loads(stored['metadata']['annotations'][storage.METADATA_ANNOTATION])
            expected = _with_server_defaults(storage.to_crd(resource, creation_timestamp=annotation['creationTimestamp']))
            for key in SERVER_OWNED:
                stored['metadata'].pop(key, None)
            assert stored == expected
            assert compare.changes(storage.from_crd(_stored_crd(cluster, resource['kind'], resource['metadata']['name'])),
                                   resource, 'present').action == 'none'
    finally:
        _delete_reference(cluster, names)


@pytest.mark.cluster
def test_bad_inputs_are_refused_by_calicoctl_on_kubernetes(cluster, calicoctl_k8s):
    accepted = []
    for case_id, resource, dummy, refused_by in _bad_table():
        if refused_by != 'kubernetes':
            continue
        result = calicoctl_k8s('create', '-f', '-', input=yaml.safe_dump(resource), check=False)
        if result.returncode == 0:
            accepted.append(case_id)
            calicoctl_k8s('delete', '-f', '-', input=yaml.safe_dump(resource), check=False)
    assert accepted == [], 'calicoctl accepted what the module refuses: %s' % accepted
