# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Validation of whole Calico resources, as calicoctl v3.31 validates them, without the CRDs.

Each kind has a field table (``SPECS``) written from its Go struct in
api/pkg/apis/projectcalico/v3/<kind>.go (libcalico-go/lib/apis/v3/node.go for Node): JSON name,
Go type and the checks of its ``validate:`` tag (libcalico-go/lib/validator/v3/validator.go) or of
its ``+kubebuilder`` marker (what the API server enforces in the kubernetes datastore). The table
drives the canonical form, which is what Go's encoding of the struct gives: omitempty fields with a
zero value dropped, fields without omitempty always present, durations as time.Duration.String(),
AS numbers and ports as numbers. calicoctl refuses fields its structs do not have (it decodes
strictly), and so does this module. The cross-field rules of each kind (the validator's struct
validators and the checks of libcalico-go/lib/clientv3/<kind>.go) are the ``_rules_*`` functions.

Type codes of a field table:
  'str' 'bool' 'int' 'uint16' 'asn'   omitempty, the zero value is dropped
  'str!' 'int!' 'uint16!' 'duration!' always written (no omitempty)
  '*str' '*bool' '*int' '*int32' '*uint8' '*uint32' '*duration' '*asn' '*port' '*map'
                                      pointers: absent when not given, a zero value is kept
  'map' 'port'                        map[string]string (omitempty), numorstring.Port
  ('list', item) ('*list', item)      slice (omitempty: an empty one is dropped) / pointer to one
  ('*struct', fields) ('struct!', fields)  pointer to a struct / a struct always written
A field is ``type`` or ``(type, check, ...)``; a check takes the canonical value and returns it or
raises InvalidValue.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import difflib
import ipaddress
import json
import re

from ansible_collections.k8snet.calico.plugins.module_utils.calico import defaults as calico_defaults
from ansible_collections.k8snet.calico.plugins.module_utils.calico import kinds as calico_kinds
from ansible_collections.k8snet.calico.plugins.module_utils.calico import validation as v
from ansible_collections.k8snet.calico.plugins.module_utils.calico.validation import InvalidValue

STATES = ('present', 'absent', 'patched')
TOP_LEVEL = ('apiVersion', 'kind', 'metadata', 'spec', 'status')
# Metadata the datastore or Calico writes: accepted in input (e.g. `calicoctl get -o yaml` output)
# and dropped, as calicoctl drops them (calicoctl/calicoctl/resourcemgr/resourcemgr.go:
# prepareMetadataForCreate keeps only name, namespace, resourceVersion, labels and annotations).
SERVER_METADATA = ('uid', 'resourceVersion', 'creationTimestamp', 'generation', 'managedFields', 'selfLink',
                   'deletionTimestamp', 'deletionGracePeriodSeconds', 'ownerReferences', 'finalizers')
ANNOTATIONS_SIZE_LIMIT = 256 * 1024
# Node annotation libcalico-go adds on read in the kubernetes datastore (the Kubernetes labels).
KUBE_LABELS_ANNOTATION = 'projectcalico.org/kube-labels'

_INT_RANGES = {'int': (-(1 << 63), (1 << 63) - 1), 'int32': (-(1 << 31), (1 << 31) - 1), 'uint8': (0, 255),
               'uint16': (0, 65535), 'uint32': (0, (1 << 32) - 1)}


class _Delete:
    """The value None of a patch: remove the field (JSON merge patch)."""


# ---------------------------------------------------------------------------------------------
# Checks used by the tables.
# ---------------------------------------------------------------------------------------------

def enum(*allowed):
    def check(value):
        if value not in allowed:
            raise InvalidValue('is not one of %s' % ', '.join(allowed))
        return value
    return check


def optional(check):
    """A check that lets '' through (a field without omitempty whose tag has 'omitempty')."""
    def check_unless_empty(value):
        return check(value) if value != '' else value
    return check_unless_empty


def pattern(regex, what=None):
    """A ``+kubebuilder:validation:Pattern`` (Go RE2 syntax; (?i) at the start is honoured)."""
    flags = 0
    text = regex
    if text.startswith('^(?i)'):
        flags, text = re.IGNORECASE, '^' + text[len('^(?i)'):]
    compiled = re.compile(text, flags)

    def check(value):
        if not compiled.search(value):
            raise InvalidValue('does not match %s' % (what or v.show(regex)))
        return value
    return check


def int_range(low, high):
    def check(value):
        if (low is not None and value < low) or (high is not None and value > high):
            if high is None:
                raise InvalidValue('is less than %d' % low)
            if low is None:
                raise InvalidValue('is more than %d' % high)
            raise InvalidValue('is not between %d and %d' % (low, high))
        return value
    return check


class each:
    """A check of every item of a list (errors name the item: spec.filters[1])."""

    def __init__(self, check):
        self.check = check

    def __call__(self, items):
        for item in items:
            self.check(item)
        return items


def _regex_check(regex, what):
    compiled = re.compile(regex)

    def check(value):
        if not compiled.match(value):
            raise InvalidValue('is not %s' % what)
        return value
    return check


def _name(value):
    """validateName: the RFC 1123 subdomain regex, no length limit (libcalico-go validator.go)."""
    if not re.match(r'^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$', value):
        raise InvalidValue("is not a valid name (lower-case letters, digits, '-' and '.', starting and "
                           "ending with a letter or digit)")
    return value


def _selector(value):
    return v.selector_syntax(value)


def _no_global(value):
    if 'global(' in value:
        raise InvalidValue('uses global(), which is not valid here: use all()')
    return value


LOG_LEVEL = enum(*v.LOG_LEVELS)
GO_REGEXP = v.go_regexp
INTERFACE = _regex_check(r'^(\*|[a-zA-Z0-9_.-]{1,15})$', "an interface name (1 to 15 of a-z, A-Z, 0-9, '_', '.', '-') or '*'")
BGP_FILTER_INTERFACE = _regex_check(r'^(\*|[a-zA-Z0-9_.*-]{1,15})$',
                                    "an interface name or pattern (1 to 15 of a-z, A-Z, 0-9, '_', '.', '-', '*')")
IFACE_FILTER = _regex_check(r'^[a-zA-Z0-9:._+-]{1,15}$', "an interface filter (1 to 15 of a-z, A-Z, 0-9, ':', '.', '_', '+', '-')")
IFACE_FILTER_SLICE = each(IFACE_FILTER)
PROMETHEUS_HOST = _regex_check(r'^[a-zA-Z0-9:._+-]{1,64}$', 'a host name or IP address')
KEY_VALUE_LIST = _regex_check(r'^(\s*\w+=[^,]*)?(,(\s*\w+=[^,]*)?)*$|^\s*$', 'a comma-separated list of key=value')
CIDRS = each(v.cidr_or_ip)
DURATION_PATTERN = pattern(r'^([0-9]+(\\.[0-9]+)?(ms|s|m|h))*$',
                           'the pattern of the CRD (whole numbers of h, m, s or ms, e.g. 90s, 1m30s, 500ms)')


def _ignored_interface(value):
    if value == '*' or not re.match(r'^[a-zA-Z0-9_.*-]{1,15}$', value):
        raise InvalidValue("is not an interface name or pattern (1 to 15 of a-z, A-Z, 0-9, '_', '.', '-', '*'; "
                           "not '*' alone)")
    return value


def _go_panics(value):
    # api/pkg/apis/projectcalico/v3/felixconfig.go tags bpfExportBufferSizeMB (an int) with the
    # 'cidrs' validator, which only handles string lists: calicoctl v3.31.0 crashes on it.
    raise InvalidValue('cannot be set with calicoctl v3.31 (its validator fails on this field)')


def _bpf_log_filters(value):
    for key in value:
        INTERFACE(key)
    return value


# ---------------------------------------------------------------------------------------------
# Field tables.
# ---------------------------------------------------------------------------------------------

SECRET_KEY_REF = {  # k8s.io/api/core/v1 SecretKeySelector
    'name': 'str',
    'key': 'str!',
    'optional': '*bool',
}
BGP_PASSWORD = {'secretKeyRef': ('*struct', SECRET_KEY_REF)}

