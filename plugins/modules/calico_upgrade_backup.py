#!/usr/bin/python
# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: calico_upgrade_backup
short_description: Write the backup folder of a Calico upgrade
version_added: 0.1.0
description:
  - Writes, into a new folder O(path) (mode 0700, files 0600, as the objects may hold Secrets), what
    restores the running Calico release after an upgrade.
  - C(calico.yaml), the live objects of the running release without status and the fields the
    API server and controllers write (managedFields, resourceVersion, uid, creationTimestamp,
    generation, the revision annotations), to apply server-side again;
  - C(calico-resources.yaml), every Calico resource as C(calicoctl get -o yaml) shows it, without
    resourceVersion, uid and creationTimestamp, to apply with M(k8snet.calico.calicoctl);
  - C(upgrade-backup.yml), O(info) (releases, time, the objects the upgrade adds and deletes).
  - An existing folder is never overwritten.
author:
  - k8snet.calico contributors (@k8snet)
options:
  path:
    description: The folder to create, on the host that runs the module (the controller).
    type: path
    required: true
  names:
    description:
      - The objects to back up, each C([apiVersion, kind, namespace, name]), in the order to apply
        them again (M(k8snet.calico.calico_upgrade_plan) returns them as C(backup_objects)). Each is
        read from the Kubernetes API by the module (one GET; those that do not exist are left out),
        so that no object, Secrets included, passes through Ansible's variables or output.
    type: list
    elements: list
    required: true
  kubeconfig:
    description: The kubeconfig to read the objects through; resolved as M(k8snet.calico.calico_info) resolves it when not given.
    type: path
  context:
    description: The kubeconfig context to use instead of its current context.
    type: str
  resources:
    description: The Calico resources by kind, as the module M(k8snet.calico.calico_info) returns them.
    type: dict
    default: {}
  info:
    description: What to record in C(upgrade-backup.yml).
    type: dict
    default: {}
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Reads and writes nothing; reports the folder it would create.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
seealso:
  - module: k8snet.calico.calico_upgrade_plan
  - module: k8snet.calico.calicoctl
"""

EXAMPLES = r"""
- name: Back up the running release
  k8snet.calico.calico_upgrade_backup:
    path: /var/backups/calico/20261125T182500Z-v3.30.7-to-v3.31.7
    names: "{{ plan.backup_objects }}"
    resources: "{{ calico.resources }}"
    info: {from: v3.30.7, to: v3.31.7}
"""

RETURN = r"""
path:
  description: The backup folder.
  returned: always
  type: str
files:
  description: The files written (or, in check mode, to be written).
  returned: always
  type: list
  elements: str
objects:
  description: How many live objects the backup holds (null in check mode).
  returned: always
  type: int
resources:
  description: How many Calico resources the backup holds.
  returned: always
  type: int
"""

import os

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.k8snet.calico.plugins.module_utils import datastore
from ansible_collections.k8snet.calico.plugins.module_utils.datastore import errors
from ansible_collections.k8snet.calico.plugins.module_utils.manifest import document
from ansible_collections.k8snet.calico.plugins.module_utils.upgrade import backup, live


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', required=True),
            names=dict(type='list', elements='list', required=True),
            kubeconfig=dict(type='path'),
            context=dict(type='str'),
            resources=dict(type='dict', default={}),
            info=dict(type='dict', default={}),
        ),
        supports_check_mode=True,
    )
    if not document.HAS_YAML:
        module.fail_json(msg=missing_required_lib('PyYAML'), exception=document.YAML_IMPORT_ERROR)
    path = module.params['path']
    count = sum(len(items or []) for items in module.params['resources'].values())
    result = dict(changed=True, path=path, files=[os.path.join(path, name) for name in backup.FILES],
                  objects=None, resources=count)
    if os.path.exists(path):
        module.fail_json(msg='path: %s exists already; a backup is never written over another' % path, **result)
    if module.check_mode:
        module.exit_json(**result)
    client = None
    try:
        client = datastore.connect(live.settings(module.params['kubeconfig'], module.params['context']),
                                   read_only=True)
        objects = live.read_objects(client, module.params['names'])
    except errors.MissingDependency as exc:
        module.fail_json(msg=missing_required_lib(exc.library), exception=exc.import_error)
    except errors.DatastoreError as exc:
        module.fail_json(msg='reading the live objects: %s' % exc, **result)
    finally:
        if client is not None:
            client.close()
    result['objects'] = len(objects)
    contents = {
        backup.MANIFEST: backup.manifest_text(objects),
        backup.RESOURCES: backup.resources_text(module.params['resources']),
        backup.INFO: backup.info_text(module.params['info']),
    }
    try:
        parent = os.path.dirname(path.rstrip('/'))
        if parent and not os.path.isdir(parent):
            os.makedirs(parent, 0o700)
        os.mkdir(path, 0o700)
        for name in backup.FILES:
            target = os.path.join(path, name)
            descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, 'w') as handle:
                handle.write(contents[name])
    except (IOError, OSError) as exc:
        module.fail_json(msg='path: cannot write the backup into %s: %s' % (path, exc), **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
