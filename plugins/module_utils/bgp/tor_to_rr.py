# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The plan of a move from TOR peering ("TOR mode") to route reflectors, from the live resources.

TOR mode (the seed's cluster): the node-to-node mesh is off and a global BGPPeer makes every node
peer with the top-of-rack switch. RR mode: the nodes of the inventory group calico_rr carry a
routeReflectorClusterID and a label; one BGPPeer makes every node peer with them (calico-node adds
the reverse peerings, so the reflectors peer with every node and with each other); the TOR peers
are scoped to the reflectors with a nodeSelector.

The order keeps a path to every pod block at every step:
  make-reflectors   Node patches (cluster ID, label): no session changes yet.
  add-peerings      the reflector peering; gate: every node Established to every reflector.
  move-tor-peers    one TOR peer at a time gets the reflector nodeSelector. calico-node replaces
                    that peer's sessions (Global_<ip> becomes Node_<ip> on the reflectors; the other
                    nodes drop theirs), so for a few seconds that TOR learns the pod blocks only
                    from its neighbours: with one TOR that is an outage of the traffic entering
                    through it, which the plan refuses unless accepted. Gate after each TOR.
  mesh-off          when the mesh was on, it goes off last (reflectors ignore it anyway).
The plan refuses, before anything is written, whatever would leave a node without a path.
Everything here is a pure function of plain dicts (v3 resources as calico_info returns them).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import ipaddress

from ansible_collections.k8snet.calico.plugins.module_utils.bgp import selector

DEFAULT_AS_NUMBER = 64512
API_VERSION = 'projectcalico.org/v3'
STAGES = ('make-reflectors', 'add-peerings', 'move-tor-peers', 'mesh-off')


class PlanOptions:
    """What the inventory says about the move (see the role calico_route_reflector)."""

    def __init__(self, rr_min=2, label_key='route-reflector', label_value='true',
                 peering_name='k8snet-route-reflectors', tor_peers=None, accept_tor_flap=False,
                 gated_nodes=None):
        self.rr_min = rr_min
        self.label_key = label_key
        self.label_value = label_value
        self.peering_name = peering_name
        self.tor_peers = list(tor_peers or [])
        self.accept_tor_flap = accept_tor_flap
        self.gated_nodes = None if gated_nodes is None else list(gated_nodes)


def _name(resource):
    return (resource.get('metadata') or {}).get('name')


def _spec(resource):
    return resource.get('spec') or {}


def _labels(resource):
    return (resource.get('metadata') or {}).get('labels') or {}


def _bgp(node):
    return _spec(node).get('bgp') or {}


def node_address(node):
    """The node's BGP IPv4 address without the prefix length, or None."""
    value = _bgp(node).get('ipv4Address')
    if not value:
        return None
    try:
        return str(ipaddress.ip_interface(u'%s' % value).ip)
    except ValueError:
        return None


def peer_address(peer):
    """A BGPPeer's peerIP without a port (``10.0.0.1:179`` and ``[fd00::1]:179`` forms)."""
    value = _spec(peer).get('peerIP') or ''
    if value.startswith('['):
        return value[1:].split(']')[0]
    if value.count(':') == 1:
        return value.split(':')[0]
    return value


def is_global(peer):
    spec = _spec(peer)
    return not spec.get('node') and not spec.get('nodeSelector')


def _resource(kind, name, spec, labels=None, annotations=None):
    metadata = {'name': name}
    if labels:
        metadata['labels'] = dict(labels)
    if annotations:
        metadata['annotations'] = dict(annotations)
    return {'apiVersion': API_VERSION, 'kind': kind, 'metadata': metadata, 'spec': spec}


def _restorable(resource):
    """The resource as the calicoctl module re-creates it: name, labels, annotations, spec."""
    metadata = resource.get('metadata') or {}
    return _resource(resource.get('kind') or 'BGPPeer', metadata.get('name'), copy.deepcopy(_spec(resource)),
                     metadata.get('labels'), metadata.get('annotations'))