# api/pkg/apis/projectcalico/v3/bgpconfig.go
BGP_CONFIGURATION = {
    'logSeverityScreen': ('str', LOG_LEVEL),
    'nodeToNodeMeshEnabled': '*bool',
    'asNumber': '*asn',
    'serviceLoadBalancerIPs': ('list', {'cidr': ('str', lambda value: v.cidr_or_ip(value, strict=True))}),
    'serviceExternalIPs': ('list', {'cidr': ('str', lambda value: v.cidr_or_ip(value, strict=True))}),
    'serviceClusterIPs': ('list', {'cidr': ('str', lambda value: v.cidr_or_ip(value, strict=True))}),
    'serviceLoadBalancerAggregation': ('*str', enum('Enabled', 'Disabled')),
    'communities': ('list', {'name': ('str', _name), 'value': 'str'}),
    'prefixAdvertisements': ('list', {'cidr': ('str', lambda value: v.cidr_or_ip(value, strict=True)),
                                      'communities': ('list', 'str!')}),
    'listenPort': ('uint16', int_range(1, 65535)),
    'nodeMeshPassword': ('*struct', BGP_PASSWORD),
    'nodeMeshMaxRestartTime': '*duration',
    'bindMode': '*str',  # None or NodeIP, but neither calicoctl nor the CRD checks it
    'ignoredInterfaces': (('list', 'str!'), each(_ignored_interface)),
    'localWorkloadPeeringIPV4': ('str', v.ipv4_address),
    'localWorkloadPeeringIPV6': ('str', v.ipv6_address),
}

# api/pkg/apis/projectcalico/v3/bgppeer.go
BGP_PEER = {
    'node': ('str', _name),
    'nodeSelector': ('str', _selector),
    'peerIP': ('str', v.peer_ip),
    'asNumber': 'asn',
    'localASNumber': '*asn',
    'peerSelector': ('str', _selector),
    'keepOriginalNextHop': 'bool',
    'nextHopMode': ('*str', enum('Auto', 'Self', 'Keep')),
    'password': ('*struct', BGP_PASSWORD),
    'sourceAddress': ('str', enum('UseNodeIP', 'None')),
    'maxRestartTime': '*duration',
    'numAllowedLocalASNumbers': '*int32',
    'ttlSecurity': '*uint8',
    'reachableBy': ('str', v.ip_address),
    'filters': (('list', 'str!'), each(_name)),
    'localWorkloadSelector': ('str', _selector),
    'reversePeering': ('*str', enum('Auto', 'Manual')),
}


def _bgp_filter_rule(version):
    # api/pkg/apis/projectcalico/v3/bgpfilter.go: BGPFilterRuleV4 / BGPFilterRuleV6
    high = 32 if version == 4 else 128
    return {
        'cidr': ('str', lambda value: v.cidr_or_ip(value, version=version, strict=True)),
        'prefixLength': ('*struct', {'min': ('*int32', int_range(0, high)), 'max': ('*int32', int_range(0, high))}),
        'source': ('str', enum('RemotePeers')),
        'interface': ('str', BGP_FILTER_INTERFACE),
        'matchOperator': ('str', enum('Equal', 'NotEqual', 'In', 'NotIn')),
        'action': ('str!', enum('Accept', 'Reject')),
    }


BGP_FILTER = {
    'exportV4': ('list', _bgp_filter_rule(4)),
    'importV4': ('list', _bgp_filter_rule(4)),
    'exportV6': ('list', _bgp_filter_rule(6)),
    'importV6': ('list', _bgp_filter_rule(6)),
}

# api/pkg/apis/projectcalico/v3/ippool.go (ipip and nat-outgoing are the v1 fields the validator
# refuses: mustBeNil, mustBeFalse)
IP_POOL = {
    'cidr': 'str',
    'vxlanMode': ('str', enum('Always', 'CrossSubnet', 'Never')),
    'ipipMode': ('str', enum('Always', 'CrossSubnet', 'Never')),
    'natOutgoing': 'bool',
    'disabled': 'bool',
    'disableBGPExport': 'bool',
    'blockSize': 'int',
    'nodeSelector': ('str', _selector, _no_global),
    'namespaceSelector': ('str', _selector, _no_global),
    'allowedUses': (('list', 'str!'), each(enum('Workload', 'Tunnel', 'LoadBalancer'))),
    'assignmentMode': ('*str', enum('Automatic', 'Manual')),
}
IP_POOL_V1_FIELDS = {'ipip': 'ipipMode', 'nat-outgoing': 'natOutgoing'}

# api/pkg/apis/projectcalico/v3/ipreservation.go
IP_RESERVATION = {
    'reservedCIDRs': (('list', 'str!'), CIDRS),
}

# libcalico-go/lib/apis/v3/node.go: NodeBGPSpec. The module manages only spec.bgp of a Node.
NODE = {
    'bgp': ('*struct', {
        'asNumber': '*asn',
        'ipv4Address': ('str', lambda value: v.cidr_or_ip(value, version=4)),
        'ipv6Address': ('str', lambda value: v.cidr_or_ip(value, version=6)),
        'ipv4IPIPTunnelAddr': ('str', v.ipv4_address),
        'routeReflectorClusterID': ('str', v.ipv4_address),
    }),
}

# api/pkg/apis/projectcalico/v3/kubecontrollersconfig.go
_RECONCILER = {'reconcilerPeriod': '*duration'}
KUBE_CONTROLLERS_CONFIGURATION = {
    'logSeverityScreen': ('str', LOG_LEVEL),
    'healthChecks': ('str', enum('Enabled', 'Disabled')),
    'etcdV3CompactionPeriod': '*duration',
    'prometheusMetricsPort': '*int',
    'controllers': ('struct!', {
        'node': ('*struct', {
            'reconcilerPeriod': '*duration',
            'syncLabels': ('str', enum('Enabled', 'Disabled')),
            'hostEndpoint': ('*struct', {
                'autoCreate': ('str', enum('Enabled', 'Disabled')),
                'createDefaultHostEndpoint': ('str', enum('Enabled', 'Disabled')),
                'templates': ('list', {
                    'generateName': ('str', _name),
                    'interfaceCIDRs': (('list', 'str!'), CIDRS),
                    'interfacePattern': ('str', GO_REGEXP),
                    'labels': 'map',
                    'nodeSelector': ('str', _selector),
                }),
            }),
            'leakGracePeriod': '*duration',
        }),
        'policy': ('*struct', _RECONCILER),
        'workloadEndpoint': ('*struct', _RECONCILER),
        'serviceAccount': ('*struct', _RECONCILER),
        'namespace': ('*struct', _RECONCILER),
        'loadBalancer': ('*struct', {'assignIPs': ('str', enum('AllServices', 'RequestedServicesOnly'))}),
    }),
    'debugProfilePort': '*int32',
}


def _not_negative_duration(value):
    if value.startswith('-'):
        raise InvalidValue('is negative')
    return value


# api/pkg/apis/projectcalico/v3/felixconfig.go: FelixConfigurationSpec, v3.31.0 (168 fields), in
# the struct's order. Generated from the Go source (field, type, validate tag, +kubebuilder
# Pattern/Enum) and reviewed by hand.
# calicoctl does not check the items of failsafe*HostPorts (the field has no 'dive' tag): any protocol.
PROTO_PORT = {'protocol': 'str', 'port': 'uint16!', 'net': 'str'}
HEALTH_TIMEOUT_OVERRIDE = {'name': ('str!', _regex_check(r'^[a-zA-Z0-9_ -]+$', "a name of letters, digits, '_', ' ' or '-'")),
                           'timeout': ('duration!', _not_negative_duration)}
ROUTE_TABLE_RANGE = {'min': 'int!', 'max': 'int!'}
ROUTE_TABLE_ID_RANGE = {'min': 'int!', 'max': 'int!'}
BPF_CONNTRACK_TIMEOUTS = dict((name, '*str') for name in (
    'creationGracePeriod', 'tcpSynSent', 'tcpEstablished', 'tcpFinsSeen', 'tcpResetSeen', 'udpTimeout',
    'genericTimeout', 'icmpTimeout'))


