# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The defaults Calico fills in, per kind, as calicoctl v3.31 stores them.

Three sorts, each checked against the real calicoctl by tests/integration/test_calico_reference.py:

- ``CREATE_DEFAULTS``: what libcalico-go's client sets before it writes (calicoctl create/apply),
  on both datastores. A resource the module writes carries them, so a re-run compares equal.
- ``read_defaults``: what libcalico-go fills in when it reads an IP pool written without them
  (libcalico-go/lib/clientv3/ippool.go: convertIpPoolFromStorage).
- ``SERVER_DEFAULTS``: what the Kubernetes API server adds from the CRD schema (``default:`` in
  the upstream crds.yaml) in the kubernetes datastore only. They are not sent; they count as
  equal to an absent field when comparing.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress


def _ip_version(cidr):
    try:
        return ipaddress.ip_network(cidr, strict=False).version
    except (TypeError, ValueError):
        return None


def ippool(resource):
    """libcalico-go/lib/clientv3/ippool.go (validateAndSetDefaults): the CIDR normalised, blockSize
    26 (IPv4) or 122 (IPv6), nodeSelector all(), allowedUses [Workload, Tunnel], ipipMode and
    vxlanMode Never, assignmentMode Automatic (set by v3.31.0)."""
    spec = resource.setdefault('spec', {})
    version = _ip_version(spec.get('cidr'))
    if version is not None and '/' in spec['cidr']:
        try:  # normalised ('fd00:0::/48' -> 'fd00::/48'); a CIDR with host bits is left to the rules
            spec['cidr'] = str(ipaddress.ip_network(spec['cidr']))
        except ValueError:
            pass
    if not spec.get('nodeSelector'):
        spec['nodeSelector'] = 'all()'
    if not spec.get('blockSize') and version is not None:
        spec['blockSize'] = 26 if version == 4 else 122
    if not spec.get('allowedUses'):
        spec['allowedUses'] = ['Workload', 'Tunnel']
    if spec.get('assignmentMode') is None:
        spec['assignmentMode'] = 'Automatic'
    if not spec.get('ipipMode'):
        spec['ipipMode'] = 'Never'
    if not spec.get('vxlanMode'):
        spec['vxlanMode'] = 'Never'
    return resource


def felixconfiguration(resource):
    """libcalico-go/lib/clientv3/felixconfig.go (setDefaults): floatingIPs Disabled,
    bpfConnectTimeLoadBalancing TCP, bpfHostNetworkedNATWithoutCTLB Enabled; the deprecated
    bpfConnectTimeLoadBalancingEnabled, when set, overrides both (Enabled/Disabled, Disabled)."""
    spec = resource.setdefault('spec', {})
    spec.setdefault('floatingIPs', 'Disabled')
    spec.setdefault('bpfConnectTimeLoadBalancing', 'TCP')
    spec.setdefault('bpfHostNetworkedNATWithoutCTLB', 'Enabled')
    if spec.get('bpfConnectTimeLoadBalancingEnabled') is not None:
        spec['bpfHostNetworkedNATWithoutCTLB'] = 'Disabled'
        spec['bpfConnectTimeLoadBalancing'] = 'Enabled' if spec['bpfConnectTimeLoadBalancingEnabled'] else 'Disabled'
    return resource


def kubecontrollersconfiguration(resource):
    """libcalico-go/lib/clientv3/kubecontrollersconfig.go (validateAndFillDefaults):
    prometheusMetricsPort 9094; controllers.node.leakGracePeriod 15m0s when the node controller
    is configured; controllers.loadBalancer.assignIPs AllServices when that controller is.
    (Its template nodeSelector 'all()' default is set on a copy in v3.31.0 and never stored.)"""
    spec = resource.setdefault('spec', {})
    if spec.get('prometheusMetricsPort') is None:
        spec['prometheusMetricsPort'] = 9094
    controllers = spec.setdefault('controllers', {})
    if isinstance(controllers.get('node'), dict) and controllers['node'].get('leakGracePeriod') is None:
        controllers['node']['leakGracePeriod'] = '15m0s'
    if isinstance(controllers.get('loadBalancer'), dict) and not controllers['loadBalancer'].get('assignIPs'):
        controllers['loadBalancer']['assignIPs'] = 'AllServices'
    return resource


