# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A guarded change of an IP pool's encapsulation (ipipMode / vxlanMode): the checks before it.

How calico-node applies IPIP CrossSubnet (confd's bird_ipam.cfg template, v3.31): a pod route whose
BGP next hop is in the node's own subnet (spec.bgp.ipv4Address with its prefix length) is
programmed natively, any other through the tunnel. So:
- a node address without a real prefix (/32) makes every next hop look remote, or none;
- in TOR mode (mesh off, no peering with other nodes) every pod route comes from the switch with
  the switch as next hop, which is on each node's subnet: CrossSubnet tunnels none of them;
  routes learned from other nodes (mesh, route reflectors that keep the next hop) are tunneled
  when the node is on another subnet. A mix of both gives paths encapsulated one way only.
The seed saw pods on a far subnet lose the master with CrossSubnet and went back to Never; these
checks make the conditions visible before the change. Pure functions of plain dicts.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

MODES = ('Always', 'CrossSubnet', 'Never')


def _spec(resource):
    return (resource or {}).get('spec') or {}


def _name(resource):
    return ((resource or {}).get('metadata') or {}).get('name')


def node_subnets(nodes):
    """{subnet: [node names]} from the nodes' BGP IPv4 addresses, and the nodes whose address has no
    usable prefix (/32 or none)."""
    subnets, unknown = {}, []
    for node in nodes:
        value = (_spec(node).get('bgp') or {}).get('ipv4Address')
        if not value:
            continue
        interface = ipaddress.ip_interface(u'%s' % value)
        if interface.network.prefixlen >= 32 or '/' not in value:
            unknown.append(_name(node))
            continue
        subnets.setdefault(str(interface.network), []).append(_name(node))
    return dict((k, sorted(v)) for k, v in subnets.items()), sorted(unknown)


def routes_from_nodes(peers, bgp_configuration):
    """Whether nodes learn pod routes from each other (mesh on, or a peering whose peerSelector
    selects Calico nodes, as the route reflector peering does)."""
    mesh = bgp_configuration is None or _spec(bgp_configuration).get('nodeToNodeMeshEnabled', True) is not False
    return mesh or any(_spec(p).get('peerSelector') for p in peers or [])


def check(pool, nodes, peers, bgp_configuration, ipip_mode=None, vxlan_mode=None, confirm=None):
    """The guard of a pool encapsulation change: {'changes', 'patch', 'refusals', 'cautions', ...}."""
    refusals, cautions = [], []
    name = _name(pool)
    for field, value in (('ipip_mode', ipip_mode), ('vxlan_mode', vxlan_mode)):
        if value is not None and value not in MODES:
            refusals.append('%s: %r is not one of %s' % (field, value, ', '.join(MODES)))
    if pool is None:
        return {'changes': {}, 'patch': None, 'refusals': refusals + ['the IP pool does not exist'],
                'cautions': [], 'subnets': {}, 'confirmed': False}
    spec = _spec(pool)
    current = {'ipipMode': spec.get('ipipMode') or 'Never', 'vxlanMode': spec.get('vxlanMode') or 'Never'}
    wanted = dict(current)
    if ipip_mode is not None:
        wanted['ipipMode'] = ipip_mode
    if vxlan_mode is not None:
        wanted['vxlanMode'] = vxlan_mode
    changes = dict((k, {'before': current[k], 'after': wanted[k]}) for k in current if current[k] != wanted[k])
    if wanted['ipipMode'] != 'Never' and wanted['vxlanMode'] != 'Never':
        refusals.append('IP pool %s: ipipMode %s and vxlanMode %s together; Calico allows one encapsulation per pool'
                        % (name, wanted['ipipMode'], wanted['vxlanMode']))
    subnets, unknown = node_subnets(nodes)
    if changes and 'CrossSubnet' in (wanted['ipipMode'], wanted['vxlanMode']):
        if unknown:
            refusals.append('CrossSubnet decides by the nodes\' subnets, but these nodes have a BGP address without '
                            'a subnet (/32 or none): %s; fix calico_ip_autodetection_method or the Node addresses first'
                            % ', '.join(unknown))
        if len(subnets) > 1 and not routes_from_nodes(peers, bgp_configuration):
            cautions.append(
                'the nodes span %d subnets (%s) and learn pod routes only from the TOR (mesh off, no peering '
                'between nodes): those routes have the switch, on each node\'s own subnet, as next hop, so '
                'CrossSubnet tunnels none of them, and the switches must route the pod blocks between the '
                'subnets as with Never; routes learned from other nodes later (route reflectors) are tunneled. '
                'Pods on a far subnet lost the master in the seed\'s cluster with this setting' % (
                    len(subnets), ', '.join(sorted(subnets))))
        if len(subnets) == 1 and not unknown:
            cautions.append('every node is in %s: CrossSubnet encapsulates nothing there, it acts as Never'
                            % next(iter(subnets)))
    confirmed = confirm == name
    if changes and not confirmed:
        refusals.append('changing the encapsulation of IP pool %s (%s) affects the traffic of every pod in it at once: '
                        'set calico_pool_mode_confirm: %s to apply it (check mode shows the change)'
                        % (name, ', '.join('%s %s -> %s' % (k, v['before'], v['after']) for k, v in sorted(changes.items())),
                           name))
    patch = None
    if changes:
        patch = {'apiVersion': 'projectcalico.org/v3', 'kind': 'IPPool', 'metadata': {'name': name},
                 'spec': dict((k, v['after']) for k, v in changes.items())}
    return {'changes': changes, 'patch': patch, 'refusals': refusals, 'cautions': cautions, 'subnets': subnets,
            'confirmed': confirmed}