FELIX_CONFIGURATION = {
    'useInternalDataplaneDriver': '*bool',
    'dataplaneDriver': 'str',
    'dataplaneWatchdogTimeout': '*duration',
    'ipv6Support': '*bool',
    'routeRefreshInterval': ('*duration', DURATION_PATTERN),
    'interfaceRefreshInterval': ('*duration', DURATION_PATTERN),
    'iptablesRefreshInterval': ('*duration', DURATION_PATTERN),
    'iptablesPostWriteCheckInterval': ('*duration', DURATION_PATTERN),
    'iptablesLockFilePath': 'str',
    'iptablesLockTimeout': ('*duration', DURATION_PATTERN),
    'iptablesLockProbeInterval': ('*duration', DURATION_PATTERN),
    'featureDetectOverride': ('str', KEY_VALUE_LIST, pattern('^([a-zA-Z0-9-_]+=(true|false|),)*([a-zA-Z0-9-_]+=(true|false|))?$')),
    'featureGates': ('str', KEY_VALUE_LIST, pattern('^([a-zA-Z0-9-_]+=([^=]+),)*([a-zA-Z0-9-_]+=([^=]+))?$')),
    'ipsetsRefreshInterval': ('*duration', DURATION_PATTERN),
    'maxIpsetSize': '*int',
    'iptablesBackend': ('*str', enum('Auto', 'NFT', 'Legacy')),
    'xdpRefreshInterval': ('*duration', DURATION_PATTERN),
    'netlinkTimeout': ('*duration', DURATION_PATTERN),
    'metadataAddr': 'str',
    'metadataPort': '*int',
    'openstackRegion': 'str',
    'interfacePrefix': 'str',
    'interfaceExclude': 'str',
    'chainInsertMode': ('str', pattern('^(?i)(Insert|Append)?$')),
    'defaultEndpointToHostAction': ('str', enum('Drop', 'Accept', 'Return')),
    'iptablesFilterAllowAction': ('str', enum('Accept', 'Return')),
    'iptablesMangleAllowAction': ('str', enum('Accept', 'Return')),
    'iptablesFilterDenyAction': ('str', enum('Drop', 'Reject')),
    'logPrefix': 'str',
    'logFilePath': 'str',
    'logSeverityFile': ('str', LOG_LEVEL),
    'logSeverityScreen': ('str', LOG_LEVEL),
    'logSeveritySys': ('str', LOG_LEVEL),
    'logDebugFilenameRegex': ('str', GO_REGEXP),
    'ipipEnabled': '*bool',
    'ipipMTU': '*int',
    'vxlanEnabled': '*bool',
    'vxlanMTU': '*int',
    'vxlanMTUV6': '*int',
    'vxlanPort': '*int',
    'vxlanVNI': '*int',
    'allowVXLANPacketsFromWorkloads': '*bool',
    'allowIPIPPacketsFromWorkloads': '*bool',
    'reportingInterval': ('*duration', DURATION_PATTERN),
    'reportingTTL': ('*duration', DURATION_PATTERN),
    'endpointReportingEnabled': '*bool',
    'endpointReportingDelay': ('*duration', DURATION_PATTERN),
    'endpointStatusPathPrefix': 'str',
    'iptablesMarkMask': '*uint32',
    'disableConntrackInvalidCheck': '*bool',
    'healthEnabled': '*bool',
    'healthHost': '*str',
    'healthPort': '*int',
    'healthTimeoutOverrides': ('list', HEALTH_TIMEOUT_OVERRIDE),
    'prometheusMetricsEnabled': '*bool',
    'prometheusMetricsHost': ('str', PROMETHEUS_HOST),
    'prometheusMetricsPort': '*int',
    'prometheusGoMetricsEnabled': '*bool',
    'prometheusProcessMetricsEnabled': '*bool',
    'prometheusWireGuardMetricsEnabled': '*bool',
    'failsafeInboundHostPorts': ('*list', PROTO_PORT),
    'failsafeOutboundHostPorts': ('*list', PROTO_PORT),
    'kubeNodePortRanges': ('*list', 'port'),
    'policySyncPathPrefix': 'str',
    'usageReportingEnabled': '*bool',
    'usageReportingInitialDelay': ('*duration', DURATION_PATTERN),
    'usageReportingInterval': ('*duration', DURATION_PATTERN),
    'natPortRange': '*port',
    'natOutgoingAddress': ('str', v.ipv4_address),
    'natOutgoingExclusions': ('*str', enum('IPPoolsOnly', 'IPPoolsAndHostIPs')),
    'deviceRouteSourceAddress': ('str', v.ipv4_address),
    'deviceRouteSourceAddressIPv6': ('str', v.ipv6_address),
    'deviceRouteProtocol': '*int',
    'removeExternalRoutes': '*bool',
    'programClusterRoutes': ('*str', enum('Enabled', 'Disabled')),
    'ipForwarding': ('str', enum('Enabled', 'Disabled')),
    'externalNodesList': (('*list', 'str!'), each(lambda value: v.cidr_or_ip(value, version=4))),
    'debugMemoryProfilePath': 'str',
    'debugDisableLogDropping': '*bool',
    'debugSimulateCalcGraphHangAfter': ('*duration', DURATION_PATTERN),
    'debugSimulateDataplaneHangAfter': ('*duration', DURATION_PATTERN),
    'debugSimulateDataplaneApplyDelay': ('*duration', DURATION_PATTERN),
    'debugHost': '*str',
    'debugPort': ('*int', int_range(0, 65535)),
    'iptablesNATOutgoingInterfaceFilter': ('str', IFACE_FILTER),
    'sidecarAccelerationEnabled': '*bool',
    'xdpEnabled': '*bool',
    'genericXDPEnabled': '*bool',
    'nftablesMode': ('*str', enum('Disabled', 'Enabled', 'Auto')),
    'nftablesRefreshInterval': '*duration',
    'nftablesFilterAllowAction': ('str', enum('Accept', 'Return')),
    'nftablesMangleAllowAction': ('str', enum('Accept', 'Return')),
    'nftablesFilterDenyAction': ('str', enum('Drop', 'Reject')),
    'nftablesMarkMask': '*uint32',
    'bpfEnabled': '*bool',
    'bpfDisableUnprivileged': '*bool',
    'bpfJITHardening': ('*str', enum('Auto', 'Strict')),
    'bpfLogLevel': ('str!', optional(enum('Debug', 'Info', 'Off'))),
    'bpfConntrackLogLevel': ('str', enum('Off', 'Debug')),
    'bpfConntrackMode': ('*str', enum('Auto', 'Userspace', 'BPFProgram')),
    'bpfConntrackTimeouts': ('*struct', BPF_CONNTRACK_TIMEOUTS),
    'bpfLogFilters': ('*map', _bpf_log_filters),
    'bpfCTLBLogFilter': 'str',
    'bpfDataIfacePattern': ('str', GO_REGEXP),
    'bpfL3IfacePattern': ('str', GO_REGEXP),
    'bpfConnectTimeLoadBalancingEnabled': '*bool',
    'bpfConnectTimeLoadBalancing': ('*str', enum('TCP', 'Enabled', 'Disabled')),
    'bpfHostNetworkedNATWithoutCTLB': ('*str', enum('Enabled', 'Disabled')),
    'bpfExternalServiceMode': ('str', enum('Tunnel', 'DSR')),
    'bpfDSROptoutCIDRs': (('*list', 'str!'), CIDRS),
    'bpfExtToServiceConnmark': ('*int', int_range(0, 4294967295)),
    'bpfKubeProxyIptablesCleanupEnabled': '*bool',
    'bpfKubeProxyMinSyncPeriod': ('*duration', DURATION_PATTERN),
    'bpfKubeProxyHealthzPort': ('*int', int_range(1, 65535)),
    'bpfKubeProxyEndpointSlicesEnabled': '*bool',
    'bpfPSNATPorts': '*port',
    'bpfMapSizeNATFrontend': '*int',
    'bpfMapSizeNATBackend': '*int',
    'bpfMapSizeNATAffinity': '*int',
    'bpfMapSizeRoute': '*int',
    'bpfMapSizeConntrack': '*int',
    'bpfMapSizePerCpuConntrack': '*int',
    'bpfMapSizeConntrackScaling': ('str', pattern('^(?i)(Disabled|DoubleIfFull)?$')),
    'bpfMapSizeConntrackCleanupQueue': ('*int', int_range(1, None)),
    'bpfMapSizeIPSets': '*int',
    'bpfMapSizeIfState': '*int',
    'bpfHostConntrackBypass': '*bool',
    'bpfEnforceRPF': ('str', pattern('^(?i)(Disabled|Strict|Loose)?$')),
    'bpfPolicyDebugEnabled': '*bool',
    'bpfForceTrackPacketsFromIfaces': (('*list', 'str!'), IFACE_FILTER_SLICE),
    'bpfDisableGROForIfaces': ('str', GO_REGEXP),
    'bpfExcludeCIDRsFromNAT': (('*list', 'str!'), CIDRS),
    'bpfExportBufferSizeMB': ('*int', _go_panics),
    'cgroupV2Path': 'str',
    'flowLogsPolicyEvaluationMode': ('*str', enum('None', 'Continuous')),
    'bpfRedirectToPeer': ('str', enum('Enabled', 'Disabled', 'L2Only')),
    'bpfAttachType': ('*str', enum('TC', 'TCX')),
    'flowLogsFlushInterval': ('*duration', DURATION_PATTERN),
    'flowLogsCollectorDebugTrace': '*bool',
    'flowLogsGoldmaneServer': '*str',
    'flowLogsLocalReporter': ('*str', enum('Disabled', 'Enabled')),
    'bpfProfiling': ('str', enum('Enabled', 'Disabled')),
    'routeSource': ('str', GO_REGEXP, pattern('^(?i)(WorkloadIPs|CalicoIPAM)?$')),
    'routeTableRanges': ('*list', ROUTE_TABLE_ID_RANGE),
    'routeTableRange': ('*struct', ROUTE_TABLE_RANGE),
    'routeSyncDisabled': '*bool',
    'wireguardEnabled': '*bool',
    'wireguardEnabledV6': '*bool',
    'wireguardThreadingEnabled': '*bool',
    'wireguardListeningPort': ('*int', int_range(1, 65535)),
    'wireguardListeningPortV6': ('*int', int_range(1, 65535)),
    'wireguardRoutingRulePriority': ('*int', int_range(1, 32765)),
    'wireguardInterfaceName': ('str', INTERFACE),
    'wireguardInterfaceNameV6': ('str', INTERFACE),
    'wireguardMTU': '*int',
    'wireguardMTUV6': '*int',
    'wireguardHostEncryptionEnabled': '*bool',
    'wireguardKeepAlive': ('*duration', DURATION_PATTERN),
    'awsSrcDstCheck': ('*str', enum('DoNothing', 'Enable', 'Disable')),
    'serviceLoopPrevention': ('str', enum('Drop', 'Reject', 'Disabled')),
    'workloadSourceSpoofing': ('str', enum('Disabled', 'Any')),
    'mtuIfacePattern': ('str', GO_REGEXP),
    'floatingIPs': ('*str', enum('Enabled', 'Disabled')),
    'windowsManageFirewallRules': ('*str', enum('Enabled', 'Disabled')),
    'goGCThreshold': ('*int', int_range(-1, None)),
    'goMemoryLimitMB': ('*int', int_range(-1, None)),
    'goMaxProcs': ('*int', int_range(-1, None)),
    'requireMTUFile': '*bool',
}

