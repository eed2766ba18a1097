# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""compare.changes: the action, the before/after views and the changed paths per state."""

import copy

import pytest

from ansible_collections.k8snet.calico.plugins.module_utils.calico import compare, storage
from ansible_collections.k8snet.calico.plugins.module_utils.calico import validation as v

from calico_testdata import TS, UID, res


def desired(resource, state='present'):
    return v.validate_resources([resource], state)[0]


def stored(resource, revision=10):
    """The live resource as read from etcd after the module (or calicoctl) wrote it."""
    write = compare.changes(None, desired(resource), 'present').resource
    key = storage.etcd_key(write['kind'], write['metadata']['name'])
    return storage.from_etcd(key, storage.to_etcd_value(write, UID, TS), revision)


POOL = res('IPPool', 'pool-a', {'cidr': '10.1.0.0/16', 'natOutgoing': True}, labels={'managed-by': 'k8snet.calico'})


def test_create():
    change = compare.changes(None, desired(POOL), 'present')
    assert change.action == 'create' and change.changed
    assert change.before is None
    assert change.after == {'apiVersion': 'projectcalico.org/v3', 'kind': 'IPPool',
                            'metadata': {'name': 'pool-a', 'labels': {'managed-by': 'k8snet.calico'}},
                            'spec': {'cidr': '10.1.0.0/16', 'vxlanMode': 'Never', 'ipipMode': 'Never', 'natOutgoing': True,
                                     'blockSize': 26, 'nodeSelector': 'all()', 'allowedUses': ['Workload', 'Tunnel'],
                                     'assignmentMode': 'Automatic'}}
    assert change.diff == ['metadata.labels.managed-by', 'spec.allowedUses', 'spec.assignmentMode', 'spec.blockSize',
                           'spec.cidr', 'spec.ipipMode', 'spec.natOutgoing', 'spec.nodeSelector', 'spec.vxlanMode']


def test_same_input_again_is_a_no_op_because_defaults_are_compared():
    change = compare.changes(stored(POOL), desired(POOL), 'present')
    assert (change.action, change.diff, change.changed) == ('none', [], False)
    assert change.before == change.after


def test_server_managed_metadata_never_counts():
    live = stored(POOL)
    live['metadata'].update(uid='other', resourceVersion='99', creationTimestamp='2020-01-01T00:00:00Z', generation=5,
                            managedFields=[{'manager': 'x'}])
    live['metadata'].setdefault('annotations', {})['projectcalico.org/metadata'] = '{}'
    assert compare.changes(live, desired(POOL), 'present').action == 'none'


def test_update_replaces_spec_and_keeps_identity_and_status():
    live = stored(res('KubeControllersConfiguration', 'default', {'controllers': {'node': {}}}))
    live['status'] = {'runningConfig': {'controllers': {'node': {'syncLabels': 'Enabled'}}}}
    change = compare.changes(live, desired(res('KubeControllersConfiguration', 'default',
                                               {'controllers': {'policy': {}}, 'logSeverityScreen': 'Debug'})), 'present')
    assert change.action == 'update'
    assert change.diff == ['spec.controllers.node.leakGracePeriod', 'spec.controllers.policy', 'spec.logSeverityScreen']
    assert change.resource['metadata'] == {'name': 'default', 'uid': UID, 'resourceVersion': '10', 'creationTimestamp': TS}
    assert change.resource['status'] == live['status']
    assert 'status' not in change.after and 'uid' not in change.after['metadata']


def test_labels_and_annotations_are_replaced_in_present():
    live = stored(res('BGPPeer', 'p', {'peerIP': '192.0.2.1', 'asNumber': 65001}, labels={'a': '1', 'b': '2'},
                      annotations={'note': 'x'}))
    change = compare.changes(live, desired(res('BGPPeer', 'p', {'peerIP': '192.0.2.1', 'asNumber': 65001},
                                               labels={'a': '1', 'c': '3'})), 'present')
    assert change.diff == ['metadata.annotations.note', 'metadata.labels.b', 'metadata.labels.c']


