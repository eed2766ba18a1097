# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Conversions between v3 resources and what each datastore holds. The expected values are what
calicoctl v3.31.0 stored in the test bed (tests/integration/test_calico_reference.py checks the
same against the live program)."""

import json

import pytest

from ansible_collections.k8snet.calico.plugins.module_utils.calico import storage
from ansible_collections.k8snet.calico.plugins.module_utils.calico import validation as v

from calico_testdata import TS, UID, res


def canonical(resource):
    return v.validate_resources([resource], 'present')[0]


def test_etcd_key():
    assert storage.etcd_key('IPPool', 'pool-a') == '/calico/resources/v3/projectcalico.org/ippools/pool-a'
    assert storage.etcd_key('BGPFilter', 'f') == '/calico/resources/v3/projectcalico.org/bgpfilters/f'
    assert storage.etcd_key('Node', 'n') == '/calico/resources/v3/projectcalico.org/nodes/n'
    assert storage.etcd_prefix('KubeControllersConfiguration') == \
        '/calico/resources/v3/projectcalico.org/kubecontrollersconfigurations/'


# What calicoctl v3.31.0 stored for `calicoctl create` of a minimal resource of each kind.
STORED = [
    (res('IPPool', 'p1', {'cidr': '10.1.0.0/16'}),
     '{"kind":"IPPool","apiVersion":"projectcalico.org/v3","metadata":{"name":"p1","uid":"%s","creationTimestamp":"%s"},'
     '"spec":{"cidr":"10.1.0.0/16","vxlanMode":"Never","ipipMode":"Never","blockSize":26,"nodeSelector":"all()",'
     '"allowedUses":["Workload","Tunnel"],"assignmentMode":"Automatic"}}'),
    (res('FelixConfiguration', 'default'),
     '{"kind":"FelixConfiguration","apiVersion":"projectcalico.org/v3","metadata":{"name":"default","uid":"%s",'
     '"creationTimestamp":"%s"},"spec":{"bpfLogLevel":"","bpfConnectTimeLoadBalancing":"TCP",'
     '"bpfHostNetworkedNATWithoutCTLB":"Enabled","floatingIPs":"Disabled"}}'),
    (res('KubeControllersConfiguration', 'default'),
     '{"kind":"KubeControllersConfiguration","apiVersion":"projectcalico.org/v3","metadata":{"name":"default","uid":"%s",'
     '"creationTimestamp":"%s"},"spec":{"prometheusMetricsPort":9094,"controllers":{}},'
     '"status":{"runningConfig":{"controllers":{}}}}'),
    (res('BGPPeer', 'default'),
     '{"kind":"BGPPeer","apiVersion":"projectcalico.org/v3","metadata":{"name":"default","uid":"%s",'
     '"creationTimestamp":"%s"},"spec":{}}'),
    (res('Node', 'node-9', {'bgp': {'ipv4Address': '192.0.2.19/24', 'asNumber': 65009}}, labels={'rack': 'a'}),
     '{"kind":"Node","apiVersion":"projectcalico.org/v3","metadata":{"name":"node-9","uid":"%s","creationTimestamp":"%s",'
     '"labels":{"rack":"a"}},"spec":{"bgp":{"asNumber":65009,"ipv4Address":"192.0.2.19/24"}},"status":{}}'),
]


@pytest.mark.parametrize('resource, stored', STORED, ids=[item[0]['kind'] for item in STORED])
def test_etcd_value_is_what_calicoctl_stores(resource, stored):
    from ansible_collections.k8snet.calico.plugins.module_utils.calico import compare
    desired = canonical(resource)
    write = compare.changes(None, desired, 'present').resource
    value = storage.to_etcd_value(write, UID, TS)
    assert json.loads(value) == json.loads(stored % (UID, TS))
    assert value == stored % (UID, TS), 'same bytes too: Go struct order'
    back = storage.from_etcd(storage.etcd_key(resource['kind'], resource['metadata']['name']), value.encode(), 42)
    assert back['metadata'] == dict(write['metadata'], uid=UID, creationTimestamp=TS, resourceVersion='42')
    assert back['spec'] == write['spec']


def test_etcd_value_keeps_labels_annotations_and_status_and_never_the_revision():
    resource = res('IPReservation', 'r', {'reservedCIDRs': ['10.0.0.1']}, labels={'b': '2', 'a': '1'},
                   annotations={'note': 'x<y & z>w'}, resourceVersion='7')
    value = storage.to_etcd_value(resource, UID, TS)
    assert value == ('{"kind":"IPReservation","apiVersion":"projectcalico.org/v3","metadata":{"name":"r","uid":"%s",'
                     '"creationTimestamp":"%s","labels":{"a":"1","b":"2"},"annotations":{"note":"x\\u003cy \\u0026 '
                     'z\\u003ew"}},"spec":{"reservedCIDRs":["10.0.0.1"]}}' % (UID, TS))
    kcc = res('KubeControllersConfiguration', 'default', {'controllers': {}})
    kcc['status'] = {'runningConfig': {'controllers': {'node': {}}}, 'environmentVars': {'A': 'b'}}
    assert json.loads(storage.to_etcd_value(kcc, UID, TS))['status'] == kcc['status']


def test_from_etcd_fills_the_read_defaults_of_old_pools():
    key = storage.etcd_key('IPPool', 'old')
    pool = storage.from_etcd(key, json.dumps({'kind': 'IPPool', 'apiVersion': 'projectcalico.org/v3',
                                              'metadata': {'name': 'old', 'uid': UID, 'creationTimestamp': TS},
                                              'spec': {'cidr': 'fd00::/48', 'natOutgoing': True}}), 3)
    assert pool['spec'] == {'cidr': 'fd00::/48', 'natOutgoing': True, 'blockSize': 122,
                            'allowedUses': ['Workload', 'Tunnel'], 'nodeSelector': 'all()', 'ipipMode': 'Never',
                            'vxlanMode': 'Never', 'assignmentMode': 'Automatic'}
    with pytest.raises(ValueError):
        storage.from_etcd('/calico/ipam/v2/x', '{}', 1)
    with pytest.raises(ValueError):
        storage.from_etcd('/calico/resources/v3/projectcalico.org/tiers/default', '{}', 1)


@pytest.mark.parametrize('k8s, v3', [
    ('d6256348-34ba-4948-bc3b-c41c73a86a4e', '6ba4c612-2c5d-4912-bcdc-2338ce155672'),  # seen in the test bed
    ('fea58f3a-cd3b-4747-9848-27f6a73361cf', '7fa5f15c-b3dc-47e2-9812-e46fe5cc86f3'),
])
def test_convert_uid_reverses_the_bits_and_is_its_own_inverse(k8s, v3):
    assert storage.convert_uid(k8s) == v3
    assert storage.convert_uid(v3) == k8s


def test_go_json():
    assert storage.go_json({'b': [1, True, None], 'a': u'\u00e9<>&\u2028'}) == \
        u'{"b":[1,true,null],"a":"\u00e9\\u003c\\u003e\\u0026\\u2028"}'


def test_crd_object_is_what_calicoctl_sends():
    resource = canonical(res('BGPPeer', 'tor', {'peerIP': '192.0.2.1', 'asNumber': 65001},
                             labels={'a': 'b', 'projectcalico.org/x': 'true'},
                             annotations={'note': 'false', 'projectcalico.org/z': 'w'}))
    obj = storage.to_crd(resource, creation_timestamp='2026-11-25T16:22:28Z')
    # The object calicoctl v3.31.0 created in the test bed, without what the API server adds.
    assert obj == {
        'apiVersion': 'crd.projectcalico.org/v1', 'kind': 'BGPPeer',
        'metadata': {'name': 'tor', 'labels': {'projectcalico.org/x': 'true'}, 'annotations': {
            'projectcalico.org/metadata': '{"creationTimestamp":"2026-11-25T16:22:28Z","labels":{"a":"b",'
                                          '"projectcalico.org/x":"true"},"annotations":{"note":"false",'
                                          '"projectcalico.org/z":"w"}}',
            'projectcalico.org/z': 'w'}},
        'spec': {'peerIP': '192.0.2.1', 'asNumber': 65001}}
    stored = dict(obj, metadata=dict(obj['metadata'], uid='275aae94-8869-4728-b7e2-fc714178fff8', resourceVersion='336',
                                     creationTimestamp='2026-11-25T16:22:28Z', generation=1))
    back = storage.from_crd(stored)
    assert back['metadata'] == {'name': 'tor', 'uid': storage.convert_uid('275aae94-8869-4728-b7e2-fc714178fff8'),
                                'resourceVersion': '336', 'creationTimestamp': '2026-11-25T16:22:28Z',
                                'labels': resource['metadata']['labels'],
                                'annotations': resource['metadata']['annotations']}
    assert back['spec'] == resource['spec']


def test_crd_object_for_an_update_carries_version_uid_and_status():
    resource = res('KubeControllersConfiguration', 'default', {'controllers': {}}, uid=UID, resourceVersion='12',
                   creationTimestamp=TS)
    obj = storage.to_crd(resource)
    assert obj['metadata']['resourceVersion'] == '12'
    assert obj['metadata']['uid'] == storage.convert_uid(UID)
    assert obj['metadata']['annotations'] == {'projectcalico.org/metadata': '{"creationTimestamp":"%s"}' % TS}
    assert obj['status'] == {'runningConfig': {'controllers': {}}}
    with pytest.raises(ValueError):
        storage.to_crd(res('Node', 'n', {}))


def test_crd_object_created_now_without_a_timestamp():
    obj = storage.to_crd(res('BGPFilter', 'f', {}))
    inner = json.loads(obj['metadata']['annotations']['projectcalico.org/metadata'])
    assert inner['creationTimestamp'].endswith('Z') and len(inner['creationTimestamp']) == 20


def test_from_crd_converts_v1_pools_and_drops_empty_crd_defaults():
    pool = storage.from_crd({'apiVersion': 'crd.projectcalico.org/v1', 'kind': 'IPPool',
                             'metadata': {'name': 'old', 'uid': UID, 'resourceVersion': '5', 'creationTimestamp': TS},
                             'spec': {'cidr': '10.1.0.0/16', 'ipip': {'enabled': True, 'mode': 'cross-subnet'},
                                      'nat-outgoing': True}})
    assert pool['metadata']['creationTimestamp'] == TS
    assert pool['spec']['ipipMode'] == 'CrossSubnet' and pool['spec']['natOutgoing'] is True
    assert 'ipip' not in pool['spec'] and 'nat-outgoing' not in pool['spec']
    peer = storage.from_crd({'apiVersion': 'crd.projectcalico.org/v1', 'kind': 'BGPPeer', 'metadata': {'name': 'p'},
                             'spec': {'password': {'secretKeyRef': {'key': 'pw', 'name': ''}}}})
    assert peer['spec'] == {'password': {'secretKeyRef': {'key': 'pw'}}}
    config = storage.from_crd({'apiVersion': 'crd.projectcalico.org/v1', 'kind': 'BGPConfiguration',
                               'metadata': {'name': 'default'}, 'spec': {'serviceLoadBalancerAggregation': 'Enabled'}})
    assert config['spec'] == {'serviceLoadBalancerAggregation': 'Enabled'}, 'as calicoctl get shows it'


K8S_NODE = {
    'apiVersion': 'v1', 'kind': 'Node',
    'metadata': {'name': 'node-1', 'uid': 'e5d7b11c-f738-4692-9855-4e6536e2fef5', 'resourceVersion': '353',
                 'creationTimestamp': '2026-11-25T16:21:34Z',
                 'labels': {'kubernetes.io/hostname': 'node-1', 'type': 'kwok'},
                 'annotations': {'node.alpha.kubernetes.io/ttl': '0',
                                 'projectcalico.org/ASNumber': '65546',
                                 'projectcalico.org/IPv4Address': '192.0.2.11/24',
                                 'projectcalico.org/IPv4IPIPTunnelAddr': '10.244.0.1',
                                 'projectcalico.org/RouteReflectorClusterID': '224.0.0.1',
                                 'projectcalico.org/IPv4VXLANTunnelAddr': 'not-an-ip',
                                 'projectcalico.org/VXLANTunnelMACAddr': '66:de:ad:be:ef:01',
                                 'projectcalico.org/WireguardPublicKey': 'key=',
                                 'projectcalico.org/labels': '{"route-reflector":"true","type":"calico"}'}},
    'spec': {'podCIDR': '10.244.0.0/24', 'podCIDRs': ['10.244.0.0/24']},
    'status': {'addresses': [{'type': 'InternalIP', 'address': '192.0.2.11'}, {'type': 'Hostname', 'address': 'node-1'}]},
}


def test_node_from_k8s_is_what_calicoctl_reads():
    node = storage.node_from_k8s(K8S_NODE)
    assert node == {
        'apiVersion': 'projectcalico.org/v3', 'kind': 'Node',
        'metadata': {'name': 'node-1', 'uid': 'e5d7b11c-f738-4692-9855-4e6536e2fef5', 'resourceVersion': '353',
                     'creationTimestamp': '2026-11-25T16:21:34Z',
                     'labels': {'kubernetes.io/hostname': 'node-1', 'route-reflector': 'true', 'type': 'kwok'},
                     'annotations': {'projectcalico.org/kube-labels':
                                     '{"kubernetes.io/hostname":"node-1","type":"kwok"}'}},
        'spec': {'bgp': {'asNumber': 65546, 'ipv4Address': '192.0.2.11/24', 'ipv4IPIPTunnelAddr': '10.244.0.1',
                         'routeReflectorClusterID': '224.0.0.1'},
                 'vxlanTunnelMACAddr': '66:de:ad:be:ef:01',
                 'orchRefs': [{'nodeName': 'node-1', 'orchestrator': 'k8s'}],
                 'addresses': [{'address': '192.0.2.11/24', 'type': 'CalicoNodeIP'},
                               {'address': '192.0.2.11', 'type': 'InternalIP'}]},
        'status': {'wireguardPublicKey': 'key=', 'podCIDRs': ['10.244.0.0/24']}}


def test_node_patch_touches_only_labels_and_bgp_annotations():
    node = storage.node_from_k8s(K8S_NODE)
    node['metadata']['labels'].update({'rack': 'r1', 'type': 'ignored: a Kubernetes label'})
    del node['metadata']['labels']['route-reflector']
    node['spec']['bgp'] = {'asNumber': 65001, 'ipv4Address': '192.0.2.11/24', 'ipv4IPIPTunnelAddr': '10.244.0.1'}
    assert storage.node_patch(node, K8S_NODE) == {'metadata': {'resourceVersion': '353', 'annotations': {
        'projectcalico.org/labels': '{"rack":"r1"}',
        'projectcalico.org/ASNumber': '65001',
        'projectcalico.org/RouteReflectorClusterID': None}}}


def test_node_patch_is_empty_when_nothing_changes_and_removes_empty_labels():
    # A Calico label shadowed by a Kubernetes label ('type') is dropped, as calicoctl drops it.
    assert storage.node_patch(storage.node_from_k8s(K8S_NODE), K8S_NODE)['metadata']['annotations'] == {
        'projectcalico.org/labels': '{"route-reflector":"true"}'}
    clean = json.loads(json.dumps(K8S_NODE))
    clean['metadata']['annotations']['projectcalico.org/labels'] = '{"route-reflector":"true"}'
    assert storage.node_patch(storage.node_from_k8s(clean), clean) == {}
    bare = dict(K8S_NODE, metadata=dict(K8S_NODE['metadata'], annotations={}))
    new = res('Node', 'node-1', {'bgp': {'ipv6Address': 'fd00::11/64'}}, labels={'kubernetes.io/hostname': 'node-1'})
    assert storage.node_patch(new, bare) == {'metadata': {'resourceVersion': '353', 'annotations': {
        'projectcalico.org/IPv6Address': 'fd00::11/64'}}}