# ClusterInformation (api/pkg/apis/projectcalico/v3/clusterinfo.go), read only.
CLUSTER_INFORMATION = {
    'clusterGUID': 'str',
    'clusterType': 'str',
    'calicoVersion': 'str',
    'datastoreReady': '*bool',
    'variant': 'str',
}


# ---------------------------------------------------------------------------------------------
# The canonical form: type checks, unknown fields, Go's encoding.
# ---------------------------------------------------------------------------------------------

class _Context:
    """Where errors of one resource go, and how the spec is read."""

    def __init__(self, errors, label, mode='present', keep_unknown=False):
        self.errors = errors
        self.label = label
        self.mode = mode  # present: complete, zero values filled/dropped; patched: given fields only
        self.keep_unknown = keep_unknown

    def report(self, path, value, reason):
        self.errors.add('%s: %s' % (self.label, path) if path else self.label, value, reason)

    def report_message(self, path, reason):
        self.errors.add_message('%s: %s %s' % (self.label, path, reason))


def _split(field):
    if isinstance(field, tuple) and field and (isinstance(field[0], tuple) or
                                               field[0] not in ('list', '*list', '*struct', 'struct!')):
        return field[0], field[1:]
    return field, ()


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _zero(kind):
    """The zero value Go writes for a field without omitempty."""
    if isinstance(kind, tuple):
        return {} if kind[0] == 'struct!' else None
    return {'str!': '', 'int!': 0, 'uint16!': 0, 'duration!': '0s'}[kind]


def _port(value):
    """numorstring.Port: a number, 'min:max' or a name; stored as a number when it is one port."""
    if _is_int(value):
        if not 0 <= value <= 65535:
            raise InvalidValue('is not a port number (1 to 65535)')
        number = value
    elif isinstance(value, str):
        if re.match(r'^\d+$', value):
            number = int(value)
            if number > 65535:
                raise InvalidValue('is not a port number (1 to 65535)')
        else:
            match = re.match(r'^(\d+):(\d+)$', value)
            if match:
                low, high = int(match.group(1)), int(match.group(2))
                if high > 65535 or low > 65535:
                    raise InvalidValue('is not a port range (1 to 65535)')
                if low > high:
                    raise InvalidValue('is a port range whose minimum is greater than its maximum')
                if low < 1:
                    raise InvalidValue('is not a port range (port numbers 1 to 65535)')
                return low if low == high else '%d:%d' % (low, high)
            if not re.match(r'^[a-zA-Z0-9_.-]{1,128}$', value):
                raise InvalidValue('is not a port, port range (min:max) or port name')
            return value
    else:
        raise InvalidValue('is not a port, port range (min:max) or port name')
    if number < 1:
        raise InvalidValue('is not a port number (1 to 65535)')
    return number


def weak_string(value):
    """A scalar as calicoctl's decoder reads it into a string field: numbers and booleans are
    written out (1 -> '1', 1.0 -> '1', 1.5 -> '1.5', true -> 'true'), null is ''. None when the
    value is not a scalar."""
    if isinstance(value, str):
        return value
    if value is None:
        return ''
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value == int(value) and abs(value) < 1e21:
            return str(int(value))
        return repr(value)
    return None


def _whole(value):
    """An integer, or a float with no fraction (26.0 -> 26) as calicoctl's decoder takes it."""
    if isinstance(value, float) and value == int(value):
        return int(value)
    return value


def _scalar(kind, value, path, ctx):
    """Type-check and normalise one scalar; returns (ok, value)."""
    base = kind.lstrip('*').rstrip('!')
    if base == 'str':
        text = weak_string(value)
        if text is None:
            ctx.report(path, value, 'is not a string')
            return False, None
        return True, text
    if base == 'bool':
        if not isinstance(value, bool):
            ctx.report(path, value, 'is not a boolean (true or false)')
            return False, None
        return True, value
    if base in _INT_RANGES:
        low, high = _INT_RANGES[base]
        value = _whole(value)
        if not _is_int(value):
            ctx.report(path, value, 'is not an integer')
            return False, None
        if not low <= value <= high:
            ctx.report(path, value, 'is out of range (%d to %d)' % (low, high))
            return False, None
        return True, value
    if base == 'duration':
        try:
            return True, v.go_duration(value)
        except InvalidValue as exc:
            ctx.report(path, value, str(exc))
            return False, None
    if base == 'asn':
        try:
            return True, v.as_number(_whole(value))
        except InvalidValue as exc:
            ctx.report(path, value, str(exc))
            return False, None
    if base == 'port':
        try:
            return True, _port(value)
        except InvalidValue as exc:
            ctx.report(path, value, str(exc))
            return False, None
    if base == 'map':
        if not isinstance(value, dict):
            ctx.report(path, value, 'is not a mapping of strings')
            return False, None
        result = {}
        for key, item in value.items():
            text = weak_string(item)
            if not isinstance(key, str) or text is None:
                ctx.report('%s.%s' % (path, key), item, 'is not a string')
                return False, None
            result[key] = text
        return True, dict(sorted(result.items()))
    raise ValueError('unknown type code %r' % kind)


def _is_zero(value):
    return value is None or value is False or value == '' or (_is_int(value) and value == 0) \
        or value == [] or value == {}