def test_crd_defaults_of_the_api_server_count_as_absent():
    obj = storage.to_crd(desired(res('BGPConfiguration', 'default', {'asNumber': 65001})), creation_timestamp=TS)
    obj['spec']['serviceLoadBalancerAggregation'] = 'Enabled'  # added by the API server (CRD default)
    obj['metadata'].update(uid='d6256348-34ba-4948-bc3b-c41c73a86a4e', resourceVersion='5')
    live = storage.from_crd(obj)
    change = compare.changes(live, desired(res('BGPConfiguration', 'default', {'asNumber': 65001})), 'present')
    assert change.action == 'none'
    change = compare.changes(live, desired(res('BGPConfiguration', 'default', {'asNumber': 65002})), 'present')
    assert change.diff == ['spec.asNumber']
    assert change.after['spec'] == change.resource['spec'] == {'asNumber': 65002, 'serviceLoadBalancerAggregation': 'Enabled'}
    change = compare.changes(live, desired(res('BGPConfiguration', 'default', {
        'asNumber': 65001, 'serviceLoadBalancerAggregation': 'Disabled'})), 'present')
    assert change.diff == ['spec.serviceLoadBalancerAggregation']


def test_absent():
    live = stored(POOL)
    change = compare.changes(live, desired(POOL, 'absent'), 'absent')
    assert change.action == 'delete' and change.after is None and change.before == compare.view(live)
    assert change.resource['metadata']['resourceVersion'] == '10'
    assert 'spec.cidr' in change.diff
    assert compare.changes(None, desired(POOL, 'absent'), 'absent').action == 'none'


def test_patched_merges_mappings_replaces_lists_and_none_removes():
    live = stored(res('BGPFilter', 'f', {'exportV4': [{'action': 'Accept'}, {'action': 'Reject'}]},
                      labels={'keep': 'yes', 'drop': 'yes'}))
    patch = desired(res('BGPFilter', 'f', {'importV4': [{'action': 'Reject'}], 'exportV4': [{'action': 'Reject'}]},
                        labels={'drop': None, 'new': 'x'}), 'patched')
    change = compare.changes(live, patch, 'patched')
    assert change.action == 'update'
    assert change.after['metadata']['labels'] == {'keep': 'yes', 'new': 'x'}
    assert change.after['spec'] == {'exportV4': [{'action': 'Reject'}], 'importV4': [{'action': 'Reject'}]}
    assert change.diff == ['metadata.labels.drop', 'metadata.labels.new', 'spec.exportV4', 'spec.importV4']
    same_length = compare.changes(live, desired(res('BGPFilter', 'f', {'exportV4': [{'action': 'Reject'}, {'action': 'Reject'}]}),
                                                'patched'), 'patched')
    assert same_length.diff == ['spec.exportV4[0].action']


def test_patched_pool_keeps_the_rest_and_re_applies_defaults():
    live = stored(POOL)
    patch = res('IPPool', 'pool-a', {'nodeSelector': None, 'natOutgoing': False, 'ipipMode': 'Always'})
    change = compare.changes(live, desired(patch, 'patched'), 'patched')
    assert change.diff == ['spec.ipipMode', 'spec.natOutgoing']
    assert change.resource['spec']['nodeSelector'] == 'all()', 'calicoctl defaults it again on update'
    assert 'natOutgoing' not in change.resource['spec']
    assert change.resource['metadata']['labels'] == {'managed-by': 'k8snet.calico'}


def test_patched_result_is_validated_as_a_whole():
    live = stored(res('IPPool', 'pool-a', {'cidr': '10.1.0.0/16', 'vxlanMode': 'Always'}))
    with pytest.raises(v.ValidationErrors) as info:
        compare.changes(live, desired(res('IPPool', 'pool-a', {'ipipMode': 'Always'}), 'patched'), 'patched')
    assert info.value.messages == ["IPPool/pool-a: spec.vxlanMode: 'Always' cannot be enabled together with "
                                   "spec.ipipMode 'Always' (one encapsulation per pool)"]
    with pytest.raises(v.ValidationErrors) as info:
        compare.changes(None, desired(res('IPPool', 'pool-b', {'natOutgoing': True}), 'patched'), 'patched')
    assert info.value.messages == ['IPPool/pool-b: does not exist; state patched changes existing resources only']


def test_patched_keeps_fields_of_a_newer_calico_the_module_does_not_know():
    live = stored(res('FelixConfiguration', 'default', {'logSeverityScreen': 'Info'}))
    live['spec']['logActionRateLimit'] = '5/second'  # a v3.31.7 field
    change = compare.changes(live, desired(res('FelixConfiguration', 'default', {'logSeverityScreen': 'Debug'}),
                                           'patched'), 'patched')
    assert change.diff == ['spec.logSeverityScreen']
    assert change.resource['spec']['logActionRateLimit'] == '5/second'


