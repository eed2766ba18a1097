#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: calico_tor_to_rr_plan
short_description: Plan the move from TOR peering to BGP route reflectors
version_added: 0.2.0
description:
  - Computes, from the live Calico resources (as M(k8snet.calico.calico_info) returns them), the ordered
    changes that move a cluster from TOR mode (every node peers with the top-of-rack switch through a
    global BGPPeer) to route reflectors, the BGP sessions each node must have Established after the
    move (the gates), and what restores the starting point (the rollback).
  - Refuses, with a message naming the value, a plan that would leave a node without a path - no route
    reflector, fewer than O(rr_min), a reflector without a BGP address or cluster ID, a node the
    datastore makes a reflector outside the group, clients in another AS, one TOR peer without
    O(accept_tor_flap).
  - Reads nothing and writes nothing itself; the playbook C(k8snet.calico.tor_to_rr) applies the plan
    with M(k8snet.calico.calicoctl) and gates it with M(k8snet.calico.calico_bgp_status).
author:
  - k8snet.calico contributors (@k8snet)
extends_documentation_fragment:
  - k8snet.calico.planner
options:
  nodes:
    description: The Calico Node resources (C(projectcalico.org/v3)).
    type: list
    elements: dict
    required: true
  bgp_peers:
    description: The BGPPeer resources.
    type: list
    elements: dict
    default: []
  bgp_configuration:
    description: The BGPConfiguration C(default), or null when it does not exist (the mesh is then on).
    type: dict
  route_reflectors:
    description: The route reflectors to be (the hosts of the inventory group C(calico_rr)).
    type: list
    elements: dict
    required: true
    suboptions:
      node:
        description: The Calico Node name.
        type: str
        required: true
      cluster_id:
        description: The C(routeReflectorClusterID) of its group, IPv4-formatted.
        type: str
      host:
        description: The inventory host, for messages.
        type: str
  rr_min:
    description: The fewest route reflectors the plan accepts.
    type: int
    default: 2
  label_key:
    description: The Node label that marks a route reflector; the peerings select it.
    type: str
    default: route-reflector
  label_value:
    description: Its value.
    type: str
    default: "true"
  peering_name:
    description: The name of the BGPPeer that makes every node peer with the route reflectors.
    type: str
    default: k8snet-route-reflectors
  tor_peers:
    description:
      - The BGPPeers of the TOR switches. Empty means every BGPPeer with a C(peerIP) that no Calico node
        has, global or already scoped to the route reflectors.
    type: list
    elements: str
    default: []
  accept_tor_flap:
    description:
      - Accept that, with a single TOR peer, the switch has no pod routes for the few seconds its sessions
        take to move to the route reflectors.
    type: bool
    default: false
  gated_nodes:
    description: The Calico Node names of the inventory (the gates check those); others are reported.
    type: list
    elements: str
seealso:
  - module: k8snet.calico.calico_info
  - module: k8snet.calico.calico_bgp_status
  - module: k8snet.calico.calicoctl
"""

EXAMPLES = r"""
- name: Read the BGP resources
  k8snet.calico.calico_info:
    kinds: [Node, BGPPeer, BGPConfiguration]
  register: bgp

- name: Plan the move to route reflectors
  k8snet.calico.calico_tor_to_rr_plan:
    nodes: "{{ bgp.resources.Node }}"
    bgp_peers: "{{ bgp.resources.BGPPeer }}"
    bgp_configuration: "{{ bgp.resources.BGPConfiguration | selectattr('metadata.name', 'eq', 'default') | first | default(omit) }}"
    route_reflectors:
      - {node: node-01, cluster_id: 244.0.0.1}
      - {node: node-02, cluster_id: 244.0.0.1}
  register: plan
"""

RETURN = r"""
done:
  description: Nothing is left to do (and nothing was refused).
  returned: always
  type: bool
refusals:
  description: Why the plan cannot be carried out; empty when it can.
  returned: always
  type: list
  elements: str
not_gated:
  description: What the gates cannot check (nodes outside the inventory).
  returned: always
  type: list
  elements: str
changes:
  description: The changes in order, one sentence each, prefixed by their stage.
  returned: always
  type: list
  elements: str
  sample: ["make-reflectors: Node node-01 gets routeReflectorClusterID 244.0.0.1 and label route-reflector=true"]
current:
  description: What is there now (mesh, AS number, TOR peers, other peers, route reflectors).
  returned: always
  type: dict
node_patches:
  description: Node patches of the make-reflectors stage (for M(k8snet.calico.calicoctl) C(state=patched)).
  returned: always
  type: list
  elements: dict
peering:
  description: The BGPPeer of the add-peerings stage, or null when it is in place.
  returned: always
  type: dict
tor_moves:
  description: The TOR peers to scope to the route reflectors, in order (definition, address, name).
  returned: always
  type: list
  elements: dict
mesh_off:
  description: The BGPConfiguration change turning the mesh off (state and definition), or null.
  returned: always
  type: dict
gate:
  description: For each Calico node of the inventory, the peer addresses it must be Established with.
  returned: always
  type: dict
  sample: {node-03: [172.31.254.2, 172.31.254.3]}
route_reflector_selector:
  description: The selector of the route reflectors.
  returned: always
  type: str
  sample: route-reflector == 'true'
rollback:
  description:
    - What restores the starting point - the TOR peers as they were, the peering (absent or as it was),
      the Node patches undoing the reflector fields, the mesh setting - and the sessions each node must
      have Established afterwards.
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.k8snet.calico.plugins.module_utils.bgp.selector import SelectorError
from ansible_collections.k8snet.calico.plugins.module_utils.bgp.tor_to_rr import PlanOptions, plan


def main():
    module = AnsibleModule(
        argument_spec=dict(
            nodes=dict(type='list', elements='dict', required=True),
            bgp_peers=dict(type='list', elements='dict', default=[]),
            bgp_configuration=dict(type='dict'),
            route_reflectors=dict(type='list', elements='dict', required=True, options=dict(
                node=dict(type='str', required=True),
                cluster_id=dict(type='str'),
                host=dict(type='str'),
            )),
            rr_min=dict(type='int', default=2),
            label_key=dict(type='str', default='route-reflector', no_log=False),
            label_value=dict(type='str', default='true'),
            peering_name=dict(type='str', default='k8snet-route-reflectors'),
            tor_peers=dict(type='list', elements='str', default=[]),
            accept_tor_flap=dict(type='bool', default=False),
            gated_nodes=dict(type='list', elements='str'),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if p['rr_min'] < 1:
        module.fail_json(msg='rr_min: %d is not a positive number of route reflectors' % p['rr_min'])
    options = PlanOptions(rr_min=p['rr_min'], label_key=p['label_key'], label_value=p['label_value'],
                          peering_name=p['peering_name'], tor_peers=p['tor_peers'],
                          accept_tor_flap=p['accept_tor_flap'], gated_nodes=p['gated_nodes'])
    try:
        result = plan(p['nodes'], p['bgp_peers'], p['bgp_configuration'], p['route_reflectors'], options)
    except SelectorError as err:
        module.fail_json(msg='label_key: %s' % err)
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