def _field(field, value, path, ctx):
    """Canonical value of one field, or _OMIT (also when it is invalid: the error is reported)."""
    kind, checks = _split(field)
    if value is None:
        return _Delete if ctx.mode == 'patched' else _OMIT
    if isinstance(kind, tuple):
        container = kind[0]
        if container in ('list', '*list'):
            if not isinstance(value, list):
                ctx.report(path, value, 'is not a list')
                return _OMIT
            canonical = _list(kind[1], value, path, ctx)
            if canonical is _OMIT:
                return _OMIT
            if container == 'list' and not canonical:
                return _OMIT if ctx.mode == 'present' else canonical
        else:  # '*struct' or 'struct!'
            canonical = _struct(kind[1], value, path, ctx)
            if canonical is _OMIT:
                return _OMIT
    else:
        ok, canonical = _scalar(kind, value, path, ctx)
        if not ok:
            return _OMIT
        if not kind.startswith('*') and not kind.endswith('!') and _is_zero(canonical):
            return _OMIT if ctx.mode == 'present' else canonical
    good = True
    for check in checks:
        if isinstance(check, each):
            for index, item in enumerate(canonical):
                try:
                    check.check(item)
                except InvalidValue as exc:
                    ctx.report('%s[%d]' % (path, index), item, str(exc))
                    good = False
            continue
        try:
            canonical = check(canonical)
        except InvalidValue as exc:
            ctx.report(path, value, str(exc))
            return _OMIT
    return canonical if good else _OMIT


def _list(item_kind, value, path, ctx):
    items = []
    good = True
    # A list is replaced whole, so its items are complete values even in a patch.
    item_ctx = _Context(ctx.errors, ctx.label, 'present', ctx.keep_unknown)
    for index, item in enumerate(value):
        item_path = '%s[%d]' % (path, index)
        if item is None:
            ctx.report(item_path, item, 'is empty')
            good = False
            continue
        if isinstance(item_kind, dict):
            result = _struct(item_kind, item, item_path, item_ctx)
        else:
            ok, result = _scalar(item_kind, item, item_path, item_ctx)
            result = result if ok else _OMIT
        if result is _OMIT:
            good = False
        else:
            items.append(result)
    return items if good else _OMIT


class _Omit:
    pass


_OMIT = _Omit()


def _unknown(fields, key, path, value, ctx):
    hint = ''
    if isinstance(key, str):
        try:
            v.field_name(key)
        except InvalidValue as exc:
            if 'camelCase (' in str(exc):
                hint = str(exc)[str(exc).index('use camelCase'):].replace('use camelCase', 'did you mean')
        if not hint:
            close = difflib.get_close_matches(key, list(fields), 1, 0.75)
            if not close:
                lowered = dict((name.lower(), name) for name in fields)
                close = [lowered[key.lower()]] if key.lower() in lowered else []
            if close:
                hint = '(did you mean %s?)' % v.show(close[0])
    known = '' if hint or len(fields) > 20 else ' (known: %s)' % ', '.join(fields)
    ctx.report_message(path, 'is not a known field%s%s' % (' ' + hint if hint else '', known))


def _struct(fields, value, path, ctx):
    if not isinstance(value, dict):
        ctx.report(path, value, 'is not a mapping')
        return _OMIT
    result = {}
    good = True
    for key in value:
        if key not in fields:
            if ctx.keep_unknown:
                continue
            _unknown(fields, key, '%s.%s' % (path, key) if path else key, value[key], ctx)
            good = False
    for key, field in fields.items():
        sub = '%s.%s' % (path, key) if path else key
        if key in value:
            before = len(ctx.errors)
            canonical = _field(field, value[key], sub, ctx)
            if len(ctx.errors) > before:
                good = False
            if canonical is not _OMIT:
                result[key] = canonical
        elif ctx.mode == 'present':
            kind, dummy = _split(field)
            if (isinstance(kind, tuple) and kind[0] == 'struct!') or (isinstance(kind, str) and kind.endswith('!')):
                zero = _zero(kind)
                if isinstance(kind, tuple):
                    zero = _struct(kind[1], {}, sub, ctx)
                result[key] = zero
    if ctx.keep_unknown:
        for key in value:
            if key not in fields:
                result[key] = copy.deepcopy(value[key])
    return result if good else _OMIT


# ---------------------------------------------------------------------------------------------
# Cross-field rules per kind: ``rules(spec, report, resource)``; report(path, value, reason).
# ---------------------------------------------------------------------------------------------

def _rules_bgp_configuration(spec, report, resource):
    # libcalico-go/lib/validator/v3/validator.go: validateBGPConfigurationSpec
    names = set(community.get('name') for community in spec.get('communities', []))
    for index, community in enumerate(spec.get('communities', [])):
        if not community.get('name'):
            report('spec.communities[%d].name' % index, community.get('name', ''), 'is required')
        try:
            v.bgp_community(community.get('value', ''))
        except InvalidValue as exc:
            report('spec.communities[%d].value' % index, community.get('value', ''), str(exc))
    if spec.get('communities') and not spec.get('prefixAdvertisements'):
        report('spec.communities', spec['communities'], 'are defined but not used in spec.prefixAdvertisements')
    for index, advertisement in enumerate(spec.get('prefixAdvertisements', [])):
        if not advertisement.get('cidr'):
            report('spec.prefixAdvertisements[%d].cidr' % index, advertisement.get('cidr', ''), 'is required')
        if 'communities' not in advertisement:
            report('spec.prefixAdvertisements[%d].communities' % index, None, 'is required')
        for position, community in enumerate(advertisement.get('communities', [])):
            where = 'spec.prefixAdvertisements[%d].communities[%d]' % (index, position)
            if v.is_bgp_community(community):
                try:
                    v.bgp_community(community)
                except InvalidValue as exc:
                    report(where, community, str(exc))
            elif community not in names:
                report(where, community, 'is neither a community value (aa:nn or aa:nn:mm) nor the name of one '
                                         'of spec.communities')
    if spec.get('nodeToNodeMeshEnabled') is False:
        for field in ('nodeMeshPassword', 'nodeMeshMaxRestartTime'):
            if field in spec:
                report('spec.' + field, spec[field], 'cannot be set when spec.nodeToNodeMeshEnabled is false')
    # libcalico-go/lib/clientv3/bgpconfig.go: ValidateDefaultOnlyFields
    if resource['metadata'].get('name') != 'default':
        for field in ('nodeToNodeMeshEnabled', 'asNumber', 'serviceLoadBalancerIPs', 'serviceExternalIPs',
                      'serviceClusterIPs', 'nodeMeshPassword', 'nodeMeshMaxRestartTime'):
            if field in spec:
                report('spec.' + field, spec[field], "can only be set in the BGPConfiguration named 'default' "
                                                     "(the others are per-node: node.<name>)")


def _rules_bgp_peer(spec, report, resource):
    # libcalico-go/lib/validator/v3/validator.go: validateBGPPeerSpec
    if spec.get('node') and spec.get('nodeSelector'):
        report('spec.node', spec['node'], 'cannot be set together with spec.nodeSelector (%s)'
               % v.show(spec['nodeSelector']))
    if spec.get('peerIP') and spec.get('peerSelector'):
        report('spec.peerIP', spec['peerIP'], 'cannot be set together with spec.peerSelector')
    if spec.get('asNumber') and spec.get('peerSelector'):
        report('spec.asNumber', spec['asNumber'], 'cannot be set together with spec.peerSelector')
    if not spec.get('asNumber') and spec.get('localWorkloadSelector'):
        report('spec.asNumber', spec.get('asNumber', 0), 'is required when spec.localWorkloadSelector is set')
    if spec.get('peerIP') and spec.get('localWorkloadSelector'):
        report('spec.peerIP', spec['peerIP'], 'cannot be set together with spec.localWorkloadSelector')
    if spec.get('peerSelector') and spec.get('localWorkloadSelector'):
        report('spec.peerSelector', spec['peerSelector'], 'cannot be set together with spec.localWorkloadSelector')
    if spec.get('reachableBy'):
        if not spec.get('peerIP'):
            report('spec.reachableBy', spec['reachableBy'], 'needs spec.peerIP')
        elif v.peer_ip_version(spec['peerIP']) != ipaddress.ip_address(spec['reachableBy']).version:
            report('spec.reachableBy', spec['reachableBy'], 'is not of the IP family of spec.peerIP (%s)'
                   % v.show(spec['peerIP']))
    if spec.get('keepOriginalNextHop') and 'nextHopMode' in spec:
        report('spec.keepOriginalNextHop', True, 'cannot be true when spec.nextHopMode is set (it is deprecated)')


