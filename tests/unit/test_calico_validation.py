# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Validation of Calico resources: value checks (selector grammar, Go durations, names), the
canonical form with calicoctl's defaults per kind, the states, and the checks against live data.
The bad-input table is test_calico_bad_inputs.py; the comparison with the real calicoctl is
tests/integration/test_calico_reference.py."""

import pytest


from ansible_collections.k8snet.calico.plugins.module_utils.calico import validation as v


def res(kind, name, spec=None, **metadata):
    resource = {'apiVersion': 'projectcalico.org/v3', 'kind': kind, 'metadata': dict(name=name, **metadata)}
    if spec is not None:
        resource['spec'] = spec
    return resource


def reason(func, *args):
    with pytest.raises(v.InvalidValue) as info:
        func(*args)
    return str(info.value)


def errors(resources, state='present'):
    with pytest.raises(v.ValidationErrors) as info:
        v.validate_resources(resources, state)
    return info.value.messages


def one(resource, state='present'):
    return v.validate_resources([resource], state)[0]


# ---------------------------------------------------------------------------------------------
# Selector grammar (libcalico-go/lib/selector)
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize('selector', [
    '', 'all()', 'global()', 'has(route-reflector)', "rack == 'a'", 'rack == "a"', "rack != 'a'",
    "rack in {'a', 'b'}", "rack in {'a',}", 'rack in {}', "rack not in {'a'}", "rack notin {'a'}",
    "name contains 'x'", "name starts with 'x'", "name startswith 'x'", "name ends with 'x'",
    "!has(a) && (b == 'x' || c != 'y')", "!!a == 'x'", "kubernetes.io/os == 'linux'", "a_b.c/d-e == ''",
    "\t has( x )\t", 'all( )', "((a == 'x'))",
])
def test_selector_valid(selector):
    assert v.selector_syntax(selector) == selector


@pytest.mark.parametrize('selector, fragment', [
    ("rack = 'a'", "expected '=='"),
    ("rack == a", "expected a quoted string after '==', found label 'a'"),
    ("rack == 'a", 'unterminated string'),
    ('has(x', "no closing ')' after has("),
    ('has (x)', "expected == or != after label 'has', found '('"),
    ('all(x)', "no closing ')' after all("),
    ("a == 'x' ||", 'unexpected end of selector'),
    ("a == 'x' &", "expected '&&'"),
    ("a == 'x' |", "expected '||'"),
    ("(a == 'x'", "expected ')' but found end of selector"),
    ("a == 'x')", "unexpected ')'"),
    ('x)', "expected == or != after label 'x', found ')'"),
    ("a in 'x'", "expected a set literal"),
    ("a in {'x' 'y'}", "expected '}' but found string 'y'"),
    ('a', "unexpected end of selector after label 'a'"),
    ('a b', "expected an operator after label 'a'"),
    ("a starts 'x'", "expected an operator after label 'a'"),
    ("a == 'x'\nb == 'y'", 'expected a label'),
    ('$x', 'expected a label'),
    ('a' * 513 + " == 'x'", 'label too long'),
])
def test_selector_invalid(selector, fragment):
    message = reason(v.selector_syntax, selector)
    assert message.startswith('is not a valid Calico selector: ') and fragment in message


def test_selector_of_the_render_refuses_blank():
    assert reason(v.selector, '  ') == 'is an empty selector'
    assert v.selector("rack == 'a'") == "rack == 'a'"


# ---------------------------------------------------------------------------------------------
# Go durations
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize('text, stored', [
    ('0', '0s'), ('0s', '0s'), ('90s', '1m30s'), ('1m', '1m0s'), ('2h', '2h0m0s'), ('1h30m', '1h30m0s'),
    ('1.5s', '1.5s'), ('1.5h', '1h30m0s'), ('500ms', '500ms'), ('1500ms', '1.5s'), ('1us', u'1\u00b5s'),
    (u'1\u00b5s', u'1\u00b5s'), ('1ns', '1ns'), ('1000ns', u'1\u00b5s'), ('-2m', '-2m0s'), ('+5s', '5s'),
    ('.5s', '500ms'), ('5.s', '5s'), ('1h1m1s1ms', '1h1m1.001s'), ('3600s', '1h0m0s'), ('100h', '100h0m0s'),
])
def test_go_duration(text, stored):
    assert v.go_duration(text) == stored


@pytest.mark.parametrize('text', ['', '5', 's', '1d', '1 m', '-', '.s', '1.2.3s', 'soon', '9999999999h'])
def test_go_duration_invalid(text):
    assert reason(v.go_duration, text).startswith('is ')


def test_go_duration_not_a_number():
    assert reason(v.go_duration, 120).startswith('is not a duration')


# ---------------------------------------------------------------------------------------------
# Other value checks
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize('key, ok', [
    ('rack', True), ('projectcalico.org/x', True), ('a.b-c_d', True), ('x' * 63, True), ('x' * 64, False),
    ('-x', False), ('x/', False), ('/x', False), ('Example.COM/x', False), ('a/b/c', False), ('', False),
])
def test_qualified_name(key, ok):
    assert (v.qualified_name(key) == key) if ok else reason(v.qualified_name, key).startswith('is not a valid key')


@pytest.mark.parametrize('value, ok', [('', True), ('a', True), ('A-b_c.1', True), ('a' * 63, True),
                                       ('a' * 64, False), ('a b', False), ('-a', False), ('a.', False)])
def test_label_value(value, ok):
    assert (v.label_value(value) == value) if ok else reason(v.label_value, value).startswith('is not a valid label')


@pytest.mark.parametrize('value, kwargs, ok', [
    ('10.0.0.1', {}, True), ('10.0.0.0/8', {}, True), ('10.0.0.1/8', {}, True), ('10.0.0.1/8', {'strict': True}, False),
    ('fd00::1', {'version': 6}, True), ('fd00::1', {'version': 4}, False), ('10.0.0.0/33', {}, False),
    ('fe80::1%eth0', {}, False), ('x', {}, False),
])
def test_cidr_or_ip(value, kwargs, ok):
    if ok:
        assert v.cidr_or_ip(value, **kwargs) == value
    else:
        reason(v.cidr_or_ip, value, kwargs.get('version'), kwargs.get('strict', False))


@pytest.mark.parametrize('value, ok', [('65001:100', True), ('65535:65535', True), ('65536:1', False),
                                       ('1:2:3', True), ('4294967295:1:1', True), ('4294967296:1:1', False),
                                       ('65001', False), ('a:b', False)])
def test_bgp_community(value, ok):
    assert (v.bgp_community(value) == value) if ok else reason(v.bgp_community, value).startswith('is not a BGP community')


@pytest.mark.parametrize('value, ok', [('eth.*', True), ('^(en|eth)[0-9]+$', True), ('(?=x)', False), ('(', False)])
def test_go_regexp(value, ok):
    assert (v.go_regexp(value) == value) if ok else reason(v.go_regexp, value).startswith('is not a')


@pytest.mark.parametrize('value, ok', [('aa:bb:cc:dd:ee:ff', True), ('AA-BB-CC-DD-EE-FF', True),
                                       ('aabb.ccdd.eeff', True), ('aa:bb:cc:dd:ee', False), ('aa:bb-cc:dd:ee:ff', False)])
def test_mac_address(value, ok):
    assert (v.mac_address(value) == value) if ok else reason(v.mac_address, value) == 'is not a MAC address'


# ---------------------------------------------------------------------------------------------
# Canonical resources with calicoctl's defaults (verified against calicoctl v3.31.0 by the
# reference test)
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize('resource, spec', [
    (res('IPPool', 'p', {'cidr': '10.1.0.0/16'}),
     {'cidr': '10.1.0.0/16', 'vxlanMode': 'Never', 'ipipMode': 'Never', 'blockSize': 26, 'nodeSelector': 'all()',
      'allowedUses': ['Workload', 'Tunnel'], 'assignmentMode': 'Automatic'}),
    (res('IPPool', 'p', {'cidr': 'fd00:10:0::/48'}),
     {'cidr': 'fd00:10::/48', 'vxlanMode': 'Never', 'ipipMode': 'Never', 'blockSize': 122, 'nodeSelector': 'all()',
      'allowedUses': ['Workload', 'Tunnel'], 'assignmentMode': 'Automatic'}),
    (res('IPPool', 'p', {'cidr': '10.1.0.0/16', 'natOutgoing': False, 'disabled': False, 'blockSize': 0, 'nodeSelector': '',
                         'ipipMode': 'Always', 'allowedUses': ['Tunnel']}),
     {'cidr': '10.1.0.0/16', 'vxlanMode': 'Never', 'ipipMode': 'Always', 'blockSize': 26, 'nodeSelector': 'all()',
      'allowedUses': ['Tunnel'], 'assignmentMode': 'Automatic'}),
    (res('FelixConfiguration', 'default'),
     {'bpfLogLevel': '', 'bpfConnectTimeLoadBalancing': 'TCP', 'bpfHostNetworkedNATWithoutCTLB': 'Enabled',
      'floatingIPs': 'Disabled'}),
    (res('FelixConfiguration', 'default', {'bpfConnectTimeLoadBalancingEnabled': True, 'bpfConnectTimeLoadBalancing': 'TCP',
                                           'reportingInterval': '90s', 'bpfEnabled': False}),
     {'reportingInterval': '1m30s', 'bpfEnabled': False, 'bpfLogLevel': '', 'bpfConnectTimeLoadBalancingEnabled': True,
      'bpfConnectTimeLoadBalancing': 'Enabled', 'bpfHostNetworkedNATWithoutCTLB': 'Disabled', 'floatingIPs': 'Disabled'}),
    (res('KubeControllersConfiguration', 'default', {}), {'prometheusMetricsPort': 9094, 'controllers': {}}),
    (res('KubeControllersConfiguration', 'default', {'controllers': {'node': {}, 'loadBalancer': {}}}),
     {'prometheusMetricsPort': 9094,
      'controllers': {'node': {'leakGracePeriod': '15m0s'}, 'loadBalancer': {'assignIPs': 'AllServices'}}}),
    (res('BGPPeer', 'p', {'peerIP': '192.0.2.1', 'asNumber': '1.10', 'keepOriginalNextHop': False, 'node': '',
                          'maxRestartTime': '120s'}),
     {'peerIP': '192.0.2.1', 'asNumber': 65546, 'maxRestartTime': '2m0s'}),
    (res('BGPPeer', 'p', {'peerIP': '192.0.2.1', 'asNumber': 65001.0, 'ttlSecurity': 0}),
     {'peerIP': '192.0.2.1', 'asNumber': 65001, 'ttlSecurity': 0}),
    (res('BGPConfiguration', 'default', {'nodeToNodeMeshEnabled': False, 'listenPort': 0, 'asNumber': 0}),
     {'nodeToNodeMeshEnabled': False, 'asNumber': 0}),
    (res('BGPFilter', 'f', {'exportV4': [{'action': 'Accept'}], 'importV4': []}), {'exportV4': [{'action': 'Accept'}]}),
    (res('FelixConfiguration', 'default', {'kubeNodePortRanges': ['30000', '30000:30000', 31000, '32000:32767'],
                                           'failsafeInboundHostPorts': [{'protocol': 'TCP'}],
                                           'healthTimeoutOverrides': [{'name': 'x'}], 'externalNodesList': []}),
     {'failsafeInboundHostPorts': [{'protocol': 'TCP', 'port': 0}],
      'healthTimeoutOverrides': [{'name': 'x', 'timeout': '0s'}],
      'kubeNodePortRanges': [30000, 30000, 31000, '32000:32767'], 'externalNodesList': [], 'bpfLogLevel': '',
      'bpfConnectTimeLoadBalancing': 'TCP', 'bpfHostNetworkedNATWithoutCTLB': 'Enabled', 'floatingIPs': 'Disabled'}),
    (res('IPReservation', 'r', {'reservedCIDRs': ['10.0.0.1', '10.0.1.1/24']}), {'reservedCIDRs': ['10.0.0.1', '10.0.1.1/24']}),
])
def test_canonical_form_and_defaults(resource, spec):
    canonical = one(resource)
    assert canonical['spec'] == spec
    assert list(canonical) == ['apiVersion', 'kind', 'metadata', 'spec']


def test_spec_keys_follow_the_go_struct_order():
    canonical = one(res('IPPool', 'p', {'assignmentMode': 'Manual', 'natOutgoing': True, 'cidr': '10.1.0.0/16'}))
    assert list(canonical['spec']) == ['cidr', 'vxlanMode', 'ipipMode', 'natOutgoing', 'blockSize', 'nodeSelector',
                                       'allowedUses', 'assignmentMode']


def test_scalars_are_read_as_calicoctl_reads_them_into_strings():
    canonical = one(res('BGPPeer', 'p', {'peerIP': '192.0.2.1', 'asNumber': 65001, 'node': 123},
                        labels={'a': 1, 'b': 1.5, 'c': True, 'd': 1.0, 'e': None}, annotations={'x': 12}))
    assert canonical['metadata'] == {'name': 'p', 'labels': {'a': '1', 'b': '1.5', 'c': 'true', 'd': '1', 'e': ''},
                                     'annotations': {'x': '12'}}
    assert canonical['spec']['node'] == '123'


def test_server_metadata_and_status_are_dropped():
    canonical = one(dict(res('BGPPeer', 'p', {'peerIP': '192.0.2.1', 'asNumber': 65001},
                             uid='x', resourceVersion='5', creationTimestamp='2024-01-01T00:00:00Z', generation=2),
                         status={'x': 1}))
    assert canonical == {'apiVersion': 'projectcalico.org/v3', 'kind': 'BGPPeer', 'metadata': {'name': 'p'},
                         'spec': {'peerIP': '192.0.2.1', 'asNumber': 65001}}


def test_absent_needs_only_the_identity():
    canonical = one(res('IPPool', 'p', {'cidr': 'not checked'}, labels={'x': 'y'}), 'absent')
    assert canonical == {'apiVersion': 'projectcalico.org/v3', 'kind': 'IPPool', 'metadata': {'name': 'p'}}
    assert errors([res('IPPool', 'P')], 'absent') == [
        "IPPool/P: metadata.name: 'P' is not a valid resource name (lower-case letters, digits, '-' and '.', "
        "starting and ending with a letter or digit, at most 253 characters)"]


def test_patched_keeps_given_fields_only_without_defaults():
    canonical = one(res('IPPool', 'p', {'natOutgoing': False, 'nodeSelector': None, 'ipipMode': 'Always'},
                        labels={'x': None, 'y': '1'}), 'patched')
    assert canonical == {'apiVersion': 'projectcalico.org/v3', 'kind': 'IPPool',
                         'metadata': {'name': 'p', 'labels': {'x': None, 'y': '1'}},
                         'spec': {'ipipMode': 'Always', 'natOutgoing': False, 'nodeSelector': None}}
    # Values are still checked; cross-field rules wait for the merge with the live resource.
    assert errors([res('IPPool', 'p', {'ipipMode': 'always'})], 'patched') == [
        "IPPool/p: spec.ipipMode: 'always' is not one of Always, CrossSubnet, Never"]
    assert one(res('IPPool', 'p', {'ipipMode': 'Always', 'vxlanMode': 'Always'}), 'patched')['spec'] == \
        {'vxlanMode': 'Always', 'ipipMode': 'Always'}


def test_a_node_is_always_a_patch_of_labels_and_bgp():
    canonical = one(res('Node', 'n1', {'bgp': {'asNumber': '1.10', 'routeReflectorClusterID': None}},
                        labels={'route-reflector': 'true', 'old': None}))
    assert canonical['spec'] == {'bgp': {'asNumber': 65546, 'routeReflectorClusterID': None}}
    assert canonical['metadata']['labels'] == {'old': None, 'route-reflector': 'true'}
    assert errors([res('Node', 'n1', {'bgp': {'asNumber': 1}}, annotations={'a': 'b'})]) == [
        'Node/n1: metadata.annotations cannot be managed on a Node (only metadata.labels and spec.bgp are)']


def test_list_items_are_complete_values_even_in_a_patch():
    canonical = one(res('FelixConfiguration', 'default', {'failsafeInboundHostPorts': [{'protocol': 'TCP'}]}), 'patched')
    assert canonical['spec'] == {'failsafeInboundHostPorts': [{'protocol': 'TCP', 'port': 0}]}


def test_unknown_fields_are_named_with_a_hint():
    assert errors([res('FelixConfiguration', 'default', {'prometheus_metrics_enabled': True, 'logSeverityScren': 'Info',
                                                         'zzz': 1})]) == [
        "FelixConfiguration/default: spec.prometheus_metrics_enabled is not a known field did you mean "
        "('prometheusMetricsEnabled')",
        "FelixConfiguration/default: spec.logSeverityScren is not a known field (did you mean 'logSeverityScreen'?)",
        'FelixConfiguration/default: spec.zzz is not a known field',
    ]
    assert errors([res('IPReservation', 'r', {'cidrs': []})]) == [
        'IPReservation/r: spec.cidrs is not a known field (known: reservedCIDRs)']
    assert errors([dict(res('IPPool', 'p', {'cidr': '10.1.0.0/16'}), extra=1)]) == [
        'IPPool/p: extra is not a known field (known: apiVersion, kind, metadata, spec)']
    assert errors([res('IPPool', 'p', {'cidr': '10.1.0.0/16'}, ownerName='x')]) == [
        'IPPool/p: metadata.ownerName is not a known field (known: name, labels, annotations)']


def test_errors_name_nested_paths():
    assert errors([res('KubeControllersConfiguration', 'default', {'controllers': {'node': {'hostEndpoint': {
        'templates': [{'generateName': 't', 'interfaceCIDRs': ['10.0.0.0/8', 'x']}]}}}})]) == [
        "KubeControllersConfiguration/default: spec.controllers.node.hostEndpoint.templates[0].interfaceCIDRs[1]: 'x' "
        "is not an IP address or CIDR"]


def test_state_must_be_known():
    with pytest.raises(ValueError):
        v.validate_resources([], 'replaced')


def test_a_single_resource_is_a_batch_of_one():
    assert v.validate_resources(res('IPReservation', 'r', {}), 'present') == [
        {'apiVersion': 'projectcalico.org/v3', 'kind': 'IPReservation', 'metadata': {'name': 'r'}, 'spec': {}}]
    assert errors('x') == ["definition: 'x' is not a resource or a list of resources"]


# ---------------------------------------------------------------------------------------------
# Checks against the live resources
# ---------------------------------------------------------------------------------------------

def live_pool(name, cidr, **spec):
    return {'apiVersion': 'projectcalico.org/v3', 'kind': 'IPPool', 'metadata': {'name': name},
            'spec': dict({'cidr': cidr, 'blockSize': 26, 'allowedUses': ['Workload', 'Tunnel']}, **spec)}


def live_errors(resources, live, state='present'):
    with pytest.raises(v.ValidationErrors) as info:
        v.validate_against_live(v.validate_resources(resources, state), live)
    return info.value.messages


def test_new_pool_overlapping_a_live_pool():
    live = {'IPPool': [live_pool('default-ipv4-ippool', '10.244.0.0/16'), live_pool('v6', 'fd00::/48')]}
    assert live_errors([res('IPPool', 'new', {'cidr': '10.244.128.0/17'})], live) == [
        "IPPool/new: spec.cidr: '10.244.128.0/17' overlaps the existing IPPool/default-ipv4-ippool (10.244.0.0/16)"]
    good = v.validate_resources([res('IPPool', 'new', {'cidr': '10.245.0.0/16'}),
                                 res('IPPool', 'default-ipv4-ippool', {'cidr': '10.244.0.0/16', 'natOutgoing': True})],
                                'present')
    assert v.validate_against_live(good, live) == good
    # live_by_kind may also map names to resources
    assert v.validate_against_live(good, {'IPPool': {'v6': live_pool('v6', 'fd00::/48')}}) == good


def test_live_pool_keeps_cidr_block_size_and_load_balancer():
    live = {'IPPool': [live_pool('p', '10.1.0.0/16'), live_pool('lb', '10.9.0.0/24', allowedUses=['LoadBalancer'])]}
    assert live_errors([res('IPPool', 'p', {'cidr': '10.2.0.0/16', 'blockSize': 24}),
                        res('IPPool', 'lb', {'cidr': '10.9.0.0/24', 'allowedUses': ['Workload']})], live) == [
        "IPPool/p: spec.cidr: '10.2.0.0/16' differs from the live pool ('10.1.0.0/16'): the CIDR of an IPPool cannot be "
        "changed; create a new pool and migrate",
        "IPPool/p: spec.blockSize: 24 differs from the live pool (26): the block size of an IPPool cannot be changed; "
        "create a new pool and migrate",
        'IPPool/lb: spec.allowedUses: ["Workload"] cannot change a LoadBalancer pool to Workload or Tunnel']
    # A patch that does not touch them passes.
    patch = v.validate_resources([res('IPPool', 'p', {'natOutgoing': True})], 'patched')
    assert v.validate_against_live(patch, live) == patch


def test_peer_filters_must_exist_live_or_in_the_batch():
    peer = res('BGPPeer', 'p', {'peerIP': '192.0.2.1', 'asNumber': 65001, 'filters': ['f1', 'f2', 'f3']})
    live = {'BGPFilter': [{'kind': 'BGPFilter', 'metadata': {'name': 'f1'}, 'spec': {}}]}
    assert live_errors([peer, res('BGPFilter', 'f2', {})], live) == [
        'BGPPeer/p: spec.filters: ["f1", "f2", "f3"] names BGPFilter(s) that do not exist: f3']


def test_node_labels_owned_by_kubernetes():
    live = {'Node': [{'kind': 'Node', 'metadata': {
        'name': 'n1', 'labels': {'kubernetes.io/os': 'linux', 'rack': 'r1'},
        'annotations': {'projectcalico.org/kube-labels': '{"kubernetes.io/os":"linux"}'}}, 'spec': {}}]}
    assert live_errors([res('Node', 'n1', {}, labels={'kubernetes.io/os': 'windows', 'rack': 'r2'})], live) == [
        "Node/n1: metadata.labels.kubernetes.io/os: 'windows' is a Kubernetes label of the Node ('linux'): Calico cannot "
        "change it (calicoctl ignores the change); change it with kubectl"]
    same = v.validate_resources([res('Node', 'n1', {}, labels={'kubernetes.io/os': 'linux'})], 'present')
    assert v.validate_against_live(same, live) == same
