# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Kubernetes objects of Calico monitoring, built from the inventory.

``build_objects(config)`` returns the headless Services (Felix, Typha, kube-controllers metrics),
the prometheus-operator ServiceMonitors, the PrometheusRule and the dashboard ConfigMaps, every
one labelled as made by the collection (MANAGED_LABELS), in the order they are applied.
``scrape_configs(config)`` is the same scraping for a Prometheus without the operator.
``metrics_patch(...)`` plans the change of FelixConfiguration / KubeControllersConfiguration
``default`` that turns metrics on (recording what it replaced) or restores what was there;
``installation_patch(...)`` does the same for the Installation ``default`` of the Tigera operator.

With ``config['operator']`` (calico_install_method operator) the objects follow what the operator
renders (github.com/tigera/operator): Felix and Typha metrics are switched on through the
Installation's ``nodeMetricsPort`` / ``typhaMetricsPort`` (pkg/render/node.go, pkg/render/typha.go
turn them into the env of calico-node and calico-typha); the operator creates the Services
``calico-typha-metrics`` (pkg/render/typha.go) and ``calico-kube-controllers-metrics`` (from
KubeControllersConfiguration ``prometheusMetricsPort``, pkg/render/kubecontrollers/kube-controllers.go)
itself, so the ServiceMonitors select those; only Felix's Service is the collection's (the
operator's ``calico-node-metrics`` Service is rendered only by its Enterprise variant).

``config`` holds the inventory values by short name (``felix_metrics_port`` for
``calico_monitoring_felix_metrics_port``); ``validate(config)`` reports every bad value at once,
naming the variable. Plain Python, no Ansible.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
import re

MANAGED_LABELS = {'app.kubernetes.io/managed-by': 'k8snet.calico',
                  'app.kubernetes.io/part-of': 'calico-monitoring'}
# On FelixConfiguration / KubeControllersConfiguration default: the values the collection replaced
# when it turned metrics on (JSON; null = the field was not set). Absent only when the collection
# changed nothing there.
PREVIOUS_ANNOTATION = 'k8snet.calico/monitoring-previous'
DEFAULT_RUNBOOK_URL = 'https://github.com/k8snet/calico/blob/main/docs/monitoring-runbook.md'
PORT_NAME = 'http-metrics'

# What each Calico kind does when a field is not set (the [Default: ...] of its CRD).
METRICS_DEFAULTS = {
    'FelixConfiguration': {'prometheusMetricsEnabled': False, 'prometheusMetricsPort': 9091},
    'KubeControllersConfiguration': {'prometheusMetricsPort': 9094},
}

_LABEL_KEY = re.compile(r'^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?'
                        r'[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$')
_LABEL_VALUE = re.compile(r'^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$')
_DNS_LABEL = re.compile(r'^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$')
_DURATION = re.compile(r'^([0-9]+(ms|s|m|h|d|w|y))+$')


class MonitoringError(ValueError):
    """Bad inventory values; ``errors`` lists each one."""

    def __init__(self, errors):
        ValueError.__init__(self, '; '.join(errors))
        self.errors = errors


# The metrics Services the Tigera operator renders in calico-system: {component: (the labels that
# select the Service, the name of its port)}. typha: pkg/render/typha.go typhaPrometheusService();
# kube-controllers: pkg/render/kubecontrollers/kube-controllers.go prometheusService().
OPERATOR_SERVICES = {
    'typha': ({'k8s-app': 'calico-typha-metrics'}, 'calico-typha-metrics'),
    'kube-controllers': ({'k8s-app': 'calico-kube-controllers'}, 'metrics-port'),
}


def components(config):
    """The components scraped: Felix, Typha (when config['typha']) and kube-controllers.

    ``owner`` is who makes the metrics Service: the collection, or (config['operator']) the
    operator; ``match`` the labels a ServiceMonitor selects it by, ``port_name`` its port."""
    found = [{'name': 'felix', 'service': 'calico-felix-metrics', 'selector': {'k8s-app': 'calico-node'},
              'port': int(config['felix_metrics_port'])}]
    if config.get('typha'):
        found.append({'name': 'typha', 'service': 'calico-typha-metrics', 'selector': {'k8s-app': 'calico-typha'},
                      'port': int(config['typha_metrics_port'])})
    found.append({'name': 'kube-controllers', 'service': 'calico-kube-controllers-metrics',
                  'selector': {'k8s-app': 'calico-kube-controllers'},
                  'port': int(config['kube_controllers_metrics_port'])})
    for c in found:
        if config.get('operator') and c['name'] in OPERATOR_SERVICES:
            match, port_name = OPERATOR_SERVICES[c['name']]
            c.update(owner='operator', match=dict(match), port_name=port_name)
        else:
            c.update(owner='collection', port_name=PORT_NAME,
                     match={'app.kubernetes.io/name': c['service'], 'app.kubernetes.io/managed-by': 'k8snet.calico'})
    return found


def validate(config):
    """Every bad value of ``config``, as messages naming the inventory variable; [] when good."""
    errors = []
    for key in ('felix_metrics_port', 'typha_metrics_port', 'kube_controllers_metrics_port'):
        value = config.get(key)
        if isinstance(value, bool) or not _is_int(value) or not 1 <= int(value) <= 65535:
            errors.append('calico_monitoring_%s: %r is not a TCP port (1-65535)' % (key, value))
    for key in ('namespace', 'calico_namespace'):
        value = config.get(key)
        if not isinstance(value, str) or not _DNS_LABEL.match(value):
            errors.append('calico_monitoring_%s: %r is not a namespace name' % (key, value))
    for key in ('servicemonitor_labels', 'rule_labels', 'dashboard_labels'):
        value = config.get(key) or {}
        if not isinstance(value, dict):
            errors.append('calico_monitoring_%s: %r is not a mapping of labels' % (key, value))
            continue
        for name, label in sorted(value.items(), key=lambda item: str(item[0])):
            if not isinstance(name, str) or not _LABEL_KEY.match(name) or len(name.split('/')[-1]) > 63:
                errors.append('calico_monitoring_%s: %r is not a label name' % (key, name))
            elif not isinstance(label, str) or not _LABEL_VALUE.match(label):
                errors.append('calico_monitoring_%s: %s: %r is not a label value (a quoted string such as "1")'
                              % (key, name, label))
    interval = config.get('scrape_interval')
    if not isinstance(interval, str) or not _DURATION.match(interval):
        errors.append('calico_monitoring_scrape_interval: %r is not a Prometheus duration such as 30s' % (interval,))
    for name, text in sorted((config.get('dashboards') or {}).items()):
        try:
            dashboard = json.loads(text) if isinstance(text, str) else text
        except ValueError as exc:
            errors.append('calico_monitoring_dashboards: %s is not valid JSON: %s' % (name, exc))
            continue
        if not isinstance(dashboard, dict) or not dashboard.get('uid'):
            errors.append('calico_monitoring_dashboards: %s has no uid' % name)
    return errors


def _is_int(value):
    try:
        return int(value) == float(value)
    except (TypeError, ValueError):
        return False


def _check(config):
    errors = validate(config)
    if errors:
        raise MonitoringError(errors)


def _labels(*extra):
    labels = {}
    for mapping in extra:
        labels.update(mapping or {})
    labels.update(MANAGED_LABELS)
    return labels


def services(config):
    _check(config)
    return [{'apiVersion': 'v1', 'kind': 'Service',
             'metadata': {'name': c['service'], 'namespace': config['calico_namespace'],
                          'labels': _labels({'app.kubernetes.io/name': c['service']})},
             'spec': {'clusterIP': 'None', 'selector': dict(c['selector']),
                      'ports': [{'name': PORT_NAME, 'port': c['port'], 'targetPort': c['port'], 'protocol': 'TCP'}]}}
            for c in components(config) if c['owner'] == 'collection']


def _relabel_node(style):
    if style == 'operator':
        return [{'sourceLabels': ['__meta_kubernetes_pod_node_name'], 'targetLabel': 'node', 'action': 'replace'}]
    return [{'source_labels': ['__meta_kubernetes_pod_node_name'], 'target_label': 'node', 'action': 'replace'}]


def service_monitors(config):
    """One ServiceMonitor per component, selecting its Service (the collection's, or the
    operator's by the labels the operator gives it); the job is the Service's name either way."""
    _check(config)
    monitors = []
    for c in components(config):
        spec = {'selector': {'matchLabels': dict(c['match'])},
                'namespaceSelector': {'matchNames': [config['calico_namespace']]},
                'endpoints': [{'port': c['port_name'], 'interval': config['scrape_interval'], 'path': '/metrics',
                               'relabelings': _relabel_node('operator')}]}
        if c['owner'] == 'collection':
            spec = dict(jobLabel='app.kubernetes.io/name', **spec)
        monitors.append({'apiVersion': 'monitoring.coreos.com/v1', 'kind': 'ServiceMonitor',
                         'metadata': {'name': c['service'], 'namespace': config['namespace'],
                                      'labels': _labels(config.get('servicemonitor_labels'))},
                         'spec': spec})
    return monitors


def rule_groups(config):
    """The rule groups of config['rules'] (a Prometheus rule file, parsed), without the Typha group
    when Typha is not scraped, with runbook_url pointed at config['runbook_url']."""
    groups = copy.deepcopy((config.get('rules') or {}).get('groups') or [])
    if not config.get('typha'):
        groups = [group for group in groups if 'typha' not in group.get('name', '')]
    base = (config.get('runbook_url') or DEFAULT_RUNBOOK_URL).rstrip('/')
    for group in groups:
        for rule in group.get('rules', []):
            url = rule.get('annotations', {}).get('runbook_url')
            if url and url.startswith(DEFAULT_RUNBOOK_URL):
                rule['annotations']['runbook_url'] = base + url[len(DEFAULT_RUNBOOK_URL):]
    return groups


def prometheus_rule(config):
    _check(config)
    return {'apiVersion': 'monitoring.coreos.com/v1', 'kind': 'PrometheusRule',
            'metadata': {'name': 'calico', 'namespace': config['namespace'],
                         'labels': _labels(config.get('rule_labels'))},
            'spec': {'groups': rule_groups(config)}}


def dashboards(config):
    """{file name: dashboard (dict)} of the dashboards to deliver (Typha's only with Typha)."""
    found = {}
    for name, text in sorted((config.get('dashboards') or {}).items()):
        if 'typha' in name and not config.get('typha'):
            continue
        found[name] = json.loads(text) if isinstance(text, str) else copy.deepcopy(text)
    return found


def dashboard_configmaps(config):
    _check(config)
    maps = []
    for name, dashboard in dashboards(config).items():
        base = re.sub(r'\.json$', '', name)
        maps.append({'apiVersion': 'v1', 'kind': 'ConfigMap',
                     'metadata': {'name': 'calico-dashboard-' + re.sub(r'^calico-', '', base),
                                  'namespace': config['namespace'],
                                  'labels': _labels(config.get('dashboard_labels')),
                                  'annotations': dict(config.get('dashboard_annotations') or {})},
                     'data': {name: json.dumps(dashboard, indent=2, sort_keys=True)}})
        if not maps[-1]['metadata']['annotations']:
            del maps[-1]['metadata']['annotations']
    return maps


def build_objects(config, service_monitors_enabled=True, rules_enabled=True, dashboards_enabled=True):
    """Everything to apply, in order: Services, ServiceMonitors, PrometheusRule, dashboards."""
    _check(config)
    found = services(config)
    if service_monitors_enabled:
        found += service_monitors(config)
    if rules_enabled:
        found.append(prometheus_rule(config))
    if dashboards_enabled:
        found += dashboard_configmaps(config)
    return found


def scrape_configs(config):
    """Prometheus ``scrape_configs`` (kubernetes_sd_configs, role endpoints) doing what the
    ServiceMonitors do: one job per metrics Service, named after it, with a ``node`` label."""
    _check(config)
    jobs = []
    for c in components(config):
        keep = {'source_labels': ['__meta_kubernetes_service_name', '__meta_kubernetes_endpoint_port_name'],
                'regex': '%s;%s' % (re.escape(c['service']), c['port_name']), 'action': 'keep'}
        jobs.append({'job_name': c['service'], 'scrape_interval': config['scrape_interval'],
                     'metrics_path': '/metrics',
                     'kubernetes_sd_configs': [{'role': 'endpoints',
                                                'namespaces': {'names': [config['calico_namespace']]}}],
                     'relabel_configs': [keep] + _relabel_node('plain')})
    return {'scrape_configs': jobs}


def typha_env(config, enabled=True):
    """The part of Deployment calico-typha that the collection owns (server-side apply, field
    manager of its own): the two metrics env vars when ``enabled``, nothing otherwise (which
    removes them, unless another field manager also set them)."""
    deployment = {'apiVersion': 'apps/v1', 'kind': 'Deployment',
                  'metadata': {'name': 'calico-typha', 'namespace': config['calico_namespace']}}
    if enabled:
        deployment['spec'] = {'template': {'spec': {'containers': [{
            'name': 'calico-typha',
            'env': [{'name': 'TYPHA_PROMETHEUSMETRICSENABLED', 'value': 'true'},
                    {'name': 'TYPHA_PROMETHEUSMETRICSPORT', 'value': str(int(config['typha_metrics_port']))}]}]}}}
    return deployment


# With the operator, an unset KubeControllersConfiguration prometheusMetricsPort means no metrics
# Service: the operator reads the field and renders calico-kube-controllers-metrics only when it is
# set and not 0 (pkg/controller/utils/utils.go GetKubeControllerMetricsPort).
OPERATOR_METRICS_DEFAULTS = {
    'FelixConfiguration': METRICS_DEFAULTS['FelixConfiguration'],
    'KubeControllersConfiguration': {'prometheusMetricsPort': None},
}


def metrics_patch(kind, live, fields, state='present', operator=False):
    """How to turn metrics on (``state`` present) or back (absent) in ``kind`` ``default``.

    ``live`` is the resource as read (None when missing), ``fields`` the spec fields metrics need.
    Returns {'action': 'write'|'none', 'state': the calicoctl state, 'definition': ..., 'message': ...}.
    On: the fields whose effective value (with Calico's default) differs are written, and the
    previous values of every field are recorded once in PREVIOUS_ANNOTATION. Back: only when that
    record exists, the recorded values are restored (null removes the field) and the record removed.
    """
    label = '%s default' % kind
    if live is None and state == 'absent':
        return {'action': 'none', 'state': 'patched', 'definition': None,
                'message': '%s: metrics were not turned on by k8snet.calico; left as they are' % label}
    if live is None and state == 'present':
        if kind == 'KubeControllersConfiguration':
            return {'action': 'none', 'state': 'patched', 'definition': None,
                    'message': 'KubeControllersConfiguration default does not exist yet (calico-kube-controllers '
                               'creates it when it starts); run again once it runs'}
        previous = dict((name, None) for name in sorted(fields))
        return {'action': 'write', 'state': 'present',
                'definition': _resource(kind, dict(fields), {PREVIOUS_ANNOTATION: json.dumps(previous, sort_keys=True)}),
                'message': '%s created with %s' % (label, json.dumps(fields, sort_keys=True))}
    plan = _recorded_patch(label, live, fields, state, lambda spec, notes: _resource(kind, spec, notes),
                           (OPERATOR_METRICS_DEFAULTS if operator else METRICS_DEFAULTS)[kind])
    plan['state'] = 'patched'
    return plan


def installation_patch(live, fields, state='present'):
    """How to turn metrics on (``state`` present) or back (absent) in the operator's Installation
    ``default`` (``live``, as read; None when missing), through ``fields`` such as
    {'nodeMetricsPort': 9091, 'typhaMetricsPort': 9093} (unset: metrics off).

    Returns {'action': 'write'|'none', 'definition': a JSON merge patch of the Installation,
    'message': ...}; the values replaced are recorded once in PREVIOUS_ANNOTATION, and state absent
    restores exactly those (null removes the field) and drops the record."""
    if live is None:
        raise MonitoringError(['calico_install_method: operator, but the Installation default '
                               '(operator.tigera.io/v1) does not exist on the cluster: install Calico with '
                               'install.yml first, or set calico_install_method to manifest'])
    return _recorded_patch('Installation default', live, fields, state, _installation, {},
                           ' (the operator rolls calico-node / calico-typha with the new env)')


def _recorded_patch(label, live, fields, state, build, defaults, note=''):
    """The plan of metrics_patch and installation_patch for a resource ``live`` that exists:
    on, write ``fields`` unless their effective values (missing = ``defaults``) are already those,
    recording the values replaced once in PREVIOUS_ANNOTATION; back, restore the record and drop
    it. ``build(spec, annotations)`` makes the definition written."""
    spec = live.get('spec') or {}
    record = ((live.get('metadata') or {}).get('annotations') or {}).get(PREVIOUS_ANNOTATION)
    if state == 'absent':
        if record is None:
            return {'action': 'none', 'definition': None,
                    'message': '%s: metrics were not turned on by k8snet.calico; left as they are' % label}
        try:
            previous = json.loads(record)
        except ValueError:
            previous = None
        if not isinstance(previous, dict):
            raise MonitoringError(['%s: annotation %s is not the JSON this collection writes: %r'
                                   % (label, PREVIOUS_ANNOTATION, record)])
        restore = dict((name, previous.get(name)) for name in sorted(set(previous) | set(fields)))
        return {'action': 'write', 'definition': build(restore, {PREVIOUS_ANNOTATION: None}),
                'message': '%s: metrics settings restored to %s' % (label, json.dumps(previous, sort_keys=True))}
    if state != 'present':
        raise ValueError('unknown state %r' % state)

    def effective(values):
        return dict((name, defaults.get(name) if values.get(name) is None else values.get(name)) for name in fields)

    if effective(spec) == effective(fields):
        return {'action': 'none', 'definition': None, 'message': '%s: metrics already on as asked' % label}
    if record is None:
        record = json.dumps(dict((name, spec.get(name)) for name in sorted(fields)), sort_keys=True)
    return {'action': 'write', 'definition': build(dict(fields), {PREVIOUS_ANNOTATION: record}),
            'message': '%s: %s%s' % (label, json.dumps(fields, sort_keys=True), note)}


def _installation(spec, annotations):
    return {'apiVersion': 'operator.tigera.io/v1', 'kind': 'Installation',
            'metadata': {'name': 'default', 'annotations': annotations}, 'spec': spec}


def _resource(kind, spec, annotations):
    return {'apiVersion': 'projectcalico.org/v3', 'kind': kind,
            'metadata': {'name': 'default', 'annotations': annotations}, 'spec': spec}


def references(found):
    """apiVersion, kind, name and namespace of each object (what a delete needs)."""
    refs = []
    for obj in found or []:
        meta = dict((key, obj['metadata'][key]) for key in ('name', 'namespace') if obj['metadata'].get(key))
        refs.append({'apiVersion': obj['apiVersion'], 'kind': obj['kind'], 'metadata': meta})
    return refs


def _strip_volatile(dashboard):
    return dict((key, value) for key, value in (dashboard or {}).items() if key not in ('id', 'version'))


def grafana_payload(dashboard, folder_uid=''):
    """The body of POST /api/dashboards/db for ``dashboard``."""
    body = {'dashboard': dict(_strip_volatile(dashboard), id=None), 'overwrite': True,
            'message': 'k8snet.calico monitoring'}
    if folder_uid:
        body['folderUid'] = folder_uid
    return body


def grafana_differs(live, dashboard):
    """Whether Grafana's stored dashboard (``live``, the ``dashboard`` of GET
    /api/dashboards/uid/<uid>, or None) differs from ``dashboard`` (id and version aside)."""
    if not live:
        return True
    return _strip_volatile(live) != _strip_volatile(dashboard)