def _rules_bgp_filter(spec, report, resource):
    # libcalico-go/lib/validator/v3/validator.go: validateBGPFilterRule
    for field in ('exportV4', 'importV4', 'exportV6', 'importV6'):
        for index, rule in enumerate(spec.get(field, [])):
            where = 'spec.%s[%d]' % (field, index)
            if not rule.get('action'):
                report(where + '.action', rule.get('action', ''), 'is required (Accept or Reject)')
            if rule.get('cidr') and not rule.get('matchOperator'):
                report(where + '.matchOperator', '', 'is required when cidr is set')
            if not rule.get('cidr') and rule.get('matchOperator'):
                report(where + '.cidr', '', 'is required when matchOperator is set')
            if not rule.get('cidr') and 'prefixLength' in rule:
                report(where + '.cidr', '', 'is required when prefixLength is set')


def _rules_ip_pool(spec, report, resource):
    # libcalico-go/lib/clientv3/ippool.go (validateAndSetDefaults) and validator.go
    # (validateIPPoolSpec), after the defaults.
    cidr = spec.get('cidr')
    if not cidr:
        report('spec.cidr', cidr or '', 'is required')
        return
    try:
        network = ipaddress.ip_network(cidr, strict=False)
        address = ipaddress.ip_address(cidr.split('/', 1)[0])
        if '/' not in cidr or '%' in cidr:
            raise ValueError(cidr)
    except ValueError:
        report('spec.cidr', cidr, 'is not a valid IPv4/IPv6 CIDR (network/prefix length)')
        return
    if network.network_address != address:
        report('spec.cidr', cidr, 'is not strictly masked (host bits are set; did you mean %s?)' % v.show(str(network)))
    version = network.version
    block = spec.get('blockSize')
    if block is not None:
        try:
            v.block_size(block, version)
        except InvalidValue as exc:
            report('spec.blockSize', block, str(exc))
        else:
            if not spec.get('disabled') and network.prefixlen > block:
                report('spec.cidr', cidr, 'is smaller than one block of spec.blockSize /%d: the pool must be at '
                                          'least as large as its block size' % block)
    uses = spec.get('allowedUses', [])
    load_balancer = 'LoadBalancer' in uses
    ipip, vxlan = spec.get('ipipMode', 'Never'), spec.get('vxlanMode', 'Never')
    if ipip != 'Never' and vxlan != 'Never':
        report('spec.vxlanMode', vxlan, 'cannot be enabled together with spec.ipipMode %s (one encapsulation per pool)'
               % v.show(ipip))
    if version == 6 and ipip != 'Never':
        report('spec.ipipMode', ipip, 'is not supported on an IPv6 pool (use Never)')
    link_local = ipaddress.ip_network('169.254.0.0/16' if version == 4 else 'fe80::/10')
    if network.overlaps(link_local):
        report('spec.cidr', cidr, 'overlaps the link-local range %s' % link_local)
    if load_balancer:
        for use in uses:
            if use != 'LoadBalancer':
                report('spec.allowedUses', uses, 'cannot combine LoadBalancer with %s' % use)
                break
        if ipip != 'Never' or vxlan != 'Never':
            report('spec.allowedUses', uses, 'LoadBalancer pools cannot enable IPIP or VXLAN')
        if spec.get('disableBGPExport'):
            report('spec.disableBGPExport', True, 'cannot be true on a LoadBalancer pool')
        if spec.get('nodeSelector', 'all()') != 'all()':
            report('spec.nodeSelector', spec['nodeSelector'], "must be all() on a LoadBalancer pool")
    if 'Tunnel' in uses and spec.get('namespaceSelector'):
        report('spec.namespaceSelector', spec['namespaceSelector'],
               'cannot be set on a pool whose allowedUses include Tunnel (tunnel addresses have no namespace)')


def _rules_felix_configuration(spec, report, resource):
    # libcalico-go/lib/validator/v3/validator.go: validateFelixConfigSpec and the struct validators
    # of ProtoPort, Port, RouteTableRange(s), HealthTimeoutOverride
    ranges = spec.get('kubeNodePortRanges')
    if ranges is not None:
        if len(ranges) > 7:
            report('spec.kubeNodePortRanges', ranges, 'has more than 7 ranges')
        for port in ranges:
            if isinstance(port, str) and ':' not in port:
                report('spec.kubeNodePortRanges', ranges, 'cannot contain named ports')
                break
    region = spec.get('openstackRegion')
    if region:
        if len(region) > 63 - len('openstack-region-'):
            report('spec.openstackRegion', region, 'is too long (at most 46 characters)')
        else:
            try:
                v.dns_label(region)
            except InvalidValue as exc:
                report('spec.openstackRegion', region, str(exc))
    if 'routeTableRange' in spec:
        low, high = spec['routeTableRange'].get('min', 0), spec['routeTableRange'].get('max', 0)
        if not (low >= 1 and high >= low and high <= 250):
            report('spec.routeTableRange', spec['routeTableRange'], 'must be a range of route table indices within 1..250')
        if 'routeTableRanges' in spec:
            report('spec.routeTableRange', spec['routeTableRange'], 'cannot be set together with spec.routeTableRanges')
    if 'routeTableRanges' in spec:
        total = 0
        for index, item in enumerate(spec['routeTableRanges']):
            low, high = item.get('min', 0), item.get('max', 0)
            if low > high:
                report('spec.routeTableRanges[%d]' % index, item, 'has min greater than max')
            if low <= 0:
                report('spec.routeTableRanges[%d]' % index, item, 'cannot target indices < 1')
            if high > 0xffffffff:
                report('spec.routeTableRanges[%d]' % index, item, 'max index too high')
            total += high - low + 1
        if total > 0xffff:
            report('spec.routeTableRanges', spec['routeTableRanges'], 'targets too many tables (more than 65535)')


def _rules_kube_controllers_configuration(spec, report, resource):
    # libcalico-go/lib/clientv3/kubecontrollersconfig.go: validateAndFillDefaults
    node = spec.get('controllers', {}).get('node') or {}
    templates = (node.get('hostEndpoint') or {}).get('templates') or []
    seen = set()
    for index, template in enumerate(templates):
        where = 'spec.controllers.node.hostEndpoint.templates[%d]' % index
        name = template.get('generateName', '')
        if not name:
            report(where + '.generateName', name, 'is required')
        elif len(name) > 253:
            report(where + '.generateName', name, 'is longer than 253 characters')
        elif name in seen:
            report(where + '.generateName', name, 'is not unique')
        seen.add(name)
        if not template.get('interfaceCIDRs') and not template.get('interfacePattern'):
            report(where, template, 'needs interfaceCIDRs or interfacePattern')
        for key, value in (template.get('labels') or {}).items():
            for check, what in ((v.qualified_name, key), (v.label_value, value)):
                try:
                    check(what)
                except InvalidValue as exc:
                    report('%s.labels.%s' % (where, key), what, str(exc))


def _rules_node(spec, report, resource):
    # libcalico-go/lib/validator/v3/validator.go: validateNodeSpec
    if 'bgp' in spec and not spec['bgp']:
        report('spec.bgp', spec['bgp'], 'is empty: give at least one BGP field, or leave spec.bgp out')


# Kind name -> (field table of spec, rules).
SPECS = {
    'BGPConfiguration': (BGP_CONFIGURATION, _rules_bgp_configuration),
    'BGPPeer': (BGP_PEER, _rules_bgp_peer),
    'BGPFilter': (BGP_FILTER, _rules_bgp_filter),
    'IPPool': (IP_POOL, _rules_ip_pool),
    'IPReservation': (IP_RESERVATION, None),
    'FelixConfiguration': (FELIX_CONFIGURATION, _rules_felix_configuration),
    'KubeControllersConfiguration': (KUBE_CONTROLLERS_CONFIGURATION, _rules_kube_controllers_configuration),
    'Node': (NODE, _rules_node),
    'ClusterInformation': (CLUSTER_INFORMATION, None),
}


# ---------------------------------------------------------------------------------------------
# Whole resources.
# ---------------------------------------------------------------------------------------------

