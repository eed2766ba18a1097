#!/usr/bin/python
# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: calico_info
short_description: Read Calico resources and the cluster's Calico version
version_added: 0.1.0
description:
  - Reads Calico resources (C(projectcalico.org/v3) form, as C(calicoctl get -o yaml) shows them)
    from the kubernetes or etcdv3 datastore, and C(ClusterInformation) (the running Calico version,
    cluster type, datastore readiness).
author:
  - k8snet.calico contributors (@k8snet)
extends_documentation_fragment:
  - k8snet.calico.datastore
options:
  kinds:
    description:
      - The kinds to read, such as C(IPPool) or C(BGPPeer). All kinds the collection manages when empty.
    type: list
    elements: str
    default: []
  name:
    description:
      - Read only the resource of this name (of each kind in O(kinds)).
    type: str
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Reads only.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
  action_group:
    description: Use C(group/k8snet.calico.datastore) in C(module_defaults) to set the datastore options once.
    support: full
    membership:
      - k8snet.calico.datastore
requirements:
  - kubernetes >= 28.1.0 (kubernetes datastore)
  - requests (etcdv3 datastore)
seealso:
  - module: k8snet.calico.calicoctl
"""

EXAMPLES = r"""
- name: Read the running Calico version and every IP pool
  k8snet.calico.calico_info:
    kubeconfig: ~/.kube/config
    kinds: [IPPool]
  register: calico

- name: Show the version
  ansible.builtin.debug:
    msg: "{{ calico.cluster_information.spec.calicoVersion | default('not installed') }}"
"""

RETURN = r"""
resources:
  description: The resources read, by kind, each a list of v3 resources.
  returned: always
  type: dict
  sample: {IPPool: [{apiVersion: projectcalico.org/v3, kind: IPPool, metadata: {name: default-ipv4-ippool},
           spec: {cidr: 10.244.0.0/16, blockSize: 26}}]}
cluster_information:
  description: The ClusterInformation C(default) resource, or null when Calico has not written it yet.
  returned: always
  type: dict
  sample: {spec: {calicoVersion: v3.31.7, clusterType: k8s,bgp,kubeadm,kdd, datastoreReady: true}}
requests:
  description: Requests sent to the datastore, by verb.
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.k8snet.calico.plugins.module_utils import datastore
from ansible_collections.k8snet.calico.plugins.module_utils.calico import kinds as calico_kinds
from ansible_collections.k8snet.calico.plugins.module_utils.calico.store import open_store
from ansible_collections.k8snet.calico.plugins.module_utils.calico.validation import ValidationErrors
from ansible_collections.k8snet.calico.plugins.module_utils.datastore import connection, errors


def main():
    argument_spec = dict(
        kinds=dict(type='list', elements='str', default=[]),
        name=dict(type='str'),
    )
    argument_spec.update(connection.argument_spec())
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    client = None
    try:
        wanted = [calico_kinds.lookup(k) for k in module.params['kinds']] or \
            [k for k in calico_kinds.KINDS if not k.read_only]
        settings = connection.resolve(module.params)
        client = datastore.connect(settings, read_only=True)
        store = open_store(settings, client, api=module.params['api'])
        resources = {}
        for kind in wanted:
            if module.params['name']:
                entry = store.get(kind, module.params['name'])
                resources[kind.name] = [entry[0]] if entry else []
            else:
                resources[kind.name] = [entry[0] for name, entry in sorted(store.list(kind).items())]
        info = store.get(calico_kinds.lookup('ClusterInformation'), 'default')
    except ValidationErrors as exc:
        module.fail_json(msg=str(exc))
    except errors.MissingDependency as exc:
        module.fail_json(msg=missing_required_lib(exc.library), exception=exc.import_error)
    except errors.DatastoreError as exc:
        module.fail_json(msg=str(exc))
    finally:
        if client is not None:
            client.close()
    module.exit_json(changed=False, resources=resources, cluster_information=info[0] if info else None,
                     requests=dict(client.requests))


if __name__ == '__main__':
    main()