def _valid_ipv4(value):
    try:
        ipaddress.IPv4Address(u'%s' % value)
        return True
    except ValueError:
        return False


class Planner:
    def __init__(self, nodes, peers, bgp_configuration, route_reflectors, options):
        self.nodes = dict((_name(n), n) for n in nodes or [])
        self.peers = dict((_name(p), p) for p in peers or [])
        self.bgp_configuration = bgp_configuration
        self.route_reflectors = list(route_reflectors or [])
        self.options = options
        self.refusals = []
        self.not_gated = []
        self.rr_selector = selector.equals(options.label_key, options.label_value)
        self.global_as = int(_spec(bgp_configuration or {}).get('asNumber') or DEFAULT_AS_NUMBER)

    # -- what is there ---------------------------------------------------------------------------
    def node_as(self, node):
        return int(_bgp(node).get('asNumber') or self.global_as)

    def mesh_enabled(self):
        if self.bgp_configuration is None:
            return True
        return _spec(self.bgp_configuration).get('nodeToNodeMeshEnabled', True) is not False

    def node_addresses(self):
        return dict((name, node_address(node)) for name, node in self.nodes.items() if node_address(node))

    def tor_peers(self):
        """TOR peers: named in the options, or every peer to an address no Calico node has that is
        global or already scoped to the reflectors."""
        calico_addresses = set(self.node_addresses().values())
        if self.options.tor_peers:
            chosen = []
            for name in self.options.tor_peers:
                peer = self.peers.get(name)
                if peer is None:
                    self.refusals.append('calico_route_reflector_tor_peers: no BGPPeer named %r in the datastore' % name)
                elif not peer_address(peer) or _spec(peer).get('peerSelector'):
                    self.refusals.append('calico_route_reflector_tor_peers: BGPPeer %r has no peerIP (it selects Calico '
                                         'nodes), so it is not a TOR peer' % name)
                else:
                    chosen.append(peer)
            return chosen
        return [peer for name, peer in sorted(self.peers.items())
                if peer_address(peer) and not _spec(peer).get('peerSelector')
                and peer_address(peer) not in calico_addresses
                and (is_global(peer) or _spec(peer).get('nodeSelector') == self.rr_selector)]

    # -- checks ----------------------------------------------------------------------------------
    def check_reflectors(self):
        rrs = []
        seen = set()
        for entry in self.route_reflectors:
            name, cluster_id = entry.get('node'), entry.get('cluster_id')
            if name in seen:
                continue
            seen.add(name)
            node = self.nodes.get(name)
            if node is None:
                self.refusals.append('calico_rr host %s: there is no Calico Node %r (set calico_node_name when the '
                                     'inventory name differs)' % (entry.get('host', name), name))
                continue
            if not cluster_id:
                self.refusals.append('calico_route_reflector_cluster_id of %s is not set (one IPv4-formatted ID per '
                                     'route reflector group, e.g. 244.0.0.1)' % entry.get('host', name))
                continue
            if not _valid_ipv4(cluster_id):
                self.refusals.append('calico_route_reflector_cluster_id of %s: %r is not an IPv4 address'
                                     % (entry.get('host', name), cluster_id))
                continue
            if not node_address(node):
                self.refusals.append('route reflector %s has no BGP IPv4 address (spec.bgp.ipv4Address): calico-node '
                                     'has not run there, or BGP is off on it' % name)
                continue
            rrs.append({'node': name, 'cluster_id': cluster_id, 'address': node_address(node),
                        'as_number': self.node_as(self.nodes[name])})
        if not self.route_reflectors:
            self.refusals.append('no route reflectors: the inventory group calico_rr is empty')
        elif len(rrs) == len(seen) and len(rrs) < self.options.rr_min:
            self.refusals.append('only %d route reflector(s) (%s) but calico_route_reflector_min is %d: one failure would '
                                 'cut every node off; add hosts to calico_rr'
                                 % (len(rrs), ', '.join(r['node'] for r in rrs), self.options.rr_min))
        rr_names = set(r['node'] for r in rrs)
        for name, node in sorted(self.nodes.items()):
            if name in seen:
                continue
            if _labels(node).get(self.options.label_key) == self.options.label_value or _bgp(node).get(
                    'routeReflectorClusterID'):
                self.refusals.append('node %s is a route reflector in the datastore (label %s or a '
                                     'routeReflectorClusterID) but not in calico_rr: add it to calico_rr or clear it'
                                     % (name, self.rr_selector))
        as_numbers = set(r['as_number'] for r in rrs)
        for name, node in sorted(self.nodes.items()):
            if node_address(node) and name not in rr_names and rrs and self.node_as(node) not in as_numbers:
                self.refusals.append('node %s is in AS %d and the route reflectors in AS %s: route reflection needs '
                                     'the clients in the reflectors\' AS' % (name, self.node_as(node),
                                                                             ', '.join(str(a) for a in sorted(as_numbers))))
        return rrs

    # -- the plan --------------------------------------------------------------------------------
    def plan(self):
        rrs = self.check_reflectors()
        tors = self.tor_peers()
        mesh = self.mesh_enabled()
        node_patches, rollback_nodes = [], []
        for rr in rrs:
            node = self.nodes[rr['node']]
            labels, bgp = _labels(node), _bgp(node)
            if labels.get(self.options.label_key) == self.options.label_value and \
                    bgp.get('routeReflectorClusterID') == rr['cluster_id']:
                continue
            node_patches.append(_resource('Node', rr['node'], {'bgp': {'routeReflectorClusterID': rr['cluster_id']}},
                                          {self.options.label_key: self.options.label_value}))
            rollback_nodes.append(_resource('Node', rr['node'],
                                            {'bgp': {'routeReflectorClusterID': bgp.get('routeReflectorClusterID')}},
                                            {self.options.label_key: labels.get(self.options.label_key)}))

        peering_spec = {'nodeSelector': 'all()', 'peerSelector': self.rr_selector}
        live_peering = self.peers.get(self.options.peering_name)
        peering = None
        rollback_peering = None
        if live_peering is None or dict((k, v) for k, v in _spec(live_peering).items() if k in (
                'nodeSelector', 'peerSelector', 'node', 'peerIP', 'asNumber')) != peering_spec:
            peering = _resource('BGPPeer', self.options.peering_name, peering_spec)
            rollback_peering = {'state': 'absent', 'definition': _resource('BGPPeer', self.options.peering_name, {})} \
                if live_peering is None else {'state': 'present', 'definition': _restorable(live_peering)}

        to_move = [p for p in tors if is_global(p)]
        tor_moves, rollback_tors = [], []
        for peer in to_move:
            moved = _restorable(peer)
            moved['spec']['nodeSelector'] = self.rr_selector
            tor_moves.append({'definition': moved, 'address': peer_address(peer), 'name': _name(peer)})
            rollback_tors.append(_restorable(peer))
        tor_addresses = sorted(set(peer_address(p) for p in tors))
        if len(tors) == 1 and to_move and not self.options.accept_tor_flap:
            self.refusals.append(
                'one TOR peer (%s, %s): when it is scoped to the route reflectors, calico-node replaces its '
                'sessions on every node at once, so the switch has no pod routes for a few seconds (until the '
                'reflectors\' new sessions are Established). With two TOR peers the plan moves one at a time and '
                'the other carries the routes. Accept the short outage with calico_route_reflector_accept_tor_flap: '
                'true, in a maintenance window' % (_name(tors[0]), tor_addresses[0]))
        if not tors and not mesh and (node_patches or peering):
            self.refusals.append('no TOR peer found (a global BGPPeer to an address that is not a Calico node) and '
                                 'the node-to-node mesh is off: name the TOR peers in calico_route_reflector_tor_peers')

        mesh_off = rollback_mesh = None
        if mesh:
            if self.bgp_configuration is None:
                mesh_off = {'state': 'present', 'definition': _resource(
                    'BGPConfiguration', 'default', {'nodeToNodeMeshEnabled': False})}
                rollback_mesh = {'state': 'absent', 'definition': _resource('BGPConfiguration', 'default', {})}
            else:
                mesh_off = {'state': 'patched', 'definition': _resource(
                    'BGPConfiguration', 'default', {'nodeToNodeMeshEnabled': False})}
                rollback_mesh = {'state': 'patched', 'definition': _resource(
                    'BGPConfiguration', 'default', {'nodeToNodeMeshEnabled': True})}

        rr_addresses = dict((r['node'], r['address']) for r in rrs)
        gate = {}
        rollback_gate = {}
        addresses = self.node_addresses()
        for name in sorted(addresses):
            if name in rr_addresses:
                gate[name] = sorted(a for n, a in rr_addresses.items() if n != name) + tor_addresses
            else:
                gate[name] = sorted(rr_addresses.values())
            expected = list(sorted(set(peer_address(p) for p in to_move)))
            if mesh:
                expected += sorted(a for n, a in addresses.items() if n != name)
            rollback_gate[name] = expected
        gated = self.options.gated_nodes
        if gated is not None:
            missing = sorted(set(addresses) - set(gated))
            if missing:
                self.not_gated.append('Calico nodes not in the inventory group k8s_cluster, so their BGP sessions are '
                                      'not checked by the gates: %s' % ', '.join(missing))
            unknown = sorted(set(gated) - set(self.nodes))
            if unknown:
                self.not_gated.append('hosts of k8s_cluster without a Calico Node of that name (not gated): %s'
                                      % ', '.join(unknown))
            gate = dict((n, v) for n, v in gate.items() if n in gated)
            rollback_gate = dict((n, v) for n, v in rollback_gate.items() if n in gated)

        others = [p for name, p in sorted(self.peers.items())
                  if p not in tors and name != self.options.peering_name]
        changes = []
        for patch in node_patches:
            changes.append('make-reflectors: Node %s gets routeReflectorClusterID %s and label %s=%s' % (
                _name(patch), patch['spec']['bgp']['routeReflectorClusterID'], self.options.label_key,
                self.options.label_value))
        if peering:
            changes.append('add-peerings: BGPPeer %s (every node peers with %s; calico-node adds the reverse '
                           'peerings)' % (self.options.peering_name, self.rr_selector))
        for move in tor_moves:
            changes.append('move-tor-peers: BGPPeer %s (%s) gets nodeSelector %s: only the route reflectors peer '
                           'with it' % (move['name'], move['address'], self.rr_selector))
        if mesh_off:
            changes.append('mesh-off: BGPConfiguration default nodeToNodeMeshEnabled false')

        done = not (node_patches or peering or tor_moves or mesh_off)
        return {
            'done': done and not self.refusals,
            'refusals': self.refusals,
            'not_gated': self.not_gated,
            'changes': changes,
            'current': {
                'mesh_enabled': mesh,
                'as_number': self.global_as,
                'tor_peers': [{'name': _name(p), 'address': peer_address(p),
                               'as_number': _spec(p).get('asNumber'),
                               'scope': 'all nodes' if is_global(p) else _spec(p).get('nodeSelector')} for p in tors],
                'other_peers': [{'name': _name(p), 'address': peer_address(p) or None,
                                 'node': _spec(p).get('node'), 'node_selector': _spec(p).get('nodeSelector'),
                                 'peer_selector': _spec(p).get('peerSelector')} for p in others],
                'route_reflectors': rrs,
                'nodes': len(self.nodes),
            },
            'node_patches': node_patches,
            'peering': peering,
            'tor_moves': tor_moves,
            'mesh_off': mesh_off,
            'gate': gate,
            'route_reflector_selector': self.rr_selector,
            'rollback': {
                'tor_peers': rollback_tors,
                'peering': rollback_peering,
                'node_patches': rollback_nodes,
                'mesh': rollback_mesh,
                'gate': rollback_gate,
            },
        }


def plan(nodes, peers, bgp_configuration, route_reflectors, options=None):
    """The plan (see the module docstring) as a dict of plain data."""
    return Planner(nodes, peers, bgp_configuration, route_reflectors, options or PlanOptions()).plan()
