# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filter k8snet.calico.calico_tigerastatus: the operator's components that are not ready yet,
from their TigeraStatus objects (plugins/module_utils/operator/status.py; documented in
calico_tigerastatus.yml)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.k8snet.calico.plugins.module_utils.operator import status


def calico_tigerastatus(statuses, wanted):
    if not isinstance(statuses, list) or not isinstance(wanted, list):
        raise AnsibleFilterError('calico_tigerastatus: expects a list of TigeraStatus objects and a list of names')
    return status.pending(statuses, wanted)


class FilterModule(object):
    def filters(self):
        return {'calico_tigerastatus': calico_tigerastatus}
