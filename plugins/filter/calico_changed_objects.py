# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filter k8snet.calico.calico_changed_objects: the objects that kubernetes.core.k8s tasks changed
(plugins/module_utils/upgrade/plan.py; documented in calico_changed_objects.yml)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.k8snet.calico.plugins.module_utils.upgrade import plan


def calico_changed_objects(registered):
    if not isinstance(registered, list):
        raise AnsibleFilterError('calico_changed_objects: expects a list of registered results of kubernetes.core.k8s')
    return plan.changed_objects(registered)


class FilterModule(object):
    def filters(self):
        return {'calico_changed_objects': calico_changed_objects}