def k8s_node():
    return {'apiVersion': 'v1', 'kind': 'Node',
            'metadata': {'name': 'node-1', 'uid': UID, 'resourceVersion': '7', 'creationTimestamp': TS,
                         'labels': {'kubernetes.io/hostname': 'node-1'},
                         'annotations': {'projectcalico.org/IPv4Address': '192.0.2.11/24',
                                         'projectcalico.org/IPv4IPIPTunnelAddr': '10.244.0.1',
                                         'projectcalico.org/IPv4VXLANTunnelAddr': '10.244.0.2'}},
            'spec': {'podCIDRs': ['10.244.0.0/24']}}


def test_node_is_merged_and_keeps_what_calico_wrote():
    live = storage.node_from_k8s(k8s_node())
    node = desired(res('Node', 'node-1', {'bgp': {'routeReflectorClusterID': '224.0.0.1', 'asNumber': 65010}},
                       labels={'route-reflector': 'true'}))
    change = compare.changes(live, node, 'present')
    assert change.action == 'update'
    assert change.diff == ['metadata.labels.route-reflector', 'spec.bgp.asNumber', 'spec.bgp.routeReflectorClusterID']
    assert change.after == {'apiVersion': 'projectcalico.org/v3', 'kind': 'Node', 'metadata': {
        'name': 'node-1', 'labels': {'kubernetes.io/hostname': 'node-1', 'route-reflector': 'true'}},
        'spec': {'bgp': {'asNumber': 65010, 'ipv4Address': '192.0.2.11/24', 'ipv4IPIPTunnelAddr': '10.244.0.1',
                         'routeReflectorClusterID': '224.0.0.1'}}}
    assert change.resource['spec']['ipv4VXLANTunnelAddr'] == '10.244.0.2'
    assert change.resource['metadata']['annotations']['projectcalico.org/kube-labels'] == \
        '{"kubernetes.io/hostname":"node-1"}'
    patch = storage.node_patch(change.resource, k8s_node())
    assert patch == {'metadata': {'resourceVersion': '7', 'annotations': {
        'projectcalico.org/labels': '{"route-reflector":"true"}', 'projectcalico.org/ASNumber': '65010',
        'projectcalico.org/RouteReflectorClusterID': '224.0.0.1'}}}
    # Applied, the same input is a no-op.
    applied = k8s_node()
    applied['metadata']['annotations'].update(patch['metadata']['annotations'])
    assert compare.changes(storage.node_from_k8s(applied), node, 'present').action == 'none'


def test_node_bgp_fields_removed_one_by_one_and_all():
    live = storage.node_from_k8s(k8s_node())
    change = compare.changes(live, desired(res('Node', 'node-1', {'bgp': {'ipv4IPIPTunnelAddr': None}})), 'present')
    assert change.diff == ['spec.bgp.ipv4IPIPTunnelAddr']
    change = compare.changes(live, desired(res('Node', 'node-1', {'bgp': None})), 'present')
    assert change.diff == ['spec.bgp.ipv4Address', 'spec.bgp.ipv4IPIPTunnelAddr']
    assert 'bgp' not in change.resource['spec']
    assert storage.node_patch(change.resource, k8s_node())['metadata']['annotations'] == {
        'projectcalico.org/IPv4Address': None, 'projectcalico.org/IPv4IPIPTunnelAddr': None}


def test_node_created_on_etcd():
    change = compare.changes(None, desired(res('Node', 'n9', {'bgp': {'ipv4Address': '192.0.2.9/24', 'asNumber': None}},
                                               labels={'x': None, 'rack': 'a'})), 'present')
    assert change.action == 'create'
    assert change.resource == {'apiVersion': 'projectcalico.org/v3', 'kind': 'Node',
                               'metadata': {'name': 'n9', 'labels': {'rack': 'a'}},
                               'spec': {'bgp': {'ipv4Address': '192.0.2.9/24'}}}


def test_read_only_kind_is_refused():
    with pytest.raises(v.ValidationErrors):
        compare.changes(None, res('ClusterInformation', 'default', {}), 'present')


def test_merge():
    assert compare.merge({'a': {'b': 1, 'c': [1, 2]}, 'd': 1}, {'a': {'c': [3], 'e': None}, 'd': None, 'f': {'g': 1}}) == \
        {'a': {'b': 1, 'c': [3]}, 'f': {'g': 1}}
    original = {'a': {'b': 1}}
    compare.merge(original, {'a': {'b': 2}})
    assert original == {'a': {'b': 1}}


def test_views_never_show_storage_annotations_or_status():
    live = storage.node_from_k8s(k8s_node())
    shown = compare.view(live)
    assert 'annotations' not in shown['metadata'] and 'status' not in shown
    assert set(shown['spec']) == {'bgp'}
    assert copy.deepcopy(shown) == compare.view(live)
