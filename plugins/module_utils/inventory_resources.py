# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Calico resources that the inventory describes, in ``projectcalico.org/v3`` form.

``build_resources(params)`` turns the inventory values (given by their short names, e.g.
``bgp_peers`` for ``calico_bgp_peers``) into BGPConfiguration ``default``, BGPPeers, IPPools and
FelixConfiguration ``default``: the content of ``calico-resources.yaml``. Every error names the
inventory variable, the list index and resource name, and the value. The checks are the cheap and
certain ones; the calicoctl module validates the rest when the resources are applied.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

from ansible_collections.k8snet.calico.plugins.module_utils.calico import validation as v

API_VERSION = 'projectcalico.org/v3'
DEFAULT_POOL_NAME = 'default-ipv4-ippool'  # the name calico-node gives the pool it creates
RESOURCE_OPTIONS = ('encapsulation', 'pod_cidr', 'bgp_node_mesh', 'bgp_as_number',
                    'bgp_log_severity_screen', 'bgp_service_cluster_ips', 'bgp_peers', 'ip_pools',
                    'ip_reservations', 'felix_config')
PEER_KEYS = ('name', 'peer_ip', 'as_number', 'node', 'node_selector', 'peer_selector', 'password')
POOL_KEYS = ('name', 'cidr', 'block_size', 'nat_outgoing', 'ipip_mode', 'vxlan_mode',
             'node_selector', 'disabled', 'allowed_uses', 'disable_bgp_export')
_LINK_LOCAL = (ipaddress.ip_network('169.254.0.0/16'), ipaddress.ip_network('fe80::/10'))


def _set(value):
    return value is not None and value != '' and value != [] and value != {}


def resource(kind, name, spec):
    return {'apiVersion': API_VERSION, 'kind': kind, 'metadata': {'name': name}, 'spec': spec}


class _Item:
    """Labels for the fields of one list item: ``calico_bgp_peers[0] (tor1).peer_ip``."""

    def __init__(self, variable, index, item):
        name = item.get('name') if isinstance(item, dict) else None
        self.base = '%s[%d]' % (variable, index)
        if isinstance(name, str) and name:
            self.base += ' (%s)' % name

    def __call__(self, field):
        return '%s.%s' % (self.base, field)


class _Same:
    """Labels for a list item derived from one variable: every field is that variable."""

    def __init__(self, variable):
        self.base = variable

    def __call__(self, field):
        return self.base


def _unknown_keys(errors, label, item, known):
    for key in item:
        if key not in known:
            errors.add_message('%s: unknown key %s (known: %s)' % (label, v.show(key), ', '.join(known)))


def bgp_configuration(params, prefix, errors):
    def label(name):
        return prefix + name

    spec = {}
    severity = params.get('bgp_log_severity_screen')
    spec['logSeverityScreen'] = errors.check(label('bgp_log_severity_screen'), severity, v.log_level) \
        if _set(severity) else 'Info'
    mesh = params.get('bgp_node_mesh')
    if mesh is None:
        mesh = True
    spec['nodeToNodeMeshEnabled'] = errors.check(label('bgp_node_mesh'), mesh, v.boolean)
    if _set(params.get('bgp_as_number')):
        spec['asNumber'] = errors.check(label('bgp_as_number'), params['bgp_as_number'], v.as_number)
    cluster_ips = params.get('bgp_service_cluster_ips')
    if _set(cluster_ips):
        if isinstance(cluster_ips, str):
            cluster_ips = [cluster_ips]
        if not isinstance(cluster_ips, (list, tuple)):
            errors.add(label('bgp_service_cluster_ips'), cluster_ips, 'is not a list of CIDRs')
        else:
            spec['serviceClusterIPs'] = [
                {'cidr': errors.check('%s[%d]' % (label('bgp_service_cluster_ips'), number), cidr, v.ip_network)}
                for number, cidr in enumerate(cluster_ips)]
    return resource('BGPConfiguration', 'default', spec)