def resource_label(resource, index=None):
    """'IPPool/pool-a', or 'resource #3' when the resource has no usable kind or name."""
    if isinstance(resource, dict):
        metadata = resource.get('metadata')
        name = metadata.get('name') if isinstance(metadata, dict) else None
        kind = resource.get('kind')
        if isinstance(kind, str) and kind and isinstance(name, str) and name:
            return '%s/%s' % (kind, name)
        if index is not None and isinstance(kind, str) and kind:
            return 'resource #%d (%s)' % (index, kind)
    return 'resource #%d' % index if index is not None else 'resource'


def _metadata(metadata, kind, ctx, state):
    if metadata is None:
        ctx.report_message('metadata', 'is required (with metadata.name)')
        return None
    if not isinstance(metadata, dict):
        ctx.report('metadata', metadata, 'is not a mapping')
        return None
    result = {}
    good = True
    name = metadata.get('name')
    if name is None or name == '':
        ctx.report_message('metadata.name', 'is required')
        good = False
    else:
        try:
            result['name'] = v.resource_name(name)
        except InvalidValue as exc:
            ctx.report('metadata.name', name, str(exc))
            good = False
        else:
            if kind.names and name not in kind.names:
                ctx.report('metadata.name', name, 'is not allowed: a %s must be named %s'
                           % (kind.name, ' or '.join(repr(allowed) for allowed in kind.names)))
                good = False
    for key in metadata:
        if key in ('name', 'labels', 'annotations') or key in SERVER_METADATA:
            continue
        if key == 'namespace' and not kind.namespaced:
            ctx.report('metadata.namespace', metadata[key], 'is not allowed: %s is a cluster-wide kind' % kind.name)
        elif key == 'generateName':
            ctx.report('metadata.generateName', metadata[key], 'is not supported: give metadata.name')
        else:
            _unknown(('name', 'labels', 'annotations'), key, 'metadata.%s' % key, metadata[key], ctx)
        good = False
    if state == 'absent':
        return result if good else None
    for field in ('labels', 'annotations'):
        if field not in metadata:
            continue
        value = metadata[field]
        if value is None:
            if state == 'patched' or kind.node:
                result[field] = _Delete
            continue
        if not isinstance(value, dict):
            ctx.report('metadata.' + field, value, 'is not a mapping')
            good = False
            continue
        if field == 'annotations' and kind.node:
            ctx.report_message('metadata.annotations', 'cannot be managed on a Node (only metadata.labels and '
                                                       'spec.bgp are)')
            good = False
            continue
        items = {}
        size = 0
        for key, item in value.items():
            where = 'metadata.%s.%s' % (field, key)
            try:
                v.qualified_name(key.lower() if field == 'annotations' and isinstance(key, str) else key)
            except InvalidValue as exc:
                ctx.report('metadata.%s' % field, key, str(exc))
                good = False
                continue
            if item is None and (state == 'patched' or kind.node):
                items[key] = _Delete
                continue
            text = weak_string(item)
            try:
                if text is None:
                    raise InvalidValue('is not a string')
                items[key] = v.label_value(text) if field == 'labels' else text
            except InvalidValue as exc:
                ctx.report(where, item, str(exc))
                good = False
                continue
            size += len(key) + len(text)
        if size > ANNOTATIONS_SIZE_LIMIT:
            ctx.report_message('metadata.annotations', 'are too large (more than 256 KiB)')
            good = False
        if items or state == 'patched' or kind.node:
            result[field] = dict(sorted(items.items()))
    return result if good else None


def _merge_mode(kind, state):
    return 'patched' if state == 'patched' or (kind.node and state == 'present') else 'present'


def _validate_one(resource, index, state, errors):
    label = resource_label(resource, index)
    ctx = _Context(errors, label)
    if not isinstance(resource, dict):
        ctx.report('', resource, 'is not a mapping (a Calico resource with apiVersion, kind, metadata, spec)')
        return None
    before = len(errors)
    for key in resource:
        if key not in TOP_LEVEL:
            _unknown(TOP_LEVEL[:4], key, key, resource[key], ctx)
    api_version = resource.get('apiVersion')
    if api_version != calico_kinds.API_VERSION:
        hint = ''
        if api_version == calico_kinds.CRD_API_VERSION:
            hint = ' (crd.projectcalico.org/v1 is the storage form: write projectcalico.org/v3 resources)'
        if api_version is None:
            ctx.report_message('apiVersion', 'is required (projectcalico.org/v3)')
        else:
            ctx.report('apiVersion', api_version, 'is not projectcalico.org/v3%s' % hint)
    try:
        kind = calico_kinds.lookup(resource.get('kind'))
    except v.ValidationErrors as exc:
        for message in exc.messages:
            ctx.report_message('', message)
        return None
    if kind.read_only:
        ctx.report_message('kind', '%s is read-only: it is written by Calico itself' % kind.name)
        return None
    if kind.node and state == 'absent':
        ctx.report_message('kind', 'Node resources are never deleted by this module (it manages only their '
                                   'labels and spec.bgp); use state present or patched')
        return None
    metadata = _metadata(resource.get('metadata'), kind, ctx, state)
    canonical = {'apiVersion': calico_kinds.API_VERSION, 'kind': kind.name,
                 'metadata': metadata if metadata is not None else {}}
    if state == 'absent':
        return canonical if len(errors) == before else None
    mode = _merge_mode(kind, state)
    fields, rules = SPECS[kind.name]
    spec = resource.get('spec', {})
    if spec is None:
        spec = {}
    if kind.name == 'IPPool' and isinstance(spec, dict):
        for old, new in IP_POOL_V1_FIELDS.items():
            if old in spec:
                ctx.report('spec.%s' % old, spec[old], 'is a Calico API v1 field that calicoctl refuses: use spec.%s' % new)
        spec = dict((key, value) for key, value in spec.items() if key not in IP_POOL_V1_FIELDS)
    spec_ctx = _Context(errors, label, mode)
    canonical_spec = _struct(fields, spec, 'spec', spec_ctx)
    canonical['spec'] = canonical_spec if canonical_spec is not _OMIT else {}
    if len(errors) != before:
        return None
    if mode == 'present':
        calico_defaults.apply_defaults(canonical)
        canonical['spec'] = _ordered(fields, canonical['spec'])
        if rules:
            rules(canonical['spec'], ctx.report, canonical)
    elif kind.node and rules:
        rules(canonical['spec'], ctx.report, canonical)
    return canonical if len(errors) == before else None


def _ordered(fields, value):
    """A struct's keys in the Go struct's order (the order calicoctl writes)."""
    if not isinstance(value, dict):
        return value
    result = {}
    for key, field in fields.items():
        if key in value:
            kind, dummy = _split(field)
            item = value[key]
            if isinstance(kind, tuple) and kind[0] in ('*struct', 'struct!'):
                item = _ordered(kind[1], item)
            elif isinstance(kind, tuple) and isinstance(kind[1], dict) and isinstance(item, list):
                item = [_ordered(kind[1], element) for element in item]
            result[key] = item
    for key in value:
        if key not in result:
            result[key] = value[key]
    return result


def _pool_batch_checks(resources, errors):
    pools = [res for res in resources if res and res['kind'] == 'IPPool' and res.get('spec', {}).get('cidr')]
    for position, pool in enumerate(pools):
        try:
            network = ipaddress.ip_network(pool['spec']['cidr'], strict=False)
        except (TypeError, ValueError):
            continue
        for other in pools[:position]:
            try:
                other_network = ipaddress.ip_network(other['spec']['cidr'], strict=False)
            except (TypeError, ValueError):
                continue
            if network.version == other_network.version and network.overlaps(other_network):
                errors.add('%s: spec.cidr' % resource_label(pool), pool['spec']['cidr'],
                           'overlaps IPPool/%s (%s) of the same batch' % (other['metadata']['name'], other['spec']['cidr']))


def _kubernetes_datastore_rules(resource, errors):
    """Rules libcalico-go applies only in the kubernetes datastore."""
    if resource['kind'] == 'KubeControllersConfiguration':
        # libcalico-go/lib/backend/k8s/resources/kubecontrollersconfig.go (kubeControllersConfigValidator)
        node = ((resource.get('spec') or {}).get('controllers') or {}).get('node') or {}
        if node.get('syncLabels') == 'Disabled':
            errors.add('%s: spec.controllers.node.syncLabels' % resource_label(resource), 'Disabled',
                       'cannot be Disabled in the kubernetes datastore (the Kubernetes labels are the Calico ones)')


