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
  - With O(ipam), also the IPAM report (C(calicoctl ipam show) and C(calicoctl ipam check) as data) -
    per IP pool its size, allocated and free addresses and free blocks; per node its affine blocks and
    allocations; borrowed addresses (allocated from a block affine to another node), leaked addresses
    (whose pod no longer exists), and blocks that no new node can get. See the collection's docs/ipam.md.
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
  ipam:
    description:
      - Also read the IPAM blocks, block affinities, handles, IP pools, nodes and workloads (pods in the
        C(kubernetes) datastore, WorkloadEndpoints in C(etcdv3)) and return the report as RV(ipam).
    type: bool
    default: false
  ipam_warn_percent:
    description:
      - A pool whose address or block utilisation reaches this percentage is reported with status C(warn).
    type: float
    default: 80
  ipam_fail_percent:
    description:
      - A pool whose address or block utilisation reaches this percentage is reported with status C(fail)
        (listed in the C(failures) of RV(ipam); the module itself does not fail).
    type: float
    default: 95
  ipam_formats:
    description:
      - Renderings of the IPAM report to return in RV(ipam_rendered) - C(table) (console text),
        C(json), C(csv) (several files), C(html) (a self-contained page with utilisation charts).
    type: list
    elements: str
    choices: [table, json, csv, html]
    default: []
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

- name: IPAM report, with a table for the console
  k8snet.calico.calico_info:
    kubeconfig: ~/.kube/config
    kinds: [ClusterInformation]
    ipam: true
    ipam_formats: [table]
  register: calico

- name: Print it
  ansible.builtin.debug:
    msg: "{{ calico.ipam_rendered.table.splitlines() }}"

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
ipam:
  description:
    - The IPAM report (with O(ipam)) - C(summary), C(pools), C(nodes), C(borrowed), C(leaked),
      C(leaked_handles), C(orphan_handles), C(unclaimable_blocks), C(warnings), C(failures).
      Fields are described in the collection's docs/ipam.md.
  returned: when O(ipam) is true
  type: dict
  sample: {summary: {pools: 1, blocks: 4, nodes: 3, allocated: 120, borrowed: 2, leaked: 3, status: warn},
           pools: [{name: default-ipv4-ippool, cidr: 10.244.0.0/24, size: 256, allocated: 120, free: 136,
                    free_blocks: 0, utilisation_percent: 46.9, block_utilisation_percent: 100.0, status: fail}]}
ipam_rendered:
  description: The renderings asked for in O(ipam_formats) - C(table), C(json), C(html) (text) and C(csv)
    (a dict of file name to CSV text).
  returned: when O(ipam_formats) is not empty
  type: dict
requests:
  description: Requests sent to the datastore, by verb.
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.k8snet.calico.plugins.module_utils.calico import kinds as calico_kinds
from ansible_collections.k8snet.calico.plugins.module_utils.calico.session import with_store
from ansible_collections.k8snet.calico.plugins.module_utils.calico.validation import ValidationErrors
from ansible_collections.k8snet.calico.plugins.module_utils.datastore import connection
from ansible_collections.k8snet.calico.plugins.module_utils.ipam import datastore as ipam_datastore
from ansible_collections.k8snet.calico.plugins.module_utils.ipam import model as ipam_model
from ansible_collections.k8snet.calico.plugins.module_utils.ipam import render as ipam_render
from ansible_collections.k8snet.calico.plugins.module_utils.ipam import report as ipam_report


def main():
    argument_spec = dict(
        kinds=dict(type='list', elements='str', default=[]),
        name=dict(type='str'),
        ipam=dict(type='bool', default=False),
        ipam_warn_percent=dict(type='float', default=ipam_report.DEFAULT_WARN_PERCENT),
        ipam_fail_percent=dict(type='float', default=ipam_report.DEFAULT_FAIL_PERCENT),
        ipam_formats=dict(type='list', elements='str', default=[], choices=['table', 'json', 'csv', 'html']),
    )
    argument_spec.update(connection.argument_spec())
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    for field in ('ipam_warn_percent', 'ipam_fail_percent'):
        if not 0 <= params[field] <= 100:
            module.fail_json(msg='%s must be between 0 and 100, got %s' % (field, params[field]))
    if params['ipam_warn_percent'] > params['ipam_fail_percent']:
        module.fail_json(msg='ipam_warn_percent (%s) is above ipam_fail_percent (%s)'
                         % (params['ipam_warn_percent'], params['ipam_fail_percent']))
    if params['ipam_formats'] and not params['ipam']:
        module.fail_json(msg='ipam_formats %s needs ipam: true' % params['ipam_formats'])
    wanted = []
    try:
        wanted = [calico_kinds.lookup(k) for k in params['kinds']] or \
            [k for k in calico_kinds.KINDS if not k.read_only]
    except ValidationErrors as exc:
        module.fail_json(msg=str(exc))

    def read(settings, client, store):
        resources = {}
        for kind in wanted:
            if params['name']:
                entry = store.get(kind, params['name'])
                resources[kind.name] = [entry[0]] if entry else []
            else:
                resources[kind.name] = [entry[0] for name, entry in sorted(store.list(kind).items())]
        info = store.get(calico_kinds.lookup('ClusterInformation'), 'default')
        output = dict(resources=resources, cluster_information=info[0] if info else None)
        if params['ipam']:
            state = ipam_datastore.open_ipam(settings, client, store).read_state()
            output['ipam'] = ipam_report.compute_report(state, params['ipam_warn_percent'], params['ipam_fail_percent'])
            rendered = render_formats(output['ipam'], params['ipam_formats'])
            if rendered:
                output['ipam_rendered'] = rendered
        return output

    output, requests = with_store(module, read, read_only=True, failures=(ipam_model.IpamDataError, ValidationErrors))
    module.exit_json(changed=False, requests=requests, **output)


def render_formats(report, formats):
    rendered = {}
    for name in formats:
        if name == 'table':
            rendered['table'] = ipam_render.table(report)
        elif name == 'json':
            rendered['json'] = ipam_render.json_text(report)
        elif name == 'csv':
            rendered['csv'] = ipam_render.csv_files(report)
        elif name == 'html':
            rendered['html'] = ipam_render.html(report)
    return rendered


if __name__ == '__main__':
    main()