def bgp_peers(params, prefix, errors):
    variable = prefix + 'bgp_peers'
    peers = params.get('bgp_peers') or []
    if not isinstance(peers, (list, tuple)):
        errors.add(variable, peers, 'is not a list')
        return []
    result, names = [], {}
    for index, item in enumerate(peers):
        label = _Item(variable, index, item)
        if not isinstance(item, dict):
            errors.add(label.base, item, 'is not a mapping')
            continue
        _unknown_keys(errors, label.base, item, PEER_KEYS)
        name = errors.check(label('name'), item.get('name'), v.resource_name)
        if name in names:
            errors.add(label('name'), name, 'is also the name of %s[%d]' % (variable, names[name]))
        names.setdefault(name, index)
        spec = {}
        if _set(item.get('node')) and _set(item.get('node_selector')):
            errors.add_message('%s: node and node_selector cannot both be set (node %s, node_selector %s)'
                               % (label.base, v.show(item['node']), v.show(item['node_selector'])))
        if _set(item.get('node')):
            spec['node'] = errors.check(label('node'), item['node'], v.resource_name)
        if _set(item.get('node_selector')):
            spec['nodeSelector'] = errors.check(label('node_selector'), item['node_selector'], v.selector)
        if _set(item.get('peer_selector')):
            for field in ('peer_ip', 'as_number'):
                if _set(item.get(field)):
                    errors.add_message('%s: %s must be empty when peer_selector is set (%s %s)'
                                       % (label.base, field, field, v.show(item[field])))
            spec['peerSelector'] = errors.check(label('peer_selector'), item['peer_selector'], v.selector)
        else:
            for field in ('peer_ip', 'as_number'):
                if not _set(item.get(field)):
                    errors.add_message('%s: %s is required (or peer_selector)' % (label.base, field))
            if _set(item.get('peer_ip')):
                spec['peerIP'] = errors.check(label('peer_ip'), item['peer_ip'], v.peer_ip)
            if _set(item.get('as_number')):
                spec['asNumber'] = errors.check(label('as_number'), item['as_number'], v.as_number)
        password = item.get('password')
        if _set(password):
            spec['password'] = _secret_ref(errors, label('password'), password)
        result.append(resource('BGPPeer', name, spec))
    return result


def _secret_ref(errors, label, password):
    if not isinstance(password, dict):
        errors.add_message('%s: must be a reference to a Kubernetes Secret {secret_name, secret_key}, '
                           'never the password itself' % label)
        return None
    _unknown_keys(errors, label, password, ('secret_name', 'secret_key'))
    return {'secretKeyRef': {
        'name': errors.check(label + '.secret_name', password.get('secret_name'), v.resource_name),
        'key': errors.check(label + '.secret_key', password.get('secret_key'), v.secret_key),
    }}


def _default_pools(params):
    if _set(params.get('ip_pools')):
        return params['ip_pools'], False
    if _set(params.get('pod_cidr')):
        return [{'name': DEFAULT_POOL_NAME, 'cidr': params['pod_cidr']}], True
    return [], False


