#!/usr/bin/python
# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: calico_bgp_status
short_description: BGP sessions of a Calico node, read from BIRD
version_added: 0.1.0
description:
  - Runs on a Kubernetes node with calico-node and reads the BGP sessions of its BIRD through
    BIRD's control socket, the way C(calicoctl node status) does, and returns them as data usable in
    C(until) loops.
  - Speaks BIRD's control-socket protocol directly (C(show protocols), and
    C(show protocols all <name>) with O(detail=true)); no C(birdc) or C(calicoctl) binary is needed.
  - The peer type and address come from the protocol name calico-node's confd writes
    (C(Mesh_<ip>), C(Global_<ip>), C(Node_<ip>), with C(_port_<n>) for a non-default port). Other BGP
    protocols are returned with type C(other).
  - Needs access to the socket, usually root (C(become=true)).
author:
  - k8snet.calico contributors (@k8snet)
options:
  socket:
    description:
      - The IPv4 BIRD control socket.
    type: path
    default: /var/run/calico/bird.ctl
  socket6:
    description:
      - The IPv6 BIRD control socket.
    type: path
    default: /var/run/calico/bird6.ctl
  ip_version:
    description:
      - Which BIRD to read, C(4), C(6) or C(both).
      - Default C(both) when O(socket6) exists, else C(4).
    type: str
    choices: ['4', '6', both]
  detail:
    description:
      - Also read C(show protocols all <name>) of each session and return its RV(sessions[].details).
    type: bool
    default: false
  timeout:
    description:
      - Seconds to wait for each reply of BIRD.
    type: float
    default: 5
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Reads only; C(changed) is always false.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
notes:
  - Fails with a message naming the path when the socket does not exist (calico-node, or its BIRD,
    may not run on the host), when permission is denied, and when BIRD does not answer in time.
seealso:
  - module: k8snet.calico.calico_info
"""

EXAMPLES = r"""
- name: Wait until every BGP session of the node is Established
  k8snet.calico.calico_bgp_status:
  become: true
  register: bgp
  until: bgp.all_established
  retries: 30
  delay: 2

- name: Require the session to the route reflector
  ansible.builtin.assert:
    that:
      - bgp.sessions | selectattr('peer_address', 'eq', '10.0.0.10')
          | selectattr('established') | list | length == 1

- name: Details of the IPv4 sessions only
  k8snet.calico.calico_bgp_status:
    ip_version: '4'
    detail: true
  become: true
  register: bgp4
"""

RETURN = r"""
sessions:
  description: The BGP sessions (BIRD protocols of type BGP), IPv4 first.
  returned: always
  type: list
  elements: dict
  contains:
    peer_address:
      description: The peer's address, from the protocol name (null for another name without one).
      type: str
      sample: 172.31.254.3
    port:
      description: The peer's port from a C(_port_<n>) suffix of the name, else null.
      type: int
    type:
      description: C(node-to-node mesh), C(global), C(node specific), or C(other) for names
        C(calicoctl node status) does not show.
      type: str
      sample: node-to-node mesh
    state:
      description: The BIRD protocol state (C(up), C(start), C(down), ...).
      type: str
      sample: up
    since:
      description: When the state last changed, as BIRD prints it (a time today, else a date).
      type: str
      sample: "17:15:56"
    info:
      description: The BGP state (C(Established), C(Active), C(Connect), C(OpenSent), ...).
      type: str
      sample: Established
    message:
      description: The rest of BIRD's info column, such as the last error.
      type: str
      sample: "Socket: Connection closed"
    established:
      description: Whether the session is up and Established.
      type: bool
    protocol:
      description: The BIRD protocol name.
      type: str
      sample: Mesh_172_31_254_3
    ip_version:
      description: 4 or 6, the BIRD the session was read from.
      type: int
    details:
      description: With O(detail=true), from C(show protocols all) (bgp_state, neighbor_address,
        neighbor_as, neighbor_id, source_address, session, hold_timer, keepalive_timer,
        last_error, routes with imported/exported/preferred counts; those BIRD shows).
      type: dict
      returned: when O(detail=true)
established_count:
  description: The number of Established sessions.
  returned: always
  type: int
all_established:
  description: Whether every session is Established (false when there is none).
  returned: always
  type: bool
bird_version:
  description: The version BIRD gives in its greeting.
  returned: always
  type: str
  sample: 1.6.8
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.k8snet.calico.plugins.module_utils.bird import BirdError, bgp_status


def main():
    module = AnsibleModule(
        argument_spec=dict(
            socket=dict(type="path", default="/var/run/calico/bird.ctl"),
            socket6=dict(type="path", default="/var/run/calico/bird6.ctl"),
            ip_version=dict(type="str", choices=["4", "6", "both"]),
            detail=dict(type="bool", default=False),
            timeout=dict(type="float", default=5),
        ),
        supports_check_mode=True,
    )
    params = module.params
    ip_version = params["ip_version"]
    if ip_version is None:
        ip_version = "both" if os.path.exists(params["socket6"]) else "4"
    sockets = []
    if ip_version in ("4", "both"):
        sockets.append((4, params["socket"]))
    if ip_version in ("6", "both"):
        sockets.append((6, params["socket6"]))
    try:
        result = bgp_status(sockets, detail=params["detail"], timeout=params["timeout"])
    except BirdError as err:
        module.fail_json(msg=str(err), changed=False)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
