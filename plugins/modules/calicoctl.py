#!/usr/bin/python
# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: calicoctl
short_description: Declarative Calico resources, written as calicoctl writes them
version_added: 0.1.0
description:
  - Creates, updates, patches and deletes Calico resources (C(projectcalico.org/v3)) in the
    kubernetes or etcdv3 datastore, storing the same objects, keys, defaults and validation as
    calicoctl, without a calicoctl binary.
  - The whole batch is validated before anything is written; one invalid resource means nothing
    is written, and the error names the resource, the field and the value.
  - Kinds BGPConfiguration, BGPPeer, BGPFilter, IPPool, IPReservation, FelixConfiguration,
    KubeControllersConfiguration and Node (its BGP fields and labels; the rest of a Node stays as
    calico-node wrote it). ClusterInformation is read-only; read it with M(k8snet.calico.calico_info).
  - Defaults that calicoctl fills in are compared, not re-sent, so a second run with the same input
    changes nothing.
author:
  - k8snet.calico contributors (@k8snet)
extends_documentation_fragment:
  - k8snet.calico.datastore
options:
  state:
    description:
      - C(present) makes each resource exist with exactly the given spec (calicoctl's defaults filled in).
      - C(absent) deletes each resource that exists.
      - C(patched) merges the given fields into the live resource (mappings merged, lists replaced);
        the resource must exist. A Node is always patched, never replaced or deleted.
    type: str
    choices: [present, absent, patched]
    default: present
  definition:
    description:
      - One resource (a mapping) or a list of them, as given to C(calicoctl apply).
      - Mutually exclusive with O(src).
    type: raw
  src:
    description:
      - A YAML or JSON file on the host that runs the module, holding one or more resources
        (multi-document YAML, a list, or a C(<Kind>List)).
    type: path
  prune:
    description:
      - Delete resources that carry the label C(k8snet.calico/managed-by) with the value O(managed_by)
        but are not in this input. Nothing without that label is ever deleted by pruning.
    type: bool
    default: false
  managed_by:
    description:
      - Value of the label C(k8snet.calico/managed-by) put on every resource this module writes
        (not on Nodes). Pruning considers only resources that carry it. An empty string writes no label.
    type: str
    default: k8snet.calico
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: The Kubernetes API validates every write as a server-side dry run; nothing is sent to etcd.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
  action_group:
    description: Use C(group/k8snet.calico.datastore) in C(module_defaults) to set the datastore options once.
    support: full
    membership:
      - k8snet.calico.datastore
notes:
  - The kubernetes datastore is reached with the C(kubernetes) Python library, etcd with C(requests).
  - Writes that meet a conflict (HTTP 409, failed etcd compare) are planned again from a fresh read,
    up to three times.
requirements:
  - kubernetes >= 28.1.0 (kubernetes datastore)
  - requests (etcdv3 datastore)
  - PyYAML
seealso:
  - module: k8snet.calico.calico_info
"""

EXAMPLES = r"""
- name: Peer every node with the top-of-rack switch and turn the full mesh off
  k8snet.calico.calicoctl:
    kubeconfig: ~/.kube/config
    definition:
      - apiVersion: projectcalico.org/v3
        kind: BGPConfiguration
        metadata:
          name: default
        spec:
          nodeToNodeMeshEnabled: false
          asNumber: 64512
          serviceClusterIPs:
            - cidr: 10.96.0.0/12
      - apiVersion: projectcalico.org/v3
        kind: BGPPeer
        metadata:
          name: tor
        spec:
          peerIP: 10.0.0.1
          asNumber: 64513

- name: Apply every resource of a rendered file, deleting managed ones it no longer lists
  k8snet.calico.calicoctl:
    src: rendered/calico-resources.yaml
    prune: true

- name: Make a node a route reflector, keeping every other field of it
  k8snet.calico.calicoctl:
    state: patched
    definition:
      apiVersion: projectcalico.org/v3
      kind: Node
      metadata:
        name: node-1
        labels:
          route-reflector: "true"
      spec:
        bgp:
          routeReflectorClusterID: 224.0.0.1

- name: The same BGP peer in an etcd datastore
  k8snet.calico.calicoctl:
    datastore: etcdv3
    etcd_endpoints: https://10.0.0.5:2379
    etcd_ca_cert: /etc/calico/certs/ca.pem
    etcd_cert: /etc/calico/certs/cert.pem
    etcd_key: /etc/calico/certs/key.pem
    definition:
      apiVersion: projectcalico.org/v3
      kind: BGPPeer
      metadata:
        name: tor
      spec:
        peerIP: 10.0.0.1
        asNumber: 64513
"""

RETURN = r"""
results:
  description: One entry per resource, in the order written (deletions last).
  returned: always
  type: list
  elements: dict
  contains:
    kind:
      description: The resource kind.
      type: str
      sample: BGPPeer
    name:
      description: The resource name.
      type: str
      sample: tor
    action:
      description: What was (or in check mode would be) done.
      type: str
      choices: [created, updated, deleted, unchanged]
    changed:
      description: Whether this resource changed.
      type: bool
    diff:
      description: The paths of the fields that change, such as C(spec.asNumber).
      type: list
      elements: str
      sample: [spec.asNumber]
requests:
  description: Requests sent to the datastore, by verb (reads and writes).
  returned: always
  type: dict
  sample: {list: 2, create: 1}
"""

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.k8snet.calico.plugins.module_utils.calico.apply import ApplyError, Runner, flatten
from ansible_collections.k8snet.calico.plugins.module_utils.calico.session import with_store
from ansible_collections.k8snet.calico.plugins.module_utils.calico.validation import ValidationErrors
from ansible_collections.k8snet.calico.plugins.module_utils.datastore import connection

try:
    import yaml
    HAS_YAML = True
    YAML_IMPORT_ERROR = None
except ImportError:
    HAS_YAML = False
    YAML_IMPORT_ERROR = traceback.format_exc()


def read_input(module):
    if module.params['src']:
        try:
            with open(module.params['src']) as handle:
                return flatten(list(yaml.safe_load_all(handle)))
        except (IOError, OSError) as exc:
            module.fail_json(msg='src: cannot read %s: %s' % (module.params['src'], exc))
        except yaml.YAMLError as exc:
            module.fail_json(msg='src: %s is not valid YAML: %s' % (module.params['src'], exc))
    return flatten([module.params['definition']])


def diff_view(results):
    before, after = [], []
    for result in results:
        if result['changed']:
            if result['before']:
                before.append(result['before'])
            if result['after']:
                after.append(result['after'])
    return {'before': yaml.safe_dump_all(before, sort_keys=True) if before else '',
            'after': yaml.safe_dump_all(after, sort_keys=True) if after else ''}


def main():
    argument_spec = dict(
        state=dict(type='str', choices=['present', 'absent', 'patched'], default='present'),
        definition=dict(type='raw'),
        src=dict(type='path'),
        prune=dict(type='bool', default=False),
        managed_by=dict(type='str', default='k8snet.calico'),
    )
    argument_spec.update(connection.argument_spec())
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           mutually_exclusive=[('definition', 'src')],
                           required_one_of=[('definition', 'src')])
    if not HAS_YAML:
        module.fail_json(msg=missing_required_lib('PyYAML'), exception=YAML_IMPORT_ERROR)
    if module.params['prune'] and not module.params['managed_by']:
        module.fail_json(msg='prune: needs managed_by, the label value that marks what this module may delete')

    resources = read_input(module)

    def apply(settings, client, store):
        runner = Runner(store, check_mode=module.check_mode, datastore=settings.datastore)
        try:
            return runner.run(resources, state=module.params['state'], prune=module.params['prune'],
                              managed_by=module.params['managed_by'] or None)
        except ValidationErrors as exc:
            module.fail_json(msg='invalid input, nothing was written: ' + str(exc), errors=list(exc.messages))
        except ApplyError as exc:
            module.fail_json(msg=str(exc), changed=any(r['changed'] for r in exc.results),
                             results=[_public(r) for r in exc.results])

    results, requests = with_store(module, apply, read_only=module.check_mode)

    changed = any(result['changed'] for result in results)
    output = dict(changed=changed, results=[_public(r) for r in results], requests=requests)
    if module._diff:
        output['diff'] = diff_view(results)
    module.exit_json(**output)


def _public(result):
    return dict((key, result[key]) for key in ('kind', 'name', 'action', 'changed', 'diff'))


if __name__ == '__main__':
    main()
