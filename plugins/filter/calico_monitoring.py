# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filter k8snet.calico.calico_monitoring: the monitoring objects of the role calico_monitoring,
built by plugins/module_utils/monitoring/objects.py (documented in calico_monitoring.yml)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.k8snet.calico.plugins.module_utils.monitoring import objects


def _objects(config, service_monitors=True, rules=True, dashboards=True):
    return objects.build_objects(config, service_monitors_enabled=service_monitors, rules_enabled=rules,
                                 dashboards_enabled=dashboards)


def _rule_file(config):
    return {'groups': objects.rule_groups(config)}


def _dashboards(config):
    return [dashboard for _name, dashboard in sorted(objects.dashboards(config).items())]


def _metrics_patch(live, kind, fields, state='present', operator=False):
    return objects.metrics_patch(kind, live or None, fields, state, operator=operator)


def _installation_patch(live, fields, state='present'):
    return objects.installation_patch(live or None, fields, state)


def _typha_env(config, enabled=True):
    return objects.typha_env(config, enabled)


WHAT = {
    'validate': objects.validate,
    'objects': _objects,
    'scrape_configs': objects.scrape_configs,
    'rule_file': _rule_file,
    'dashboards': _dashboards,
    'typha_env': _typha_env,
    'metrics_patch': _metrics_patch,
    'installation_patch': _installation_patch,
    'grafana_payload': objects.grafana_payload,
    'grafana_differs': objects.grafana_differs,
    'references': objects.references,
}


def calico_monitoring(data, what, *args, **kwargs):
    if what not in WHAT:
        raise AnsibleFilterError('calico_monitoring: unknown what %r (one of %s)' % (what, ', '.join(sorted(WHAT))))
    try:
        return WHAT[what](data, *args, **kwargs)
    except objects.MonitoringError as exc:
        raise AnsibleFilterError('; '.join(exc.errors))


class FilterModule(object):
    def filters(self):
        return {'calico_monitoring': calico_monitoring}
