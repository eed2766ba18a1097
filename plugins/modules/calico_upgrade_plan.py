#!/usr/bin/python
# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: calico_upgrade_plan
short_description: Plan a Calico upgrade from what was read from the cluster and two releases' manifests
version_added: 0.1.0
description:
  - Decides from its inputs, without contacting anything, whether an upgrade of Calico (manifest
    method) may start, and compares the running and the target release.
  - The running release is the image tag of the C(calico-node) DaemonSet (ClusterInformation
    C(default) when the tag is no version); a downgrade, a path upstream does not document
    (from a release older than v3.15, across a major release), a Kubernetes release the target is
    not tested against, workloads that are not ready and IP pools without a free address are
    returned as O(ignore:refusals); a newer Calico than the collection knows is a warning.
  - With the manifests, it reads the objects they name from the Kubernetes API and lists the objects to back up, those upstream removed from the target's
    manifest (the only ones an upgrade deletes) and every setting whose upstream default changes
    between the two releases, with what runs now and what the upgrade applies.
author:
  - k8snet.calico contributors (@k8snet)
extends_documentation_fragment:
  - k8snet.calico.planner
options:
  target_version:
    description: The release to upgrade to (C(calico_version)).
    type: str
    required: true
  current_version:
    description: The running release, when it cannot be read from the cluster. Read from the cluster when empty.
    type: str
  kubernetes_version:
    description: The cluster's Kubernetes version (C(v1.34.4)). Not checked when empty.
    type: str
  workloads:
    description: The live DaemonSet C(calico-node) and Deployment C(calico-kube-controllers), as read from the API.
    type: list
    elements: dict
    default: []
  cluster_information:
    description: The ClusterInformation C(default) resource (M(k8snet.calico.calico_info)), or null.
    type: dict
  ip_pools:
    description: The IP pools (C(projectcalico.org/v3) IPPool resources).
    type: list
    elements: dict
    default: []
  ipam_blocks:
    description:
      - The IPAM blocks (C(crd.projectcalico.org/v1) IPAMBlock objects). Null when they cannot be
        read (etcdv3 datastore); the capacity is then not checked.
    type: list
    elements: dict
  current_manifest:
    description:
      - The running release's upstream manifest (files on the host that runs the module) - C(calico.yaml)
        with the manifest method; C(tigera-operator.yaml) and C(operator-crds.yaml) with the operator.
    type: list
    elements: path
  target_manifest:
    description: The target release's upstream manifest (the same files of the target release).
    type: list
    elements: path
  rendered_manifest:
    description:
      - The target release's manifest as rendered from the inventory (C(calico.yaml); with the
        operator C(tigera-operator.yaml), C(operator-crds.yaml) and C(custom-resources.yaml)).
    type: list
    elements: path
  namespace:
    description:
      - The namespace of C(calico-node) (C(calico-system) on an operator-installed cluster), named by
        the messages of the checks.
    type: str
    default: kube-system
  compare_settings:
    description:
      - Compare the settings whose upstream default changes (container env, C(calico-config), CNI
        conflist) between the two manifests. Off for the operator method, whose defaults are in the
        operator's code and not in its manifest.
    type: bool
    default: true
  allow:
    description:
      - The checks whose refusal is overridden; returned in RV(overridden) instead of RV(refusals).
    type: list
    elements: str
    choices: [downgrade, upgrade_path, kubernetes_version, not_ready, ipam]
    default: []
  kubeconfig:
    description:
      - With the manifests, the objects they name are read from the Kubernetes API (one GET each,
        nothing written, nothing of them returned but their names) through this kubeconfig;
        resolved as M(k8snet.calico.calico_info) resolves it when not given.
    type: path
  context:
    description: The kubeconfig context to use instead of its current context.
    type: str
seealso:
  - module: k8snet.calico.calico_upgrade_backup
  - module: k8snet.calico.calico_info
"""

EXAMPLES = r"""
- name: Plan the upgrade to v3.31.7
  k8snet.calico.calico_upgrade_plan:
    target_version: v3.31.7
    kubernetes_version: v1.34.4
    workloads: "{{ daemonset.resources + deployment.resources }}"
    cluster_information: "{{ calico.cluster_information }}"
  register: plan

- name: Refuse what upstream does not support
  ansible.builtin.assert:
    that: plan.refusals | length == 0
    fail_msg: "{{ plan.refusals | map(attribute='message') | join('; ') }}"
"""

RETURN = r"""
running_version:
  description: The running release, or null when none was found.
  returned: always
  type: str
  sample: v3.30.7
running_version_source:
  description: Where RV(running_version) was read.
  returned: always
  type: str
  sample: calico-node image tag
refusals:
  description:
    - Why the upgrade should not start, each with the check it comes from
      (C(not_installed), C(downgrade), C(upgrade_path), C(kubernetes_version), C(not_ready), C(ipam)).
  returned: always
  type: list
  elements: dict
  sample: [{check: downgrade, message: "the cluster runs Calico v3.31.7, newer than calico_version v3.30.7: ..."}]
overridden:
  description: The refusals of the checks in O(allow), which do not stop the upgrade.
  returned: always
  type: list
  elements: dict
notes:
  description: What was not checked or looks odd, as texts (each also given as a warning).
  returned: always
  type: list
  elements: str
kubernetes_tested:
  description: The Kubernetes minor releases upstream tests the target against (empty when unknown).
  returned: when a running release was found
  type: list
  elements: str
  sample: ['1.32', '1.33', '1.34', '1.35']
readiness:
  description: The state of each workload before the upgrade.
  returned: when a running release was found
  type: list
  elements: str
ipam:
  description: Free addresses per IP pool and in total; null when not checked.
  returned: when a running release was found
  type: dict
