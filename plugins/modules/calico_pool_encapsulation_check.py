#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: calico_pool_encapsulation_check
short_description: Check a change of an IP pool's IPIP or VXLAN mode before it is made
version_added: 0.2.0
description:
  - From the live IP pool, Calico Nodes, BGPPeers and BGPConfiguration (as M(k8snet.calico.calico_info)
    returns them), computes the change of C(ipipMode) / C(vxlanMode), the nodes' subnets, and what stands
    against it - a mode that does not exist, IPIP and VXLAN together, C(CrossSubnet) with node addresses that
    carry no subnet, a change not confirmed by the pool's name - and cautions (C(CrossSubnet) while the
    nodes learn pod routes only from the TOR, or on a single subnet).
  - Reads and writes nothing itself; the playbook C(k8snet.calico.ip_pool_mode) applies the returned patch
    with M(k8snet.calico.calicoctl).
author:
  - k8snet.calico contributors (@k8snet)
extends_documentation_fragment:
  - k8snet.calico.planner
options:
  pool:
    description: The IPPool resource, or null when it does not exist.
    type: dict
  nodes:
    description: The Calico Node resources.
    type: list
    elements: dict
    default: []
  bgp_peers:
    description: The BGPPeer resources.
    type: list
    elements: dict
    default: []
  bgp_configuration:
    description: The BGPConfiguration C(default), or null (the mesh is then on).
    type: dict
  ipip_mode:
    description: The C(ipipMode) wanted; unchanged when not given.
    type: str
    choices: [Always, CrossSubnet, Never]
  vxlan_mode:
    description: The C(vxlanMode) wanted; unchanged when not given.
    type: str
    choices: [Always, CrossSubnet, Never]
  confirm:
    description: The pool's name, to confirm a change (it affects every pod of the pool at once).
    type: str
seealso:
  - module: k8snet.calico.calico_info
  - module: k8snet.calico.calicoctl
"""

EXAMPLES = r"""
- name: Read the pool and the BGP resources
  k8snet.calico.calico_info:
    kinds: [IPPool, Node, BGPPeer, BGPConfiguration]
  register: live

- name: Check IPIP Always on the default pool
  k8snet.calico.calico_pool_encapsulation_check:
    pool: "{{ live.resources.IPPool | selectattr('metadata.name', 'eq', 'default-ipv4-ippool') | first }}"
    nodes: "{{ live.resources.Node }}"
    bgp_peers: "{{ live.resources.BGPPeer }}"
    ipip_mode: Always
    confirm: default-ipv4-ippool
  register: guard
"""

RETURN = r"""
changes:
  description: The fields that change, each with before and after.
  returned: always
  type: dict
  sample: {ipipMode: {before: Never, after: Always}}
patch:
  description: The IPPool patch for M(k8snet.calico.calicoctl) C(state=patched), or null when nothing changes.
  returned: always
  type: dict
refusals:
  description: Why the change must not be made; empty when it may.
  returned: always
  type: list
  elements: str
cautions:
  description: What the change will (not) do that an operator should know.
  returned: always
  type: list
  elements: str
subnets:
  description: The nodes by the subnet of their BGP address.
  returned: always
  type: dict
  sample: {10.10.0.0/24: [master-01, node-01]}
confirmed:
  description: Whether O(confirm) names the pool.
  returned: always
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.k8snet.calico.plugins.module_utils.bgp.pool_mode import MODES, check


def main():
    module = AnsibleModule(
        argument_spec=dict(
            pool=dict(type='dict'),
            nodes=dict(type='list', elements='dict', default=[]),
            bgp_peers=dict(type='list', elements='dict', default=[]),
            bgp_configuration=dict(type='dict'),
            ipip_mode=dict(type='str', choices=list(MODES)),
            vxlan_mode=dict(type='str', choices=list(MODES)),
            confirm=dict(type='str'),
        ),
        supports_check_mode=True,
    )
    p = module.params
    result = check(p['pool'], p['nodes'], p['bgp_peers'], p['bgp_configuration'], p['ipip_mode'],
                   p['vxlan_mode'], p['confirm'])
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
