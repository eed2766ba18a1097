# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a backup folder of an upgrade holds, as file contents:

- calico.yaml: the live objects of the running release, cleaned (manifests.clean_live), in the
  order of the manifest, so that roles/calico's apply_manifest.yml and wait_rollout.yml take it as
  they take a render;
- calico-resources.yaml: every Calico resource (projectcalico.org/v3, as calicoctl get -o yaml
  shows them), for the module k8snet.calico.calicoctl (src);
- upgrade-backup.yml: from/to releases, time, the objects the upgrade adds and deletes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.k8snet.calico.plugins.module_utils.calico import kinds as calico_kinds
from ansible_collections.k8snet.calico.plugins.module_utils.manifest.document import dump_yaml
from ansible_collections.k8snet.calico.plugins.module_utils.upgrade import manifests

MANIFEST = 'calico.yaml'
RESOURCES = 'calico-resources.yaml'
INFO = 'upgrade-backup.yml'
FILES = (MANIFEST, RESOURCES, INFO)


def _stream(documents, head):
    return head + ''.join('---\n' + dump_yaml(doc) for doc in documents)


def manifest_text(live_objects, names=None):
    """calico.yaml of a backup: of ``live_objects`` (lists as read, which may hold more objects of
    a kind), those named in ``names`` ([apiVersion, kind, namespace, name], the order to apply them
    in), cleaned; all of them, in their order, when ``names`` is None."""
    if names is not None:
        live_objects = manifests.select(live_objects, [tuple(item) for item in names])
    return _stream([manifests.clean_live(obj) for obj in live_objects],
                   '# The live objects of the running Calico release, read before the upgrade (k8snet.calico).\n')


def resources_text(resources):
    """``resources``: {kind: [resource, ...]} as the module calico_info returns them. Kinds in the
    collection's order (pools before the peers and configurations that may refer to them)."""
    order = [kind.name for kind in calico_kinds.KINDS]
    documents = []
    for kind in sorted(resources or {}, key=lambda k: (order.index(k) if k in order else len(order), k)):
        for resource in sorted(resources[kind] or [], key=lambda r: (r.get('metadata') or {}).get('name', '')):
            documents.append(manifests.clean_resource(resource))
    return _stream(documents, '# Every Calico resource, read before the upgrade (k8snet.calico).\n')


def info_text(info):
    return '---\n' + dump_yaml(info)


def folder_name(timestamp, current, target):
    """'20261125T182500Z-v3.30.7-to-v3.31.7': sortable, and safe as a file name."""
    name = '%s-%s-to-%s' % (timestamp, current, target)
    return re.sub(r'[^0-9A-Za-z._-]', '_', name)