backup_objects:
  description: "[apiVersion, kind, namespace, name] of every object to back up (running and target release)."
  returned: with the manifests
  type: list
  elements: list
removed_upstream:
  description: Objects of the running release's upstream manifest that the target's no longer has.
  returned: with the manifests
  type: list
  elements: list
removed_present:
  description:
    - The objects of RV(removed_upstream) that exist on the cluster (the upgrade deletes them); never a
      CustomResourceDefinition (see RV(removed_kept)).
  returned: with the manifests
  type: list
  elements: list
removed_kept:
  description:
    - The CustomResourceDefinitions of RV(removed_upstream) that exist on the cluster. They are not
      deleted (deleting one deletes every resource of it); each is given as a warning.
  returned: with the manifests
  type: list
  elements: list
added_by_upgrade:
  description: Objects of the target's render that do not exist on the cluster (a rollback deletes them).
  returned: with the manifests
  type: list
  elements: list
live_objects:
  description: "[apiVersion, kind, namespace, name] of the objects of RV(backup_objects) found on the cluster."
  returned: with the manifests
  type: list
  elements: list
setting_report:
  description:
    - Every setting (container env, calico-config key, CNI conflist field) whose upstream default
      differs between the two releases, with the value that runs and the value after the upgrade;
      C(status) is C(changes) (not pinned by the inventory, it flips), C(pinned) or C(unchanged).
  returned: with the manifests
  type: list
  elements: dict
  sample: [{setting: "CNI conflist: cniVersion", upstream_before: 0.3.1, upstream_after: 1.0.0,
            running: 0.3.1, after_upgrade: 1.0.0, status: changes}]
requests:
  description: Requests sent to the Kubernetes API to read the live objects, by verb.
  returned: with the manifests
  type: dict
default_changes:
  description: The entries of RV(setting_report) whose status is C(changes) (each also given as a warning).
  returned: with the manifests
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.k8snet.calico.plugins.module_utils import datastore
from ansible_collections.k8snet.calico.plugins.module_utils.datastore import errors
from ansible_collections.k8snet.calico.plugins.module_utils.manifest import document
from ansible_collections.k8snet.calico.plugins.module_utils.upgrade import live, plan, versions


def _read(module, option):
    """The objects of every file of ``option``, in order."""
    objects = []
    for path in module.params[option]:
        try:
            with open(path, 'r') as handle:
                objects.extend(document.Manifest(handle.read()).data())
        except (IOError, OSError) as exc:
            module.fail_json(msg='%s: cannot read %s: %s' % (option, path, exc))
        except document.ManifestError as exc:
            module.fail_json(msg='%s: %s: %s' % (option, path, exc))
    return objects


def main():
    module = AnsibleModule(
        argument_spec=dict(
            target_version=dict(type='str', required=True),
            current_version=dict(type='str'),
            kubernetes_version=dict(type='str'),
            workloads=dict(type='list', elements='dict', default=[]),
            cluster_information=dict(type='dict'),
            ip_pools=dict(type='list', elements='dict', default=[]),
            ipam_blocks=dict(type='list', elements='dict'),
            current_manifest=dict(type='list', elements='path'),
            target_manifest=dict(type='list', elements='path'),
            rendered_manifest=dict(type='list', elements='path'),
            namespace=dict(type='str', default='kube-system'),
            compare_settings=dict(type='bool', default=True),
            kubeconfig=dict(type='path'),
            context=dict(type='str'),
            allow=dict(type='list', elements='str', default=[], choices=list(plan.CHECKS)),
        ),
        required_together=[('current_manifest', 'target_manifest', 'rendered_manifest')],
        supports_check_mode=True,
    )
    if not document.HAS_YAML:
        module.fail_json(msg=missing_required_lib('PyYAML'), exception=document.YAML_IMPORT_ERROR)
    p = module.params
    for option in ('target_version', 'current_version'):
        if p[option]:
            try:
                versions.parse(p[option])
            except versions.VersionError as exc:
                module.fail_json(msg='%s: %s' % (option, exc))
    result = plan.preflight(p['target_version'], p['workloads'], p['cluster_information'], p['kubernetes_version'],
                            p['current_version'], p['ip_pools'], p['ipam_blocks'], p['allow'], p['namespace'])
    if p['current_manifest']:
        current, target, rendered = (_read(module, 'current_manifest'), _read(module, 'target_manifest'),
                                     _read(module, 'rendered_manifest'))
        names = plan.compare_releases(current, target, rendered)['backup_objects']
        client = None
        try:
            client = datastore.connect(live.settings(p['kubeconfig'], p['context']), read_only=True)
            objects = live.read_objects(client, names)
        except errors.MissingDependency as exc:
            module.fail_json(msg=missing_required_lib(exc.library), exception=exc.import_error)
        except errors.DatastoreError as exc:
            module.fail_json(msg='reading the live objects: %s' % exc)
        finally:
            if client is not None:
                client.close()
        result.update(plan.compare_releases(current, target, rendered, objects, p['compare_settings']))
        result['requests'] = dict(client.requests)
    for note in result['notes']:
        module.warn(note)
    for item in result.get('removed_kept', []):
        module.warn('%s: upstream removed this CustomResourceDefinition; it is kept (deleting it deletes every '
                    'resource of it): delete it yourself once nothing uses it' % ' '.join(item[1:2] + item[3:]))
    for entry in result.get('default_changes', []):
        module.warn('%s: the upstream default changes from %s to %s and the inventory does not pin it: the cluster '
                    'runs %s, the upgrade applies %s' % (entry['setting'], entry['upstream_before'],
                                                         entry['upstream_after'], entry['running'],
                                                         entry['after_upgrade']))
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