def validate_resources(resources, state, datastore=None):
    """Validate a batch; return the canonical resources (calicoctl's defaults filled in for state
    present). Raises ValidationErrors with every error of the batch, each naming the resource
    ('IPPool/pool-a' or 'resource #3'), the field path and the value.

    state present: complete resources; absent: only apiVersion, kind and metadata.name are read
    (returned as {apiVersion, kind, metadata: {name}}); patched: the given fields only, no
    defaults; None as a value removes that field (JSON merge patch; lists are replaced). A Node is
    always a patch: of its labels and spec.bgp. ``datastore`` 'kubernetes' adds the rules libcalico-go
    applies only there; None or 'etcdv3' leaves them out.
    """
    if state not in STATES:
        raise ValueError('state must be one of %s, not %r' % (', '.join(STATES), state))
    if isinstance(resources, dict):
        resources = [resources]
    errors = v.ErrorCollector()
    if not isinstance(resources, list):
        errors.add('definition', resources, 'is not a resource or a list of resources')
        errors.raise_if_any()
    result = []
    seen = {}
    for index, resource in enumerate(resources, 1):
        canonical = _validate_one(resource, index, state, errors)
        result.append(canonical)
        if canonical and canonical['metadata'].get('name'):
            key = (canonical['kind'], canonical['metadata']['name'])
            if key in seen:
                errors.add_message('%s: is given twice in the batch (resources #%d and #%d)'
                                   % (resource_label(canonical), seen[key], index))
            else:
                seen[key] = index
    if state == 'present':
        _pool_batch_checks(result, errors)
    if datastore == 'kubernetes' and state != 'absent':
        for resource in result:
            if resource:
                _kubernetes_datastore_rules(resource, errors)
    errors.raise_if_any()
    return [_plain(resource) for resource in result]


def _plain(value):
    """Patch markers as None (what the caller sees)."""
    if value is _Delete:
        return None
    if isinstance(value, dict):
        return dict((key, _plain(item)) for key, item in value.items())
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def canonical_after_merge(resource, live_fields_unknown_ok=True):
    """Validate and canonicalise a complete resource made by merging a patch into a live one (the
    patched state, and a Node): calicoctl's rules and defaults, as for state present. Fields of the
    live object that this module does not know are kept. Raises ValidationErrors."""
    errors = v.ErrorCollector()
    kind = calico_kinds.lookup(resource.get('kind'))
    label = resource_label(resource)
    ctx = _Context(errors, label, 'present', keep_unknown=live_fields_unknown_ok)
    fields, rules = SPECS[kind.name]
    result = copy.deepcopy(resource)
    if kind.managed_spec:
        spec = dict((key, value) for key, value in (resource.get('spec') or {}).items() if key in kind.managed_spec)
    else:
        spec = resource.get('spec') or {}
    canonical_spec = _struct(fields, spec, 'spec', ctx)
    errors.raise_if_any()
    if kind.managed_spec:
        result.setdefault('spec', {})
        for key in kind.managed_spec:
            result['spec'].pop(key, None)
            if canonical_spec.get(key) not in (None, {}):
                result['spec'][key] = canonical_spec[key]
    else:
        result['spec'] = canonical_spec
        calico_defaults.apply_defaults(result)
        result['spec'] = _ordered(fields, result['spec'])
    labels = (result.get('metadata') or {}).get('labels') or {}
    for key, value in labels.items():
        for check, what, where in ((v.qualified_name, key, 'metadata.labels'), (v.label_value, value, 'metadata.labels.%s' % key)):
            try:
                check(what)
            except InvalidValue as exc:
                errors.add('%s: %s' % (label, where), what, str(exc))
    if rules:
        rules(result['spec'], _Context(errors, label).report, result)
    errors.raise_if_any()
    return result


# ---------------------------------------------------------------------------------------------
# Checks against the live resources.
# ---------------------------------------------------------------------------------------------

def _live_index(live_by_kind):
    index = {}
    for kind, items in (live_by_kind or {}).items():
        if isinstance(items, dict):
            items = list(items.values())
        index[kind] = dict(((item.get('metadata') or {}).get('name'), item) for item in items or [] if item)
    return index


def validate_against_live(resources, live_by_kind):
    """The rules of calicoctl that read other resources, for canonical resources (the output of
    validate_resources) and the live resources in v3 form, ``{kind: [resource, ...]}``:

    - a new IPPool must not overlap another pool (libcalico-go/lib/clientv3/ippool.go: "IPPool(a)
      CIDR overlaps with IPPool(b) CIDR ..."); an existing pool keeps its cidr and blockSize, and a
      LoadBalancer pool stays one;
    - a BGPPeer's filters must exist (libcalico-go/lib/clientv3/bgppeer.go), live or in the batch;
    - a Node label that is a Kubernetes label of the Node (kubernetes datastore) cannot be changed
      through Calico (libcalico-go/lib/backend/k8s/resources/node.go ignores such changes).

    Raises ValidationErrors listing every problem.
    """
    live = _live_index(live_by_kind)
    errors = v.ErrorCollector()
    batch_filters = set(res['metadata']['name'] for res in resources
                        if res and res.get('kind') == 'BGPFilter' and 'spec' in res)
    for resource in resources:
        if not resource or 'spec' not in resource:
            continue
        label = resource_label(resource)
        name = resource['metadata'].get('name')
        spec = resource.get('spec') or {}
        kind = resource['kind']
        current = live.get(kind, {}).get(name)
        if kind == 'IPPool':
            _check_pool_against_live(resource, current, live.get('IPPool', {}), label, errors)
        elif kind == 'BGPPeer':
            known = set(live.get('BGPFilter', {})) | batch_filters
            missing = [name for name in spec.get('filters') or [] if name not in known]
            if missing:
                errors.add('%s: spec.filters' % label, spec['filters'], 'names BGPFilter(s) that do not exist: %s'
                           % ', '.join(missing))
        elif kind == 'Node' and current is not None:
            _check_node_labels(resource, current, label, errors)
    errors.raise_if_any()
    return resources


def _check_pool_against_live(resource, current, pools, label, errors):
    spec = resource['spec']
    if current is None:
        try:
            network = ipaddress.ip_network(spec.get('cidr'), strict=False)
        except (TypeError, ValueError):
            return
        for other_name, other in sorted(pools.items()):
            if other_name == resource['metadata']['name']:
                continue
            try:
                other_network = ipaddress.ip_network((other.get('spec') or {}).get('cidr'), strict=False)
            except (TypeError, ValueError):
                continue
            if network.version == other_network.version and network.overlaps(other_network):
                errors.add('%s: spec.cidr' % label, spec['cidr'], 'overlaps the existing IPPool/%s (%s)'
                           % (other_name, other['spec']['cidr']))
        return
    live_spec = current.get('spec') or {}
    for field, what in (('cidr', 'CIDR'), ('blockSize', 'block size')):
        if spec.get(field) is not None and live_spec.get(field) is not None and spec[field] != live_spec[field]:
            errors.add('%s: spec.%s' % (label, field), spec[field], 'differs from the live pool (%s): the %s of an '
                       'IPPool cannot be changed; create a new pool and migrate' % (v.show(live_spec[field]), what))
    uses = spec.get('allowedUses')
    if uses is not None and 'LoadBalancer' in (live_spec.get('allowedUses') or []) and \
            any(use != 'LoadBalancer' for use in uses):
        errors.add('%s: spec.allowedUses' % label, uses, 'cannot change a LoadBalancer pool to Workload or Tunnel')


def _check_node_labels(resource, current, label, errors):
    annotations = (current.get('metadata') or {}).get('annotations') or {}
    raw = annotations.get(KUBE_LABELS_ANNOTATION)
    if not raw:
        return
    try:
        kube_labels = json.loads(raw) or {}
    except ValueError:
        return
    for key, value in ((resource.get('metadata') or {}).get('labels') or {}).items():
        if key in kube_labels and value != kube_labels[key]:
            errors.add('%s: metadata.labels.%s' % (label, key), value,
                       'is a Kubernetes label of the Node (%s): Calico cannot change it (calicoctl ignores the '
                       'change); change it with kubectl' % v.show(kube_labels[key]))
