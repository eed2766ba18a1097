# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Calico resources built from the inventory, and the errors that name the variable, the
list index, the resource name and the value."""

import pytest


from ansible_collections.k8snet.calico.plugins.module_utils.calico.validation import ValidationErrors
from ansible_collections.k8snet.calico.plugins.module_utils.inventory_resources import (
    build_resources, pool_warnings, summary)

SEED = dict(
    pod_cidr='10.244.0.0/16', encapsulation='IPIP', bgp_node_mesh=False, bgp_as_number=64512,
    bgp_service_cluster_ips=['10.96.0.0/12'],
    bgp_peers=[{'name': 'tor', 'peer_ip': '10.10.0.1', 'as_number': 64513}],
)


def errors_of(**params):
    with pytest.raises(ValidationErrors) as info:
        build_resources(params)
    return info.value.messages


def test_the_seed():
    assert build_resources(SEED) == [
        {'apiVersion': 'projectcalico.org/v3', 'kind': 'BGPConfiguration', 'metadata': {'name': 'default'},
         'spec': {'logSeverityScreen': 'Info', 'nodeToNodeMeshEnabled': False, 'asNumber': 64512,
                  'serviceClusterIPs': [{'cidr': '10.96.0.0/12'}]}},
        {'apiVersion': 'projectcalico.org/v3', 'kind': 'BGPPeer', 'metadata': {'name': 'tor'},
         'spec': {'peerIP': '10.10.0.1', 'asNumber': 64513}},
        {'apiVersion': 'projectcalico.org/v3', 'kind': 'IPPool', 'metadata': {'name': 'default-ipv4-ippool'},
         'spec': {'cidr': '10.244.0.0/16', 'ipipMode': 'Always', 'vxlanMode': 'Never', 'natOutgoing': False}},
    ]


def test_defaults_only_bgp_configuration():
    assert summary(build_resources({})) == ['BGPConfiguration default']
    assert build_resources({})[0]['spec'] == {'logSeverityScreen': 'Info', 'nodeToNodeMeshEnabled': True}


def test_peers_all_fields():
    peers = build_resources(dict(bgp_peers=[
        {'name': 'rack-a', 'peer_ip': '[fd00::1]:1179', 'as_number': '1.10', 'node_selector': "rack == 'a'",
         'password': {'secret_name': 'bgp-secrets', 'secret_key': 'rack-a'}},
        {'name': 'rr-mesh', 'peer_selector': 'has(route-reflector)', 'node': 'node-01'},
    ]))[1:]
    assert peers[0]['spec'] == {'nodeSelector': "rack == 'a'", 'peerIP': '[fd00::1]:1179', 'asNumber': 65546,
                                'password': {'secretKeyRef': {'name': 'bgp-secrets', 'key': 'rack-a'}}}
    assert peers[1]['spec'] == {'node': 'node-01', 'peerSelector': 'has(route-reflector)'}


def test_pools_modes_from_encapsulation_and_per_pool():
    pools = build_resources(dict(encapsulation='VXLANCrossSubnet', ip_pools=[
        {'name': 'v4', 'cidr': '10.244.0.0/16', 'block_size': 24, 'nat_outgoing': True},
        {'name': 'v6', 'cidr': 'fd00:10:244::/56', 'block_size': 122},
        {'name': 'ipip', 'cidr': '10.245.0.0/16', 'ipip_mode': 'Always', 'vxlan_mode': 'Never',
         'node_selector': "rack == 'b'", 'disabled': True, 'allowed_uses': ['Workload', 'Tunnel'],
         'disable_bgp_export': False},
    ]))[1:]
    assert [pool['spec'] for pool in pools] == [
        {'cidr': '10.244.0.0/16', 'blockSize': 24, 'ipipMode': 'Never', 'vxlanMode': 'CrossSubnet',
         'natOutgoing': True},
        {'cidr': 'fd00:10:244::/56', 'blockSize': 122, 'ipipMode': 'Never', 'vxlanMode': 'CrossSubnet',
         'natOutgoing': False},
        {'cidr': '10.245.0.0/16', 'ipipMode': 'Always', 'vxlanMode': 'Never', 'natOutgoing': False,
         'nodeSelector': "rack == 'b'", 'disabled': True, 'disableBGPExport': False,
         'allowedUses': ['Workload', 'Tunnel']},
    ]


def test_ipv6_pool_never_ipip_by_default():
    pool = build_resources(dict(encapsulation='IPIP', ip_pools=[{'name': 'v6', 'cidr': 'fd00::/48'}]))[1]
    assert (pool['spec']['ipipMode'], pool['spec']['vxlanMode']) == ('Never', 'Never')


def test_felix_config_passthrough():
    felix = build_resources(dict(felix_config={'prometheusMetricsEnabled': True, 'bpfEnabled': False}))[-1]
    assert felix == {'apiVersion': 'projectcalico.org/v3', 'kind': 'FelixConfiguration',
                     'metadata': {'name': 'default'},
                     'spec': {'prometheusMetricsEnabled': True, 'bpfEnabled': False}}


@pytest.mark.parametrize('params, messages', [
    (dict(bgp_as_number=4294967296),
     ['calico_bgp_as_number: 4294967296 is not an AS number (0 to 4294967295, or dotted a.b with a and b 0 to 65535)']),
    (dict(bgp_service_cluster_ips=['10.96.0.1/12']),
     ["calico_bgp_service_cluster_ips[0]: '10.96.0.1/12' is not a network address (host bits are set; did you "
      "mean '10.96.0.0/12'?)"]),
    (dict(bgp_log_severity_screen='verbose'),
     ["calico_bgp_log_severity_screen: 'verbose' is not one of Trace, Debug, Info, Warning, Error, Fatal"]),
    (dict(bgp_peers=[{'name': 'tor', 'peer_ip': '10.0.0.256', 'as_number': 65000}]),
     ["calico_bgp_peers[0] (tor).peer_ip: '10.0.0.256' is not an IP address, '<IPv4>:<port>' or '[<IPv6>]:<port>'"]),
    (dict(bgp_peers=[{'name': 'tor', 'peer_ip': '10.0.0.1', 'as_number': 65000, 'node': 'n1',
                      'node_selector': 'all()'}]),
     ["calico_bgp_peers[0] (tor): node and node_selector cannot both be set (node 'n1', node_selector 'all()')"]),
    (dict(bgp_peers=[{'name': 'tor', 'peer_ip': '10.0.0.1', 'as_number': 65000, 'password': 's3cret'}]),
     ['calico_bgp_peers[0] (tor).password: must be a reference to a Kubernetes Secret {secret_name, secret_key}, '
      'never the password itself']),
    (dict(bgp_peers=[{'name': 'tor', 'peer_ip': '10.0.0.1'},
                     {'name': 'tor', 'peer_ip': '10.0.0.2', 'as_number': 1, 'peerip': 'x'}]),
     ['calico_bgp_peers[0] (tor): as_number is required (or peer_selector)',
      "calico_bgp_peers[1] (tor): unknown key 'peerip' (known: name, peer_ip, as_number, node, node_selector, "
      "peer_selector, password)",
      "calico_bgp_peers[1] (tor).name: 'tor' is also the name of calico_bgp_peers[0]"]),
    (dict(bgp_peers=[{'name': 'rr', 'peer_selector': 'all()', 'peer_ip': '10.0.0.1'}]),
     ["calico_bgp_peers[0] (rr): peer_ip must be empty when peer_selector is set (peer_ip '10.0.0.1')"]),
    (dict(pod_cidr='10.244.0.0/33'), ["calico_pod_cidr: '10.244.0.0/33' is not an IPv4/IPv6 network"]),
    (dict(ip_pools=[{'name': 'p', 'cidr': '10.244.0.0/16', 'block_size': 19}]),
     ['calico_ip_pools[0] (p).block_size: 19 is not a valid IPv4 block size (20 to 32)']),
    (dict(ip_pools=[{'name': 'p', 'cidr': 'fd00::/48', 'block_size': 26, 'ipip_mode': 'Always'}]),
     ['calico_ip_pools[0] (p).block_size: 26 is not a valid IPv6 block size (116 to 128)',
      "calico_ip_pools[0] (p).ipip_mode: 'Always' is not possible on an IPv6 pool (only 'Never')"]),
    (dict(ip_pools=[{'name': 'p', 'cidr': '10.0.0.0/16', 'ipip_mode': 'Always', 'vxlan_mode': 'CrossSubnet'}]),
     ["calico_ip_pools[0] (p): ipip_mode 'Always' and vxlan_mode 'CrossSubnet' cannot both be enabled"]),
    (dict(ip_pools=[{'name': 'a', 'cidr': '10.0.0.0/16'}, {'name': 'b', 'cidr': '10.0.128.0/17'}]),
     ["calico_ip_pools[1] (b).cidr: '10.0.128.0/17' overlaps the pool of calico_ip_pools[0] (10.0.0.0/16)"]),
    (dict(ip_pools=[{'name': 'a', 'cidr': '10.0.0.0/28'}, {'name': 'b', 'cidr': '169.254.0.0/16'}]),
     ["calico_ip_pools[0] (a).cidr: '10.0.0.0/28' is smaller than one block of Calico's default block size /26",
      "calico_ip_pools[1] (b).cidr: '169.254.0.0/16' overlaps the link-local range 169.254.0.0/16"]),
    (dict(ip_pools=[{'name': 'lb', 'cidr': '10.0.0.0/16', 'allowed_uses': ['LoadBalancer', 'Pods']}]),
     ["calico_ip_pools[0] (lb).allowed_uses: 'Pods' is not one of Workload, Tunnel, LoadBalancer",
      'calico_ip_pools[0] (lb).allowed_uses: ["LoadBalancer", "Pods"] mixes LoadBalancer with other uses',
      'calico_ip_pools[0] (lb).allowed_uses: ["LoadBalancer", "Pods"] is LoadBalancer, which allows neither '
      'IPIP nor VXLAN']),
    (dict(ip_pools=[{'name': 'Bad_Name', 'cidr': '10.0.0.0/16', 'ipip_mode': 'always'}]),
     ["calico_ip_pools[0] (Bad_Name).name: 'Bad_Name' is not a valid resource name (lower-case letters, digits, "
      "'-' and '.', starting and ending with a letter or digit, at most 253 characters)",
      "calico_ip_pools[0] (Bad_Name).ipip_mode: 'always' is not one of Always, CrossSubnet, Never"]),
    (dict(felix_config={'prometheus_metrics_enabled': True}),
     ["calico_felix_config: 'prometheus_metrics_enabled' is not a field name of the Calico API: use camelCase "
      "('prometheusMetricsEnabled')"]),
])
def test_errors(params, messages):
    assert errors_of(**params) == messages


def test_pool_warnings_about_the_pool_calico_node_creates():
    assert pool_warnings(dict(pod_cidr='10.244.0.0/16')) == []
    assert pool_warnings(dict(pod_cidr='10.244.0.0/16', ip_pools=[{'name': 'default-ipv4-ippool',
                                                                   'cidr': '10.244.0.0/16'}])) == []
    assert pool_warnings(dict(pod_cidr='10.244.0.0/16', ip_pools=[{'name': 'pods', 'cidr': '10.244.0.0/16'}])) == [
        'calico_ip_pools has pods for calico_pod_cidr 10.244.0.0/16: calico-node names the pool it creates from '
        'it default-ipv4-ippool, which would overlap']
    assert pool_warnings(dict(pod_cidr='10.244.0.0/16', ip_pools=[{'name': 'x', 'cidr': '10.245.0.0/16'}])) == [
        'calico_pod_cidr 10.244.0.0/16 is in none of calico_ip_pools: calico-node creates pool '
        'default-ipv4-ippool from it when it starts before any pool exists']
