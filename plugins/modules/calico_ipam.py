#!/usr/bin/python
# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: calico_ipam
short_description: Release Calico IPAM addresses (calicoctl ipam release)
version_added: 0.1.0
description:
  - Releases given addresses, or every leaked address (allocated to a pod that no longer exists),
    from Calico's IPAM blocks and handles, writing the same objects as C(calicoctl ipam release)
    (libcalico-go C(ReleaseIPs)) - the block's allocation, attribute, unallocated list and sequence
    numbers, and the handle's count per block (the handle is deleted when it has no address left;
    a block without affinity that becomes empty is deleted).
  - Every write presents the version read (resourceVersion, or the etcd mod revision) and is retried
    after a conflict on a freshly read object. Each address is released together with the handle and
    allocation sequence number seen when it was checked, so an address given to a new pod since then
    is not released.
  - The whole batch is checked before anything is written - an address in use by a running pod (or a
    node's tunnel address of an existing node) is refused, with its owner named.
  - In check mode nothing is written; RV(released) lists what would be released.
author:
  - k8snet.calico contributors (@k8snet)
extends_documentation_fragment:
  - k8snet.calico.datastore
options:
  ips:
    description:
      - Addresses to release (C(calicoctl ipam release --ip)). Addresses that are not allocated are
        returned in RV(unallocated) and change nothing.
    type: list
    elements: str
    default: []
  leaked:
    description:
      - Release every leaked address - allocated to a pod (namespace and pod attributes of the
        allocation) that does not exist any more, or a tunnel address of a node that is gone.
      - Pods are read from the Kubernetes API (C(kubernetes) datastore) or as WorkloadEndpoints
        (C(etcdv3)).
    type: bool
    default: false
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
  action_group:
    description: Use C(group/k8snet.calico.datastore) in C(module_defaults) to set the datastore options once.
    support: full
    membership:
      - k8snet.calico.datastore
requirements:
  - kubernetes >= 28.1.0 (kubernetes datastore)
  - requests (etcdv3 datastore)
seealso:
  - module: k8snet.calico.calico_info
"""

EXAMPLES = r"""
- name: What would be released of the leaked addresses
  k8snet.calico.calico_ipam:
    kubeconfig: ~/.kube/config
    leaked: true
  check_mode: true
  register: leaks

- name: Release two addresses
  k8snet.calico.calico_ipam:
    datastore: etcdv3
    etcd_endpoints: https://10.0.0.1:2379
    etcd_ca_cert: /etc/calico/ca.pem
    ips: [10.244.3.17, 10.244.3.18]
"""

RETURN = r"""
released:
  description: Addresses released (in check mode, that would be released).
  returned: always
  type: list
  elements: str
  sample: [10.244.3.17]
unallocated:
  description: Addresses given in O(ips) that were not allocated (nothing to do).
  returned: always
  type: list
  elements: str
blocks:
  description: Blocks written - C(name) (CIDR), C(action) (C(updated) or C(deleted)), C(before) and C(after)
    (affinity, number allocated, sequence number).
  returned: always
  type: list
  elements: dict
handles:
  description: Handles written - C(name), C(action) (C(updated), C(deleted)), C(before), C(after) (count per block).
  returned: always
  type: list
  elements: dict
requests:
  description: Requests sent to the datastore, by verb.
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.k8snet.calico.plugins.module_utils.calico.session import with_store
from ansible_collections.k8snet.calico.plugins.module_utils.datastore import connection
from ansible_collections.k8snet.calico.plugins.module_utils.ipam import datastore as ipam_datastore
from ansible_collections.k8snet.calico.plugins.module_utils.ipam import model, release


def main():
    argument_spec = dict(
        ips=dict(type='list', elements='str', default=[]),
        leaked=dict(type='bool', default=False),
    )
    argument_spec.update(connection.argument_spec())
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    if not module.params['ips'] and not module.params['leaked']:
        module.fail_json(msg='nothing to release: give ips, or leaked: true')

    def release_addresses(settings, client, store):
        ipam = ipam_datastore.open_ipam(settings, client, store)
        state = ipam.read_state()
        chosen = release.plan(state, module.params['ips'], module.params['leaked'])
        return release.execute(ipam, state, chosen, check_mode=module.check_mode)

    result, requests = with_store(module, release_addresses, read_only=module.check_mode,
                                  failures=(release.ReleaseError, model.IpamDataError))
    changed = bool(result['released'])
    diff = {'before': {'blocks': dict((b['name'], b['before']) for b in result['blocks']),
                       'handles': dict((h['name'], h['before']) for h in result['handles'])},
            'after': {'blocks': dict((b['name'], b['after']) for b in result['blocks']),
                      'handles': dict((h['name'], h['after']) for h in result['handles'])}}
    module.exit_json(changed=changed, diff=diff, requests=requests, **result)


if __name__ == '__main__':
    main()