def ip_pools(params, prefix, errors):
    """IPPools from ``ip_pools``; without any, one pool ``default-ipv4-ippool`` of ``pod_cidr``."""
    pools, derived = _default_pools(params)
    variable = prefix + ('pod_cidr' if derived else 'ip_pools')
    if not isinstance(pools, (list, tuple)):
        errors.add(variable, pools, 'is not a list')
        return []
    encap = params.get('encapsulation') or 'IPIP'
    if encap not in v.ENCAPSULATIONS:
        encap = 'IPIP'  # reported by the encapsulation check
    result, names, networks = [], {}, []
    for index, item in enumerate(pools):
        label = _Item(variable, index, item) if not derived else _Same(variable)
        base = label.base
        if not isinstance(item, dict):
            errors.add(base, item, 'is not a mapping')
            continue
        _unknown_keys(errors, base, item, POOL_KEYS)
        name = errors.check(label('name'), item.get('name'), v.resource_name)
        if name in names:
            errors.add(label('name'), name, 'is also the name of %s[%d]' % (variable, names[name]))
        names.setdefault(name, index)
        cidr = errors.check(label('cidr'), item.get('cidr'), v.ip_network)
        if cidr is None:
            result.append(resource('IPPool', name, {'cidr': item.get('cidr')}))
            continue
        network = ipaddress.ip_network(cidr)
        for local in _LINK_LOCAL:
            if network.version == local.version and network.overlaps(local):
                errors.add(label('cidr'), cidr, 'overlaps the link-local range %s' % local)
        for other_index, other in networks:
            if other.version == network.version and other.overlaps(network):
                errors.add(label('cidr'), cidr, 'overlaps the pool of %s[%d] (%s)' % (variable, other_index, other))
        networks.append((index, network))
        spec = {'cidr': cidr}
        if _set(item.get('block_size')):
            size = errors.check(label('block_size'), item['block_size'], v.block_size, network.version)
            spec['blockSize'] = size
            if size is not None and network.prefixlen > size and not item.get('disabled'):
                errors.add(label('cidr'), cidr, 'is smaller than one block of /%d (block_size)' % size)
        elif network.prefixlen > (26 if network.version == 4 else 122) and not item.get('disabled'):
            errors.add(label('cidr'), cidr, "is smaller than one block of Calico's default block size "
                                            "/%d" % (26 if network.version == 4 else 122))
        ipip_default, vxlan_default, _backend = v.ENCAPSULATIONS[encap]
        if network.version == 6:
            ipip_default = 'Never'  # Calico has no IPIP for IPv6
        ipip = errors.check(label('ipip_mode'), item['ipip_mode'], v.pool_mode) \
            if _set(item.get('ipip_mode')) else ipip_default
        vxlan = errors.check(label('vxlan_mode'), item['vxlan_mode'], v.pool_mode) \
            if _set(item.get('vxlan_mode')) else vxlan_default
        if network.version == 6 and ipip not in (None, 'Never'):
            errors.add(label('ipip_mode'), ipip, "is not possible on an IPv6 pool (only 'Never')")
        if ipip not in (None, 'Never') and vxlan not in (None, 'Never'):
            errors.add_message('%s: ipip_mode %s and vxlan_mode %s cannot both be enabled'
                               % (base, v.show(ipip), v.show(vxlan)))
        spec['ipipMode'] = ipip
        spec['vxlanMode'] = vxlan
        nat = item.get('nat_outgoing', False)
        spec['natOutgoing'] = errors.check(label('nat_outgoing'), False if nat is None else nat, v.boolean)
        if _set(item.get('node_selector')):
            spec['nodeSelector'] = errors.check(label('node_selector'), item['node_selector'], v.selector)
        for key, field in (('disabled', 'disabled'), ('disable_bgp_export', 'disableBGPExport')):
            if item.get(key) is not None:
                spec[field] = errors.check(label(key), item[key], v.boolean)
        uses = item.get('allowed_uses')
        if _set(uses):
            spec['allowedUses'] = _allowed_uses(errors, label('allowed_uses'), uses, ipip, vxlan)
        result.append(resource('IPPool', name, spec))
    return result


def _allowed_uses(errors, label, uses, ipip, vxlan):
    if not isinstance(uses, (list, tuple)):
        errors.add(label, uses, 'is not a list')
        return None
    for use in uses:
        if use not in v.POOL_ALLOWED_USES:
            errors.add(label, use, 'is not one of %s' % ', '.join(v.POOL_ALLOWED_USES))
    if 'LoadBalancer' in uses and len(set(uses)) > 1:
        errors.add(label, list(uses), 'mixes LoadBalancer with other uses')
    if 'LoadBalancer' in uses and (ipip not in (None, 'Never') or vxlan not in (None, 'Never')):
        errors.add(label, list(uses), 'is LoadBalancer, which allows neither IPIP nor VXLAN')
    return list(uses)


RESERVATION_KEYS = ('name', 'reserved_cidrs')


