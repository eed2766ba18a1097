# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Edge inputs. ``BAD``: each one is refused by validate_resources with a message naming the
resource, the field and the value; tests/integration/test_calico_reference.py runs the same table
through the real calicoctl v3.31.0 and checks that it refuses each one too (the last column: the
datastore whose calicoctl refuses it: 'etcdv3' (libcalico-go's validation, so both datastores) or
'kubernetes' (the CRD schema the API server enforces, or a rule of libcalico-go's kubernetes
backend)). ``GOOD``: unusual but valid inputs, accepted here and by calicoctl, stored alike.
``STRICTER``: refused here on purpose although calicoctl on etcd takes them."""

import pytest


from ansible_collections.k8snet.calico.plugins.module_utils.calico import validation as v


def res(kind, name, spec=None, **metadata):
    resource = {'apiVersion': 'projectcalico.org/v3', 'kind': kind, 'metadata': dict(name=name, **metadata)}
    if spec is not None:
        resource['spec'] = spec
    return resource


PEER = {'peerIP': '192.0.2.1', 'asNumber': 65001}
POOL = {'cidr': '10.10.0.0/16'}

# (id, resource, fragment of the message, datastore whose calicoctl refuses it)
BAD = [
    # Any kind
    ('unknown-kind', dict(res('BGPPeers', 'x', PEER)), "kind: 'BGPPeers' is not a Calico resource kind", 'etcdv3'),
    ('api-version', dict(res('BGPPeer', 'x', PEER), apiVersion='projectcalico.org/v1'),
     "BGPPeer/x: apiVersion: 'projectcalico.org/v1' is not projectcalico.org/v3", 'etcdv3'),
    ('name-upper-case', res('BGPPeer', 'Tor-A', PEER), "metadata.name: 'Tor-A' is not a valid resource name", 'etcdv3'),
    ('name-underscore', res('BGPPeer', 'tor_a', PEER), "metadata.name: 'tor_a' is not a valid resource name", 'etcdv3'),
    ('name-too-long', res('BGPPeer', 'a' * 254, PEER), 'is not a valid resource name', 'etcdv3'),
    ('unknown-top-level', dict(res('BGPPeer', 'x', PEER), specs={}), "BGPPeer/x: specs is not a known field", 'etcdv3'),
    ('unknown-spec-field', res('BGPPeer', 'x', {'peerAddress': '192.0.2.1', 'asNumber': 65001}),
     "BGPPeer/x: spec.peerAddress is not a known field", 'etcdv3'),
    ('snake-case-field', res('IPPool', 'x', {'cidr': '10.10.0.0/16', 'nat_outgoing': True}),
     "IPPool/x: spec.nat_outgoing is not a known field did you mean ('natOutgoing')", 'etcdv3'),
    ('label-value', res('BGPPeer', 'x', PEER, labels={'rack': 'a b'}),
     "BGPPeer/x: metadata.labels.rack: 'a b' is not a valid label value", 'etcdv3'),
    ('label-key', res('BGPPeer', 'x', PEER, labels={'-rack': 'a'}), "metadata.labels: '-rack' is not a valid key", 'etcdv3'),
    ('label-not-string', res('BGPPeer', 'x', PEER, labels={'rack': [1]}), "metadata.labels.rack: [1] is not a string",
     'etcdv3'),
    # BGPPeer
    ('as-number-text', res('BGPPeer', 'x', {'peerIP': '192.0.2.1', 'asNumber': 'abc'}),
     "BGPPeer/x: spec.asNumber: 'abc' is not an AS number", 'etcdv3'),
    ('as-number-range', res('BGPPeer', 'x', {'peerIP': '192.0.2.1', 'asNumber': 4294967296}),
     'spec.asNumber: 4294967296 is not an AS number', 'etcdv3'),
    ('as-number-dotted', res('BGPPeer', 'x', {'peerIP': '192.0.2.1', 'asNumber': '65536.1'}),
     "spec.asNumber: '65536.1' is not an AS number", 'etcdv3'),
    ('peer-ip', res('BGPPeer', 'x', {'peerIP': '192.0.2.300', 'asNumber': 65001}),
     "BGPPeer/x: spec.peerIP: '192.0.2.300' is not an IP address", 'etcdv3'),
    ('peer-ip-port-0', res('BGPPeer', 'x', {'peerIP': '192.0.2.1:0', 'asNumber': 65001}),
     "spec.peerIP: '192.0.2.1:0' has port 0", 'etcdv3'),
    ('peer-ip-port-range', res('BGPPeer', 'x', {'peerIP': '[fd00::1]:70000', 'asNumber': 65001}),
     "spec.peerIP: '[fd00::1]:70000' has port 70000", 'etcdv3'),
    ('peer-ip-v6-port-unbracketed', res('BGPPeer', 'x', {'peerIP': '192.0.2.1::179', 'asNumber': 65001}),
     "spec.peerIP: '192.0.2.1::179' is not an IP address", 'etcdv3'),
    ('node-and-node-selector', res('BGPPeer', 'x', dict(PEER, node='node-1', nodeSelector="rack == 'a'")),
     "BGPPeer/x: spec.node: 'node-1' cannot be set together with spec.nodeSelector", 'etcdv3'),
    ('peer-ip-and-peer-selector', res('BGPPeer', 'x', {'peerIP': '192.0.2.1', 'peerSelector': 'has(rr)'}),
     "spec.peerIP: '192.0.2.1' cannot be set together with spec.peerSelector", 'etcdv3'),
    ('as-number-and-peer-selector', res('BGPPeer', 'x', {'asNumber': 65001, 'peerSelector': 'has(rr)'}),
     'spec.asNumber: 65001 cannot be set together with spec.peerSelector', 'etcdv3'),
    ('node-selector-syntax', res('BGPPeer', 'x', dict(PEER, nodeSelector="rack = 'a'")),
     "spec.nodeSelector: \"rack = 'a'\" is not a valid Calico selector: expected '=='", 'etcdv3'),
    ('peer-selector-unclosed', res('BGPPeer', 'x', {'peerSelector': 'has(rr'}),
     "spec.peerSelector: 'has(rr' is not a valid Calico selector", 'etcdv3'),
    ('selector-unquoted-value', res('BGPPeer', 'x', dict(PEER, nodeSelector='rack == a')),
     'expected a quoted string', 'etcdv3'),
    ('reachable-by-family', res('BGPPeer', 'x', dict(PEER, reachableBy='fd00::1')),
     "spec.reachableBy: 'fd00::1' is not of the IP family of spec.peerIP", 'etcdv3'),
    ('filter-name', res('BGPPeer', 'x', dict(PEER, filters=['F1'])), "spec.filters[0]: 'F1' is not a valid name", 'etcdv3'),
    ('next-hop-and-keep', res('BGPPeer', 'x', dict(PEER, keepOriginalNextHop=True, nextHopMode='Self')),
     'spec.keepOriginalNextHop: true cannot be true when spec.nextHopMode is set', 'etcdv3'),
    ('next-hop-mode', res('BGPPeer', 'x', dict(PEER, nextHopMode='Bogus')),
     "spec.nextHopMode: 'Bogus' is not one of Auto, Self, Keep", 'kubernetes'),
    ('source-address', res('BGPPeer', 'x', dict(PEER, sourceAddress='Node')),
     "spec.sourceAddress: 'Node' is not one of UseNodeIP, None", 'etcdv3'),
    ('ttl-security', res('BGPPeer', 'x', dict(PEER, ttlSecurity=300)), 'spec.ttlSecurity: 300 is out of range (0 to 255)',
     'etcdv3'),
    ('max-restart-time', res('BGPPeer', 'x', dict(PEER, maxRestartTime='2 minutes')),
     "spec.maxRestartTime: '2 minutes' is not a duration", 'etcdv3'),
    ('max-restart-time-number', res('BGPPeer', 'x', dict(PEER, maxRestartTime=120)),
     'spec.maxRestartTime: 120 is not a duration', 'etcdv3'),
    ('local-workload-without-as', res('BGPPeer', 'x', {'localWorkloadSelector': 'has(bgp)'}),
     'spec.asNumber: 0 is required when spec.localWorkloadSelector is set', 'etcdv3'),
    ('password-key-type', res('BGPPeer', 'x', dict(PEER, password={'secretKeyRef': {'name': 's', 'key': {'k': 5}}})),
     'spec.password.secretKeyRef.key: {"k": 5} is not a string', 'etcdv3'),
    # BGPConfiguration
    ('mesh-restart-time-without-mesh', res('BGPConfiguration', 'default', {
        'nodeToNodeMeshEnabled': False, 'nodeMeshMaxRestartTime': '120s'}),
     "BGPConfiguration/default: spec.nodeMeshMaxRestartTime: '2m0s' cannot be set when spec.nodeToNodeMeshEnabled is false",
     'etcdv3'),
    ('as-number-not-default', res('BGPConfiguration', 'node.node-1', {'asNumber': 65001}),
     "BGPConfiguration/node.node-1: spec.asNumber: 65001 can only be set in the BGPConfiguration named 'default'", 'etcdv3'),
    ('mesh-not-default', res('BGPConfiguration', 'other', {'nodeToNodeMeshEnabled': True}),
     "spec.nodeToNodeMeshEnabled: true can only be set in the BGPConfiguration named 'default'", 'etcdv3'),
    ('communities-unused', res('BGPConfiguration', 'default', {'communities': [{'name': 'c', 'value': '65001:1'}]}),
     'spec.communities: [{"name": "c", "value": "65001:1"}] are defined but not used', 'etcdv3'),
    ('community-value', res('BGPConfiguration', 'default', {
        'communities': [{'name': 'c', 'value': '65536:1'}],
        'prefixAdvertisements': [{'cidr': '10.96.0.0/12', 'communities': ['c']}]}),
     "spec.communities[0].value: '65536:1' is not a BGP community: each part of this form is a 16-bit number", 'etcdv3'),
    ('community-undefined', res('BGPConfiguration', 'default', {
        'prefixAdvertisements': [{'cidr': '10.96.0.0/12', 'communities': ['nope']}]}),
     "spec.prefixAdvertisements[0].communities[0]: 'nope' is neither a community value", 'etcdv3'),
    ('log-severity-case', res('BGPConfiguration', 'default', {'logSeverityScreen': 'info'}),
     "spec.logSeverityScreen: 'info' is not one of Trace, Debug, Info, Warning, Error, Fatal", 'etcdv3'),
    ('listen-port', res('BGPConfiguration', 'default', {'listenPort': 70000}),
     'spec.listenPort: 70000 is out of range (0 to 65535)', 'etcdv3'),
    ('service-cidr-host-bits', res('BGPConfiguration', 'default', {'serviceClusterIPs': [{'cidr': '10.96.0.1/12'}]}),
     "spec.serviceClusterIPs[0].cidr: '10.96.0.1/12' is not a network address", 'etcdv3'),
    ('ignored-interfaces-star', res('BGPConfiguration', 'default', {'ignoredInterfaces': ['*']}),
     "spec.ignoredInterfaces[0]: '*' is not an interface name or pattern", 'etcdv3'),
    ('lb-aggregation', res('BGPConfiguration', 'default', {'serviceLoadBalancerAggregation': 'On'}),
     "spec.serviceLoadBalancerAggregation: 'On' is not one of Enabled, Disabled", 'kubernetes'),
    # BGPFilter
    ('filter-action-missing', res('BGPFilter', 'f', {'exportV4': [{'cidr': '10.0.0.0/8', 'matchOperator': 'In'}]}),
     "BGPFilter/f: spec.exportV4[0].action: '' is required", 'etcdv3'),
    ('filter-action', res('BGPFilter', 'f', {'importV4': [{'action': 'Allow'}]}),
     "spec.importV4[0].action: 'Allow' is not one of Accept, Reject", 'etcdv3'),
    ('filter-cidr-without-operator', res('BGPFilter', 'f', {'exportV4': [{'action': 'Accept', 'cidr': '10.0.0.0/8'}]}),
     "spec.exportV4[0].matchOperator: '' is required when cidr is set", 'etcdv3'),
    ('filter-operator-without-cidr', res('BGPFilter', 'f', {'exportV4': [{'action': 'Accept', 'matchOperator': 'In'}]}),
     "spec.exportV4[0].cidr: '' is required when matchOperator is set", 'etcdv3'),
    ('filter-cidr-family', res('BGPFilter', 'f', {'exportV4': [
        {'action': 'Accept', 'cidr': 'fd00::/8', 'matchOperator': 'In'}]}),
     "spec.exportV4[0].cidr: 'fd00::/8' is not an IPv4 address or CIDR", 'etcdv3'),
    ('filter-prefix-length', res('BGPFilter', 'f', {'exportV4': [
        {'action': 'Accept', 'cidr': '10.0.0.0/8', 'matchOperator': 'In', 'prefixLength': {'min': 33}}]}),
     'spec.exportV4[0].prefixLength.min: 33 is not between 0 and 32', 'etcdv3'),
    ('filter-prefix-without-cidr', res('BGPFilter', 'f', {'exportV6': [{'action': 'Accept', 'prefixLength': {'max': 64}}]}),
     "spec.exportV6[0].cidr: '' is required when prefixLength is set", 'etcdv3'),
    ('filter-source', res('BGPFilter', 'f', {'importV4': [{'action': 'Accept', 'source': 'Peers'}]}),
     "spec.importV4[0].source: 'Peers' is not one of RemotePeers", 'etcdv3'),
    ('filter-interface', res('BGPFilter', 'f', {'importV4': [{'action': 'Accept', 'interface': 'averyveryverylongname'}]}),
     "spec.importV4[0].interface: 'averyveryverylongname' is not an interface name or pattern", 'etcdv3'),
    # IPPool
    ('pool-cidr', res('IPPool', 'p', {'cidr': '10.0.0.0/33'}), "IPPool/p: spec.cidr: '10.0.0.0/33' is not a valid IPv4/IPv6 CIDR",
     'etcdv3'),
    ('pool-cidr-missing', res('IPPool', 'p', {'natOutgoing': True}), "IPPool/p: spec.cidr: '' is required", 'etcdv3'),
    ('pool-cidr-address', res('IPPool', 'p', {'cidr': '10.0.0.1'}), "spec.cidr: '10.0.0.1' is not a valid IPv4/IPv6 CIDR",
     'etcdv3'),
    ('pool-host-bits', res('IPPool', 'p', {'cidr': '10.1.2.0/16'}),
     "spec.cidr: '10.1.2.0/16' is not strictly masked (host bits are set; did you mean '10.1.0.0/16'?)", 'etcdv3'),
    ('pool-block-size-v4-low', res('IPPool', 'p', dict(POOL, blockSize=19)),
     'spec.blockSize: 19 is not a valid IPv4 block size (20 to 32)', 'etcdv3'),
    ('pool-block-size-v4-high', res('IPPool', 'p', dict(POOL, blockSize=33)),
     'spec.blockSize: 33 is not a valid IPv4 block size (20 to 32)', 'etcdv3'),
    ('pool-block-size-v6', res('IPPool', 'p', {'cidr': 'fd00:10::/48', 'blockSize': 115}),
     'spec.blockSize: 115 is not a valid IPv6 block size (116 to 128)', 'etcdv3'),
    ('pool-smaller-than-block', res('IPPool', 'p', {'cidr': '10.10.0.0/28'}),
     "spec.cidr: '10.10.0.0/28' is smaller than one block of spec.blockSize /26", 'etcdv3'),
    ('pool-ipip-and-vxlan', res('IPPool', 'p', dict(POOL, ipipMode='Always', vxlanMode='CrossSubnet')),
     "spec.vxlanMode: 'CrossSubnet' cannot be enabled together with spec.ipipMode 'Always'", 'etcdv3'),
    ('pool-ipip-v6', res('IPPool', 'p', {'cidr': 'fd00:10::/48', 'ipipMode': 'Always'}),
     "spec.ipipMode: 'Always' is not supported on an IPv6 pool", 'etcdv3'),
    ('pool-link-local', res('IPPool', 'p', {'cidr': '169.254.0.0/20'}),
     "spec.cidr: '169.254.0.0/20' overlaps the link-local range 169.254.0.0/16", 'etcdv3'),
    ('pool-node-selector', res('IPPool', 'p', dict(POOL, nodeSelector='rack ==')),
     "spec.nodeSelector: 'rack ==' is not a valid Calico selector", 'etcdv3'),
    ('pool-node-selector-global', res('IPPool', 'p', dict(POOL, nodeSelector='global()')),
     "spec.nodeSelector: 'global()' uses global()", 'etcdv3'),
    ('pool-allowed-use', res('IPPool', 'p', dict(POOL, allowedUses=['Pods'])),
     "spec.allowedUses[0]: 'Pods' is not one of Workload, Tunnel, LoadBalancer", 'etcdv3'),
    ('pool-load-balancer-mixed', res('IPPool', 'p', dict(POOL, allowedUses=['LoadBalancer', 'Workload'])),
     'spec.allowedUses: ["LoadBalancer", "Workload"] cannot combine LoadBalancer with Workload', 'etcdv3'),
    ('pool-mode-case', res('IPPool', 'p', dict(POOL, ipipMode='always')),
     "spec.ipipMode: 'always' is not one of Always, CrossSubnet, Never", 'etcdv3'),
    ('pool-v1-ipip', res('IPPool', 'p', dict(POOL, ipip={'enabled': True})),
     'spec.ipip: {"enabled": true} is a Calico API v1 field that calicoctl refuses: use spec.ipipMode', 'etcdv3'),
    ('pool-assignment-mode', res('IPPool', 'p', dict(POOL, assignmentMode='Auto')),
     "spec.assignmentMode: 'Auto' is not one of Automatic, Manual", 'etcdv3'),
    ('pool-namespace-selector-tunnel', res('IPPool', 'p', dict(POOL, namespaceSelector="team == 'a'")),
     "spec.namespaceSelector: \"team == 'a'\" cannot be set on a pool whose allowedUses include Tunnel", 'etcdv3'),
    ('pool-nat-outgoing-text', res('IPPool', 'p', dict(POOL, natOutgoing='yes')),
     "spec.natOutgoing: 'yes' is not a boolean", 'etcdv3'),
    ('pool-block-size-text', res('IPPool', 'p', dict(POOL, blockSize='26')),
     "spec.blockSize: '26' is not an integer", 'etcdv3'),
    # IPReservation
    ('reservation-cidr', res('IPReservation', 'r', {'reservedCIDRs': ['10.0.0.300']}),
     "IPReservation/r: spec.reservedCIDRs[0]: '10.0.0.300' is not an IP address or CIDR", 'etcdv3'),
    # FelixConfiguration
    ('felix-unknown-field', res('FelixConfiguration', 'default', {'logSeverity': 'Info'}),
     "FelixConfiguration/default: spec.logSeverity is not a known field", 'etcdv3'),
    ('felix-duration', res('FelixConfiguration', 'default', {'reportingInterval': 'soon'}),
     "spec.reportingInterval: 'soon' is not a duration", 'etcdv3'),
    ('felix-log-level', res('FelixConfiguration', 'default', {'logSeverityScreen': 'Verbose'}),
     "spec.logSeverityScreen: 'Verbose' is not one of Trace, Debug, Info, Warning, Error, Fatal", 'etcdv3'),
    ('felix-int-type', res('FelixConfiguration', 'default', {'healthPort': '9099'}),
     "spec.healthPort: '9099' is not an integer", 'etcdv3'),
    ('felix-bool-type', res('FelixConfiguration', 'default', {'bpfEnabled': 'true'}),
     "spec.bpfEnabled: 'true' is not a boolean", 'etcdv3'),
    ('felix-node-port-ranges', res('FelixConfiguration', 'default', {'kubeNodePortRanges': [
        1, 2, 3, 4, 5, 6, 7, 8]}), 'spec.kubeNodePortRanges: [1, 2, 3, 4, 5, 6, 7, 8] has more than 7 ranges', 'etcdv3'),
    ('felix-node-port-named', res('FelixConfiguration', 'default', {'kubeNodePortRanges': ['http']}),
     'spec.kubeNodePortRanges: ["http"] cannot contain named ports', 'etcdv3'),
    ('felix-port-range-order', res('FelixConfiguration', 'default', {'kubeNodePortRanges': ['32000:31000']}),
     "spec.kubeNodePortRanges[0]: '32000:31000' is a port range whose minimum is greater than its maximum", 'etcdv3'),
    ('felix-port-zero', res('FelixConfiguration', 'default', {'natPortRange': 0}),
     'spec.natPortRange: 0 is not a port number (1 to 65535)', 'etcdv3'),
    ('felix-port-range-zero', res('FelixConfiguration', 'default', {'kubeNodePortRanges': ['0:10']}),
     "spec.kubeNodePortRanges[0]: '0:10' is not a port range (port numbers 1 to 65535)", 'etcdv3'),
    ('felix-route-table-range', res('FelixConfiguration', 'default', {'routeTableRange': {'min': 0, 'max': 300}}),
     'spec.routeTableRange: {"max": 300, "min": 0} must be a range of route table indices within 1..250', 'etcdv3'),
    ('felix-route-table-both', res('FelixConfiguration', 'default', {
        'routeTableRange': {'min': 1, 'max': 250}, 'routeTableRanges': [{'min': 1, 'max': 250}]}),
     'spec.routeTableRange: {"max": 250, "min": 1} cannot be set together with spec.routeTableRanges', 'etcdv3'),
    ('felix-nat-outgoing-address', res('FelixConfiguration', 'default', {'natOutgoingAddress': 'fd00::1'}),
     "spec.natOutgoingAddress: 'fd00::1' is an IPv6 address, not IPv4", 'etcdv3'),
    ('felix-iptables-backend-case', res('FelixConfiguration', 'default', {'iptablesBackend': 'nft'}),
     "spec.iptablesBackend: 'nft' is not one of Auto, NFT, Legacy", 'etcdv3'),
    ('felix-bpf-log-level', res('FelixConfiguration', 'default', {'bpfLogLevel': 'Trace'}),
     "spec.bpfLogLevel: 'Trace' is not one of Debug, Info, Off", 'etcdv3'),
    ('felix-wireguard-port-zero', res('FelixConfiguration', 'default', {'wireguardListeningPort': 0}),
     'spec.wireguardListeningPort: 0 is not between 1 and 65535', 'etcdv3'),
    ('felix-duration-fraction', res('FelixConfiguration', 'default', {'reportingInterval': '1.5s'}),
     "spec.reportingInterval: '1.5s' does not match the pattern of the CRD", 'kubernetes'),
    ('felix-openstack-region', res('FelixConfiguration', 'default', {'openstackRegion': 'Region_1'}),
     "spec.openstackRegion: 'Region_1' is not a DNS label", 'etcdv3'),
    ('felix-external-nodes-v6', res('FelixConfiguration', 'default', {'externalNodesList': ['fd00::/64']}),
     "spec.externalNodesList[0]: 'fd00::/64' is not an IPv4 address or CIDR", 'etcdv3'),
    ('felix-health-timeout-name', res('FelixConfiguration', 'default', {'healthTimeoutOverrides': [
        {'name': 'a/b', 'timeout': '10s'}]}),
     "spec.healthTimeoutOverrides[0].name: 'a/b' is not a name of letters", 'etcdv3'),
    ('felix-export-buffer', res('FelixConfiguration', 'default', {'bpfExportBufferSizeMB': 1}),
     'spec.bpfExportBufferSizeMB: 1 cannot be set with calicoctl v3.31', 'etcdv3'),
    # KubeControllersConfiguration
    ('kcc-name', res('KubeControllersConfiguration', 'kcc', {'controllers': {}}),
     "KubeControllersConfiguration/kcc: metadata.name: 'kcc' is not allowed: a KubeControllersConfiguration must be named 'default'",
     'etcdv3'),
    ('kcc-health-checks', res('KubeControllersConfiguration', 'default', {'healthChecks': 'On', 'controllers': {}}),
     "spec.healthChecks: 'On' is not one of Enabled, Disabled", 'etcdv3'),
    ('kcc-sync-labels-kubernetes', res('KubeControllersConfiguration', 'default', {'controllers': {'node': {
        'syncLabels': 'Disabled'}}}),
     'spec.controllers.node.syncLabels: \'Disabled\' cannot be Disabled in the kubernetes datastore', 'kubernetes'),
    ('kcc-template-name', res('KubeControllersConfiguration', 'default', {'controllers': {'node': {'hostEndpoint': {
        'templates': [{'interfaceCIDRs': ['10.0.0.0/8']}]}}}}),
     "spec.controllers.node.hostEndpoint.templates[0].generateName: '' is required", 'etcdv3'),
    ('kcc-template-interfaces', res('KubeControllersConfiguration', 'default', {'controllers': {'node': {'hostEndpoint': {
        'templates': [{'generateName': 't'}]}}}}),
     'spec.controllers.node.hostEndpoint.templates[0]: {"generateName": "t"} needs interfaceCIDRs or interfacePattern',
     'etcdv3'),
    ('kcc-template-unique', res('KubeControllersConfiguration', 'default', {'controllers': {'node': {'hostEndpoint': {
        'templates': [{'generateName': 't', 'interfacePattern': 'eth.*'},
                      {'generateName': 't', 'interfacePattern': 'ens.*'}]}}}}),
     "templates[1].generateName: 't' is not unique", 'etcdv3'),
    # Node
    ('node-bgp-empty', res('Node', 'node-9', {'bgp': {}}), 'Node/node-9: spec.bgp: {} is empty', 'etcdv3'),
    ('node-ipv4-family', res('Node', 'node-9', {'bgp': {'ipv4Address': 'fd00::9/64'}}),
     "spec.bgp.ipv4Address: 'fd00::9/64' is not an IPv4 address or CIDR", 'etcdv3'),
    ('node-rr-cluster-id', res('Node', 'node-9', {'bgp': {
        'ipv4Address': '192.0.2.9/24', 'routeReflectorClusterID': '224.0.0.1/32'}}),
     "spec.bgp.routeReflectorClusterID: '224.0.0.1/32' is not an IP address", 'etcdv3'),
    ('node-as-number', res('Node', 'node-9', {'bgp': {'ipv4Address': '192.0.2.9/24', 'asNumber': -1}}),
     'spec.bgp.asNumber: -1 is not an AS number', 'etcdv3'),
]

# Unusual but valid: accepted by calicoctl on both datastores, and stored as the canonical form.
GOOD = [
    res('BGPPeer', 'g1', {'peerIP': 'fd00::1', 'asNumber': '0.1', 'nodeSelector': "rack startswith 'a'\t&& !has(x)"}),
    res('BGPPeer', 'g2', {'peerIP': '[fd00::1]:179', 'asNumber': 4294967295, 'nodeSelector': 'global()'}),
    res('BGPPeer', 'g3', {'peerIP': '192.0.2.1:0179', 'asNumber': 1, 'nodeSelector': 'a in {}', 'sourceAddress': 'None'},
        labels={'example.com/role': 'tor', 'num': 1, 'b': True}),
    res('BGPPeer', 'g4', {'peerSelector': 'has(rr)', 'asNumber': 0, 'node': 'node-1'}),
    res('IPPool', 'g5', {'cidr': '10.77.0.1/32', 'blockSize': 32}),
    res('IPPool', 'g6', {'cidr': 'fd00:77::1/128', 'blockSize': 128, 'vxlanMode': 'CrossSubnet'}),
    res('IPReservation', 'g7', {'reservedCIDRs': ['fd00:77::/64', '10.77.0.1/32']}),
    res('FelixConfiguration', 'node.g8', {
        'reportingInterval': '0s', 'routeRefreshInterval': '0', 'featureGates': 'a=b,c=d', 'iptablesBackend': 'Auto',
        'logSeverityScreen': 'Fatal', 'bpfLogFilters': {'eth0': 'tcp'}, 'routeTableRanges': [{'min': 1, 'max': 1000}],
        'healthHost': '0.0.0.0', 'prometheusMetricsHost': '::', 'natPortRange': 'http', 'interfacePrefix': 'cali,tap',
        'chainInsertMode': 'append', 'bpfEnforceRPF': 'strict', 'featureDetectOverride': 'ChecksumOffloadBroken=true,',
        'dataplaneWatchdogTimeout': '1.5s', 'nftablesRefreshInterval': '1.5s', 'bpfLogLevel': 'Off', 'goGCThreshold': -1,
        'externalNodesList': ['10.0.0.0/8', '10.1.1.1'], 'bpfConntrackTimeouts': {'tcpEstablished': '1h'},
        'failsafeOutboundHostPorts': [{'protocol': 'ICMP', 'port': 0}]}),
    res('KubeControllersConfiguration', 'default', {
        'controllers': {'loadBalancer': {'assignIPs': 'RequestedServicesOnly'}, 'node': {'syncLabels': 'Enabled', 'hostEndpoint': {
            'createDefaultHostEndpoint': 'Disabled',
            'templates': [{'generateName': 'x', 'interfacePattern': '^eth[0-9]+$', 'nodeSelector': "role == 'edge'"}]}}},
        'debugProfilePort': 6060, 'prometheusMetricsPort': 0}),
    res('BGPConfiguration', 'default', {
        'ignoredInterfaces': ['eth*'], 'localWorkloadPeeringIPV4': '169.254.0.179', 'bindMode': 'anything',
        'serviceLoadBalancerIPs': [{'cidr': '192.0.2.10'}], 'communities': [{'name': 'big', 'value': '4294967295:1:2'}],
        'prefixAdvertisements': [{'cidr': '192.0.2.10', 'communities': ['big', '1:1']}], 'nodeToNodeMeshEnabled': True,
        'nodeMeshPassword': {'secretKeyRef': {'name': 's', 'key': 'k'}}}),
    res('Node', 'g11', {'bgp': {'ipv4Address': '192.0.2.9', 'ipv6Address': 'fd00::9', 'ipv4IPIPTunnelAddr': '10.0.0.1'}}),
    res('BGPFilter', 'g12', {
        'exportV6': [{'action': 'Accept', 'cidr': 'fd00::/8', 'matchOperator': 'NotIn', 'prefixLength': {'min': 0, 'max': 128}}],
        'importV4': [{'action': 'Reject', 'interface': '*'}]}),
]

# Refused here on purpose although calicoctl on etcd takes them (documented choices).
STRICTER = [
    # calicoctl matches field names without regard to case ('peerIp' is taken as peerIP).
    ('field-name-case', res('BGPPeer', 'x', {'peerIp': '192.0.2.1', 'asNumber': 65001}),
     "BGPPeer/x: spec.peerIp is not a known field (did you mean 'peerIP'?)"),
    ('node-other-fields', res('Node', 'node-9', {'bgp': {'ipv4Address': '192.0.2.9/24'}, 'vxlanTunnelMACAddr': 'aa:bb:cc:dd:ee:ff'}),
     "Node/node-9: spec.vxlanTunnelMACAddr is not a known field"),
    ('node-absent', res('Node', 'node-9'), 'Node resources are never deleted by this module'),
    ('read-only', res('ClusterInformation', 'default', {}), 'ClusterInformation is read-only'),
    ('duplicate', [res('BGPPeer', 'x', PEER), res('BGPPeer', 'x', PEER)],
     'BGPPeer/x: is given twice in the batch (resources #1 and #2)'),
    ('pool-overlap-in-batch', [res('IPPool', 'a', {'cidr': '10.1.0.0/16'}), res('IPPool', 'b', {'cidr': '10.1.2.0/24'})],
     "IPPool/b: spec.cidr: '10.1.2.0/24' overlaps IPPool/a (10.1.0.0/16) of the same batch"),
    ('namespace', res('BGPPeer', 'x', PEER, namespace='default'),
     "BGPPeer/x: metadata.namespace: 'default' is not allowed: BGPPeer is a cluster-wide kind"),
]


def _state(case_id):
    return 'absent' if case_id == 'node-absent' else 'present'


def refusal(resources, state='present', datastore=None):
    with pytest.raises(v.ValidationErrors) as info:
        v.validate_resources(resources, state, datastore=datastore)
    return info.value.messages


@pytest.mark.parametrize('case_id, resource, fragment, refused_by', BAD, ids=[case[0] for case in BAD])
def test_bad_input_is_refused_with_resource_field_and_value(case_id, resource, fragment, refused_by):
    messages = refusal([resource], datastore='kubernetes' if refused_by == 'kubernetes' else None)
    assert any(fragment in message for message in messages), messages


@pytest.mark.parametrize('case_id, resources, fragment', STRICTER, ids=[case[0] for case in STRICTER])
def test_stricter_than_calicoctl(case_id, resources, fragment):
    messages = refusal(resources if isinstance(resources, list) else [resources], _state(case_id))
    assert any(fragment in message for message in messages), messages


def test_the_whole_batch_is_validated_and_every_error_reported():
    good = [res('BGPPeer', 'peer-%d' % index, PEER) for index in range(20)]
    batch = good[:7] + [res('BGPPeer', 'bad-as', {'peerIP': '192.0.2.1', 'asNumber': 'x'})] + good[7:] + [
        res('IPPool', 'p', {'cidr': '10.0.0.0/33'}), 'not a resource']
    messages = refusal(batch)
    assert messages == [
        "BGPPeer/bad-as: spec.asNumber: 'x' is not an AS number (0 to 4294967295, or dotted a.b with a and b 0 to 65535)",
        "IPPool/p: spec.cidr: '10.0.0.0/33' is not a valid IPv4/IPv6 CIDR (network/prefix length)",
        "resource #23: 'not a resource' is not a mapping (a Calico resource with apiVersion, kind, metadata, spec)",
    ]


def test_a_resource_without_a_name_is_named_by_its_position():
    messages = refusal([res('BGPPeer', 'a', PEER), {'apiVersion': 'projectcalico.org/v3', 'kind': 'BGPPeer',
                                                    'metadata': {}, 'spec': {'asNumber': 'x'}}])
    assert messages == ['resource #2 (BGPPeer): metadata.name is required',
                        "resource #2 (BGPPeer): spec.asNumber: 'x' is not an AS number (0 to 4294967295, or dotted "
                        "a.b with a and b 0 to 65535)"]


def test_datastore_rules_apply_only_to_their_datastore():
    config = res('KubeControllersConfiguration', 'default', {'controllers': {'node': {'syncLabels': 'Disabled'}}})
    assert v.validate_resources([config], 'present', datastore='etcdv3')[0]['spec']['controllers']['node'] == \
        {'syncLabels': 'Disabled', 'leakGracePeriod': '15m0s'}
    assert refusal([config], 'patched', datastore='kubernetes')


@pytest.mark.parametrize('resource', GOOD, ids=[item['kind'] + '/' + item['metadata']['name'] for item in GOOD])
def test_unusual_valid_input_is_accepted(resource):
    assert v.validate_resources([resource], 'present', datastore='kubernetes')