# Kind name -> function(resource) that fills in the create/update defaults, in place.
CREATE_DEFAULTS = {
    'IPPool': ippool,
    'FelixConfiguration': felixconfiguration,
    'KubeControllersConfiguration': kubecontrollersconfiguration,
}


def apply_defaults(resource):
    """Fill in calicoctl's defaults of a (validated, canonical) resource, in place; returns it."""
    fill = CREATE_DEFAULTS.get(resource.get('kind'))
    return fill(resource) if fill else resource


def read_defaults(resource):
    """The defaults libcalico-go adds when it reads a resource (IPPool only), in place."""
    if resource.get('kind') == 'IPPool':
        spec = resource.setdefault('spec', {})
        version = _ip_version(spec.get('cidr'))
        if not spec.get('blockSize') and version is not None:
            spec['blockSize'] = 26 if version == 4 else 122
        if not spec.get('allowedUses'):
            spec['allowedUses'] = ['Workload', 'Tunnel']
        if not spec.get('nodeSelector'):
            spec['nodeSelector'] = 'all()'
        if not spec.get('ipipMode'):
            spec['ipipMode'] = 'Never'
        if not spec.get('vxlanMode'):
            spec['vxlanMode'] = 'Never'
        if spec.get('assignmentMode') is None:
            spec['assignmentMode'] = 'Automatic'
    return resource


# Defaults of the upstream CRD schemas (crds.yaml of v3.31: ``default:``) that the API server
# writes into objects of the kubernetes datastore. Kind -> list of (path under spec, value);
# '[]' in a path means every item of a list.
SERVER_DEFAULTS = {
    'BGPConfiguration': [
        (('serviceLoadBalancerAggregation',), 'Enabled'),
        (('nodeMeshPassword', 'secretKeyRef', 'name'), ''),
    ],
    'BGPPeer': [
        (('password', 'secretKeyRef', 'name'), ''),
    ],
    'KubeControllersConfiguration': [
        (('controllers', 'loadBalancer', 'assignIPs'), 'AllServices'),
    ],
}


def _walk(node, path, action):
    """Call ``action(parent, key)`` for each place ``path`` names under ``node``."""
    if not isinstance(node, dict) or not path:
        return
    head, rest = path[0], path[1:]
    if head not in node:
        return
    if not rest:
        action(node, head)
        return
    child = node[head]
    if rest[0] == '[]':
        for item in child if isinstance(child, list) else []:
            _walk(item, rest[1:], action)
    else:
        _walk(child, rest, action)


def strip_server_defaults(resource):
    """The resource (a copy is not made: pass one) without the fields whose value is only the CRD
    default, so that a live object of either datastore compares equal to the desired one."""
    spec = resource.get('spec')
    for path, value in SERVER_DEFAULTS.get(resource.get('kind'), ()):
        def drop(parent, key, value=value):
            if parent.get(key) == value:
                del parent[key]
        _walk(spec, path, drop)
    return resource


def drop_empty_server_defaults(resource):
    """Remove the CRD defaults that are empty strings (secretKeyRef.name ''): libcalico-go's Go
    structs drop them on read (omitempty), so calicoctl never shows them."""
    spec = resource.get('spec')
    for path, value in SERVER_DEFAULTS.get(resource.get('kind'), ()):
        if value == '':
            def drop(parent, key):
                if parent.get(key) == '':
                    del parent[key]
            _walk(spec, path, drop)
    return resource


def carry_server_defaults(desired, live):
    """Copy into ``desired`` the CRD-default fields ``live`` has and ``desired`` lacks (the API
    server would add them again), so before/after views differ only by real changes."""
    for path, value in SERVER_DEFAULTS.get(desired.get('kind'), ()):
        node, target = live.get('spec'), desired.get('spec')
        for key in path[:-1]:
            if not isinstance(node, dict) or not isinstance(target, dict) or key not in node or key not in target:
                node = None
                break
            node, target = node[key], target[key]
        if isinstance(node, dict) and isinstance(target, dict) and node.get(path[-1]) == value \
                and path[-1] not in target:
            target[path[-1]] = value
    return desired