def ip_reservations(params, prefix, errors):
    """IPReservations: addresses Calico IPAM never hands out automatically (fixed pod IPs given with
    the ``cni.projectcalico.org/ipAddrs`` annotation may still use them)."""
    variable = prefix + 'ip_reservations'
    items = params.get('ip_reservations') or []
    if not isinstance(items, (list, tuple)):
        errors.add(variable, items, 'is not a list')
        return []
    result, names = [], {}
    for index, item in enumerate(items):
        label = _Item(variable, index, item)
        if not isinstance(item, dict):
            errors.add(label.base, item, 'is not a mapping')
            continue
        _unknown_keys(errors, label.base, item, RESERVATION_KEYS)
        name = errors.check(label('name'), item.get('name'), v.resource_name)
        if name in names:
            errors.add(label('name'), name, 'is also the name of %s[%d]' % (variable, names[name]))
        names.setdefault(name, index)
        cidrs = item.get('reserved_cidrs')
        if isinstance(cidrs, str):
            cidrs = [cidrs]
        if not isinstance(cidrs, (list, tuple)) or not cidrs:
            errors.add(label('reserved_cidrs'), cidrs, 'is not a non-empty list of IP addresses or CIDRs')
            cidrs = []
        checked = [errors.check('%s[%d]' % (label('reserved_cidrs'), number), cidr, v.cidr_or_ip, None, True)
                   for number, cidr in enumerate(cidrs)]
        result.append(resource('IPReservation', name, {'reservedCIDRs': checked}))
    return result


def felix_configuration(params, prefix, errors):
    fields = params.get('felix_config')
    if not _set(fields):
        return None
    if not isinstance(fields, dict):
        errors.add(prefix + 'felix_config', fields, 'is not a mapping of FelixConfiguration fields')
        return None
    spec = {}
    for key, value in fields.items():
        if errors.check('%sfelix_config' % prefix, key, v.field_name) is not None:
            spec[key] = value
    return resource('FelixConfiguration', 'default', spec)


def build_resources(params, prefix='calico_', errors=None):
    """The resources of calico-resources.yaml, in a fixed order. Raises ValidationErrors naming
    every bad value (or adds them to ``errors``, an ErrorCollector, if one is given)."""
    own = errors is None
    errors = errors if errors is not None else v.ErrorCollector()
    result = [bgp_configuration(params, prefix, errors)]
    result += bgp_peers(params, prefix, errors)
    result += ip_pools(params, prefix, errors)
    result += ip_reservations(params, prefix, errors)
    felix = felix_configuration(params, prefix, errors)
    if felix is not None:
        result.append(felix)
    if own:
        errors.raise_if_any()
    return result


def pool_warnings(params, prefix='calico_'):
    """Warnings about the pool calico-node creates at start-up from ``pod_cidr`` (named
    default-ipv4-ippool, when no pool exists yet) and the pools of ``ip_pools``."""
    cidr, pools = params.get('pod_cidr'), params.get('ip_pools')
    if not _set(cidr) or not _set(pools) or not isinstance(pools, (list, tuple)):
        return []
    try:
        wanted = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return []
    same = [pool for pool in pools if isinstance(pool, dict) and _same_network(pool.get('cidr'), wanted)]
    if not same:
        return ['%spod_cidr %s is in none of %sip_pools: calico-node creates pool %s from it when it '
                'starts before any pool exists' % (prefix, cidr, prefix, DEFAULT_POOL_NAME)]
    if all(pool.get('name') != DEFAULT_POOL_NAME for pool in same):
        return ['%sip_pools has %s for %spod_cidr %s: calico-node names the pool it creates from it %s, '
                'which would overlap' % (prefix, same[0].get('name'), prefix, cidr, DEFAULT_POOL_NAME)]
    return []


def _same_network(value, network):
    try:
        return ipaddress.ip_network(value, strict=False) == network
    except (TypeError, ValueError):
        return False


def summary(resources):
    """'Kind name' of each resource, for the module's result."""
    return ['%s %s' % (item['kind'], item['metadata']['name']) for item in resources]
